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

from toolkit.knowledge.renal import crcl_for
from toolkit.records import LAB_NAMES, AuditCase

FactKind = Literal["number", "bool", "text", "diagnoses", "allergies", "items"]

FACTS: dict[str, FactKind] = {
    "age": "number",
    "weight_kg": "number",
    "sex": "text",
    "pregnant": "bool",
    "lactating": "bool",
    "diagnosis": "diagnoses",
    "allergy": "allergies",
    "prescription.kind": "text",
    "prescription.items": "items",
    **{f"labs.{name}": "number" for name in LAB_NAMES},
}
"""Every fact a rule may test, with its kind."""

OPS: dict[FactKind, set[str]] = {
    "number": {"lt", "le", "gt", "ge", "eq", "ne", "between", "present", "absent"},
    "bool": {"eq", "present", "absent"},
    "text": {"eq", "ne", "in", "not_in", "present", "absent"},
    "diagnoses": {"icd_in", "name_contains", "name_contains_unless", "present", "absent"},
    "allergies": {"contains", "present", "absent"},
    "items": {"includes", "excludes", "count_ge", "daily_dose_gt", "daily_dose_le"},
}
"""Operators per kind. ``name_contains_unless`` takes ``{words: [...], unless: [...]}`` and holds for a
diagnosis whose name has one of ``words`` and none of ``unless`` (脑出血 but not 脑出血后遗症).
``prescription.items`` is about the drug items of the same prescription (the item a rule is
checking included): ``includes`` / ``excludes`` take class or drug ids (a drug matches through its
ingredients, classes and their ancestors); ``count_ge`` takes ``{of: [ids], n: 3}`` and counts the
items matching any of the ids; ``daily_dose_gt`` takes ``{drug: <single-ingredient drug id>, gt: 20}`` and
holds when that ingredient's daily amount summed over the items (in the drug's ``dose.unit``; combination
products count their share) is known and above ``gt``; ``daily_dose_le`` takes ``{drug, le}`` and holds when that
amount is known and at most ``le`` (an unknown amount satisfies neither, so a rule can keep its stricter severity
for an unknown dose and lower it only for a dose known to be within the limit). The ids are checked against the formulary when the
KB loads. The drugs the patient already takes (在用药品, :attr:`FactView.current`) count as items for
``includes``, ``excludes`` and ``count_ge``; their dose is not known, so they add nothing to a
``daily_dose_gt`` amount and make a ``daily_dose_le`` amount unknown (false) when they hold the ingredient."""


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
            raise ValueError(
                f"op: unknown '{self.op}' for fact '{self.fact}'; allowed: "
                f"{', '.join(sorted(self.OPS[kind]))}"
            )
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
        """Raise ValueError (at load) when the value does not fit the fact's kind and the operator."""
        _check_value(kind, op, value)  # type: ignore[arg-type]


def _check_value(kind: FactKind, op: str, value: Any) -> None:
    if op == "name_contains_unless":
        if not (
            isinstance(value, dict)
            and set(value) == {"words", "unless"}
            and all(
                isinstance(v, list | tuple) and v and all(isinstance(w, str) and w for w in v)
                for v in value.values()
            )
        ):
            raise ValueError(
                "op 'name_contains_unless' needs value {words: [...], unless: [...]} "
                "(non-empty lists of strings)"
            )
        return
    if op in {"daily_dose_gt", "daily_dose_le"}:
        bound = op[-2:]
        if not (
            isinstance(value, dict)
            and set(value) == {"drug", bound}
            and isinstance(value["drug"], str)
            and isinstance(value[bound], int | float)
            and not isinstance(value[bound], bool)
            and value[bound] >= 0
        ):
            raise ValueError(
                f"op '{op}' needs value {{drug: <drug id>, {bound}: <amount per day in the "
                "drug's dose unit>}"
            )
        return
    if op == "count_ge":
        if not (
            isinstance(value, dict)
            and set(value) == {"of", "n"}
            and isinstance(value["n"], int)
            and not isinstance(value["n"], bool)
            and value["n"] >= 1
            and isinstance(value["of"], list | tuple)
            and value["of"]
            and all(isinstance(v, str) for v in value["of"])
        ):
            raise ValueError("op 'count_ge' needs value {of: [class or drug ids], n: <whole number ≥ 1>}")
        return
    if op in {"present", "absent"}:
        if value not in (None, True):
            raise ValueError(f"op '{op}' takes no value")
        return
    if op == "between":
        if not (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(isinstance(v, int | float) for v in value)
        ):
            raise ValueError("op 'between' needs value [low, high] (low inclusive, high exclusive)")
        return
    if kind == "number" and not isinstance(value, int | float):
        raise ValueError(f"op '{op}' needs a number, got {value!r}")
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"op '{op}' needs true or false, got {value!r}")
    if op in {"in", "not_in", "icd_in", "name_contains", "contains", "includes", "excludes"}:
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
class IcdSpecs:
    """ICD-10 specs (prefixes and ranges) split once for a fast test of a code (:func:`icd_matches` on each)."""

    prefixes: frozenset[str]  # specs without a range: a code matches when it starts with one
    prefix_lengths: tuple[int, ...]
    ranges: tuple[str, ...]

    @classmethod
    def of(cls, specs: Any) -> IcdSpecs:
        """Split ``specs`` (``E11``, ``I20-I25`` …) into prefixes and ranges."""
        prefixes = frozenset(s for s in specs if "-" not in s)
        ranges = tuple(sorted({s for s in specs if "-" in s}))
        return cls(prefixes, tuple(sorted({len(s) for s in prefixes})), ranges)

    def matches(self, code: str | None) -> bool:
        """``any(icd_matches(code, s) for s in specs)``."""
        if not code:
            return False
        up, prefixes = code.upper(), self.prefixes
        for n in self.prefix_lengths:  # loops, not any(genexpr): this runs for every diagnosis tested
            if up[:n] in prefixes:
                return True
        for spec in self.ranges:  # noqa: SIM110
            if icd_matches(code, spec):
                return True
        return False


def word_search(words: Any) -> Callable[[str], Any] | None:
    """``any(w in text for w in words)`` as one regex search (an alternation of the escaped words, longest
    first so the same text is found), or None when there are no words."""
    words = sorted(set(words), key=lambda w: (-len(w), w))
    return re.compile("|".join(map(re.escape, words))).search if words else None


def _leaves(cond: ConditionTree) -> list[ConditionTree]:
    if cond.fact is not None:
        return [cond]
    return [
        x
        for c in (*(cond.all or ()), *(cond.any or ()), *((cond.not_,) if cond.not_ else ()))
        for x in _leaves(c)
    ]


def item_ids(cond: ConditionTree) -> list[str]:
    """Class or drug ids a tree's ``prescription.items`` leaves name (checked against the KB at load)."""
    if cond.fact == "prescription.items":
        if cond.op in {"daily_dose_gt", "daily_dose_le"}:
            return [cond.value["drug"]]
        return list(cond.value["of"] if cond.op == "count_ge" else cond.value)
    out: list[str] = []
    for child in (*(cond.all or ()), *(cond.any or ()), *((cond.not_,) if cond.not_ else ())):
        out.extend(item_ids(child))
    return out


@dataclass(frozen=True, slots=True)
class FactView:
    """The facts of one case, read once and shared by every rule evaluated on it.

    ``items`` are the prescription's resolved drug items as (name, keys, daily): keys are the product
    and ingredient ids and every class of the drug, the same keys rule targets match against; daily maps
    each ingredient id to its amount per day in that drug's dose unit (None when not computable)."""

    case: AuditCase
    items: tuple[tuple[str, frozenset[str], Mapping[str, float | None]], ...] = ()
    # the drugs the patient already takes (在用药品) as (name marked 在用药品, keys): identified drugs only, not
    # those of a prescribed line; ``prescription.items`` leaves see them beside the items, without a dose
    current: tuple[tuple[str, frozenset[str]], ...] = ()
    # which of ``current`` may answer an ``excludes`` (a home drug the list names by its product and does
    # not say is taken as needed); ``None``: all. The others count for ``includes`` and ``count_ge`` only,
    # so a bare 氟替卡松 (maybe the nasal spray) or a PPI taken 偶尔 never silences a finding
    settled: tuple[bool, ...] | None = None

    def matching(self, ids: Any) -> list[str]:
        """Names of the prescription's drug items that one of ``ids`` (class or drug ids) names, then those
        of the current medications (marked)."""
        wanted = frozenset(ids)
        return [name for name, keys, _ in self.items if not keys.isdisjoint(wanted)] + [
            name for name, keys in self.current if not keys.isdisjoint(wanted)
        ]

    def current_has(self, drug: str) -> bool:
        """Whether a current medication holds the ingredient ``drug`` (its amount is not known)."""
        return any(drug in keys for _, keys in self.current)

    def daily_dose(self, drug: str) -> float | None:
        """Amount per day of one ingredient over all items, or None when any item's amount is unknown."""
        amounts = [daily.get(drug) for _, keys, daily in self.items if drug in keys]
        if not amounts or any(a is None for a in amounts):
            return None
        return sum(amounts)  # type: ignore[arg-type]

    def get(self, fact: str) -> Any:
        """The value of one fact (``labs.egfr``, ``diagnosis``, ``prescription.items`` …) for this case.

        An unknown lab is None; ``labs.crcl`` falls back to Cockcroft–Gault when no CrCl lab is given.
        """
        if fact == "prescription.items":
            return self.items
        return _reader(fact)(self)


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
    return compiled(cond)(facts)


Compiled = Callable[[FactView], bool]

_COMPILED: dict[int, tuple[Condition, Compiled]] = {}


def compiled(cond: Condition) -> Compiled:
    """``cond`` as one Python function of the case's facts, built on its first use and kept while the
    tree lives (a knowledge base's trees are a bounded set): the tree is walked, and each leaf's fact
    reader and operator looked up, once instead of on every case. A leaf whose fact is unknown (None or
    empty) is false, except ``absent``."""
    entry = _COMPILED.get(id(cond))
    if entry is None or entry[0] is not cond:
        if len(_COMPILED) >= 65536:  # trees of knowledge bases no longer used (tests load many)
            _COMPILED.clear()
        entry = (cond, _compile(cond))
        _COMPILED[id(cond)] = entry  # the tree is held here, so its id is not reused while cached
    return entry[1]


def _compile(cond: Condition) -> Compiled:
    if cond.all is not None:
        parts = tuple(_compile(c) for c in cond.all)

        def all_of(facts: FactView) -> bool:
            # a plain loop, not all(genexpr): no generator to build on every evaluation
            for part in parts:  # noqa: SIM110
                if not part(facts):
                    return False
            return True

        return all_of
    if cond.any is not None:
        parts = tuple(_compile(c) for c in cond.any)

        def any_of(facts: FactView) -> bool:
            for part in parts:  # noqa: SIM110
                if part(facts):
                    return True
            return False

        return any_of
    if cond.not_ is not None:
        inner = _compile(cond.not_)
        return lambda facts: not inner(facts)
    return _compile_leaf(cond)


@lru_cache(maxsize=256)  # facts are a fixed vocabulary (FACTS): every reader stays cached
def _reader(fact: str) -> Callable[[FactView], Any]:
    """A function reading one fact (other than ``prescription.items``) of a case, the dispatch on the name
    done once. An unknown lab is None; ``labs.crcl`` falls back to Cockcroft–Gault when no CrCl lab is
    given."""
    if fact == "labs.crcl":
        return lambda facts: crcl_for(facts.case.patient)[0]
    if fact.startswith("labs."):
        lab = fact[5:]
        return lambda facts: facts.case.patient.labs.get(lab)
    if fact == "diagnosis":
        return lambda facts: facts.case.patient.diagnoses
    if fact == "allergy":
        return lambda facts: facts.case.patient.allergies
    if fact == "prescription.kind":
        return lambda facts: facts.case.prescription.kind
    return lambda facts: getattr(facts.case.patient, fact)


def _compile_diagnoses(op: str, value: Any, read: Callable[[FactView], Any]) -> Compiled:
    """A diagnosis leaf, false without diagnoses: ``icd_in`` (a code under one of the specs),
    ``name_contains`` (a name with one of the words) or ``name_contains_unless`` (a name with one of
    ``words`` and none of ``unless``), with its specs and words prepared once."""
    # plain loops over the diagnoses (no generator per evaluation); none, or an empty list, is false
    if op == "icd_in":
        matches = IcdSpecs.of(value).matches

        def holds(facts: FactView) -> bool:
            for d in read(facts) or ():  # noqa: SIM110
                if matches(d.icd10):
                    return True
            return False

    elif op == "name_contains_unless":
        has, unless = word_search(value["words"]), word_search(value["unless"])

        def holds(facts: FactView) -> bool:
            for d in read(facts) or ():  # noqa: SIM110
                if has(d.name) and not unless(d.name):  # type: ignore[misc]
                    return True
            return False

    else:
        has = word_search(value)

        def holds(facts: FactView) -> bool:
            for d in read(facts) or ():  # noqa: SIM110
                if has(d.name):  # type: ignore[misc]
                    return True
            return False

    return holds


def _compile_leaf(cond: Condition) -> Compiled:
    op, value = cond.op, cond.value
    if cond.fact == "prescription.items":
        if op == "count_ge":
            of, n = frozenset(value["of"]), value["n"]  # frozen once: matching() then reuses the set
            return lambda facts: len(facts.matching(of)) >= n
        if op in {"daily_dose_gt", "daily_dose_le"}:
            drug = value["drug"]
            if op == "daily_dose_gt":
                gt = value["gt"] * 1.0001

                def above(facts: FactView) -> bool:
                    amount = facts.daily_dose(drug)
                    return amount is not None and amount > gt

                return above
            le = value["le"] * 1.0001

            def within(facts: FactView) -> bool:
                # a current medication with the ingredient adds an unknown amount: the total is not known
                amount = facts.daily_dose(drug)
                return amount is not None and amount <= le and not facts.current_has(drug)

            return within
        ids = frozenset(value)

        def named(facts: FactView) -> bool:
            return any(not keys.isdisjoint(ids) for _, keys, _ in facts.items) or any(
                not keys.isdisjoint(ids) for _, keys in facts.current
            )

        if op == "includes":
            return named

        def named_settled(facts: FactView) -> bool:
            flags = facts.settled
            return any(not keys.isdisjoint(ids) for _, keys, _ in facts.items) or any(
                not keys.isdisjoint(ids) and (flags is None or flags[k])
                for k, (_, keys) in enumerate(facts.current)
            )

        return lambda facts: not named_settled(facts)
    read = _reader(cond.fact)  # type: ignore[arg-type]

    def empty(v: Any) -> bool:
        return v is None or v == () or v == []

    if op == "present":
        return lambda facts: not empty(read(facts))
    if op == "absent":
        return lambda facts: empty(read(facts))
    kind = FACTS[cond.fact]  # type: ignore[index]
    if kind == "diagnoses":
        return _compile_diagnoses(op, value, read)
    if kind == "allergies":
        return lambda facts: not empty(v := read(facts)) and any(word in a for a in v for word in value)
    test = NUMERIC_OPS[op]  # type: ignore[index]
    return lambda facts: not empty(v := read(facts)) and test(v, value)


def evidence_for(cond: Condition, facts: FactView) -> dict[str, Any]:
    """The values a tree read, for a finding's evidence (diagnoses as 'name (ICD)')."""
    out: dict[str, Any] = {}
    for fact in cond.facts():
        if fact == "prescription.items":
            # the items the tree asked about (names), not the whole prescription, and any daily amounts
            out[fact] = facts.matching(item_ids(cond))
            for leaf in _leaves(cond):
                if leaf.fact == fact and leaf.op in {"daily_dose_gt", "daily_dose_le"}:
                    out[f"daily_dose.{leaf.value['drug']}"] = facts.daily_dose(leaf.value["drug"])
            continue
        value = facts.get(fact)
        if fact == "diagnosis":
            value = [f"{d.name} ({d.icd10})" if d.icd10 else d.name for d in value]
        elif fact == "allergy":
            value = list(value)
        out[fact] = value
    return out
