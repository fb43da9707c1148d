"""Score the whole visit (dictation text → record → prescription → audit) on eval/data/visit_cases.jsonl.

Each case is a dictation with facts not said aloud (`patient_hint`: age, sex, weight, labs, allergies,
pregnancy), the expected warn/block findings (category, severity, drugs) and `clean`. The dictation goes
through `toolkit.visit.visit`; the hint's facts are added to the case the visit built (a typed header and
lab values, as the doctor would fill them in) and the case is audited again. Reports per case: expected
findings found (category + drugs), extra warn/block findings (on clean cases: false alarms, split into
those caused by extraction — missing fields that were said, duplicates, fake drugs — and the rest).
The scoring is :mod:`toolkit.evaluation.visit` (shared with ``eval/visit/score_visit_audio.py``).

    python eval/visit/score_visit_cases.py [eval/data/visit_cases.jsonl] [-o out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from toolkit.evaluation.data import eval_data
from toolkit.evaluation.visit import hint_header, read_visit_cases, score_case, summarize
from toolkit.knowledge import get_knowledge
from toolkit.visit import visit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", default=None, type=Path, help="default: eval/data/visit_cases.jsonl")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    kb = get_knowledge()
    rows = []
    for c in read_visit_cases(args.file or eval_data("visit_cases.jsonl")):
        v = visit(text=c["text"], id=c["id"], header=hint_header(c))
        rows.append({"id": c["id"], "clean": c["clean"], **score_case(c, v.case, kb)})
    summary = summarize(rows)
    for r in rows:
        mark = "ok" if not r["missed"] and not (r["clean"] and r["extra"]) else "!!"
        print(f"{mark} {r['id']:6} items={r['items']}")
        for m in r["missed"]:
            print(f"     missed {m}")
        for x in r["extra"]:
            print(f"     extra {x['rule']} {x['severity']} {x['drugs']} {x['message'][:70]}")
    print(json.dumps(summary, ensure_ascii=False))
    if args.output:
        args.output.write_text(
            json.dumps({"summary": summary, "cases": rows}, ensure_ascii=False, indent=1), encoding="utf-8"
        )


if __name__ == "__main__":
    main()
