"""Issue 13, remaining gaps: drugs of the past or stopped said without a sig, a brand named again by its
name (就是), a name corrected, statements for all the lines (均一日两次, 每样开两周), as-needed and
immediate frequencies, combination strengths said as one run of numerals, an amount repeated as a count
(三点七五毫克就是一片半), the count a strength is for (零点五克一片的), a route said before the next
drug, the diagnosis run before the plan or at the end, the opening diagnoses of a follow-up visit, and the
visit's days for a course said once for the prescription. Each rule has a case that fires and one that
must not."""

from __future__ import annotations

import pytest

from toolkit.extract import extract
from toolkit.visit import visit


def _items(text: str) -> list[dict[str, object]]:
    return [
        it.model_dump(include={"drug", "drug_id", "strength", "dose", "unit", "frequency", "route", "days"})
        for it in extract(text).items
    ]


def _drugs(text: str) -> list[str]:
    return [str(it["drug"]) for it in _items(text)]


# --------------------------------------------------------------------------- not items


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        ("高血压2型糖尿病氨氯地平五毫克一天一次都开四周他以前吃过格列吡嗪老是低血糖", "格列吡嗪", "氨氯地平"),
        ("高血压倍博特一天一次一次一片开四周十年前开始吃卡托普利后来咳嗽换掉了", "卡托普利", "倍博特"),
        ("诊断慢性心力衰竭处理螺内酯上次已经停了呋塞米二十毫克早上一次开四周", "螺内酯", "呋塞米"),
        ("冠心病支架术后波立维一年到了就停了拜阿司匹灵一百毫克每天一次开八周", "波立维", "拜阿司匹灵"),
        ("以上都开一个月以前还吃过阿卡波糖嫌放屁多不吃了", "阿卡波糖", None),
    ],
)
def test_a_drug_of_the_past_or_stopped_with_no_sig_is_not_an_item(text, gone, kept):
    drugs = _drugs("诊断2型糖尿病处理二甲双胍零点五克一天两次" + text)
    assert gone not in drugs
    if kept:
        assert kept in drugs


def test_the_stop_word_of_the_drug_before_does_not_stop_the_next():
    text = (
        "肌酐一百八十六2型糖尿病慢性肾脏病4期二甲双胍肾功能这样不能再吃了停掉利格列汀片五毫克每天一次都开四周"
    )
    items = _items(text)
    assert [it["drug"] for it in items] == ["利格列汀片"]
    assert items[0]["dose"] == 5.0 and items[0]["frequency"] == "qd" and items[0]["days"] == 28.0


def test_a_drug_said_with_its_sig_after_a_word_of_the_past_stays_an_item():
    items = _items(
        "诊断慢阻肺急性加重处理泼尼松片三十毫克一天一次吃五天原来的舒利迭一天两次每次一吸接着用开一个月"
    )
    assert [it["drug"] for it in items] == ["泼尼松片", "舒利迭"]
    assert _drugs("诊断高血压处理以前吃的氨氯地平五毫克一天一次继续吃开四周") == ["氨氯地平"]


def test_a_brand_named_again_by_its_name_is_one_item_at_the_name():
    text = "高血压冠心病那个络活喜就是苯磺酸氨氯地平片还是五毫克一天一次都开四周"
    items = _items(text)
    assert len(items) == 1
    assert items[0]["drug"] == "苯磺酸氨氯地平片" and items[0]["drug_id"] == "amlodipine"
    assert items[0]["dose"] == 5.0 and items[0]["days"] == 28.0
    # a brand and the next drug with its own sig in between: two items
    assert len(_items("诊断高血压处理络活喜五毫克一天一次就是那个缬沙坦八十毫克一天一次")) == 2


def test_a_name_corrected_is_replaced():
    text = "高血压还是开缬沙坦哎不对她吃的是厄贝沙坦一百五十毫克一天一次开四周"
    assert _drugs(text) == ["厄贝沙坦"]
    assert _drugs("高血压缬沙坦八十毫克一天一次不对是早上吃厄贝沙坦一百五十毫克一天一次") == [
        "缬沙坦",
        "厄贝沙坦",
    ]


# --------------------------------------------------------------------------- statements for all lines


def test_a_frequency_route_and_duration_said_for_all_lines_reach_every_line():
    items = _items("诊断高血压2型糖尿病处理氨氯地平五毫克二甲双胍零点五克以上均一日两次口服开两周")
    assert [(it["frequency"], it["route"], it["days"]) for it in items] == [("bid", "口服", 14.0)] * 2
    items = _items("支气管哮喘信必可一百六十/四点五微克每次两吸万托林喘的时候喷两喷都是吸入的每样开两周")
    assert [(it["route"], it["days"]) for it in items] == [("吸入", 14.0)] * 2
    assert items[1]["frequency"] == "prn" and items[0]["frequency"] is None


def test_a_course_said_for_one_line_stays_with_it():
    # the gold convention: a plain trailing course belongs to the last line (the visit fills the rest)
    items = _items("诊断高血压处理氨氯地平片五毫克一天一次缬沙坦八十毫克一天一次开一个月")
    assert [it["days"] for it in items] == [None, 30.0]
    items = _items("诊断鼻炎处理布地奈德鼻喷雾剂每侧鼻孔各一喷一天两次氯雷他定十毫克开两周")
    assert [it["frequency"] for it in items] == ["bid", None]


# --------------------------------------------------------------------------- frequencies


@pytest.mark.parametrize(
    ("sig", "code"),
    [
        ("零点六五克每次一片发热超过三十八度五吃", "prn"),
        ("每次七毫升发烧三十八度五以上吃", "prn"),
        ("每次一点五毫升超过三十八度五喂", "prn"),
        ("十毫克备用血压超过一百六的时候吃一片", "prn"),
        ("憋的时候喷两喷", "prn"),
        ("二点五毫克马上雾化", "st"),
    ],
)
def test_as_needed_and_immediate_frequencies(sig, code):
    assert _items("诊断急性上呼吸道感染处理对乙酰氨基酚" + sig)[0]["frequency"] == code


def test_a_time_of_the_symptom_is_not_an_as_needed_frequency():
    assert _items("诊断头痛处理对乙酰氨基酚零点五克头晕时间长了再来")[0]["frequency"] is None
    assert (
        _items("诊断2型糖尿病处理阿卡波糖五十毫克一次一片每日三次吃第一口饭的时候嚼碎")[0]["frequency"]
        == "tid"
    )


# --------------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("text", "strength"),
    [
        ("支气管哮喘改用舒利迭五十二百五十的一天两次每次一吸开一个月", "50/250 μg"),
        ("慢阻肺信必可都保一百六四点五的一天两次每次两吸开一个月", "160/4.5 μg"),
        ("支气管哮喘布地奈德福莫特罗吸入粉雾剂规格是一百六十四点五微克一天一次每次一吸", "160/4.5 μg"),
        ("支气管哮喘布地奈德福莫特罗八十四点五的每次两吸一天两次", "80/4.5 μg"),
    ],
)
def test_a_combination_strength_said_as_one_run_of_numerals(text, strength):
    from toolkit.evaluation.extract import _same_strength

    assert _same_strength(_items(text)[0]["strength"], strength)


def test_a_run_that_is_no_listed_combination_is_left_as_read():
    # 氨氯地平 has no combination strength: the amount stays the dose
    item = _items("诊断高血压处理氨氯地平五毫克一天一次")[0]
    assert item["strength"] is None and item["dose"] == 5.0
    # 一百二十四点五 splits into no listed budesonide/formoterol strength
    assert _items("哮喘布地奈德福莫特罗一百二十四点五的每次两吸一天两次")[0]["strength"] != "120/4.5 μg"


def test_an_amount_said_again_as_a_count_is_the_dose():
    item = _items("持续性心房颤动华法林钠片从三毫克加到三点七五毫克就是一片半一天一次开两周")[0]
    assert (item["dose"], item["unit"], item["strength"]) == (3.75, "mg", None)
    item = _items("心房颤动华法林钠片二点五毫克每次一片半一天一次")[0]
    assert (item["dose"], item["unit"]) == (1.5, "片")


def test_the_count_a_strength_is_for_is_not_the_dose():
    item = _items("2型糖尿病二甲双胍片那个零点五克一片的早中晚一天三次每次两片开一个月")[0]
    assert (item["dose"], item["unit"], item["strength"]) == (2.0, "片", "0.5 g")
    item = _items("2型糖尿病二甲双胍片零点五克一片一天三次开一个月")[0]
    assert (item["dose"], item["unit"]) == (1.0, "片")


def test_a_route_said_before_the_next_drug_is_that_drugs():
    items = _items("急性腰扭伤塞来昔布胶囊二百毫克一天一次吃五天外用双氯芬酸二乙胺乳胶剂一天三次涂腰部开五天")
    assert [it["route"] for it in items] == [None, "外用"]
    items = _items("诊断高血压处理氨氯地平五毫克一天一次口服缬沙坦八十毫克一天一次口服")
    assert [it["route"] for it in items] == ["口服", "口服"]


def test_an_ester_said_whole_names_the_oral_drug():
    assert _items("急性乳腺炎头孢呋辛酯片零点二五克一天两次七天")[0]["drug_id"] == "cefuroxime"


# --------------------------------------------------------------------------- diagnoses


def _dx(text: str) -> list[str | None]:
    return [d.icd10 for d in extract(text).diagnoses]


def test_a_run_of_diagnoses_before_the_plan_with_fillers_between():
    text = "嗯老周今天来是复查最近早上有点头晕血压一百四十八八十四高血压2型糖尿病那个施慧达就是苯磺酸左旋氨氯地平加到五毫克一天一次"
    assert _dx(text) == ["I10", "E11.9"]
    assert _dx("哮喘复诊晚上偶尔憋醒支气管哮喘改用舒利迭一天两次每次一吸") == ["J45.9"]
    # diagnoses across the history (支架术后三年…也控制得还行) are not one run
    text = "最近挺好冠心病支架术后三年糖尿病也控制得还行冠心病2型糖尿病那个替格瑞洛早就停了现在就阿司匹林一百毫克一天一次"
    assert _dx(text) == ["I25.1", "E11.9"]


def test_a_run_of_diagnoses_closing_the_dictation():
    text = "先开药二甲双胍缓释片零点五克一次两片一天一次晚饭后开一个月最近没什么不舒服2型糖尿病高脂血症"
    assert _dx(text) == ["E11.9", "E78.5"]
    text = "缺铁性贫血琥珀酸亚铁片零点一克每次两片一天三次开一个月一个月复查血常规妇科看月经过多"
    assert "N92.0" not in _dx(text)


def test_the_opening_diagnoses_of_a_follow_up_visit():
    rec = extract(
        "王师傅高血压糖尿病来复查血压一百三十八十氨氯地平五毫克一天一次二甲双胍零点五克一天两次都开四周"
    )
    assert [d.name for d in rec.diagnoses] == ["高血压", "糖尿病"]
    assert rec.history == ()
    # a diagnosis said as such wins; conditions of the past in the opening are history
    rec = extract("王师傅高血压来复查以前有过脑梗诊断高血压2型糖尿病处理氨氯地平五毫克一天一次")
    assert [d.icd10 for d in rec.diagnoses] == ["I10", "E11.9"]
    assert extract("高血压病史十年来复查血压一百三十八十").diagnoses == ()


def test_a_positive_test_is_a_diagnosis_only_in_the_diagnosis():
    assert "B96.8" in _dx("诊断慢性胃炎幽门螺杆菌阳性处理雷贝拉唑十毫克一天两次")
    rec = extract("上腹痛一个月呼气试验幽门螺杆菌阳性慢性胃炎雷贝拉唑十毫克一天两次")
    assert [d.icd10 for d in rec.diagnoses] == ["K29.5"]
    assert [s.name for s in rec.sections if s.name == "辅助检查"] == ["辅助检查"]


# --------------------------------------------------------------------------- visit


def test_a_course_said_once_for_the_prescription_fills_the_lines_before_it_as_a_default():
    v = visit("诊断高血压2型糖尿病处理氨氯地平片五毫克一天一次口服二甲双胍零点五克一天两次口服开一个月")
    assert [(it.days, "days" in it.defaults) for it in v.items] == [(30.0, True), (30.0, False)]
    assert not any(
        f.finding.rule_id == "RX-FMT-003" and "用药天数" in str(f.finding.evidence) for f in v.findings
    )


def test_a_course_said_for_one_drug_does_not_fill_the_others():
    v = visit("诊断高血压2型糖尿病处理氨氯地平片五毫克一天一次口服二甲双胍零点五克一天两次口服吃五天")
    assert [it.days for it in v.items] == [None, 5.0]
    assert any(f.finding.rule_id == "RX-FMT-003" for f in v.findings)


def test_the_draft_lists_the_opening_diagnoses_as_its_diagnosis():
    v = visit("王师傅高血压糖尿病来复查血压一百三十八十没有药物过敏氨氯地平五毫克一天一次都开四周")
    assert v.sections["诊断"] == "高血压、糖尿病"
    assert v.provenance.edited_sections == ()
    missing = [f.finding.evidence.get("missing", []) for f in v.findings if f.finding.rule_id == "RX-REC-001"]
    assert not any("诊断" in m for m in missing)


# --------------------------------------------------------------------------- corrections and stops said later


def test_each_field_takes_what_was_said_after_its_last_correction():
    # the timing corrected (不对早上打的) before a later change of the dose (加到十二个单位)
    item = _items("2型糖尿病来得时十个单位睡前打不对早上打的加到十二个单位开一个月")[0]
    assert (item["dose"], item["frequency"]) == (12.0, "qd")
    item = _items("高血压安博诺每天吃两片哦不是每天一片早上一次开十二周")[0]
    assert item["dose"] == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "痛风非布司他先不用秋水仙碱零点五毫克一天两次",
        "上次急性支气管炎开的头孢克洛吃完了咳嗽好多了急性支气管炎秋水仙碱零点五毫克一天两次",
        "诊断急性痛风处理青霉素过敏不用非布司他用秋水仙碱零点五毫克一天两次",
    ],
)
def test_a_drug_not_given_this_time_is_not_an_item_and_the_next_is(text):
    assert _drugs(text) == ["秋水仙碱"]


def test_a_conditional_not_taking_is_no_stop():
    assert _drugs("诊断2型糖尿病处理阿卡波糖随餐嚼服不吃饭就不吃开一个月") == ["阿卡波糖"]
    assert _drugs("诊断痛风处理非布司他继续吃不用停开一个月") == ["非布司他"]


def test_every_day_before_the_course_is_the_frequency():
    item = _items("心房颤动华法林钠片二点五毫克原来一片半现在减成一片每天开一周")[0]
    assert (item["dose"], item["frequency"], item["days"]) == (1.0, "qd", 7.0)


def test_a_skin_test_said_apart_from_the_line_is_that_lines():
    text = (
        "诊断十二指肠溃疡幽门螺杆菌感染处理雷贝拉唑十毫克一天两次阿莫西林一克一天两次"
        "以上都吃十四天均口服阿莫西林皮试阴性"
    )
    items = extract(text).items
    assert [(it.drug, it.skin_test) for it in items] == [("雷贝拉唑", None), ("阿莫西林", "阴性")]
    # no result said: none is made up
    assert extract("诊断急性支气管炎处理阿莫西林一克一天两次吃五天").items[0].skin_test is None


@pytest.mark.parametrize(
    ("text", "routes"),
    [
        ("诊断急性支气管炎处理口服阿莫西林胶囊零点五克一天三次吃五天", ["口服"]),
        ("诊断2型糖尿病处理皮下注射甘精胰岛素十个单位睡前开一个月", ["皮下注射"]),
        (
            "诊断湿疹处理外用丁酸氢化可的松乳膏一天两次涂患处口服氯雷他定十毫克一天一次都用两周",
            ["外用", "口服"],
        ),
        ("诊断高血压处理氨氯地平五毫克一天一次，口服缬沙坦八十毫克一天一次", [None, "口服"]),
        # said after the line's frequency with no pause: the line's own route
        ("诊断高血压处理氨氯地平五毫克一天一次口服缬沙坦八十毫克一天一次口服", ["口服", "口服"]),
        (
            "慢阻肺思力华十八微克每天一次一次一粒装在吸入器里吸入信必可都保一百六十/四点五微克一次两吸",
            ["吸入", None],
        ),
    ],
)
def test_a_route_said_before_a_drug(text, routes):
    assert [it["route"] for it in _items(text)] == routes


def test_a_section_named_between_two_diagnoses_ends_the_run():
    text = (
        "主诉胸闷一月现病史冠心病多年既往史高血压过敏史无诊断冠心病高脂血症"
        "处理阿司匹林一百毫克一天一次都开四周"
    )
    rec = extract(text)
    assert [d.icd10 for d in rec.diagnoses] == ["I25.1", "E78.5"]
    assert ("既往史", "既往史高血压") in [(s.name, s.text) for s in rec.sections]
