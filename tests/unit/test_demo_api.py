"""toolkit.demo_api: what the Gradio demo calls, tested without a browser, gradio, spaCy or Whisper."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from toolkit import demo_api as api
from toolkit.asr.records import Correction, Transcript, TranscriptSegment
from toolkit.errors import InputError
from toolkit.extract.records import Entity, EntityLabel, ExtractedItem, OutpatientRecord, Section
from toolkit.records import AuditReport, Diagnosis, Finding, PrescriptionItem

ROOT = Path(__file__).resolve().parents[2]


def _correction(original: str, corrected: str, offset: int) -> Correction:
    return Correction(original=original, corrected=corrected, start=0.0, end=2.0, offset=offset, kind="drug",
                      term_id=None, reason="pinyin 1.00", score=0.9)


def _transcript() -> Transcript:
    text = "二型糖尿病，二甲双胍0.5克每日三次，加用阿卡波糖50毫克"
    c1 = _correction("二甲双呱", "二甲双胍", text.index("二甲双胍"))
    c2 = _correction("阿卡波唐", "阿卡波糖", text.index("阿卡波糖"))
    return Transcript(text=text, segments=(TranscriptSegment(start=0, end=4, text=text),), corrections=(c1, c2))


# --------------------------------------------------------------------------- corrections

def test_all_corrections_kept_leaves_the_transcript_as_is():
    t = _transcript()
    assert api.apply_corrections(t, [0, 1]) == t.text


def test_unticking_a_correction_restores_its_original_words_only():
    t = _transcript()
    assert api.apply_corrections(t, [1]) == "二型糖尿病，二甲双呱0.5克每日三次，加用阿卡波糖50毫克"
    assert api.apply_corrections(t, [0]) == "二型糖尿病，二甲双胍0.5克每日三次，加用阿卡波唐50毫克"


def test_undoing_a_correction_of_different_length_keeps_later_offsets_valid():
    text = "给予倍他乐克和阿司匹林"
    t = Transcript(text=text, corrections=(_correction("美托", "倍他乐克", 2),
                                           _correction("阿斯匹林", "阿司匹林", text.index("阿司匹林"))))
    assert api.apply_corrections(t, []) == "给予美托和阿斯匹林"


def test_a_correction_that_no_longer_matches_its_offset_is_left_alone():
    t = Transcript(text="加用阿卡波糖", corrections=(_correction("二甲双呱", "二甲双胍", 0),))
    assert api.apply_corrections(t, []) == "加用阿卡波糖"


def test_correction_choices_show_original_arrow_corrected_with_index_values():
    choices = api.correction_choices(_transcript())
    assert [v for _, v in choices] == [0, 1]
    assert choices[0][0].startswith("二甲双呱 → 二甲双胍")


# --------------------------------------------------------------------------- record widgets

def test_highlight_covers_the_text_and_labels_entities_in_chinese():
    text = "头晕三天，给予氨氯地平5mg"
    ents = (Entity(label=EntityLabel.SYMPTOM, start=0, end=2, text="头晕"),
            Entity(label=EntityLabel.DRUG, start=7, end=11, text="氨氯地平"),
            Entity(label=EntityLabel.DRUG, start=8, end=10, text="氯地"),  # overlaps: dropped
            Entity(label=EntityLabel.STRENGTH, start=11, end=14, text="5mg"))
    pieces = api.highlight(text, ents)
    assert "".join(p for p, _ in pieces) == text
    assert [(p, lab) for p, lab in pieces if lab] == [("头晕", "症状"), ("氨氯地平", "药品"), ("5mg", "规格")]


def test_negated_entities_are_marked():
    pieces = api.highlight("否认胸痛", (Entity(label=EntityLabel.SYMPTOM, start=2, end=4, text="胸痛", negated=True),))
    assert pieces == [("否认", None), ("胸痛", "症状(否定)")]


def test_item_rows_round_trip_through_the_editable_table():
    items = (PrescriptionItem(drug="硝苯地平控释片", strength="30 mg", dose=30, unit="mg", frequency="qd", route="口服",
                              days=28, note="晨服"),)
    rows = api.item_rows(items)
    assert rows == [["硝苯地平控释片", "30 mg", 30, "mg", "qd", "口服", 28, "晨服"]]
    back = api.items_from_rows(rows)
    assert back[0].model_dump(exclude={"line"}) == items[0].model_dump(exclude={"line"})


def test_table_rows_skip_blank_lines_and_read_numbers_given_as_text():
    rows = [["", "", "", "", "", "", "", ""], ["二甲双胍片", "0.5 g", "0.5", "g", "tid", "口服", "30", ""],
            [None, None, float("nan"), None, None, None, None, None]]
    items = api.items_from_rows(rows)
    assert len(items) == 1 and items[0].dose == 0.5 and items[0].days == 30 and items[0].line == 1


def test_a_bad_number_in_the_table_names_the_row_and_column():
    with pytest.raises(InputError, match="第2行「天数」应为数字"):
        api.items_from_rows([["阿司匹林", "", 100, "mg", "qd", "口服", 30, ""],
                             ["氯吡格雷", "", 75, "mg", "qd", "口服", "一个月", ""]])


def test_a_row_without_a_drug_name_is_refused():
    with pytest.raises(InputError, match="第1行缺少药品名称"):
        api.items_from_rows([["", "", 5, "mg", "qd", "", "", ""]])


# --------------------------------------------------------------------------- cards

def _report(*findings: Finding, status: str = "flagged") -> AuditReport:
    return AuditReport(id="T", status=status, findings=findings)  # type: ignore[arg-type]


def _finding(sev: str, message: str = "问题", rule: str = "RX-X-001") -> Finding:
    return Finding.model_validate({"rule_id": rule, "category": "dose", "severity": sev, "message": message,
                                   "evidence": {"dose_mg": 40, "max": [20]}, "references": ["说明书"]})


def test_cards_are_coloured_by_severity_and_ordered_block_first():
    html = api.findings_html(_report(_finding("info", rule="RX-I"), _finding("block", rule="RX-B"),
                                     _finding("warn", rule="RX-W")))
    assert html.index('data-rule="RX-B"') < html.index('data-rule="RX-W"') < html.index('data-rule="RX-I"')
    assert "#b91c1c" in html and "#b45309" in html and "#1d4ed8" in html
    assert "【拦截】" in html and "依据数值：dose_mg=40；max=20" in html and "来源：说明书" in html


def test_card_text_is_escaped():
    html = api.findings_html(_report(_finding("warn", message="<script>alert(1)</script>")))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_no_findings_and_audit_errors_say_so():
    assert "未发现问题" in api.findings_html(_report(status="ok"))
    err = AuditReport(id="T", status="error", error="patient.age: <bad>")
    assert "无法审核" in api.findings_html(err) and "&lt;bad&gt;" in api.findings_html(err)


# --------------------------------------------------------------------------- drafts (no spaCy: records built by hand)

def _record() -> OutpatientRecord:
    text = "诊断原发性高血压，给予苯磺酸氨氯地平片5毫克，每日一次，口服"
    return OutpatientRecord(
        text_length=len(text), age=66, sex="M",
        sections=(Section(name="诊断", start=0, end=8, text="诊断原发性高血压"),
                  Section(name="处理", start=9, end=len(text), text=text[9:])),
        diagnoses=(Diagnosis(name="原发性高血压", icd10="I10"),),
        items=(ExtractedItem(drug="苯磺酸氨氯地平片", drug_id="amlodipine", strength="5 mg", frequency="qd",
                             route="口服", start=11, end=len(text)),))


def _draft() -> api.Draft:
    from toolkit.care import assess

    record = _record()
    case = record.to_audit_case("门诊-1")
    return api.Draft(text="…", record=record, case=case, report=api.audit_case(case), plan=assess(case))


def test_editing_the_table_is_what_gets_audited():
    draft = _draft()
    assert "RX-FMT-003" in {f.rule_id for f in draft.report.findings}  # dose, unit, days not dictated
    rows = api.item_rows(draft.case.prescription.items)
    rows[0][2], rows[0][3], rows[0][6] = 5, "mg", 28
    new = api.redraft(draft, api.section_values(draft), rows)
    assert new.case.prescription.items[0].dose == 5 and new.case.prescription.items[0].days == 28
    assert "RX-FMT-003" not in {f.rule_id for f in new.report.findings}


def test_section_edits_reach_the_audit_and_empty_sections_are_dropped():
    draft = _draft()
    sections = {**api.section_values(draft), "主诉": "头晕3天", "现病史": "   "}
    new = api.redraft(draft, sections, api.item_rows(draft.case.prescription.items))
    assert new.case.record["主诉"] == "头晕3天" and "现病史" not in new.case.record


def test_section_values_fill_guidance_and_follow_up_from_the_care_plan():
    draft = _draft()
    values = api.section_values(draft)
    assert list(values) == list(api.RECORD_SECTIONS)
    assert values["诊断"] == "诊断原发性高血压" and values["随访"] == draft.plan.to_record_fields()["随访"]


def test_care_html_shows_control_status_and_escapes():
    html = api.care_html(_draft().plan)
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
        api.case_from_json('{"patient": {"age": 300}}')
    with pytest.raises(InputError, match="JSON 格式错误：第1行"):
        api.case_from_json("{bad")
    with pytest.raises(InputError, match="一个对象"):
        api.case_from_json("[]")


def test_the_form_becomes_a_case_and_the_json_box_is_merged_over_it():
    form = api.PrescriptionForm(case_id="F-1", age=45, sex="F", allergies="青霉素；磺胺", diagnoses="急性上呼吸道感染 J06.9",
                                labs={"egfr": 80, "alt": None},
                                items=[["阿莫西林胶囊", "0.25 g", 0.5, "g", "tid", "口服", 5, ""]],
                                extra_json='{"patient": {"labs": {"potassium": 4.1}}, "record": {"主诉": "咽痛"}}')
    case = api.case_from_form(form)
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
    seen: list[tuple[int, int]] = []
    result = api.audit_file(ROOT / "toolkit" / "examples" / "cases.jsonl", tmp_path,
                            on_progress=lambda d, t: seen.append((d, t)), poll_seconds=0.05)
    assert seen[-1] == (5, 5) and all(d <= t for d, t in seen)
    assert result.excel.is_file() and result.html.is_file()
    assert result.cases == 5 and result.total.prescriptions == 5 and result.total.irrational == 3
    charts = api.batch_charts_html(result)
    assert "不合理处方率 60.0%" in charts and "问题类别" in charts
    assert sum(r[1] for r in api.doctor_rows(result)) == 5


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
    rows = api.queue_rows(store)
    assert [r[0] for r in rows] == [block_id, warn_id]
    assert rows[0][1] == "RX-2" and rows[0][2] == "拦截"
    assert "RX-2" in api.queue_detail_html(store, block_id)


def test_decisions_are_checked_then_stored_and_leave_the_queue(store):
    audit_id = api.submit_for_review(store, _report(_finding("block", rule="RX-B")))
    assert audit_id is not None
    with pytest.raises(InputError, match="需要填写理由"):
        api.decide(store, audit_id, "return", "李药师")
    with pytest.raises(InputError, match="开方医师签名"):
        api.decide(store, audit_id, "override", "李药师", reason="病情需要")
    with pytest.raises(InputError, match="审方药师"):
        api.decide(store, audit_id, "pass", " ")
    with pytest.raises(InputError, match="allowed: pass, return, override"):
        api.decide(store, audit_id, "approve", "李药师")
    assert api.queue_rows(store)[0][0] == audit_id
    msg = api.decide(store, audit_id, "override", "李药师", reason="病情需要，已告知患者", prescriber="王医生")
    assert msg.startswith("已记录：双签放行")
    decisions, _ = store.decisions(audit_id)
    assert [(d.decision, d.prescriber, d.rule_ids) for d in decisions] == [("override", "王医生", ["RX-B"])]
    assert api.queue_rows(store) == []


def test_empty_form_numbers_are_unknown_not_zero():
    assert api.parse_number("", "eGFR") is None and api.parse_number(None, "eGFR") is None
    assert api.parse_number(" 52 ", "eGFR") == 52.0
    with pytest.raises(InputError, match="「eGFR」应为数字"):
        api.parse_number("五十", "eGFR")
