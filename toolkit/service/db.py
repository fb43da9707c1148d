"""The decision store: audits, pharmacist decisions, CDS cards and prescriber overrides (SQLAlchemy 2).

SQLite (a file, the default) or PostgreSQL (``postgresql+psycopg://…``). The schema is owned by the
Alembic migrations shipped in ``toolkit/service/migrations``; :func:`migrate` applies them.
Only pseudonymous case ids are stored: never ``patient.id``, names or the record text.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from toolkit.errors import ToolkitError

log = logging.getLogger(__name__)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone, so it is re-attached)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store an aware datetime as UTC; raise ValueError for a naive one."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Return the stored value as an aware UTC datetime (SQLite's naive values are taken as UTC)."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (what the store writes into timestamp columns)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The SQLAlchemy declarative base; its metadata is the schema the migrations create."""

    pass


class AuditRow(Base):
    """One audited prescription: its report (JSON) and where it stands in the review queue."""

    __tablename__ = "audits"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    max_severity: Mapped[str | None] = mapped_column(String(8))
    severity_rank: Mapped[int] = mapped_column(Integer)
    awaiting_review: Mapped[bool] = mapped_column(Boolean)
    risk: Mapped[float | None] = mapped_column(Float)
    kb_version: Mapped[str] = mapped_column(String(64))
    engine_version: Mapped[str] = mapped_column(String(32))
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # The queue's order (rank descending, then oldest, then id) as one covering index: a page is read
    # from the index in order and stops at LIMIT — no sort, and the report blobs are never touched.
    # Retention (Store.purge) walks decided audits by age: created_at, then id.
    __table_args__ = (
        Index("ix_audits_queue_order", "awaiting_review", severity_rank.desc(), "created_at", "id"),
        Index("ix_audits_created", "created_at", "id"),
    )


class DecisionRow(Base):
    """A pharmacist's decision on an audit: pass, return to prescriber, or override with reason (双签)."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    pharmacist: Mapped[str] = mapped_column(String(64))
    prescriber: Mapped[str | None] = mapped_column(String(64))
    rule_ids: Mapped[list[str]] = mapped_column(JSON)
    kb_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the client's Idempotency-Key: a retry after a lost reply finds this decision instead of a new one
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)


class CardRow(Base):
    """A CDS Hooks card handed to the EHR, so feedback on its uuid finds the rule and the audit."""

    __tablename__ = "cds_cards"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FeedbackRow(Base):
    """CDS Hooks feedback: the prescriber accepted a card or overrode it (with a coded reason)."""

    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(ForeignKey("cds_cards.uuid"), index=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    kb_version: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    override_system: Mapped[str | None] = mapped_column(String(255))
    override_code: Mapped[str | None] = mapped_column(String(64))
    override_display: Mapped[str | None] = mapped_column(String(255))
    user_comment: Mapped[str | None] = mapped_column(Text)
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON)
    outcome_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, autocheckpoint: bool = True) -> None:
    # WAL lets the review queue be read while audits are written; NORMAL sync is durable across
    # process crashes (not power loss of the last transaction), which is the trade-off WAL documents.
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    if not autocheckpoint:
        # the commit that crosses 1,000 WAL pages would copy them into the database and fsync it on the
        # service's event loop (a few ms with every request waiting); the service checkpoints from a
        # thread instead (checkpoint())
        cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def checkpoint(engine: Engine, mode: str = "PASSIVE") -> None:
    """Copy a SQLite WAL into the database file (``PASSIVE``: without waiting for readers or writers;
    ``TRUNCATE`` at shutdown). A no-op for other databases. Blocking: call it from a thread."""
    if engine.dialect.name != "sqlite":
        return
    assert mode in ("PASSIVE", "TRUNCATE")
    raw = engine.raw_connection()
    try:
        raw.cursor().execute(f"PRAGMA wal_checkpoint({mode})")
    finally:
        raw.close()


def make_engine(url: str, autocheckpoint: bool = True) -> Engine:
    """An engine for ``url``; ``postgresql://`` is read as psycopg 3 (``postgresql+psycopg://``).
    ``autocheckpoint=False``: a SQLite file's WAL is not checkpointed by the commits (the caller runs
    :func:`checkpoint`)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False})
            if ":memory:" not in url and url not in {"sqlite://", "sqlite:///"}:
                event.listen(
                    engine, "connect", lambda c, r: _sqlite_pragmas(c, r, autocheckpoint=autocheckpoint)
                )
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # bad URL or missing driver: say which, without echoing a password
        raise ToolkitError(f"cannot use database URL ({_redact(url)}): {exc}") from exc
    return engine


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://", 1)[0] + "://…"


def alembic_config(engine: Engine) -> Any:
    """An Alembic config pointing at the migrations shipped inside the package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("toolkit.service") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest revision; returns the revision now in place."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    try:
        command.upgrade(alembic_config(engine), "head")
        with engine.connect() as conn:
            rev = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:
        raise ToolkitError(f"database migration failed ({_redact(str(engine.url))}): {exc}") from exc
    log.info("database schema at revision %s", rev)
    return rev or ""


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None when it has never been migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """The newest revision among the shipped migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def session_factory(engine: Engine) -> sessionmaker:
    """A session factory for ``engine``; loaded objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
