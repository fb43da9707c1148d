"""Score the whole visit (dictation text → record → prescription → audit) on eval/data/visit_cases.jsonl.

Each case is a dictation with facts not said aloud (`patient_hint`: age, sex, weight, labs, allergies,
pregnancy), the expected warn/block findings (category, severity, drugs) and `clean`. The dictation goes
through `toolkit.visit.visit`; the hint's facts are added to the case the visit built (a typed header and
lab values, as the doctor would fill them in) and the case is audited again. Reports per case: expected
findings found (category + drugs), extra warn/block findings (on clean cases: false alarms, split into
those caused by extraction — missing fields that were said, duplicates, fake drugs — and the rest).

    python eval/visit/score_visit_cases.py [eval/data/visit_cases.jsonl] [-o out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from toolkit.audit import audit
from toolkit.evaluation.data import eval_data
from toolkit.knowledge import get_knowledge
from toolkit.visit import visit

# findings that come from a field the extractor missed or invented (a said dose, days, skin test result; a
# duplicate of one drug; a fake drug name)
EXTRACTION_RULES = ("RX-FMT-003", "RX-FMT-007", "RX-FMT-008", "RX-DUP-001", "RX-FMT-010", "RX-SKIN-001")


def _names(kb, f) -> set[str]:
    return set(f.drugs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", default=None, type=Path, help="default: eval/data/visit_cases.jsonl")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    kb = get_knowledge()
    rows = []
    for line in (args.file or eval_data("visit_cases.jsonl")).open(encoding="utf-8"):
        c = json.loads(line)
        hint = c.get("patient_hint", {})
        v = visit(text=c["text"], id=c["id"], header={k: hint[k] for k in ("age", "sex") if k in hint})
        patient = v.case.patient.model_copy(
            update={
                **{k: hint[k] for k in ("age", "sex", "weight_kg", "pregnant") if k in hint},
                "labs": {**v.case.patient.labs, **hint.get("labs", {})},
                "allergies": tuple(dict.fromkeys((*v.case.patient.allergies, *hint.get("allergies", ())))),
            }
        )
        report = audit(v.case.model_copy(update={"patient": patient}), kb)
        got = [f for f in report.findings if f.severity.value in ("warn", "block")]
        found, missed = [], []
        for e in c["expected"]:
            hit = [f for f in got if f.category.value == e["category"] and set(e["drugs"]) <= set(f.drugs)]
            (found if hit else missed).append(e)
        expected_ids = {
            f.rule_id
            for f in got
            for e in found
            if f.category.value == e["category"] and set(e["drugs"]) <= set(f.drugs)
        }
        extra = [f for f in got if f.rule_id not in expected_ids]
        rows.append(
            {
                "id": c["id"],
                "clean": c["clean"],
                "found": len(found),
                "missed": missed,
                "extra": [
                    {
                        "rule": f.rule_id,
                        "severity": f.severity.value,
                        "drugs": list(f.drugs),
                        "message": f.message,
                        "extraction": f.rule_id in EXTRACTION_RULES,
                    }
                    for f in extra
                ],
                "items": [it.drug for it in v.case.prescription.items],
            }
        )
    clean = [r for r in rows if r["clean"]]
    planted = [r for r in rows if not r["clean"]]
    summary = {
        "cases": len(rows),
        "clean_cases": len(clean),
        "clean_with_any_warn_block": sum(bool(r["extra"]) for r in clean),
        "clean_warn_block_findings": sum(len(r["extra"]) for r in clean),
        "clean_findings_from_extraction": sum(x["extraction"] for r in clean for x in r["extra"]),
        "planted_cases": len(planted),
        "planted_found": sum(not r["missed"] for r in planted),
    }
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
