"""``audit(case, knowledge) -> AuditReport``: the pure pre-audit of one prescription."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from toolkit import __version__
from toolkit.knowledge import get_knowledge
from toolkit.knowledge.loader import Knowledge
from toolkit.records import AuditCase, AuditReport, Finding, Provenance, Severity

from .checks import CHECKS
from .context import AuditContext
from .resolve import ResolvedItem, resolve_current, resolve_item

log = logging.getLogger(__name__)


class ReviewResult(Protocol):
    """What a reviewer says about one case: its ``model`` findings and the risk of return."""

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The reviewer's findings (``source`` ``model``), added to the rule findings."""

    @property
    def risk(self) -> float | None:
        """Probability (0–1) that a pharmacist returns the prescription, or ``None`` when not given."""


class CaseReviewer(Protocol):
    """A learned reviewer the engine consults after the rules (e.g. :class:`toolkit.review.Reviewer`).

    ``revision`` names the model in the report's provenance. To reach batch worker processes and
    Spark executors with :class:`AuditOptions`, a reviewer pickles as its model directory and a
    loader, not as its loaded session.
    """

    @property
    def revision(self) -> str | None:
        """The model revision the report's ``provenance.model`` names, or ``None`` when unknown."""

    def review(
        self, case: AuditCase, items: Sequence[ResolvedItem], rule_findings: Sequence[Finding]
    ) -> ReviewResult:
        """Review one case after the rules, from its resolved lines and the rule findings."""


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """Per-call settings. ``min_severity`` drops findings below it from the report.

    ``reviewer`` (default none) adds a learned reviewer's ``model`` findings and risk, e.g.
    ``AuditOptions(reviewer=toolkit.review.load_reviewer(model_dir))``; built once per process,
    like the knowledge base. Nothing here is read from the environment.
    """

    min_severity: Severity = Severity.INFO
    reviewer: CaseReviewer | None = None


def with_diagnosis_codes(case: AuditCase, kb: Knowledge) -> AuditCase:
    """``case`` with the ICD-10 code of each diagnosis written by name only filled in from the KB's
    diagnosis lexicon (原发性高血压 → I10), so checks keyed on codes (chronic diseases, course lengths,
    ``icd_in`` conditions) see it; the case itself when nothing is missing or known."""
    dx = case.patient.diagnoses
    if all(d.icd10 for d in dx):
        return case
    filled = tuple(
        d
        if d.icd10 or not (code := kb.diagnosis_codes.icd_of(d.name))
        else d.model_copy(update={"icd10": code})
        for d in dx
    )
    if all(a is b for a, b in zip(filled, dx, strict=True)):
        return case
    return case.model_copy(update={"patient": case.patient.model_copy(update={"diagnoses": filled})})


def audit(
    case: AuditCase, knowledge: Knowledge | None = None, options: AuditOptions | None = None
) -> AuditReport:
    """Audit one case against the knowledge base (the shipped one when ``knowledge`` is None).

    Pure: the same case and knowledge base always give the same report. Findings are
    ordered block → warn → info, then by the order of the checks.
    """
    kb = knowledge or get_knowledge()
    options = options or AuditOptions()
    case = with_diagnosis_codes(case, kb)
    items = [resolve_item(i, item, kb) for i, item in enumerate(case.prescription.items)]
    current = [resolve_current(i, name, kb) for i, name in enumerate(case.patient.current_medications)]
    ctx = AuditContext(case=case, kb=kb, items=items, current=current)
    for check in CHECKS:
        check(ctx)
    unchecked = unchecked_items(ctx)
    model, risk = None, None
    if options.reviewer is not None:
        review = options.reviewer.review(case, items, ctx.findings)
        ctx.findings.extend(review.findings)
        model, risk = options.reviewer.revision, review.risk
    floor = options.min_severity.rank
    findings = sorted((f for f in ctx.findings if f.severity.rank >= floor), key=lambda f: -f.severity.rank)
    flagged = any(f.severity is not Severity.INFO for f in findings)
    return AuditReport(
        id=case.id,
        status="flagged" if flagged else "needs_review" if unchecked else "ok",
        findings=tuple(findings),
        provenance=provenance(kb, model),
        risk=risk,
        coverage=tuple(r.coverage for r in items),
    )


def unchecked_items(ctx: AuditContext) -> list[int]:
    """Items the engine could not check, so the case is ``needs_review`` (需人工审核), never ``ok``.

    Read from the resolution, not from the findings (a local rule set may disable RX-FMT-007/008 and
    ``min_severity`` may drop them from the report, but the line is still unchecked): a drug the
    knowledge base does not cover, a dose that could not be checked (dose ≤ 0, a unit that is not a
    dose such as "kg", a strength that cannot be converted), or days / quantity ≤ 0. Days and quantity
    ≤ 0 have no check of their own, so they are reported here through RX-FMT-008 with the reason.
    """
    out = []
    for r in ctx.items:
        impossible = [
            f"{label}{value:g}不是正数"
            for label, value in (("用药天数", r.item.days), ("数量", r.item.quantity))
            if value is not None and value <= 0
        ]
        for reason in impossible:
            ctx.add(
                ctx.kb.check("RX-FMT-008"),
                drugs=[r.name],
                items=[r.index],
                drug=r.name,
                evidence={"reason": reason, "days": r.item.days, "quantity": r.item.quantity},
            )
        if r.drug is None or r.dose_problem or impossible:
            out.append(r.index)
    return out


_PROVENANCE: dict[tuple[int, str | None], Provenance] = {}


def provenance(kb: Knowledge, model: str | None = None) -> Provenance:
    """Knowledge-base version, engine version, local rules and reviewer model behind a report (built once)."""
    key = (id(kb), model)
    if key not in _PROVENANCE:
        _PROVENANCE[key] = Provenance(
            kb_version=kb.version, engine_version=__version__, local_rules=kb.local_rules, model=model
        )
    return _PROVENANCE[key]


def error_report(case_id: str, message: str, knowledge: Knowledge | None = None) -> AuditReport:
    """The report of a case that could not be audited: nothing is dropped, the reason is kept."""
    return AuditReport(
        id=case_id, status="error", error=message, provenance=provenance(knowledge) if knowledge else None
    )
