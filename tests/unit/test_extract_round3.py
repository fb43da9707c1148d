"""Issue 13, round 3 of the visit extraction (errors of the blind test5 scoring): a combination strength
read without a unit (舒利迭50/250的) or said with 加 (规格一百五加十二点五的) takes the unit of the one listed
combination with those amounts; a single amount said as 规格 or as "X的" before the count of tablets
(四十七点五的，一次一片) takes the unit of the listed strength it matches; a volume is not the dose of a
tablet, and the water drunk (每天喝两千毫升水) is no dose at all, so the amount said for the tablet stays
its dose; 开水冲服 is an oral route; a route closed by a clause end (…皮下注射；) is its own line's (test6).
Each rule has a case that changes and one that must not."""

from __future__ import annotations

import pytest

from toolkit.extract import extract


def _item(text: str, k: int = 0) -> dict[str, object]:
    return (
        extract(text)
        .items[k]
        .model_dump(include={"drug", "drug_id", "strength", "dose", "unit", "frequency", "route", "days"})
    )


# --------------------------------------------------------------------------- combination without a unit


def test_unitless_combination_takes_the_listed_unit() -> None:
    assert _item("处理 舒利迭50/250的一次一吸一天两次")["strength"] == "50/250 μg"
    assert _item("处理 布地奈德福莫特罗，八十/四点五的，一次一吸，一天两次，吸入")["strength"] == "80/4.5 μg"
    assert _item("处理 舒利迭五十/五百的一次一吸一天两次")["strength"] == "50/500 μg"


def test_unitless_combination_not_listed_is_left_as_read() -> None:
    # 50/300 is not a listed strength of 舒利迭: no unit is guessed
    assert _item("处理 舒利迭50/300的一次一吸一天两次")["strength"] == "50/300"


def test_combination_said_with_jia_before_the_count() -> None:
    it = _item("处理 安博诺还是用规格一百五加十二点五的一次一片每天早上开两周")
    assert it["strength"] == "150/12.5 mg"
    assert (it["dose"], it["unit"]) == (1.0, "片")


def test_combination_said_with_jia_not_listed_or_without_a_count() -> None:
    # 一百五加二十五 is not a listed strength of 安博诺 (150/12.5, 300/12.5 mg)
    assert _item("处理 安博诺规格一百五加二十五的一次一片每天早上")["strength"] is None
    # no count of tablets after it: not read as the strength
    assert _item("处理 安博诺规格一百五加十二点五每天早上一次")["strength"] is None


# --------------------------------------------------------------------------- one amount without a unit


def test_single_amount_before_the_count_takes_the_listed_unit() -> None:
    it = _item("处理 倍他乐克缓释片四十七点五的，一次一片，一天一次")
    assert (it["strength"], it["dose"], it["unit"]) == ("47.5 mg", 1.0, "片")
    # a strength listed in g, said in mg (0.5 g: 五百的)
    assert _item("处理 二甲双胍五百的一次两片一天三次")["strength"] == "500 mg"
    assert _item("处理 二甲双胍规格五百，一次一片一天三次")["strength"] == "500 mg"


def test_single_amount_not_listed_or_not_before_a_count_is_not_a_strength() -> None:
    # 40 is not a listed strength of metoprolol
    assert _item("处理 倍他乐克缓释片四十的，一次一片，一天一次")["strength"] is None
    # the amount is not said with 的 / 规格: 一次一片 is only the count
    assert _item("处理 倍他乐克缓释片一次一片，一天一次")["strength"] is None
    # no count of tablets: the amount is not read as a strength
    assert _item("处理 倍他乐克缓释片四十七点五的，一天一次")["strength"] is None


# --------------------------------------------------------------------------- the water drunk is no dose


def test_water_drunk_is_not_the_dose_of_the_tablet() -> None:
    it = _item("处理 非布司他二十毫克一天一次碳酸氢钠片一克一天三次以上都开四周每天喝两千毫升水", 1)
    assert it["drug_id"] == "sodium_bicarbonate"
    assert (it["strength"], it["dose"], it["unit"], it["frequency"]) == (None, 1.0, "g", "tid")
    # the water a powder is taken with is no dose either: the count stays the dose
    it = _item("处理 蒙脱石散一袋冲一百毫升温水一天三次")
    assert (it["dose"], it["unit"]) == (1.0, "袋")


def test_volume_stays_the_dose_of_a_liquid() -> None:
    it = _item("处理 乳果糖口服液十五毫升一天两次每天喝两千毫升水")
    assert (it["dose"], it["unit"], it["frequency"]) == (15.0, "ml", "bid")
    it = _item("处理 氨溴索口服溶液十毫升一天三次")
    assert (it["dose"], it["unit"]) == (10.0, "ml")


# --------------------------------------------------------------------------- 开水冲服


def test_dissolved_in_water_is_oral() -> None:
    assert _item("处理 感冒清热颗粒一次一袋，一天两次，开水冲服；右美沙芬十五毫克一天三次")["route"] == "口服"


def test_no_route_said_stays_none() -> None:
    assert _item("处理 感冒清热颗粒一次一袋，一天两次；右美沙芬十五毫克一天三次")["route"] is None


@pytest.mark.parametrize(
    ("text", "routes"),
    [
        # a clause end after the route closes the line it ends: the route is that line's, not the next one's
        (
            "诊断2型糖尿病处理诺和泰零点五毫克，每周一次，皮下注射；二甲双胍肠溶片零点五克一天两次。以上都开四周。",
            ["皮下注射", None],
        ),
        (
            "诊断慢阻肺高血压处理思力华每天一粒，一天一次，吸入；替米沙坦片四十毫克一天一次。都开四周。",
            ["吸入", None],
        ),
        # must not: a route that opens the next line after a comma stays the next line's
        ("诊断高血压处理氨氯地平五毫克一天一次，口服缬沙坦八十毫克一天一次", [None, "口服"]),
    ],
)
def test_a_route_closed_by_a_clause_end_belongs_to_its_line(text: str, routes: list[str | None]) -> None:
    rec = extract(text)
    assert [it.route for it in rec.items] == routes
