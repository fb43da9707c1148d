"""Error classes found on the test2 dictations: stop phrases, a class word before the drug it names, unit doses,
doses split over the day, titrated injections, concentration prefixes, sig phrases (发作时, 上床前, 喷两下,
吃两周以后停掉), section cues, body parts with their side, disease tails. Each rule has a case that fires and
one that must not."""

from __future__ import annotations

import pytest

from toolkit.extract import extract
from toolkit.extract.assemble import _STOPPED_AFTER, refine_lexicon, unknown_drugs
from toolkit.extract.sections import split_sections
from toolkit.extract.values import Candidate, find_doses, find_durations, find_frequencies


def _freq(text: str) -> str | None:
    explicit, timing = find_frequencies(text, 0, len(text))
    found = sorted(explicit, key=lambda c: c.start) or timing[:1]
    return found[0].normalized if found else None


def _items(text: str) -> list[dict[str, object]]:
    return [
        it.model_dump(include={"drug", "drug_id", "strength", "dose", "unit", "frequency", "route", "days"})
        for it in extract(text).items
    ]


def _amount(item: dict[str, object]) -> object:
    """The single amount said for the line, read as strength (规格, 的片子) or as the dose (issue 13)."""
    if item.get("strength"):
        return item["strength"]
    if item.get("dose") is not None and item.get("unit") in ("mg", "g", "μg"):
        return f"{item['dose']:g} {item['unit']}"
    return None


def _ents(text: str, label: str) -> list[str]:
    return [e.text for e in extract(text).entities if e.label.value == label]


# ------------------------------------------------------------------ stopped drugs


@pytest.mark.parametrize("after", ["不要再吃了", "以后不吃了", "可以停了", "以后都不用了", "不能再用"])
def test_stop_phrases_after_a_drug(after: str) -> None:
    assert _STOPPED_AFTER.match(after)


@pytest.mark.parametrize("after", ["不要吃太饱", "不用担心", "不舒服", "不要停"])
def test_phrases_that_do_not_stop_the_drug(after: str) -> None:
    assert not _STOPPED_AFTER.match(after)


def test_a_drug_not_to_be_taken_again_is_not_an_item_and_does_not_end_the_plan() -> None:
    items = _items(
        "诊断2型糖尿病低血糖症处理格列本脲不要再吃了老年人容易低血糖改成利格列汀五毫克每天一次"
        "硝苯地平缓释片二十毫克一天两次都开四周"
    )
    assert [(i["drug_id"], _amount(i), i["frequency"], i["days"]) for i in items] == [
        ("linagliptin", "5 mg", "qd", 28.0),
        ("nifedipine", "20 mg", "bid", 28.0),
    ]


def test_a_ban_said_after_a_stopped_drug_belongs_to_it() -> None:
    items = _items("诊断痛风药疹处理别嘌醇马上停以后都不能用氯雷他定十毫克每天一次")
    assert [(i["drug_id"], _amount(i)) for i in items] == [("loratadine", "10 mg")]


def test_a_ban_before_a_drug_with_no_stopped_drug_before_still_holds() -> None:
    items = _items("诊断膝骨关节炎处理对乙酰氨基酚片零点五克疼的时候吃以后都不能用布洛芬")
    assert [i["drug_id"] for i in items] == ["paracetamol"]


# ------------------------------------------------------------------ class word, unit doses, split doses, titration


def test_a_class_word_right_before_the_drug_it_names_is_not_an_item() -> None:
    items = _items("诊断2型糖尿病处理加用基础胰岛素甘精胰岛素注射液从十个单位开始每天睡前皮下注射")
    assert [(i["drug_id"], i["dose"], i["unit"]) for i in items] == [("insulin_glargine", 10.0, "U")]


def test_the_class_word_alone_is_still_an_item() -> None:
    items = _items("诊断2型糖尿病处理胰岛素十个单位每天睡前皮下注射")
    assert [(i["drug"], i["dose"]) for i in items] == [("胰岛素", 10.0)]


def test_a_unit_dose_is_not_given_to_a_tablet() -> None:
    items = _items("诊断2型糖尿病处理阿卡波糖五十毫克一天三次每三天加两个单位")
    assert items[0]["drug_id"] == "acarbose" and (items[0]["dose"], items[0]["unit"]) == (
        50.0,
        "mg",
    )  # not 2 U


def test_doses_split_over_the_day_give_the_larger_dose_when_one_slot_is_changed() -> None:
    items = _items("诊断2型糖尿病处理诺和锐三餐前皮下注射早上六个单位中午六个单位晚上加到八个单位")
    # issue 13 (sig5): different doses over the day are the larger single dose, each time's dose in the note
    assert (items[0]["dose"], items[0]["frequency"]) == (8.0, "tid")


def test_a_change_without_a_time_of_day_replaces_the_dose() -> None:
    items = _items("诊断2型糖尿病处理诺和锐十个单位加到十二个单位三餐前皮下注射")
    assert items[0]["dose"] == 12.0


def test_split_doses_with_a_change_word_are_not_a_timing() -> None:
    items = _items("诊断2型糖尿病处理诺和灵30R笔芯早上加到二十个单位晚上还是十四个单位早晚饭前半小时皮下注射")
    assert (items[0]["dose"], items[0]["frequency"]) == (20.0, "bid")


def test_the_titrated_amount_of_an_injection_is_its_dose() -> None:
    items = _items("诊断2型糖尿病处理司美格鲁肽注射液从零点二五毫克加到零点五毫克每周一次皮下注射")
    assert (items[0]["strength"], items[0]["dose"], items[0]["unit"]) == (None, 0.5, "mg")


def test_a_titrated_tablet_takes_the_new_amount() -> None:
    items = _items("诊断2型糖尿病处理二甲双胍从五百毫克加到八百五十毫克一天两次")
    assert (items[0]["strength"], items[0]["dose"], items[0]["unit"]) == (None, 850.0, "mg")


# ------------------------------------------------------------------ drug names


def test_a_concentration_and_a_formulation_word_belong_to_the_drug_name() -> None:
    text = "低血糖症50%葡萄糖注射液四十毫升静脉推注 微粒化非诺贝特胶囊零点二克"
    cands = [
        Candidate(text.index("葡萄糖"), text.index("葡萄糖") + 3, "drug", None, "lexicon"),
        Candidate(text.index("非诺贝特"), text.index("非诺贝特") + 4, "drug", "fenofibrate", "lexicon"),
    ]
    names = [text[c.start : c.end] for c in refine_lexicon(text, cands) if c.label == "drug"]
    assert names == ["50%葡萄糖注射液", "微粒化非诺贝特胶囊"]


def test_a_number_that_is_not_a_concentration_stays_outside() -> None:
    text = "血糖50葡萄糖注射液四十毫升"
    start = text.index("葡萄糖")
    out = refine_lexicon(text, [Candidate(start, start + 3, "drug", None, "lexicon")])
    assert text[out[0].start : out[0].end] == "葡萄糖注射液"


def test_an_unknown_drug_can_start_right_after_the_previous_line_route() -> None:
    text = "氮卓斯汀鼻喷雾剂每侧一喷一天两次鼻喷依美斯汀滴眼液每次一滴"
    found = [text[c.start : c.end] for c in unknown_drugs(text, [])]
    assert "依美斯汀滴眼液" in found


def test_an_unknown_drug_does_not_start_inside_a_sig_word() -> None:
    text = "每次依美斯汀滴眼液每次一滴"
    assert unknown_drugs(text, []) == []


def test_new_vocabulary() -> None:
    rec = extract("诊断急性腰扭伤智齿冠周炎地高辛中毒处理依托考昔一百二十毫克每天一次")
    assert [(d.name, d.icd10) for d in rec.diagnoses] == [
        ("急性腰扭伤", "S33.5"),
        ("智齿冠周炎", "K05.2"),
        ("地高辛中毒", "T46.0"),
    ]
    assert [i.drug for i in rec.items] == ["依托考昔"]


# ------------------------------------------------------------------ sig phrases


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("零点五毫克发作时舌下含服", "prn"),
        ("烧到三十八度五以上再吃", "prn"),
        ("上床前吃", "qn"),
        ("临睡前一片", "qn"),
    ],
)
def test_more_spoken_frequencies(text: str, code: str) -> None:
    assert _freq(text) == code


@pytest.mark.parametrize("text", ["体温超过三十九度或精神差及时来院", "发作性胸闷"])
def test_a_temperature_or_attack_word_alone_is_no_frequency(text: str) -> None:
    assert _freq(text) is None


def test_puffs_counted_as_times() -> None:
    assert [c.normalized for c in find_doses("喘的时候喷两下", 0, 7)] == ["2 喷"]
    assert find_doses("一痒就咳两下", 0, 6) == []


@pytest.mark.parametrize(("text", "days"), [("吃两周以后停掉", 14.0), ("坚持用三周内裤每天换", 21.0)])
def test_durations_before_a_stop_or_another_word(text: str, days: float) -> None:
    assert [float(c.normalized or 0) for c in find_durations(text, 0, len(text))] == [days]


@pytest.mark.parametrize("text", ["两周以后复查", "三天内退烧"])
def test_later_and_within_are_still_not_durations(text: str) -> None:
    assert find_durations(text, 0, len(text)) == []


# ------------------------------------------------------------------ sections


def _names(text: str, extra: list[Candidate] | None = None) -> list[str]:
    return [s.name for s in split_sections(text, extra or [])]


def test_a_stop_phrase_does_not_open_the_health_advice() -> None:
    assert "健康指导" not in _names("诊断高血压处理布洛芬不要再吃了")
    assert _names("诊断高血压处理布洛芬停掉不要喝酒")[-1] == "健康指导"


def test_a_lung_finding_opens_the_examination() -> None:
    assert "体格检查" in _names("哮喘最近晚上咳醒两回双肺少量哮鸣音")
    assert "体格检查" not in _names("哮喘最近晚上咳醒两回")


def test_a_plan_after_the_allergy_history_and_insulin_injected_in_the_history() -> None:
    rec = extract("哮喘复诊阿司匹林过敏双肺少量哮鸣音支气管哮喘控制不佳信必可都保每次两吸早晚各一次吸入")
    assert [(i.drug_id, i.dose, i.frequency) for i in rec.items] == [("budesonide_formoterol", 2.0, "bid")]
    rec = extract("打针的药用完了糖尿病打诺和灵30R早上十八个单位晚上十四个单位最近餐后有点高")
    assert rec.items == ()


def test_home_glucose_monitoring_opens_the_health_advice() -> None:
    assert _names("诊断2型糖尿病处理二甲双胍零点五克一日三次每天测空腹血糖")[-1] == "健康指导"


# ------------------------------------------------------------------ body parts and diseases


def test_body_parts_with_their_side_and_the_complaint_after_them() -> None:
    text = "左肩痛胳膊抬不起来左肩关节外展受限双侧腹股沟环形红斑右耳鼓膜充血"
    assert _ents(text, "body_part") == ["左肩", "胳膊", "左肩关节", "双侧腹股沟", "右耳鼓膜"]
    assert "痛" in _ents(text, "symptom")


def test_hand_joints_stay_a_part_and_a_complaint() -> None:
    text = "双手关节痛一年晨僵"
    assert _ents(text, "body_part") == ["双手"]
    assert _ents(text, "symptom")[0] == "关节痛"


def test_no_side_made_part_inside_a_diagnosis() -> None:
    assert _ents("诊断右耳炎", "body_part") == []


def test_an_attack_tail_belongs_to_the_diagnosis_but_not_a_stable_phase() -> None:
    assert _ents("诊断支气管哮喘急性发作", "disease") == ["支气管哮喘急性发作"]
    assert _ents("慢阻肺稳定期来开药", "disease") == ["慢阻肺"]


# ------------------------------------------------------------------ loading doses, daily mass, instructions


def test_a_loading_dose_is_followed_by_the_regimen() -> None:
    items = _items("诊断急性冠脉综合征处理氯吡格雷首剂三百毫克以后每天七十五毫克")
    assert [(i["drug_id"], _amount(i), i["frequency"]) for i in items] == [("clopidogrel", "75 mg", "qd")]


def test_without_a_loading_word_the_first_amount_stays() -> None:
    items = _items("诊断高血压处理氨氯地平五毫克以后每天一次")
    assert (_amount(items[0]), items[0]["frequency"]) == ("5 mg", "qd")


def test_every_day_before_an_amount_is_once_a_day_unless_a_weekday_schedule_replaces_it() -> None:
    assert _items("诊断房颤处理华法林每天三毫克")[0]["frequency"] == "qd"
    items = _items("诊断房颤处理华法林每天三毫克改成周一周四三点七五毫克其他天三毫克")
    assert items[0]["frequency"] is None


def test_a_how_to_take_instruction_does_not_end_the_plan() -> None:
    items = _items("诊断高血压处理硝苯地平控释片三十毫克一天一次不要嚼碎开二十八天")
    assert items[0]["days"] == 28.0


def test_a_drug_name_inside_a_diagnosis_does_not_open_the_plan() -> None:
    rec = extract("房颤老人吃地高辛最近恶心心率五十二地高辛中毒")
    assert rec.items == () and [d.icd10 for d in rec.diagnoses] == ["T46.0"]


def test_a_diagnosis_said_after_kaolv_and_a_plan_verb_before_the_drug() -> None:
    rec = extract("腰痛两天腰部压痛考虑腰肌劳损回去吃洛索洛芬钠片六十毫克一天三次饭后吃一周")
    assert [s.name for s in rec.sections][-2:] == ["诊断", "处理"]
    assert [(i.drug_id, i.days) for i in rec.items] == [("loxoprofen", 7.0)]


def test_a_drug_taken_in_the_history_is_still_not_prescribed() -> None:
    rec = extract("腰痛两天自己一直吃洛索洛芬钠片六十毫克一天三次没效果")
    assert rec.items == ()


def test_bu_shu_fu_is_no_verb_of_taking() -> None:
    rec = extract("失眠一个月入睡困难没有其他不舒服艾司唑仑一毫克睡前一片吃两周")
    assert [(i.drug_id, i.frequency, i.days) for i in rec.items] == [("estazolam", "qn", 14.0)]


def test_gei_ni_kai_after_a_diagnosis_opens_the_plan() -> None:
    rec = extract("皮疹瘙痒三天躯干散在红斑荨麻疹给你开点药氯雷他定片十毫克每天一次")
    assert "诊断" in [s.name for s in rec.sections]
    rec = extract("皮疹瘙痒三天躯干散在红斑荨麻疹以前也有过")
    assert "诊断" not in [s.name for s in rec.sections]


def test_new_drug_names_and_the_plan_cue_is_not_part_of_a_name() -> None:
    items = _items("诊断肺炎处理头孢曲松钠二克静滴每天一次用三天")
    assert (items[0]["drug"], items[0]["route"], items[0]["days"]) == ("头孢曲松钠", "静脉滴注", 3.0)
    assert _items("诊断咽炎处理西瓜霜含片一次两片一天四次含服")[0]["drug"] == "西瓜霜含片"


def test_a_range_of_days_is_not_one_duration() -> None:
    assert find_durations("服三到五天", 0, 5) == []
    assert [c.normalized for c in find_durations("服五天", 0, 3)] == ["5"]


def test_dian_yan_is_eye_drops() -> None:
    assert _items("诊断结膜炎处理左氧氟沙星滴眼液每次一滴每天四次点眼")[0]["route"] == "滴眼"


def test_a_diluent_is_part_of_the_infusion_line() -> None:
    items = _items("诊断肺炎处理头孢曲松二克加入生理盐水一百毫升静滴每日一次")
    assert [(i["drug"], i["strength"], i["dose"], i["frequency"], i["route"]) for i in items] == [
        ("头孢曲松", None, 2.0, "qd", "静脉滴注")
    ]


def test_saline_given_on_its_own_is_an_item() -> None:
    items = _items("诊断脱水处理生理盐水五百毫升静滴")
    assert [(i["drug"], i["dose"], i["unit"]) for i in items] == [("生理盐水", 500.0, "ml")]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("每三天一次", "q3d"),
        ("两天一次", "qod"),
        ("隔一天吃一次", "qod"),
        ("七天一次", "qw"),
        ("早上一次晚上一次", "bid"),
        ("每天中午一次", "qd"),
        ("每晚临睡前", "qn"),
        ("血压高的时候", "prn"),
    ],
)
def test_every_few_days_and_other_spoken_schedules(text: str, code: str) -> None:
    assert _freq(text) == code


@pytest.mark.parametrize(("text", "code"), [("每天一次", "qd"), ("一天吃三次", "tid"), ("每日两次", "bid")])
def test_daily_counts_are_unchanged(text: str, code: str) -> None:
    assert _freq(text) == code


def test_a_course_of_days_before_a_daily_count_is_not_every_few_days() -> None:
    assert _freq("开七天一天三次") == "tid"


def test_more_advice_cues_and_dont_stop_is_no_advice() -> None:
    assert _names("诊断2型糖尿病处理二甲双胍零点五克一天三次少吃甜食晚饭后散步")[-1] == "健康指导"
    assert _names("诊断冠心病处理阿司匹林一百毫克每天一次不要停")[-1] == "处理"


@pytest.mark.parametrize(
    ("text", "span", "code"),
    [
        ("每天睡前皮下注射", "每天睡前", "qn"),
        ("早晚饭前半小时皮下注射", "早晚饭前半小时", "bid"),
        ("每次八片早上顿服", "早上顿服", "qd"),
    ],
)
def test_whole_timing_phrases(text: str, span: str, code: str) -> None:
    explicit, timing = find_frequencies(text, 0, len(text))
    first = (sorted(explicit, key=lambda c: (c.start, -c.end)) or timing)[0]
    assert (text[first.start : first.end], first.normalized) == (span, code)


@pytest.mark.parametrize("text", ["辛伐他汀先停两周然后换", "吃五天三天不好转查尿培养", "咳嗽两周还不好再来"])
def test_a_drug_holiday_or_a_condition_is_not_the_duration(text: str) -> None:
    found = [text[c.start : c.end] for c in find_durations(text, 0, len(text))]
    assert found in ([], ["五天"])


def test_a_plain_course_is_still_a_duration() -> None:
    assert [c.normalized for c in find_durations("先吃两周", 0, 4)] == ["14"]


def test_insulin_said_before_a_brand_of_insulin_names_it() -> None:
    items = _items("诊断2型糖尿病处理加用胰岛素诺和锐三餐前各六个单位皮下注射")
    assert [(i["drug_id"], i["dose"]) for i in items] == [("insulin_aspart", 6.0)]
