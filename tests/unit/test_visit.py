"""toolkit.visit and ``clinic visit``: dictation text → record, items, audit, care plan, offsets, seconds.

Text input runs the real extractor (spaCy, shipped KB); audio is represented by a hand-built
Transcript (segments with seconds), so no Whisper model is needed.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from toolkit.asr.records import Transcript, TranscriptSegment
from toolkit.errors import InputError
from toolkit.visit import Header, redictate, revise, visit

pytest.importorskip("spacy")

HTN = (
    "患者男七十二岁，复诊。既往高血压十年，否认药物过敏史。查体血压一百六十八十八。"
    "加用依那普利十毫克每天一次，缬沙坦八十毫克每天一次，都开四周。"
)
ABX = (
    "患者女四十岁，咽痛三天。青霉素过敏。查体咽部充血，扁桃体二度肿大。诊断急性扁桃体炎。"
    "处理：阿莫西林胶囊0.5克一天三次口服，开五天。"
)


def _rules(v) -> set[str]:
    return {f.finding.rule_id for f in v.findings}


def test_a_dictation_becomes_items_with_the_dose_said_and_the_pair_is_checked():
    v = visit(text=HTN, id="v-1")
    assert [(i.drug_id, i.dose, i.unit, i.frequency, i.days) for i in v.items] == [
        ("enalapril", 10.0, "mg", "qd", 28.0),
        ("valsartan", 80.0, "mg", "qd", 28.0),
    ]
    assert all(i.strength is None for i in v.items)
    ddi = [f for f in v.findings if f.finding.category.value == "interaction"]
    assert ddi and set(ddi[0].lines) == {1, 2}
    # no "missing" finding for a field that was said
    assert not any(
        f.finding.rule_id == "RX-FMT-003" and ("剂量" in f.finding.message or "频次" in f.finding.message)
        for f in v.findings
    )


def test_a_colloquial_short_name_is_prescribed_and_audited_by_its_full_name():
    text = "诊断2型糖尿病 处理 甘精十二个单位睡前皮下注射 二甲零点五克一天三次 都开一个月"
    v = visit(text=text, id="v-short")
    assert [(i.drug, i.drug_id, text[i.start : i.start + 2]) for i in v.items] == [
        ("甘精胰岛素", "insulin_glargine", "甘精"),
        ("二甲双胍", "metformin", "二甲"),
    ]
    assert "RX-FMT-007" not in _rules(v)  # both known to the audit, none left for manual review
    # a name that only starts like a short name stays as said (阿托品 is not 阿托伐他汀)
    other = visit(text="处理 阿托品零点五毫克肌注一次", id="v-near")
    assert [i.drug for i in other.items] == ["阿托品"]


def test_every_item_and_finding_points_back_to_the_words():
    v = visit(text=HTN)
    for it in v.items:
        assert it.start is not None and v.text[it.start : it.end].startswith(it.drug)
    for f in v.findings:
        for s in f.spans:
            assert v.text[s.start : s.end] == s.text
    assert v.case.prescription.items[0].drug == v.items[0].drug


def test_a_penicillin_allergy_blocks_amoxicillin_and_the_span_names_the_allergen():
    v = visit(text=ABX)
    alg = [f for f in v.findings if f.finding.category.value == "allergy"]
    assert alg and alg[0].finding.severity.value == "block"
    assert "青霉素" in {s.text for s in alg[0].spans}


def test_seconds_come_from_the_segments_of_the_recording():
    segs = (
        TranscriptSegment(start=0.0, end=6.5, text="患者女四十岁，咽痛三天。青霉素过敏。"),
        TranscriptSegment(start=6.5, end=14.0, text="查体咽部充血，扁桃体二度肿大。诊断急性扁桃体炎。"),
        TranscriptSegment(start=14.0, end=21.0, text="处理：阿莫西林胶囊0.5克一天三次口服，开五天。"),
    )
    t = Transcript(text="".join(s.text for s in segs), segments=segs, model="fake")
    v = visit(transcript=t)
    assert v.provenance.source == "audio" and len(v.segments) == 3
    (amox,) = v.items
    assert (amox.start_s, amox.end_s) == (14.0, 21.0)
    alg = next(f for f in v.findings if f.finding.category.value == "allergy")
    assert any(s.start_s == 0.0 for s in alg.spans)  # the allergy was said in the first segment


def test_a_typed_allergy_is_read_into_the_facts_and_blocks_on_re_audit():
    v = visit(text=ABX.replace("青霉素过敏。", "否认药物过敏史。"))
    assert v.case.patient.allergies == () and "RX-ALG-001" not in _rules(v)
    v2 = revise(v, sections={"过敏史": "青霉素过敏"})
    assert v2.case.patient.allergies == ("青霉素",)
    assert any(
        f.finding.category.value == "allergy" and f.finding.severity.value == "block" for f in v2.findings
    )
    assert v2.provenance.edited_sections == ("过敏史",)
    # and deleting it again removes the block
    v3 = revise(v2, sections={"过敏史": "否认药物过敏史"})
    assert v3.case.patient.allergies == () and not any(
        f.finding.category.value == "allergy" for f in v3.findings
    )


def test_typed_age_and_diagnosis_reach_the_facts():
    v = visit(text="头晕三天。诊断高血压。氨氯地平五毫克每天一次，开四周。")
    assert v.case.patient.age is None
    assert revise(v, header={"age": 80}).case.patient.age == 80
    v2 = revise(v, sections={"主诉": "患者男八十二岁，头晕三天", "诊断": "高血压，2型糖尿病"})
    assert v2.case.patient.age == 82 and v2.case.patient.sex == "M"
    assert {d.icd10 for d in v2.case.patient.diagnoses} >= {"I10", "E11.9"}


def test_table_edits_win_and_exports_carry_the_one_edited_prescription():
    v = visit(text=HTN)
    rows = [
        v.items[0].to_prescription_item(),
        {"drug": "氨氯地平", "dose": 5, "unit": "mg", "frequency": "qd", "days": 28},
        {"drug": "阿托伐他汀", "dose": 20, "unit": "mg", "frequency": "qn", "days": 28},
    ]
    v2 = revise(v, items=rows)
    assert [i.drug for i in v2.case.prescription.items] == ["依那普利", "氨氯地平", "阿托伐他汀"]
    assert [i.origin for i in v2.items] == ["dictation", "added", "added"]
    assert v2.provenance.edited_lines == (2, 3)
    assert not any(
        f.finding.category.value == "interaction" and f.finding.rule_id == "RX-DDI-001" for f in v2.findings
    )  # valsartan removed: no ACEI + ARB
    doc = v2.contract()
    assert [i["drug"] for i in doc["prescription"]["items"]] == [i["drug"] for i in doc["items"]]
    assert len(doc["items"]) == 3
    pytest.importorskip("fhir.resources")
    meds = [e for e in v2.to_fhir()["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
    assert len(meds) == 3


def test_changing_the_dictation_keeps_the_doctors_edits():
    v = visit(text=ABX)
    edited = revise(
        v,
        sections={"主诉": "咽痛三天伴发热"},
        items=[{"drug": "阿奇霉素片", "dose": 0.5, "unit": "g", "frequency": "qd", "days": 3}],
    )
    again = redictate(edited, edited.text.replace("咽痛三天。", "咽痛四天。"))
    assert again.sections["主诉"] == "咽痛三天伴发热"
    assert [i.drug for i in again.items] == ["阿奇霉素片"]
    # an untouched row takes the new reading
    plain = redictate(v, v.text.replace("0.5克", "0.25克"))
    assert plain.items[0].dose == 0.25


def test_a_default_route_is_marked_as_not_said():
    v = visit(text="诊断高血压。氨氯地平五毫克每天一次，开四周。")
    (it,) = v.items
    assert it.route == "口服" and it.defaults == ("route",)
    assert v.dictated.items[0].route is None  # the record keeps what was said


@pytest.mark.parametrize(
    ("text", "route"),
    [
        # the form said in the name has one route, though the drug also has an injection
        ("诊断骨关节炎。曲马多缓释片五十毫克一天两次，开七天。", "口服"),
        # every form can be swallowed (a plain and a chewable tablet)
        ("诊断骨质疏松。碳酸钙片零点六克一天一次，开四周。", "口服"),
        # dosed in tablets: the tablet, not the injection
        ("诊断贫血。叶酸一次一片一天三次，开四周。", "口服"),
        # 5 mg of folic acid: a tablet or an injection — the doctor's to say
        ("诊断贫血。叶酸五毫克一天三次，开四周。", None),
    ],
)
def test_the_default_route_is_the_one_the_product_can_have(text, route):
    (it,) = visit(text=text).items
    assert it.route == route and (it.defaults == ("route",)) == (route is not None)


def test_header_and_input_errors():
    v = visit(text=HTN, header=Header(name="张三", department="全科", doctor="李医生", date="2026-12-07"))
    assert v.header.name == "张三" and v.header.age == 72 and v.header.sex == "M"
    with pytest.raises(InputError):
        visit(text="   ")
    with pytest.raises(InputError):
        revise(v, sections={"不存在": "x"})


def test_clinic_visit_writes_one_line_per_input(tmp_path):
    from toolkit.cli.main import app

    a = tmp_path / "a.txt"
    a.write_text(HTN, encoding="utf-8")
    batch = tmp_path / "b.jsonl"
    batch.write_text(
        json.dumps({"id": "x1", "text": ABX}, ensure_ascii=False) + "\nnot json\n", encoding="utf-8"
    )
    missing = tmp_path / "none.wav"
    result = CliRunner().invoke(app, ["visit", str(a), str(batch), str(missing)])
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [(d["id"], d["status"]) for d in lines] == [
        ("a", "flagged"),
        ("x1", "flagged"),
        ("b-2", "error"),
        ("none", "error"),
    ]
    assert lines[0]["visit"]["items"][0]["drug"] == "依那普利" and lines[2]["visit"] is None
    assert set(lines[0]) == {"id", "file", "status", "visit", "error"}


def test_a_low_confidence_drug_correction_is_listed_for_confirmation():
    from toolkit.asr.records import Correction

    text = "诊断2型糖尿病。处理：二甲双胍0.5克一天三次，开四周。"
    seg = TranscriptSegment(start=0.0, end=4.0, text=text)
    low = Correction(
        original="二甲双呱",
        corrected="二甲双胍",
        start=0.0,
        end=4.0,
        offset=text.index("二甲双胍"),
        kind="drug",
        term_id="metformin",
        reason="pinyin",
        score=0.7,
    )
    v = visit(transcript=Transcript(text=text, segments=(seg,), corrections=(low,)))
    (u,) = v.uncertain
    assert (u.heard, u.chosen, u.start) == ("二甲双呱", "二甲双胍", text.index("二甲双胍"))
    assert "二甲双胍" not in u.alternatives
    sure = low.model_copy(update={"score": 0.98})
    assert visit(transcript=Transcript(text=text, segments=(seg,), corrections=(sure,))).uncertain == ()


def test_an_age_read_from_the_record_is_not_frozen_as_if_typed():
    v = visit(text=HTN)  # 七十二岁 dictated
    assert v.header.age == 72 and v.typed_header.age is None
    v2 = revise(v, sections={"主诉": "患者男八十二岁，复诊"})
    assert v2.case.patient.age == 82 and v2.header.age == 82
    v3 = revise(v2, header={"age": 60})  # typed: wins over the text
    assert v3.case.patient.age == 60


def test_audio_goes_through_speech_recognition_with_seconds(tmp_path):
    """A WAV through toolkit.asr.transcribe with the faster-whisper stand-in of test_asr_fakes (no weights)."""
    import wave

    import numpy as np

    from tests.unit.test_asr_fakes import FakeModel, FakeSegment
    from toolkit.asr import TranscribeOptions

    path = tmp_path / "visit.wav"
    rng = np.random.default_rng(0)
    samples = 0.1 * np.sin(np.arange(16000 * 12) * 0.05) + 0.01 * rng.standard_normal(16000 * 12)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    model = FakeModel(
        [
            FakeSegment(0.0, 5.0, "患者女四十岁，青霉素过敏。诊断急性扁桃体炎。"),
            FakeSegment(5.0, 11.0, "处理：阿莫西林胶囊0.5克一天三次，开五天。"),
        ]
    )
    v = visit(audio=path, asr_model=model, asr_options=TranscribeOptions(vad=False, correct=False))
    assert v.provenance.source == "audio" and v.provenance.file == str(path)
    (amox,) = v.items
    assert (amox.start_s, amox.end_s) == (5.0, 11.0)
    alg = next(f for f in v.findings if f.finding.category.value == "allergy")
    assert alg.finding.severity.value == "block" and any(s.start_s == 0.0 for s in alg.spans)
