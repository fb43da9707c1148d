"""Value parsers of the extractor: spoken numbers, vitals, labs and prescription-line parts (no spaCy)."""

from __future__ import annotations

import pytest

from toolkit.extract.numbers import duration_days, fold_width, parse_amount, parse_number, split_pair
from toolkit.extract.values import (
    find_demographics,
    find_doses,
    find_durations,
    find_frequencies,
    find_labs,
    find_routes,
    find_strengths,
    find_vitals,
)

BP = ((60.0, 280.0), (30.0, 160.0))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("160", 160.0),
        ("7.8", 7.8),
        ("一百六十", 160.0),
        ("一百五", 150.0),
        ("五百二", 520.0),
        ("七点八", 7.8),
        ("三十七点二", 37.2),
        ("十二", 12.0),
        ("一百零二", 102.0),
        ("一三二", 132.0),
        ("两", 2.0),
        ("零点五", 0.5),
        ("二十三点七五", 23.75),
        ("１６０", 160.0),
        ("半", 0.5),
    ],
)
def test_parse_number_reads_digits_and_spoken_chinese(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "abc", "一百二三", "十百", "零五"])
def test_parse_number_refuses_what_it_cannot_read(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("一百六十九十五", (160.0, 95.0)),
        ("一百五十八十", (150.0, 80.0)),
        ("一百五一百", (150.0, 100.0)),
        ("一三二七八", (132.0, 78.0)),
        ("一四二九零", (142.0, 90.0)),
        ("一百零二六十四", (102.0, 64.0)),
        ("一百七十八一百零二", (178.0, 102.0)),
        ("一百三八十", (130.0, 80.0)),
    ],
)
def test_split_pair_reads_spoken_blood_pressure(text: str, pair: tuple[float, float]) -> None:
    assert split_pair(text, *BP) == pair


def test_split_pair_refuses_a_single_number() -> None:
    assert split_pair("一百六十", *BP) is None


def test_amounts_and_durations() -> None:
    assert parse_amount("一") == 1.0
    assert parse_amount("一个半") == 1.5
    assert duration_days("一个", "月") == 30
    assert duration_days("两", "周") == 14
    assert duration_days("半个", "月") == 15
    assert duration_days("x", "天") is None


def test_fold_width_keeps_length() -> None:
    text = "血压１６０／１００ｍｍＨｇ"
    assert len(fold_width(text)) == len(text)
    assert fold_width(text) == "血压160/100mmHg"


def _vitals(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in find_vitals(text):
        out.update(c.data)
        assert c.end > c.start
    return out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("查体血压160/100mmHg", {"sbp": 160, "dbp": 100}),
        ("血压一百六十九十五心率七十八次每分", {"sbp": 160, "dbp": 95, "heart_rate": 78}),
        ("血压是一三二七八", {"sbp": 132, "dbp": 78}),
        ("血压一百六十比九十五心率每分钟八十二次", {"sbp": 160, "dbp": 95, "heart_rate": 82}),
        ("高压一百六十低压一百", {"sbp": 160, "dbp": 100}),
        ("体温三十七度八", {"temperature": 37.8}),
        ("T 38.2℃ R 22次/分 SpO2 95%", {"temperature": 38.2, "resp_rate": 22, "spo2": 95}),
        ("体重一百五十斤身高一米七二BMI二十五点九", {"weight_kg": 75, "height_cm": 172, "bmi": 25.9}),
    ],
)
def test_find_vitals(text: str, expected: dict[str, float]) -> None:
    assert _vitals(text) == expected


def test_home_readings_are_not_the_visit_vitals() -> None:
    assert _vitals("自己在家测血压一百五十九十") == {}


def test_implausible_values_give_no_vital() -> None:
    assert _vitals("血压九十一百六十") == {}  # diastolic above systolic
    assert _vitals("体温八十度") == {}


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("空腹血糖7.8", "fpg", 7.8),
        ("糖化血红蛋白七点五", "hba1c", 7.5),
        ("尿酸五百二", "uric_acid", 520),
        ("eGFR 55", "egfr", 55),
        ("血钾三点四", "potassium", 3.4),
        ("低密度脂蛋白3.6mmol/L", "ldl_c", 3.6),
        ("总胆固醇6.12型糖尿病", "tc", 6.1),  # the 2 belongs to 2型糖尿病
        ("空腹血糖是7.8毫摩尔", "fpg", 7.8),
        ("血钾偏低3.3", "potassium", 3.3),
    ],
)
def test_find_labs(text: str, key: str, value: float) -> None:
    labs = find_labs(text)
    assert len(labs) == 1
    assert labs[0].data == {key: value}


def test_potassium_salt_in_a_drug_name_is_not_a_lab() -> None:
    assert find_labs("氯化钾缓释片0.5克") == []


def _norms(cands: list) -> list[str | None]:
    return [c.normalized for c in cands]


def test_strengths_and_doses() -> None:
    text = "氨氯地平二十毫克每次一片半"
    assert _norms(find_strengths(text, 0, len(text))) == ["20 mg"]
    assert _norms(find_doses(text, 0, len(text))) == ["1.5 片"]
    inhaler = "布地奈德福莫特罗160/4.5μg每次一吸"
    assert _norms(find_strengths(inhaler, 0, len(inhaler))) == ["160/4.5 μg"]
    insulin = "甘精胰岛素十个单位睡前"
    assert _norms(find_doses(insulin, 0, len(insulin))) == ["10 U"]
    liraglutide = "利拉鲁肽每次一点二毫克"
    assert _norms(find_doses(liraglutide, 0, len(liraglutide))) == ["1.2 mg"]
    assert find_strengths(liraglutide, 0, len(liraglutide)) == []  # after 每次 a mass is the dose


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("一天两次", "bid"),
        ("每日三次", "tid"),
        ("日一次", "qd"),
        ("bid", "bid"),
        ("每十二小时一次", "q12h"),
        ("早晚各一次", "bid"),
        ("必要时", "prn"),
        ("胸痛时", "prn"),
        ("每周一次", "qw"),
        ("每天一片", "qd"),
        ("一日两回", "bid"),
        ("一天两顿", "bid"),
        ("早一片晚一片", "bid"),
        ("心绞痛发作时", "prn"),
        ("12小时一次", "q12h"),
    ],
)
def test_explicit_frequencies(text: str, code: str) -> None:
    explicit, _ = find_frequencies(text, 0, len(text))
    assert _norms(explicit)[:1] == [code]


def test_fractional_doses() -> None:
    for text, norm in (("四分之三片", "0.75 片"), ("1/2片", "0.5 片"), ("二分之一粒", "0.5 粒")):
        assert _norms(find_doses(text, 0, len(text))) == [norm]


def test_a_range_of_daily_doses_is_not_a_duration() -> None:
    text = "外用一日三到四次"
    assert find_durations(text, 0, len(text)) == []


def test_timing_phrases_are_frequencies_only_when_nothing_explicit_is_said() -> None:
    explicit, timing = find_frequencies("每晚睡前", 0, 4)
    assert explicit == [] and _norms(timing) == ["qn"]


def test_routes_and_durations() -> None:
    text = "口服皮下注射舌下含服"
    assert _norms(find_routes(text, 0, len(text))) == ["口服", "皮下注射", "舌下含服"]
    text = "开一个月两周后复查"
    assert _norms(find_durations(text, 0, len(text))) == ["30"]
    text = "一天两次吃七天"
    assert _norms(find_durations(text, 0, len(text))) == ["7"]


def test_demographics_are_read_not_inferred() -> None:
    assert find_demographics("患者男性六十五岁") == {"age": 65, "sex": "M"}
    assert "sex" not in find_demographics("阿姨血压高")
    assert find_demographics("孕二十周血压高").get("pregnant") is True
    assert "pregnant" not in find_demographics("准备怀孕查血糖")
