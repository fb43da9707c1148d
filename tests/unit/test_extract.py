"""The extractor end to end: offsets, record fields, audit case, FHIR, bad input, CLI, gold set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("spacy")

from toolkit.errors import InputError, KnowledgeError
from toolkit.extract import EntityLabel, ExtractOptions, Extractor, extract, get_extractor
from toolkit.extract.gold import compile_gold, load_gold, parse_case
from toolkit.records import AuditCase

ROOT = Path(__file__).resolve().parents[2]
GOLD = ROOT / "eval" / "data" / "extract_gold.jsonl"
GOLD_SRC = ROOT / "eval" / "data" / "extract_gold.src.txt"

DICTATION = (
    "患者男性六十五岁主诉头晕三天三天前无明显诱因出现头晕没有恶心呕吐既往有糖尿病病史五年青霉素过敏"
    "查体血压一百六十九十五心率七十八空腹血糖七点八诊断考虑高血压2型糖尿病"
    "给他开氨氯地平片五毫克一天一次每次一片口服二甲双胍零点五克一天两次饭后吃都开一个月嘱低盐饮食"
)


@pytest.fixture(scope="module")
def record():
    return extract(DICTATION)


def test_every_entity_points_at_its_text(record) -> None:
    assert record.entities
    for e in record.entities:
        assert DICTATION[e.start : e.end] == e.text
        assert e.label in EntityLabel


def test_record_fields_are_parsed_into_data(record) -> None:
    assert record.age == 65 and record.sex == "M"
    assert (record.vitals.sbp, record.vitals.dbp, record.vitals.heart_rate) == (160, 95, 78)
    assert record.labs == {"fpg": 7.8}
    assert [(d.name, d.icd10) for d in record.diagnoses] == [("高血压", "I10"), ("2型糖尿病", "E11.9")]
    assert ("糖尿病", "E14.9") in [(d.name, d.icd10) for d in record.history]
    assert record.allergies == ("青霉素",)
    names = [s.name for s in record.sections]
    assert names[:2] == ["主诉", "现病史"] and {
        "既往史",
        "过敏史",
        "体格检查",
        "诊断",
        "处理",
        "健康指导",
    } <= set(names)


def test_prescription_items_are_complete_and_nothing_is_guessed(record) -> None:
    amlo, metf = record.items
    assert (amlo.drug_id, amlo.strength, amlo.dose, amlo.unit, amlo.frequency, amlo.route, amlo.days) == (
        "amlodipine",
        "5 mg",
        1.0,
        "片",
        "qd",
        "口服",
        30.0,
    )
    # 二甲双胍零点五克一天两次 with no count of tablets: 0.5 g is the dose as said (issue 13), not a strength
    assert (metf.drug_id, metf.dose, metf.unit, metf.frequency, metf.days, metf.note) == (
        "metformin",
        0.5,
        "g",
        "bid",
        30.0,
        "饭后",
    )
    assert metf.strength is None and metf.route is None  # not said: left empty


def test_negated_symptoms_are_flagged(record) -> None:
    flags = {e.text: e.negated for e in record.entities if e.label is EntityLabel.SYMPTOM}
    assert flags["恶心"] is True and flags["头晕"] is False


def test_record_becomes_an_audit_case(record) -> None:
    case = record.to_audit_case("visit-1", visit_date="2026-11-23")
    assert isinstance(case, AuditCase)
    assert case.patient.allergies == ("青霉素",)
    assert {d.icd10 for d in case.patient.diagnoses} >= {"I10", "E11.9"}
    assert case.patient.labs == {"fpg": 7.8}
    assert case.record["诊断"].startswith("诊断考虑")
    assert [i.drug for i in case.prescription.items] == ["氨氯地平片", "二甲双胍"]


def test_record_to_audit_findings() -> None:
    audit_mod = pytest.importorskip("toolkit.audit", reason="audit engine not importable yet")
    from toolkit.knowledge import get_knowledge

    rec = extract("患者女三十岁孕二十周诊断高血压给她开缬沙坦胶囊八十毫克一天三次口服七天")
    assert rec.pregnant is True
    report = audit_mod.audit(rec.to_audit_case("preg-1"), get_knowledge())
    categories = {f.category.value for f in report.findings}
    assert report.status == "flagged"
    assert "frequency" in categories  # tid above the label's once daily
    assert any("缬沙坦" in f.message for f in report.findings)


def test_fhir_bundle_has_the_blood_pressure_profile(record) -> None:
    pytest.importorskip("fhir.resources")
    bundle = record.to_fhir(patient_id="p1", encounter_id="e1")
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types.count("MedicationRequest") == 2 and "AllergyIntolerance" in types and "Encounter" in types
    bp = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "bp")
    assert bp["code"]["coding"][0]["code"] == "85354-9"
    comps = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in bp["component"]}
    assert comps == {"8480-6": 160, "8462-4": 95}
    cond = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Condition"
        and e["resource"]["category"][0]["coding"][0]["code"] == "encounter-diagnosis"
    ]  # history: problem list
    assert {c["code"]["coding"][0]["code"] for c in cond} == {"I10", "E11.9"}


def test_empty_text_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="empty"):
        extract("   ")


def test_very_long_text_is_refused_with_the_limit() -> None:
    with pytest.raises(InputError, match="100000 characters"):
        extract("头晕" * 50_000)


def test_non_text_is_refused() -> None:
    with pytest.raises(InputError, match="string"):
        extract(123)  # type: ignore[arg-type]


def test_mixed_scripts_and_full_width_digits_keep_offsets() -> None:
    text = "Pt 头晕 😀 BP １６０／１００ｍｍＨｇ HR 88 dx: 高血压 Rx amlodipine 5 mg qd po ×14天"
    rec = extract(text)
    for e in rec.entities:
        assert text[e.start : e.end] == e.text
    assert (rec.vitals.sbp, rec.vitals.dbp, rec.vitals.heart_rate) == (160, 100, 88)
    assert any(e.label is EntityLabel.DRUG and e.normalized == "amlodipine" for e in rec.entities)


def test_learned_model_slot_adds_its_spans() -> None:
    class Dummy:
        name = "dummy"

        def predict(self, text: str) -> list[tuple[int, int, str, str | None]]:
            i = text.index("眼冒金星")
            return [(i, i + 4, "symptom", None)]

    ex = Extractor(ExtractOptions(), model=Dummy())
    assert "clinic_learned_ner" in ex.nlp.pipe_names
    rec = ex.extract("今天眼冒金星")
    assert [(e.text, e.source) for e in rec.entities] == [("眼冒金星", "model")]


def test_a_bad_lexicon_file_is_reported_with_file_and_path(tmp_path: Path) -> None:
    lex = ROOT / "rules" / "lexicon"
    for f in lex.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    bad = (tmp_path / "diagnoses.yaml").read_text(encoding="utf-8").replace("icd10: I10,", "icd10: I1O,", 1)
    (tmp_path / "diagnoses.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"rules/lexicon/diagnoses.yaml -> diagnoses -> 0 -> icd10"):
        Extractor(ExtractOptions(lexicon_dir=str(tmp_path)))


def test_cli_writes_one_line_per_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from toolkit.cli.main import app

    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "text": DICTATION}, ensure_ascii=False),
                json.dumps({"id": "b", "text": ""}),
                "{broken",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["extract", str(src), "--format", "jsonl", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "line-3"]
    assert rows[0]["error"] is None and rows[1]["error"] and rows[2]["error"]
    for ent in rows[0]["entities"]:
        assert set(ent) == {"label", "start", "end", "text", "normalized"}
        assert DICTATION[ent["start"] : ent["end"]] == ent["text"]
    assert rows[0]["record"]["items"][0]["drug_id"] == "amlodipine"


def test_gold_set_is_consistent() -> None:
    if not GOLD.is_file():
        pytest.skip("gold set not present")
    cases = load_gold(GOLD)  # raises when an offset does not match its text
    assert len(cases) >= 120
    assert len({c["id"] for c in cases}) == len(cases)
    splits = {c["split"] for c in cases}
    assert {"dev", "test"} <= splits and all(s in ("dev",) or s.startswith("test") for s in splits)
    if GOLD_SRC.is_file():  # the JSONL is compiled from the marked-up source: they must agree
        assert compile_gold(GOLD_SRC) == cases


def test_gold_markup_rejects_unknown_labels() -> None:
    with pytest.raises(InputError, match="unknown label"):
        parse_case("@ id=x", "[头晕|symptm]", "test")


def test_gold_entities_come_back_from_the_extractor_with_their_offsets() -> None:
    if not GOLD.is_file():
        pytest.skip("gold set not present")
    ex = get_extractor()
    for case in load_gold(GOLD)[:40]:
        rec = ex.extract(case["text"])
        for e in rec.entities:
            assert case["text"][e.start : e.end] == e.text
