"""Reads and writes of the decision store, one short transaction each."""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Text, bindparam, cast, delete, select, tuple_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from toolkit.records import AuditReport

from .db import AuditRow, CardRow, DecisionRow, FeedbackRow, utcnow
from .writer import GroupWriter, LoopBatcher

_AUDITS = AuditRow.__table__
_CARDS = CardRow.__table__

_RANK = {"info": 0, "warn": 1, "block": 2}
ERROR_RANK = 3  # an audit that could not run needs a pharmacist before anything else


def severity_rank(report: AuditReport) -> int:
    """Queue order key: error > block > warn = needs_review (a line not checked) > info > no finding."""
    if report.status == "error":
        return ERROR_RANK
    top = report.max_severity
    rank = _RANK[top.value] if top else -1
    return max(rank, _RANK["warn"]) if report.status == "needs_review" else rank


@dataclass(frozen=True, slots=True)
class CardRecord:
    """What is kept of one CDS card: its uuid and the finding behind it."""

    uuid: str
    rule_id: str
    rule_version: int
    severity: str


@dataclass(frozen=True, slots=True)
class AuditJob:
    """Rows waiting to be written: audits and the CDS cards that belong to them, and each audit's report
    as JSON text (the same text the API answers with)."""

    audits: list[dict[str, Any]]
    cards: list[dict[str, Any]]
    texts: list[str]


_ID_LOCK = threading.Lock()
_ID_POOL = [b"", 0]  # random bytes read ahead, and how many are used


def _drop_id_pool() -> None:
    _ID_POOL[0], _ID_POOL[1] = b"", 0


os.register_at_fork(after_in_child=_drop_id_pool)  # a forked worker must never reuse the parent's bytes


def new_audit_id() -> str:
    """A random (version 4) UUID as 32 hex digits, like ``uuid.uuid4().hex``, from random bytes read
    4 KiB at a time: ``os.urandom`` per id is a system call that lets go of the GIL, and on the busy
    event loop winning it back cost more than the id itself."""
    with _ID_LOCK:
        buf, pos = _ID_POOL
        if pos + 16 > len(buf):
            buf, pos = os.urandom(4096), 0
        _ID_POOL[0], _ID_POOL[1] = buf, pos + 16
    return uuid.UUID(bytes=buf[pos : pos + 16], version=4).hex


try:
    import orjson
except ImportError:  # optional: json.dumps writes the same text, only slower
    orjson = None

_LEAVES = frozenset((str, int, bool, type(None)))


def _plain_json(value: Any) -> bool:
    """True when ``value`` is built only of dicts with str keys, lists, tuples, str, int, bool, None and
    floats that json.dumps, orjson and pydantic all write alike: 0 or 1e-4 ≤ |x| < 1e16. (Outside that
    range json.dumps uses an exponent (1e-05) where the others do not, or not the same way; NaN and
    infinities are NaN/Infinity for json.dumps, null for the others.) Subclasses (StrEnum …) are not plain."""
    stack = [value]
    push = stack.append
    while stack:
        o = stack.pop()
        t = type(o)
        if t is dict:
            for k in o:
                if type(k) is not str:
                    return False
            o = o.values()
        elif t is not list and t is not tuple:
            if t is float:
                a = abs(o)
                if not (1e-4 <= a < 1e16 or a == 0.0):  # NaN fails both
                    return False
            elif t not in _LEAVES:
                return False
            continue
        for x in o:  # the plain leaves (most of a report) are not pushed
            t = type(x)
            if t is not str and t is not int and x is not None and t is not bool:
                push(x)
    return True


def report_text(doc: dict[str, Any]) -> str:
    """The one JSON encoding of a report: stored (SQLite) and sent as the answer, so it is encoded once.

    Exactly ``json.dumps(doc, ensure_ascii=False, separators=(",", ":"))``: written by orjson (several
    times faster) when ``doc`` is plain (:func:`_plain_json`), else by json.dumps itself."""
    if orjson is not None and _plain_json(doc):
        try:
            return orjson.dumps(doc).decode()
        except TypeError:  # an int over 64 bits, nesting over orjson's depth limit
            pass
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def report_json(report: AuditReport) -> str:
    """``report_text(report.to_json_dict())``, the same text, written by pydantic straight from the model
    (no dict built, the hot path of ``POST /v1/audit``) when the report's free-form values (evidence) and
    its risk are plain (:func:`_plain_json`): ``model_dump_json`` then writes what json.dumps writes of
    ``model_dump(mode="json")`` (same serializer, same key order and aliases), and to_json_dict only adds
    ``max_severity`` last. Anything else, or a string pydantic cannot encode, goes the long way."""
    risk = report.risk
    if (risk is None or _plain_json(risk)) and all(_plain_json(f.evidence) for f in report.findings):
        try:
            text = report.model_dump_json(by_alias=True)
        except ValueError:  # PydanticSerializationError (e.g. a lone surrogate): json.dumps decides
            pass
        else:
            top = report.max_severity
            return text[:-1] + ',"max_severity":' + ("null" if top is None else f'"{top.value}"') + "}"
    return report_text(report.to_json_dict())


def queue_cursor(row: AuditRow) -> str:
    """The opaque keyset cursor after ``row`` (``GET /v1/review-queue?after=…``)."""
    return queue_cursor_key((row.severity_rank, row.created_at, row.id))


def queue_cursor_key(key: tuple[int, datetime, str]) -> str:
    """:func:`queue_cursor` from a row's key (severity_rank, created_at, id)."""
    raw = f"{key[0]}|{key[1].isoformat()}|{key[2]}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_queue_cursor(cursor: str) -> tuple[int, datetime, str]:
    """Inverse of :func:`queue_cursor`; raises ValueError for anything else."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    rank, created, audit_id = raw.split("|")
    when = datetime.fromisoformat(created)
    if when.tzinfo is None or len(audit_id) > 32 or not -10 <= int(rank) <= 10:
        raise ValueError("not a queue cursor")
    return int(rank), when, audit_id


# every column of the audits table, in the table's order (an added column is inserted too, or fails loudly)
_SQLITE_AUDIT_COLS = tuple(c.name for c in _AUDITS.c)
_SQLITE_INSERT_AUDIT = f"INSERT INTO audits ({', '.join(_SQLITE_AUDIT_COLS)}) VALUES ({', '.join('?' * len(_SQLITE_AUDIT_COLS))})"
# the values SQLAlchemy binds in SQLite where they differ from the row's: a bool as 0/1, the time as text,
# the report as the text already encoded (prepare_audits' report_json)
_SQLITE_BIND = {
    "awaiting_review": lambda a: 1 if a["awaiting_review"] else 0,
    "created_at": lambda a: _sqlite_time(a["created_at"]),
    "report": lambda a: a["report_json"],
}


def _sqlite_row(a: dict[str, Any]) -> tuple[Any, ...]:
    """An audit row (:meth:`Store.prepare_audits`, SQLite: the report as text) as the values SQLAlchemy
    binds for it in SQLite (:data:`_SQLITE_BIND`)."""
    return tuple(_SQLITE_BIND[c](a) if c in _SQLITE_BIND else a[c] for c in _SQLITE_AUDIT_COLS)


def _sqlite_time(when: datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite (UTC, no zone, always six fraction digits)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


_PAGE_COLS = "id, severity_rank, created_at"
_PAGE_ORDER = "severity_rank DESC, created_at, id"
_PAGE_KEYS_FIRST = (
    f"SELECT {_PAGE_COLS} FROM audits WHERE awaiting_review = 1 ORDER BY {_PAGE_ORDER} "
    "LIMIT :limit OFFSET :offset"
)
_PAGE_KEYS_AFTER = (
    f"SELECT {_PAGE_COLS} FROM ("
    f"SELECT * FROM (SELECT {_PAGE_COLS} FROM audits WHERE awaiting_review = 1 AND severity_rank = :rank "
    "AND (created_at, id) > (:created, :last) ORDER BY created_at, id LIMIT :n) "
    f"UNION ALL SELECT * FROM (SELECT {_PAGE_COLS} FROM audits WHERE awaiting_review = 1 "
    f"AND severity_rank < :rank ORDER BY {_PAGE_ORDER} LIMIT :n)) ORDER BY {_PAGE_ORDER} "
    "LIMIT :limit OFFSET :offset"
)
# the item JSON of the API (app.audit_json), concatenated (no JSON parse of the reports): same fields
# and order; created_at as datetime.isoformat() writes it; the stored report text spliced as it is;
# risk with the shortest of 15/17 digits that reads back as the same float
_PAGE_SQL = (
    "SELECT '[' || group_concat(item, ',') || ']', group_concat(k, ',') FROM ("
    "SELECT '{{\"audit_id\":' || json_quote(a.id) || ',\"case_id\":' || json_quote(a.case_id) "
    "|| ',\"source\":' || json_quote(a.source) || ',\"status\":' || json_quote(a.status) "
    "|| ',\"max_severity\":' || json_quote(a.max_severity) || ',\"risk\":' || CASE WHEN a.risk IS NULL "
    "THEN 'null' WHEN CAST(printf('%!.15g', a.risk) AS REAL) = a.risk THEN printf('%!.15g', a.risk) "
    "ELSE printf('%!.17g', a.risk) END "
    "|| ',\"awaiting_review\":' || CASE WHEN a.awaiting_review THEN 'true' ELSE 'false' END "
    '|| \',"kb_version":\' || json_quote(a.kb_version) || \',"created_at":"\' '
    "|| substr(a.created_at, 1, 10) || 'T' || CASE WHEN substr(a.created_at, 21) = '000000' "
    'THEN substr(a.created_at, 12, 8) ELSE substr(a.created_at, 12) END || \'+00:00","report":\' '
    "|| coalesce(a.report, 'null') || '}}' AS item, k.severity_rank || '|' || k.created_at || '|' || k.id AS k "
    "FROM ({keys}) AS k JOIN audits AS a ON a.id = k.id ORDER BY k.severity_rank DESC, k.created_at, k.id)"
)


class NotFound(LookupError):
    """An audit or card id the store does not know."""


class Conflict(Exception):
    """A decision on an audit that is not awaiting review (already decided, or never queued), or an
    idempotency key already used for another audit."""


class Store:
    """The decision store behind the service (SQLite or PostgreSQL through one sessionmaker)."""

    def __init__(self, sessions: sessionmaker, engine: Engine):
        self._sessions = sessions
        self._engine = engine
        self.writer = GroupWriter(lambda jobs: self.write_jobs(jobs))
        # SQLite is a local file: commit on the event loop (see LoopBatcher). A network database
        # keeps the writer thread so a slow server never stalls the loop.
        sqlite = engine.dialect.name == "sqlite"
        self.loop_batcher = LoopBatcher(lambda jobs: self.write_jobs(jobs)) if sqlite else None
        # SQLite keeps JSON as text: bind the report text already encoded for the answer instead of
        # letting the JSON type encode the dict a second time (PostgreSQL gets the dict, for JSONB).
        self._report_as_text = sqlite
        self.page_in_sql = sqlite  # see queue_page_sql
        self._insert_audits = (
            _AUDITS.insert().values(report=bindparam("report_json", type_=Text))
            if sqlite
            else _AUDITS.insert()
        )

    def session(self) -> Session:
        """A new ORM session on the store's database (the caller closes it, e.g. ``with``)."""
        return self._sessions()

    # ------------------------------------------------------------------ audits
    def prepare_audits(
        self,
        reports: Sequence[AuditReport],
        source: str,
        *,
        review: bool = True,
        cards: Sequence[Sequence[CardRecord]] | None = None,
        want_docs: bool = True,
    ) -> tuple[list[str], list[dict[str, Any]], AuditJob]:
        """Rows for ``reports`` (flagged or failed ones join the review queue if ``review``).

        Returns the new audit ids, the report JSON of each (to answer with; an empty list when not
        ``want_docs``: then only the texts in the job are made, see :func:`report_json`) and the job.
        """
        now = utcnow()
        ids, docs, texts, audits, card_rows = [], [], [], [], []
        report_key = "report_json" if self._report_as_text else "report"
        for n, report in enumerate(reports):
            audit_id = new_audit_id()
            if want_docs or not self._report_as_text:
                doc = report.to_json_dict()
                text = report_text(doc)
                if want_docs:
                    docs.append(doc)
            else:
                doc, text = None, report_json(report)
            top = report.max_severity
            prov = report.provenance
            ids.append(audit_id)
            texts.append(text)
            audits.append(
                {
                    "id": audit_id,
                    "case_id": report.id[:128],
                    "source": source,
                    "status": report.status,
                    "max_severity": top.value if top else None,
                    "severity_rank": severity_rank(report),
                    "awaiting_review": review and report.status != "ok",
                    "risk": report.risk,
                    "kb_version": prov.kb_version if prov else "",
                    "engine_version": prov.engine_version if prov else "",
                    report_key: text if self._report_as_text else doc,
                    "created_at": now,
                }
            )
            if cards:
                card_rows += [
                    {
                        "uuid": c.uuid,
                        "audit_id": audit_id,
                        "rule_id": c.rule_id,
                        "rule_version": c.rule_version,
                        "severity": c.severity,
                        "created_at": now,
                    }
                    for c in cards[n]
                ]
        return ids, docs, AuditJob(audits, card_rows, texts)

    def write_jobs(self, jobs: Sequence[AuditJob]) -> None:
        """Insert the rows of several jobs in one transaction (audits before the cards that cite them)."""
        audits = [row for job in jobs for row in job.audits]
        cards = [row for job in jobs for row in job.cards]
        if self._report_as_text and not cards:
            # SQLite, audits only (POST /v1/audit): the driver's executemany with the values as
            # SQLAlchemy would bind them (_sqlite_row), without its per-row parameter processing
            raw = self._engine.raw_connection()
            try:
                raw.cursor().executemany(_SQLITE_INSERT_AUDIT, [_sqlite_row(a) for a in audits])
                raw.commit()
            finally:
                raw.close()
            return
        with self._engine.begin() as conn:
            if audits:
                conn.execute(self._insert_audits, audits)
            if cards:
                conn.execute(_CARDS.insert(), cards)

    def add_audits(
        self,
        reports: Sequence[AuditReport],
        source: str,
        *,
        review: bool = True,
        cards: Sequence[Sequence[CardRecord]] | None = None,
    ) -> list[str]:
        """Store reports and wait for the commit (from a worker thread, never the event loop)."""
        ids, _docs, job = self.prepare_audits(reports, source, review=review, cards=cards, want_docs=False)
        self.writer.submit(job).result()
        return ids

    async def add_audits_grouped(
        self,
        reports: Sequence[AuditReport],
        source: str,
        *,
        review: bool = True,
        cards: Sequence[Sequence[CardRecord]] | None = None,
    ) -> tuple[list[str], list[str]]:
        """Store reports through group commit; returns once they are committed: the new audit ids and
        each report as JSON text (:func:`report_text`, to answer with)."""
        import asyncio

        ids, _docs, job = self.prepare_audits(reports, source, review=review, cards=cards, want_docs=False)
        if self.loop_batcher is not None:
            await self.loop_batcher.submit(job)
        else:
            await asyncio.wrap_future(self.writer.submit(job))
        return ids, job.texts

    def get_audit(self, audit_id: str) -> AuditRow:
        """The stored audit row; raises :class:`NotFound` for an unknown id."""
        with self._sessions() as s:
            row = s.get(AuditRow, audit_id)
            if row is None:
                raise NotFound(audit_id)
            return row

    def _queue_ids(
        self, s: Session, limit: int, offset: int, after: tuple[int, datetime, str] | None
    ) -> list[str]:
        waiting = select(AuditRow.id).where(AuditRow.awaiting_review.is_(True))
        order = (AuditRow.severity_rank.desc(), AuditRow.created_at.asc(), AuditRow.id.asc())
        if after is None:
            return list(s.scalars(waiting.order_by(*order).limit(limit).offset(offset)))
        # keyset, as two index range scans (the order mixes directions, so one row-value comparison
        # cannot express it): the rest of the cursor's severity level, then the lower levels
        rank, created, last = after
        ids = list(
            s.scalars(
                waiting.where(
                    AuditRow.severity_rank == rank,
                    tuple_(AuditRow.created_at, AuditRow.id) > tuple_(created, last),
                )
                .order_by(*order)
                .limit(limit + offset)
            )
        )
        if len(ids) < limit + offset:
            ids += s.scalars(
                waiting.where(AuditRow.severity_rank < rank).order_by(*order).limit(limit + offset - len(ids))
            )
        return ids[offset : offset + limit]

    def queue_page_sql(
        self, limit: int, offset: int = 0, after: tuple[int, datetime, str] | None = None
    ) -> tuple[str, tuple[int, datetime, str] | None, int] | None:
        """One page of the queue built inside SQLite, as a JSON array text (the items of
        ``GET /v1/review-queue``), with the key of its last row and its length; None when the store is
        not SQLite or :attr:`page_in_sql` is off (then use :meth:`queue_page`).

        Why: Python's sqlite3 releases the GIL around every row step, and while audits keep the other
        threads busy, getting it back can take a switch interval or more each time: a 50-row page read
        row by row (ids, then rows) waited on the GIL some 100 times. Here the page is one aggregate
        row: one step, whatever the page size. Same keyset order and index as :meth:`_queue_ids`.
        """
        if not self.page_in_sql:
            return None
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if after is None:
            keys = _PAGE_KEYS_FIRST
        else:
            rank, created, last = after
            keys = _PAGE_KEYS_AFTER
            params.update(rank=rank, created=_sqlite_time(created), last=last, n=limit + offset)
        with self._engine.connect() as conn:
            items, order = conn.exec_driver_sql(_PAGE_SQL.format(keys=keys), params).one()
        if not order:
            return "[]", None, 0
        rows = [k.split("|") for k in order.split(",")]
        got = [(-int(r), c, i) for r, c, i in rows]
        if got != sorted(got):  # SQLite aggregates in the subquery's order; never trust it blindly
            raise RuntimeError("queue page out of order")
        rank, created, last = rows[-1]
        return items, (int(rank), datetime.fromisoformat(created).replace(tzinfo=UTC), last), len(rows)

    def queue_page(
        self, limit: int, offset: int = 0, after: tuple[int, datetime, str] | None = None
    ) -> list[tuple[AuditRow, str]]:
        """:meth:`queue` for the API: each row (report not loaded) with its report as stored JSON text,
        so a page is answered without decoding and re-encoding every report."""
        cols = [c for c in _AUDITS.c if c.name != "report"]
        with self._sessions() as s:
            ids = self._queue_ids(s, limit, offset, after)
            if not ids:
                return []
            got = {
                r.id: r
                for r in s.execute(
                    select(*cols, cast(AuditRow.report, Text).label("report_json")).where(
                        AuditRow.id.in_(ids)
                    )
                )
            }
        return [(got[i], got[i].report_json) for i in ids if i in got]

    def queue(
        self, limit: int, offset: int = 0, after: tuple[int, datetime, str] | None = None
    ) -> list[AuditRow]:
        """Audits awaiting a pharmacist: highest severity first, then oldest first.

        A decision clears ``awaiting_review`` in the same transaction (see :meth:`add_decision`), so
        the flag alone says what is waiting. The page is chosen on the indexed columns only; the report
        JSON is read for those rows afterwards, never sorted.
        """
        with self._sessions() as s:
            ids = self._queue_ids(s, limit, offset, after)
            if not ids:
                return []
            rows = {r.id: r for r in s.scalars(select(AuditRow).where(AuditRow.id.in_(ids)))}
        return [rows[i] for i in ids if i in rows]

    # --------------------------------------------------------------- retention
    def purge(self, before: datetime, *, archive: Path | None = None, batch: int = 1000) -> int:
        """Retention: delete the audits created before ``before`` that are **not** awaiting review
        (decided, or never queued), with their decisions, CDS cards and prescriber feedback.

        An audit still awaiting a pharmacist is never touched, however old. With ``archive`` each
        audit is first appended to that JSONL file (mode 0600: one line per audit with its decisions,
        cards and feedback) and the file is fsync'd before the rows are deleted, so a crash in between
        leaves a line twice, never a row lost. Works in batches of ``batch`` audits, one short
        transaction each (audits keep being written meanwhile). Returns how many audits were removed.
        """
        if before.tzinfo is None:
            raise ValueError("purge needs a timezone-aware cut-off")
        removed = 0
        after: tuple[datetime, str] | None = None
        while True:
            with self._engine.begin() as conn:
                old = select(AuditRow.id, AuditRow.created_at).where(
                    AuditRow.created_at < before, AuditRow.awaiting_review.is_(False)
                )
                if after is not None:
                    old = old.where(tuple_(AuditRow.created_at, AuditRow.id) > tuple_(*after))
                rows = conn.execute(old.order_by(AuditRow.created_at, AuditRow.id).limit(batch)).all()
                if not rows:
                    return removed
                after = (rows[-1].created_at, rows[-1].id)
                ids = [r.id for r in rows]
                if archive is not None:
                    self._archive(conn, ids, archive)
                for table, column in (
                    (FeedbackRow.__table__, "audit_id"),
                    (DecisionRow.__table__, "audit_id"),
                    (_CARDS, "audit_id"),
                ):
                    conn.execute(delete(table).where(table.c[column].in_(ids)))
                removed += conn.execute(
                    delete(_AUDITS).where(_AUDITS.c.id.in_(ids), _AUDITS.c.awaiting_review.is_(False))
                ).rowcount

    @staticmethod
    def _archive(conn: Any, ids: list[str], path: Path) -> None:
        def plain(row: Any) -> dict[str, Any]:
            return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row._mapping.items()}

        related: dict[str, dict[str, list[dict[str, Any]]]] = {
            i: {"decisions": [], "cards": [], "feedback": []} for i in ids
        }
        for name, table in (
            ("decisions", DecisionRow.__table__),
            ("cards", _CARDS),
            ("feedback", FeedbackRow.__table__),
        ):
            for row in conn.execute(select(table).where(table.c.audit_id.in_(ids))):
                related[row.audit_id][name].append(plain(row))
        lines = [
            json.dumps({"audit": plain(row), **related[row.id]}, ensure_ascii=False) + "\n"
            for row in conn.execute(select(_AUDITS).where(_AUDITS.c.id.in_(ids)))
        ]
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, "".join(lines).encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    # --------------------------------------------------------------- decisions
    def decision_by_key(self, key: str) -> DecisionRow | None:
        """The decision stored with idempotency key ``key``, or ``None``."""
        with self._sessions() as s:
            return s.scalars(select(DecisionRow).where(DecisionRow.idempotency_key == key)).first()

    def add_decision(
        self,
        audit_id: str,
        *,
        decision: str,
        pharmacist: str,
        rule_ids: Sequence[str],
        reason: str | None,
        reason_code: str | None,
        prescriber: str | None,
        idempotency_key: str | None = None,
    ) -> tuple[DecisionRow, bool]:
        """Record the one final decision on an audit awaiting review.

        The transition ``awaiting_review: true → false`` is an UPDATE checked in the database, in the
        transaction that inserts the decision, so of concurrent decisions exactly one is stored; the
        others (and a decision on an audit not awaiting review) raise :class:`Conflict`. With an
        ``idempotency_key`` a retry returns the decision stored the first time: ``(row, replayed)``.
        """
        if idempotency_key is not None:
            earlier = self.decision_by_key(idempotency_key)
            if earlier is not None:
                if earlier.audit_id != audit_id:
                    raise Conflict("this Idempotency-Key was used for a decision on another audit")
                return earlier, True
        try:
            with self._sessions.begin() as s:
                # the write first: it takes the write lock before anything is read (SQLite WAL would
                # refuse to upgrade a read snapshot that a concurrent decision has overtaken)
                moved = s.execute(
                    update(AuditRow)
                    .where(AuditRow.id == audit_id, AuditRow.awaiting_review.is_(True))
                    .values(awaiting_review=False)
                    .execution_options(synchronize_session=False)
                ).rowcount
                audit = s.get(AuditRow, audit_id)
                if audit is None:
                    raise NotFound(audit_id)
                if moved != 1:
                    raise Conflict("this audit is not awaiting review (already decided, or never queued)")
                row = DecisionRow(
                    audit_id=audit_id,
                    decision=decision,
                    reason_code=reason_code,
                    reason=reason,
                    pharmacist=pharmacist,
                    prescriber=prescriber,
                    rule_ids=list(rule_ids),
                    kb_version=audit.kb_version,
                    created_at=utcnow(),
                    idempotency_key=idempotency_key,
                )
                s.add(row)
        except (Conflict, IntegrityError):
            # a concurrent retry with the same key may have won: answer with its decision
            earlier = self.decision_by_key(idempotency_key) if idempotency_key is not None else None
            if earlier is not None and earlier.audit_id == audit_id:
                return earlier, True
            raise Conflict("this audit is not awaiting review (already decided, or never queued)") from None
        return row, False

    def decisions(self, audit_id: str) -> tuple[list[DecisionRow], list[FeedbackRow]]:
        """The decisions and the CDS Hooks feedback on an audit, each oldest first; raises
        :class:`NotFound` for an unknown id."""
        with self._sessions() as s:
            if s.get(AuditRow, audit_id) is None:
                raise NotFound(audit_id)
            decisions = list(
                s.scalars(
                    select(DecisionRow)
                    .where(DecisionRow.audit_id == audit_id)
                    .order_by(DecisionRow.created_at, DecisionRow.id)
                )
            )
            feedback = list(
                s.scalars(
                    select(FeedbackRow)
                    .where(FeedbackRow.audit_id == audit_id)
                    .order_by(FeedbackRow.received_at, FeedbackRow.id)
                )
            )
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
                rows.append(
                    FeedbackRow(
                        card_uuid=card.uuid,
                        audit_id=card.audit_id,
                        rule_id=card.rule_id,
                        kb_version=audit.kb_version if audit else "",
                        outcome=e["outcome"],
                        override_system=e.get("override_system"),
                        override_code=e.get("override_code"),
                        override_display=e.get("override_display"),
                        user_comment=e.get("user_comment"),
                        accepted_suggestions=list(e.get("accepted_suggestions", ())),
                        outcome_timestamp=ts,
                        received_at=now,
                    )
                )
            s.add_all(rows)
        return rows
