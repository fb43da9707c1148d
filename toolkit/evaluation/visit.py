"""Scoring of whole visits on visit-case files (``eval/data/visit_cases*.jsonl``; format in
eval/data/README.md).

Shared by ``eval/visit/score_visit_cases.py`` (visits from text) and ``eval/visit/score_visit_audio.py``
(the same cases from text and from speech). Each case is a dictation with facts not said aloud
(``patient_hint``: age, sex, weight, labs, allergies, pregnancy), the expected warn/block findings
(category, severity, drugs) and ``clean``. The script builds the visit (``toolkit.visit.visit`` with
:func:`hint_header`) and hands the case it built (an :class:`~toolkit.records.AuditCase`) here:

* :func:`read_visit_cases` — the cases of a file, in file order;
* :func:`with_hint` / :func:`audit_with_hint` — the hint's facts added to the built case (as the doctor
  would fill them in), audited again;
* :func:`score_case` — expected findings found / missed and the extra warn/block findings, each marked
  ``extraction`` when its rule is one of :data:`EXTRACTION_RULES`;
* :func:`summarize` — the summary line over scored rows (clean cases' false alarms, split into those
  caused by extraction and the rest; planted cases found).

This module works on the built :class:`~toolkit.records.AuditCase`, never on ``toolkit.visit`` itself
(that package sits above ``toolkit.evaluation`` in the import layers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolkit.audit import audit
from toolkit.knowledge.loader import Knowledge
from toolkit.records import AuditCase, AuditReport

__all__ = [
    "EXTRACTION_RULES",
    "audit_with_hint",
    "hint_header",
    "read_visit_cases",
    "score_case",
    "summarize",
    "with_hint",
]

EXTRACTION_RULES = ("RX-FMT-003", "RX-FMT-007", "RX-FMT-008", "RX-DUP-001", "RX-FMT-010", "RX-SKIN-001")
"""Rules whose findings come from a field the extractor missed or invented (a said dose, days, skin test
result; a duplicate of one drug; a fake drug name): on clean cases these false alarms count as
extraction's."""


def read_visit_cases(path: Path) -> list[dict[str, Any]]:
    """The cases of a visit-case JSONL file (one JSON object a line), in file order."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def hint_header(case: dict[str, Any]) -> dict[str, Any]:
    """The header the doctor types before dictating: age and sex from the case's ``patient_hint``."""
    hint = case.get("patient_hint", {})
    return {k: hint[k] for k in ("age", "sex") if k in hint}


def with_hint(case: dict[str, Any], built: AuditCase) -> AuditCase:
    """``built`` (the case a visit built) with the hint's facts added: age, sex, weight and pregnancy
    replaced when the hint has them, the hint's labs over the built ones, the hint's allergies appended
    (duplicates dropped, order kept)."""
    hint = case.get("patient_hint", {})
    patient = built.patient.model_copy(
        update={
            **{k: hint[k] for k in ("age", "sex", "weight_kg", "pregnant") if k in hint},
            "labs": {**built.patient.labs, **hint.get("labs", {})},
            "allergies": tuple(dict.fromkeys((*built.patient.allergies, *hint.get("allergies", ())))),
        }
    )
    return built.model_copy(update={"patient": patient})


def audit_with_hint(case: dict[str, Any], built: AuditCase, kb: Knowledge) -> AuditReport:
    """The audit of :func:`with_hint` ``(case, built)``."""
    return audit(with_hint(case, built), kb)


def score_case(case: dict[str, Any], built: AuditCase, kb: Knowledge) -> dict[str, Any]:
    """One case scored on the case a visit built (hint merged, audited again).

    An expected finding is found when a warn/block finding has its category and at least its drugs (a drug
    is named by its own name, the drug it resolves to, or a combination product holding it).
    Returns ``found`` (count), ``missed`` (the expected findings not found, as in the file), ``extra``
    (every warn/block finding whose rule matched no found expectation: rule, severity, drugs, message,
    ``extraction``) and ``items`` (the built prescription's drug names).
    """
    report = audit_with_hint(case, built, kb)
    got = [f for f in report.findings if f.severity.value in ("warn", "block")]

    def ids(name: str) -> set[str]:
        """The drug a name resolves to and, for a combination product, its ingredients (an expected
        贝那普利 is named by a finding on 氨氯地平贝那普利)."""
        m = kb.names.resolve(name)
        return {name} if m is None else {name, m.drug_id, *kb.ingredients(m.drug_id)}

    def names(e_drug: str, f: Any) -> bool:
        want = ids(e_drug) - {e_drug}
        return e_drug in f.drugs or any(want & ids(d) for d in f.drugs)

    def hits(e: dict[str, Any]) -> list:
        return [f for f in got if f.category.value == e["category"] and all(names(d, f) for d in e["drugs"])]

    found = [e for e in case["expected"] if hits(e)]
    missed = [e for e in case["expected"] if not hits(e)]
    expected_ids = {f.rule_id for e in found for f in hits(e)}
    return {
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
            for f in got
            if f.rule_id not in expected_ids
        ],
        "items": [it.drug for it in built.prescription.items],
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The summary over rows that have ``clean`` and the keys of :func:`score_case`: cases; clean cases,
    those with any warn/block finding, their findings and how many come from extraction; planted cases
    and those with every expected finding found."""
    clean = [r for r in rows if r["clean"]]
    planted = [r for r in rows if not r["clean"]]
    return {
        "cases": len(rows),
        "clean_cases": len(clean),
        "clean_with_any_warn_block": sum(bool(r["extra"]) for r in clean),
        "clean_warn_block_findings": sum(len(r["extra"]) for r in clean),
        "clean_findings_from_extraction": sum(x["extraction"] for r in clean for x in r["extra"]),
        "planted_cases": len(planted),
        "planted_found": sum(not r["missed"] for r in planted),
    }
