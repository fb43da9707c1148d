"""Issue 13 (sig5): combination and spoken strengths, doses said at two times of the day, a stop said as
the next clause, and a drug said under a condition in the advice."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.extract import extract


def _items(text: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in it.model_dump().items() if v is not None and k not in ("start", "end")}
        for it in extract(text).items
    ]


def _one(text: str) -> dict[str, Any]:
    items = _items(text)
    assert len(items) == 1, items
    return items[0]


# ------------------------------------------------------------ 1. combination and spoken strengths


def test_a_run_said_after_a_pause_is_the_combination() -> None:
    it = _one("诊断：哮喘。处理：信必可都保，一百六十四点五的，一次两吸，一天两次，吸入")
    assert (it["strength"], it["dose"], it["unit"]) == ("160/4.5 μg", 2.0, "吸")


@pytest.mark.parametrize(
    ("text", "strength"),
    [
        ("处理 多达一 五毫克十毫克那个 一次一片一天一次 开四周", "5/10 mg"),
        ("诊断：高血压。处理：倍博特八十毫克五毫克的一天一片", "80/5 mg"),
        ("诊断：高血压。处理：多达一十毫克五毫克的一天一片", "5/10 mg"),  # said the other way round
    ],
)
def test_two_masses_said_for_a_combination_are_its_strength(text: str, strength: str) -> None:
    it = _one(text)
    assert (it["strength"], it["dose"], it["unit"]) == (strength, 1.0, "片")


def test_two_masses_with_no_count_are_no_dose() -> None:
    it = _one("诊断：高血压。处理：多达一五毫克十毫克 一天一次")
    assert it["strength"] == "5/10 mg" and "dose" not in it


def test_one_component_amount_of_a_combination_is_no_dose_in_mg() -> None:
    it = _one("诊断：高血压。处理：多达一五毫克 一天一次")
    assert it["strength"] == "5/10 mg" and "dose" not in it and it["frequency"] == "qd"
    it = _one("诊断：高血压。处理：多达一五毫克 一天一片")
    assert (it["strength"], it["dose"], it["unit"]) == ("5/10 mg", 1.0, "片")


def test_a_component_amount_of_several_combinations_stays_as_said() -> None:
    # 50 mg is in 50/850 and 50/1000: the strength keeps what was said (the audit asks for each component)
    it = _one("诊断：糖尿病。处理：维格列汀二甲双胍五十毫克一天两次")
    assert it["strength"] == "50 mg" and "dose" not in it


def test_an_amount_per_dose_or_a_total_of_a_combination_stays_a_dose() -> None:
    it = _one("诊断：中耳炎。处理：阿莫西林克拉维酸钾干混悬剂按体重每次三百毫克一天两次")
    assert (it["dose"], it["unit"]) == (300.0, "mg")
    it = _one("诊断：鼻窦炎。处理：阿莫西林克拉维酸钾零点六二五克一天三次")
    assert (it["dose"], it["unit"]) == (0.625, "g") and "strength" not in it


def test_a_run_for_a_combination_the_formulary_does_not_list() -> None:
    it = _one("诊断：糖尿病。处理：维格列汀二甲双胍五十五百的 一次一片 一天两次")
    assert (it["strength"], it["dose"]) == ("50/500 mg", 1.0)


def test_an_amount_said_as_that_kind_is_the_strength() -> None:
    it = _one("诊断：高血压。处理：氨氯地平五毫克的那种一天一次")
    assert it["strength"] == "5 mg" and "dose" not in it
    it = _one("诊断：高血压。处理：氨氯地平五毫克的 一次一片 一天一次")
    assert (it["strength"], it["dose"], it["unit"]) == ("5 mg", 1.0, "片")
    it = _one("诊断：高血压。处理：氨氯地平五毫克一天一次")  # no count, no 的那种: the dose as said
    assert (it["dose"], it["unit"]) == (5.0, "mg") and "strength" not in it


# ------------------------------------------------------------ 2. doses said at two times of the day


def test_two_insulin_doses_are_the_larger_with_both_in_the_note() -> None:
    it = _one("诊断：糖尿病。处理：门冬胰岛素30 早餐前十六个单位 晚餐前十八个单位 皮下注射")
    assert (it["dose"], it["unit"], it["frequency"]) == (18.0, "U", "bid")
    assert it["note"] == "早餐前16单位，晚餐前18单位"


def test_two_tablet_doses_keep_the_strength() -> None:
    it = _one("诊断：高血压。处理：美托洛尔缓释片四十七点五毫克的 早上两片晚上一片")
    assert (it["strength"], it["dose"], it["unit"], it["frequency"]) == ("47.5 mg", 2.0, "片", "bid")
    assert it["note"] == "早上2片，晚上1片"
    it = _one("诊断：糖尿病。处理：二甲双胍零点五克 早上一片 中午一片 晚上两片")
    assert (it["dose"], it["frequency"], it["note"]) == (2.0, "tid", "早上1片，中午1片，晚上2片")


def test_equal_doses_over_the_day_are_one_dose_twice() -> None:
    it = _one("诊断：糖尿病。处理：诺和锐30 早上十六个单位晚上也是十六个单位")
    assert (it["dose"], it["frequency"]) == (16.0, "bid") and "note" not in it


def test_a_changed_slot_counts_with_its_new_dose() -> None:
    it = _one("诊断：糖尿病。处理：门冬胰岛素30 早上十二个单位 晚上加到十四个单位")
    assert (it["dose"], it["frequency"], it["note"]) == (14.0, "bid", "早上12单位，晚上14单位")


# ------------------------------------------------------------ 3. a stop said as the next clause


@pytest.mark.parametrize(
    "stop",
    ["，不再吃。", "，先不吃了，", "，停掉。", "一天两次，先不吃了，", "一天两次 先不吃了 "],
)
def test_a_stop_said_as_the_next_clause_is_no_line(stop: str) -> None:
    items = _items(f"诊断：糖尿病。处理：二甲双胍零点五克{stop}阿卡波糖五十毫克一天三次")
    assert [it["drug"] for it in items] == ["阿卡波糖"]


@pytest.mark.parametrize("said", ["不再吃别的药", "吃完不用再来", "不舒服就停", "不要停"])
def test_words_of_stopping_about_something_else_keep_the_line(said: str) -> None:
    it = _one(f"诊断：糖尿病。处理：二甲双胍零点五克一天两次，{said}")
    assert (it["drug"], it["frequency"]) == ("二甲双胍", "bid")


def test_a_stop_of_one_drug_keeps_the_other() -> None:
    items = _items("诊断：糖尿病。处理：阿卡波糖五十毫克一天三次，二甲双胍零点五克，先不吃了")
    assert [it["drug"] for it in items] == ["阿卡波糖"]


def test_a_course_then_stop_is_the_course_end() -> None:
    it = _one("诊断：咽炎。处理：阿莫西林零点五克一天三次，吃五天，停")
    assert it["days"] == 5.0


# ------------------------------------------------------------ 4. a drug said under a condition


def test_a_conditional_extra_dose_in_the_advice_is_no_line() -> None:
    items = _items("诊断：高血压。处理：氨氯地平五毫克一天一次。随访：如果血压高于一百六加服硝苯地平十毫克")
    assert [it["drug"] for it in items] == ["氨氯地平"]
    items = _items("诊断：高血压。处理：氨氯地平五毫克一天一次如果血压高于一百六加服硝苯地平十毫克")
    assert [it["drug"] for it in items] == ["氨氯地平"]


def test_a_condition_for_a_drug_prescribed_elsewhere_is_its_note() -> None:
    items = _items("诊断：腰痛。处理：布洛芬缓释胶囊零点三克一天两次。疼得厉害再吃布洛芬")
    assert len(items) == 1 and items[0]["frequency"] == "bid" and items[0]["note"] == "疼得厉害再吃布洛芬"
    items = _items("诊断：高血压。处理：硝苯地平控释片三十毫克一天一次。如果血压高于一百六加服硝苯地平十毫克")
    assert len(items) == 1 and (items[0]["dose"], items[0]["frequency"]) == (30.0, "qd")
    assert items[0]["note"] == "如果血压高于一百六加服硝苯地平十毫克"


def test_a_conditional_drug_without_amount_is_no_line() -> None:
    items = _items("诊断：腰痛。处理：双氯芬酸钠凝胶外用一天三次，疼的时候吃布洛芬")
    assert [it["drug"] for it in items] == ["双氯芬酸钠凝胶"]


def test_a_conditional_drug_prescribed_with_a_verb_is_a_prn_line() -> None:
    items = _items("诊断：高血压。处理：氨氯地平五毫克一天一次。如果血压高于一百六给他开硝苯地平十毫克带着")
    assert [(it["drug"], it.get("frequency")) for it in items] == [("氨氯地平", "qd"), ("硝苯地平", "prn")]
    assert items[1]["note"] == "如果血压高于一百六给他开硝苯地平十毫克"


def test_a_conditional_line_with_its_own_sig_stays_a_line() -> None:
    items = _items("处理：布洛芬零点三克一天两次吃三天疼得厉害再加双氯芬酸钠缓释片七十五毫克一天一次吃三天")
    assert [(it["drug_id"], it["frequency"]) for it in items] == [("ibuprofen", "bid"), ("diclofenac", "qd")]
    items = _items("处方对乙酰氨基酚零点五克必要时加用布洛芬零点三克")
    assert [it["drug"] for it in items] == ["对乙酰氨基酚", "布洛芬"]


def test_a_conditional_drug_with_its_amount_in_the_plan_is_a_prn_line() -> None:
    items = _items("诊断：冠心病。处理：阿司匹林一百毫克一天一次，胸痛的时候舌下含服硝酸甘油零点五毫克")
    assert [(it["drug"], it.get("frequency")) for it in items] == [("阿司匹林", "qd"), ("硝酸甘油", "prn")]
    assert (items[1]["dose"], items[1]["unit"]) == (0.5, "mg")


def test_an_extra_amount_said_under_a_condition_is_the_lines_note() -> None:
    it = _one("处理：氨氯地平五毫克一天一次，血压高的时候加一片")
    assert (it["dose"], it["unit"], it["frequency"]) == (5.0, "mg", "qd")
    assert it["note"] == "血压高的时候加一片"
    it = _one("处理：对乙酰氨基酚零点五克，发烧的时候吃一片")  # the as-needed sig itself, no extra
    assert (it["strength"], it["dose"], it["frequency"]) == ("0.5 g", 1.0, "prn")
