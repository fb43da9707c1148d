"""Strengths said as a pen's content, a liquid's concentration or a combination are never read as the
dose (blind split test9): 三百单位的笔 is what the pen holds, 十五毫克五毫升的 is the concentration, 五毫克二十
毫克的 is both amounts of a two-part tablet. Phrasings here are written for these tests, not taken from the
gold files."""

from __future__ import annotations

import pytest

from toolkit.extract import extract


def _item(text: str, drug_id: str):
    items = [it for it in extract(text).items if it.drug_id == drug_id]
    assert len(items) == 1, [(it.drug_id, it.strength, it.dose) for it in extract(text).items]
    return items[0]


@pytest.mark.parametrize(
    ("said", "drug_id", "strength", "dose"),
    [
        # volume said after the units, then 一支的笔
        ("优泌乐，三百单位三毫升一支的笔，三餐前各八个单位", "insulin_lispro", "300 U/3 ml", 8.0),
        # volume said first, 的笔芯, the dose after 每天一次
        ("德谷胰岛素，三毫升三百单位的笔芯，每天一次十六个单位", "insulin_degludec", "300 U/3 ml", 16.0),
        # 一支 alone closed by a pause
        ("门冬胰岛素三百单位一支，三餐前各六个单位", "insulin_aspart", "300 U", 6.0),
        # 的预填充笔, no pause anywhere
        ("甘精胰岛素注射液三百单位的预填充笔睡前十二个单位", "insulin_glargine", "300 U", 12.0),
        # 的注射笔, the dose said with 一次
        ("地特胰岛素，三百单位的注射笔，一次八个单位，睡前", "insulin_detemir", "300 U", 8.0),
        # the content said after what holds it
        ("地特胰岛素，每支三百单位，睡前十个单位", "insulin_detemir", "300 U", 10.0),
        ("德谷胰岛素，规格三百单位三毫升，每天一次十二个单位", "insulin_degludec", "300 U/3 ml", 12.0),
    ],
)
def test_pen_content_is_the_strength_not_the_dose(
    said: str, drug_id: str, strength: str, dose: float
) -> None:
    it = _item(f"诊断：二型糖尿病。处理：{said}，皮下注射。", drug_id)
    assert (it.strength, it.dose, it.unit) == (strength, dose, "U")


def test_units_without_a_pen_stay_the_dose() -> None:
    it = _item("诊断：二型糖尿病。处理：诺和锐笔芯，三餐前各四个单位，皮下注射。", "insulin_aspart")
    assert (it.strength, it.dose, it.unit) == (None, 4.0, "U")


@pytest.mark.parametrize(
    ("said", "drug_id", "strength", "dose"),
    [
        ("布洛芬混悬液一百毫克五毫升的，一次七毫升", "ibuprofen", "100 mg/5 ml", 7.0),
        ("布洛芬混悬液，每五毫升含一百毫克，一次五毫升", "ibuprofen", "100 mg/5 ml", 5.0),
        # the volume first: the bottle (一百毫升) is no dose
        ("布洛芬混悬液，一百毫升两克的，一次六毫升", "ibuprofen", "2 g/100 ml", 6.0),
        ("氨溴索口服溶液，十五毫克每五毫升，一次十毫升", "ambroxol", "15 mg/5 ml", 10.0),
    ],
)
def test_liquid_concentration(said: str, drug_id: str, strength: str, dose: float) -> None:
    it = _item(f"诊断：发热咳嗽。处理：{said}，一天三次，口服。", drug_id)
    assert (it.strength, it.dose, it.unit) == (strength, dose, "ml")


def test_volume_after_each_time_stays_the_dose() -> None:
    it = _item("诊断：咳嗽。处理：氨溴索口服溶液，一次十毫升，一天三次。", "ambroxol")
    assert (it.strength, it.dose, it.unit) == (None, 10.0, "ml")


def test_two_masses_not_listed_are_taken_as_said() -> None:
    # the formulary lists 多达一 5/10 mg only: 5/20 said must not become 5/10
    it = _item("诊断：高血压。处理：多达一五毫克二十毫克的，一天一次，一次一片。", "amlodipine_atorvastatin")
    assert it.strength == "5/20 mg"
    # a listed pair and one component amount still read as before
    it = _item("诊断：高血压。处理：多达一五毫克十毫克的，一次一片。", "amlodipine_atorvastatin")
    assert it.strength == "5/10 mg"
    it = _item("诊断：高血压。处理：多达一五毫克一天一次。", "amlodipine_atorvastatin")
    assert it.strength == "5/10 mg"


def test_two_masses_for_a_combination_with_no_listed_strength() -> None:
    it = _item(
        "诊断：高脂血症。处理：瑞舒伐他汀依折麦布片五毫克十毫克的，一次一片，一天一次。",
        "rosuvastatin_ezetimibe",
    )
    assert (it.strength, it.dose, it.unit) == ("5/10 mg", 1.0, "片")


def test_run_closed_by_the_sig() -> None:
    it = _item("诊断：哮喘。处理：信必可一百六四点五，一次一吸，一天两次。", "budesonide_formoterol")
    assert it.strength == "160/4.5 μg"
    it = _item("诊断：哮喘。处理：舒利迭五十二百五十，一次一吸，一天两次。", "salmeterol_fluticasone")
    assert it.strength == "50/250 μg"


def test_run_with_no_pause_after_it_stays_unread() -> None:
    it = _item("诊断：哮喘。处理：信必可一百六四点五每次一吸，一天两次。", "budesonide_formoterol")
    assert it.strength is None


def test_run_that_is_one_number_is_not_split_by_the_sig() -> None:
    # 二百五十 is one number: no combination is made up from it
    it = _item("诊断：哮喘。处理：舒利迭二百五十，一次一吸，一天两次。", "salmeterol_fluticasone")
    assert it.strength in (None, "250 μg")


def test_three_part_run() -> None:
    it = _item(
        "诊断：慢阻肺。处理：倍择瑞一百六十七点二四点八，每次两揿，一天两次，吸入。",
        "budesonide_glycopyrronium_formoterol",
    )
    assert (it.strength, it.dose, it.unit) == ("160/7.2/4.8 μg", 2.0, "揿")


def test_pen_line_gives_no_dose_alarm() -> None:
    from toolkit.visit import visit

    v = visit(
        text="主诉：血糖高。诊断：二型糖尿病。处理：来得时，三百单位的笔，睡前打十四个单位，每晚一次，皮下注射，开一个月。"
    )
    (item,) = v.case.prescription.items
    assert (item.strength, item.dose, item.unit) == ("300 U", 14.0, "U")
    ids = {f.rule_id for f in v.report.findings}
    assert not ids & {"RX-DOSE-008", "RX-FMT-003"}


@pytest.mark.parametrize(
    ("text", "dose", "unit"),
    [
        # the amount said after 一次/每次 is the dose, not a count or content said before it (review 2026-12-08)
        (
            "诊断：2型糖尿病。处理：甘精胰岛素一支三百单位，一次三百单位，睡前，皮下注射，开一个月。",
            300.0,
            "U",
        ),
        (
            "诊断：急性支气管炎。处理：氨溴索口服溶液，十五毫克五毫升，一次一百毫升，一天三次，开五天。",
            100.0,
            "ml",
        ),
        ("诊断：高血压。处理：氨氯地平五毫克，一次一片，一天一次，开一个月。", 1.0, "片"),
    ],
)
def test_the_amount_said_after_yici_is_the_dose(text: str, dose: float, unit: str) -> None:
    from toolkit.visit import visit

    (item,) = visit(text=text).case.prescription.items
    assert (item.dose, item.unit) == (dose, unit)


def test_a_real_300_unit_insulin_dose_is_flagged() -> None:
    from toolkit.visit import visit

    v = visit(text="诊断：2型糖尿病。处理：甘精胰岛素一支三百单位，一次三百单位，睡前，皮下注射，开一个月。")
    assert any(f.rule_id == "RX-DOSE-008" for f in v.report.findings)
