"""RX-DAYS-001 (≤ 7 days without a chronic diagnosis): the long-term conditions added in KB 2026.12.0 waive it,
an acute one does not (review-2 follow-up: RA, treated hypothyroidism, OAB, BPH, pulmonary hypertension …)."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.audit import audit
from toolkit.records import AuditCase


def _case(dx: tuple[str, str], drug: dict[str, Any]) -> AuditCase:
    return AuditCase.model_validate(
        {
            "id": "days",
            "patient": {
                "age": 60,
                "sex": "F",
                "diagnoses": [{"name": dx[0], "icd10": dx[1]}],
                "labs": {"egfr": 90},
            },
            "prescription": {"items": [{**drug, "frequency": "qd", "route": "口服", "days": 28}]},
        }
    )


LEVO = {"drug": "左甲状腺素钠片", "strength": "50 μg", "dose": 50, "unit": "μg"}
CELE = {"drug": "塞来昔布胶囊", "strength": "200 mg", "dose": 200, "unit": "mg"}


@pytest.mark.regression
@pytest.mark.parametrize(
    ("dx", "drug"), [(("甲状腺切除术后甲状腺功能减退", "E89.0"), LEVO), (("类风湿关节炎", "M06.9"), CELE)]
)
def test_long_term_conditions_waive_the_seven_day_rule(
    dx: tuple[str, str], drug: dict[str, Any], shipped_kb: Any
) -> None:
    assert "RX-DAYS-001" not in {f.rule_id for f in audit(_case(dx, drug), shipped_kb).findings}


@pytest.mark.regression
def test_a_condition_off_the_list_still_needs_a_reason(shipped_kb: Any) -> None:
    report = audit(_case(("甲状腺结节", "E04.1"), LEVO), shipped_kb)
    assert "RX-DAYS-001" in {f.rule_id for f in report.findings}


def _hp_case(dx: tuple[str, str], days: int) -> AuditCase:
    items = [
        {"drug": "雷贝拉唑钠肠溶片", "strength": "10 mg", "dose": 10, "unit": "mg"},
        {"drug": "枸橼酸铋钾胶囊", "strength": "0.3 g", "dose": 0.6, "unit": "g"},
    ]
    return AuditCase.model_validate(
        {
            "id": "hp",
            "patient": {
                "age": 42,
                "sex": "F",
                "diagnoses": [{"name": dx[0], "icd10": dx[1]}],
                "labs": {"egfr": 100},
            },
            "prescription": {
                "items": [{**d, "frequency": "bid", "route": "口服", "days": days} for d in items]
            },
        }
    )


@pytest.mark.regression
def test_h_pylori_course_covers_the_ppi_and_bismuth_lines(shipped_kb: Any) -> None:
    """qa-pharmacist: the 14-day bismuth quadruple warned RX-DAYS-001 on its PPI and bismuth lines."""
    fired = [f.rule_id for f in audit(_hp_case(("幽门螺杆菌感染", "A04.8"), 14), shipped_kb).findings]
    assert "RX-DAYS-001" not in fired
    # longer than the standard course, or the same 14 days without the diagnosis: still a finding
    assert [f.rule_id for f in audit(_hp_case(("幽门螺杆菌感染", "A04.8"), 21), shipped_kb).findings].count(
        "RX-DAYS-001"
    ) == 2
    assert [f.rule_id for f in audit(_hp_case(("功能性消化不良", "K30"), 14), shipped_kb).findings].count(
        "RX-DAYS-001"
    ) == 2


@pytest.mark.regression
@pytest.mark.parametrize(
    ("dx", "drug"),
    [
        (
            ("慢性非萎缩性胃炎", "K29.5"),
            {"drug": "雷贝拉唑钠肠溶片", "strength": "10 mg", "dose": 10, "unit": "mg"},
        ),
        (("变应性鼻炎", "J30.4"), {"drug": "孟鲁司特钠片", "strength": "10 mg", "dose": 10, "unit": "mg"}),
        (("膝骨关节炎", "M17.9"), {"drug": "氨基葡萄糖胶囊", "strength": "0.25 g", "dose": 0.5, "unit": "g"}),
    ],
)
def test_chronic_conditions_added_by_qa_waive_the_seven_day_rule(
    dx: tuple[str, str], drug: dict[str, Any], shipped_kb: Any
) -> None:
    """qa-pharmacist: 14–28-day refills for chronic gastritis, allergic rhinitis and osteoarthritis."""
    assert "RX-DAYS-001" not in {f.rule_id for f in audit(_case(dx, drug), shipped_kb).findings}
    # the same drug for an acute diagnosis still needs a reason
    acute = audit(_case(("急性上呼吸道感染", "J06.9"), drug), shipped_kb)
    assert "RX-DAYS-001" in {f.rule_id for f in acute.findings}
