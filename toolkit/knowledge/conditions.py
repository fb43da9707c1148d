"""Condition trees over patient facts: the typed vocabulary rules are written in.

A condition is ``{all: [...]}``, ``{any: [...]}``, ``{not: {...}}`` or a leaf
``{fact, op, value}``. Facts and operators are code; which facts a rule tests,
with which thresholds, is data in ``rules/``. Trees are checked against this
vocabulary when the knowledge base loads, not when a rule first runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from toolkit.records import LAB_NAMES, AuditCase

FactKind = Literal["number", "bool", "text", "diagnoses", "allergies"]

FACTS: dict[str, FactKind] = {
    "age": "number",
    "weight_kg": "number",
    "sex": "text",
    "pregnant": "bool",
    "lactating": "bool",
    "diagnosis": "diagnoses",
    "allergy": "allergies",
    "prescription.kind": "text",
    **{f"labs.{name}": "number" for name in LAB_NAMES},
}
"""Every fact a rule may test, with its kind."""

OPS: dict[FactKind, set[str]] = {
    "number": {"lt", "le", "gt", "ge", "eq", "ne", "between", "present", "absent"},
    "bool": {"eq", "present", "absent"},
    "text": {"eq", "ne", "in", "not_in", "present", "absent"},
    "diagnoses": {"icd_in", "name_contains", "present", "absent"},
    "allergies": {"contains", "present", "absent"},
}


class ConditionTree(BaseModel):
    """A node of a condition tree over some vocabulary of facts.

    Subclasses name the vocabulary (``FACTS``: fact → kind, ``OPS``: kind → operators) and check
    a leaf's value in :meth:`check_leaf`; the tree shape and its validation are shared. The audit
    uses :class:`Condition`; the care plans have their own vocabulary (toolkit.care.facts).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    FACTS: ClassVar[Mapping[str, str]] = {}
    OPS: ClassVar[Mapping[str, set[str]]] = {}

    all: tuple[Self, ...] | None = None
    any: tuple[Self, ...] | None = None
    not_: Self | None = None
    fact: str | None = None
    op: str | None = None
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _rename_not(cls, data: Any) -> Any:
        if isinstance(data, dict) and "not" in data:
            data = {**data, "not_": data["not"]}
            del data["not"]
        return data

    @model_validator(mode="after")
    def _check(self) -> Self:
        branches = [n for n in ("all", "any", "not_") if getattr(self, n) is not None]
        leaf = self.fact is not None or self.op is not None
        if len(branches) + int(leaf) != 1:
            raise ValueError("a condition is exactly one of: all, any, not, or {fact, op, value}")
        if not leaf:
            return self
        if self.fact not in self.FACTS:
            raise ValueError(f"unknown fact '{self.fact}'; allowed: {', '.join(sorted(self.FACTS))}")
        kind = self.FACTS[self.fact]
        if self.op not in self.OPS[kind]:
            raise ValueError(f"op: unknown '{self.op}' for fact '{self.fact}'; allowed: "
                             f"{', '.join(sorted(self.OPS[kind]))}")
        self.check_leaf(self.fact, kind, self.op, self.value)  # type: ignore[arg-type]
        return self

    @classmethod
    def check_leaf(cls, fact: str, kind: str, op: str, value: Any) -> None:
        """Reject a value that does not fit the fact's kind and the operator (raised at load)."""

    def holds(self, leaf: Callable[[Self], bool]) -> bool:
        """Evaluate the tree's all/any/not structure, asking ``leaf`` about each leaf."""
        if self.all is not None:
            return all(c.holds(leaf) for c in self.all)
        if self.any is not None:
            return any(c.holds(leaf) for c in self.any)
        if self.not_ is not None:
            return not self.not_.holds(leaf)
        return leaf(self)

    def facts(self) -> list[str]:
        """Facts this tree reads, in order (for evidence and message templates)."""
        if self.fact:
            return [self.fact]
        out: list[str] = []
        for child in (*(self.all or ()), *(self.any or ()), *((self.not_,) if self.not_ else ())):
            out.extend(f for f in child.facts() if f not in out)
        return out


class Condition(ConditionTree):
    """A condition over the audit's patient facts (:data:`FACTS`, :data:`OPS`)."""

    FACTS: ClassVar[Mapping[str, str]] = FACTS
    OPS: ClassVar[Mapping[str, set[str]]] = OPS

    @classmethod
    def check_leaf(cls, fact: str, kind: str, op: str, value: Any) -> None:
        _check_value(kind, op, value)  # type: ignore[arg-type]


def _check_value(kind: FactKind, op: str, value: Any) -> None:
    if op in {"present", "absent"}:
        if value not in (None, True):
            raise ValueError(f"op '{op}' takes no value")
        return
    if op == "between":
        if not (isinstance(value, list | tuple) and len(value) == 2
                and all(isinstance(v, int | float) for v in value)):
            raise ValueError("op 'between' needs value [low, high] (low inclusive, high exclusive)")
        return
    if kind == "number" and not isinstance(value, int | float):
        raise ValueError(f"op '{op}' needs a number, got {value!r}")
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"op '{op}' needs true or false, got {value!r}")
    if op in {"in", "not_in", "icd_in", "name_contains", "contains"}:
        if not (isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value)):
            raise ValueError(f"op '{op}' needs a non-empty list of strings")
        if op == "icd_in":
            for spec in value:
                if not ICD_SPEC.fullmatch(spec):
                    raise ValueError(f"'{spec}' is not an ICD-10 code, prefix or range like I20-I25")


ICD_SPEC = re.compile(r"[A-Z]\d{2}(\.\d{1,2})?(-[A-Z]\d{2}(\.\d{1,2})?)?")


@lru_cache(maxsize=65536)
def icd_matches(code: str | None, spec: str) -> bool:
    """True when an ICD-10 ``code`` falls under ``spec``: a prefix (``E11``) or a range (``I20-I25``)."""
    if not code:
        return False
    code = code.upper()
    if "-" not in spec:
        return code.startswith(spec)
    low, high = spec.split("-")
    head = code[: len(high)]
    return low[: len(head)] <= head <= high or code.startswith(low) or code.startswith(high)


@dataclass(frozen=True, slots=True)
class FactView:
    """The facts of one case, read once and shared by every rule evaluated on it."""

    case: AuditCase

    def get(self, fact: str) -> Any:
        p = self.case.patient
        if fact.startswith("labs."):
            return p.labs.get(fact[5:])
        if fact == "diagnosis":
            return p.diagnoses
        if fact == "allergy":
            return p.allergies
        if fact == "prescription.kind":
            return self.case.prescription.kind
        return getattr(p, fact)


def _diagnosis_ops(op: str, value: Any, diagnoses: Any) -> bool:
    if op == "icd_in":
        return any(icd_matches(d.icd10, spec) for d in diagnoses for spec in value)
    return any(word in d.name for d in diagnoses for word in value)


NUMERIC_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "between": lambda a, b: b[0] <= a < b[1],
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
}


def evaluate(cond: Condition, facts: FactView) -> bool:
    """Evaluate a tree. A leaf whose fact is unknown is false, except ``absent``."""
    return cond.holds(lambda leaf: _leaf(leaf, facts))


def _leaf(cond: Condition, facts: FactView) -> bool:
    value = facts.get(cond.fact)  # type: ignore[arg-type]
    empty = value is None or value == () or value == []
    if cond.op == "present":
        return not empty
    if cond.op == "absent":
        return empty
    if empty:
        return False
    kind = FACTS[cond.fact]  # type: ignore[index]
    if kind == "diagnoses":
        return _diagnosis_ops(cond.op, cond.value, value)  # type: ignore[arg-type]
    if kind == "allergies":
        return any(word in a for a in value for word in cond.value)
    return NUMERIC_OPS[cond.op](value, cond.value)  # type: ignore[index]


def evidence_for(cond: Condition, facts: FactView) -> dict[str, Any]:
    """The values a tree read, for a finding's evidence (diagnoses as 'name (ICD)')."""
    out: dict[str, Any] = {}
    for fact in cond.facts():
        value = facts.get(fact)
        if fact == "diagnosis":
            value = [f"{d.name} ({d.icd10})" if d.icd10 else d.name for d in value]
        elif fact == "allergy":
            value = list(value)
        out[fact] = value
    return out
