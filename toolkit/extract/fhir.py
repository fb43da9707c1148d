"""OutpatientRecord → FHIR R4B resources (``fhir.resources`` R4B subpackage, imported lazily).

Resources: Encounter (class AMB, reasonCode = 主诉), Condition per diagnosis (ICD-10),
Observation for blood pressure (LOINC 85354-9 with components 8480-6 / 8462-4, UCUM mm[Hg])
and for the other vitals and labs that have a LOINC code here, MedicationRequest per
prescription item (status draft: a drafted record is not a signed order), AllergyIntolerance
per allergen. ``fhir.resources`` validates types but not value-set codes, so the codes used
here are fixed in this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.errors import require

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.extract.records import OutpatientRecord

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
_OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"

# key → (LOINC code, display, UCUM unit, category)
_LOINC: dict[str, tuple[str, str, str, str]] = {
    "heart_rate": ("8867-4", "Heart rate", "/min", "vital-signs"),
    "temperature": ("8310-5", "Body temperature", "Cel", "vital-signs"),
    "resp_rate": ("9279-1", "Respiratory rate", "/min", "vital-signs"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "vital-signs"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "vital-signs"),
    "weight_kg": ("29463-7", "Body weight", "kg", "vital-signs"),
    "height_cm": ("8302-2", "Body height", "cm", "vital-signs"),
    "waist_cm": ("8280-0", "Waist Circumference at umbilicus by Tape measure", "cm", "vital-signs"),
    "fpg": ("1558-6", "Fasting glucose [Moles/volume] in Serum or Plasma", "mmol/L", "laboratory"),
    "hba1c": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "laboratory"),
    "egfr": ("62238-1", "Glomerular filtration rate/1.73 sq M.predicted", "mL/min/{1.73_m2}", "laboratory"),
    "scr": ("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L", "laboratory"),
    "potassium": ("6298-4", "Potassium [Moles/volume] in Blood", "mmol/L", "laboratory"),
    "ldl_c": ("22748-8", "Cholesterol in LDL [Moles/volume] in Serum or Plasma", "mmol/L", "laboratory"),
    "tc": ("14647-2", "Cholesterol [Moles/volume] in Serum or Plasma", "mmol/L", "laboratory"),
    "tg": ("14927-8", "Triglyceride [Moles/volume] in Serum or Plasma", "mmol/L", "laboratory"),
    "uric_acid": ("14933-6", "Urate [Moles/volume] in Serum or Plasma", "umol/L", "laboratory"),
}
_PER_DAY = {"qd": (1, 1, "d"), "qn": (1, 1, "d"), "bid": (2, 1, "d"), "tid": (3, 1, "d"), "qid": (4, 1, "d"),
            "qod": (1, 2, "d"), "qw": (1, 1, "wk"), "q12h": (1, 12, "h"), "q8h": (1, 8, "h"), "q6h": (1, 6, "h")}


def _cc(code: str, system: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def record_to_fhir_bundle(record: OutpatientRecord, patient_id: str = "patient",
                          encounter_id: str = "encounter") -> dict[str, Any]:
    """A validated FHIR R4B ``Bundle`` (type collection) as a JSON-ready dict."""
    require("fhir.resources", "service")
    from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.encounter import Encounter
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.observation import Observation

    subject = {"reference": f"Patient/{patient_id}"}
    enc_ref = {"reference": f"Encounter/{encounter_id}"}
    sections = record.section_texts()
    resources: list[Any] = []
    encounter: dict[str, Any] = {
        "id": encounter_id, "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
                  "display": "ambulatory"},
        "subject": subject,
    }
    if "主诉" in sections:
        encounter["reasonCode"] = [{"text": sections["主诉"]}]
    resources.append(Encounter(**encounter))
    for i, dx in enumerate(record.diagnoses):
        code = _cc(dx.icd10, ICD10) if dx.icd10 else {}
        resources.append(Condition(
            id=f"condition-{i + 1}", subject=subject, encounter=enc_ref,
            clinicalStatus=_cc("active", "http://terminology.hl7.org/CodeSystem/condition-clinical"),
            category=[_cc("encounter-diagnosis", "http://terminology.hl7.org/CodeSystem/condition-category")],
            code={**code, "text": dx.name}))
    v = record.vitals
    if v.sbp is not None and v.dbp is not None:
        resources.append(Observation(
            id="bp", status="final", subject=subject, encounter=enc_ref,
            category=[_cc("vital-signs", _OBS_CAT)],
            code=_cc("85354-9", LOINC, "Blood pressure panel with all children optional"),
            component=[
                {"code": _cc("8480-6", LOINC, "Systolic blood pressure"),
                 "valueQuantity": {"value": v.sbp, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
                {"code": _cc("8462-4", LOINC, "Diastolic blood pressure"),
                 "valueQuantity": {"value": v.dbp, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
            ]))
    values: dict[str, float] = {k: x for k, x in v.model_dump().items() if x is not None and k not in ("sbp", "dbp")}
    if record.weight_kg is not None:
        values["weight_kg"] = record.weight_kg
    if record.height_cm is not None:
        values["height_cm"] = record.height_cm
    values.update(record.labs)
    for key, value in values.items():
        if key not in _LOINC:
            continue
        code, display, unit, cat = _LOINC[key]
        resources.append(Observation(
            id=f"obs-{key.replace('_', '-')}", status="final", subject=subject, encounter=enc_ref,
            category=[_cc(cat, _OBS_CAT)], code=_cc(code, LOINC, display),
            valueQuantity={"value": value, "unit": unit, "system": UCUM, "code": unit}))
    for i, item in enumerate(record.items):
        dosage: dict[str, Any] = {"text": " ".join(x for x in (item.drug, item.strength, item.frequency,
                                                              item.route, item.note) if x)}
        if item.dose is not None and item.unit:
            dosage["doseAndRate"] = [{"doseQuantity": {"value": item.dose, "unit": item.unit}}]
        if item.route:
            dosage["route"] = {"text": item.route}
        timing: dict[str, Any] = {}
        if item.frequency in _PER_DAY:
            f, p, unit = _PER_DAY[item.frequency]
            timing = {"frequency": f, "period": p, "periodUnit": unit}
        if item.days is not None:
            timing["boundsDuration"] = {"value": item.days, "unit": "d", "system": UCUM, "code": "d"}
        if timing:
            dosage["timing"] = {"repeat": timing}
        if item.frequency == "prn":
            dosage["asNeededBoolean"] = True
        request: dict[str, Any] = {
            "id": f"medreq-{i + 1}", "status": "draft", "intent": "proposal", "subject": subject,
            "encounter": enc_ref, "medicationCodeableConcept": {"text": item.drug},
            "dosageInstruction": [dosage],
        }
        if item.drug_id:
            request["medicationCodeableConcept"]["coding"] = [
                {"system": "urn:clinic-toolkit:formulary", "code": item.drug_id}]
        if item.days is not None:
            request["dispenseRequest"] = {"expectedSupplyDuration": {"value": item.days, "unit": "d",
                                                                     "system": UCUM, "code": "d"}}
        resources.append(MedicationRequest(**request))
    for i, allergen in enumerate(record.allergies):
        resources.append(AllergyIntolerance(id=f"allergy-{i + 1}", patient=subject, code={"text": allergen},
                                            verificationStatus=_cc(
                                                "unconfirmed",
                                                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification")))
    bundle = Bundle(type="collection",
                    entry=[{"fullUrl": f"{r.get_resource_type()}/{r.id}", "resource": r} for r in resources])
    return bundle.model_dump(mode="json", by_alias=True, exclude_none=True)
