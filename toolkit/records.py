"""Typed records shared by every stage.

Records that read outside data (an audit case from a file or an HIS request)
are pydantic models with ``extra="forbid"``: a misspelt field is an error that
names the field, never a silently ignored value. All records are frozen.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from toolkit.medication_lists import (
    current_medication_list,
)


class Record(BaseModel):
    """The base of every toolkit record (audit, extraction, ASR, visit, care plan): a field the model
    does not declare is an error, and a record is immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _AuditRecord(Record):
    """The audit contract's records also strip the whitespace around their strings (HIS cells are padded)."""

    model_config = ConfigDict(str_strip_whitespace=True)


class Severity(StrEnum):
    """How strongly a finding stops a prescription (PASS black/red/yellow; CDS Hooks critical/warning/info)."""

    BLOCK = "block"
    WARN = "warn"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Order for comparing severities: info 0, warn 1, block 2."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARN: 1, Severity.BLOCK: 2}
_BY_RANK_DESC = sorted(_SEVERITY_RANK, key=_SEVERITY_RANK.__getitem__, reverse=True)


class Category(StrEnum):
    """Closed set of finding categories (the audit contract)."""

    FORMAT = "format"
    DOSE = "dose"
    FREQUENCY = "frequency"
    ROUTE = "route"
    DAYS_SUPPLY = "days_supply"
    LONG_PRESCRIPTION = "long_prescription"
    INTERACTION = "interaction"
    DUPLICATE_THERAPY = "duplicate_therapy"
    CONTRAINDICATION = "contraindication"
    ALLERGY = "allergy"
    SPECIAL_POPULATION = "special_population"
    INDICATION = "indication"
    SKIN_TEST = "skin_test"
    RECORD = "record"


class DianpingClass(StrEnum):
    """处方点评 classes of 《医院处方点评管理规范（试行）》."""

    NONSTANDARD = "不规范处方"
    INAPPROPRIATE = "用药不适宜处方"
    ABNORMAL = "超常处方"


RECORD_SECTIONS = (
    "主诉",
    "现病史",
    "既往史",
    "过敏史",
    "个人史",
    "家族史",
    "体格检查",
    "辅助检查",
    "诊断",
    "处理",
    "健康指导",
    "随访",
)
"""Outpatient record sections (病历书写基本规范), in the order they are written."""

LAB_NAMES = (
    "egfr",
    "crcl",
    "scr",
    "bun",
    "potassium",
    "sodium",
    "alt",
    "ast",
    "tbil",
    "hba1c",
    "fpg",
    "pbg",
    "tc",
    "tg",
    "ldl_c",
    "hdl_c",
    "inr",
    "uric_acid",
    "hb",
    "plt",
    "wbc",
    "uacr",
    "ck",
    "tsh",
    "qtc",
    "bnp",
    "nt_probnp",
)
"""Lab keys accepted in ``patient.labs`` (units: eGFR/CrCl mL/min(/1.73m²), Scr μmol/L, K/Na mmol/L,
ALT/AST U/L, HbA1c %, glucose and lipids mmol/L, uric acid μmol/L, QTc ms)."""


EXAM_NAMES = ("fundus", "foot", "ecg", "spirometry")
"""Examinations whose last date matters for chronic-disease screening (``patient.lab_dates``)."""


class Diagnosis(_AuditRecord):
    """One diagnosis in ``patient.diagnoses``: the name as written and its ICD-10 code (upper-cased;
    blank → ``None``)."""

    name: str = ""
    icd10: str | None = None

    @field_validator("icd10")
    @classmethod
    def _upper(cls, v: str | None) -> str | None:
        return v.strip().upper() or None if v else None


class Vitals(_AuditRecord):
    """Vital signs of the visit (mmHg, beats/min, °C, kg/m², cm, %)."""

    sbp: float | None = Field(default=None, gt=0, lt=350)
    dbp: float | None = Field(default=None, gt=0, lt=250)
    heart_rate: float | None = Field(default=None, gt=0, lt=350)
    temperature: float | None = Field(default=None, gt=25, lt=45)
    resp_rate: float | None = Field(default=None, gt=0, lt=100)
    spo2: float | None = Field(default=None, gt=0, le=100)
    bmi: float | None = Field(default=None, gt=5, lt=100)
    waist_cm: float | None = Field(default=None, gt=20, lt=300)


class Patient(_AuditRecord):
    """The patient of an audit case, as the HIS request or case file gives it; ``None``: not recorded.

    ``sex`` also takes 男/女, ``allergies`` a string such as "青霉素;磺胺" (无/否认 dropped), ``labs``
    only the keys of :data:`LAB_NAMES` (units there) and ``lab_dates`` ISO dates of those labs or of
    :data:`EXAM_NAMES` examinations.
    """

    id: str | None = None
    age: float | None = Field(default=None, ge=0, le=130, description="years; infants as fractions")
    sex: Literal["M", "F"] | None = None
    weight_kg: float | None = Field(default=None, gt=0, le=400)
    height_cm: float | None = Field(default=None, gt=0, le=260)
    pregnant: bool | None = None
    lactating: bool | None = None
    allergies: tuple[str, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    labs: dict[str, float] = Field(default_factory=dict)
    lab_dates: dict[str, str] = Field(default_factory=dict, description="ISO date each lab was taken")
    smoker: bool | None = None
    current_medications: tuple[str, ...] = Field(
        default=(),
        max_length=100,
        description="在用药品: drugs the patient already takes that this prescription does not dispense "
        "(the HIS medication list, or the record's history); checked for interactions and duplicate "
        "therapy with the prescribed lines, never dose-checked. At most 100 (each is compared with every "
        "line)",
    )

    @field_validator("sex", mode="before")
    @classmethod
    def _sex(cls, v: Any) -> Any:
        mapping = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F"}
        if isinstance(v, str):
            v = v.strip()
            return mapping.get(v.lower(), mapping.get(v, v)) or None
        return v

    @field_validator("labs")
    @classmethod
    def _labs(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(LAB_NAMES))
        if unknown:
            raise ValueError(f"unknown lab(s) {unknown}; allowed: {', '.join(LAB_NAMES)}")
        return v

    @field_validator("lab_dates")
    @classmethod
    def _lab_dates(cls, v: dict[str, str]) -> dict[str, str]:
        import datetime as dt

        allowed = (*LAB_NAMES, *EXAM_NAMES)
        unknown = sorted(set(v) - set(allowed))
        if unknown:
            raise ValueError(f"unknown lab or exam(s) {unknown}; allowed: {', '.join(allowed)}")
        for key, date in v.items():
            try:
                dt.date.fromisoformat(date)
            except ValueError as exc:
                raise ValueError(f"lab_dates.{key}: '{date}' is not an ISO date (YYYY-MM-DD)") from exc
        return v

    @field_validator("current_medications", mode="before")
    @classmethod
    def _current_medications(cls, v: Any) -> Any:
        # HIS exports give "华法林;阿司匹林", "华法林3mg qd；二甲双胍0.5g tid", "华法林（已停）", "暂无";
        # a list (FHIR, JSON) is cleaned the same way; repeats are removed before the 100 limit applies
        if isinstance(v, str | list | tuple):
            return current_medication_list(v)
        return v

    @field_validator("allergies", mode="before")
    @classmethod
    def _allergies(cls, v: Any) -> Any:
        if isinstance(v, str):  # HIS exports often give "青霉素;磺胺"
            import re

            return tuple(p for p in re.split(r"[;；,，、/\s]+", v) if p and p not in {"无", "否认"})
        return v


class PrescriptionItem(_AuditRecord):
    """One drug line as written by the prescriber (raw text, not yet normalised)."""

    drug: str
    code: str | None = Field(default=None, description="药品编码: the clinic's catalogue code (药品字典配对)")
    strength: str | None = None
    dose: float | None = None
    unit: str | None = None
    frequency: str | None = None
    route: str | None = None
    days: float | None = None
    quantity: float | None = None
    quantity_unit: str | None = None
    skin_test: str | None = Field(default=None, description="皮试结果: 阴性 / 阳性 / 免试")
    note: str | None = Field(default=None, description="用法备注, e.g. 饭后; '遵医嘱' is a format error")
    line: int | None = Field(default=None, description="row number in the source file, for batch output")

    @field_validator("drug")
    @classmethod
    def _drug(cls, v: str) -> str:
        if not v:
            raise ValueError("drug name is empty")
        return v


class Prescription(_AuditRecord):
    """The prescription of an audit case: its drug lines in written order, with prescriber, department,
    date, kind (普通/急诊/儿科/长期) and the prescriber's stated reason for exceeding limits."""

    id: str | None = None
    kind: Literal["普通", "急诊", "儿科", "长期"] | None = None
    items: tuple[PrescriptionItem, ...] = ()
    prescriber: str | None = None
    department: str | None = None
    date: str | None = None
    reason: str | None = Field(default=None, description="prescriber's stated reason (超量/延长用量)")


class AuditCase(_AuditRecord):
    """What the audit reads: one prescription with its patient and (optionally) the visit record."""

    id: str
    patient: Patient = Field(default_factory=Patient)
    prescription: Prescription = Field(default_factory=Prescription)
    record: dict[str, str] = Field(default_factory=dict)
    vitals: Vitals | None = None
    visit_date: str | None = Field(default=None, description="ISO date of the visit")
    visit_type: Literal["初诊", "复诊"] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    @field_validator("record")
    @classmethod
    def _sections(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(RECORD_SECTIONS))
        if unknown:
            raise ValueError(f"unknown record section(s) {unknown}; allowed: {', '.join(RECORD_SECTIONS)}")
        return v


class Dianping(_AuditRecord):
    """Where a finding falls in 医院处方点评管理规范 (class and item number, e.g. 2-5)."""

    cls: DianpingClass = Field(serialization_alias="class", validation_alias="class")
    item: str
    title: str


class Finding(_AuditRecord):
    """One reason a prescription needs attention. Rule and model findings share this record."""

    rule_id: str
    rule_version: int = 1
    category: Category
    severity: Severity
    drugs: tuple[str, ...] = ()
    message: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    references: tuple[str, ...] = ()
    source: Literal["rule", "model"] = "rule"
    items: tuple[int, ...] = Field(default=(), description="0-based indices of the prescription items")
    dianping: Dianping | None = None


class Provenance(_AuditRecord):
    """What produced a report: knowledge-base version, engine version, the local rule set (institution
    and file) and the reviewer model revision, if any (built by :func:`toolkit.audit.engine.provenance`)."""

    kb_version: str
    engine_version: str
    local_rules: str | None = None
    model: str | None = None


class AuditReport(_AuditRecord):
    """The audit of one case: status ``ok`` (nothing above info), ``flagged``, ``needs_review`` (a line
    the engine could not check: 需人工审核) or ``error``."""

    id: str
    status: Literal["ok", "flagged", "needs_review", "error"]
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    provenance: Provenance | None = None
    risk: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="learned reviewer: probability a pharmacist returns it (model only)",
    )
    coverage: tuple[Literal["full", "class", "none"], ...] = Field(
        default=(),
        description="per prescription item, in order: which checks ran for it — full (every check), "
        "class (class rules and population notes, no dose checks) or none (not covered)",
    )

    @property
    def max_severity(self) -> Severity | None:
        """The highest severity among the findings, or ``None`` when there are none."""
        present = {f.severity for f in self.findings}
        return next((s for s in _BY_RANK_DESC if s in present), None)

    def to_json_dict(self) -> dict[str, Any]:
        """The stable JSONL contract: id, status, max_severity, findings, error, provenance."""
        data = self.model_dump(mode="json", by_alias=True)
        data["max_severity"] = self.max_severity.value if self.max_severity else None
        return data
