"""Every data rule of the shipped knowledge base fires in its `fires` case and stays silent in its
`silent` case (tests/regression/rule_cases/*.yaml, stable ids)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from toolkit.audit import audit
from toolkit.records import AuditCase

CASE_DIR = Path(__file__).parent / "rule_cases"


def _load() -> list[dict[str, Any]]:
    out = []
    for path in sorted(CASE_DIR.glob("*.yaml")):
        for i, c in enumerate(yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]):
            out.append({**c, "_where": f"{path.name}[{i}]"})
    return out


CASES = _load()


def _case(raw: dict[str, Any], rule: str, kind: str) -> AuditCase:
    return AuditCase.model_validate({"id": f"{rule}-{kind}", **raw})


@pytest.mark.regression
@pytest.mark.parametrize("c", CASES, ids=[c["rule"] for c in CASES])
def test_rule_fires(c: dict[str, Any], shipped_kb: Any) -> None:
    report = audit(_case(c["fires"], c["rule"], "fires"), shipped_kb)
    hits = [f for f in report.findings if f.rule_id == c["rule"]]
    assert hits, f"{c['_where']}: {c['rule']} did not fire; got {[f.rule_id for f in report.findings]}"
    if "severity" in c:
        assert hits[0].severity.value == c["severity"], c["_where"]
    assert "{" not in hits[0].message and "—" not in hits[0].message, hits[0].message


@pytest.mark.regression
@pytest.mark.parametrize("c", CASES, ids=[c["rule"] for c in CASES])
def test_rule_silent(c: dict[str, Any], shipped_kb: Any) -> None:
    report = audit(_case(c["silent"], c["rule"], "silent"), shipped_kb)
    assert c["rule"] not in {f.rule_id for f in report.findings}, c["_where"]


@pytest.mark.regression
def test_every_data_rule_has_cases(shipped_kb: Any) -> None:
    rules = {
        r.id
        for s in (
            shipped_kb.interactions,
            shipped_kb.contraindications,
            shipped_kb.cross_reactivity,
            shipped_kb.duplicate_groups,
            shipped_kb.indications,
        )
        for r in s
    }
    covered = {c["rule"] for c in CASES}
    assert not rules - covered, f"rules without fire/silent cases: {sorted(rules - covered)}"
    assert not covered - rules, f"cases for unknown rules: {sorted(covered - rules)}"


@pytest.mark.regression
@pytest.mark.parametrize(
    ("drug", "dose", "egfr", "fires"),
    [
        ("西格列汀片", 100, 60, False),
        ("西格列汀片", 50, 40, False),
        ("西格列汀片", 100, 40, True),
        ("西格列汀片", 25, 25, False),
        ("西格列汀片", 50, 25, True),
        ("沙格列汀片", 5, 40, True),
        ("沙格列汀片", 2.5, 40, False),
        ("盐酸二甲双胍片", 1000, 40, True),
        ("盐酸二甲双胍片", 500, 40, False),
    ],
)
def test_renal_dose_limits_in_the_formulary(
    shipped_kb: Any, drug: str, dose: float, egfr: float, fires: bool
) -> None:
    """Renal dose steps are dose limits, so a dose already reduced for the kidneys passes."""
    case = AuditCase.model_validate(
        {
            "id": "renal",
            "patient": {
                "age": 60,
                "diagnoses": [{"name": "2型糖尿病", "icd10": "E11.9"}],
                "labs": {"egfr": egfr},
            },
            "prescription": {
                "items": [
                    {
                        "drug": drug,
                        "dose": dose,
                        "unit": "mg",
                        "frequency": "bid" if "二甲双胍" in drug else "qd",
                        "route": "口服",
                        "days": 28,
                    }
                ]
            },
        }
    )
    found = {f.rule_id for f in audit(case, shipped_kb).findings}
    assert ("RX-DOSE-002" in found) is fires, found
