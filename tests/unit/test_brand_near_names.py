"""顺尔宁 and 优立通, the brands clinics write for montelukast and febuxostat, are audited as their drug again;
the near names 胃尔宁 and 达立通 (other products) stay known drugs outside the formulary, never guessed into
them (KB 2026.12.1, near_names_reviewed)."""

from __future__ import annotations

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit
from toolkit.knowledge import get_knowledge


@pytest.mark.parametrize(
    ("written", "drug"), [("顺尔宁", "孟鲁司特"), ("顺尔宁片", "孟鲁司特"), ("优立通", "非布司他")]
)
def test_the_brand_is_audited_as_its_drug(written: str, drug: str) -> None:
    report = audit(make_case(item(written, dose=10, unit="mg", frequency="qd", days=7)), get_knowledge())
    assert any(f.rule_id == "RX-FMT-006" and f"按“{drug}”审核" in f.message for f in report.findings)
    assert not any(f.rule_id == "RX-FMT-007" for f in report.findings)


@pytest.mark.parametrize("written", ["胃尔宁", "达立通"])
def test_the_near_name_is_another_product_not_covered(written: str) -> None:
    report = audit(make_case(item(written, dose=10, unit="mg", frequency="qd", days=7)), get_knowledge())
    assert [f.rule_id for f in report.findings if f.rule_id.startswith("RX-FMT-00")] == ["RX-FMT-007"]
