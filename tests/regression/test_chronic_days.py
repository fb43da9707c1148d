"""RX-DAYS-001 (≤ 7 days without a chronic diagnosis): the long-term conditions added in KB 2026.12.0 waive it,
an acute one does not (review-2 follow-up: RA, treated hypothyroidism, OAB, BPH, pulmonary hypertension …)."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.audit import audit
from toolkit.records import AuditCase


def _case(dx: tuple[str, str], drug: dict[str, Any]) -> AuditCase:
    return AuditCase.model_validate({
        "id": "days", "patient": {"age": 60, "sex": "F", "diagnoses": [{"name": dx[0], "icd10": dx[1]}],
                                  "labs": {"egfr": 90}},
        "prescription": {"items": [{**drug, "frequency": "qd", "route": "口服", "days": 28}]}})


LEVO = {"drug": "左甲状腺素钠片", "strength": "50 μg", "dose": 50, "unit": "μg"}
CELE = {"drug": "塞来昔布胶囊", "strength": "200 mg", "dose": 200, "unit": "mg"}


@pytest.mark.regression
@pytest.mark.parametrize(("dx", "drug"), [(("甲状腺切除术后甲状腺功能减退", "E89.0"), LEVO),
                                          (("类风湿关节炎", "M06.9"), CELE)])
def test_long_term_conditions_waive_the_seven_day_rule(dx: tuple[str, str], drug: dict[str, Any],
                                                       shipped_kb: Any) -> None:
    assert "RX-DAYS-001" not in {f.rule_id for f in audit(_case(dx, drug), shipped_kb).findings}


@pytest.mark.regression
def test_a_condition_off_the_list_still_needs_a_reason(shipped_kb: Any) -> None:
    report = audit(_case(("甲状腺结节", "E04.1"), LEVO), shipped_kb)
    assert "RX-DAYS-001" in {f.rule_id for f in report.findings}
