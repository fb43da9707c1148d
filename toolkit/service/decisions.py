"""The pharmacist's decision on a queued audit: one workflow for the HTTP service and the demo.

:func:`record_decision` checks a decision (审核通过 / 退回医师 / 双签放行) against the stored audit and
stores it through :meth:`toolkit.service.store.Store.add_decision` (one final decision per audit,
idempotency keys); :func:`decision_log` reads past decisions back. A refused decision raises
:class:`DecisionRefused`, which names the field and a ``key`` saying what is wrong; each caller words
it for its readers (the service's JSON error, the demo's Chinese message). The store's own errors
pass through: :class:`~toolkit.service.store.NotFound` (no such audit) and
:class:`~toolkit.service.store.Conflict` (already decided, never queued, or an idempotency key used
for another audit).

Nothing heavy is imported here until a function needs the database.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from toolkit.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from .db import AuditRow, DecisionRow
    from .store import Store

DECISION_CODES = ("pass", "return", "override")
"""pass = 审核通过, return = 退回医师, override = 双签放行 (the prescriber co-signs)."""


class DecisionRefused(InputError):
    """A decision the workflow refuses: ``field`` (``decision``, ``audit_id``, ``pharmacist``,
    ``reason_code``, ``reason``, ``prescriber`` or ``rule_ids[n]``), ``key`` (what is wrong, for a
    caller's own wording: ``unknown_decision``, ``no_audit``, ``no_pharmacist``, ``unknown_reason_code``,
    ``reason_required``, ``block_reason_required``, ``prescriber_required``, ``unknown_rule``) and the
    message in English (the service's wording)."""

    def __init__(self, field: str, key: str, message: str):
        super().__init__(message, field=field)
        self.key = key


@dataclass(frozen=True)
class Recorded:
    """A decision stored (or, ``replayed``, the one stored first under the same idempotency key), the
    audit it decides and the rule ids the request named (all of the audit's findings by default)."""

    audit: AuditRow
    decision: DecisionRow
    replayed: bool
    rule_ids: tuple[str, ...]


def has_block(report: Mapping[str, Any]) -> bool:
    """Whether a stored report has a 拦截 (block) finding: passing it then needs a reason."""
    return any(f.get("severity") == "block" for f in report.get("findings", ()))


def decision_problem(
    decision: str, reason: str | None, prescriber: str | None, blocked: bool = False
) -> DecisionRefused | None:
    """The one rule for a pharmacist decision: ``return`` and ``override`` need a reason, and so does a
    ``pass`` of an audit with a block (拦截) finding (``blocked``); ``override`` (双签) also needs the
    prescriber's signature. Returns the first problem, or None."""
    if decision in {"return", "override"} and not (reason or "").strip():
        return DecisionRefused("reason", "reason_required", f"a reason is required for '{decision}'")
    if blocked and decision == "pass" and not (reason or "").strip():
        return DecisionRefused(
            "reason",
            "block_reason_required",
            "a reason is required to pass a prescription with a block (拦截) finding",
        )
    if decision == "override" and not (prescriber or "").strip():
        return DecisionRefused(
            "prescriber", "prescriber_required", "an override needs the prescriber's signature (双签)"
        )
    return None


def record_decision(
    store: Store,
    audit_id: str,
    *,
    decision: str,
    pharmacist: str,
    reason: str | None = None,
    reason_code: str | None = None,
    prescriber: str | None = None,
    rule_ids: Sequence[str] | None = None,
    idempotency_key: str | None = None,
    known_codes: Collection[str] | None = None,
    code_is_reason: bool = False,
) -> Recorded:
    """Check a pharmacist's decision on ``audit_id`` and store it; the values are stored as given.

    In order: the decision is one of :data:`DECISION_CODES`; an audit is named; a pharmacist signs;
    with ``known_codes`` the reason code is one of them; the audit exists (else the store's
    ``NotFound``); :func:`decision_problem` (with ``code_is_reason`` a reason code alone counts as the
    reason); every id in ``rule_ids`` is a finding of the audit (default: all of its findings, each
    once); then :meth:`Store.add_decision` (``Conflict`` when the audit is not awaiting review).

    The service validates the request body first and takes any reason code string, which is not a
    reason by itself (``known_codes=None``, ``code_is_reason=False``); the demo offers the standard
    codes (:data:`toolkit.service.cds.OVERRIDE_CODES`) as a choice that stands for a reason.
    """
    if decision not in DECISION_CODES:
        raise DecisionRefused(
            "decision",
            "unknown_decision",
            f"unknown decision '{decision}'; one of {', '.join(DECISION_CODES)}",
        )
    if not audit_id:
        raise DecisionRefused("audit_id", "no_audit", "no audit chosen")
    if not (pharmacist or "").strip():
        raise DecisionRefused("pharmacist", "no_pharmacist", "the pharmacist's signature is required")
    if known_codes is not None and reason_code is not None and reason_code not in known_codes:
        raise DecisionRefused(
            "reason_code",
            "unknown_reason_code",
            f"unknown reason code '{reason_code}'; one of {', '.join(sorted(known_codes))}",
        )
    audit = store.get_audit(audit_id)
    stated = reason if (reason or "").strip() else (reason_code if code_is_reason else None)
    problem = decision_problem(decision, stated, prescriber, blocked=has_block(audit.report))
    if problem:
        raise problem
    known = [f["rule_id"] for f in audit.report.get("findings", [])]
    chosen = list(rule_ids) if rule_ids is not None else list(dict.fromkeys(known))
    for n, rid in enumerate(chosen):
        if rid not in known:
            raise DecisionRefused(
                f"rule_ids[{n}]",
                "unknown_rule",
                f"rule {rid} is not a finding of this audit; "
                f"findings: {', '.join(dict.fromkeys(known)) or 'none'}",
            )
    stored, replayed = store.add_decision(
        audit_id,
        decision=decision,
        pharmacist=pharmacist,
        rule_ids=chosen,
        reason=reason,
        reason_code=reason_code,
        prescriber=prescriber,
        idempotency_key=idempotency_key,
    )
    return Recorded(audit, stored, replayed, tuple(chosen))


def decision_log(
    store: Store,
    *,
    since: date | None = None,
    until: date | None = None,
    person: str = "",
    decision: str = "",
    limit: int = 1000,
) -> list[tuple[DecisionRow, str]]:
    """Past decisions with the case id of their audit, newest first: decided on ``since`` … ``until``
    (both days included, UTC as stored), signed by a ``person`` (pharmacist or co-signing prescriber
    containing the text) and of one ``decision`` code (empty: any)."""
    from datetime import UTC, datetime, timedelta
    from datetime import time as dtime

    from sqlalchemy import or_, select

    from .db import AuditRow, DecisionRow

    query = (
        select(DecisionRow, AuditRow.case_id)
        .join(AuditRow, AuditRow.id == DecisionRow.audit_id)
        .order_by(DecisionRow.created_at.desc(), DecisionRow.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(DecisionRow.created_at >= datetime.combine(since, dtime(), UTC))
    if until is not None:
        query = query.where(
            DecisionRow.created_at < datetime.combine(until + timedelta(days=1), dtime(), UTC)
        )
    if decision:
        query = query.where(DecisionRow.decision == decision)
    if person.strip():
        like = f"%{person.strip()}%"
        query = query.where(or_(DecisionRow.pharmacist.like(like), DecisionRow.prescriber.like(like)))
    with store.session() as s:
        return [(d, case_id) for d, case_id in s.execute(query).all()]
