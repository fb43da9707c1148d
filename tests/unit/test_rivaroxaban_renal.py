"""RX-CI-074 version 2: at CrCl 15–49 rivaroxaban warns unless the daily dose is known to be at most 15 mg
(the reduced AF dose, already right): then it is an info reminder (a pharmacist found the warn on a correct
15 mg qd)."""

from __future__ import annotations

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit
from toolkit.knowledge import get_knowledge


def _rx_ci_074(**line: object) -> list[str]:
    case = make_case(
        item("利伐沙班片", frequency="qd", days=14, **line),
        diagnoses=[("心房颤动", "I48.9")],
        labs={"crcl": 40},
    )
    return [f.severity.value for f in audit(case, get_knowledge()).findings if f.rule_id == "RX-CI-074"]


@pytest.mark.parametrize(
    ("line", "severity"),
    [
        ({"dose": 20, "unit": "mg"}, "warn"),
        ({"dose": 15, "unit": "mg"}, "info"),
        ({"dose": 10, "unit": "mg"}, "info"),
    ],
)
def test_severity_follows_the_daily_dose(line: dict[str, object], severity: str) -> None:
    assert _rx_ci_074(**line) == [severity]


def test_an_unknown_dose_keeps_the_warning() -> None:
    assert _rx_ci_074(dose=None, unit=None) == ["warn"]
