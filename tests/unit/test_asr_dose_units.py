"""Dose words of a drug line heard as other characters (toolkit.asr.sig): a count unit heard as a
homophone right after a drug name, a number's first syllable heard with another tone, and a drug
name's last syllable written as a digit before an implausible dose (gated on the knowledge base)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.unit.test_asr_fakes import fake_lexicon
from toolkit.asr.correct import apply_matches, default_lexicon, find_corrections
from toolkit.asr.sig import _single_dose_limit, _spoken_number


@pytest.fixture(scope="module")
def lex():
    return default_lexicon()


def _fixed(text: str, lexicon) -> str:
    return apply_matches(text, find_corrections(text, lexicon))


# --------------------------------------------------------------------------- a count unit after a drug name


@pytest.mark.parametrize(
    ("heard", "said"),
    [
        ("阿莫西林两立一天三次", "阿莫西林两粒一天三次"),  # capsules: 立 li4 is 粒
        ("阿莫西林胶囊0.5克两立，一天三次", "阿莫西林胶囊0.5克两粒，一天三次"),  # strength in between
        ("布洛芬缓释胶囊一立每天两次", "布洛芬缓释胶囊一粒每天两次"),
        ("奥美拉唑肠溶胶囊一立，每天早上空腹", "奥美拉唑肠溶胶囊一粒，每天早上空腹"),
        ("复方丹参滴丸十立一天三次", "复方丹参滴丸十粒一天三次"),
        ("硝苯地平控释片三十毫克一骗每日一次", "硝苯地平控释片三十毫克一片每日一次"),  # 骗 pian4 is 片
        ("二甲双胍缓释片两骗，每晚一次", "二甲双胍缓释片两片，每晚一次"),
        ("蒙脱石散一报一天三次", "蒙脱石散一包一天三次"),  # a powder: 报 bao is 包
        ("布地奈德气雾剂两西，每天两次", "布地奈德气雾剂两吸，每天两次"),  # an inhaler: 西 xi is 吸
        ("噻托溴铵粉雾剂医西每天一次", "噻托溴铵粉雾剂一吸每天一次"),  # the numeral heard too
        ("思力华依西每天一次", "思力华一吸每天一次"),
        ("沙丁胺醇气雾剂伊喷，必要时", "沙丁胺醇气雾剂一喷，必要时"),  # only the numeral heard
    ],
)
def test_count_unit_heard_after_a_drug_name(lex, heard, said):
    assert _fixed(heard, lex) == said


@pytest.mark.parametrize(
    "text",
    [
        "阿司匹林立即停用",  # 立即: no count before it, no frequency after
        "阿莫西林两立即停",  # a count, but the line does not go on with a frequency
        "患者说被骗子骗了，氨氯地平5毫克每日一次",
        "不吃西药，二甲双胍0.5克一天三次",
        "领导说的，西地那非50毫克必要时",
        "三金片三片一天三次",  # already right
        "氨氯地平一立每天一次",  # a tablet is not counted in 粒: 立 is not what was said for 片
        "阿司匹林一直每天一次",  # 一直, a word (支 is no count of aspirin anyway)
        "头孢克肟一代，一天两次",  # 一代, a word
        "青霉素八十万单位每日两次",  # 万 is a unit of its own
        "二甲双胍两次一天",
        "阿卡波糖三餐前嚼服",
    ],
)
def test_count_words_outside_a_dose_position_stay(lex, text):
    assert _fixed(text, lex) == text


# --------------------------------------------------------------------------- a number's first syllable


@pytest.mark.parametrize(
    ("heard", "said"),
    [
        ("二甲双胍领点五克一天三次", "二甲双胍零点五克一天三次"),  # 领 ling3 for 零 ling2
        ("坦索罗辛缓释胶囊领点八毫克，每晚一次", "坦索罗辛缓释胶囊零点八毫克，每晚一次"),
        ("卡维地洛流点二五毫克一天两次", "卡维地洛六点二五毫克一天两次"),  # 流 liu2 for 六 liu4
        ("阿托伐他汀舞十毫克每晚一次", "阿托伐他汀五十毫克每晚一次"),  # 舞 wu3 for 五 wu3, before 十
        ("二甲双胍每次领点五克，一天两次", "二甲双胍每次零点五克，一天两次"),  # after 每次
        ("美托洛尔缓释片，四十七点五毫克，加量至舞十毫克", "美托洛尔缓释片，四十七点五毫克，加量至五十毫克"),
    ],
)
def test_number_first_syllable_heard_with_another_tone(lex, heard, said):
    assert _fixed(heard, lex) == said


@pytest.mark.parametrize(
    "text",
    [
        "下午去领点药，氨氯地平5毫克",  # 领点 with no number and unit after it
        "单位领导开会，血压正常",
        "美托洛尔十毫克每日两次",  # 尔 (er) ends the drug name: not 二十
        "比索洛尔点五毫克",
        "氨氯地平舞十毫克每天一次",  # 五十 mg is over amlodipine's 10 mg: left as heard
        "剂量是十毫克",  # 是 (shi): 十十 is no number
        "以点五毫克开始",  # no drug line
        "阿托伐他汀钙片口服二十毫克，把十毫克的停了",  # 把 (ba3): a word, and no number begins there
        "那就十毫克吧，阿托伐他汀每晚一次",  # 就 (jiu4)
        "阿托伐他汀就十毫克吧",  # right after the name, but 就 is a word of speech
    ],
)
def test_numeral_like_words_stay(lex, text):
    assert _fixed(text, lex) == text


def test_spoken_number():
    assert _spoken_number("零点二") == pytest.approx(0.2)
    assert _spoken_number("六点二五") == pytest.approx(6.25)
    assert _spoken_number("五十") == 50
    assert _spoken_number("点五") is None


# --------------------------------------------------------------------------- a name's last syllable as a digit


@pytest.mark.parametrize(
    ("heard", "said"),
    [
        ("利伐沙班815毫克每日一次", "利伐沙班15毫克每日一次"),  # 班 said, 8 written as well: 815 mg
        ("阿哌沙班82.5毫克每日两次", "阿哌沙班2.5毫克每日两次"),
        ("阿哌沙85毫克每日两次", "阿哌沙班5毫克每日两次"),  # 班 written as 8 only
        ("美托洛尔2100毫克一天两次", "美托洛尔100毫克一天两次"),  # 尔/二: 2100 mg, 100 mg a strength
    ],
)
def test_name_syllable_written_as_a_digit(lex, heard, said):
    assert _fixed(heard, lex) == said


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("美托洛尔25毫克一天两次", "美托洛尔25毫克一天两次"),  # 25 mg is a dose of metoprolol
        ("美托洛25毫克一天两次", "美托洛尔25毫克一天两次"),  # the slot restores 尔; the 2 stays
        ("可待因15毫克", "可待因15毫克"),
        ("可待15毫克", "可待15毫克"),  # no dose limit for codeine in the KB: nothing to judge by
        ("氨氯地平5毫克每日一次", "氨氯地平5毫克每日一次"),
        ("华法林3毫克每晚一次", "华法林3毫克每晚一次"),
        ("氨氯地平510毫克", "氨氯地平510毫克"),  # implausible, but 5 does not sound like 平
        ("利伐沙班830毫克", "利伐沙班830毫克"),  # 30 mg is over rivaroxaban's single maximum too
        ("美托洛尔225毫克", "美托洛尔225毫克"),  # over 190 mg, but not 3 times over: the audit flags it
        ("利伐沙班15毫克", "利伐沙班15毫克"),
    ],
)
def test_plausible_doses_after_a_drug_name_stay(lex, text, expected):
    assert _fixed(text, lex) == expected


def test_no_knowledge_base_no_digit_dropped():
    lexicon = fake_lexicon()  # a tiny formulary without doses
    assert _fixed("阿司匹林0100毫克", lexicon) == "阿司匹林0100毫克"
    assert _fixed("二甲双胍820毫克", lexicon) == "二甲双胍820毫克"


def test_single_dose_limit_from_strengths_when_no_maximum():
    form = SimpleNamespace(strengths=("0.35 g",), units_single_max=4.0, dose=None)
    drug = SimpleNamespace(dose=None, forms=(form,))
    unit, limit, strengths = _single_dose_limit(drug)
    assert (unit, limit, strengths) == ("g", pytest.approx(1.4), (0.35,))
    assert _single_dose_limit(SimpleNamespace(dose=None, forms=())) is None


def test_the_correction_says_why(lex):
    (m,) = [m for m in find_corrections("利伐沙班815毫克每日一次", lex) if m.original == "班8"]
    assert m.corrected == "班" and "20 mg" in m.reason and "815毫克" in m.reason


def test_through_the_transcriber_corrections_are_recorded_and_undone(lex):
    pytest.importorskip("opencc")
    from tests.unit.test_asr_fakes import FakeModel, FakeSegment
    from tests.unit.test_asr_transcribe import _speechlike
    from toolkit.asr import TranscribeOptions, transcribe
    from toolkit.evaluation.asr import undo_corrections

    heard = ["房颤，阿哌沙班82.5毫克一天两次。", "蒙脱石散一报一天三次，二甲双胍领点五克一天三次。"]
    segments = [FakeSegment(0.0, 3.0, heard[0]), FakeSegment(3.0, 6.0, heard[1])]
    options = TranscribeOptions(listen=False, alternatives=0)
    t = transcribe(_speechlike(6.0), options, model=FakeModel(segments), lexicon=lex)
    assert t.text == "房颤，阿哌沙班2.5毫克一天两次。蒙脱石散一包一天三次，二甲双胍零点五克一天三次。"
    assert [(c.original, c.corrected) for c in t.corrections] == [("班8", "班"), ("报", "包"), ("领", "零")]
    assert undo_corrections(t) == "".join(heard)


def test_a_second_pass_correction_after_a_length_change_lands_where_it_was_heard() -> None:
    """The second pass reads the text the first corrected: after 美托洛 → 美托洛尔 (one character longer) its
    matches sit one character later than in the text as heard. They are moved back (they used to be
    dropped, so 三立 after a completed drug name stayed); one touching a first-pass correction is dropped."""
    from toolkit.asr.correct import _in_original
    from toolkit.asr.windows import Match

    heard = "美托洛25毫克，乌灵胶囊三立一天三次"
    first = [Match(0, "美托洛", "美托洛尔", "drug", None, 0.9, "")]
    fixed = "美托洛尔25毫克，乌灵胶囊三立一天三次"
    at = fixed.index("立")
    second = [Match(at, "立", "粒", "unit", None, 0.9, ""), Match(2, "洛尔", "洛尔", "drug", None, 0.9, "")]
    kept, moved = _in_original(second, first, heard, fixed)
    assert kept == first[0]
    assert moved.offset == heard.index("立") == at - 1 and moved.original == "立"


@pytest.mark.parametrize("text", ["处理：普萘洛尔240毫克每天，开一个月。", "处理：普萘洛尔240毫克一天两次。"])
def test_a_daily_dose_of_the_label_is_not_a_name_syllable(text: str, lex) -> None:
    """普萘洛尔240毫克: 240 mg is a label daily dose (尔 is no 2 there), though over 3× the single maximum; an
    overdose said so is the audit's to flag, not the corrector's to turn into 40 mg."""
    assert _fixed(text, lex) == text


def test_a_digit_after_a_name_the_first_pass_completed_is_merged_into_that_correction(lex) -> None:
    """立法砂820毫克 (said 利伐沙班二十毫克): the first pass makes the name 利伐沙班, the second reads 820 as 班 + 20;
    the two are one correction of what was heard (立法砂8 → 利伐沙班), so the doctor sees and can undo it
    (it used to be dropped as touching the first correction, and the audit blocked 820 mg on a clean visit)."""
    text = "诊断心房颤动。处理，立法砂820毫克1天1次，每脱落耳缓适片47.5毫克1天1次。"
    ms = find_corrections(text, lex)
    assert (
        apply_matches(text, ms) == "诊断心房颤动。处理，利伐沙班20毫克1天1次，美托洛尔缓释片47.5毫克1天1次。"
    )
    assert ("立法砂8", "利伐沙班") in [(m.original, m.corrected) for m in ms]
