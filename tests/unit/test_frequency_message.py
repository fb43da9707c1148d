"""RX-FREQ-001/003 say a frequency as a pharmacist does: below once a day by the week or the interval,
never as a fraction of a time per day (was "超过说明书每日最多0.143次")."""

from __future__ import annotations

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit
from toolkit.audit.checks import rate_text
from toolkit.knowledge import get_knowledge


@pytest.mark.parametrize(
    ("per_day", "text"),
    [
        (3, "每日3次"),
        (1, "每日1次"),
        (0.5, "每2日1次"),
        (0.1429, "每周1次"),
        (2 / 7, "每周2次"),
        (1 / 3, "每3日1次"),
    ],
)
def test_rate_text(per_day: float, text: str) -> None:
    assert rate_text(per_day) == text


def test_weekly_drug_given_daily_is_said_by_the_week() -> None:
    kb = get_knowledge()  # the shipped formulary (semaglutide is not in the test fixtures)
    case = make_case(item("司美格鲁肽注射液", dose=0.5, unit="mg", frequency="qd", route="皮下注射", days=28))
    msg = next(f.message for f in audit(case, kb).findings if f.rule_id == "RX-FREQ-001")
    assert "每日1次" in msg and "最多每周1次" in msg and "0.1" not in msg


def test_daily_limit_message_and_a_weekly_drug_given_weekly_is_silent() -> None:
    kb = get_knowledge()
    case = make_case(item("苯磺酸氨氯地平片", dose=5, unit="mg", frequency="tid", days=28))
    msg = next(f.message for f in audit(case, kb).findings if f.rule_id == "RX-FREQ-001")
    assert "tid（每日3次）超过说明书最多每日1次" in msg
    weekly = make_case(
        item("司美格鲁肽注射液", dose=0.5, unit="mg", frequency="qw", route="皮下注射", days=28)
    )
    assert not [f for f in audit(weekly, kb).findings if f.rule_id.startswith("RX-FREQ")]
