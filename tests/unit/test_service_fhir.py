"""FHIR R4B mapping: Bundle → AuditCase (dosage, timing, supply, labs, age) and findings → DetectedIssue."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

pytest.importorskip("fhir.resources")

from toolkit.errors import InputError
from toolkit.service import fhir_io


def mr(
    mid: str,
    drug: str,
    *,
    value: float,
    unit: str,
    timing: dict[str, Any],
    days: dict[str, Any] | None = None,
    route: dict[str, Any] | None = None,
    authored: str = "2026-11-20",
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": authored,
        "groupIdentifier": {"value": "RX-FHIR-1"},
        "medicationCodeableConcept": {"text": drug},
        "dosageInstruction": [
            {
                "timing": timing,
                "route": route or {"text": "口服"},
                "doseAndRate": [{"doseQuantity": {"value": value, "unit": unit}}],
            }
        ],
    }
    if days is not None:
        res["dispenseRequest"] = {"expectedSupplyDuration": days}
    return res


def obs(oid: str, loinc: str, value: float, unit: str, when: str = "2026-11-18") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def condition(icd: str, name: str, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": name, "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": icd}]},
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        },
    }


def fhir_bundle() -> dict[str, Any]:
    """RX-2 of the examples as FHIR: 72-year-old woman, penicillin allergy, eGFR 25, amoxicillin + metformin."""
    entries = [
        {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1954-03-01"},
        condition("J20.9", "急性支气管炎"),
        condition("E11.9", "2型糖尿病"),
        condition("I10", "原发性高血压", status="resolved"),
        {
            "resourceType": "AllergyIntolerance",
            "patient": {"reference": "Patient/p1"},
            "code": {"text": "青霉素"},
        },
        obs("o1", "62238-1", 25, "mL/min/{1.73_m2}"),
        obs("o0", "33914-3", 60, "mL/min/{1.73_m2}", when="2025-01-01"),  # older: the latest wins
        obs("o2", "2823-3", 4.2, "mmol/L"),
        obs("o3", "29463-7", 60, "kg"),
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        },
        mr(
            "mr-amox",
            "阿莫西林胶囊",
            value=0.5,
            unit="g",
            timing={"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
            days={"value": 5, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"},
            route={"coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral"}]},
        ),
        mr(
            "mr-met",
            "二甲双胍片",
            value=0.5,
            unit="g",
            timing={
                "code": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "TID"}
                    ]
                }
            },
            days={"value": 4, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk"},
        ),
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "id": "b1",
        "entry": [{"fullUrl": f"urn:uuid:{n}", "resource": r} for n, r in enumerate(entries)],
    }


def test_bundle_maps_into_the_audit_case() -> None:
    fc = fhir_io.bundle_to_case(fhir_bundle())
    case = fc.case
    assert case.id == "RX-FHIR-1"  # groupIdentifier names the prescription
    assert (fc.request_date, fc.request_date_source) == (date(2026, 11, 20), "authoredOn")
    assert case.patient.age == 72 and case.patient.sex == "F" and case.patient.weight_kg == 60
    assert case.patient.labs == {"egfr": 25, "potassium": 4.2}
    assert case.patient.lab_dates["egfr"] == "2026-11-18"
    assert case.patient.allergies == ("青霉素",)
    assert [d.icd10 for d in case.patient.diagnoses] == ["J20.9", "E11.9"]  # resolved I10 left out
    amox, met = case.prescription.items
    assert (amox.drug, amox.dose, amox.unit, amox.frequency, amox.route, amox.days) == (
        "阿莫西林胶囊",
        0.5,
        "g",
        "tid",
        "口服",
        5,
    )
    assert (met.frequency, met.days) == ("tid", 28)
    assert fc.item_refs == ("MedicationRequest/mr-amox", "MedicationRequest/mr-met")
    assert fc.patient_ref == "Patient/p1"


@pytest.mark.parametrize(
    ("repeat", "expected"),
    [
        ({"frequency": 1, "period": 8, "periodUnit": "h"}, "q8h"),
        ({"frequency": 2, "period": 1, "periodUnit": "d"}, "bid"),
        ({"frequency": 1, "period": 2, "periodUnit": "d"}, "qod"),
        ({"frequency": 1, "period": 1, "periodUnit": "wk"}, "qw"),
        ({"frequency": 2, "period": 1, "periodUnit": "wk"}, "biw"),
        ({"frequency": 4, "period": 1, "periodUnit": "wk"}, "每周4次"),
        ({"frequency": 1, "period": 12, "periodUnit": "h"}, "q12h"),
        ({"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}, "qn"),
    ],
)
def test_timing_repeat_becomes_a_frequency_the_engine_reads(repeat: dict[str, Any], expected: str) -> None:
    b = fhir_bundle()
    b["entry"][-1]["resource"]["dosageInstruction"][0]["timing"] = {"repeat": repeat}
    assert fhir_io.bundle_to_case(b).case.prescription.items[1].frequency == expected


def test_age_falls_back_to_bundle_timestamp_then_server_date() -> None:
    b = fhir_bundle()
    for e in b["entry"]:
        e["resource"].pop("authoredOn", None)
    b["timestamp"] = "2025-02-28T10:00:00+08:00"
    fc = fhir_io.bundle_to_case(b)
    assert (fc.request_date_source, fc.case.patient.age) == ("Bundle.timestamp", 70)
    del b["timestamp"]
    fc = fhir_io.bundle_to_case(b, today=date(2030, 3, 1))
    assert (fc.request_date_source, fc.case.patient.age) == ("server date", 76)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda b: b["entry"][-1]["resource"]["dosageInstruction"][0]["doseAndRate"][0][
                "doseQuantity"
            ].__setitem__("value", "abc"),
            "entry[11].resource.dosageInstruction[0].doseAndRate[0].doseQuantity.value",
        ),
        (
            lambda b: b["entry"][0]["resource"].__setitem__("resourceType", "Patiant"),
            "entry[0].resource.resourceType",
        ),
        (
            lambda b: b["entry"][7]["resource"]["valueQuantity"].update(unit="mg/dL", code="mg/dL"),
            "entry[7].resource.valueQuantity.unit",
        ),
        (
            lambda b: b["entry"][10]["resource"]["dispenseRequest"]["expectedSupplyDuration"].update(
                unit="fortnight", code="fortnight"
            ),
            "entry[10].resource.dispenseRequest.expectedSupplyDuration",
        ),
        (
            lambda b: b["entry"][10]["resource"]["dosageInstruction"][0]["timing"]["repeat"].update(
                periodUnit="x"
            ),
            "entry[10].resource.dosageInstruction[0].timing.repeat.periodUnit",
        ),
        (lambda b: b["entry"][10]["resource"].pop("medicationCodeableConcept"), "entry[10].resource"),
        (
            lambda b: b["entry"][10]["resource"].update(medicationCodeableConcept={"coding": []}),
            "entry[10].resource.medication[x]",
        ),
        (
            lambda b: b.__setitem__(
                "entry", [e for e in b["entry"] if e["resource"]["resourceType"] != "MedicationRequest"]
            ),
            "entry",
        ),
        (
            lambda b: b["entry"][0]["resource"].__setitem__("birthDate", "2030-01-01"),
            "entry[0].resource.birthDate",
        ),
        # code values fhir.resources accepts but the value sets do not
        (lambda b: b["entry"][0]["resource"].__setitem__("gender", "robot"), "entry[0].resource.gender"),
        (lambda b: b["entry"][10]["resource"].__setitem__("intent", "wish"), "entry[10].resource.intent"),
        (lambda b: b.__setitem__("type", "pile"), "type"),
    ],
)
def test_invalid_bundles_are_refused_with_the_field_path(mutate: Any, field: str) -> None:
    b = copy.deepcopy(fhir_bundle())
    mutate(b)
    with pytest.raises(InputError) as exc:
        fhir_io.bundle_to_case(b)
    assert exc.value.field == field


def test_detected_issues_are_valid_r4b_with_checked_codes(kb: Any) -> None:
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.detectedissue import DetectedIssue

    from toolkit.audit import audit

    fc = fhir_io.bundle_to_case(fhir_bundle())
    report = audit(fc.case, kb)
    out = fhir_io.report_to_bundle(report, fc, "a1")
    Bundle.model_validate(out)
    issues = [DetectedIssue.model_validate(e["resource"]) for e in out["entry"]]
    assert len(issues) == len(report.findings) >= 2
    by_rule = {i.code.coding[1].code: i for i in issues}
    met = by_rule["RX-CI-001"]
    assert (met.status, met.severity) == ("final", "high")
    assert [r.reference for r in met.implicated] == ["MedicationRequest/mr-met"]
    assert met.code.coding[0].system == fhir_io.CODESYSTEM_CATEGORY
    assert met.code.coding[0].code == "special_population"
    assert met.patient.reference == "Patient/p1"
    assert any("labs.egfr" in c.text for c in met.evidence[0].code)
    for f, i in zip(report.findings, issues, strict=True):
        assert i.severity == {"block": "high", "warn": "moderate", "info": "low"}[f.severity.value]


def test_codesystem_lists_every_category() -> None:
    from toolkit.records import Category

    cs = fhir_io.category_codesystem()
    assert cs["url"] == fhir_io.CODESYSTEM_CATEGORY
    assert {c["code"] for c in cs["concept"]} == {c.value for c in Category}
