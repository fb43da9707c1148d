"""One code table for FHIR in and out: the reader (:mod:`toolkit.fhir.read`) and the writers
(:mod:`toolkit.fhir.write`) use these same tables, so whatever the toolkit writes it reads back.

* finding categories ↔ the project's CodeSystem and HL7 v3 ActCode (DetectedIssue.code)
* frequencies ↔ ``Timing.repeat`` and v3 GTSAbbreviation timing codes (qd … q12h, qw)
* labs ↔ LOINC (several codes per lab, with the canonical UCUM unit the audit expects), plus a
  configurable local LIS code map (YAML) for laboratories that send their own codes
* routes ↔ SNOMED CT (R4 route value set)
* ICD-10 systems incl. the Chinese national OID 2.16.156.10011.2.3.3.11 (GB/T 14396 codes like E11.900)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.labels import CATEGORY_LABELS
from toolkit.records import Category, Finding

# ----------------------------------------------------------------------------- systems
CODESYSTEM_CATEGORY = "http://clinic-toolkit.local/fhir/CodeSystem/audit-category"
"""Our CodeSystem for finding categories (DetectedIssue.code, card source.topic)."""
CODESYSTEM_RULE = "http://clinic-toolkit.local/fhir/CodeSystem/audit-rule"
"""Rule ids of the knowledge base as codes (DetectedIssue.code)."""
CODESYSTEM_FORMULARY = "urn:clinic-toolkit:formulary"
"""Formulary drug ids (the KB's ``drugs[].id``) as codes on MedicationRequest.medication."""
ACTCODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_CN_OID = "2.16.156.10011.2.3.3.11"
"""国家卫生信息标准 code system OID of ICD-10 (GB/T 14396 疾病分类与代码)."""
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
EXT_STRENGTH = "http://clinic-toolkit.local/fhir/StructureDefinition/prescribed-strength"
"""Extension on MedicationRequest.medicationCodeableConcept: the strength as prescribed (规格), e.g. 0.5 g."""
EXT_SKIN_TEST = "http://clinic-toolkit.local/fhir/StructureDefinition/skin-test-result"
"""Extension on MedicationRequest: 皮试结果 (阴性 / 阳性 / 免试) of the drug of this order."""
EXT_RX_KIND = "http://clinic-toolkit.local/fhir/StructureDefinition/prescription-kind"
"""Extension on MedicationRequest: 处方类别 (普通 / 急诊 / 儿科 / 长期, 处方管理办法 第五条)."""
EXT_RX_REASON = "http://clinic-toolkit.local/fhir/StructureDefinition/prescription-reason"
"""Extension on MedicationRequest: the prescriber's stated reason (超量/延长用量, 处方管理办法 第十九条)."""
PATIENT_STATUS = "http://clinic-toolkit.local/fhir/CodeSystem/patient-status"
"""Our codes for 哺乳期 (lactating) where no LOINC/SNOMED code is used here."""
LOINC_PREGNANCY_STATUS = ("82810-3", "Pregnancy status")
SNOMED_PREGNANT = ("77386006", "Pregnant")
SNOMED_NOT_PREGNANT = ("60001007", "Not pregnant")
LOINC_DOC_OUTPATIENT = ("34108-1", "Outpatient Note")  # document type of the outpatient record Composition


def is_icd10(system: str | None) -> bool:
    """True for the FHIR ICD-10 URIs, ``icd10``-named local systems and the Chinese national OID."""
    s = (system or "").lower()
    return "icd-10" in s or "icd10" in s or s.endswith(ICD10_CN_OID) or s == f"urn:oid:{ICD10_CN_OID}"


def normalise_icd10(code: str) -> str:
    """GB/T 14396 extension codes back to the ICD-10 the rules use: ``E11.900`` → ``E11.9``,
    ``I10.X00`` → ``I10``, ``J20.901`` → ``J20.9`` (the extension digits refine, never change, the class)."""
    c = code.strip().upper()
    m = re.fullmatch(r"([A-Z]\d{2})(?:\.([0-9X]{1,4}))?(?:[+*†])?", c)
    if not m:
        return c
    head, tail = m.group(1), (m.group(2) or "")
    digit = tail[:1]
    if digit in {"", "X"}:
        return head
    return f"{head}.{digit}"


def is_atc(system: str | None) -> bool:
    """True when a coding system URI (or OID) is the WHO ATC classification."""
    s = (system or "").lower()
    return "whocc.no/atc" in s or s.endswith("/atc") or s == "atc" or s == "urn:oid:2.16.840.1.113883.6.73"


def is_rxnorm(system: str | None) -> bool:
    """True when a coding system URI names RxNorm."""
    return "rxnorm" in (system or "").lower()


def is_loinc(system: str | None) -> bool:
    """True when a coding system URI (or OID) is LOINC."""
    s = (system or "").lower()
    return "loinc" in s or s == "urn:oid:2.16.840.1.113883.6.1"


def is_snomed(system: str | None) -> bool:
    """True when a coding system URI (or OID) is SNOMED CT."""
    s = (system or "").lower()
    return "snomed" in s or s == "urn:oid:2.16.840.1.113883.6.96"


# ----------------------------------------------------------------------------- categories
CATEGORY_DISPLAY: dict[Category, str] = CATEGORY_LABELS  # one vocabulary: toolkit/labels.py
assert set(CATEGORY_DISPLAY) == set(Category), "every category needs a display"

ACT_DISPLAY: dict[str, str] = {
    "DRG": "Drug Interaction Alert",
    "DUPTHPY": "Duplicate Therapy Alert",
    "ALGY": "Allergy Alert",
    "COND": "Condition Alert",
    "AGE": "Age Alert",
    "PREG": "Pregnancy Alert",
    "LACT": "Lactation Alert",
    "LAB": "Lab Alert",
    "DOSE": "Dosage problem",
    "DOSEH": "High Dose Alert",
    "DOSEL": "Low Dose Alert",
    "DOSEIVL": "Dose-Interval Alert",
    "DOSEDUR": "Dose-Duration Alert",
    "DOSEDURH": "Dose-Duration High Alert",
}
"""HL7 v3 ActCode detected-issue codes used here, with their displays."""

_POPULATION_ACT = {
    "pregnancy": "PREG",
    "pregnant": "PREG",
    "lactation": "LACT",
    "lactating": "LACT",
    "elderly": "AGE",
    "children": "AGE",
    "child": "AGE",
    "infant": "AGE",
    "age": "AGE",
    "renal": "LAB",
    "hepatic": "LAB",
}
_CATEGORY_ACT = {
    Category.INTERACTION: "DRG",
    Category.DUPLICATE_THERAPY: "DUPTHPY",
    Category.ALLERGY: "ALGY",
    Category.CONTRAINDICATION: "COND",
    Category.FREQUENCY: "DOSEIVL",
    Category.DAYS_SUPPLY: "DOSEDUR",
    Category.LONG_PRESCRIPTION: "DOSEDUR",
}
NO_ACTCODE = frozenset(
    {Category.FORMAT, Category.ROUTE, Category.INDICATION, Category.SKIN_TEST, Category.RECORD}
)
"""Categories without a v3 ActCode counterpart: they carry only the project's codes (there is no
detected-issue code for a format problem, a route outside the label, a missing indication, a skin test
or a record problem; a lookalike code would mislead the EHR)."""

CATEGORY_OF_ACT: dict[str, Category] = {
    "DRG": Category.INTERACTION,
    "DUPTHPY": Category.DUPLICATE_THERAPY,
    "ALGY": Category.ALLERGY,
    "COND": Category.CONTRAINDICATION,
    "PREG": Category.SPECIAL_POPULATION,
    "LACT": Category.SPECIAL_POPULATION,
    "AGE": Category.SPECIAL_POPULATION,
    "LAB": Category.SPECIAL_POPULATION,
    "DOSE": Category.DOSE,
    "DOSEH": Category.DOSE,
    "DOSEL": Category.DOSE,
    "DOSEIVL": Category.FREQUENCY,
    "DOSEDUR": Category.DAYS_SUPPLY,
    "DOSEDURH": Category.DAYS_SUPPLY,
}
"""ActCode → category, for reading DetectedIssues that carry only an ActCode."""


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def actcode_for(finding: Finding) -> str | None:
    """The v3 ActCode of a finding (per category, refined by the rule's evidence), or None."""
    cat = finding.category
    if cat in NO_ACTCODE:
        return None
    ev = finding.evidence
    if cat is Category.DOSE:
        value = _num(ev.get("single", ev.get("daily", ev.get("value"))))
        limit = _num(ev.get("limit"))
        if value is not None and limit is not None:
            return "DOSEL" if value < limit else "DOSEH"
        return "DOSE"
    if cat is Category.SPECIAL_POPULATION:
        pop = str(ev.get("population", "")).lower()
        if pop in _POPULATION_ACT:
            return _POPULATION_ACT[pop]
        if any(str(k).startswith("labs.") for k in ev):
            return "LAB"
        return "COND"
    if cat in (Category.DAYS_SUPPLY, Category.LONG_PRESCRIPTION):
        value, limit = _num(ev.get("days")), _num(ev.get("limit"))
        return "DOSEDURH" if value is not None and limit is not None and value > limit else "DOSEDUR"
    return _CATEGORY_ACT.get(cat)


def issue_codings(finding: Finding) -> list[dict[str, Any]]:
    """DetectedIssue.code codings: our category, our rule id, and the v3 ActCode where one fits."""
    out: list[dict[str, Any]] = [
        {
            "system": CODESYSTEM_CATEGORY,
            "code": finding.category.value,
            "display": CATEGORY_DISPLAY[finding.category],
        },
        {"system": CODESYSTEM_RULE, "code": finding.rule_id, "version": str(finding.rule_version)},
    ]
    if (act := actcode_for(finding)) is not None:
        out.append({"system": ACTCODE, "code": act, "display": ACT_DISPLAY[act]})
    return out


# ----------------------------------------------------------------------------- frequencies
@dataclass(frozen=True, slots=True)
class TimingCode:
    """An engine frequency code as FHIR ``Timing.repeat`` (frequency per period) and its v3 GTS code."""

    code: str  # the engine's frequency code
    frequency: int
    period: float
    unit: str  # UCUM period unit: h, d, wk
    gts: str | None  # v3 GTSAbbreviation code, None when it has none
    when: str | None = None  # Timing.repeat.when (event timing)


TIMINGS: tuple[TimingCode, ...] = (
    TimingCode("qd", 1, 1, "d", "QD"),
    TimingCode("bid", 2, 1, "d", "BID"),
    TimingCode("tid", 3, 1, "d", "TID"),
    TimingCode("qid", 4, 1, "d", "QID"),
    TimingCode("qod", 1, 2, "d", "QOD"),
    TimingCode("qn", 1, 1, "d", "QHS", "HS"),
    TimingCode("qam", 1, 1, "d", "AM", "MORN"),
    TimingCode("qpm", 1, 1, "d", "PM", "EVE"),
    TimingCode("qw", 1, 1, "wk", "WK"),
    TimingCode("biw", 2, 1, "wk", None),
    TimingCode("tiw", 3, 1, "wk", None),
    TimingCode("q4h", 1, 4, "h", "Q4H"),
    TimingCode("q6h", 1, 6, "h", "Q6H"),
    TimingCode("q8h", 1, 8, "h", "Q8H"),
    TimingCode("q12h", 1, 12, "h", None),
    TimingCode("q24h", 1, 24, "h", None),
)
"""The engine's frequency codes as FHIR Timing (repeat + GTSAbbreviation code where v3 has one)."""
TIMING_BY_CODE = {t.code: t for t in TIMINGS}
TIMING_BY_GTS = {t.gts: t for t in TIMINGS if t.gts}
TIMING_BY_GTS.update(
    {
        "QHS": TIMING_BY_CODE["qn"],
        "HS": TIMING_BY_CODE["qn"],
        "Q1D": TIMING_BY_CODE["qd"],
        "Q12H": TIMING_BY_CODE["q12h"],
        "BIW": TIMING_BY_CODE["biw"],
        "TIW": TIMING_BY_CODE["tiw"],
        "QW": TIMING_BY_CODE["qw"],
        "QN": TIMING_BY_CODE["qn"],
    }
)
DAYS_PER_UNIT = {"d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0, "h": 1 / 24, "min": 1 / 1440, "s": 1 / 86400}
_PER_DAY_CODE = {1.0: "qd", 2.0: "bid", 3.0: "tid", 4.0: "qid", 0.5: "qod"}


def timing_for(frequency: str | None) -> dict[str, Any] | None:
    """FHIR Timing of an engine frequency code (None when the text is free: it goes in Dosage.text)."""
    t = TIMING_BY_CODE.get((frequency or "").strip().lower())
    if t is None:
        return None
    repeat: dict[str, Any] = {"frequency": t.frequency, "period": t.period, "periodUnit": t.unit}
    if t.when:
        repeat["when"] = [t.when]
    out: dict[str, Any] = {"repeat": repeat}
    if t.gts:
        out["code"] = {"coding": [{"system": GTS, "code": t.gts}], "text": t.code}
    return out


def frequency_from_repeat(frequency: float, period: float, unit: str, when: tuple[str, ...] = ()) -> str:
    """The engine's frequency code for ``frequency`` times per ``period unit`` (Timing.repeat)."""
    if unit == "h" and frequency == 1:
        return f"q{period:g}h"
    if unit == "wk" and period == 1:
        return (
            {1: "qw", 2: "biw", 3: "tiw"}.get(int(frequency), f"每周{frequency:g}次")
            if frequency == int(frequency)
            else f"每周{frequency:g}次"
        )
    per_day = frequency / (period * DAYS_PER_UNIT[unit])
    if per_day == 1.0 and when:
        w = {x.upper() for x in when}
        if w & {"HS"}:
            return "qn"
        if w & {"MORN", "MORN.early", "WAKE"}:
            return "qam"
        if w & {"EVE", "NIGHT"}:
            return "qpm"
    return _PER_DAY_CODE.get(per_day) or f"每日{per_day:g}次"


# ----------------------------------------------------------------------------- routes
SNOMED_ROUTES: dict[str, str] = {
    "26643006": "口服",
    "37839007": "舌下含服",
    "34206005": "皮下注射",
    "78421000": "肌内注射",
    "47625008": "静脉注射",
    "37161004": "直肠给药",
    "6064005": "外用",
    "447694001": "吸入",
    "54485002": "滴眼",
    "46713006": "滴鼻",
    "10547007": "滴耳",
    "16857009": "阴道给药",
}
"""SNOMED CT route codes (R4 route value set) ↔ the engine's route names."""
SNOMED_ROUTE_DISPLAY = {
    "26643006": "Oral route",
    "37839007": "Sublingual route",
    "34206005": "Subcutaneous route",
    "78421000": "Intramuscular route",
    "47625008": "Intravenous route",
    "37161004": "Rectal route",
    "6064005": "Topical route",
    "447694001": "Respiratory tract route",
    "54485002": "Ophthalmic route",
    "46713006": "Nasal route",
    "10547007": "Otic route",
    "16857009": "Vaginal route",
}
ROUTE_SNOMED = {v: k for k, v in SNOMED_ROUTES.items()}


def route_concept(route: str | None) -> dict[str, Any] | None:
    """A ``Dosage.route`` CodeableConcept: the text as written, plus a SNOMED CT coding when known.

    None when no route is written.
    """
    if not route:
        return None
    from toolkit.units import normalize_route

    canon = normalize_route(route) or route
    code = ROUTE_SNOMED.get(canon)
    cc: dict[str, Any] = {"text": route}
    if code:
        cc["coding"] = [{"system": SNOMED, "code": code, "display": SNOMED_ROUTE_DISPLAY[code]}]
    return cc


# ----------------------------------------------------------------------------- labs
@dataclass(frozen=True, slots=True)
class LabCode:
    """A lab the audit reads, with its LOINC codes, UCUM unit and the names a local LIS may use."""

    key: str  # the audit's lab key (patient.labs) or "weight_kg" / "height_cm"
    loinc: tuple[str, ...]  # the first one is written
    display: str
    unit: str  # UCUM code of the unit the audit expects
    category: str = "laboratory"
    molar_mass: float | None = None  # g/mol: mass concentrations convert to the molar unit
    names: tuple[str, ...] = ()  # Chinese / English names a local LIS writes (exact, case-insensitive)


LABS: tuple[LabCode, ...] = (
    LabCode(
        "egfr",
        ("62238-1", "33914-3", "98979-8", "48642-3", "48643-1", "50044-7", "88293-6", "88294-4", "69405-9"),
        "Glomerular filtration rate/1.73 sq M.predicted",
        "mL/min/{1.73_m2}",
        names=("egfr", "估算肾小球滤过率", "肾小球滤过率", "估算的肾小球滤过率"),
    ),
    LabCode("crcl", ("2164-2",), "Creatinine renal clearance", "mL/min", names=("crcl", "肌酐清除率")),
    LabCode(
        "scr",
        ("14682-9", "2160-0", "38483-4", "59826-8"),
        "Creatinine [Moles/volume] in Serum or Plasma",
        "umol/L",
        molar_mass=113.12,
        names=("scr", "cr", "crea", "肌酐", "血肌酐", "血清肌酐"),
    ),
    LabCode(
        "bun",
        ("14937-7", "3094-0", "6299-2"),
        "Urea nitrogen [Moles/volume] in Serum or Plasma",
        "mmol/L",
        molar_mass=28.014,
        names=("bun", "尿素氮", "血尿素氮", "尿素"),
    ),
    LabCode(
        "potassium",
        ("2823-3", "6298-4", "77142-8"),
        "Potassium [Moles/volume] in Serum or Plasma",
        "mmol/L",
        names=("k", "k+", "钾", "血钾", "血清钾"),
    ),
    LabCode(
        "sodium",
        ("2951-2", "2947-0"),
        "Sodium [Moles/volume] in Serum or Plasma",
        "mmol/L",
        names=("na", "na+", "钠", "血钠", "血清钠"),
    ),
    LabCode(
        "alt",
        ("1742-6", "1743-4", "1744-2", "76625-3"),
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        names=("alt", "gpt", "谷丙转氨酶", "丙氨酸氨基转移酶"),
    ),
    LabCode(
        "ast",
        ("1920-8", "30239-8"),
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        names=("ast", "got", "谷草转氨酶", "天门冬氨酸氨基转移酶"),
    ),
    LabCode(
        "tbil",
        ("14631-6", "1975-2"),
        "Bilirubin.total [Moles/volume] in Serum or Plasma",
        "umol/L",
        molar_mass=584.66,
        names=("tbil", "总胆红素"),
    ),
    LabCode(
        "hba1c",
        ("4548-4", "17856-6", "59261-8", "41995-2"),
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "%",
        names=("hba1c", "糖化血红蛋白", "糖化血红蛋白a1c"),
    ),
    LabCode(
        "fpg",
        ("1558-6", "14771-0", "76629-5"),
        "Fasting glucose [Moles/volume] in Serum or Plasma",
        "mmol/L",
        molar_mass=180.16,
        names=("fpg", "glu", "空腹血糖", "空腹血葡萄糖"),
    ),
    LabCode(
        "pbg",
        ("14760-3", "1521-4"),
        "Glucose [Moles/volume] in Serum or Plasma --2 hours post meal",
        "mmol/L",
        molar_mass=180.16,
        names=("pbg", "2hpg", "餐后2小时血糖", "餐后血糖"),
    ),
    LabCode(
        "tc",
        ("14647-2", "2093-3"),
        "Cholesterol [Moles/volume] in Serum or Plasma",
        "mmol/L",
        molar_mass=386.65,
        names=("tc", "chol", "总胆固醇"),
    ),
    LabCode(
        "tg",
        ("14927-8", "2571-8"),
        "Triglyceride [Moles/volume] in Serum or Plasma",
        "mmol/L",
        molar_mass=885.7,
        names=("tg", "甘油三酯", "三酰甘油"),
    ),
    LabCode(
        "ldl_c",
        ("22748-8", "39469-2", "13457-7", "18262-6", "2089-1"),
        "Cholesterol in LDL [Moles/volume] in Serum or Plasma",
        "mmol/L",
        molar_mass=386.65,
        names=("ldl-c", "ldl", "ldlc", "低密度脂蛋白胆固醇"),
    ),
    LabCode(
        "hdl_c",
        ("14646-4", "2085-9"),
        "Cholesterol in HDL [Moles/volume] in Serum or Plasma",
        "mmol/L",
        molar_mass=386.65,
        names=("hdl-c", "hdl", "hdlc", "高密度脂蛋白胆固醇"),
    ),
    LabCode(
        "inr",
        ("6301-6", "34714-6"),
        "INR in Platelet poor plasma by Coagulation assay",
        "{INR}",
        names=("inr", "国际标准化比值"),
    ),
    LabCode(
        "uric_acid",
        ("14933-6", "3084-1"),
        "Urate [Moles/volume] in Serum or Plasma",
        "umol/L",
        molar_mass=168.11,
        names=("ua", "尿酸", "血尿酸"),
    ),
    LabCode(
        "hb",
        ("718-7", "20509-6"),
        "Hemoglobin [Mass/volume] in Blood",
        "g/L",
        names=("hb", "hgb", "血红蛋白"),
    ),
    LabCode(
        "plt",
        ("777-3", "26515-7"),
        "Platelets [#/volume] in Blood",
        "10*9/L",
        names=("plt", "血小板", "血小板计数"),
    ),
    LabCode(
        "wbc",
        ("6690-2", "26464-8"),
        "Leukocytes [#/volume] in Blood",
        "10*9/L",
        names=("wbc", "白细胞", "白细胞计数"),
    ),
    LabCode(
        "uacr",
        ("14959-1", "9318-7", "32294-1"),
        "Microalbumin/Creatinine [Mass Ratio] in Urine",
        "mg/g",
        names=("uacr", "acr", "尿白蛋白肌酐比", "尿微量白蛋白/肌酐"),
    ),
    LabCode(
        "ck",
        ("2157-6",),
        "Creatine kinase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        names=("ck", "肌酸激酶"),
    ),
    LabCode(
        "tsh",
        ("3016-3", "11580-8"),
        "Thyrotropin [Units/volume] in Serum or Plasma",
        "m[IU]/L",
        names=("tsh", "促甲状腺激素"),
    ),
    LabCode(
        "qtc",
        ("8636-3", "8634-8"),
        "Q-T interval corrected",
        "ms",
        category="procedure",
        names=("qtc", "qt间期(校正)", "校正qt间期"),
    ),
    LabCode(
        "bnp",
        ("30934-4", "42637-9"),
        "Natriuretic peptide B [Mass/volume] in Serum or Plasma",
        "pg/mL",
        names=("bnp", "脑钠肽", "b型钠尿肽"),
    ),
    LabCode(
        "nt_probnp",
        ("33762-6", "71425-3"),
        "Natriuretic peptide.B prohormone N-Terminal [Mass/volume]",
        "pg/mL",
        names=("nt-probnp", "ntprobnp", "n末端b型钠尿肽前体"),
    ),
    LabCode(
        "weight_kg",
        ("29463-7", "3141-9"),
        "Body weight",
        "kg",
        category="vital-signs",
        names=("体重", "weight"),
    ),
    LabCode(
        "height_cm",
        ("8302-2", "8306-3"),
        "Body height",
        "cm",
        category="vital-signs",
        names=("身高", "height"),
    ),
)
LAB_BY_KEY = {lab.key: lab for lab in LABS}
LAB_BY_LOINC = {code: lab for lab in LABS for code in lab.loinc}
LAB_BY_NAME = {n.lower(): lab for lab in LABS for n in lab.names}
HBA1C_IFCC = "59261-8"  # HbA1c in mmol/mol (IFCC); read as NGSP % = 0.09148 × IFCC + 2.152

VITALS: dict[str, LabCode] = {
    "heart_rate": LabCode("heart_rate", ("8867-4",), "Heart rate", "/min", "vital-signs"),
    "temperature": LabCode("temperature", ("8310-5",), "Body temperature", "Cel", "vital-signs"),
    "resp_rate": LabCode("resp_rate", ("9279-1",), "Respiratory rate", "/min", "vital-signs"),
    "spo2": LabCode(
        "spo2", ("59408-5",), "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "vital-signs"
    ),
    "bmi": LabCode("bmi", ("39156-5",), "Body mass index (BMI) [Ratio]", "kg/m2", "vital-signs"),
    "waist_cm": LabCode(
        "waist_cm", ("8280-0",), "Waist Circumference at umbilicus by Tape measure", "cm", "vital-signs"
    ),
}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_SYSTOLIC = ("8480-6", "Systolic blood pressure")
BP_DIASTOLIC = ("8462-4", "Diastolic blood pressure")


@dataclass(frozen=True, slots=True)
class LocalLabCode:
    """One row of a LIS code map: a local code (in ``system``, or any system) → an audit lab key."""

    system: str | None  # None: any system
    code: str
    lab: str
    unit: str | None = None  # the unit to assume when the Observation sends none


class LisMap:
    """A laboratory's own codes (LIS 项目编码) → the audit's lab keys.

    YAML (``clinic serve --lis-map FILE``, or the variable ``CLINIC_LIS_MAP`` read by ``clinic serve``)::

        lis:
          - {system: "urn:oid:1.2.156.112604.1.2.1", code: "K", lab: potassium}
          - {code: "GLU-F", lab: fpg, unit: mmol/L}   # no system: matches the code in any system
    """

    def __init__(self, entries: tuple[LocalLabCode, ...] = ()):
        self.entries = entries
        self._by = {((e.system or "").lower() or None, e.code.lower()): e for e in entries}

    def get(self, system: str | None, code: str) -> LocalLabCode | None:
        """The mapping of a local code (system-specific first, then any system), or None; case-insensitive."""
        s = (system or "").lower() or None
        return self._by.get((s, code.lower())) or self._by.get((None, code.lower()))

    @classmethod
    def load(cls, path: str | Path) -> LisMap:
        """Read a LIS code map YAML file (``lis:`` rows); raise ToolkitError naming what is wrong."""
        import yaml

        from toolkit.errors import ToolkitError

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ToolkitError(f"cannot read the LIS code map {path}: {exc}") from exc
        rows = data.get("lis") if isinstance(data, Mapping) else None
        if not isinstance(rows, list):
            raise ToolkitError(f"{path}: expected a top-level 'lis:' list of {{system, code, lab, unit}}")
        out = []
        for n, row in enumerate(rows):
            if not isinstance(row, Mapping) or not row.get("code") or not row.get("lab"):
                raise ToolkitError(f"{path}: lis[{n}] needs code and lab")
            if row["lab"] not in LAB_BY_KEY:
                raise ToolkitError(
                    f"{path}: lis[{n}].lab: unknown lab {row['lab']!r}; known: {', '.join(LAB_BY_KEY)}"
                )
            extra = set(row) - {"system", "code", "lab", "unit", "name"}
            if extra:
                raise ToolkitError(f"{path}: lis[{n}]: unknown field(s) {sorted(extra)}")
            out.append(LocalLabCode(row.get("system"), str(row["code"]), row["lab"], row.get("unit")))
        return cls(tuple(out))
