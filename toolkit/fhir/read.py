"""FHIR R4B in: a Bundle (MedicationRequest + Patient, Condition, AllergyIntolerance, Observation) becomes
an :class:`~toolkit.records.AuditCase`, with the references each piece came from (for
``DetectedIssue.evidence.detail``) and notes about what was read in a way the caller should know.

* **Drugs** from every coding and every name: the clinic's 药品编码 through the drug dictionary
  (``Knowledge.drug_codes``), an ATC code through the formulary's ``atc``, then each name —
  ``medicationCodeableConcept.text``, every coding's display (Chinese or English, RxNorm or any
  system), a contained or bundled Medication — preferring the first that the name resolver knows.
* **Doses** from ``doseQuantity``, else the high end of ``doseRange`` (noted), else
  ``dosageInstruction.text`` (一次0.5g，一日3次，口服); none of these is a *missing* dose, not an error.
* **Labs** by LOINC, by the clinic's LIS code map (:class:`~toolkit.fhir.codes.LisMap`) or by an exact
  lab name; values converted with UCUM (:mod:`toolkit.fhir.units`); an Observation the audit does not
  use is listed in the notes, never silently dropped.
* **Diagnoses** by ICD-10 incl. the Chinese national OID, GB/T 14396 extension codes normalised
  (E11.900 → E11.9).

Resources are validated with ``fhir.resources.R4B``. That library does not enforce code value sets, so
the codes read here are checked here. Age is computed on the *request date*: the earliest
``MedicationRequest.authoredOn``, else ``Bundle.timestamp``, else today's date (UTC).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from toolkit.errors import InputError, require
from toolkit.records import AuditCase, Vitals

from . import codes as C
from .units import convert

DETECTED_ISSUE_SEVERITIES = frozenset({"high", "moderate", "low"})
SKIPPED_CONDITION_STATUS = frozenset({"inactive", "resolved", "remission"})
SKIPPED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
SKIPPED_MR_STATUS = frozenset({"cancelled", "entered-in-error", "stopped", "completed"})
CURRENT_STATUS = frozenset({"active"})
"""Status of a MedicationStatement or (prefetched) MedicationRequest read as a current medication (在用药品)."""
# Required code value sets of the fields read here (fhir.resources does not enforce them).
VALUE_SETS: dict[tuple[str, str], frozenset[str]] = {
    ("Bundle", "type"): frozenset(
        {
            "document",
            "message",
            "transaction",
            "transaction-response",
            "batch",
            "batch-response",
            "history",
            "searchset",
            "collection",
        }
    ),
    ("MedicationRequest", "status"): frozenset(
        {"active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"}
    ),
    ("MedicationRequest", "intent"): frozenset(
        {
            "proposal",
            "plan",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        }
    ),
    ("MedicationStatement", "status"): frozenset(
        {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"}
    ),
    ("Patient", "gender"): frozenset({"male", "female", "other", "unknown"}),
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
}
USED_TYPES = frozenset(
    {
        "MedicationRequest",
        "MedicationStatement",
        "Patient",
        "Condition",
        "AllergyIntolerance",
        "Observation",
        "Medication",
        "Composition",
    }
)


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the facts of the case came from: ``Observation/o1`` etc. (for DetectedIssue.evidence)."""

    labs: dict[str, str] = field(default_factory=dict)  # lab key (and weight_kg) → reference
    conditions: tuple[tuple[str, str, str | None], ...] = ()  # (reference, name, icd10)
    allergies: tuple[tuple[str, str], ...] = ()  # (reference, substance as read)
    patient: str | None = None
    current_medications: tuple[tuple[str, str], ...] = ()  # (reference, drug as read): 在用药品


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
    notes: tuple[str, ...] = ()
    """What was read in a way the caller should know (a dose range, an unknown lab …), in Chinese."""
    sources: Sources = field(default_factory=Sources)


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
            raise InputError(
                f"{value!r} is not a {rt}.{name} code; allowed: {', '.join(sorted(allowed))}",
                field=_loc([path, name]) if path else name,
            )
    return resource


def check_type(rtype: Any, field: str) -> None:
    """Raise InputError (at ``field``) unless ``rtype`` is a FHIR R4B resource type."""
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


def ref_of(resource: Any, full_url: str | None) -> str:
    """``Type/id`` of a resource, else its entry's fullUrl."""
    if resource.id:
        return f"{resource.get_resource_type()}/{resource.id}"
    return full_url or f"{resource.get_resource_type()}/?"


def _patient_key(reference: str | None) -> str | None:
    """``Patient/p1`` for ``Patient/p1``, ``http://his/fhir/Patient/p1`` or ``Patient/p1/_history/2``."""
    if not reference:
        return None
    ref = reference.split("/_history/", 1)[0]
    parts = ref.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 and parts[-2] == "Patient" else ref


def _entry(t: tuple[Any, ...]) -> tuple[Any, str, str | None]:
    return (t[0], t[1], t[2] if len(t) > 2 else None)


def _one_patient(
    mrs: list[tuple[Any, str, str | None]],
    by_type: Mapping[str, list[tuple[Any, ...]]],
    patient_keys: set[str],
) -> None:
    """One request audits one patient: every MedicationRequest, Condition, Observation, allergy and
    MedicationStatement must
    refer to the same patient (and to the Bundle's Patient, when it has one)."""
    seen: dict[str, str] = {k: "Patient" for k in patient_keys}
    refs = [(mr.subject, f"{path}.subject") for mr, path, _ in mrs]
    refs += [
        (getattr(r[0], "subject", None), f"{r[1]}.subject")
        for t in ("Condition", "Observation", "MedicationStatement")
        for r in by_type.get(t, [])
    ]
    refs += [
        (getattr(r[0], "patient", None), f"{r[1]}.patient") for r in by_type.get("AllergyIntolerance", [])
    ]
    for ref, path in refs:
        key = _patient_key(getattr(ref, "reference", None)) if ref is not None else None
        if key is None:
            continue
        if seen and key not in seen:
            raise InputError(
                f"the request refers to more than one patient ({', '.join([*seen, key])}); "
                "audit one patient's prescription per request",
                field=path,
            )
        seen.setdefault(key, path)


def parse_date(value: Any) -> date | None:
    """A FHIR date or dateTime as a date; a year alone is 1 July, a year-month the 15th; None if invalid."""
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


# ----------------------------------------------------------------------------- dosage
def _frequency(dosage: Any, path: str) -> str | None:
    timing = dosage.timing
    if timing is not None:
        rep = timing.repeat
        if rep is not None and rep.frequency is not None and rep.period is not None and rep.periodUnit:
            unit = rep.periodUnit
            if unit not in C.DAYS_PER_UNIT:
                raise InputError(
                    f"unknown periodUnit {unit!r}; allowed: {', '.join(C.DAYS_PER_UNIT)}",
                    field=f"{path}.timing.repeat.periodUnit",
                )
            f, p = float(rep.frequency), float(rep.period)
            if p <= 0 or f <= 0:
                raise InputError("frequency and period must be positive", field=f"{path}.timing.repeat")
            return C.frequency_from_repeat(f, p, unit, tuple(rep.when or ()))
        if timing.code is not None:
            for _system, code in _codes(timing.code):
                t = C.TIMING_BY_GTS.get(code.upper()) or C.TIMING_BY_CODE.get(code.lower())
                if t is not None:
                    return t.code
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
        if C.is_snomed(system) and code in C.SNOMED_ROUTES:
            return C.SNOMED_ROUTES[code]
    return _text(dosage.route)


_DOSE_TEXT = re.compile(
    r"(?:一次|每次|单次|次|1次|each|dose)?\s*[:：]?\s*(\d+(?:\.\d+)?)\s*"
    r"(mg|g|μg|ug|mcg|µg|ml|mL|iu|IU|u|U|单位|万单位|片|粒|袋|支|丸|滴|喷|揿|吸|贴|包|枚)",
    re.I,
)
_SPLIT = re.compile(r"[，,；;、。\s]+")


def parse_dosage_text(text: str) -> dict[str, Any]:
    """Dose, frequency and route from a free ``dosageInstruction.text``: ``一次0.5g，一日3次，口服``,
    ``0.5 g tid po``. Only the parts recognised are returned; the frequency and route texts are passed
    on as written (the engine parses them)."""
    from toolkit.units import normalize_route, parse_frequency

    out: dict[str, Any] = {}
    text = re.sub(
        r"(\d)\s+(?=(?:mg|g|μg|ug|mcg|µg|ml|iu|u|单位|万单位|片|粒|袋|支|丸|滴|喷|揿|吸|贴|包|枚)\b)",
        r"\1",
        text.strip(),
        flags=re.I,
    )
    text = re.sub(r"(一次|每次|单次)\s*[:：]?\s+(?=\d)", r"\1", text)
    for part in _SPLIT.split(text):
        if not part:
            continue
        if "dose" not in out and (
            m := _DOSE_TEXT.fullmatch(part)
            or re.fullmatch(r"(?:一次|每次|单次)" + _DOSE_TEXT.pattern, part, re.I)
        ):
            out["dose"], out["unit"] = float(m.group(1)), m.group(2)
        elif "frequency" not in out and parse_frequency(part) is not None:
            out["frequency"] = part
        elif "route" not in out and normalize_route(part) is not None:
            out["route"] = part
        elif "dose" not in out and (m := _DOSE_TEXT.search(part)) and re.match(r"(一次|每次|单次)", part):
            out["dose"], out["unit"] = float(m.group(1)), m.group(2)
    return out


def _days(mr: Any, path: str) -> float | None:
    disp = mr.dispenseRequest
    if disp is None or disp.expectedSupplyDuration is None:
        return None
    dur = disp.expectedSupplyDuration
    unit = (dur.code or dur.unit or "d").lower()
    unit = {
        "day": "d",
        "days": "d",
        "天": "d",
        "week": "wk",
        "weeks": "wk",
        "周": "wk",
        "month": "mo",
        "months": "mo",
        "月": "mo",
    }.get(unit, unit)
    if unit not in C.DAYS_PER_UNIT or dur.value is None:
        raise InputError(
            f"expectedSupplyDuration needs a value and a unit in {', '.join(C.DAYS_PER_UNIT)}",
            field=f"{path}.dispenseRequest.expectedSupplyDuration",
        )
    return round(float(dur.value) * C.DAYS_PER_UNIT[unit], 3)


# ----------------------------------------------------------------------------- drugs
def _names_and_codes(cc: Any) -> tuple[list[str], list[tuple[str, str, str | None]]]:
    names: list[str] = []
    codings: list[tuple[str, str, str | None]] = []
    if cc is None:
        return names, codings
    if cc.text:
        names.append(cc.text)
    for c in cc.coding or ():
        if c.display and c.display not in names:
            names.append(c.display)
        if c.code:
            codings.append((c.system or "", c.code, c.display))
    return names, codings


def _medication_concepts(mr: Any, contained: Mapping[str, Any], medications: Mapping[str, Any]) -> list[Any]:
    concepts = [mr.medicationCodeableConcept] if mr.medicationCodeableConcept is not None else []
    ref = mr.medicationReference
    if ref is not None and ref.reference:
        key = ref.reference
        if key.startswith("#"):
            med = contained.get(key[1:])
        else:  # a Medication entry of the Bundle: by fullUrl, Medication/id or an absolute URL ending so
            med = medications.get(key) or medications.get(
                "/".join(key.split("/_history/")[0].split("/")[-2:])
            )
        if med is not None and getattr(med, "code", None) is not None:
            concepts.append(med.code)
    return concepts


_SALTS = re.compile(
    r"\b(hydrochloride|hcl|sodium|potassium|calcium|magnesium|besylate|besilate|maleate|mesylate|"
    r"tartrate|succinate|fumarate|citrate|sulfate|sulphate|phosphate|acetate|bromide|chloride|"
    r"trihydrate|monohydrate|dihydrate|anhydrous)\b",
    re.I,
)


def _name_variants(name: str) -> list[str]:
    out = [name]
    if not name.isascii():
        return out
    head = re.split(r"\s\d|\s\[|\(", name, maxsplit=1)[0].strip()  # before the strength / brand bracket
    for v in (head, _SALTS.sub("", head)):  # never the first word alone: "amlodipine and valsartan"
        v = re.sub(r"\s+", " ", v).strip(" ,-")
        if v and len(v) >= 4 and v not in out:
            out.append(v)
    return out


def resolve_drug(
    mr: Any,
    path: str,
    kb: Any,
    contained: Mapping[str, Any],
    medications: Mapping[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    """``{"drug": name, "code": 药品编码?}`` from every coding and name of a MedicationRequest."""
    names: list[str] = []
    codings: list[tuple[str, str, str | None]] = []
    for cc in _medication_concepts(mr, contained, medications):
        n, c = _names_and_codes(cc)
        names += [x for x in n if x not in names]
        codings += c
    if mr.medicationReference is not None and mr.medicationReference.display:
        names.append(mr.medicationReference.display)
    out: dict[str, Any] = {}
    # 1. the clinic's drug code (药品编码) through the pharmacist-confirmed drug dictionary
    if kb is not None and kb.drug_codes is not None:
        for system, code, _display in codings:
            if code.strip() in kb.drug_codes and not (
                C.is_atc(system) or C.is_rxnorm(system) or C.is_snomed(system)
            ):
                out["code"] = code.strip()
                break
    # 2. ATC through the formulary (a unique match only)
    atc_drug = None
    if kb is not None:
        for system, code, _display in codings:
            if C.is_atc(system):
                hits = [d for d in kb.drugs.values() if (d.atc or "").upper() == code.strip().upper()]
                if len(hits) == 1:
                    atc_drug = hits[0]
                    break
        formulary = next(
            (code for system, code, _ in codings if system == C.CODESYSTEM_FORMULARY and code in kb.drugs),
            None,
        )
        if atc_drug is None and formulary is not None:
            atc_drug = kb.drugs[formulary]
    # 3. every name, the first the resolver knows (English clinical-drug names such as RxNorm's
    #    "metformin hydrochloride 500 MG Oral Tablet" are tried without strength, form and salt too)
    resolved = None
    if kb is not None:
        for name in names:
            for variant in _name_variants(name):
                m = kb.names.resolve(variant)
                if m is not None and (atc_drug is None or m.drug_id == atc_drug.id):
                    resolved = variant
                    if variant != name:
                        notes.append(f"{path}: 药品名“{name}”按“{variant}”识别")
                    break
            if resolved:
                break
        if atc_drug is not None and resolved is None:
            others = [n for n in names if kb.names.resolve(n) is not None]
            if others:
                notes.append(
                    f"{path}: 药品编码与名称不一致（{', '.join(others)}），按编码识别为{atc_drug.name}"
                )
            resolved = atc_drug.name
    drug = resolved or (names[0] if names else None)
    if drug is None and codings:
        system, code, _ = codings[0]
        drug = code
        notes.append(f"{path}: 药品仅有编码 {system}|{code}，知识库无法识别")
    if not drug:
        raise InputError(
            "the drug is not named (medicationCodeableConcept.text/coding or medicationReference.display)",
            field=f"{path}.medication[x]",
        )
    out["drug"] = drug
    cc = mr.medicationCodeableConcept
    for ext in (cc.extension or ()) if cc is not None else ():
        if ext.url == C.EXT_STRENGTH and ext.valueString:
            out["strength"] = ext.valueString
    return out


def medication_item(
    mr: Any,
    path: str,
    contained: Mapping[str, Any],
    *,
    kb: Any = None,
    medications: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """One MedicationRequest as a PrescriptionItem dict (first dosageInstruction only)."""
    notes = notes if notes is not None else []
    item: dict[str, Any] = resolve_drug(mr, path, kb, contained, medications or {}, notes)
    dosages = mr.dosageInstruction or []
    if len(dosages) > 1:
        notes.append(f"{path}: 多条 dosageInstruction，只审核第一条")
    if dosages:
        d, dpath = dosages[0], f"{path}.dosageInstruction[0]"
        for dr in d.doseAndRate or ():
            q = dr.doseQuantity
            if q is not None and q.value is not None:
                item["dose"] = _num(q.value)
                item["unit"] = q.unit or q.code
                break
            rng = dr.doseRange
            if rng is not None and rng.high is not None and rng.high.value is not None:
                item["dose"] = _num(rng.high.value)
                item["unit"] = rng.high.unit or rng.high.code
                low = _num(rng.low.value) if rng.low is not None and rng.low.value is not None else None
                notes.append(
                    f"{dpath}.doseAndRate: 剂量范围 {low if low is not None else '?'}–{item['dose']:g}"
                    f"{item['unit'] or ''}，按上限审核"
                )
                break
        item["frequency"] = _frequency(d, dpath)
        item["route"] = _route(d)
        if d.text:
            parsed = parse_dosage_text(d.text)
            if item.get("dose") is None and parsed.get("dose") is not None:
                item["dose"], item["unit"] = parsed["dose"], parsed["unit"]
                notes.append(f"{dpath}.text: 无结构化剂量，剂量由用法文字读取（{d.text}）")
            for key in ("frequency", "route"):
                if item.get(key) is None and parsed.get(key) is not None:
                    item[key] = parsed[key]
        if d.patientInstruction:
            item["note"] = d.patientInstruction
    for ext in mr.extension or ():
        if ext.url == C.EXT_SKIN_TEST and ext.valueString:
            item["skin_test"] = ext.valueString
    item["days"] = _days(mr, path)
    disp = mr.dispenseRequest
    if disp is not None and disp.quantity is not None and disp.quantity.value is not None:
        item["quantity"] = _num(disp.quantity.value)
        item["quantity_unit"] = disp.quantity.unit or disp.quantity.code
    return {k: v for k, v in item.items() if v is not None}


# ----------------------------------------------------------------------------- observations
def _lab_of(obs: Any, lis: C.LisMap) -> tuple[C.LabCode | None, str | None, str | None]:
    """(lab, LOINC code, default unit of a local code)."""
    codings = [(c.system or "", c.code) for c in (obs.code.coding or ()) if c.code] if obs.code else []
    for system, code in codings:
        if C.is_loinc(system) and code in C.LAB_BY_LOINC:
            return C.LAB_BY_LOINC[code], code, None
    for system, code in codings:
        if (local := lis.get(system, code)) is not None:
            return C.LAB_BY_KEY[local.lab], None, local.unit
    for system, code in codings:
        if not system and code in C.LAB_BY_LOINC:  # a LOINC code without its system
            return C.LAB_BY_LOINC[code], code, None
    names = (
        ([obs.code.text] if obs.code and obs.code.text else [])
        + [c.display for c in (obs.code.coding or ()) if c.display]
        if obs.code
        else []
    )
    for n in names:
        lab = C.LAB_BY_NAME.get(n.strip().lower())
        if lab is not None:
            return lab, None, None
    return None, None, None


def _status_observation(obs: Any, patient: dict[str, Any], ref: str, status_refs: dict[str, str]) -> bool:
    """Pregnancy status (LOINC 82810-3, SNOMED 77386006 / 60001007) and our 哺乳期 code; True when read."""
    codings = [(c.system or "", c.code) for c in (obs.code.coding or ()) if c.code] if obs.code else []
    if any(C.is_loinc(s) and c == C.LOINC_PREGNANCY_STATUS[0] for s, c in codings):
        values = {c for _, c in _codes(obs.valueCodeableConcept)}
        if C.SNOMED_PREGNANT[0] in values:
            patient["pregnant"] = True
        elif C.SNOMED_NOT_PREGNANT[0] in values:
            patient["pregnant"] = False
        status_refs["pregnant"] = ref
        return True
    if any(s == C.PATIENT_STATUS and c == "lactating" for s, c in codings):
        if obs.valueBoolean is not None:
            patient["lactating"] = bool(obs.valueBoolean)
            status_refs["lactating"] = ref
        return True
    return False


_VITAL_BY_LOINC = {code: v for v in C.VITALS.values() for code in v.loinc}


def _vital(obs: Any, vitals: dict[str, float]) -> bool:
    """Blood pressure (panel 85354-9 with 8480-6/8462-4) and the other vital signs → ``case.vitals``;
    True when the Observation was one (a value outside the record's plausible range is left out)."""
    codes = {c.code for c in (obs.code.coding or ()) if c.code} if obs.code else set()
    if C.BP_PANEL[0] in codes:
        for comp in obs.component or ():
            ccodes = {c.code for c in (comp.code.coding or ()) if c.code} if comp.code else set()
            q = comp.valueQuantity
            if q is None or q.value is None:
                continue
            if C.BP_SYSTOLIC[0] in ccodes:
                vitals["sbp"] = float(q.value)
            elif C.BP_DIASTOLIC[0] in ccodes:
                vitals["dbp"] = float(q.value)
        return True
    vital = next((_VITAL_BY_LOINC[c] for c in codes if c in _VITAL_BY_LOINC), None)
    if vital is None:
        return False
    q = obs.valueQuantity
    if q is not None and q.value is not None:
        try:
            value = convert(float(q.value), q.code or q.unit, vital)
        except ValueError:
            return True  # a vital sign in a unit of the wrong kind is not used (the audit does not need it)
        vitals[vital.key] = round(value, 2)
    return True


def _observation(
    obs: Any, path: str, ref: str, labs: dict[str, tuple[str, float, str]], lis: C.LisMap, notes: list[str]
) -> None:
    if obs.status in {"entered-in-error", "cancelled"}:
        return
    lab, loinc, local_unit = _lab_of(obs, lis)
    name = _text(obs.code) or "?"
    if lab is None:
        notes.append(f"{path}: 检验项目“{name}”不在审核所用项目内，未使用")
        return
    if lab.key == "height_cm" and obs.valueQuantity is None:
        return
    q = obs.valueQuantity
    if q is None or q.value is None:
        raise InputError("a numeric valueQuantity is required", field=f"{path}.valueQuantity")
    unit = (q.code or q.unit or local_unit or "").strip()
    if not unit and lab.molar_mass:
        # mg/dL or μmol/L? (creatinine 1.2 vs 106): a guess could hide renal impairment; not used, said
        notes.append(f"{path}: {name} 无单位（质量浓度与摩尔浓度无法区分），未使用")
        return
    if not unit:
        notes.append(f"{path}: {name} 无单位，按 {lab.unit} 读取")
    try:
        value = convert(float(q.value), unit or None, lab, loinc=loinc)
    except ValueError as exc:
        raise InputError(
            f"unit {unit!r} not accepted for {lab.key}: {exc}; expected {lab.unit} "
            "(UCUM) or a unit of the same kind",
            field=f"{path}.valueQuantity.unit",
        ) from exc
    when = obs.effectiveDateTime or (obs.effectivePeriod.start if obs.effectivePeriod else None) or obs.issued
    day = parse_date(when)
    stamp = day.isoformat() if day else ""
    if lab.key not in labs or stamp >= labs[lab.key][0]:  # the latest result wins
        labs[lab.key] = (stamp, round(value, 4), ref)


# ----------------------------------------------------------------------------- the record
def _narrative_text(div: str) -> str:
    from html import unescape

    text = re.sub(r"</p>\s*<p>|<br\s*/?>", "\n", div)
    return unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _record_sections(compositions: list[tuple[Any, ...]]) -> dict[str, str]:
    """Record sections of a document's Composition: the sections titled like the record's (主诉 …) whose
    narrative was written by a person (text.status ``additional``), not generated from the entries."""
    from toolkit.records import RECORD_SECTIONS

    out: dict[str, str] = {}
    for t in compositions[:1]:
        comp = t[0]
        for sec in comp.section or ():
            if sec.title in RECORD_SECTIONS and sec.text is not None and sec.text.status == "additional":
                text = _narrative_text(sec.text.div)
                if text:
                    out[sec.title] = text
    return out


NOT_CURRENT_INTENT = frozenset({"proposal", "plan", "option"})
"""MedicationRequest intents that are no order the patient is on (a suggestion or a care plan's intention)."""


def _current_on(res: Any, today: date | None) -> bool:
    """Active, and (a MedicationStatement) its effectivePeriod not ended before ``today``, (a MedicationRequest)
    an order, not a proposal or plan."""
    if res.status not in CURRENT_STATUS:
        return False
    if getattr(res, "intent", None) in NOT_CURRENT_INTENT:
        return False
    period = getattr(res, "effectivePeriod", None)
    end = parse_date(period.end) if period is not None and period.end is not None else None
    return not (end is not None and today is not None and end < today)


def _medication_form(res: Any, contained: Mapping[str, Any], medications: Mapping[str, Any]) -> str | None:
    """``Medication.form`` (text or a display) of the contained or bundled Medication the resource names."""
    ref = res.medicationReference
    if ref is None or not ref.reference:
        return None
    key = ref.reference
    med = (
        contained.get(key[1:])
        if key.startswith("#")
        else medications.get(key) or medications.get("/".join(key.split("/_history/")[0].split("/")[-2:]))
    )
    form = getattr(med, "form", None) if med is not None else None
    return _text(form) if form is not None else None


def _local_use(name: str, res: Any, contained: Mapping[str, Any], medications: Mapping[str, Any]) -> str:
    """The name with the local route or form the resource states and the name does not (红霉素 with
    ``dosage.route`` 外用 → 红霉素（外用）): the audit resolves it as a line with that route, a local
    product (眼用, 皮肤外用 …), not the systemic drug."""
    from toolkit.audit.resolve import local_route
    from toolkit.units import normalize_route

    if local_route(name, None) is not None:
        return name  # 红霉素软膏, 左氧氟沙星滴眼液: the name says it
    dosages = list(getattr(res, "dosage", None) or getattr(res, "dosageInstruction", None) or ())
    for d in dosages[:1]:
        route = _route(d) or (parse_dosage_text(d.text).get("route") if d.text else None)
        if route and (local_route("", normalize_route(route)) or local_route(route, None)):
            return f"{name}（{route}）"
    form = _medication_form(res, contained, medications)
    if form and local_route(form, None) is not None:
        return f"{name}（{form}）"
    return name


def current_medications(
    resources: Iterable[tuple[Any, ...]],
    kb: Any,
    medications: Mapping[str, Any],
    notes: list[str],
    today: date | None = None,
) -> list[tuple[str, str]]:
    """在用药品: (drug name, reference) of active MedicationStatements and of active MedicationRequests that are
    not being ordered now, read by every coding and name the way a draft order is (药品编码, ATC, text,
    displays, a contained or bundled Medication). A resource that names no drug is noted, never an error
    (it is not an order being audited); other statuses (completed, stopped, intended …), a statement whose
    effectivePeriod ended before ``today`` and a request that is only a proposal or plan are passed over.
    A local route (``dosage.route`` 外用, 滴眼 …) or a local Medication.form is kept with the name
    (:func:`_local_use`); a text holding several drugs or a dose (``华法林钠片 3mg qd``) is split and read
    as a HIS list is (:func:`toolkit.medication_lists.split_current_medications`)."""
    from toolkit.medication_lists import split_current_medications

    out: list[tuple[str, str]] = []
    for t in resources:
        res, path, url = _entry(t)
        if not _current_on(res, today):
            continue
        contained = {c.id: c for c in (res.contained or ()) if c.id}
        try:
            got = resolve_drug(res, path, kb, contained, medications, notes)
        except InputError:
            notes.append(f"{path}: {res.get_resource_type()} 未写药品名称，未作为在用药品核对")
            continue
        name = got["drug"]
        if got.get("code") and kb is not None and kb.drug_codes is not None:
            entry = kb.drug_codes.get(got["code"])
            if entry is not None and entry.drug is not None and entry.drug in kb.drugs:
                name = kb.drugs[entry.drug].name  # the clinic's confirmed code names the drug
        for part in split_current_medications(name):
            part = _local_use(part, res, contained, medications)
            if part not in [n for n, _ in out]:
                out.append((part, ref_of(res, url)))
    return out


# ----------------------------------------------------------------------------- the case


def _default_kb() -> Any:
    from toolkit.knowledge import get_knowledge

    return get_knowledge()


def bundle_to_case(
    data: Any, today: date | None = None, *, kb: Any = None, lis: C.LisMap | None = None
) -> FhirCase:
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
    by_type: dict[str, list[tuple[Any, str, str | None]]] = {t: [] for t in USED_TYPES}
    for n, entry in enumerate(entries):
        path = f"entry[{n}].resource"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("resource"), Mapping):
            raise InputError("each entry needs a resource object", field=f"entry[{n}]")
        rtype = entry["resource"].get("resourceType")
        if rtype not in USED_TYPES:
            check_type(rtype, f"{path}.resourceType")  # a misspelt type is an error, not skipped
            continue
        res = validate_resource(entry["resource"], path)
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        if rtype == "MedicationRequest":
            mrs.append((res, path, full_url))
        else:
            by_type[rtype].append((res, path, full_url))
    return resources_to_case(
        mrs, by_type, bundle_id=bundle.id, bundle_ts=bundle.timestamp, today=today, kb=kb, lis=lis
    )


def resources_to_case(
    mrs: list[tuple[Any, str, str | None]],
    by_type: Mapping[str, list[tuple[Any, ...]]],
    *,
    bundle_id: str | None = None,
    bundle_ts: Any = None,
    case_id: str | None = None,
    today: date | None = None,
    kb: Any = None,
    lis: C.LisMap | None = None,
    notes: list[str] | None = None,
    current_requests: Iterable[tuple[Any, ...]] = (),
) -> FhirCase:
    """Build the case from validated resources (shared by the FHIR endpoint and CDS Hooks).

    ``lis``: the laboratory's own codes (:class:`~toolkit.fhir.codes.LisMap`, loaded once by the caller,
    e.g. ``ServiceConfig.lis_map``); ``None``: none, labs are read by LOINC and name only.
    ``current_requests``: MedicationRequests the patient is already on (CDS Hooks prefetch, the draft
    orders left out); with ``by_type["MedicationStatement"]`` they are the case's current medications.
    """
    kb = kb if kb is not None else _default_kb()
    lis = lis if lis is not None else C.LisMap()  # no local codes: LOINC and lab names only
    notes = list(notes or ())
    medications: dict[str, Any] = {}
    for t in by_type.get("Medication", []):
        res, _path, full_url = _entry(t)
        if res.id:
            medications[f"Medication/{res.id}"] = res
        if full_url:
            medications[full_url] = res
    items: list[dict[str, Any]] = []
    refs: list[str] = []
    authored: list[date] = []
    group_id: str | None = None
    for mr, path, full_url in mrs:
        if mr.status in SKIPPED_MR_STATUS:
            continue
        items.append(
            medication_item(
                mr,
                path,
                {c.id: c for c in (mr.contained or ()) if c.id},
                kb=kb,
                medications=medications,
                notes=notes,
            )
        )
        refs.append(ref_of(mr, full_url))
        if mr.authoredOn is not None and (d := parse_date(mr.authoredOn)) is not None:
            authored.append(d)
        if group_id is None and mr.groupIdentifier is not None and mr.groupIdentifier.value:
            group_id = mr.groupIdentifier.value
    if not items:
        raise InputError("no MedicationRequest to audit (status draft/active/on-hold)", field="entry")
    if authored:
        req_date, source = min(authored), "authoredOn"
    elif bundle_ts is not None:
        req_date, source = parse_date(bundle_ts) or datetime.now(UTC).date(), "Bundle.timestamp"
    else:
        req_date, source = today or datetime.now(UTC).date(), "server date"

    patient: dict[str, Any] = {}
    patient_ref = None
    pats = [_entry(t) for t in by_type.get("Patient", [])]
    if len(pats) > 1:
        raise InputError("more than one Patient in the Bundle", field=pats[1][1])
    keys = set()
    if pats:
        p, _pp, p_url = pats[0]
        if p.id:
            keys.add(f"Patient/{p.id}")
        if p_url:
            keys.add(p_url)
    current_requests = [_entry(t) for t in current_requests]
    _one_patient([*mrs, *current_requests], by_type, keys)
    if pats:
        p, path, p_url = pats[0]
        patient_ref = ref_of(p, p_url)
        if p.birthDate is not None:
            born = parse_date(p.birthDate)
            if born is None or born > req_date:
                raise InputError(f"birthDate is after the request date {req_date}", field=f"{path}.birthDate")
            patient["age"] = age_on(born, req_date)
        if p.gender in {"male", "female"}:
            patient["sex"] = "M" if p.gender == "male" else "F"
    diagnoses = []
    cond_src: list[tuple[str, str, str | None]] = []
    for t in by_type.get("Condition", []):
        c, _path, url = _entry(t)
        if {x for _, x in _codes(c.clinicalStatus)} & SKIPPED_CONDITION_STATUS:
            continue
        if {x for _, x in _codes(c.verificationStatus)} & SKIPPED_VERIFICATION:
            continue
        icd = next((C.normalise_icd10(code) for s, code in _codes(c.code) if C.is_icd10(s)), None)
        name = (
            c.code.text
            if c.code and c.code.text
            else next((x.display for x in (c.code.coding or ()) if x.display), "")
            if c.code
            else ""
        )
        if icd or name:
            diagnoses.append({"name": name or "", "icd10": icd})
            cond_src.append((ref_of(c, url), name or "", icd))
    allergies: list[str] = []
    alg_src: list[tuple[str, str]] = []
    for t in by_type.get("AllergyIntolerance", []):
        a, _path, url = _entry(t)
        if {x for _, x in _codes(a.verificationStatus)} & SKIPPED_VERIFICATION:
            continue
        if {x for _, x in _codes(a.clinicalStatus)} & {"inactive", "resolved"}:
            continue
        if (name := _text(a.code)) and name not in allergies:
            allergies.append(name)
            alg_src.append((ref_of(a, url), name))
    labs: dict[str, tuple[str, float, str]] = {}
    vitals: dict[str, float] = {}
    status_refs: dict[str, str] = {}
    for t in by_type.get("Observation", []):
        o, path, url = _entry(t)
        if o.status in {"entered-in-error", "cancelled"} or _status_observation(
            o, patient, ref_of(o, url), status_refs
        ):
            continue
        if _vital(o, vitals):
            continue
        _observation(o, path, ref_of(o, url), labs, lis, notes)
    lab_refs = {k: r for k, (_, _, r) in labs.items()} | status_refs
    for key in ("weight_kg", "height_cm"):
        if key in labs:
            patient[key] = round(labs.pop(key)[1], 2)
    current = current_medications(
        [*by_type.get("MedicationStatement", []), *current_requests], kb, medications, notes, req_date
    )
    patient.update(
        current_medications=[name for name, _ in current],
        diagnoses=diagnoses,
        allergies=allergies,
        labs={k: v for k, (_, v, _) in labs.items()},
        lab_dates={k: d for k, (d, _, _) in labs.items() if d},
    )
    rx: dict[str, Any] = {"id": group_id, "items": items, "date": req_date.isoformat()}
    for mr, _path, _url in mrs:
        for ext in mr.extension or ():
            if ext.url == C.EXT_RX_KIND and ext.valueString:
                rx.setdefault("kind", ext.valueString)
            elif ext.url == C.EXT_RX_REASON and ext.valueString:
                rx.setdefault("reason", ext.valueString)
        if mr.requester is not None and mr.requester.display:
            rx.setdefault("prescriber", mr.requester.display)
    record = _record_sections(by_type.get("Composition", []))
    for key in list(vitals):  # an implausible vital sign is noted and left out, never fails the audit
        try:
            Vitals.model_validate({key: vitals[key]})
        except ValueError:
            notes.append(f"生命体征 {key}={vitals.pop(key):g} 超出合理范围，未使用")
    cid = case_id or group_id or bundle_id or "fhir-request"
    try:
        case = AuditCase.model_validate(
            {
                "id": cid,
                "patient": patient,
                "visit_date": req_date.isoformat(),
                "prescription": rx,
                "record": record,
                "vitals": vitals or None,
            }
        )
    except Exception as exc:  # a value FHIR allows but the audit record does not (e.g. age > 130)
        import pydantic

        if isinstance(exc, pydantic.ValidationError):
            err = exc.errors()[0]
            raise InputError(err["msg"], field="case." + _loc(err["loc"])) from exc
        raise
    return FhirCase(
        case=case,
        item_refs=tuple(refs),
        patient_ref=patient_ref,
        request_date=req_date,
        request_date_source=source,
        notes=tuple(notes),
        sources=Sources(
            labs=lab_refs,
            conditions=tuple(cond_src),
            allergies=tuple(alg_src),
            patient=patient_ref,
            current_medications=tuple((ref, name) for name, ref in current),
        ),
    )
