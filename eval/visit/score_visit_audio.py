"""Score the whole visit from speech (clip → ASR → record → prescription → audit) next to the same visit from text.

For every case of a visit-case file (``eval/data/visit_cases*.jsonl``, format in eval/data/README.md) that
has a clip in ``eval/data/visit_audio/<file stem>/`` (built by ``eval/visit/synth_visit_audio.py``; the
clip named in ``refs.tsv``), the case is scored twice with the same rules as
``eval/visit/score_visit_cases.py`` (:mod:`toolkit.evaluation.visit`): once from its text
(``visit(text=…)``) and once from its clip (``visit(audio=…)``, the packaged Whisper model, loaded
once). Each visit gets the hint's facts merged into the case it built (typed age/sex header; age, sex,
weight, pregnancy, labs and allergies added) and is audited again; a planted finding is found when a
warn/block finding has the expected category and drugs; on clean cases every warn/block finding is a
false alarm, split into those caused by extraction (:data:`toolkit.evaluation.visit.EXTRACTION_RULES`: a
said field missed, a duplicate, a fake drug) and the rest, and (audio) into those the text visit also
raised and those only the speech route raised (a mis-heard word).

For each planted finding missed from audio, the report says why, comparing the audio visit with the
text visit: the expected drugs the audio prescription does not have, with what the ASR heard where the
text says the name (the transcript span aligned to the name by edit distance: after the medical
post-correction and as Whisper wrote it), the allergies read differently, and the expected drugs' lines
whose strength, dose, unit, frequency or days differ (``strength`` was added after the first run of
2026-12-07, see eval/data/README.md). Per case also the character error rate against the spoken text
(``refs.tsv``, numerals as digits, as ``clinic eval asr``) and the share of the text visit's drugs that
the audio visit has.

    python eval/visit/score_visit_audio.py [FILE.jsonl …] [--audio-dir eval/data/visit_audio] [-o out.json]

Default files: eval/data/visit_cases.jsonl and eval/data/visit_cases_test2.jsonl. Prints one line per
case, then one JSON summary line per file. Runs the ASR over ~40 minutes of speech: about 11 minutes
wall on the shared 2-core machine (2026-12-07); never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

from toolkit.errors import ToolkitError
from toolkit.evaluation.asr import cer_form, read_refs, undo_corrections
from toolkit.evaluation.data import eval_data
from toolkit.evaluation.visit import hint_header, read_visit_cases, score_case, summarize
from toolkit.knowledge import get_knowledge
from toolkit.visit import Visit, visit

FILES = ("visit_cases.jsonl", "visit_cases_test2.jsonl")
ITEM_FIELDS = ("strength", "dose", "unit", "frequency", "days")


def aligned(src: str, dst: str, start: int, end: int) -> str:
    """The characters of ``dst`` that an edit-distance alignment puts against ``src[start:end]``."""
    ops = Levenshtein.opcodes(src, dst)

    def at(pos: int, is_end: bool) -> int:
        for op in ops:
            inside = op.src_start < pos <= op.src_end if is_end else op.src_start <= pos < op.src_end
            if inside:
                if op.tag == "equal":
                    return op.dest_start + pos - op.src_start
                return op.dest_end if is_end else op.dest_start
        return len(dst) if is_end or pos >= len(src) else 0

    s, e = at(start, False), at(end, True)
    return dst[s:e] if e > s else ""


def _ids(kb, names: list[str]) -> dict[str, str | None]:
    out = {}
    for n in names:
        m = kb.names.resolve(n)
        out[n] = m.drug_id if m else None
    return out


def why_missed(e: dict[str, Any], vt: Visit, va: Visit, kb) -> dict[str, Any]:
    """What the audio visit read differently from the text visit, for one expected finding."""
    ids = _ids(kb, e["drugs"])
    audio_ids = {it.drug_id for it in va.items}
    raw = undo_corrections(va.transcript) if va.transcript is not None else va.text
    out: dict[str, Any] = {"drugs_not_read": [], "allergies": None, "lines": []}
    for name, did in ids.items():
        said = [it for it in vt.items if did is not None and it.drug_id == did]
        if did in audio_ids:
            for t in said:  # read from both: compare the fields
                a = next(it for it in va.items if it.drug_id == did)
                if any(getattr(t, f) != getattr(a, f) for f in ITEM_FIELDS):
                    out["lines"].append(
                        {
                            "drug": name,
                            "text": {f: getattr(t, f) for f in ITEM_FIELDS},
                            "audio": {f: getattr(a, f) for f in ITEM_FIELDS},
                        }
                    )
            continue
        for t in said or [None]:
            if t is None or t.start is None:
                out["drugs_not_read"].append({"drug": name, "said": None, "heard": None, "heard_raw": None})
                continue
            s = vt.text.find(t.drug, t.start)
            s, n = (s, len(t.drug)) if s >= 0 else (t.start, len(t.drug))
            out["drugs_not_read"].append(
                {
                    "drug": name,
                    "said": vt.text[s : s + n],
                    "heard": aligned(vt.text, va.text, s, s + n),
                    "heard_raw": aligned(vt.text, raw, s, s + n),
                }
            )
    ta, aa = tuple(vt.case.patient.allergies), tuple(va.case.patient.allergies)
    if ta != aa:
        out["allergies"] = {"text": list(ta), "audio": list(aa)}
    return out


def _mark(row: dict[str, Any], side: str) -> str:
    """``!!`` when a planted finding was missed or a clean case has a warn/block finding, else ``ok``."""
    return "!!" if row[side]["missed"] or (row["clean"] and row[side]["extra"]) else "ok"


def _ratio(rows: list[dict[str, Any]], key: str) -> list[float | int]:
    """[sum of numerators, sum of denominators, ratio] of the rows' ``key`` pairs."""
    a = sum(r[key][0] for r in rows if key in r)
    b = sum(r[key][1] for r in rows if key in r)
    return [a, b, round(a / b, 4) if b else 0.0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "files", nargs="*", type=Path, help="default: " + ", ".join(f"eval/data/{f}" for f in FILES)
    )
    ap.add_argument("--audio-dir", type=Path, help="default: eval/data/visit_audio")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    kb = get_knowledge()
    audio_dir = args.audio_dir or eval_data("visit_audio")
    out: dict[str, Any] = {"files": []}
    for file in args.files or [eval_data(f) for f in FILES]:
        clips_dir = audio_dir / file.stem
        refs = {Path(r["file"]).stem: r for r in read_refs(clips_dir)}
        rows = []
        for c in read_visit_cases(file):
            ref = refs.get(c["id"])
            if ref is None:
                continue
            vt = visit(text=c["text"], id=c["id"], header=hint_header(c))
            row: dict[str, Any] = {"id": c["id"], "clean": c["clean"], "clip": str(clips_dir / ref["file"])}
            row["text"] = score_case(c, vt.case, kb)
            t0 = time.perf_counter()
            try:
                va = visit(audio=clips_dir / ref["file"], id=c["id"], header=hint_header(c))
            except ToolkitError as exc:
                row["error"] = str(exc)
                row["audio"] = {"found": 0, "missed": c["expected"], "extra": [], "items": []}
                rows.append(row)
                continue
            row["wall_s"] = round(time.perf_counter() - t0, 2)
            row["audio_s"] = va.transcript.duration
            row["audio"] = score_case(c, va.case, kb)
            from_text = {(x["rule"], tuple(x["drugs"])) for x in row["text"]["extra"]}
            for x in row["audio"]["extra"]:
                x["also_from_text"] = (x["rule"], tuple(x["drugs"])) in from_text
            row["transcript"] = va.text
            ref_form = cer_form(ref["reference"])
            row["char_errors"] = [Levenshtein.distance(ref_form, cer_form(va.text)), len(ref_form)]
            row["cer"] = round(row["char_errors"][0] / max(1, len(ref_form)), 4)
            text_ids = [it.drug_id for it in vt.items if it.drug_id]
            audio_ids = {it.drug_id for it in va.items}
            row["drugs_read"] = [sum(d in audio_ids for d in text_ids), len(text_ids)]
            row["corrections"] = [f"{x.original}→{x.corrected}" for x in va.transcript.corrections]
            row["why_missed"] = [{"expected": e, **why_missed(e, vt, va, kb)} for e in row["audio"]["missed"]]
            rows.append(row)
        summary = {
            "file": str(file),
            "text": summarize([{"clean": r["clean"], **r["text"]} for r in rows]),
            "audio": summarize([{"clean": r["clean"], **r["audio"]} for r in rows]),
            "audio_clean_findings_not_from_text": sum(
                not x.get("also_from_text") for r in rows if r["clean"] for x in r["audio"]["extra"]
            ),
            "audio_errors": sum("error" in r for r in rows),
            "planted_missed_from_audio_only": [
                r["id"] for r in rows if not r["clean"] and r["audio"]["missed"] and not r["text"]["missed"]
            ],
            "cer": _ratio(rows, "char_errors"),
            "drugs_read": _ratio(rows, "drugs_read"),
            "audio_seconds": round(sum(r.get("audio_s") or 0 for r in rows), 1),
            "asr_visit_wall_seconds": round(sum(r.get("wall_s", 0) for r in rows), 1),
        }
        for r in rows:
            print(
                f"{_mark(r, 'audio')} {r['id']:7} text={_mark(r, 'text')} "
                f"cer={r.get('cer')} drugs={r.get('drugs_read')} items={r['audio']['items']}"
            )
            if "error" in r:
                print(f"     error {r['error']}")
            for w in r.get("why_missed", []):
                print(f"     missed {w['expected']['category']} {w['expected']['drugs']}", end="")
                for d in w["drugs_not_read"]:
                    print(f" | {d['said']} heard {d['heard']!r} (raw {d['heard_raw']!r})", end="")
                if w["allergies"]:
                    print(
                        f" | allergies text={w['allergies']['text']} audio={w['allergies']['audio']}", end=""
                    )
                for ln in w["lines"]:
                    print(f" | {ln['drug']} text={ln['text']} audio={ln['audio']}", end="")
                print()
            if r["clean"]:
                for x in r["audio"]["extra"]:
                    src = "also from text" if x.get("also_from_text") else "speech only"
                    print(f"     extra {x['rule']} {x['severity']} {x['drugs']} ({src}) {x['message'][:60]}")
        print(json.dumps(summary, ensure_ascii=False))
        out["files"].append({"summary": summary, "cases": rows})
    if args.output:
        args.output.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
