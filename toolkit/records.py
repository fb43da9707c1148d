"""Typed records shared by every stage.

Records that read outside data (an audit case from a file or an HIS request)
are pydantic models with ``extra="forbid"``: a misspelt field is an error that
names the field, never a silently ignored value. All records are frozen.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


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


# --------------------------------------------------------------------------- 在用药品 lists as HIS and FHIR write them
# One cell / text may hold several drugs ("华法林3mg qd；二甲双胍0.5g tid", "华法林 阿司匹林", "A|B", lines),
# each with its dose, frequency, route or a stop mark. The list is split into one entry per drug (its
# sig kept with it for the pharmacist; :func:`current_medication_name` strips it before resolving),
# entries marked stopped and placeholders (暂无, 不详 …) are dropped, repeats removed.
_CM_SEPARATORS = r"[;；,，、|｜\n\r\t]+|(?<!\d)[/／](?![\d日天次周晚早餐dDhH])"
_CM_OPEN, _CM_CLOSE = "(（[【", ")）]】"
_CM_UNITS = (
    r"mg|g|μg|ug|mcg|µg|ng|ml|mL|l|iu|IU|u|U|单位|万单位|万U|毫克|克|微克|毫升|片|粒|袋|支|丸|滴|喷|揿|吸|贴|包|枚|"
    r"瓶|盒|板|针|mmol|%"
)
# a token that is a dose / strength / count: digits with units and sig letters only (2.5mg, 1片, 0.5g*2片, 1#)
_CM_DOSE_TOKEN = re.compile(
    rf"^[x×X*＊]?\d[\d.]*\s*(?:{_CM_UNITS})?(?:[*×xX/#＊]\s*(?:\d[\d.]*)?\s*(?:{_CM_UNITS}|次|日|天|周|d)?)*$",
    re.I,
)
_CM_LONG = 200  # an entry longer than any drug name (names.MAX_NAME_CHARS) is kept whole, not parsed
_CM_UNIT_TOKEN = re.compile(rf"^(?:{_CM_UNITS}|次|日|天)$", re.I)
# a token that only names the form of the drug before it (阿司匹林 肠溶片)
_CM_FORM_TOKEN = re.compile(
    r"^(?:肠溶|缓释|控释|分散|泡腾|咀嚼|口崩|口腔崩解|薄膜衣|糖衣|软|硬)?"
    r"(?:片|片剂|胶囊|胶囊剂|颗粒|颗粒剂|丸|滴丸|注射液|注射剂|针|口服液|口服溶液|溶液|糖浆|软膏|乳膏|凝胶|"
    r"滴眼液|眼膏|滴耳液|滴鼻液|贴剂|贴|栓|栓剂|气雾剂|喷雾剂|吸入剂|粉雾剂|混悬液|干混悬剂|散|合剂)$"
)
# a stop mark on an entry: 华法林（已停）, 已停用, 停用, 暂停, (停); not a bare 停 (遗尿停胶囊, 虚汗停颗粒)
_CM_STOPPED = re.compile(r"已停|停用|暂停|停药|停服|停止|[(（]\s*停\s*[)）]")
# …but said to go on (华法林（停用阿司匹林后继续服用）, 暂停服用3天后恢复, 未停, 不能停): still taken
_CM_GOES_ON = re.compile(r"继续|恢复|仍在|仍用|在用|未停|没停|不能停|不可停|勿停")
# a placeholder, not a drug: 无, 暂无, 否认, 不详, 无特殊, 未服用药物, 否认长期用药史, none
_CM_PLACEHOLDER = re.compile(
    r"^(?:(?:否认|暂无|无|未|没有)(?:长期|规律|特殊|其他|其它|任何|服用|使用|口服|用)*"
    r"(?:用药|服药|药物|药品|在用药品|用药史|服药史|药)?(?:史|情况)?|不详|不祥|不清|不清楚|未知|未提供|"
    r"无特殊|none|nil|no|n/?a|null|-+|—+|/|\?|？)$",
    re.I,
)
_CM_FREQ_WORDS = re.compile(
    r"^(?:q\d*h|qd|bid|tid|qid|qn|qod|qw|biw|tiw|prn|st|po|hs|ac|pc|每[日天晚早]|睡前|必要时|餐前|餐后|饭前|饭后|"
    r"空腹|早晚|长期|规律|按时)$",
    re.I,
)


def _cm_tokens(text: str) -> list[str]:
    """Whitespace-separated tokens of one entry, a bracket's content (with its spaces) kept whole."""
    out, cur, depth = [], "", 0
    for ch in text:
        if ch in _CM_OPEN:
            depth += 1
        elif ch in _CM_CLOSE and depth:
            depth -= 1
        if ch.isspace() and not depth:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def _cm_sig(token: str) -> bool:
    """A token that belongs to the drug before it: dose, unit, frequency, route, form word, note, stop mark."""
    from toolkit.units import normalize_route, parse_frequency

    t = token.strip()
    if not t or t[0] in _CM_OPEN or _CM_STOPPED.search(t) or _CM_GOES_ON.match(t):
        return True
    if any(p.match(t) for p in (_CM_DOSE_TOKEN, _CM_UNIT_TOKEN, _CM_FORM_TOKEN, _CM_FREQ_WORDS)):
        return True
    if normalize_route(t) is not None or t in _CM_LOCAL_ROUTE_WORDS:
        return True
    return parse_frequency(t) is not None and not _has_cjk_name(t)


_CM_LOCAL_ROUTE_WORDS = frozenset(
    {
        "眼用",
        "经眼",
        "耳用",
        "鼻用",
        "经鼻",
        "阴道",
        "阴道用",
        "经皮",
        "皮肤",
        "局部",
        "局部用",
        "涂抹",
        "涂患处",
    }
)


def _has_cjk_name(token: str) -> bool:
    """True when the token has CJK characters other than sig words (每日一次 has none; 华法林 has)."""
    rest = re.sub(r"[每日天次晚早中一二两三四五六七八九十半片粒袋支]", "", token)
    return bool(re.search(r"[\u4e00-\u9fff]", rest))


def _ascii_word(token: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z\-'.]*", token))


def split_current_medications(value: str) -> tuple[str, ...]:
    """One 在用药品 text (a HIS cell, a FHIR name) as one entry per drug, as written with its sig.

    Split on ``;；,，、|`` and line breaks, ``/`` not between digits (160/4.5 μg stays), and on whitespace
    between two drug names (``华法林 阿司匹林``); a token after a name that is its dose, unit, frequency,
    route, form word (``阿司匹林 肠溶片``), bracket note or stop mark stays with it
    (``华法林钠片 2.5mg 1片 qd`` is one entry), as do English words after English words. Entries marked
    stopped (``华法林（已停）``, ``停用``, ``暂停``, ``(停)``) and placeholders (``无``, ``暂无``, ``不详``,
    ``无特殊``, ``未服用药物``, ``否认``, ``none``) are dropped. Idempotent: an entry splits into itself."""
    out: list[str] = []
    for part in re.split(_CM_SEPARATORS, value):
        if len(part) > _CM_LONG:  # no drug name is this long: kept whole (RX-REC-005), never parsed
            out.append(part.strip())
            continue
        entry: list[str] = []
        for tok in _cm_tokens(part):
            if entry and (_cm_sig(tok) or (_ascii_word(tok) and _ascii_word(entry[-1]))):
                entry.append(tok)
                continue
            if entry:
                out.append(" ".join(entry))
            entry = [tok]
        if entry:
            out.append(" ".join(entry))
    kept = ((e, e.strip(" .。")) for e in out)
    return tuple(
        e
        for e, bare in kept
        if bare
        and not (_CM_STOPPED.search(e) and not _CM_GOES_ON.search(e))
        and not _CM_PLACEHOLDER.match(bare)
    )


def current_medication_list(value: Any) -> tuple[str, ...]:
    """``patient.current_medications`` from a text or a list: split (:func:`split_current_medications`),
    stopped entries and placeholders dropped, each drug once (first spelling kept, order kept)."""
    parts = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for p in parts:
        if not isinstance(p, str):
            out.append(p)  # left for the field's type check to reject
            continue
        for e in split_current_medications(p):
            if e not in out:
                out.append(e)
    return tuple(out)


_CM_DOSE_TAIL = re.compile(rf"\s*\d+(?:\.\d+)?\s*(?:{_CM_UNITS})(?![A-Za-z])[^()（）]*$", re.I)
_CM_DOSE_IN_NOTE = re.compile(rf"\s*\d+(?:\.\d+)?\s*(?:{_CM_UNITS})(?![A-Za-z])(?=\s*[)）])", re.I)
_CM_FREQ_TAIL = re.compile(r"(?<=[\u4e00-\u9fff）)])\s*(?:q\d*h|qd|bid|tid|qid|qn|qod|qw|prn|po)$", re.I)
_CM_ROUTE_AFFIXES = (  # longest first
    "局部外用",
    "皮下注射",
    "阴道给药",
    "直肠给药",
    "舌下含服",
    "外用",
    "口服",
    "滴眼",
    "滴耳",
    "滴鼻",
    "鼻喷",
    "吸入",
)
_CM_ROUTE_NOTE = re.compile(r"[(（]\s*([^()（）]+?)\s*[)）]")


def current_medication_name(entry: str) -> tuple[str, str | None]:
    """(drug name, route word) of one 在用药品 entry: its dose, frequency and count tokens stripped
    (``华法林钠片 2.5mg 1片 qd`` → 华法林钠片, ``华法林3mg`` → 华法林), a route said with it kept apart
    (``红霉素 外用``, ``红霉素（外用）``, ``外用红霉素`` → (红霉素, 外用)). Form words stay in the name
    (``阿司匹林 肠溶片`` → 阿司匹林肠溶片, ``红霉素软膏``), as do a brand in brackets (``(拜新同)``)."""
    from toolkit.units import normalize_route

    def is_route(t: str) -> bool:
        return normalize_route(t) is not None or t in _CM_LOCAL_ROUTE_WORDS

    if len(entry) > _CM_LONG:
        return entry, None
    route: str | None = None
    kept: list[str] = []
    for n, tok in enumerate(_cm_tokens(entry)):
        if n and is_route(tok):
            route = route or tok
            continue
        if n and _cm_sig(tok) and not _CM_FORM_TOKEN.match(tok) and tok[0] not in _CM_OPEN:
            continue
        kept.append(tok)
    name = " ".join(kept)
    for m in list(_CM_ROUTE_NOTE.finditer(name)):  # 红霉素（外用）
        if is_route(m.group(1)):
            route = route or m.group(1)
            name = name.replace(m.group(0), "")
    name = _CM_DOSE_IN_NOTE.sub("", name)  # (拜新同 30mg) → (拜新同)
    tail = _CM_DOSE_TAIL.search(name)
    if tail is not None and tail.start() > 0:  # 华法林3mg → 华法林; not 0.9%氯化钠注射液
        name = name[: tail.start()]
    name = name.strip()
    name = _CM_FREQ_TAIL.sub("", name).strip()
    for w in _CM_ROUTE_AFFIXES:  # 红霉素外用, 外用红霉素
        if name.endswith(w) and len(name) > len(w):
            route, name = route or w, name[: -len(w)].strip()
            break
        if name.startswith(w) and len(name) > len(w) and w in ("外用", "局部外用"):
            route, name = route or w, name[len(w) :].strip()
            break
    if re.fullmatch(r"[\u4e00-\u9fff（）()\s]+", name) and " " in name:
        name = name.replace(" ", "")  # 阿司匹林 肠溶片
    return (name or entry.strip()), route


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
