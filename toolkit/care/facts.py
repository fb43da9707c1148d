"""The fact vocabulary care rules are written in, and the view of one visit they read.

Care rules use the same condition-tree shape as the audit (``all`` / ``any`` /
``not`` / ``{fact, op, value}``, see :mod:`toolkit.knowledge.conditions`) but a
vocabulary of their own: vital signs of the visit, labs with their age in days,
symptoms mentioned in the record, the chronic diseases being managed and, once
assessed, their control status. Facts and operators are code; thresholds are
data in ``rules/care/``. Trees are checked against this vocabulary at load.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import Any, ClassVar, Literal

from toolkit.knowledge.conditions import ICD_SPEC, NUMERIC_OPS, ConditionTree, icd_matches
from toolkit.records import EXAM_NAMES, LAB_NAMES, AuditCase

log = logging.getLogger(__name__)


class Disease(StrEnum):
    """Chronic diseases the care plan manages (a closed set: the output contract names them)."""

    HYPERTENSION = "hypertension"
    T2DM = "t2dm"
    COPD = "copd"
    DYSLIPIDAEMIA = "dyslipidaemia"
    CHD = "chd"


class Control(StrEnum):
    """Control status of one disease at this visit."""

    CONTROLLED = "controlled"
    UNCONTROLLED = "uncontrolled"
    UNKNOWN = "unknown"


EXAMS = EXAM_NAMES
"""Examinations whose last date may be given in ``patient.lab_dates`` next to labs
(眼底检查, 足部检查, 心电图, 肺功能)."""

DATED_ITEMS = (*LAB_NAMES, *EXAMS)

VITALS = ("sbp", "dbp", "heart_rate", "temperature", "resp_rate", "spo2", "waist_cm")

COUNTS: dict[str, str] = {
    "severe_ascvd_events": "严重ASCVD事件",
    "ascvd_high_risk_factors": "超高危判定的高危险因素",
}
"""Counted criteria (fact ``count.<name>``): each is defined once in a ``counts`` section of
``rules/care/`` (its items and their conditions are data); the value is the number of items that hold."""

CareFactKind = Literal["number", "bool", "text", "diagnoses", "record_text", "set"]

CARE_FACTS: dict[str, CareFactKind] = {
    "age": "number",
    "sex": "text",
    "pregnant": "bool",
    "lactating": "bool",
    "smoker": "bool",
    "weight_kg": "number",
    "bmi": "number",
    "visit_type": "text",
    "diagnosis": "diagnoses",
    "symptom": "record_text",
    "disease": "set",
    "referral": "set",
    "ascvd_risk_factors": "number",
    "prescription_items": "number",
    "drug_class": "set",
    "antihypertensive_count": "number",
    **{f"count.{name}": "number" for name in COUNTS},
    **{f"vitals.{v}": "number" for v in VITALS},
    **{f"labs.{name}": "number" for name in LAB_NAMES},
    **{f"lab_age_days.{name}": "number" for name in DATED_ITEMS},
    **{f"control.{d.value}": "text" for d in Disease},
}
"""Every fact a care rule may test, with its kind.

- ``bmi``: ``vitals.bmi`` when recorded, else computed from weight and height.
- ``labs.X``: the recorded value whatever its age; pair it with ``lab_age_days.X``.
- ``lab_age_days.X``: days from the date in ``patient.lab_dates`` to the visit; a
  lab recorded without a date is taken as measured at this visit (0 days).
- ``symptom``: 主诉 + 现病史 + 体格检查; ``mentions`` skips negated mentions
  (无/否认/未/不伴 … before the word in the same clause), ``says`` is a plain substring test,
  ``worsens`` needs a worsening cue (加重/加剧/增多/恶化/较前明显) after the word in the same clause.
- ``disease``: the managed diseases identified in this visit; ``referral``: the
  urgencies of referrals already raised (for follow-up rules).
- ``ascvd_risk_factors``: count of smoking, HDL-C < 1.0 mmol/L, age ≥45 (men) / ≥55
  (women) — the risk factors of 中国血脂管理指南(2023) and 国家基层高血压防治管理指南2020.
- ``control.D``: ``controlled`` / ``uncontrolled`` / ``unknown`` once disease D is assessed.
- ``prescription_items``: number of lines in this visit's prescription (0 when none was given).
- ``drug_class``: formulary classes (``rules/formulary/classes.yaml``, with their ancestors and the
  classes of a combination's ingredients) of the prescription lines the formulary recognises by name
  (exact, salt/form-stripped or contained matches only; a typo or homophone match is not used).
- ``antihypertensive_count``: distinct antihypertensive ingredients prescribed (a combination
  product counts each ingredient: 氯沙坦钾氢氯噻嗪 = 2).
- ``count.N``: how many items of the counted criterion N (``counts`` section) hold.
"""

CARE_OPS: dict[CareFactKind, set[str]] = {
    "number": {"lt", "le", "gt", "ge", "eq", "ne", "between", "present", "absent"},
    "bool": {"eq", "present", "absent"},
    "text": {"eq", "ne", "in", "not_in", "present", "absent"},
    "diagnoses": {"icd_in", "name_contains", "present", "absent"},
    "record_text": {"mentions", "says", "worsens", "present", "absent"},
    "set": {"has", "has_any", "present", "absent"},
}

FACT_LABELS: dict[str, tuple[str, str]] = {
    "age": ("年龄", "岁"),
    "bmi": ("BMI", "kg/m²"),
    "weight_kg": ("体重", "kg"),
    "vitals.sbp": ("收缩压", "mmHg"),
    "vitals.dbp": ("舒张压", "mmHg"),
    "vitals.heart_rate": ("心率", "次/分"),
    "vitals.temperature": ("体温", "℃"),
    "vitals.resp_rate": ("呼吸", "次/分"),
    "vitals.spo2": ("血氧饱和度", "%"),
    "vitals.waist_cm": ("腰围", "cm"),
    "labs.hba1c": ("糖化血红蛋白", "%"),
    "labs.fpg": ("空腹血糖", "mmol/L"),
    "labs.pbg": ("餐后2小时血糖", "mmol/L"),
    "labs.ldl_c": ("低密度脂蛋白胆固醇", "mmol/L"),
    "labs.hdl_c": ("高密度脂蛋白胆固醇", "mmol/L"),
    "labs.tc": ("总胆固醇", "mmol/L"),
    "labs.tg": ("甘油三酯", "mmol/L"),
    "labs.egfr": ("eGFR", "mL/min/1.73m²"),
    "labs.uacr": ("尿白蛋白/肌酐比值", "mg/g"),
    "labs.potassium": ("血钾", "mmol/L"),
    "labs.scr": ("血肌酐", "μmol/L"),
    "ascvd_risk_factors": ("ASCVD危险因素个数", "个"),
    "prescription_items": ("处方药品数", "项"),
    "antihypertensive_count": ("降压药种数", "种"),
    **{f"count.{name}": (label, "项") for name, label in COUNTS.items()},
}
"""Chinese label and unit of a fact, for evidence and messages."""

ITEM_LABELS: dict[str, str] = {
    "hba1c": "糖化血红蛋白",
    "fpg": "空腹血糖",
    "ldl_c": "血脂（低密度脂蛋白胆固醇）",
    "uacr": "尿白蛋白/肌酐比值",
    "egfr": "肾功能（血肌酐/eGFR）",
    "scr": "血肌酐",
    "potassium": "血钾",
    "fundus": "眼底检查",
    "foot": "足部检查",
    "ecg": "心电图",
    "spirometry": "肺功能检查",
    "tc": "总胆固醇",
    "alt": "转氨酶",
}


def label_of(fact: str) -> tuple[str, str]:
    """Chinese label and unit of a fact (the fact name itself when unlabelled)."""
    return FACT_LABELS.get(fact, (ITEM_LABELS.get(fact.split(".")[-1], fact), ""))


# --------------------------------------------------------------------------- condition trees


class CareCondition(ConditionTree):
    """A node of a care condition tree; validated against :data:`CARE_FACTS` and :data:`CARE_OPS`."""

    FACTS: ClassVar[Mapping[str, str]] = CARE_FACTS
    OPS: ClassVar[Mapping[str, set[str]]] = CARE_OPS

    @classmethod
    def check_leaf(cls, fact: str, kind: str, op: str, value: Any) -> None:
        """Raise ValueError (at load) when the value does not fit the care fact's kind and the operator."""
        check_value(fact, kind, op, value)  # type: ignore[arg-type]


_STRING_LIST_OPS = {"in", "not_in", "icd_in", "name_contains", "mentions", "says", "worsens", "has_any"}


def check_value(fact: str, kind: CareFactKind, op: str, value: Any) -> None:
    """Reject a value that does not fit the fact's kind and the operator (raised at load)."""
    if op in {"present", "absent"}:
        if value not in (None, True):
            raise ValueError(f"op '{op}' takes no value")
        return
    if op == "between":
        if not (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            raise ValueError("op 'between' needs value [low, high] (low inclusive, high exclusive)")
        return
    if kind == "number" and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise ValueError(f"op '{op}' needs a number, got {value!r}")
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"op '{op}' needs true or false, got {value!r}")
    if op in _STRING_LIST_OPS:
        if not (isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value)):
            raise ValueError(f"op '{op}' needs a non-empty list of strings")
    elif kind in {"text", "set"} and not isinstance(value, str):
        raise ValueError(f"op '{op}' needs a string, got {value!r}")
    if op == "icd_in":
        for spec in value:
            if not ICD_SPEC.fullmatch(spec):
                raise ValueError(f"'{spec}' is not an ICD-10 code, prefix or range like I20-I25")
    allowed: set[str] | None = None
    if fact.startswith("control."):
        allowed = {c.value for c in Control}
    elif fact == "disease":
        allowed = {d.value for d in Disease}
    elif fact == "referral":
        allowed = {"urgent", "routine"}
    elif fact == "drug_class":
        allowed = set(formulary_classes())
    if allowed is not None:
        for v in value if isinstance(value, list | tuple) else [value]:
            if v not in allowed:
                raise ValueError(
                    f"'{v}' is not allowed for fact '{fact}'; allowed: {', '.join(sorted(allowed))}"
                )


@lru_cache(maxsize=1)
def formulary_classes() -> frozenset[str]:
    """Class ids of the shipped formulary (``rules/formulary/classes.yaml``), for ``drug_class`` values."""
    import yaml

    from toolkit.knowledge.loader import default_rules_dir

    path = default_rules_dir() / "formulary" / "classes.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return frozenset(str(c["id"]) for c in data.get("classes", []) if isinstance(c, dict) and "id" in c)


# --------------------------------------------------------------------------- the visit as facts

# Phrases that contain a negation cue but do not negate a symptom ("无明显诱因出现胸痛").
_NOT_NEGATIONS = re.compile(r"无明显诱因|无诱因|无明显原因")
_NEGATION_CUES = ("无", "否认", "未", "没有", "不伴", "未诉", "未见")
_CLAUSE = re.compile(r"[，,。；;！!？?\n]")
_TEXT_SECTIONS = ("主诉", "现病史", "体格检查")


def _mentions(text: str, word: str) -> bool:
    """True when ``word`` occurs in a clause without a negation cue before it."""
    for clause in _CLAUSE.split(_NOT_NEGATIONS.sub("", text)):
        start = clause.find(word)
        while start >= 0:
            if not any(cue in clause[:start] for cue in _NEGATION_CUES):
                return True
            start = clause.find(word, start + 1)
    return False


_WORSENING = ("加重", "加剧", "增多", "恶化", "较前明显")


def _worsens(text: str, word: str) -> bool:
    """True when a clause names ``word`` (not negated) followed by a worsening cue: '咳嗽咳痰加重3天'."""
    for clause in _CLAUSE.split(_NOT_NEGATIONS.sub("", text)):
        start = clause.find(word)
        if start < 0 or any(cue in clause[:start] for cue in _NEGATION_CUES):
            continue
        rest = clause[start + len(word) :]
        for cue in _WORSENING:
            at = rest.find(cue)
            # '气喘无加重', '咳嗽未见加重': a negation between the word and the cue cancels it.
            if at >= 0 and not any(neg in rest[:at] for neg in _NEGATION_CUES):
                return True
    return False


def parse_date(text: str | None) -> date | None:
    """An ISO date (``2026-03-01``; a time part is ignored), or None when absent or unreadable."""
    if not text:
        return None
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


_SAFE_MATCHES = frozenset({"exact", "stripped", "contained"})
"""Name matches trusted for drug facts: a typo or homophone match may be another drug."""


@dataclass(frozen=True)
class RxDrug:
    """One prescription line as the care facts see it: the name as written and, when recognised, its classes."""

    written: str
    drug_id: str | None = None
    classes: frozenset[str] = frozenset()
    antihypertensives: tuple[str, ...] = ()  # ingredient ids that are antihypertensives


def prescription_drugs(case: AuditCase) -> tuple[tuple[RxDrug, ...], str | None]:
    """The prescription lines of a visit with their formulary classes (the audit knowledge base's names),
    and why no line could be resolved when the knowledge base did not load.

    Loads the audit knowledge base only when the visit has a prescription.
    """
    items = case.prescription.items
    if not items:
        return (), None
    from toolkit.errors import ToolkitError
    from toolkit.knowledge import get_knowledge

    try:
        kb = get_knowledge()
    except ToolkitError as exc:  # the care plan still works without drug facts; the lines are named
        log.warning("drug facts unavailable, the knowledge base did not load: %s", exc)
        return tuple(RxDrug(written=item.drug) for item in items), "药品知识库未能加载"
    out = []
    for item in items:
        match = kb.names.resolve(item.drug)
        drug_id = getattr(match, "drug_id", None)
        if match is None or getattr(match, "kind", None) not in _SAFE_MATCHES or drug_id not in kb.drugs:
            out.append(RxDrug(written=item.drug))
            continue
        ingredients = kb.ingredients(drug_id)
        out.append(
            RxDrug(
                written=item.drug,
                drug_id=drug_id,
                classes=kb.classes_of(drug_id),
                antihypertensives=tuple(i for i in ingredients if "antihypertensive" in kb.classes_of(i)),
            )
        )
    return tuple(out), None


@dataclass
class CareFacts:
    """The facts of one visit. Disease, control and referral facts are filled in as assessment proceeds.

    ``counts`` holds the counted criteria of the rules (``count.<name>``); with ``optimistic`` set, an
    item that cannot be assessed (a value it reads is missing) is counted as if it held, and a visit
    without a prescription is taken as possibly having any drug, to ask whether missing data could
    have changed a population.
    """

    case: AuditCase
    visit: date | None
    diseases: set[str] = field(default_factory=set)
    control: dict[str, str] = field(default_factory=dict)
    referrals: set[str] = field(default_factory=set)
    counts: Mapping[str, Any] = field(default_factory=dict)
    optimistic: bool = False
    _rx: tuple[RxDrug, ...] | None = field(default=None, repr=False)
    rx_error: str | None = None

    @property
    def rx(self) -> tuple[RxDrug, ...]:
        """The visit's prescription lines with their classes, resolved once (see ``rx_error``)."""
        if self._rx is None:
            self._rx, self.rx_error = prescription_drugs(self.case)
        return self._rx

    def drug_classes(self) -> set[str]:
        """Classes of the prescribed drugs; every class when optimistic and nothing is prescribed."""
        if self.optimistic and not self.case.prescription.items:
            return set(formulary_classes())  # no prescription given: any drug might be taken
        return {c for d in self.rx for c in d.classes}

    def antihypertensive_count(self) -> int:
        """Distinct antihypertensive ingredients prescribed (99 when optimistic and nothing prescribed)."""
        if self.optimistic and not self.case.prescription.items:
            return 99
        return len(self.antihypertensives())

    def antihypertensives(self) -> list[str]:
        """Distinct antihypertensive ingredient ids prescribed, in prescription order."""
        out: list[str] = []
        for d in self.rx:
            out.extend(i for i in d.antihypertensives if i not in out)
        return out

    def drugs_in(self, classes: Iterable[str]) -> list[str]:
        """Written names of the recognised lines that belong to any of ``classes``."""
        wanted = set(classes)
        return [d.written for d in self.rx if d.classes & wanted]

    def count_items(self, name: str) -> tuple[list[str], list[str]]:
        """Labels of the items of counted criterion ``name`` that hold, and of those that cannot be assessed."""
        rule = self.counts.get(name)
        if rule is None:
            return [], []
        held, unknown = [], []
        for item in rule.items:
            if evaluate_care(item.when, self):
                held.append(item.label)
            elif any(
                CARE_FACTS[f] in {"number", "bool", "text"} and self.get(f) is None for f in item.when.facts()
            ):
                unknown.append(item.label)
        return held, unknown

    def count(self, name: str) -> int:
        """How many items of counted criterion ``name`` hold (plus the unassessable ones when optimistic)."""
        held, unknown = self.count_items(name)
        return len(held) + (len(unknown) if self.optimistic else 0)

    @classmethod
    def of(cls, case: AuditCase) -> CareFacts:
        """The facts of ``case``, with the visit date parsed (None when missing or unreadable)."""
        return cls(case=case, visit=parse_date(case.visit_date))

    @property
    def text(self) -> str:
        """主诉, 现病史 and 体格检查 joined with 。 (what symptom words are searched in)."""
        return "。".join(self.case.record.get(s, "") for s in _TEXT_SECTIONS if self.case.record.get(s))

    def bmi(self) -> float | None:
        """BMI from the vitals, else from weight and height (kg/m², 1 decimal); None when neither is known."""
        v = self.case.vitals
        if v is not None and v.bmi is not None:
            return v.bmi
        p = self.case.patient
        if p.weight_kg and p.height_cm:
            return round(p.weight_kg / (p.height_cm / 100) ** 2, 1)
        return None

    def lab_age_days(self, item: str) -> int | None:
        """Days between the item's date and the visit; 0 for a lab recorded without a date.

        None when the item was never recorded, or its date or the visit date is unknown.
        """
        p = self.case.patient
        when = p.lab_dates.get(item)
        if when is None:
            return 0 if item in p.labs else None
        taken = parse_date(when)
        if taken is None or self.visit is None:
            return None
        return (self.visit - taken).days

    def risk_factors(self) -> tuple[int, list[str]]:
        """ASCVD risk-factor count and the factors that could not be assessed (named, not assumed)."""
        p = self.case.patient
        count, unknown = 0, []
        if p.smoker is None:
            unknown.append("吸烟状况")
        elif p.smoker:
            count += 1
        hdl = p.labs.get("hdl_c")
        if hdl is None:
            unknown.append("高密度脂蛋白胆固醇")
        elif hdl < 1.0:
            count += 1
        if p.age is None or p.sex is None:
            unknown.append("年龄/性别")
        elif p.age >= (45 if p.sex == "M" else 55):
            count += 1
        return count, unknown

    def get(self, fact: str) -> Any:
        """The value of a care fact (``vitals.sbp``, ``labs.<name>``, ``count.<name>``, ``bmi``), or None."""
        p = self.case.patient
        if fact.startswith("vitals."):
            return getattr(self.case.vitals, fact[7:]) if self.case.vitals else None
        if fact.startswith("labs."):
            return p.labs.get(fact[5:])
        if fact.startswith("lab_age_days."):
            return self.lab_age_days(fact[13:])
        if fact.startswith("control."):
            return self.control.get(fact[8:])
        if fact.startswith("count."):
            return self.count(fact[6:]) if fact[6:] in self.counts else None
        getter: Callable[[], Any] | None = {
            "bmi": self.bmi,
            "visit_type": lambda: self.case.visit_type,
            "diagnosis": lambda: p.diagnoses,
            "symptom": lambda: self.text or None,
            "disease": lambda: self.diseases,
            "referral": lambda: self.referrals,
            "ascvd_risk_factors": lambda: self.risk_factors()[0],
            "prescription_items": lambda: len(self.case.prescription.items),
            "drug_class": self.drug_classes,
            "antihypertensive_count": self.antihypertensive_count,
        }.get(fact)
        return getter() if getter else getattr(p, fact)


def evaluate_care(cond: CareCondition, facts: CareFacts) -> bool:
    """Evaluate a tree. A leaf whose fact is unknown is false, except ``absent``."""
    return cond.holds(lambda leaf: _care_leaf(leaf, facts))


def _care_leaf(cond: CareCondition, facts: CareFacts) -> bool:
    assert cond.fact is not None and cond.op is not None  # guaranteed by CareCondition._check
    value = facts.get(cond.fact)
    empty = value is None or value == () or value == [] or value == set()
    if cond.op == "present":
        return not empty
    if cond.op == "absent":
        return empty
    if empty:
        return False
    kind = CARE_FACTS[cond.fact]
    if kind == "diagnoses":
        if cond.op == "icd_in":
            return any(icd_matches(d.icd10, spec) for d in value for spec in cond.value)
        return any(word in d.name for d in value for word in cond.value)
    if kind == "record_text":
        if cond.op == "says":
            return any(word in value for word in cond.value)
        test = _worsens if cond.op == "worsens" else _mentions
        return any(test(value, word) for word in cond.value)
    if kind == "set":
        return cond.value in value if cond.op == "has" else bool(set(cond.value) & value)
    return NUMERIC_OPS[cond.op](value, cond.value)


def _symptom_hits(cond: CareCondition, facts: CareFacts) -> list[str]:
    words: list[str] = []
    text = facts.text
    if cond.fact == "symptom" and cond.op in {"mentions", "says", "worsens"} and text:
        test = {"mentions": _mentions, "worsens": _worsens}.get(cond.op, lambda t, w: w in t)
        words.extend(w for w in cond.value if test(text, w))
    for child in (*(cond.all or ()), *(cond.any or ()), *((cond.not_,) if cond.not_ else ())):
        words.extend(w for w in _symptom_hits(child, facts) if w not in words)
    return words


def care_evidence(cond: CareCondition, facts: CareFacts) -> dict[str, Any]:
    """The values a tree read that are known (symptoms as the words found, diagnoses as 'name (ICD)')."""
    out: dict[str, Any] = {}
    for fact in cond.facts():
        if fact in {"disease", "referral", "prescription_items"} or fact.startswith("control."):
            continue
        if fact == "symptom":
            hits = _symptom_hits(cond, facts)
            if hits:
                out[fact] = hits
            continue
        if fact == "drug_class":
            names = facts.drugs_in(_leaf_values(cond, fact))
            if names:
                out["drugs"] = names
            continue
        if fact.startswith("count."):
            held, _ = facts.count_items(fact[6:])
            if held:
                out[fact] = held
            continue
        if fact == "antihypertensive_count" and facts.rx:
            out[fact] = facts.get(fact)
            names = facts.drugs_in({"antihypertensive"})
            if names:
                out["antihypertensive_drugs"] = names
            continue
        value = facts.get(fact)
        if fact == "diagnosis":
            value = [f"{d.name} ({d.icd10})" if d.icd10 else d.name for d in value] or None
        if value is not None:
            out[fact] = value
    return out


def _leaf_values(cond: CareCondition, fact: str) -> set[str]:
    """Every value the tree's leaves on ``fact`` name (e.g. the classes a drug_class test asks about)."""
    if cond.fact == fact:
        v = cond.value
        return set(v) if isinstance(v, list | tuple) else ({v} if isinstance(v, str) else set())
    out: set[str] = set()
    for child in (*(cond.all or ()), *(cond.any or ()), *((cond.not_,) if cond.not_ else ())):
        out |= _leaf_values(child, fact)
    return out


def describe(evidence: dict[str, Any]) -> str:
    """Evidence as a Chinese phrase: '收缩压 185 mmHg，症状：剧烈头痛'."""
    parts = []
    for fact, value in evidence.items():
        if fact == "symptom":
            parts.append("记录中提到：" + "、".join(value))
        elif fact == "diagnosis":
            parts.append("诊断：" + "、".join(value))
        elif fact == "drugs":
            parts.append("处方中：" + "、".join(value))
        elif fact == "antihypertensive_drugs":
            parts.append("处方降压药：" + "、".join(value))
        elif fact.startswith("count.") and isinstance(value, list):
            parts.append(f"{label_of(fact)[0]}：" + "、".join(value))
        elif isinstance(value, bool):
            parts.append(f"{label_of(fact)[0]}：{'是' if value else '否'}")
        else:
            name, unit = label_of(fact)
            if fact.startswith("lab_age_days."):
                name, unit = f"{name}距今", "天"
            parts.append(f"{name} {fmt(value)}{(' ' + unit) if unit else ''}")
    return "，".join(parts)


def fmt(value: Any) -> str:
    """A number without a spurious '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
