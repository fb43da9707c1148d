"""Reads and writes of the decision store, one short transaction each."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from toolkit.records import AuditReport

from .db import AuditRow, CardRow, DecisionRow, FeedbackRow, utcnow
from .writer import GroupWriter, LoopBatcher

_AUDITS = AuditRow.__table__
_CARDS = CardRow.__table__

_RANK = {"info": 0, "warn": 1, "block": 2}
ERROR_RANK = 3  # an audit that could not run needs a pharmacist before anything else


def severity_rank(report: AuditReport) -> int:
    """Queue order key: error > block > warn > info > no finding."""
    if report.status == "error":
        return ERROR_RANK
    top = report.max_severity
    return _RANK[top.value] if top else -1


@dataclass(frozen=True, slots=True)
class CardRecord:
    """What is kept of one CDS card: its uuid and the finding behind it."""

    uuid: str
    rule_id: str
    rule_version: int
    severity: str


@dataclass(frozen=True, slots=True)
class AuditJob:
    """Rows waiting to be written: audits and the CDS cards that belong to them."""

    audits: list[dict[str, Any]]
    cards: list[dict[str, Any]]


def decision_problem(decision: str, reason: str | None, prescriber: str | None) -> tuple[str, str] | None:
    """The one rule for a pharmacist decision, shared by the API and the demo: ``return`` and
    ``override`` need a reason; ``override`` (双签) also needs the prescriber's signature.
    Returns (field, message) of the first problem, or None."""
    if decision in {"return", "override"} and not (reason or "").strip():
        return "reason", f"a reason is required for '{decision}'"
    if decision == "override" and not (prescriber or "").strip():
        return "prescriber", "an override needs the prescriber's signature (双签)"
    return None


class NotFound(LookupError):
    """An audit or card id the store does not know."""


class Store:
    """The decision store behind the service (SQLite or PostgreSQL through one sessionmaker)."""

    def __init__(self, sessions: sessionmaker, engine: Engine):
        self._sessions = sessions
        self._engine = engine
        self.writer = GroupWriter(lambda jobs: self.write_jobs(jobs))
        # SQLite is a local file: commit on the event loop (see LoopBatcher). A network database
        # keeps the writer thread so a slow server never stalls the loop.
        self.loop_batcher = LoopBatcher(lambda jobs: self.write_jobs(jobs)) if engine.dialect.name == "sqlite" else None

    def session(self) -> Session:
        return self._sessions()

    # ------------------------------------------------------------------ audits
    def prepare_audits(self, reports: Sequence[AuditReport], source: str, *, review: bool = True,
                       cards: Sequence[Sequence[CardRecord]] | None = None
                       ) -> tuple[list[str], list[dict[str, Any]], AuditJob]:
        """Rows for ``reports`` (flagged or failed ones join the review queue if ``review``).

        Returns the new audit ids, the report JSON of each (to answer with) and the job to write.
        """
        now = utcnow()
        ids, docs, audits, card_rows = [], [], [], []
        for n, report in enumerate(reports):
            audit_id = uuid.uuid4().hex
            doc = report.to_json_dict()
            prov = report.provenance
            ids.append(audit_id)
            docs.append(doc)
            audits.append({
                "id": audit_id, "case_id": report.id[:128], "source": source, "status": report.status,
                "max_severity": doc["max_severity"], "severity_rank": severity_rank(report),
                "awaiting_review": review and report.status != "ok", "risk": report.risk,
                "kb_version": prov.kb_version if prov else "", "engine_version": prov.engine_version if prov else "",
                "report": doc, "created_at": now,
            })
            if cards:
                card_rows += [{"uuid": c.uuid, "audit_id": audit_id, "rule_id": c.rule_id,
                               "rule_version": c.rule_version, "severity": c.severity, "created_at": now}
                              for c in cards[n]]
        return ids, docs, AuditJob(audits, card_rows)

    def write_jobs(self, jobs: Sequence[AuditJob]) -> None:
        """Insert the rows of several jobs in one transaction (audits before the cards that cite them)."""
        audits = [row for job in jobs for row in job.audits]
        cards = [row for job in jobs for row in job.cards]
        with self._engine.begin() as conn:
            if audits:
                conn.execute(_AUDITS.insert(), audits)
            if cards:
                conn.execute(_CARDS.insert(), cards)

    def add_audits(self, reports: Sequence[AuditReport], source: str, *, review: bool = True,
                   cards: Sequence[Sequence[CardRecord]] | None = None) -> list[str]:
        """Store reports and wait for the commit (from a worker thread, never the event loop)."""
        ids, _docs, job = self.prepare_audits(reports, source, review=review, cards=cards)
        self.writer.submit(job).result()
        return ids

    async def add_audits_grouped(self, reports: Sequence[AuditReport], source: str, *, review: bool = True,
                                 cards: Sequence[Sequence[CardRecord]] | None = None
                                 ) -> tuple[list[str], list[dict[str, Any]]]:
        """Store reports through group commit; returns once they are committed."""
        import asyncio

        ids, docs, job = self.prepare_audits(reports, source, review=review, cards=cards)
        if self.loop_batcher is not None:
            await self.loop_batcher.submit(job)
        else:
            await asyncio.wrap_future(self.writer.submit(job))
        return ids, docs

    def get_audit(self, audit_id: str) -> AuditRow:
        with self._sessions() as s:
            row = s.get(AuditRow, audit_id)
            if row is None:
                raise NotFound(audit_id)
            return row

    def queue(self, limit: int, offset: int = 0) -> list[AuditRow]:
        """Audits awaiting a pharmacist: highest severity first, then oldest first."""
        decided = exists().where(DecisionRow.audit_id == AuditRow.id)
        stmt = (select(AuditRow).where(AuditRow.awaiting_review.is_(True), ~decided)
                .order_by(AuditRow.severity_rank.desc(), AuditRow.created_at.asc(), AuditRow.id.asc())
                .limit(limit).offset(offset))
        with self._sessions() as s:
            return list(s.scalars(stmt))

    # --------------------------------------------------------------- decisions
    def add_decision(self, audit_id: str, *, decision: str, pharmacist: str, rule_ids: Sequence[str],
                     reason: str | None, reason_code: str | None, prescriber: str | None) -> DecisionRow:
        with self._sessions.begin() as s:
            audit = s.get(AuditRow, audit_id)
            if audit is None:
                raise NotFound(audit_id)
            row = DecisionRow(audit_id=audit_id, decision=decision, reason_code=reason_code, reason=reason,
                              pharmacist=pharmacist, prescriber=prescriber, rule_ids=list(rule_ids),
                              kb_version=audit.kb_version, created_at=utcnow())
            s.add(row)
        return row

    def decisions(self, audit_id: str) -> tuple[list[DecisionRow], list[FeedbackRow]]:
        with self._sessions() as s:
            if s.get(AuditRow, audit_id) is None:
                raise NotFound(audit_id)
            decisions = list(s.scalars(select(DecisionRow).where(DecisionRow.audit_id == audit_id)
                                       .order_by(DecisionRow.created_at, DecisionRow.id)))
            feedback = list(s.scalars(select(FeedbackRow).where(FeedbackRow.audit_id == audit_id)
                                      .order_by(FeedbackRow.received_at, FeedbackRow.id)))
        return decisions, feedback

    # ---------------------------------------------------------------- feedback
    def add_feedback(self, entries: Sequence[dict[str, Any]]) -> list[FeedbackRow]:
        """Store CDS feedback atomically; raises :class:`NotFound` (with the index) for an unknown card."""
        now = utcnow()
        rows: list[FeedbackRow] = []
        with self._sessions.begin() as s:
            for n, e in enumerate(entries):
                card = s.get(CardRow, e["card"])
                if card is None:
                    raise NotFound(f"feedback[{n}].card")
                audit = s.get(AuditRow, card.audit_id)
                ts: datetime | None = e.get("outcome_timestamp")
                rows.append(FeedbackRow(
                    card_uuid=card.uuid, audit_id=card.audit_id, rule_id=card.rule_id,
                    kb_version=audit.kb_version if audit else "", outcome=e["outcome"],
                    override_system=e.get("override_system"), override_code=e.get("override_code"),
                    override_display=e.get("override_display"), user_comment=e.get("user_comment"),
                    accepted_suggestions=list(e.get("accepted_suggestions", ())), outcome_timestamp=ts,
                    received_at=now,
                ))
            s.add_all(rows)
        return rows
