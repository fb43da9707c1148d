"""Every labelled visit of eval/data/care_cases.jsonl, by stable id: control status per disease,
follow-up interval and referral urgency. Known failures are marked xfail (strict) by id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from toolkit.care import assess

LABELLED = Path(__file__).parents[3] / "eval" / "data" / "care_cases.jsonl"
ROWS = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]

# Hold-out visits the shipped rules get wrong (found when the hold-out split was first scored).
# ho-003 left this list with the 2025 hypertension targets: its 132/80 is now uncontrolled, so the
# 2-week interval no longer depends on the adverse reaction '服用卡托普利后干咳', which the AE words
# still miss (see tests/unit/test_care_rules.py::test_adverse_reaction_wording_gap).
KNOWN_FAILURES = {
    "ho-009": "'未发生急性加重' is not among the stable-COPD phrases",
    "ho-010": "'较平时无明显变化' is not among the stable-COPD phrases",
    "ho-015": "'心前区闷痛' is not among the angina words",
    "ho-016": "'胸骨后压榨样疼痛' is not among the angina words for CHD control",
}


def _param(row: dict[str, Any]) -> Any:
    marks = (
        [pytest.mark.xfail(reason=KNOWN_FAILURES[row["id"]], strict=True)]
        if row["id"] in KNOWN_FAILURES
        else []
    )
    return pytest.param(row, id=row["id"], marks=marks)


@pytest.mark.regression
@pytest.mark.parametrize("row", [_param(r) for r in ROWS])
def test_labelled_visit(row: dict[str, Any]) -> None:
    plan = assess(row)
    exp = row["expected"]
    got = {
        "control": {c.disease.value: c.control.value for c in plan.conditions},
        "interval_days": plan.follow_up.interval_days,
        "referral": plan.referral_urgency or "none",
    }
    assert got == {k: exp[k] for k in got}, row["why"]
