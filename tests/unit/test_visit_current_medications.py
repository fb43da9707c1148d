"""在用药品 read from the dictation: the drugs the patient already takes (平时吃着华法林) reach the record, the
visit's AuditCase (``patient.current_medications``), the demo's facts, the JSONL line and the FHIR export;
drugs stopped, switched away, denied, a relative's, an allergy, asked about, advised or prescribed now do not."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("spacy")

from typer.testing import CliRunner

from toolkit.extract import extract
from toolkit.visit import revise, visit

WARFARIN_NSAID = (
    "主诉：右膝关节疼痛一周。现病史：房颤五年，平时吃着华法林，二点五毫克每天一片，最近INR二点三。既往史：高血压。"
    "过敏史：否认药物过敏。查体：血压一百三十二八十。诊断：右膝骨关节炎。处理：布洛芬缓释胶囊零点三克一天两次口服，开五天。"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # sectioned, a marker before the drug, the amount in Chinese numbers
        ("现病史：房颤五年，平时吃着华法林，二点五毫克每天一片。诊断：心房颤动。", ("华法林",)),
        # unsectioned dictation
        ("王大爷糖尿病十年，一直在用二甲双胍零点五克一天两次，空腹血糖七点多，今天来复查。", ("二甲双胍",)),
        ("既往冠心病，长期服用阿司匹林一百毫克每天一次，没有胃病。", ("阿司匹林",)),
        ("现病史 房颤三年 目前规律服用利伐沙班二十毫克一天一次 没有出血", ("利伐沙班",)),
        # the marker after the drug and its amounts; a brand resolved to its generic name
        ("现病史：高血压六年，心内科开的代文八十毫克一天一片，一直在吃。", ("缬沙坦",)),
        # a list after one marker, brands resolved
        (
            "主诉血压血糖复查 现病史高血压六年 平时吃络活喜和格华止 家里量血压一百三十左右",
            ("氨氯地平", "二甲双胍"),
        ),
        ("半年前心梗放了支架，一直吃倍林达和阿司匹林，没有黑便。", ("替格瑞洛", "阿司匹林")),
        # insulin said with 在打/现在打
        ("现病史：糖尿病十年，现在打甘精十二个单位，空腹七左右。", ("甘精胰岛素",)),
        ("家里有华法林在吃，最近没有出血。", ("华法林",)),
        # 家里吃X, 家里每晚吃X (blind visit_cases_test5: three home drugs missed this way)
        ("既往史：高脂血症，家里每晚吃辛伐他汀四十毫克。过敏史：无。", ("辛伐他汀",)),
        ("既往史：抑郁症，家里吃舍曲林五十毫克每天一次。过敏史：无。", ("舍曲林",)),
        # a chronic condition right before a plain 吃
        ("既往史：高血压十年，吃氨氯地平。过敏史：无。", ("氨氯地平",)),
    ],
)
def test_drugs_said_as_taken_now_are_read(text, expected):
    assert extract(text).current_medications == expected


@pytest.mark.parametrize(
    "text",
    [
        "现病史：以前吃过硝苯地平，后来停了，血压一百三十多。",  # the past, stopped
        "现病史：以前一直吃硝苯地平，脚踝肿，上次已经停掉了。",  # the past marker, stopped
        "现病史：一直吃硝苯地平，效果不好换了，血压一百五。",  # switched away
        "现病史：平时吃着硝苯地平，上个月不吃了。",  # stopped
        "现病史：平时没在吃华法林，也没吃过阿司匹林。",  # negated
        "现病史：他妈妈也在吃华法林，他自己身体挺好。",  # a relative's drug
        "现病史：家里人吃华法林，他自己没吃过药。",  # 家里人: a relative, not 家里吃
        "家族史：母亲一直吃华法林。",  # the family history
        "现病史：平时在吃华法林吗？",  # a question
        "现病史：膝盖疼，如果疼得厉害可以吃布洛芬。",  # conditional advice
        "现病史：一直吃别嘌醇，吃了起疹子。",  # an adverse reaction / allergy
        "现病史：吃了阿莫西林起疹子，没有发烧。",  # an allergy, no marker
    ],
)
def test_drugs_stopped_switched_denied_or_not_the_patients_are_not_read(text):
    assert extract(text).current_medications == ()


def test_a_drug_switched_from_is_not_current():
    rec = extract("现病史：平时吃着硝苯地平，后来换成氨氯地平了。")
    assert "硝苯地平" not in rec.current_medications
    # the drug of the past is not current, the one said now is
    assert extract("现病史：以前吃华法林，现在吃利伐沙班二十毫克。").current_medications == ("利伐沙班",)


def test_a_stop_or_allergy_said_of_one_drug_of_a_list_leaves_the_others():
    text = "现病史：血压高，一直吃着硝苯地平和美托洛尔，美托洛尔上周停了。"
    assert extract(text).current_medications == ("硝苯地平",)
    assert extract("现病史：一直吃着华法林和阿司匹林，都停了一周。").current_medications == ()
    assert extract("现病史：一直吃着华法林和阿司匹林，阿司匹林过敏。").current_medications == ("华法林",)
    # 没停过, 不能停: kept taking
    assert extract("现病史：华法林一直吃着，没停过。").current_medications == ("华法林",)


def test_a_drug_prescribed_now_is_read_but_not_audited_as_a_current_medication():
    # the same drug (also by its brand) is a line of this visit: the line covers it in the audit case; the
    # record keeps what was said (the doctor may delete the line, the patient still takes it)
    rec = extract("现病史：一直吃二甲双胍。诊断：2型糖尿病。处理：二甲双胍零点五克一天两次，开四周。")
    assert rec.current_medications == ("二甲双胍",) and [i.drug for i in rec.items] == ["二甲双胍"]
    assert rec.unprescribed_medications() == ()
    assert rec.to_audit_case("x").patient.current_medications == ()
    rec = extract(
        "现病史：高血压三年，一直吃络活喜五毫克。诊断：高血压。处理：氨氯地平五毫克每天一次，开四周。"
    )
    assert rec.current_medications == ("氨氯地平",)
    assert rec.to_audit_case("x").patient.current_medications == ()


def test_a_home_drug_the_doctor_replaces_or_stops_is_not_current():
    rec = extract(
        "现病史：高血压，一直吃硝苯地平。诊断：高血压。处理：硝苯地平换成氨氯地平五毫克每天一次，开四周。"
    )
    assert rec.current_medications == ()
    rec = extract(
        "现病史：糖尿病十年，长期服用二甲双胍零点五克一天两次，还一直吃着阿司匹林。诊断：糖尿病。"
        "处理：二甲双胍停掉，改用西格列汀一百毫克每天一次。"
    )
    assert rec.current_medications == ("阿司匹林",)


def test_a_class_word_naming_an_insulin_said_elsewhere_is_not_read():
    rec = extract(
        "主诉 糖尿病打胰岛素复诊 现病史 现在打来得时睡前十四个单位 处理 来得时睡前十六个单位皮下注射"
    )
    # 来得时 is taken now (and prescribed: no current medication of the audit case); 胰岛素 is not read
    assert rec.current_medications == ("甘精胰岛素",)
    assert rec.unprescribed_medications() == ()


def test_the_audit_case_of_the_record_carries_them():
    rec = extract(WARFARIN_NSAID)
    assert rec.current_medications == ("华法林",)
    assert rec.to_audit_case("x").patient.current_medications == ("华法林",)


def test_warfarin_at_home_and_a_prescribed_nsaid_reach_the_visits_audit():
    v = visit(text=WARFARIN_NSAID, id="v-warfarin")
    assert v.case.patient.current_medications == ("华法林",)
    assert [i.drug for i in v.items] == ["布洛芬缓释胶囊"]
    hits = [
        f for f in v.findings if f.finding.category.value == "interaction" and "华法林" in f.finding.drugs
    ]
    assert hits, [f.finding.rule_id for f in v.findings]
    # the finding points at the prescribed line and at the words where the home drug was said
    assert hits[0].lines == (1,)
    assert any(s.text == "华法林" and v.text[s.start : s.end] == "华法林" for s in hits[0].spans)
    doc = v.contract()
    assert doc["patient"]["current_medications"] == ["华法林"]
    assert doc["record"]["current_medications"] == ["华法林"]


def test_text_typed_into_the_history_is_re_read_like_allergies():
    v = visit(text=WARFARIN_NSAID)
    # the doctor deletes the home drug from 现病史: it is no longer a current medication
    v2 = revise(v, sections={"现病史": "房颤五年，最近INR二点三。"})
    assert v2.case.patient.current_medications == ()
    assert not any("华法林" in f.finding.drugs for f in v2.findings)
    # and types one into 既往史: read on re-audit
    v3 = revise(v2, sections={"既往史": "高血压十年，一直吃氨氯地平五毫克一天一次。"})
    assert v3.case.patient.current_medications == ("氨氯地平",)
    assert v3.provenance.edited_sections == ("现病史", "既往史")
    # a section left untouched keeps what was dictated
    v4 = revise(v, sections={"既往史": "高血压。糖尿病。"})
    assert v4.case.patient.current_medications == ("华法林",)


def test_a_home_drug_added_to_the_table_is_no_longer_a_current_medication():
    v = visit(text=WARFARIN_NSAID)
    assert v.case.patient.current_medications == ("华法林",)
    rows = [
        v.items[0].to_prescription_item(),
        {"drug": "华法林", "dose": 2.5, "unit": "mg", "frequency": "qd"},
    ]
    v2 = revise(v, items=rows)
    assert v2.case.patient.current_medications == ()


def test_the_demo_shows_them_in_the_facts():
    from toolkit.demo_app import views

    v = visit(text=WARFARIN_NSAID)
    assert "在用药品 华法林" in views.facts_markdown(v)
    plain = visit(text="诊断高血压。处理氨氯地平五毫克每天一次，开四周。")
    assert plain.case.patient.current_medications == ()
    assert "在用药品 无记录" in views.facts_markdown(plain)


def test_clinic_visit_jsonl_carries_them(tmp_path):
    from toolkit.cli.main import app

    src = tmp_path / "a.txt"
    src.write_text(WARFARIN_NSAID, encoding="utf-8")
    result = CliRunner().invoke(app, ["visit", str(src), "--format", "jsonl"])
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["visit"]["patient"]["current_medications"] == ["华法林"]
    assert line["visit"]["record"]["current_medications"] == ["华法林"]


def test_the_fhir_export_has_an_active_medication_statement_per_current_medication():
    pytest.importorskip("fhir.resources")
    from toolkit.fhir import validate

    v = visit(text=WARFARIN_NSAID, id="v-warfarin")
    bundle = v.to_fhir()
    assert validate.problems(bundle) == []
    stmts = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationStatement"]
    assert [(s["status"], s["medicationCodeableConcept"]["text"]) for s in stmts] == [("active", "华法林")]
    reqs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
    assert len(reqs) == 1


# --------------------------------------------------------------------------- review16: stop, switch, relative


@pytest.mark.parametrize(
    "text",
    [
        "现病史：平时吃阿司匹林，吃了就黑便，后来医生不让吃。",  # 不让吃
        "现病史：一直吃着阿托伐他汀，转氨酶高，先不用了。",  # 先不用
        "现病史：一直吃华法林到去年，做了射频消融。",  # 吃到 + a past time
        "现病史：二甲双胍一直吃到三个月前，现在血糖靠饮食控制。",
        "现病史：平时吃着美托洛尔，心率慢，暂停了。",  # 暂停
        "现病史：平时吃着美托洛尔，心率慢，暂不服用。",  # 暂不
        "现病史：平时吃着美托洛尔。处理：美托洛尔不用再吃，比索洛尔片2.5毫克一天一次口服。",  # 不用再
        "现病史：平时吃着美托洛尔。处理：比索洛尔片2.5毫克一天一次口服，美托洛尔不要再吃了。",  # 不要再
        "现病史：平时吃着美托洛尔。处理：不再服用美托洛尔，比索洛尔片2.5毫克一天一次口服。",
        "现病史：平时吃着美托洛尔。处理：美托洛尔去掉，比索洛尔片2.5毫克一天一次口服。",  # 去掉
        "现病史：平时吃着美托洛尔。处理：撤掉美托洛尔，比索洛尔片2.5毫克一天一次口服。",  # 撤
        "现病史：平时吃着美托洛尔。处理：以比索洛尔片2.5毫克一天一次代替美托洛尔。",  # 以…代替
        "现病史：平时吃着美托洛尔。处理：比索洛尔片2.5毫克一天一次口服，替代美托洛尔。",  # 替代
        "平时吃着美托洛尔，心率五十，今天改比索洛尔二点五毫克一天一次，开一个月。",  # a bare 改 + drug
        "现病史：平时吃着美托洛尔。处理：美托洛尔改比索洛尔片2.5毫克一天一次。",
    ],
)
def test_stopped_switched_or_taken_until_the_past_is_not_current(text):
    rec = extract(text)
    assert "美托洛尔" not in rec.current_medications
    assert not {"阿司匹林", "阿托伐他汀", "华法林", "二甲双胍"} & set(rec.current_medications)


def test_still_taken_words_near_a_stop_or_switch_word_stay_current():
    assert extract("现病史：一直吃华法林到现在，没有出血。").current_medications == ("华法林",)
    # 改善 is no switch; 不让停 keeps it
    assert extract("现病史：平时吃着氨氯地平，头晕改善了。").current_medications == ("氨氯地平",)
    assert extract("现病史：华法林医生不让停，一直在吃。").current_medications == ("华法林",)


@pytest.mark.parametrize(
    "text",
    [
        "现病史：他家老人一直吃华法林，他本人腰疼。",
        "现病史：她婆婆在吃华法林，她来看腰。",
        "现病史：家里老人长期服用阿司匹林，患者本人无特殊。",
        "现病史：患者岳母一直吃氯吡格雷。",
        "现病史：他孙子在吃阿莫西林，他自己咳嗽。",
        "现病史：女婿平时吃着二甲双胍。",
        "现病史：陪老人来的，老人一直吃华法林。",
        "现病史：奶奶在吃华法林，孩子咳嗽两天。",  # 奶奶 without a surname: the child's grandmother
    ],
)
def test_a_relatives_drug_is_not_current(text):
    assert extract(text).current_medications == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an address form of the patient (no possessive before it) is the patient
        ("现病史：王阿姨一直吃华法林，膝盖疼一周。", ("华法林",)),
        ("张大爷平时吃着阿司匹林，腰疼三天。", ("阿司匹林",)),
        ("现病史：刘婆婆一直吃二甲双胍，血糖还行。", ("二甲双胍",)),
        ("现病史：老人家一直吃华法林，最近没有出血。", ("华法林",)),
    ],
)
def test_an_address_form_of_the_patient_is_no_relative(text, expected):
    assert extract(text).current_medications == expected


@pytest.mark.parametrize(
    "text",
    [
        "现病史：平时吃着华法林？患者不确定。诊断：腰痛。",
        "现病史：一直吃阿司匹林?家属回去看药盒。",
    ],
)
def test_a_question_mark_right_after_the_drug_is_a_question(text):
    assert extract(text).current_medications == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # unsectioned: the splitter opens 现病史 at 服用 / 一直吃, the marker is read across it
        (
            "王大爷房颤好几年，平常服用华法林两片半，今天牙疼，开布洛芬缓释胶囊零点三克一天两次，吃三天。",
            ("华法林",),
        ),
        (
            "老赵冠心病，氯吡格雷一直吃着，膝盖疼，开双氯芬酸钠缓释片七十五毫克一天一次，吃三天。",
            ("氯吡格雷",),
        ),
        (
            "患者房颤，平常服用利伐沙班十五毫克，今天牙疼，开布洛芬缓释胶囊零点三克一天两次，吃五天。",
            ("利伐沙班",),
        ),
        # "not to be stopped" said before the marker after the drug
        ("现病史：华法林不能停，一直在吃。诊断：腰痛。", ("华法林",)),
        ("现病史：阿司匹林没停过，一直吃着。", ("阿司匹林",)),
        ("现病史：睡眠不好，每晚吃半片艾司唑仑。诊断：失眠。", ("艾司唑仑",)),
    ],
)
def test_markers_cut_off_by_an_inferred_section_or_a_keep_phrase_are_read(text, expected):
    assert extract(text).current_medications == expected


def test_the_doctors_correction_of_the_section_a_drug_was_read_from_clears_it():
    text = (
        "现病史：腰痛三天，平时吃着华法林。既往史：房颤，华法林抗凝。诊断：腰肌劳损。"
        "处理：布洛芬缓释胶囊0.3克一天两次口服，五天。"
    )
    v = visit(text=text)
    assert v.case.patient.current_medications == ("华法林",)
    # 既往史 still names warfarin but does not say it is taken: the drug was read from 现病史 only
    v2 = revise(v, sections={"现病史": "腰痛三天，华法林上个月已停用。"})
    assert v2.case.patient.current_medications == ()
    assert not any(f.finding.rule_id == "RX-DDI-020" for f in v2.findings)
    # read again from the new text of another section
    v3 = revise(v, sections={"现病史": "腰痛三天。", "既往史": "房颤，一直在吃华法林。"})
    assert v3.case.patient.current_medications == ("华法林",)
    # an edit saying it is stopped wins over an untouched section that says it is taken
    both = visit(
        text="现病史：平时吃着华法林。既往史：房颤，一直吃华法林。诊断：腰肌劳损。"
        "处理：布洛芬缓释胶囊0.3克一天两次口服，五天。"
    )
    assert both.case.patient.current_medications == ("华法林",)
    assert revise(both, sections={"现病史": "华法林上周停了。"}).case.patient.current_medications == ()
    # editing a section the drug was not read from keeps it
    v4 = revise(v, sections={"既往史": "房颤。"})
    assert v4.case.patient.current_medications == ("华法林",)


def test_deleting_the_continued_line_keeps_the_home_drug_in_the_audit():
    v = visit(
        text="现病史：房颤，平时吃着华法林，每天3毫克。诊断：心房颤动；膝骨关节炎。"
        "处理：华法林钠片3毫克一天一次口服，三十天。布洛芬缓释胶囊0.3克一天两次口服，五天。"
    )
    # continued as a line: the line covers it (no home drug, the interaction is between the two lines)
    assert v.case.patient.current_medications == ()
    assert any(f.finding.rule_id == "RX-DDI-020" for f in v.findings)
    assert not any(f.finding.evidence.get("current_medication") for f in v.findings)
    # the doctor deletes the warfarin row: the patient still takes it at home
    v2 = revise(v, items=[it for it in v.items if "华法林" not in it.drug])
    assert [i.drug for i in v2.items] == ["布洛芬缓释胶囊"]
    assert v2.case.patient.current_medications == ("华法林",)
    hits = [f for f in v2.findings if f.finding.rule_id == "RX-DDI-020"]
    assert hits and hits[0].finding.evidence.get("current_medication") == "华法林"
    # and puts it back: covered by its line again
    v3 = revise(v2, items=[*v2.items, *[it for it in v.items if "华法林" in it.drug]])
    assert v3.case.patient.current_medications == ()


def test_the_demo_table_keeps_the_audit_right_both_ways():
    from toolkit import demo_api as api
    from toolkit.demo_app import views

    draft = api.draft_record(
        "现病史：房颤，平时吃着华法林，每天3毫克。诊断：心房颤动；膝骨关节炎。"
        "处理：华法林钠片3毫克一天一次口服，三十天。布洛芬缓释胶囊0.3克一天两次口服，五天。"
    )
    rows = views.item_rows(draft.case.prescription.items)
    assert len(rows) == 2 and draft.case.patient.current_medications == ()
    # the warfarin row deleted in the table: warfarin at home, the interaction stays
    no_war = api.redraft(draft, views.section_values(draft), [r for r in rows if "华法林" not in str(r[0])])
    assert no_war.case.patient.current_medications == ("华法林",)
    assert "RX-DDI-020" in {f.rule_id for f in no_war.report.findings}
    assert "在用药品 华法林" in views.facts_markdown(no_war)
    # the row put back: covered by its line, no home drug
    back = api.redraft(no_war, views.section_values(no_war), rows)
    assert back.case.patient.current_medications == ()
    assert "RX-DDI-020" in {f.rule_id for f in back.report.findings}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the drug switched to, said as done in the history, is taken now (the one switched from is not)
        ("现病史：平时吃着华法林，上周住院以后医生给换成达比加群了。诊断：腰痛。", ("达比加群酯",)),
        (
            "现病史：二甲双胍吃了拉肚子，自己停了，改吃格列齐特一天一片。诊断：2型糖尿病。"
            "处理：阿卡波糖片50毫克一天三次口服。",
            ("格列齐特",),
        ),
        # a switch said as today's plan or advice, or in an unnamed section, is not read
        ("现病史：平时吃着硝苯地平，今天换成氨氯地平。", ()),
        ("现病史：平时吃着硝苯地平，建议改用氨氯地平。", ()),
        ("平时吃着硝苯地平，后来换成氨氯地平了，开布洛芬缓释胶囊零点三克一天两次。", ()),
        # the switch not said as done
        ("现病史：硝苯地平换成氨氯地平。", ()),
    ],
)
def test_a_switch_target_said_as_done_in_the_history_is_current(text, expected):
    assert extract(text).current_medications == expected


@pytest.mark.parametrize(
    "text",
    [
        # review-2: the teller of the history, a relative named before the patient again, a likeness
        "家属代诉：患者华法林一直在吃。",
        "她婆婆去世了，本人房颤，华法林一直在吃。",
        "跟她婆婆一样，也在吃华法林。",
    ],
)
def test_the_patients_drug_is_read_though_a_relative_is_named(text):
    assert extract(text).current_medications == ("华法林",)
