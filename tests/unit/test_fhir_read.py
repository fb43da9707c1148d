"""toolkit.fhir.read: drugs from every coding and name, dose text and ranges, labs by LOINC / local LIS
codes / UCUM, the Chinese ICD-10 OID (issue 14, "FHIR input"). Run on the shipped KB: the formulary's
ATC codes and English names are what is tested."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fhir.resources")
pytest.importorskip("ucumvert")

from tests.unit.test_service_fhir import fhir_bundle
from toolkit.audit import audit
from toolkit.errors import InputError
from toolkit.fhir import codes as C
from toolkit.fhir.read import bundle_to_case, parse_dosage_text


def _met(b: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in b["entry"] if e["resource"].get("id") == "mr-met")


def _findings(fc: Any, kb: Any) -> dict[str, str]:
    return {f.rule_id: f.severity.value for f in audit(fc.case, kb).findings}


@pytest.mark.parametrize(
    "medication",
    [
        # RxNorm only, English clinical-drug name
        {
            "coding": [
                {
                    "system": C.RXNORM,
                    "code": "861007",
                    "display": "metformin hydrochloride 500 MG Oral Tablet",
                }
            ]
        },
        # ATC only, no name at all
        {"coding": [{"system": "http://www.whocc.no/atc", "code": "A10BA02"}]},
        # a coding list whose first display is a local code name the KB does not know; the Chinese name second
        {
            "coding": [
                {"system": "urn:oid:1.2.156.1", "code": "X1", "display": "院内药品X1"},
                {"system": "urn:oid:1.2.156.2", "code": "Y1", "display": "盐酸二甲双胍片"},
            ]
        },
        # English text
        {"text": "Metformin"},
    ],
)
def test_the_drug_is_found_from_any_coding_or_name(medication: dict[str, Any], shipped_kb: Any) -> None:
    b = fhir_bundle()
    _met(b)["medicationCodeableConcept"] = medication
    fc = bundle_to_case(b, kb=shipped_kb)
    drug = fc.case.prescription.items[1].drug
    assert shipped_kb.names.resolve(drug).drug_id == "metformin"
    # and so the renal contraindication (eGFR 25) is found, not lost as "drug not covered"
    assert _findings(fc, shipped_kb).get("RX-CI-049") == "block"


def test_contained_medication_is_read(shipped_kb: Any) -> None:
    b = fhir_bundle()
    met = _met(b)
    del met["medicationCodeableConcept"]
    met["contained"] = [
        {
            "resourceType": "Medication",
            "id": "m1",
            "code": {"coding": [{"system": C.ATC, "code": "A10BA02", "display": "Metformin"}]},
        }
    ]
    met["medicationReference"] = {"reference": "#m1"}
    fc = bundle_to_case(b, kb=shipped_kb)
    assert shipped_kb.names.resolve(fc.case.prescription.items[1].drug).drug_id == "metformin"


def test_atc_and_name_disagreeing_is_noted(shipped_kb: Any) -> None:
    b = fhir_bundle()
    _met(b)["medicationCodeableConcept"] = {
        "text": "阿莫西林胶囊",
        "coding": [{"system": C.ATC, "code": "A10BA02"}],
    }
    fc = bundle_to_case(b, kb=shipped_kb)
    assert fc.case.prescription.items[1].drug == "二甲双胍"
    assert any("不一致" in n for n in fc.notes)


def test_dose_from_text_from_range_and_missing(shipped_kb: Any) -> None:
    b = fhir_bundle()
    d = _met(b)["dosageInstruction"][0]
    d.pop("doseAndRate"), d.pop("timing"), d.pop("route")
    d["text"] = "一次0.5g，一日3次，口服"
    it = bundle_to_case(b, kb=shipped_kb).case.prescription.items[1]
    assert (it.dose, it.unit, it.frequency, it.route) == (0.5, "g", "一日3次", "口服")

    b = fhir_bundle()
    _met(b)["dosageInstruction"][0]["doseAndRate"] = [
        {"doseRange": {"low": {"value": 0.5, "unit": "g"}, "high": {"value": 1, "unit": "g"}}}
    ]
    fc = bundle_to_case(b, kb=shipped_kb)
    assert (fc.case.prescription.items[1].dose, fc.case.prescription.items[1].unit) == (1, "g")
    assert any("按上限" in n for n in fc.notes)

    b = fhir_bundle()
    _met(b)["dosageInstruction"][0].pop("doseAndRate")
    fc = bundle_to_case(b, kb=shipped_kb)  # no error: the dose is missing, and the audit says so
    assert fc.case.prescription.items[1].dose is None
    report = audit(fc.case, shipped_kb)
    assert report.status != "error" and any(
        f.category.value == "format" and 1 in f.items for f in report.findings
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("一次0.5g，一日3次，口服", {"dose": 0.5, "unit": "g", "frequency": "一日3次", "route": "口服"}),
        ("每次 2 片 每日2次", {"dose": 2.0, "unit": "片", "frequency": "每日2次"}),
        ("0.5 g tid po", {"dose": 0.5, "unit": "g", "frequency": "tid", "route": "po"}),
        (
            "二甲双胍片（规格0.5 g） tid 口服",
            {"frequency": "tid", "route": "口服"},
        ),  # a strength is not a dose
    ],
)
def test_dosage_text(text: str, expected: dict[str, Any]) -> None:
    assert parse_dosage_text(text) == expected


def test_units_are_parsed_as_ucum_not_from_a_list(shipped_kb: Any) -> None:
    b = fhir_bundle()
    egfr = b["entry"][5]["resource"]
    egfr["valueQuantity"] = {"value": 25, "unit": "mL/min/1.73 m^2"}  # not UCUM: rewritten, then parsed
    scr = {
        "resourceType": "Observation",
        "id": "o-scr",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": C.LOINC, "code": "2160-0"}]},
        "effectiveDateTime": "2026-11-18",
        "valueQuantity": {"value": 2.0, "unit": "mg/dL", "system": C.UCUM, "code": "mg/dL"},
    }
    a1c = {
        "resourceType": "Observation",
        "id": "o-a1c",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": C.LOINC, "code": "59261-8"}]},
        "effectiveDateTime": "2026-11-18",
        "valueQuantity": {"value": 53, "unit": "mmol/mol", "system": C.UCUM, "code": "mmol/mol"},
    }
    b["entry"] += [{"fullUrl": "urn:uuid:scr", "resource": scr}, {"fullUrl": "urn:uuid:a1c", "resource": a1c}]
    labs = bundle_to_case(b, kb=shipped_kb).case.patient.labs
    assert labs["egfr"] == 25
    assert labs["scr"] == pytest.approx(176.8, abs=0.1)  # creatinine 113.12 g/mol
    assert labs["hba1c"] == pytest.approx(7.0, abs=0.05)  # IFCC → NGSP
    # a unit of the wrong kind is still refused, located
    b["entry"][7]["resource"]["valueQuantity"].update(unit="mg/dL", code="mg/dL")
    with pytest.raises(InputError) as exc:
        bundle_to_case(b, kb=shipped_kb)
    assert exc.value.field == "entry[7].resource.valueQuantity.unit"


def test_local_lis_codes_are_read_through_the_map_and_unknown_labs_are_noted(
    tmp_path: Path, shipped_kb: Any
) -> None:
    b = fhir_bundle()
    egfr = b["entry"][5]["resource"]
    egfr["code"] = {
        "coding": [{"system": "urn:oid:1.2.156.112604.1.2.1", "code": "EGFR-CKD"}],
        "text": "估算GFR",
    }
    egfr["valueQuantity"] = {"value": 25, "unit": "ml/min/1.73m2"}
    b["entry"][6]["resource"]["code"] = {
        "coding": [{"system": "urn:lis", "code": "FT4"}],
        "text": "游离甲状腺素",
    }
    b["entry"].pop(4)  # and no allergy: the metformin contraindication is the finding looked at
    fc = bundle_to_case(copy.deepcopy(b), kb=shipped_kb, lis=C.LisMap())
    assert "egfr" not in fc.case.patient.labs  # without the map the local code is not known …
    assert any("估算GFR" in n for n in fc.notes) and any(
        "游离甲状腺素" in n for n in fc.notes
    )  # … and said so
    lis = tmp_path / "lis.yaml"
    lis.write_text(
        "lis:\n  - {system: 'urn:oid:1.2.156.112604.1.2.1', code: EGFR-CKD, lab: egfr}\n", encoding="utf-8"
    )
    fc = bundle_to_case(b, kb=shipped_kb, lis=C.LisMap.load(lis))
    assert fc.case.patient.labs["egfr"] == 25
    assert _findings(fc, shipped_kb)["RX-CI-049"] == "block"  # metformin at eGFR 25 stays high


def test_chinese_icd10_oid_and_extension_codes() -> None:
    b = fhir_bundle()
    cond = b["entry"][2]["resource"]
    cond["code"] = {
        "coding": [{"system": "urn:oid:2.16.156.10011.2.3.3.11", "code": "E11.900", "display": "2型糖尿病"}]
    }
    case = bundle_to_case(b).case
    assert [d.icd10 for d in case.patient.diagnoses] == ["J20.9", "E11.9"]
    assert C.normalise_icd10("I10.X00") == "I10" and C.normalise_icd10("J44.100") == "J44.1"


def test_hba1c_and_timing_codes_written_by_the_toolkit_are_read(shipped_kb: Any) -> None:
    b = fhir_bundle()
    _met(b)["dosageInstruction"][0]["timing"] = C.timing_for("q12h")
    b["entry"].append(
        {
            "fullUrl": "urn:uuid:a1c",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": C.LOINC, "code": C.LAB_BY_KEY["hba1c"].loinc[0]}]},
                "valueQuantity": {"value": 8.1, "unit": "%", "system": C.UCUM, "code": "%"},
            },
        }
    )
    fc = bundle_to_case(b, kb=shipped_kb)
    assert fc.case.prescription.items[1].frequency == "q12h" and fc.case.patient.labs["hba1c"] == 8.1
    for code in ("qd", "bid", "tid", "qid", "qod", "qn", "qw", "biw", "q8h", "q12h"):
        t = C.timing_for(code)
        r = t["repeat"]
        assert (
            C.frequency_from_repeat(r["frequency"], r["period"], r["periodUnit"], tuple(r.get("when", ())))
            == code
        )


def test_the_clinics_drug_code_is_read_through_its_dictionary(shipped_kb: Any) -> None:
    import dataclasses

    from toolkit.knowledge.dictionary import DictionaryEntry

    kb = dataclasses.replace(
        shipped_kb,
        drug_codes={"XY0123": DictionaryEntry(drug="metformin", name="二甲双胍", strength="0.5 g")},
    )
    b = fhir_bundle()
    _met(b)["medicationCodeableConcept"] = {
        "coding": [{"system": "urn:oid:1.2.156.999.1", "code": "XY0123", "display": "院内药品A"}]
    }
    fc = bundle_to_case(b, kb=kb)
    assert fc.case.prescription.items[1].code == "XY0123"
    assert _findings(fc, kb).get("RX-CI-049") == "block"  # the code decides the drug


def test_vital_signs_are_read_and_an_implausible_one_is_noted(shipped_kb: Any) -> None:
    b = fhir_bundle()
    bp = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": C.LOINC, "code": "85354-9"}]},
        "component": [
            {
                "code": {"coding": [{"system": C.LOINC, "code": "8480-6"}]},
                "valueQuantity": {"value": 150, "unit": "mmHg", "system": C.UCUM, "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": C.LOINC, "code": "8462-4"}]},
                "valueQuantity": {"value": 90, "unit": "mmHg", "system": C.UCUM, "code": "mm[Hg]"},
            },
        ],
    }
    hr = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": C.LOINC, "code": "8867-4"}]},
        "valueQuantity": {"value": 900, "unit": "/min"},
    }
    b["entry"] += [{"resource": bp}, {"resource": hr}]
    fc = bundle_to_case(b, kb=shipped_kb)
    assert (fc.case.vitals.sbp, fc.case.vitals.dbp, fc.case.vitals.heart_rate) == (150, 90, None)
    assert any("heart_rate" in n for n in fc.notes)


def test_a_lab_without_unit_is_not_guessed_when_the_unit_decides(shipped_kb: Any) -> None:
    b = fhir_bundle()
    b["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": C.LOINC, "code": "2160-0"}]},
                "valueQuantity": {"value": 1.2},
            }
        }
    )
    b["entry"][7]["resource"]["valueQuantity"] = {"value": 4.2}  # potassium: mmol/L is the only usual unit
    fc = bundle_to_case(b, kb=shipped_kb)
    assert "scr" not in fc.case.patient.labs and any("无单位" in n and "未使用" in n for n in fc.notes)
    assert fc.case.patient.labs["potassium"] == 4.2 and any("按 mmol/L 读取" in n for n in fc.notes)


def test_a_bundled_medication_is_read_by_reference(shipped_kb: Any) -> None:
    b = fhir_bundle()
    met = _met(b)
    del met["medicationCodeableConcept"]
    met["medicationReference"] = {"reference": "http://his.example.cn/fhir/Medication/med-1"}
    b["entry"].append(
        {
            "fullUrl": "http://his.example.cn/fhir/Medication/med-1",
            "resource": {"resourceType": "Medication", "id": "med-1", "code": {"text": "盐酸二甲双胍缓释片"}},
        }
    )
    fc = bundle_to_case(b, kb=shipped_kb)
    assert shipped_kb.names.resolve(fc.case.prescription.items[1].drug).drug_id == "metformin"
