"""False corrections: run the medical corrector over text that is already right and count what it changes.

Every change on correct text is a false correction (or a typo already in the text). Texts: the
project's gold dictations (eval/data/extract_gold.jsonl; a split named test3 or later, still
blind, is not read), the prescriptions' written drug lines of eval/data/audit_cases.jsonl, and, when
../shared/data is present, cMedQANER consumer-health questions (train and dev; evaluation only).
Prints the count per source and every change, so a reviewer can judge each one::

    python eval/asr/false_corrections.py [--limit N]
"""

from __future__ import annotations

import argparse
import json

from toolkit.asr.correct import default_lexicon, find_corrections
from toolkit.evaluation.data import SHARED_DATA, eval_data

SHARED = SHARED_DATA / "ner" / "chineseblue" / "cMedQANER"


def sources(limit: int | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    gold = eval_data("extract_gold.jsonl")
    out["gold dictations"] = [
        c["text"]
        for c in map(json.loads, gold.open(encoding="utf-8"))
        if c.get("split", "dev") in ("dev", "test", "test2")
    ]
    lines = []
    for c in map(json.loads, eval_data("audit_cases.jsonl").open(encoding="utf-8")):
        for it in c["case"]["prescription"]["items"]:
            parts = [
                it.get("drug", ""),
                it.get("strength") or "",
                f"{it.get('dose', '')}{it.get('unit', '')}",
            ]
            lines.append("".join(str(p) for p in parts))
    out["audit drug lines"] = lines
    for name in ("train.json", "dev.json"):
        path = SHARED / name
        if path.is_file():
            texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8") if line.strip()]
            out[f"cMedQANER {name}"] = texts[:limit] if limit else texts
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="at most this many cMedQANER texts per file")
    args = ap.parse_args()
    lexicon = default_lexicon()
    total = changed = 0
    for name, texts in sources(args.limit).items():
        n = 0
        for text in texts:
            for m in find_corrections(text, lexicon):
                n += 1
                print(
                    f"  {name}: {m.original} -> {m.corrected} ({m.reason}) in {text[max(0, m.offset - 12) : m.offset + 20]}"
                )
        print(f"{name}: {len(texts)} texts, {n} corrections")
        total += len(texts)
        changed += n
    print(f"all: {total} texts, {changed} corrections")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
