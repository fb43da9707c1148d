"""What every check of one case shares: the case, its resolved items, and how to make a finding."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from toolkit.knowledge.conditions import Condition, FactView, evaluate, evidence_for, item_ids
from toolkit.knowledge.loader import Knowledge
from toolkit.knowledge.schema import Target
from toolkit.records import AuditCase, Dianping, Finding, Severity

from .index import RuleIndex, rule_index
from .resolve import ResolvedItem

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")

CURRENT_MARK = "（在用药品）"
"""Appended to the name of a drug the patient already takes (``patient.current_medications``) in a message."""
CURRENT_BEHIND = "_current_behind"
"""Key of :meth:`AuditContext.severity`'s evidence for the current medications that changed the severity."""


def fmt(value: Any) -> str:
    """Numbers as a pharmacist writes them (80, 0.5, 2.55), lists joined with 、."""
    if type(value) is str:  # the most common value: as str() would give it
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, list | tuple):
        return "、".join(fmt(v) for v in value)
    return "—" if value is None else str(value)


_TEMPLATES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}


def _parsed(template: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A message template split once into its leading text and (placeholder key, following text) pairs."""
    got = _TEMPLATES.get(template)
    if got is None:
        parts = _PLACEHOLDER.split(template)  # text, name, text, name, …, text
        got = (parts[0], tuple((parts[i].replace(".", "_"), parts[i + 1]) for i in range(1, len(parts), 2)))
        if len(_TEMPLATES) < 65536:  # templates come from the knowledge base: a bounded set
            _TEMPLATES[template] = got
    return got


def render(template: str, evidence: dict[str, Any], variables: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders from ``evidence`` (a fact such as ``labs.egfr`` is reachable as
    ``labs_egfr``), then ``variables`` (which win). The lookup table is built only for a template with
    placeholders."""
    head, rest = _parsed(template)
    if not rest:
        return head
    values = {(k.replace(".", "_") if "." in k else k): v for k, v in evidence.items()}
    values.update(variables)
    return head + "".join([fmt(values.get(key)) + text for key, text in rest])


_set = object.__setattr__


def _construct(cls: type[Finding], values: dict[str, Any]) -> Finding:
    """``cls.model_construct(**values)`` for ``values`` that name every field of ``cls`` in declaration order,
    without model_construct's per-field alias and default lookups (it is the batch's hot path)."""
    m = cls.__new__(cls)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", set(values))
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


_DIANPING: dict[tuple[int, str], Dianping | None] = {}


def _dianping(rule: Any, kb: Knowledge) -> Dianping | None:
    key = (id(kb), rule.id)
    if key not in _DIANPING:
        ref = rule.dianping or kb.meta.dianping_defaults.get(rule.category)
        _DIANPING[key] = (
            Dianping.model_validate({"class": ref.cls, "item": ref.item, "title": ref.title}) if ref else None
        )
    return _DIANPING[key]


# a 在用药品 entry taken as needed or irregularly (泮托拉唑（偶尔胃痛时吃）, 奥美拉唑 prn, 不规律服用)
_AS_NEEDED = re.compile(r"必要时|prn|偶尔|偶服|偶用|不规律|间断|按需|[痛疼喘咳]时|时[吃服用]|不舒服", re.I)


def _settled(c: ResolvedItem) -> bool:
    """Whether a current medication may answer an ``excludes`` condition (silence a finding): the entry
    names the product (a form of the drug, a brand, 吸入) and does not say it is taken as needed. A bare
    generic name may be another product of the drug (氟替卡松: the nasal spray as often as the inhaler) and
    an as-needed PPI is no gastroprotection: such an entry still counts where it makes a finding or raises
    its severity (``includes``), never where it would remove one (review of 2026-12-08)."""
    written = c.item.drug
    if c.drug is None or _AS_NEEDED.search(written):
        return False
    brands = (*getattr(c.drug, "brands", ()), *(b for f in c.drug.forms for b in f.brands))
    return (
        "吸入" in written or any(f.form in written for f in c.drug.forms) or any(b in written for b in brands)
    )


def _current_names(evidence: dict[str, Any], behind: list[ResolvedItem]) -> str:
    """``evidence.current_medication``: the names as written of the current medications a finding rests on
    (a pair's partner already there first), each once, joined with 、."""
    said = evidence.get("current_medication")
    names = [*(said.split("、") if isinstance(said, str) else ()), *(c.item.drug for c in behind)]
    return "、".join(dict.fromkeys(names))


@dataclass
class AuditContext:
    """The state the checks of one audit share: the case, its resolved lines, the knowledge base, the
    case's facts for rule conditions, the rule index, and the findings recorded so far."""

    case: AuditCase
    kb: Knowledge
    items: list[ResolvedItem]
    facts: FactView = field(init=False)
    index: RuleIndex = field(init=False)
    drug_items: list[ResolvedItem] = field(init=False)
    findings: list[Finding] = field(default_factory=list)
    # what the checks work out once per audit and share (e.g. the dose limits of a drug for this patient)
    memo: dict[Any, Any] = field(default_factory=dict)
    # 在用药品: the patient's current medications resolved by name (:func:`resolve.resolve_current`), in
    # the order of ``patient.current_medications``; ``current_drugs`` those the interaction and duplicate
    # checks compare with the lines: resolved, not the drug of a prescribed line (continuing it: the line
    # covers it), each drug once
    current: list[ResolvedItem] = field(default_factory=list)
    current_drugs: list[ResolvedItem] = field(init=False)
    # the current medications rule conditions (``prescription.items``) and indications' ``with_drugs`` see
    # beside the lines: ``current_drugs`` but those written as a class word only (胰岛素 names no product);
    # ``line_facts`` are the facts without them, to tell when one made or changed a finding
    condition_current: list[ResolvedItem] = field(init=False)
    line_facts: FactView = field(init=False)

    def __post_init__(self) -> None:
        self.drug_items = [r for r in self.items if r.drug is not None]
        seen = {r.drug.id for r in self.drug_items}  # type: ignore[union-attr]
        self.current_drugs = []
        for c in self.current:
            if c.drug is not None and c.drug.id not in seen:
                seen.add(c.drug.id)
                self.current_drugs.append(c)
        self.condition_current = [c for c in self.current_drugs if not c.class_word]
        self.line_facts = FactView(
            self.case,
            tuple((r.name, r.keys, {ing: r.daily(ing) for ing in r.doses}) for r in self.drug_items),
        )
        self.facts = (
            FactView(
                self.case,
                self.line_facts.items,
                tuple((c.name + CURRENT_MARK, c.keys) for c in self.condition_current),
                tuple(_settled(c) for c in self.condition_current),
            )
            if self.condition_current
            else self.line_facts
        )
        self.index = rule_index(self.kb)

    @property
    def age(self) -> float | None:
        """The patient's age in years, or ``None`` when the case does not give it."""
        return self.case.patient.age

    def matches(self, target: Target, item: ResolvedItem) -> bool:
        """True when the line's keys (product, ingredients, classes) meet ``target``'s drugs or classes;
        a line not resolved to a formulary drug never matches."""
        return bool(item.keys) and (
            not item.keys.isdisjoint(target.drugs) or not item.keys.isdisjoint(target.classes)
        )

    def severity(self, rule: Any) -> tuple[Severity, dict[str, Any]]:
        """The rule's severity after its escalations, and the facts those escalations read. When a current
        medication changed it (a home anticoagulant escalates it), the evidence holds those the escalations
        name under :data:`CURRENT_BEHIND` (:meth:`add` moves them to ``current_medication``)."""
        evidence: dict[str, Any] = {}
        escalations = getattr(rule, "escalate", ())
        severity = rule.severity
        for esc in escalations:
            evidence.update(evidence_for(esc.when, self.facts))
            if evaluate(esc.when, self.facts):
                severity = esc.severity
                break
        if self.facts is not self.line_facts:
            lines_only = next(
                (esc.severity for esc in escalations if evaluate(esc.when, self.line_facts)), rule.severity
            )
            if lines_only is not severity:
                names = self.current_named([esc.when for esc in escalations])
                if names:
                    evidence[CURRENT_BEHIND] = names
        return severity, evidence

    def holds(self, cond: Condition) -> bool:
        """Whether the knowledge-base condition ``cond`` holds on this case's facts (the prescribed lines
        and the identified current medications)."""
        return evaluate(cond, self.facts)

    def current_named(self, conds: Any) -> list[ResolvedItem]:
        """The current medications the ``prescription.items`` leaves of ``conds`` name."""
        ids = frozenset(i for cond in conds for i in item_ids(cond))
        return [c for c in self.condition_current if not c.keys.isdisjoint(ids)]

    def current_behind(self, cond: Condition) -> list[ResolvedItem]:
        """The current medications that make ``cond`` hold where the prescribed lines alone do not (or
        fail where the lines alone hold); empty when the lines decide it."""
        if self.facts is self.line_facts or evaluate(cond, self.facts) == evaluate(cond, self.line_facts):
            return []
        return self.current_named([cond])

    def add(
        self,
        rule: Any,
        *,
        drugs: tuple[str, ...] | list[str] = (),
        items: tuple[int, ...] | list[int] = (),
        evidence: dict[str, Any] | None = None,
        severity: Severity | None = None,
        behind: list[ResolvedItem] | tuple[()] = (),
        **variables: Any,
    ) -> Finding | None:
        """Record a finding of ``rule`` unless the rule is disabled (local rules may disable any).

        ``behind``: current medications (在用药品) that made the finding (its condition holds only with
        them); they, and those that changed its severity through an escalation, are named in
        ``evidence.current_medication`` and, when the message does not mark them already, after it."""
        if not rule.enabled:
            return None
        evidence = evidence or {}
        behind = list(behind)
        if severity is None:
            if getattr(rule, "escalate", ()):
                severity, esc_evidence = self.severity(rule)
                if CURRENT_BEHIND in esc_evidence:
                    behind = [*behind, *esc_evidence.pop(CURRENT_BEHIND)]
                evidence = {**evidence, **esc_evidence}  # a new dict: the caller's is left as it was
            else:
                severity = rule.severity
        message = render(rule.message, evidence, variables)
        if behind:  # a current medication made or changed this finding: named in the evidence and message
            evidence = {**evidence, "current_medication": _current_names(evidence, behind)}
            unsaid = [n for n in dict.fromkeys(c.name for c in behind) if n + CURRENT_MARK not in message]
            if unsaid:
                message += f"（依据在用药品：{'、'.join(unsaid)}）"
        # rules were validated when the KB loaded and every value here is typed by the engine,
        # so the finding is built without validating it again (this is the batch's hot path)
        finding = _construct(
            Finding,
            {
                "rule_id": rule.id,
                "rule_version": rule.version,
                "category": rule.category,
                "severity": severity,
                "drugs": tuple(drugs),
                "message": message,
                "evidence": {k: v for k, v in evidence.items() if v is not None},
                "references": rule.references,
                "source": "rule",
                "items": tuple(items),
                "dianping": _dianping(rule, self.kb),
            },
        )
        self.findings.append(finding)
        return finding
