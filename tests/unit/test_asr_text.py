"""Normalisation (simplified, widths, numbers kept) and medical post-correction."""

from __future__ import annotations

from importlib.util import find_spec

import pytest

from tests.unit.test_asr_fakes import fake_drug, fake_lexicon
from toolkit.asr.correct import apply_matches, build_lexicon, find_corrections, load_lexicon_terms
from toolkit.asr.normalize import cer_normalize, normalize_text, normalize_width
from toolkit.errors import KnowledgeError

needs_opencc = pytest.mark.skipif(find_spec("opencc") is None, reason="needs the [asr] extra (opencc)")


@needs_opencc
def test_traditional_becomes_simplified():
    assert normalize_text("這並不是告別這是一個篇章的結束") == "这并不是告别这是一个篇章的结束"
    assert normalize_text("醫生開處方") == "医生开处方"


def test_widths_normalised_and_chinese_punctuation_kept():
    assert normalize_width("ＡＢＣ１２３％") == "ABC123%"
    assert normalize_width("血压１６０／１００ｍｍＨｇ，心率８０次") == "血压160/100mmHg，心率80次"
    assert normalize_width("每日1次,口服") == "每日1次，口服"
    assert normalize_width("患者 头晕三天") == "患者，头晕三天"
    assert normalize_width("空腹血糖7.8") == "空腹血糖7.8"


@needs_opencc
def test_numbers_are_kept_as_said():
    assert normalize_text("一二线城市") == "一二线城市"
    assert normalize_text("共28天") == "共28天"
    assert normalize_text("二十八天") == "二十八天"


@needs_opencc
def test_cer_form_drops_punctuation_and_case():
    assert cer_normalize("Hello，世界！ 醫生") == "hello世界医生"


@pytest.mark.parametrize(
    ("heard", "expected", "original"),
    [
        ("给予本黄酸安律地平片5毫克", "给予苯磺酸氨氯地平片5毫克", "本黄酸安律地平"),
        ("继续二假双刮0.5克每日三次", "继续二甲双胍0.5克每日三次", "二假双刮"),
        ("阿卡伯糖50毫克每日三次", "阿卡波糖50毫克每日三次", "阿卡伯糖"),
    ],
)
def test_drug_homophones_corrected_and_recorded(heard, expected, original):
    lex = fake_lexicon()
    matches = find_corrections(heard, lex)
    assert apply_matches(heard, matches) == expected
    assert [m.original for m in matches] == [original]
    m = matches[0]
    assert heard[m.offset : m.offset + len(m.original)] == m.original
    assert m.kind == "drug" and m.term_id and 0 < m.score <= 1 and "pinyin" in m.reason


def test_disease_and_record_words_corrected_in_medical_context():
    lex = fake_lexicon()
    heard = "整顿圆发信高血压，血压160比100毫米共驻，二型糖尿病覆诊"
    fixed = apply_matches(heard, find_corrections(heard, lex))
    assert "原发性高血压" in fixed and "毫米汞柱" in fixed and "复诊" in fixed


def test_known_misspelling_alias_snaps_to_generic():
    lex = fake_lexicon()
    matches = find_corrections("继续二甲双瓜口服", lex)
    assert [(m.original, m.corrected) for m in matches] == [("二甲双瓜", "二甲双胍")]


@pytest.mark.parametrize(
    "text",
    [
        "甚至出现交易几乎停滞的情况",
        "一二线城市虽然也处于调整中",
        "广州市房地产中介协会分析",
        "换一首歌",
        "欢迎大家来体验达摩院推出的语音识别模型",
        "我认为跑步最重要的就是给我带来了身体健康",
        "苯磺酸氨氯地平片5毫克每日一次",
        "诊断原发性高血压",
    ],
)
def test_no_correction_on_ordinary_or_correct_text(text):
    assert find_corrections(text, fake_lexicon()) == []


def test_three_characters_need_exact_pinyin_or_context():
    lex = build_lexicon(None)
    # 头运 (tou yun) is one fuzzy-free syllable away from 头晕 only with tones: 2 chars, no context → kept
    assert find_corrections("今天头运不错", lex) == []


def test_two_equally_close_terms_are_not_guessed():
    from types import SimpleNamespace

    kb = SimpleNamespace(
        version="t", drugs={"a": fake_drug("a", "安律地平"), "b": fake_drug("b", "氨律地平")}
    )
    lex = build_lexicon(kb)
    assert find_corrections("给予按律地平5毫克", lex) == []


def test_lexicon_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "terms.yaml"
    bad.write_text(
        "version: 1\nterms:\n  disease: [高血压]\n  colour: [红色]\n  symptom: [x]\n", encoding="utf-8"
    )
    with pytest.raises(KnowledgeError) as err:
        load_lexicon_terms(bad)
    text = str(err.value)
    assert "terms.yaml" in text and "colour: unknown kind" in text and "symptom[0]" in text
    extra = tmp_path / "extra.yaml"
    extra.write_text("version: 1\nterms: {}\nnotes: hi\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="notes"):
        load_lexicon_terms(extra)


def test_shipped_lexicon_file_loads_and_is_small():
    from toolkit.asr.correct import default_lexicon_path

    path = default_lexicon_path()
    assert path.stat().st_size < 1_000_000
    terms = load_lexicon_terms(path)
    assert len(terms) > 50 and len({t.text for t in terms}) == len(terms)


def test_unit_after_a_number_is_corrected_but_not_elsewhere():
    lex = fake_lexicon()
    fixed = apply_matches("阿卡波糖50好课每日三次", find_corrections("阿卡波糖50好课每日三次", lex))
    assert fixed == "阿卡波糖50毫克每日三次"
    assert find_corrections("这门好课很有意思", lex) == []


def test_a_drug_missing_from_the_formulary_is_not_renamed():
    from types import SimpleNamespace

    lex = build_lexicon(SimpleNamespace(version="t", drugs={"mosapride": fake_drug("mosapride", "莫沙必利")}))
    assert find_corrections("西沙比利5毫克每日三次", lex) == []  # cisapride: another drug
    assert [m.corrected for m in find_corrections("莫杀比例5毫克每日三次", lex)] == ["莫沙必利"]


@pytest.mark.parametrize("text", ["糖尿病等慢性病", "慢性肾炎患者复诊", "癫痫病是一种慢性病", "缓解疼痛"])
def test_correct_medical_text_is_not_rewritten_into_another_term(text):
    assert find_corrections(text, fake_lexicon()) == []


def _kb(*drugs):
    from types import SimpleNamespace

    return build_lexicon(SimpleNamespace(version="t", drugs={d.id: d for d in drugs}))


def test_sibling_drugs_equally_close_are_not_guessed():
    lex = _kb(fake_drug("cefaclor", "头孢克洛"), fake_drug("cefixime", "头孢克肟"))
    assert find_corrections("头包克过100毫克每日两次", lex) == []


def test_longer_drug_name_wins_over_the_one_it_contains():
    lex = _kb(fake_drug("ismn", "单硝酸异山梨酯"), fake_drug("isdn", "硝酸异山梨酯"))
    matches = find_corrections("三小三一山离职缓释片40毫克", lex)
    assert [(m.original, m.corrected, m.term_id) for m in matches] == [
        ("三小三一山离职", "单硝酸异山梨酯", "ismn")
    ]


def test_salt_form_outranks_a_shorter_known_misspelling():
    lex = _kb(fake_drug("montelukast", "孟鲁司特", aliases=("孟鲁斯特",), salts=("孟鲁司特钠",)))
    matches = find_corrections("孟鲁斯特那10毫克每晚一次", lex)
    assert [m.corrected for m in matches] == ["孟鲁司特钠"]


# --- drug slots before a strength ---------------------------------------------------------------


def _slot_kb():
    return _kb(
        fake_drug("dextromethorphan", "右美沙芬"),
        fake_drug("cetirizine", "西替利嗪"),
        fake_drug("irbesartan", "厄贝沙坦"),
        fake_drug("diclofenac", "双氯芬酸", salts=("双氯芬酸钠",)),
        fake_drug("enalapril", "依那普利"),
        fake_drug("empagliflozin", "恩格列净"),
        fake_drug("dapagliflozin", "达格列净"),
    )


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        ("咳嗽无痰，又美沙35毫克，每日三次", "咳嗽无痰，右美沙芬35毫克，每日三次"),  # a syllable lost
        ("加用了被杀胎150毫克每日一次", "加用厄贝沙坦150毫克每日一次"),  # every syllable half heard
        (
            "即与商律分散那怀事片75毫克",
            "即与双氯芬酸钠缓释片75毫克",
        ),  # a dosage form between name and strength (怀事片 restored too: toolkit.asr.sig form after a drug)
        (
            "过敏性皮炎，七天力情势好客，每晚一次",
            "过敏性皮炎，西替利嗪十毫克，每晚一次",
        ),  # and 十 heard as 势
    ],
)
def test_garbled_drug_name_before_a_strength_is_aligned_to_the_formulary(heard, expected):
    matches = find_corrections(heard, _slot_kb())
    assert apply_matches(heard, matches) == expected
    slot = next(m for m in matches if m.kind == "drug")
    assert heard[slot.offset : slot.offset + len(slot.original)] == slot.original and "slot" in slot.reason


@pytest.mark.parametrize(
    "text",
    [
        "白萝卜30克红糖60克煮水",  # no drug is said before the strength
        "地高辛口服液一次吃0.4毫升",  # words of the dose line
        "安格略静十毫克每日一次",  # as close to 恩格列净 as to 达格列净: ambiguous
        "右美沙芬15毫克每日三次",  # already right
        "这门课是十好几个学分",  # no drug before the homophone of 十
    ],
)
def test_drug_slot_leaves_other_text_alone(text):
    assert [m for m in find_corrections(text, _slot_kb()) if "slot" in m.reason or m.kind == "unit"] == []


def test_drug_slot_never_renames_a_drug_outside_the_formulary():
    lex = _slot_kb()
    lex.other_drugs = frozenset({"坦索罗辛", "右美沙芬氯苯那敏"})
    assert find_corrections("坦索罗辛缓释胶囊0.2毫克", lex) == []


def test_number_homophone_between_drug_and_unit():
    lex = _slot_kb()
    assert (
        apply_matches("依那普利时好课每日两次", find_corrections("依那普利时好课每日两次", lex))
        == "依那普利十毫克每日两次"
    )
    assert find_corrections("他说是好课", lex) == []


def test_digits_whisper_wrote_inside_a_name_are_read_as_numerals():
    lex = _kb(fake_drug("torasemide", "托拉塞米"), fake_drug("furosemide", "呋塞米"))
    heard = "改为脱拉3米10毫克早上一次"
    assert apply_matches(heard, find_corrections(heard, lex)) == "改为托拉塞米10毫克早上一次"


def test_drug_between_a_prescribing_verb_and_its_route():
    lex = _kb(
        fake_drug("amoxicillin_clavulanate", "阿莫西林克拉维酸钾"),
        fake_drug("amoxicillin", "阿莫西林"),
        fake_drug("cefdinir", "头孢地尼"),
    )
    heard = "给予阿莫西林克拉维钾口服每日两次"  # a syllable lost: no same-length window can fix it
    matches = find_corrections(heard, lex)
    assert apply_matches(heard, matches) == "给予阿莫西林克拉维酸钾口服每日两次"
    assert matches[0].reason.startswith("drug slot after a prescribing verb")
    assert find_corrections("换成头孢试试", lex) == []  # not close enough without a strength
    assert find_corrections("加用一些运动每日一次", lex) == []


def test_glide_only_difference_is_a_weak_match():
    from toolkit.asr.correct import syllable_similarity

    assert syllable_similarity("wai", "mai") == 0.3
    assert syllable_similarity("an", "en") == 0.0


def test_a_name_does_not_swallow_the_verb_after_it():
    lex = _kb(fake_drug("atorvastatin", "阿托伐他汀", salts=("阿托伐他汀钙",)))
    fixed = apply_matches("阿托把他听改为40毫克", find_corrections("阿托把他听改为40毫克", lex))
    assert fixed == "阿托伐他汀改为40毫克"
    assert (
        apply_matches("阿托伐他听钙片20毫克", find_corrections("阿托伐他听钙片20毫克", lex))
        == "阿托伐他汀钙片20毫克"
    )


def test_drug_slots_count_strengths_without_a_drug_before_them():
    from toolkit.asr.correct import drug_slots

    lex = fake_lexicon()
    assert drug_slots("加用飞膜贝克200毫克，每日一次", lex)[1] == 1
    assert drug_slots("氨氯地平片5毫克每日一次，二甲双胍0.5克", lex)[1] == 0
    assert drug_slots("每次10毫升，血压150/90", lex)[1] == 0  # not a strength


def test_letters_whisper_wrote_inside_a_name_are_read_as_syllables():
    lex = _kb(fake_drug("atenolol", "阿替洛尔"), fake_drug("saxagliptin", "沙格列汀"))
    heard = "高血压，AT落12.5好课，一天两次"  # A = a, T = ti
    assert apply_matches(heard, find_corrections(heard, lex)) == "高血压，阿替洛尔12.5毫克，一天两次"
    assert [m for m in find_corrections("ABC公司5毫克", lex) if m.kind == "drug"] == []


def test_taking_verbs_open_a_drug_slot():
    lex = _kb(fake_drug("ibuprofen", "布洛芬"), fake_drug("famotidine", "法莫替丁"))
    heard = "疼痛明显时服用不裸奔，一天不超过三次"
    assert apply_matches(heard, find_corrections(heard, lex)) == "疼痛明显时服用布洛芬，一天不超过三次"
    assert find_corrections("按时服用效果好，一天三次", lex) == []


# --- slots left for the audio to settle ----------------------------------------------------------


def _choice_kb():
    return _kb(
        fake_drug("cefaclor", "头孢克洛"),
        fake_drug("cefixime", "头孢克肟"),
        fake_drug("roxithromycin", "罗红霉素"),
        fake_drug("furosemide", "呋塞米"),
        fake_drug("fenofibrate", "非诺贝特"),
        fake_drug("mosapride", "莫沙必利"),
    )


@pytest.mark.parametrize(
    ("heard", "why", "expected"),
    [
        (
            "头包克末0.25克，每日三次",
            "before a strength",
            ["头孢克洛", "头孢克肟"],
        ),  # siblings: sound cannot tell
        ("改用萝卜梅素150毫克，每日两次", "before a strength", ["罗红霉素"]),  # one syllable heard as another
        ("加用飞恩贝克200毫克，每日一次", "before a strength", ["非诺贝特"]),  # 恩 shares nothing with 诺
        ("一天两次，敷3米继续服用", "at the start of a dose line", ["呋塞米"]),
    ],
)
def test_open_drug_slots_offer_the_closest_drugs(heard, why, expected):
    from toolkit.asr.correct import slot_choices

    lex = _choice_kb()
    assert [m for m in find_corrections(heard, lex) if m.kind == "drug"] == []  # not on sound alone
    (choice,) = slot_choices(heard, lex)
    assert choice.why == why and [m.corrected for m in choice.candidates] == expected
    for m in choice.candidates:
        assert heard[m.offset : m.offset + len(m.original)] == m.original


@pytest.mark.parametrize(
    "text",
    [
        "头孢克洛0.25克，每日三次",  # heard right
        "罗红霉素150毫克，每日两次，饭前服用",
        "白萝卜30克红糖60克煮水",  # no drug said before the strength
        "一天两次，饭后继续服用",  # a dose line with no name
        "症状好转，继续观察",
    ],
)
def test_no_open_slot_where_nothing_is_to_be_chosen(text):
    from toolkit.asr.correct import slot_choices

    assert slot_choices(text, _choice_kb()) == []


def test_common_drugs_outside_the_formulary_take_true_homophones_only():
    lex = _kb(fake_drug("amlodipine", "氨氯地平"))  # the shipped drugs_extra.yaml `hand` list is read too
    fixed = apply_matches(
        "铝碳酸镁咀嚼片，绿碳酸美按需嚼服", find_corrections("铝碳酸镁咀嚼片，绿碳酸美按需嚼服", lex)
    )
    assert fixed == "铝碳酸镁咀嚼片，铝碳酸镁按需嚼服"
    (m,) = [m for m in find_corrections("阿伦令酸那70毫克每周一次", lex) if m.kind == "drug"]
    assert (m.corrected, m.term_id) == ("阿仑膦酸钠", None)  # no formulary id to audit against
    for text in (
        "尿里查到产气杆菌",
        "绿碳酸钙按需嚼服",
        "福山美每周一次",
    ):  # microbes; a syllable off; 3 characters
        assert [m for m in find_corrections(text, lex) if m.kind == "drug"] == [], text


def test_a_digit_inside_a_drug_name_is_read_as_its_numeral_but_numbers_stay_as_said():
    lex = _kb(fake_drug("metoprolol", "美托洛尔"), fake_drug("metformin", "二甲双胍"))
    heard = "心率偏慢，每通落2减量为12.5毫克，一天2次"
    assert apply_matches(heard, find_corrections(heard, lex)) == "心率偏慢，美托洛尔减量为12.5毫克，一天2次"
    for text in ("2型糖尿病，每日1次", "高血压2级，一天2次"):
        assert find_corrections(text, lex) == [], text


def test_heart_rhythm_is_not_rewritten_as_heart_rate():
    lex = fake_lexicon()
    for text in ("心电图示窦性心律，心率七十次每分", "心率八十八，心律绝对不齐", "心律不齐两年"):
        assert find_corrections(text, lex) == [], text
    assert (
        apply_matches("心率九十，新律不齐", find_corrections("心率九十，新律不齐", lex))
        == "心率九十，心律不齐"
    )


def test_a_name_that_sounds_like_a_drug_near_a_dose_word_is_offered_to_the_audio():
    from toolkit.asr.correct import slot_choices

    lex = _kb(fake_drug("amlodipine", "氨氯地平"), fake_drug("clopidogrel", "氯吡格雷"))
    heard = "氯吡格雷75毫克，每日一次，安律笔停控制血压"  # no character shared: not replaced on sound alone
    assert [m.corrected for m in find_corrections(heard, lex) if m.kind == "drug"] == []
    (choice,) = slot_choices(heard, lex)
    assert choice.why == "sounds like a drug name" and [m.original for m in choice.candidates] == ["安律笔停"]
    assert slot_choices("安律笔停了一会儿", lex) == []  # no dose word near
    assert slot_choices("氯吡格雷75毫克，每日一次，氨氯地平控制血压", lex) == []  # heard right


def test_a_combination_heard_in_part_is_offered_whole():
    from toolkit.asr.correct import slot_choices

    lex = _kb(
        fake_drug("budesonide", "布地奈德"),
        fake_drug("formoterol", "福莫特罗"),
        fake_drug("budesonide_formoterol", "布地奈德福莫特罗"),
    )
    (choice,) = slot_choices("布地奈德福末顿罗粉吸入剂每次两吸", lex)
    assert choice.why == "part of a longer drug name"
    assert [(m.original, m.corrected) for m in choice.candidates] == [
        ("布地奈德福末顿罗", "布地奈德福莫特罗")
    ]
    assert slot_choices("布地奈德福莫特罗每次两吸", lex) == []  # heard whole
    assert (
        slot_choices("布地奈德雾化吸入，每日两次", lex) == []
    )  # alone: nothing after it sounds like the rest
