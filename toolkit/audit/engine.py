"""``audit(case, knowledge) -> AuditReport``: the pure pre-audit of one prescription."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from toolkit import __version__
from toolkit.knowledge import get_knowledge
from toolkit.knowledge.loader import Knowledge
from toolkit.records import AuditCase, AuditReport, Provenance, Severity

from .checks import CHECKS
from .context import AuditContext
from .resolve import resolve_item

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """Per-call settings. ``min_severity`` drops findings below it from the report."""

    min_severity: Severity = Severity.INFO


def audit(case: AuditCase, knowledge: Knowledge | None = None, options: AuditOptions | None = None) -> AuditReport:
    """Audit one case against the knowledge base (the shipped one when ``knowledge`` is None).

    Pure: the same case and knowledge base always give the same report. Findings are
    ordered block → warn → info, then by the order of the checks.
    """
    kb = knowledge or get_knowledge()
    options = options or AuditOptions()
    items = [resolve_item(i, item, kb) for i, item in enumerate(case.prescription.items)]
    ctx = AuditContext(case=case, kb=kb, items=items)
    for check in CHECKS:
        check(ctx)
    floor = options.min_severity.rank
    findings = sorted((f for f in ctx.findings if f.severity.rank >= floor), key=lambda f: -f.severity.rank)
    flagged = any(f.severity is not Severity.INFO for f in findings)
    return AuditReport(
        id=case.id,
        status="flagged" if flagged else "ok",
        findings=tuple(findings),
        provenance=provenance(kb),
    )


_PROVENANCE: dict[int, Provenance] = {}


def provenance(kb: Knowledge) -> Provenance:
    """Knowledge-base version, engine version and local rules behind a report (built once per KB)."""
    key = id(kb)
    if key not in _PROVENANCE:
        _PROVENANCE[key] = Provenance(kb_version=kb.version, engine_version=__version__,
                                      local_rules=kb.local_rules)
    return _PROVENANCE[key]


def error_report(case_id: str, message: str, knowledge: Knowledge | None = None) -> AuditReport:
    """The report of a case that could not be audited: nothing is dropped, the reason is kept."""
    return AuditReport(id=case_id, status="error", error=message,
                       provenance=provenance(knowledge) if knowledge else None)
