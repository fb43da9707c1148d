"""FHIR R4B out: DetectedIssue (with v3 ActCode and ``evidence.detail`` references), OperationOutcome for
errors, the service's CapabilityStatement, and the case/record as a ``document`` Bundle (Composition with
the record's sections and narrative, Patient, Encounter, Condition, AllergyIntolerance, MedicationRequest,
MedicationStatement (在用药品), Observation; every fullUrl a ``urn:uuid:``, every reference to an entry of the Bundle).

Every resource is validated with ``fhir.resources.R4B`` before it is returned; the code tables are
those of :mod:`toolkit.fhir.codes`, shared with the reader, so :func:`case_to_document` read back with
:func:`toolkit.fhir.read.bundle_to_case` gives the same audit.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from toolkit.errors import require
from toolkit.records import RECORD_SECTIONS, AuditCase, AuditReport, Category, Finding, Severity, Vitals

from . import codes as C

if TYPE_CHECKING:  # pragma: no cover
    from .read import FhirCase

SEVERITY_TO_FHIR = {Severity.BLOCK: "high", Severity.WARN: "moderate", Severity.INFO: "low"}
EXT_STRENGTH = C.EXT_STRENGTH
EXT_BIRTHDATE_ESTIMATED = "http://clinic-toolkit.local/fhir/StructureDefinition/birthdate-estimated"
"""Extension on Patient.birthDate: true when the date was computed from a stated age (年龄 72 岁)."""
XHTML = "http://www.w3.org/1999/xhtml"

SECTION_LOINC: dict[str, tuple[str, str]] = {
    "主诉": ("10154-3", "Chief complaint Narrative - Reported"),
    "现病史": ("10164-2", "History of Present illness Narrative"),
    "既往史": ("11348-0", "History of Past illness Narrative"),
    "过敏史": ("48765-2", "Allergies and adverse reactions Document"),
    "个人史": ("29762-2", "Social history Narrative"),
    "家族史": ("10157-6", "History of family member diseases Narrative"),
    "体格检查": ("29545-1", "Physical findings Narrative"),
    "辅助检查": ("30954-2", "Relevant diagnostic tests/laboratory data Narrative"),
    "诊断": ("29548-5", "Diagnosis Narrative"),
    "处理": ("18776-5", "Plan of care note"),
    "健康指导": ("69730-0", "Instructions"),
    "随访": ("18776-5", "Plan of care note"),
}
REQUIRED_SECTIONS = ("主诉", "现病史", "既往史", "过敏史", "体格检查", "辅助检查", "诊断", "处理")
"""Sections every exported outpatient record carries (empty ones with an emptyReason)."""


_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def new_uuid() -> str:
    """A fresh random ``urn:uuid:`` for a resource's fullUrl."""
    return f"urn:uuid:{uuid.uuid4()}"


def uuid_for(text: str) -> str:
    """A stable UUID (v5 of the URL ``<rule code system>/<text>``): same text, same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, C.CODESYSTEM_RULE + "/" + text))


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    require("fhir.resources", "service")
    from fhir.resources.R4B import get_fhir_model_class

    cls = get_fhir_model_class(data["resourceType"])
    return cls.model_validate(data).model_dump(mode="json", by_alias=True, exclude_none=True)


def _cc(code: str, system: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    out: dict[str, Any] = {"coding": [coding]}
    if text:
        out["text"] = text
    return out


def narrative(text: str, status: str = "generated") -> dict[str, Any]:
    """A FHIR Narrative: each non-empty line of ``text`` as an escaped XHTML paragraph."""
    paras = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip()) or "<p>-</p>"
    return {"status": status, "div": f'<div xmlns="{XHTML}">{paras}</div>'}


# ----------------------------------------------------------------------------- DetectedIssue
def evidence_refs(finding: Finding, fc: FhirCase) -> list[str]:
    """References of the Observation/Condition/AllergyIntolerance/Patient and of the current medication
    (MedicationStatement or active MedicationRequest: 在用药品) a finding used."""
    src = fc.sources
    out: list[str] = []

    def add(ref: str | None) -> None:
        if ref and ref not in out:
            out.append(ref)

    ev = finding.evidence
    for key, value in ev.items():
        k = str(key)
        if k.startswith("labs."):
            add(src.labs.get(k[5:]))
        elif k in src.labs:
            add(src.labs.get(k))
        elif k == "renal_measure":
            add(src.labs.get("egfr" if str(value).lower() == "egfr" else "crcl") or src.labs.get("scr"))
        elif k == "age":
            add(src.patient)
    if finding.category is Category.SPECIAL_POPULATION and str(ev.get("population")) in {
        "elderly",
        "children",
    }:
        add(src.patient)
    if finding.category is Category.ALLERGY:
        allergen = str(ev.get("allergen", ""))
        hits = [r for r, name in src.allergies if allergen and (allergen in name or name in allergen)]
        for r in hits or [r for r, _ in src.allergies]:
            add(r)
    if home := str(ev.get("current_medication") or ""):
        for r, name in src.current_medications:
            if name in home.split("、"):
                add(r)
    if finding.category in (Category.CONTRAINDICATION, Category.INDICATION, Category.SPECIAL_POPULATION):
        blob = " ".join(str(v) for v in ev.values())
        for r, name, icd in src.conditions:
            if (icd and icd in blob) or (name and name in blob):
                add(r)
    return out


def finding_to_issue(
    finding: Finding, fc: FhirCase, report: AuditReport, issue_id: str, identified: datetime
) -> dict[str, Any]:
    """One finding as a validated DetectedIssue (JSON dict)."""
    refs = [fc.item_refs[i] for i in finding.items if 0 <= i < len(fc.item_refs)]
    detail = finding.message
    if finding.references:
        detail += "\n依据: " + "; ".join(finding.references)
    kb = report.provenance.kb_version if report.provenance else "?"
    data: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": issue_id,
        "status": "final",
        "severity": SEVERITY_TO_FHIR[finding.severity],
        "code": {"coding": C.issue_codings(finding), "text": C.CATEGORY_DISPLAY[finding.category]},
        "identifiedDateTime": identified.isoformat(),
        "author": {"display": f"clinic-toolkit rx-preaudit (KB {kb})"},
        "detail": detail,
    }
    if fc.patient_ref:
        data["patient"] = {"reference": fc.patient_ref}
    if refs:
        data["implicated"] = [{"reference": r} for r in refs]
    evidence: list[dict[str, Any]] = []
    if finding.evidence:
        evidence.append({"code": [{"text": f"{k}: {v}"} for k, v in finding.evidence.items()]})
    if used := evidence_refs(finding, fc):
        evidence.append({"detail": [{"reference": r} for r in used]})
    if evidence:
        data["evidence"] = evidence
    return _validated(data)


def report_to_bundle(report: AuditReport, fc: FhirCase, audit_id: str) -> dict[str, Any]:
    """The answer to a FHIR audit: a ``collection`` Bundle of DetectedIssue (empty when nothing found),
    plus an OperationOutcome of information issues when the reader left notes (a dose range read at its
    high end, an Observation not used …)."""
    now = datetime.now(UTC).replace(microsecond=0)
    entries = []
    for n, f in enumerate(report.findings):
        issue_id = f"{audit_id}-{n}"
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid_for(issue_id)}",
                "resource": finding_to_issue(f, fc, report, issue_id, now),
            }
        )
    if fc.notes:
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid_for(audit_id + '-notes')}",
                "resource": operation_outcome([("information", "informational", n, None) for n in fc.notes]),
            }
        )
    return _validated(
        {
            "resourceType": "Bundle",
            "id": audit_id,
            "type": "collection",
            "timestamp": now.isoformat(),
            "entry": entries or None,
        }
    )


def category_codesystem() -> dict[str, Any]:
    """Our finding-category CodeSystem as a FHIR R4B resource (published at /fhir/CodeSystem/…)."""
    return _validated(
        {
            "resourceType": "CodeSystem",
            "id": "audit-category",
            "url": C.CODESYSTEM_CATEGORY,
            "name": "ClinicToolkitAuditCategory",
            "title": "处方审核问题类别",
            "status": "active",
            "content": "complete",
            "caseSensitive": True,
            "concept": [{"code": c.value, "display": C.CATEGORY_DISPLAY[c]} for c in Category],
        }
    )


# ----------------------------------------------------------------------------- OperationOutcome
ISSUE_CODE_FOR_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    421: "security",
    422: "invalid",
    429: "throttled",
    500: "exception",
    503: "timeout",
}


def fhirpath(loc: str | None, root: str = "Bundle") -> str | None:
    """``entry[3].resource.valueQuantity`` → ``Bundle.entry[3].resource.valueQuantity``; query/header
    locations are not FHIRPath and are left out of ``expression``."""
    if not loc or loc.split(".", 1)[0] in {"query", "header", "path"}:
        return None
    loc = loc.removeprefix("body.").removeprefix("body")
    if not loc:
        return root
    return loc if loc[0].isupper() else f"{root}.{loc}"


def operation_outcome(issues: Iterable[tuple[str, str, str, str | None]]) -> dict[str, Any]:
    """An OperationOutcome of ``(severity, code, diagnostics, expression)`` issues."""
    out = []
    for severity, code, diagnostics, expression in issues:
        issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
        if expression:
            issue["expression"] = [expression]
        out.append(issue)
    return _validated(
        {
            "resourceType": "OperationOutcome",
            "issue": out or [{"severity": "information", "code": "informational", "diagnostics": "ok"}],
        }
    )


def outcome_for_error(status: int, loc: str | None, message: str, root: str = "Bundle") -> dict[str, Any]:
    """The OperationOutcome of an HTTP error (severity error, or fatal for a 5xx)."""
    severity = "fatal" if status >= 500 else "error"
    return operation_outcome(
        [(severity, ISSUE_CODE_FOR_STATUS.get(status, "processing"), message, fhirpath(loc, root))]
    )


# ----------------------------------------------------------------------------- CapabilityStatement
def capability_statement(
    version: str, kb_version: str, base_url: str | None = None, *, jwt: bool = False
) -> dict[str, Any]:
    """What the service offers, for ``GET /metadata`` (FHIR 4.3.0 = R4B, JSON only)."""
    security = "Bearer token (Authorization: Bearer <token>) for HIS clients; CDS Hooks clients " + (
        "authenticate with a signed JWT verified against their configured JWKS."
        if jwt
        else "use the same token (configure --cds-jwks for signed JWT client authentication)."
    )
    data: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date.today().isoformat(),
        "publisher": "clinic-toolkit",
        "kind": "instance",
        "fhirVersion": "4.3.0",
        "format": ["application/fhir+json", "json"],
        "software": {"name": "clinic-toolkit rx-preaudit", "version": version},
        "implementation": {
            "description": f"处方前置审核 (knowledge base {kb_version}): POST a Bundle of "
            "MedicationRequest + Patient/Condition/AllergyIntolerance/Observation/MedicationStatement "
            "to /v1/fhir/audit; the answer is a Bundle of DetectedIssue."
        },
        "rest": [
            {
                "mode": "server",
                "documentation": "Not a FHIR server: one operation, no resource storage or search.",
                "security": {"cors": False, "description": security},
                "operation": [
                    {
                        "name": "audit",
                        "definition": "http://clinic-toolkit.local/fhir/OperationDefinition/audit",
                        "documentation": "POST /v1/fhir/audit: Bundle in, Bundle (collection) of "
                        "DetectedIssue out; errors as OperationOutcome.",
                    }
                ],
            }
        ],
    }
    if base_url:
        data["implementation"]["url"] = base_url
    return _validated(data)


# ----------------------------------------------------------------------------- document Bundle
def _birth_date(age: float, on: date) -> date:
    if age >= 2:
        years = int(age)
        try:
            return on.replace(year=on.year - years)
        except ValueError:  # 29 February
            return on.replace(year=on.year - years, day=28)
    return on - timedelta(days=round(age * 365.25))


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": C.UCUM, "code": unit}


def _dose_quantity(value: float, unit: str | None) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value}
    if unit:
        q["unit"] = unit
        ucum = {"mg": "mg", "g": "g", "μg": "ug", "ug": "ug", "mcg": "ug", "ml": "mL", "mL": "mL"}.get(unit)
        if ucum:
            q.update(system=C.UCUM, code=ucum)
    return q


def _dose_text(item: Any) -> str | None:
    return None if item.dose is None else f"{item.dose:g}{item.unit or ''}"


class _DocBuilder:
    def __init__(self, patient_url: str, encounter_url: str, when: date) -> None:
        self.entries: list[tuple[str, dict[str, Any]]] = []
        self.subject = {"reference": patient_url}
        self.encounter = {"reference": encounter_url}
        self.when = when

    def add(self, resource: dict[str, Any], url: str | None = None) -> str:
        url = url or new_uuid()
        self.entries.append((url, _validated(resource)))
        return url


def case_to_document(
    case: AuditCase,
    *,
    vitals: Vitals | None = None,
    title: str = "门诊病历",
    status: str = "preliminary",
    patient_id: str | None = None,
    encounter_id: str | None = None,
    drug_ids: Mapping[int, str] | None = None,
    author: str = "clinic-toolkit 语音病历草稿",
    extra_conditions: Iterable[Any] = (),
) -> dict[str, Any]:
    """The case (patient, record sections, prescription) as a FHIR ``document`` Bundle.

    The Composition comes first (bdl-11) with the sections 主诉 … 处理 (an empty one carries
    ``emptyReason``), then Patient, Encounter and the entries the sections point to. MedicationRequests
    are ``draft``/``proposal`` (a drafted record is not a signed order); allergies are
    ``active``/``unconfirmed`` (ait-1: clinicalStatus is present).
    """
    require("fhir.resources", "service")
    when = date.fromisoformat(case.visit_date) if case.visit_date else datetime.now(UTC).date()
    p = case.patient
    patient_url, encounter_url = new_uuid(), new_uuid()
    b = _DocBuilder(patient_url, encounter_url, when)
    sections = dict(case.record)

    patient: dict[str, Any] = {"resourceType": "Patient"}
    if (pid := patient_id or p.id) and _FHIR_ID.fullmatch(pid):
        patient["id"] = pid
    if p.sex:
        patient["gender"] = "male" if p.sex == "M" else "female"
    if p.age is not None:
        patient["birthDate"] = _birth_date(p.age, when).isoformat()
        patient["_birthDate"] = {"extension": [{"url": EXT_BIRTHDATE_ESTIMATED, "valueBoolean": True}]}
    b.add(patient, patient_url)

    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": C.ACTCODE, "code": "AMB", "display": "ambulatory"},
        "subject": b.subject,
        "period": {"start": when.isoformat()},
    }
    if encounter_id and _FHIR_ID.fullmatch(encounter_id):
        encounter["id"] = encounter_id
    if sections.get("主诉"):
        encounter["reasonCode"] = [{"text": sections["主诉"]}]
    b.add(encounter, encounter_url)

    condition_urls, history_urls = [], []
    history = list(extra_conditions)
    for n, dx in enumerate((*p.diagnoses, *history)):
        is_history = n >= len(p.diagnoses)
        code: dict[str, Any] = {"text": dx.name or dx.icd10}
        if dx.icd10:
            code["coding"] = [{"system": C.ICD10, "code": dx.icd10}]
        (history_urls if is_history else condition_urls).append(
            b.add(
                {
                    "resourceType": "Condition",
                    "id": f"condition-{n + 1}",
                    "subject": b.subject,
                    "encounter": b.encounter,
                    "clinicalStatus": _cc("active", C.CONDITION_CLINICAL),
                    "verificationStatus": _cc(
                        "provisional" if status == "preliminary" else "confirmed", C.CONDITION_VERIFICATION
                    ),
                    "category": [
                        _cc(
                            "problem-list-item" if is_history else "encounter-diagnosis", C.CONDITION_CATEGORY
                        )
                    ],
                    "code": code,
                    "recordedDate": when.isoformat(),
                }
            )
        )
    # 在用药品: what the patient already takes, as active MedicationStatements under 既往史 (read back
    # by toolkit.fhir.read as the case's current medications)
    for n, name in enumerate(p.current_medications):
        history_urls.append(
            b.add(
                {
                    "resourceType": "MedicationStatement",
                    "id": f"medstmt-{n + 1}",
                    "status": "active",
                    "subject": b.subject,
                    "context": b.encounter,
                    "medicationCodeableConcept": {"text": name},
                    "dateAsserted": when.isoformat(),
                }
            )
        )
    allergy_urls = []
    for n, allergen in enumerate(p.allergies):
        allergy_urls.append(
            b.add(
                {
                    "resourceType": "AllergyIntolerance",
                    "id": f"allergy-{n + 1}",
                    "patient": b.subject,
                    "encounter": b.encounter,
                    "clinicalStatus": _cc("active", C.ALLERGY_CLINICAL),
                    "verificationStatus": _cc("unconfirmed", C.ALLERGY_VERIFICATION),
                    "code": {"text": allergen},
                    "recordedDate": when.isoformat(),
                }
            )
        )

    exam_urls, lab_urls = [], []
    v = vitals or case.vitals
    if v is not None and v.sbp is not None and v.dbp is not None:
        exam_urls.append(
            b.add(
                {
                    "resourceType": "Observation",
                    "id": "bp",
                    "status": "final",
                    "subject": b.subject,
                    "encounter": b.encounter,
                    "category": [_cc("vital-signs", C.OBS_CATEGORY)],
                    "code": _cc(C.BP_PANEL[0], C.LOINC, C.BP_PANEL[1]),
                    "effectiveDateTime": when.isoformat(),
                    "component": [
                        {
                            "code": _cc(C.BP_SYSTOLIC[0], C.LOINC, C.BP_SYSTOLIC[1]),
                            "valueQuantity": {
                                "value": v.sbp,
                                "unit": "mmHg",
                                "system": C.UCUM,
                                "code": "mm[Hg]",
                            },
                        },
                        {
                            "code": _cc(C.BP_DIASTOLIC[0], C.LOINC, C.BP_DIASTOLIC[1]),
                            "valueQuantity": {
                                "value": v.dbp,
                                "unit": "mmHg",
                                "system": C.UCUM,
                                "code": "mm[Hg]",
                            },
                        },
                    ],
                }
            )
        )
    values: list[tuple[C.LabCode, float, str | None]] = []
    if v is not None:
        values += [
            (C.VITALS[k], x, None) for k, x in v.model_dump().items() if x is not None and k in C.VITALS
        ]
    if p.weight_kg is not None:
        values.append((C.LAB_BY_KEY["weight_kg"], p.weight_kg, None))
    if p.height_cm is not None:
        values.append((C.LAB_BY_KEY["height_cm"], p.height_cm, None))
    values += [(C.LAB_BY_KEY[k], x, p.lab_dates.get(k)) for k, x in p.labs.items() if k in C.LAB_BY_KEY]
    for lab, value, taken in values:
        url = b.add(
            {
                "resourceType": "Observation",
                "id": f"obs-{lab.key.replace('_', '-')}",
                "status": "final",
                "subject": b.subject,
                "encounter": b.encounter,
                "category": [_cc(lab.category, C.OBS_CATEGORY)],
                "code": _cc(lab.loinc[0], C.LOINC, lab.display),
                "effectiveDateTime": taken or when.isoformat(),
                "valueQuantity": _quantity(value, lab.unit),
            }
        )
        (exam_urls if lab.category == "vital-signs" else lab_urls).append(url)

    for flag, code, system in (
        (p.pregnant, C.LOINC_PREGNANCY_STATUS, C.LOINC),
        (p.lactating, ("lactating", "哺乳期"), C.PATIENT_STATUS),
    ):
        if flag is None:
            continue
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"obs-{code[0]}",
            "status": "final",
            "subject": b.subject,
            "encounter": b.encounter,
            "category": [_cc("social-history", C.OBS_CATEGORY)],
            "code": _cc(code[0], system, code[1]),
            "effectiveDateTime": when.isoformat(),
        }
        if code is C.LOINC_PREGNANCY_STATUS:
            obs["valueCodeableConcept"] = _cc(
                *(C.SNOMED_PREGNANT if flag else C.SNOMED_NOT_PREGNANT)[:1],
                C.SNOMED,
                (C.SNOMED_PREGNANT if flag else C.SNOMED_NOT_PREGNANT)[1],
            )
        else:
            obs["valueBoolean"] = bool(flag)
        exam_urls.append(b.add(obs))

    med_urls = []
    for i, item in enumerate(case.prescription.items):
        med: dict[str, Any] = {"text": item.drug}
        codings = []
        if drug_ids and drug_ids.get(i):
            codings.append({"system": C.CODESYSTEM_FORMULARY, "code": drug_ids[i]})
        if item.code:
            codings.append(
                {"system": "urn:clinic-toolkit:drug-code", "code": item.code, "display": item.drug}
            )
        if codings:
            med["coding"] = codings
        if item.strength:
            med["extension"] = [{"url": EXT_STRENGTH, "valueString": item.strength}]
        text = " ".join(
            str(x)
            for x in (
                item.drug + (f"（规格{item.strength}）" if item.strength else ""),
                _dose_text(item) and "一次" + _dose_text(item),
                item.frequency,
                item.route,
                item.note,
            )
            if x
        )
        dosage: dict[str, Any] = {"text": text}
        if item.dose is not None:
            dosage["doseAndRate"] = [{"doseQuantity": _dose_quantity(item.dose, item.unit)}]
        if item.route and (route := C.route_concept(item.route)):
            dosage["route"] = route
        timing = C.timing_for(item.frequency)
        if timing is None and item.frequency and item.frequency.strip().lower() != "prn":
            timing = {"code": {"text": item.frequency}}
        if item.days is not None:
            timing = timing or {}
            timing.setdefault("repeat", {})["boundsDuration"] = _quantity(item.days, "d")
        if timing:
            dosage["timing"] = timing
        if (item.frequency or "").strip().lower() == "prn":
            dosage["asNeededBoolean"] = True
        if item.note:
            dosage["patientInstruction"] = item.note
        request: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": f"medreq-{i + 1}",
            "status": "draft",
            "intent": "proposal",
            "subject": b.subject,
            "encounter": b.encounter,
            "medicationCodeableConcept": med,
            "dosageInstruction": [dosage],
            "authoredOn": when.isoformat(),
        }
        if case.prescription.id:
            request["groupIdentifier"] = {"value": case.prescription.id}
        ext = [
            {"url": url, "valueString": value}
            for url, value in (
                (C.EXT_SKIN_TEST, item.skin_test),
                (C.EXT_RX_KIND, case.prescription.kind),
                (C.EXT_RX_REASON, case.prescription.reason),
            )
            if value
        ]
        if ext:
            request["extension"] = ext
        if case.prescription.prescriber:
            request["requester"] = {"display": case.prescription.prescriber}
        disp: dict[str, Any] = {}
        if item.days is not None:
            disp["expectedSupplyDuration"] = {"value": item.days, "unit": "d", "system": C.UCUM, "code": "d"}
        if item.quantity is not None:
            disp["quantity"] = {
                "value": item.quantity,
                **({"unit": item.quantity_unit} if item.quantity_unit else {}),
            }
        if disp:
            request["dispenseRequest"] = disp
        med_urls.append(b.add(request))

    generated = {
        "过敏史": "过敏史：" + ("、".join(p.allergies) if p.allergies else ""),
        "诊断": "；".join(f"{d.name}({d.icd10})" if d.icd10 else d.name for d in p.diagnoses),
        "处理": "\n".join(
            " ".join(
                str(x)
                for x in (
                    it.drug,
                    it.strength,
                    _dose_text(it),
                    it.frequency,
                    it.route,
                    it.days and f"{it.days:g}天",
                )
                if x
            )
            for it in case.prescription.items
        ),
        "辅助检查": "；".join(f"{k} {x:g}" for k, x in p.labs.items()),
    }
    if p.current_medications:
        generated["既往史"] = "在用药品：" + "、".join(p.current_medications)
    section_entries = {
        "过敏史": allergy_urls,
        "诊断": condition_urls,
        "既往史": history_urls,
        "处理": med_urls,
        "辅助检查": lab_urls,
        "体格检查": exam_urls,
    }
    comp_sections = []
    names = [s for s in RECORD_SECTIONS if s in REQUIRED_SECTIONS or sections.get(s)]
    for name in names:
        text = sections.get(name) or (generated.get(name) if name != "过敏史" or p.allergies else None)
        code, display = SECTION_LOINC[name]
        sec: dict[str, Any] = {"title": name, "code": _cc(code, C.LOINC, display)}
        refs = section_entries.get(name, [])
        if refs:
            sec["entry"] = [{"reference": r} for r in refs]
        if text:
            sec["text"] = narrative(text, "generated" if name not in sections else "additional")
        elif not refs:
            sec["text"] = narrative("未记录")
            sec["emptyReason"] = _cc(
                "unavailable", "http://terminology.hl7.org/CodeSystem/list-empty-reason", "Unavailable"
            )
        else:
            sec["text"] = narrative(name)
        comp_sections.append(sec)
    composition = {
        "resourceType": "Composition",
        "status": status,
        "type": _cc(C.LOINC_DOC_OUTPATIENT[0], C.LOINC, C.LOINC_DOC_OUTPATIENT[1]),
        "subject": b.subject,
        "encounter": b.encounter,
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "author": [{"display": author}],
        "title": title,
        "section": comp_sections,
    }
    comp_url = new_uuid()
    comp = _validated(composition)
    bundle = {
        "resourceType": "Bundle",
        "type": "document",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": new_uuid()},
        "timestamp": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "entry": [{"fullUrl": comp_url, "resource": comp}]
        + [{"fullUrl": u, "resource": r} for u, r in b.entries],
    }
    return _validated(bundle)


def record_to_document(
    record: Any, patient_id: str = "patient", encounter_id: str = "encounter", visit_date: str | None = None
) -> dict[str, Any]:
    """An :class:`~toolkit.extract.records.OutpatientRecord` as a FHIR ``document`` Bundle."""
    case = record.to_audit_case(id=encounter_id, **({"visit_date": visit_date} if visit_date else {}))
    # 诊断 as encounter diagnoses; conditions said elsewhere (既往史 …) as problem-list items
    seen = {(d.name, d.icd10) for d in record.diagnoses}
    history = [d for d in record.history if (d.name, d.icd10) not in seen]
    case = case.model_copy(
        update={"patient": case.patient.model_copy(update={"diagnoses": record.diagnoses})}
    )
    drug_ids = {i: it.drug_id for i, it in enumerate(record.items) if it.drug_id}
    return case_to_document(
        case,
        vitals=record.vitals,
        patient_id=patient_id,
        encounter_id=encounter_id,
        drug_ids=drug_ids,
        extra_conditions=history,
    )
