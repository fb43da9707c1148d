"""Section splitting of unpunctuated spoken dictation (病历书写基本规范 sections)."""

from __future__ import annotations

from toolkit.extract.sections import split_sections
from toolkit.extract.values import Candidate, find_labs, find_vitals


def _names(text: str, extra: list[Candidate] | None = None) -> list[str]:
    cands = [*find_vitals(text), *find_labs(text), *(extra or [])]
    spans = split_sections(text, cands)
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
    return [s.name for s in spans]


def test_spoken_cues_open_sections() -> None:
    text = (
        "主诉是头晕三天三天前出现头晕既往有糖尿病病史五年没有药物过敏查体血压一百六十九十五"
        "诊断考虑高血压给他开氨氯地平五毫克一天一次嘱低盐饮食两周后复查"
    )
    assert _names(text) == [
        "主诉",
        "现病史",
        "既往史",
        "过敏史",
        "体格检查",
        "诊断",
        "处理",
        "健康指导",
        "随访",
    ]


def test_blood_pressure_in_the_history_without_a_value_does_not_open_the_examination() -> None:
    text = "头晕三天三天前开始头晕自己量血压偏高查体心率八十"
    assert _names(text) == ["主诉", "现病史", "体格检查"]


def test_diagnosis_followed_by_a_drug_opens_the_plan_without_cues() -> None:
    text = "复诊血压138/82mmHg原发性高血压缬沙坦胶囊80mg每日一次"
    dx, drug = text.index("原发性高血压"), text.index("缬沙坦胶囊")
    ents = [Candidate(dx, dx + 6, "disease", "I10"), Candidate(drug, drug + 5, "drug", "valsartan")]
    assert _names(text, ents)[-3:] == ["体格检查", "诊断", "处理"]


def test_history_drug_is_not_a_prescription() -> None:
    text = "高脂血症吃阿托伐他汀三个月来复查"
    drug = text.index("阿托伐他汀")
    ents = [Candidate(0, 4, "disease", "E78.5"), Candidate(drug, drug + 5, "drug", "atorvastatin")]
    assert "处理" not in _names(text, ents)


def test_empty_text_has_no_sections() -> None:
    assert split_sections("   ") == []
