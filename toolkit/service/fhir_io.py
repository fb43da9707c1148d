"""FHIR R4B in and out: a Bundle (MedicationRequest + Patient, Condition, AllergyIntolerance, Observation)
becomes an :class:`~toolkit.records.AuditCase`; findings become ``DetectedIssue`` resources.

Resources are validated with ``fhir.resources.R4B``. That library does not enforce code value sets
(it accepts ``severity: "fatal"``), so the codes this module reads and writes are checked here.

Age is computed relative to the *request date*: the earliest ``MedicationRequest.authoredOn`` in the
Bundle, else ``Bundle.timestamp``, else today's date (UTC) on the server; which one was used is kept in
:attr:`FhirCase.request_date_source` and returned to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from toolkit.errors import InputError, require
from toolkit.records import AuditCase, AuditReport, Category, Finding, Severity

log = logging.getLogger(__name__)

CODESYSTEM_CATEGORY = "http://clinic-toolkit.local/fhir/CodeSystem/audit-category"
"""Our CodeSystem for finding categories (DetectedIssue.code, card source.topic)."""
CODESYSTEM_RULE = "http://clinic-toolkit.local/fhir/CodeSystem/audit-rule"
"""Rule ids of the knowledge base as codes (DetectedIssue.code second coding)."""

CATEGORY_DISPLAY: dict[Category, str] = {
    Category.FORMAT: "处方格式", Category.DOSE: "剂量", Category.FREQUENCY: "给药频次",
    Category.ROUTE: "给药途径", Category.DAYS_SUPPLY: "用药天数", Category.LONG_PRESCRIPTION: "长期处方",
    Category.INTERACTION: "相互作用", Category.DUPLICATE_THERAPY: "重复用药", Category.CONTRAINDICATION: "禁忌",
    Category.ALLERGY: "过敏", Category.SPECIAL_POPULATION: "特殊人群", Category.INDICATION: "适应证",
    Category.SKIN_TEST: "皮试", Category.RECORD: "病历",
}
assert set(CATEGORY_DISPLAY) == set(Category), "every category needs a display"

SEVERITY_TO_FHIR = {Severity.BLOCK: "high", Severity.WARN: "moderate", Severity.INFO: "low"}
DETECTED_ISSUE_SEVERITIES = frozenset({"high", "moderate", "low"})
DETECTED_ISSUE_STATUSES = frozenset({"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                                     "entered-in-error", "unknown"})

LOINC = "http://loinc.org"
LAB_LOINC: dict[str, str] = {
    "33914-3": "egfr", "62238-1": "egfr", "98979-8": "egfr",
    "2823-3": "potassium", "6298-4": "potassium",
    "1742-6": "alt",
}
WEIGHT_LOINC = "29463-7"
# Units accepted per lab (UCUM codes and the spellings HIS systems send); anything else is refused
# rather than silently misread, e.g. potassium in mg/dL.
LAB_UNITS: dict[str, frozenset[str]] = {
    "egfr": frozenset({"ml/min/{1.73_m2}", "ml/min/1.73m2", "ml/min/1.73 m2", "ml/min/1.73m²", "ml/min"}),
    "potassium": frozenset({"mmol/l", "meq/l"}),
    "alt": frozenset({"u/l", "iu/l", "[iu]/l"}),
}
WEIGHT_UNITS = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237}

ICD10_SYSTEMS = ("icd-10", "icd10")
SKIPPED_CONDITION_STATUS = frozenset({"inactive", "resolved", "remission"})
SKIPPED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
SKIPPED_MR_STATUS = frozenset({"cancelled", "entered-in-error", "stopped", "completed"})

# SNOMED CT route codes (R4 example value set) → the engine's route names.
SNOMED_ROUTES = {
    "26643006": "口服", "37839007": "舌下含服", "34206005": "皮下注射", "78421000": "肌内注射",
    "47625008": "静脉注射", "37161004": "直肠给药", "6064005": "外用", "447694001": "吸入",
    "54485002": "滴眼", "46713006": "滴鼻", "10547007": "滴耳", "16857009": "阴道给药",
}
# v3 GTSAbbreviation timing codes whose lower case is a frequency the engine reads.
TIMING_CODES = frozenset({"qd", "bid", "tid", "qid", "qod", "q4h", "q6h", "q8h", "q12h", "qam", "qpm", "qhs",
                          "qw", "biw", "tiw", "am", "pm"})
_PER_DAY_CODE = {1.0: "qd", 2.0: "bid", 3.0: "tid", 4.0: "qid", 0.5: "qod"}
_DAYS_PER_UNIT = {"d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0, "h": 1 / 24, "min": 1 / 1440}
# Required code value sets of the fields read here (fhir.resources does not enforce them).
VALUE_SETS: dict[tuple[str, str], frozenset[str]] = {
    ("Bundle", "type"): frozenset({"document", "message", "transaction", "transaction-response", "batch",
                                   "batch-response", "history", "searchset", "collection"}),
    ("MedicationRequest", "status"): frozenset({"active", "on-hold", "cancelled", "completed", "entered-in-error",
                                                "stopped", "draft", "unknown"}),
    ("MedicationRequest", "intent"): frozenset({"proposal", "plan", "order", "original-order", "reflex-order",
                                                "filler-order", "instance-order", "option"}),
    ("Patient", "gender"): frozenset({"male", "female", "other", "unknown"}),
    ("Observation", "status"): frozenset({"registered", "preliminary", "final", "amended", "corrected",
                                          "cancelled", "entered-in-error", "unknown"}),
}
USED_TYPES = frozenset({"MedicationRequest", "Patient", "Condition", "AllergyIntolerance", "Observation"})


@dataclass(frozen=True, slots=True)
class FhirCase:
    """An audit case read from FHIR, with the references needed to answer in FHIR."""

    case: AuditCase
    item_refs: tuple[str, ...]
    """``MedicationRequest/<id>`` (or the entry's fullUrl) of each prescription item, in item order."""
    patient_ref: str | None
    request_date: date
    request_date_source: str
    """``authoredOn`` | ``Bundle.timestamp`` | ``server date``."""


def _loc(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def validate_resource(data: Any, path: str, expected: str | None = None) -> Any:
    """Validate one FHIR R4B resource, raising :class:`InputError` located at the failing field."""
    require("fhir.resources", "service")
    import pydantic
    from fhir.resources.R4B import get_fhir_model_class

    if not isinstance(data, Mapping):
        raise InputError("expected a FHIR resource (JSON object)", field=path or None)
    rtype = data.get("resourceType")
    rt_field = _loc([path, "resourceType"]) if path else "resourceType"
    if expected and rtype != expected:
        raise InputError(f"expected resourceType '{expected}', got {rtype!r}", field=rt_field)
    try:
        cls = get_fhir_model_class(str(rtype))
    except (KeyError, ValueError, AttributeError) as exc:
        raise InputError(f"unknown FHIR R4B resource type {rtype!r}", field=rt_field) from exc
    try:
        resource = cls.model_validate(data)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = _loc([path, *err["loc"]]) if err["loc"] else path
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(f"{err['msg']}{more}", field=where) from exc
    for (rt, name), allowed in VALUE_SETS.items():
        if rt == rtype and (value := getattr(resource, name, None)) is not None and value not in allowed:
            raise InputError(f"{value!r} is not a {rt}.{name} code; allowed: {', '.join(sorted(allowed))}",
                             field=_loc([path, name]) if path else name)
    return resource


def _check_type(rtype: Any, field: str) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(str(rtype))
    except (KeyError, ValueError, AttributeError) as exc:
        raise InputError(f"unknown FHIR R4B resource type {rtype!r}", field=field) from exc


def _text(cc: Any) -> str | None:
    """Text of a CodeableConcept: .text, else the first coding's display, else its code."""
    if cc is None:
        return None
    if cc.text:
        return cc.text
    for c in cc.coding or ():
        if c.display:
            return c.display
    for c in cc.coding or ():
        if c.code:
            return c.code
    return None


def _codes(cc: Any) -> list[tuple[str, str]]:
    return [((c.system or "").lower(), c.code) for c in (cc.coding or ()) if c.code] if cc else []


def _num(v: Decimal | float | None) -> float | None:
    return float(v) if v is not None else None


def _ref(resource: Any, full_url: str | None) -> str:
    if resource.id:
        return f"{resource.get_resource_type()}/{resource.id}"
    return full_url or f"{resource.get_resource_type()}/?"


def _parse_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        if len(text) == 4:
            return date(int(text), 7, 1)  # year only: mid-year, the error is at most half a year
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 15)
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def age_on(birth: date, on: date) -> float:
    """Whole years for adults; fractional years under 2 (paediatric doses scale with months)."""
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    if years < 2:
        return max(0.0, round((on - birth).days / 365.25, 2))
    return float(years)


def _frequency(dosage: Any, path: str) -> str | None:
    timing = dosage.timing
    if timing is not None:
        rep = timing.repeat
        if rep is not None and rep.frequency is not None and rep.period is not None and rep.periodUnit:
            unit = rep.periodUnit
            if unit not in _DAYS_PER_UNIT:
                raise InputError(f"unknown periodUnit {unit!r}; allowed: {', '.join(_DAYS_PER_UNIT)}",
                                 field=f"{path}.timing.repeat.periodUnit")
            f, p = float(rep.frequency), float(rep.period)
            if p <= 0 or f <= 0:
                raise InputError("frequency and period must be positive", field=f"{path}.timing.repeat")
            if unit == "h" and f == 1:
                return f"q{p:g}h"
            if unit == "wk" and p == 1:
                return "qw" if f == 1 else f"每周{f:g}次"
            per_day = f / (p * _DAYS_PER_UNIT[unit])
            return _PER_DAY_CODE.get(per_day) or f"每日{per_day:g}次"
        if timing.code is not None:
            for _system, code in _codes(timing.code):
                if code.lower() in TIMING_CODES:
                    return {"am": "qam", "pm": "qpm"}.get(code.lower(), code.lower())
            return _text(timing.code)
    if dosage.asNeededBoolean:
        return "prn"
    return None


def _route(dosage: Any) -> str | None:
    if dosage.route is None:
        return None
    if dosage.route.text:
        return dosage.route.text
    for system, code in _codes(dosage.route):
        if "snomed" in system and code in SNOMED_ROUTES:
            return SNOMED_ROUTES[code]
    return _text(dosage.route)


def _days(mr: Any, path: str) -> float | None:
    disp = mr.dispenseRequest
    if disp is None or disp.expectedSupplyDuration is None:
        return None
    dur = disp.expectedSupplyDuration
    unit = (dur.code or dur.unit or "d").lower()
    unit = {"day": "d", "days": "d", "天": "d", "week": "wk", "weeks": "wk", "周": "wk", "month": "mo",
            "months": "mo", "月": "mo"}.get(unit, unit)
    if unit not in _DAYS_PER_UNIT or dur.value is None:
        raise InputError(f"expectedSupplyDuration needs a value and a unit in {', '.join(_DAYS_PER_UNIT)}",
                         field=f"{path}.dispenseRequest.expectedSupplyDuration")
    return round(float(dur.value) * _DAYS_PER_UNIT[unit], 3)


def medication_item(mr: Any, path: str, contained: Mapping[str, Any]) -> dict[str, Any]:
    """One MedicationRequest as a PrescriptionItem dict (first dosageInstruction only)."""
    drug = _text(mr.medicationCodeableConcept)
    if drug is None and mr.medicationReference is not None:
        ref = mr.medicationReference
        drug = ref.display
        if drug is None and ref.reference and ref.reference.startswith("#"):
            med = contained.get(ref.reference[1:])
            drug = _text(getattr(med, "code", None)) if med is not None else None
    if not drug:
        raise InputError("the drug is not named (medicationCodeableConcept.text/coding or "
                         "medicationReference.display)", field=f"{path}.medication[x]")
    item: dict[str, Any] = {"drug": drug}
    dosages = mr.dosageInstruction or []
    if dosages:
        d, dpath = dosages[0], f"{path}.dosageInstruction[0]"
        for dr in d.doseAndRate or ():
            q = dr.doseQuantity
            if q is not None:
                item["dose"] = _num(q.value)
                item["unit"] = q.unit or q.code
                break
        item["frequency"] = _frequency(d, dpath)
        item["route"] = _route(d)
        if d.patientInstruction:
            item["note"] = d.patientInstruction
    item["days"] = _days(mr, path)
    disp = mr.dispenseRequest
    if disp is not None and disp.quantity is not None and disp.quantity.value is not None:
        item["quantity"] = _num(disp.quantity.value)
        item["quantity_unit"] = disp.quantity.unit or disp.quantity.code
    return {k: v for k, v in item.items() if v is not None}


def _observation(obs: Any, path: str, labs: dict[str, tuple[str, float]], patient: dict[str, Any]) -> None:
    if obs.status in {"entered-in-error", "cancelled"}:
        return
    codes = [c for s, c in _codes(obs.code) if s in {LOINC, "loinc", ""} or "loinc" in s]
    lab = next((LAB_LOINC[c] for c in codes if c in LAB_LOINC), None)
    is_weight = WEIGHT_LOINC in codes
    if lab is None and not is_weight:
        return
    q = obs.valueQuantity
    if q is None or q.value is None:
        raise InputError("a numeric valueQuantity is required", field=f"{path}.valueQuantity")
    unit = (q.code or q.unit or "").strip()
    when = obs.effectiveDateTime or (obs.effectivePeriod.start if obs.effectivePeriod else None) or obs.issued
    day = _parse_date(when)
    stamp = day.isoformat() if day else ""
    if is_weight:
        factor = WEIGHT_UNITS.get(unit.lower() if unit != "[lb_av]" else unit)
        if factor is None:
            raise InputError(f"unknown weight unit {unit!r}; allowed: {', '.join(WEIGHT_UNITS)}",
                             field=f"{path}.valueQuantity")
        prev = patient.get("_weight_date", "")
        if stamp >= prev:
            patient["weight_kg"], patient["_weight_date"] = round(float(q.value) * factor, 2), stamp
        return
    assert lab is not None
    if unit.lower() not in LAB_UNITS[lab]:
        raise InputError(f"unit {unit!r} not accepted for {lab}; allowed: {', '.join(sorted(LAB_UNITS[lab]))}",
                         field=f"{path}.valueQuantity.unit")
    if lab not in labs or stamp >= labs[lab][0]:  # the latest result wins
        labs[lab] = (stamp, float(q.value))


def bundle_to_case(data: Any, today: date | None = None) -> FhirCase:
    """Read a FHIR R4B Bundle into an audit case. Raises :class:`InputError` located at the field."""
    require("fhir.resources", "service")
    if not isinstance(data, Mapping) or data.get("resourceType") != "Bundle":
        raise InputError("expected a FHIR Bundle (resourceType 'Bundle')", field="resourceType")
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise InputError("entry must be a list", field="entry")
    # Validate the Bundle shell, then only the resources we read (others are passed over unread).
    shell = {k: v for k, v in data.items() if k != "entry"}
    bundle = validate_resource(shell, "", expected="Bundle")
    mrs: list[tuple[Any, str, str | None]] = []
    by_type: dict[str, list[tuple[Any, str]]] = {t: [] for t in USED_TYPES}
    for n, entry in enumerate(entries):
        path = f"entry[{n}].resource"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("resource"), Mapping):
            raise InputError("each entry needs a resource object", field=f"entry[{n}]")
        rtype = entry["resource"].get("resourceType")
        if rtype not in USED_TYPES:
            _check_type(rtype, f"{path}.resourceType")  # a misspelt type is an error, not skipped
            continue
        res = validate_resource(entry["resource"], path)
        if rtype == "MedicationRequest":
            mrs.append((res, path, entry.get("fullUrl")))
        else:
            by_type[rtype].append((res, path))
    return resources_to_case(mrs, by_type, bundle_id=bundle.id, bundle_ts=bundle.timestamp, today=today)


def resources_to_case(mrs: list[tuple[Any, str, str | None]], by_type: Mapping[str, list[tuple[Any, str]]],
                      *, bundle_id: str | None = None, bundle_ts: Any = None, case_id: str | None = None,
                      today: date | None = None) -> FhirCase:
    """Build the case from validated resources (shared by the FHIR endpoint and CDS Hooks)."""
    items: list[dict[str, Any]] = []
    refs: list[str] = []
    authored: list[date] = []
    group_id: str | None = None
    for mr, path, full_url in mrs:
        if mr.status in SKIPPED_MR_STATUS:
            continue
        items.append(medication_item(mr, path, {c.id: c for c in (mr.contained or ()) if c.id}))
        refs.append(_ref(mr, full_url))
        if mr.authoredOn is not None and (d := _parse_date(mr.authoredOn)) is not None:
            authored.append(d)
        if group_id is None and mr.groupIdentifier is not None and mr.groupIdentifier.value:
            group_id = mr.groupIdentifier.value
    if not items:
        raise InputError("no MedicationRequest to audit (status draft/active/on-hold)", field="entry")
    if authored:
        req_date, source = min(authored), "authoredOn"
    elif bundle_ts is not None:
        req_date, source = _parse_date(bundle_ts) or datetime.now(UTC).date(), "Bundle.timestamp"
    else:
        req_date, source = today or datetime.now(UTC).date(), "server date"

    patient: dict[str, Any] = {}
    patient_ref = None
    pats = by_type.get("Patient", [])
    if len(pats) > 1:
        raise InputError("more than one Patient in the Bundle", field=pats[1][1])
    if pats:
        p, path = pats[0]
        patient_ref = _ref(p, None)
        if p.birthDate is not None:
            born = _parse_date(p.birthDate)
            if born is None or born > req_date:
                raise InputError(f"birthDate is after the request date {req_date}", field=f"{path}.birthDate")
            patient["age"] = age_on(born, req_date)
        if p.gender in {"male", "female"}:
            patient["sex"] = "M" if p.gender == "male" else "F"
    diagnoses = []
    for c, _path in by_type.get("Condition", []):
        if {x for _, x in _codes(c.clinicalStatus)} & SKIPPED_CONDITION_STATUS:
            continue
        if {x for _, x in _codes(c.verificationStatus)} & SKIPPED_VERIFICATION:
            continue
        icd = next((code for s, code in _codes(c.code) if any(k in s for k in ICD10_SYSTEMS)), None)
        name = c.code.text if c.code and c.code.text else next(
            (x.display for x in (c.code.coding or ()) if x.display), "") if c.code else ""
        if icd or name:
            diagnoses.append({"name": name or "", "icd10": icd})
    allergies = []
    for a, _path in by_type.get("AllergyIntolerance", []):
        if {x for _, x in _codes(a.verificationStatus)} & SKIPPED_VERIFICATION:
            continue
        if {x for _, x in _codes(a.clinicalStatus)} & {"inactive", "resolved"}:
            continue
        if (name := _text(a.code)) and name not in allergies:
            allergies.append(name)
    labs: dict[str, tuple[str, float]] = {}
    for o, path in by_type.get("Observation", []):
        _observation(o, path, labs, patient)
    patient.pop("_weight_date", None)
    patient.update(diagnoses=diagnoses, allergies=allergies, labs={k: v for k, (_, v) in labs.items()},
                   lab_dates={k: d for k, (d, _) in labs.items() if d})
    cid = case_id or group_id or bundle_id or "fhir-request"
    try:
        case = AuditCase.model_validate({
            "id": cid, "patient": patient, "visit_date": req_date.isoformat(),
            "prescription": {"id": group_id, "items": items, "date": req_date.isoformat()},
        })
    except Exception as exc:  # a value FHIR allows but the audit record does not (e.g. age > 130)
        import pydantic

        if isinstance(exc, pydantic.ValidationError):
            err = exc.errors()[0]
            raise InputError(err["msg"], field="case." + _loc(err["loc"])) from exc
        raise
    return FhirCase(case=case, item_refs=tuple(refs), patient_ref=patient_ref, request_date=req_date,
                    request_date_source=source)


# ----------------------------------------------------------------------------- out

def _evidence_text(key: str, value: Any) -> str:
    return f"{key}: {value}"


def finding_to_issue(finding: Finding, fc: FhirCase, report: AuditReport, issue_id: str,
                     identified: datetime) -> dict[str, Any]:
    """One finding as a validated DetectedIssue (JSON dict)."""
    from fhir.resources.R4B.detectedissue import DetectedIssue

    severity = SEVERITY_TO_FHIR[finding.severity]
    refs = [fc.item_refs[i] for i in finding.items if 0 <= i < len(fc.item_refs)]
    detail = finding.message
    if finding.references:
        detail += "\n依据: " + "; ".join(finding.references)
    kb = report.provenance.kb_version if report.provenance else "?"
    data: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": issue_id,
        "status": "final",
        "severity": severity,
        "code": {
            "coding": [
                {"system": CODESYSTEM_CATEGORY, "code": finding.category.value,
                 "display": CATEGORY_DISPLAY[finding.category]},
                {"system": CODESYSTEM_RULE, "code": finding.rule_id, "version": str(finding.rule_version)},
            ],
            "text": CATEGORY_DISPLAY[finding.category],
        },
        "identifiedDateTime": identified.isoformat(),
        "author": {"display": f"clinic-toolkit rx-preaudit (KB {kb})"},
        "detail": detail,
    }
    if fc.patient_ref:
        data["patient"] = {"reference": fc.patient_ref}
    if refs:
        data["implicated"] = [{"reference": r} for r in refs]
    if finding.evidence:
        data["evidence"] = [{"code": [{"text": _evidence_text(k, v)} for k, v in finding.evidence.items()]}]
    issue = DetectedIssue.model_validate(data)
    if issue.severity not in DETECTED_ISSUE_SEVERITIES or issue.status not in DETECTED_ISSUE_STATUSES:
        raise AssertionError(f"DetectedIssue code out of its value set: {issue.severity}/{issue.status}")
    return issue.model_dump(mode="json", exclude_none=True)


def report_to_bundle(report: AuditReport, fc: FhirCase, audit_id: str) -> dict[str, Any]:
    """The answer to a FHIR audit: a ``collection`` Bundle of DetectedIssue (empty when nothing found)."""
    from fhir.resources.R4B.bundle import Bundle

    now = datetime.now(UTC).replace(microsecond=0)
    entries = []
    for n, f in enumerate(report.findings):
        issue_id = f"{audit_id}-{n}"
        entries.append({"fullUrl": f"urn:uuid:{_uuid_for(issue_id)}",
                        "resource": finding_to_issue(f, fc, report, issue_id, now)})
    bundle = Bundle.model_validate({"resourceType": "Bundle", "id": audit_id, "type": "collection",
                                    "timestamp": now.isoformat(), "entry": entries or None})
    return bundle.model_dump(mode="json", exclude_none=True)


def _uuid_for(text: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, CODESYSTEM_RULE + "/" + text))


def category_codesystem() -> dict[str, Any]:
    """Our finding-category CodeSystem as a FHIR R4B resource (published at /fhir/CodeSystem/…)."""
    from fhir.resources.R4B.codesystem import CodeSystem

    cs = CodeSystem.model_validate({
        "resourceType": "CodeSystem", "id": "audit-category", "url": CODESYSTEM_CATEGORY,
        "name": "ClinicToolkitAuditCategory", "title": "处方审核问题类别", "status": "active",
        "content": "complete", "caseSensitive": True,
        "concept": [{"code": c.value, "display": CATEGORY_DISPLAY[c]} for c in Category],
    })
    return cs.model_dump(mode="json", exclude_none=True)
