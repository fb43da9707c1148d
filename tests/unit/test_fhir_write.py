"""toolkit.fhir.write: every output validates with fhir.resources R4B AND, independently, against the
official FHIR R4 JSON schema (tests/fixtures/fhir) and the invariants of toolkit.fhir.validate;
DetectedIssue carries ActCode and evidence.detail; the record/case is a document Bundle; write → read
gives the same audit (issue 14, "FHIR output")."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fhir.resources")
pytest.importorskip("ucumvert")
pytest.importorskip("jsonschema")

from tests.unit.test_service_fhir import fhir_bundle
from toolkit.audit import audit
from toolkit.fhir import codes as C
from toolkit.fhir import validate, write
from toolkit.fhir.read import bundle_to_case
from toolkit.records import AuditCase, Category, Finding, Severity

SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "fhir.r4.schema.json.gz"
SCHEMA_SHA256 = "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d"
ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    raw = gzip.decompress(SCHEMA.read_bytes())
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "the vendored FHIR schema changed"
    return json.loads(raw)


@lru_cache(maxsize=64)
def _validator(rtype: str) -> Any:
    import jsonschema

    return jsonschema.Draft6Validator(
        {"$ref": f"#/definitions/{rtype}", "definitions": _schema()["definitions"]}
    )


def schema_errors(resource: dict[str, Any]) -> list[str]:
    return [
        f"{list(e.absolute_path)}: {e.message[:200]}"
        for e in _validator(resource["resourceType"]).iter_errors(resource)
    ]


def check_valid(resource: dict[str, Any]) -> None:
    """R4B model + R4 JSON schema + explicit invariants, on the resource and every entry."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert schema_errors(resource) == []
    for e in resource.get("entry") or ():
        get_fhir_model_class(e["resource"]["resourceType"]).model_validate(e["resource"])
    assert validate.problems(resource) == []


def example_case() -> AuditCase:
    return AuditCase.model_validate(
        {
            "id": "RX-DOC-1",
            "visit_date": "2026-11-20",
            "patient": {
                "age": 72,
                "sex": "F",
                "weight_kg": 60,
                "allergies": ["青霉素"],
                "pregnant": False,
                "diagnoses": [
                    {"name": "2型糖尿病", "icd10": "E11.9"},
                    {"name": "急性支气管炎", "icd10": "J20.9"},
                ],
                "labs": {"egfr": 25, "potassium": 4.2, "hba1c": 8.1},
            },
            "record": {
                "主诉": "咳嗽3天 <发热>",
                "现病史": "3天前受凉后咳嗽，咳黄痰。",
                "诊断": "急性支气管炎；2型糖尿病",
            },
            "vitals": {"sbp": 150, "dbp": 90, "heart_rate": 80},
            "prescription": {
                "id": "RX-DOC-1",
                "items": [
                    {
                        "drug": "阿莫西林胶囊",
                        "strength": "0.25 g",
                        "dose": 0.5,
                        "unit": "g",
                        "frequency": "tid",
                        "route": "口服",
                        "days": 5,
                    },
                    {
                        "drug": "二甲双胍片",
                        "strength": "0.5 g",
                        "dose": 0.5,
                        "unit": "g",
                        "frequency": "q12h",
                        "route": "口服",
                        "days": 28,
                    },
                    {
                        "drug": "阿托伐他汀钙片",
                        "strength": "20 mg",
                        "dose": 20,
                        "unit": "mg",
                        "frequency": "qn",
                        "route": "口服",
                        "days": 28,
                    },
                ],
            },
        }
    )


def test_schema_fixture_is_a_real_validator() -> None:
    ok = {"resourceType": "DetectedIssue", "status": "final", "severity": "high"}
    assert schema_errors(ok) == []
    assert schema_errors({**ok, "severity": "fatal"})  # a code outside the required value set
    assert schema_errors({**ok, "status": 3})
    assert schema_errors({**ok, "implicated": {"reference": "x"}})  # not an array


def test_detected_issues_carry_actcode_and_evidence_references(shipped_kb: Any) -> None:
    fc = bundle_to_case(fhir_bundle(), kb=shipped_kb)
    report = audit(fc.case, shipped_kb)
    out = write.report_to_bundle(report, fc, "a1")
    check_valid(out)
    issues = {
        i["code"]["coding"][1]["code"]: i
        for i in (e["resource"] for e in out["entry"])
        if i["resourceType"] == "DetectedIssue"
    }
    acts = {
        rid: [c["code"] for c in i["code"]["coding"] if c["system"] == C.ACTCODE] for rid, i in issues.items()
    }
    assert acts["RX-ALG-001"] == ["ALGY"]
    assert acts["RX-DOSE-002"] == ["DOSEH"]
    assert acts["RX-CI-049"] == ["LAB"]  # renal: a lab-based contraindication
    assert acts["RX-IND-024"] == []  # no ActCode for a missing indication: only the project's codes
    alg, met = issues["RX-ALG-001"], issues["RX-CI-049"]
    assert alg["evidence"][-1]["detail"] == [{"reference": "urn:uuid:4"}]  # the AllergyIntolerance entry
    assert {"reference": "Observation/o1"} in met["evidence"][-1]["detail"]  # the eGFR actually used (25)
    assert {"reference": "Observation/o0"} not in met["evidence"][-1]["detail"]  # not the older one
    assert met["implicated"] == [{"reference": "MedicationRequest/mr-met"}]


def test_actcode_per_category() -> None:
    def f(cat: Category, **ev: Any) -> str | None:
        return C.actcode_for(
            Finding(rule_id="RX-X-1", category=cat, severity=Severity.WARN, message="m", evidence=ev)
        )

    assert f(Category.INTERACTION) == "DRG" and f(Category.DUPLICATE_THERAPY) == "DUPTHPY"
    assert f(Category.CONTRAINDICATION) == "COND" and f(Category.FREQUENCY) == "DOSEIVL"
    assert (
        f(Category.DOSE, single=0.1, limit=0.5) == "DOSEL" and f(Category.DOSE, daily=3, limit=2) == "DOSEH"
    )
    assert f(Category.SPECIAL_POPULATION, population="pregnancy") == "PREG"
    assert f(Category.SPECIAL_POPULATION, population="lactation") == "LACT"
    assert f(Category.SPECIAL_POPULATION, population="elderly") == "AGE"
    assert f(Category.DAYS_SUPPLY, days=30, limit=7) == "DOSEDURH" and f(Category.DAYS_SUPPLY) == "DOSEDUR"
    assert {f(c) for c in C.NO_ACTCODE} == {None}
    assert set(C.ACT_DISPLAY) >= {f(c) for c in Category if f(c)}


def test_operation_outcome_and_capability_statement() -> None:
    oo = write.outcome_for_error(422, "body.entry[3].resource.valueQuantity.unit", "unit 'x' not accepted")
    check_valid(oo)
    assert oo["issue"][0] == {
        "severity": "error",
        "code": "invalid",
        "diagnostics": "unit 'x' not accepted",
        "expression": ["Bundle.entry[3].resource.valueQuantity.unit"],
    }
    assert write.outcome_for_error(500, "", "internal error")["issue"][0]["severity"] == "fatal"
    assert write.outcome_for_error(401, "header.authorization", "no")["issue"][0].get("expression") is None
    cs = write.capability_statement("0.1.0", "2026.12", "http://127.0.0.1:8000", jwt=True)
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    CapabilityStatement.model_validate(cs)
    # the published R4 schema's fhirVersion enum stops at 3.5.0 (it predates 4.0.1 and R4B's 4.3.0):
    # everything else of the statement is checked against it
    assert any("fhirVersion" in e for e in schema_errors(cs))
    assert schema_errors({**cs, "fhirVersion": "3.5.0"}) == []
    assert (
        cs["rest"][0]["operation"][0]["name"] == "audit" and "JWT" in cs["rest"][0]["security"]["description"]
    )


def test_the_case_as_a_document_bundle_is_valid_and_complete() -> None:
    doc = write.case_to_document(example_case())
    check_valid(doc)
    assert doc["type"] == "document" and doc["identifier"]["value"].startswith("urn:uuid:")
    entries = [e["resource"] for e in doc["entry"]]
    assert all(e["fullUrl"].startswith("urn:uuid:") for e in doc["entry"])
    comp = entries[0]
    assert comp["resourceType"] == "Composition"
    titles = [s["title"] for s in comp["section"]]
    assert titles == ["主诉", "现病史", "既往史", "过敏史", "体格检查", "辅助检查", "诊断", "处理"]
    sec = {s["title"]: s for s in comp["section"]}
    assert "咳嗽3天 &lt;发热&gt;" in sec["主诉"]["text"]["div"]  # the record text, escaped
    assert sec["既往史"]["emptyReason"]["coding"][0]["code"] == "unavailable"
    assert (
        len(sec["处理"]["entry"]) == 3 and len(sec["诊断"]["entry"]) == 2 and len(sec["过敏史"]["entry"]) == 1
    )
    types = [r["resourceType"] for r in entries]
    assert {
        "Patient",
        "Encounter",
        "Condition",
        "AllergyIntolerance",
        "MedicationRequest",
        "Observation",
    } <= set(types)
    alg = next(r for r in entries if r["resourceType"] == "AllergyIntolerance")
    assert alg["clinicalStatus"]["coding"][0]["code"] == "active"  # ait-1
    met = next(
        r
        for r in entries
        if r["resourceType"] == "MedicationRequest" and "二甲双胍" in r["medicationCodeableConcept"]["text"]
    )
    assert met["dosageInstruction"][0]["timing"]["repeat"] == {
        "frequency": 1,
        "period": 12,
        "periodUnit": "h",
        "boundsDuration": met["dosageInstruction"][0]["timing"]["repeat"]["boundsDuration"],
    }


def test_the_invariant_checks_catch_what_they_claim() -> None:
    doc = write.case_to_document(example_case())
    bad = copy.deepcopy(doc)
    alg = next(e["resource"] for e in bad["entry"] if e["resource"]["resourceType"] == "AllergyIntolerance")
    del alg["clinicalStatus"]
    assert any(p.startswith("entry") and "ait-1" in p for p in validate.problems(bad))
    bad = copy.deepcopy(doc)
    bad["entry"][3]["resource"]["subject"] = {"reference": "Patient/nowhere"}
    assert any("does not resolve" in p for p in validate.problems(bad))
    bad = copy.deepcopy(doc)
    bad["entry"] = bad["entry"][1:] + bad["entry"][:1]
    assert any("bdl-11" in p for p in validate.problems(bad))
    bad = copy.deepcopy(doc)
    bad["entry"][2]["fullUrl"] = bad["entry"][1]["fullUrl"]
    assert any("bdl-7" in p for p in validate.problems(bad))
    bad = copy.deepcopy(doc)
    bad["entry"][1]["fullUrl"] = "Patient/patient"
    assert any("neither absolute nor a urn" in p for p in validate.problems(bad))
    bad = copy.deepcopy(doc)
    del bad["identifier"]
    assert any("bdl-9" in p for p in validate.problems(bad))
    bad = copy.deepcopy(doc)
    bad["entry"][0]["resource"]["section"][2] = {"title": "既往史"}
    assert any("cmp-1" in p for p in validate.problems(bad))


def test_record_export_through_the_writer() -> None:
    pytest.importorskip("toolkit.extract")
    from toolkit.extract import extract

    text = (
        "主诉：咳嗽3天。现病史：3天前受凉后咳嗽。过敏史：青霉素过敏。查体：血压150/90mmHg。"
        "诊断：急性支气管炎。处理：阿莫西林胶囊0.5g 每日三次 口服 5天。"
    )
    record = extract(text)
    doc = write.record_to_document(record, patient_id="p1", encounter_id="e1")
    check_valid(doc)
    kinds = [e["resource"]["resourceType"] for e in doc["entry"]]
    assert kinds[0] == "Composition" and "Patient" in kinds and "AllergyIntolerance" in kinds


def _sig(report: Any) -> list[tuple[str, str, tuple[int, ...]]]:
    return sorted((f.rule_id, f.severity.value, f.items) for f in report.findings)


def test_round_trip_write_then_read_gives_the_same_audit(shipped_kb: Any) -> None:
    """Every case of the audit evaluation set: case → document Bundle → read → the same findings."""
    cases = []
    for line in (ROOT / "eval" / "data" / "audit_cases.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            c = AuditCase.model_validate({"id": d["id"], **d["case"]})
            if c.prescription.items:
                cases.append(c.model_copy(update={"visit_date": c.visit_date or "2026-11-20"}))
    cases.append(example_case())
    assert len(cases) > 200
    differing = []
    for c in cases:
        doc = write.case_to_document(c)
        fc = bundle_to_case(doc, kb=shipped_kb)
        if _sig(audit(c, shipped_kb)) != _sig(audit(fc.case, shipped_kb)):
            differing.append(c.id)
    assert differing == []
    check_valid(write.case_to_document(cases[0]))


def test_identified_date_is_timezone_aware(shipped_kb: Any) -> None:
    fc = bundle_to_case(fhir_bundle(), kb=shipped_kb)
    report = audit(fc.case, shipped_kb)
    issue = write.finding_to_issue(report.findings[0], fc, report, "i1", datetime.now(UTC))
    assert issue["identifiedDateTime"].endswith(("Z", "+00:00"))
