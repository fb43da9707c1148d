"""Issue 13: the corrector fixes the words a dictation's audit depends on — section names, frequencies,
units after a misheard 五, skin-test results, short and device-suffixed brand names — and leaves the
same sounds alone where they are ordinary words (each rule: one case that corrects, one that must not)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.unit.test_asr_fakes import fake_drug
from toolkit.asr.correct import apply_matches, build_lexicon, find_corrections
from toolkit.asr.phonetic import pinyin_syllables

pytest.importorskip("pypinyin")

RECORD = "主诉头晕两周，既往体健，查体血压150。"  # a dictated record: section words around the sentence


@pytest.fixture(scope="module")
def lex():
    drugs = [
        fake_drug("amlodipine", "氨氯地平"),
        fake_drug("amoxicillin", "阿莫西林"),
        fake_drug("metformin", "二甲双胍"),
        fake_drug("valsartan", "缬沙坦", brands=("代文",)),
        fake_drug("ibuprofen", "布洛芬", brands=("芬必得",)),
        fake_drug("budesonide_formoterol", "布地奈德福莫特罗", aliases=("信必可",), brands=("信必可都保",)),
        fake_drug("human_insulin", "人胰岛素", brands=("诺和灵R", "优泌30")),
    ]
    return build_lexicon(SimpleNamespace(version="t", drugs={d.id: d for d in drugs}))


def fixed(text, lex):
    return apply_matches(text, find_corrections(text, lex))


# --------------------------------------------------------------------------- vocabulary


def test_a_frequency_said_with_tian_is_corrected(lex):
    assert fixed("氨氯地平5毫克一天以此口服", lex) == "氨氯地平5毫克一天一次口服"
    assert fixed("阿莫西林0.5克，每天三此", lex) == "阿莫西林0.5克，每天三次"


def test_frequency_words_leave_ordinary_speech(lex):
    assert fixed("一天以后再来复查血压", lex) == "一天以后再来复查血压"
    assert fixed("氨氯地平5毫克一天两次", lex) == "氨氯地平5毫克一天两次"


def test_a_cephalosporin_allergy_is_corrected(lex):
    assert "头孢过敏" in fixed("过敏史，头包过敏，吃过皮疹", lex)
    assert fixed("头上包了纱布", lex) == "头上包了纱布"


# --------------------------------------------------------------------------- record words at a clause start


def test_a_section_name_with_one_syllable_half_heard_opens_a_clause(lex):
    assert "。现病史两周来头晕" in fixed(RECORD + "限定是两周来头晕", lex)
    assert fixed(RECORD + "近往时，没有糖尿病", lex).endswith("既往史，没有糖尿病")
    assert fixed(RECORD + "过迷是，没有药物过敏", lex).endswith("过敏史，没有药物过敏")


def test_a_half_heard_section_name_needs_a_record_and_a_clause_start(lex):
    health_question = "性病是以性接触为主要传播方式的一组疾病，要及早治疗"
    assert fixed(health_question, lex) == health_question  # no record around it
    assert fixed(RECORD + "他说限定是两周", lex).endswith("他说限定是两周")  # inside a clause


def test_diagnosis_heard_as_zheng_duan_opens_a_clause(lex):
    assert fixed(RECORD + "整段高血压，处理", lex).endswith("诊断高血压，处理")
    assert fixed(RECORD + "这一整段高血压", lex).endswith("这一整段高血压")  # not a clause start
    assert fixed("整段高血压的讨论", lex) == "整段高血压的讨论"  # not a record


def test_a_skin_test_result_after_a_drug_line(lex):
    text = RECORD + "阿莫西林0.5克一天三次，仪式阴性，吃七天"
    assert "一天三次，皮试阴性，吃七天" in fixed(text, lex)
    lab = RECORD + "辅助检查尿蛋白，提示阴性，诊断高血压"
    assert "提示阴性" in fixed(lab, lex)  # a lab result, no drug line before it


# --------------------------------------------------------------------------- numbers and units


def test_a_unit_after_five_heard_as_a_word(lex):
    out = fixed("处理氨氯地平武豪客一天一次", lex)
    assert "五毫克" in out
    assert fixed("他叫武豪客，是我朋友", lex) == "他叫武豪客，是我朋友"  # no medical word anywhere


# --------------------------------------------------------------------------- drug names


def test_de_of_a_brand_reads_alike_in_both_spellings():
    assert pinyin_syllables("芬必得")[0] == pinyin_syllables("分毕得")[0] == ("fen", "bi", "de")
    assert pinyin_syllables("觉得")[0] == ("jue", "de")


def test_a_brand_with_de_is_corrected(lex):
    assert fixed("分毕得零点三克，一天两次", lex) == "芬必得零点三克，一天两次"
    assert fixed("分别得了两次感冒", lex) == "分别得了两次感冒"


def test_brand_names_said_without_their_suffix_are_in_the_lexicon(lex):
    assert lex.by_text["诺和灵"].term_id == "human_insulin"  # 诺和灵R
    assert lex.by_text["信必可"].term_id == "budesonide_formoterol"  # alias that begins 信必可都保
    assert "优泌" not in lex.by_text  # 2 characters: too short to stand for a brand
    assert fixed("处理心必可一天两次，每次两吸", lex) == "处理信必可一天两次，每次两吸"


def test_a_two_character_brand_where_a_drug_is_said(lex):
    assert fixed("处理，戴文继续，80毫克一天一次", lex) == "处理，代文继续，80毫克一天一次"
    assert fixed("医生戴文今天值班，血压一天一次", lex) == "医生戴文今天值班，血压一天一次"


def test_a_three_character_name_with_a_merged_syllable_and_the_same_tones(lex):
    assert "布洛芬缓释胶囊" in fixed("加不诺分缓释胶囊0.3克一天两次", lex)
    assert fixed("他说不诺分这件事", lex) == "他说不诺分这件事"  # no dose or frequency near


def test_a_frequency_with_digits_is_drug_context(lex):
    assert fixed("处理二假伤刮1克1天3次", lex) == "处理二甲双胍1克1天3次"
    assert fixed("二假伤刮", lex) == "二假伤刮"
