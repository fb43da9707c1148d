"""The HTTP API for HIS/EMR pre-audit: JSON, FHIR R4B and CDS Hooks, plus the pharmacist review queue.

``create_app(config)`` builds one FastAPI app with its knowledge base and decision store; routes only
parse, call :func:`toolkit.audit.audit` and the store, and shape the answer. Logs carry ids, counts
and rule ids, never patient data or free text.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations (built inside
# create_app from the config) at runtime.

import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolkit.errors import InputError, ToolkitError, require
from toolkit.knowledge.loader import Knowledge
from toolkit.medication_lists import _combinations as combination_names
from toolkit.records import AuditCase, AuditReport

from .config import ServiceConfig
from .decisions import DecisionRefused, record_decision
from .store import Conflict, NotFound, Store, parse_queue_cursor, queue_cursor_key

log = logging.getLogger(__name__)

JSON = "application/json"
CHECKPOINT_INTERVAL_S = 1.0
"""How often the service copies a SQLite WAL into the database file (off the event loop)."""
GC_YOUNG_THRESHOLD = 10_000
"""First-generation threshold of the cyclic collector while serving (Python's default: 700)."""


class OverBudget(BaseException):
    """Raised inside an inline audit when its time budget runs out (a BaseException, like
    KeyboardInterrupt, so no ``except Exception`` inside the audit can swallow it)."""


class InlineBudget:
    """Run a function on the event loop for at most ``seconds`` of wall time (a SIGALRM timer; the handler
    raises :class:`OverBudget` in the main thread, between two bytecodes of the function)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.installed = False
        self._active = False
        self._previous: Any = None

    def install(self) -> bool:
        """Take SIGALRM for the budget; False (nothing changed) when that is not possible here: not the
        main thread, no setitimer (Windows), or a zero budget."""
        if self.seconds <= 0 or not hasattr(signal, "setitimer"):
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        try:
            self._previous = signal.signal(signal.SIGALRM, self._fire)
        except ValueError:
            return False
        self.installed = True
        return True

    def uninstall(self) -> None:
        """Give SIGALRM back."""
        if self.installed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)
            self.installed = False

    def _fire(self, _signum: int, _frame: Any) -> None:
        if self._active:  # a late signal, after the function returned, is ignored
            self._active = False
            raise OverBudget

    def run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)``, or :class:`OverBudget` when it took longer than the budget."""
        self._active = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            return fn(*args)
        finally:
            self._active = False
            signal.setitimer(signal.ITIMER_REAL, 0)


def _dumps(data: Any) -> bytes:
    """A JSON body as the service writes it (compact, UTF-8)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None, media: str = JSON) -> Any:
    from fastapi import Response

    return Response(
        _dumps(data),
        status_code=status,
        media_type=media,
        headers=headers,
    )


def _error(status: int, loc: str, msg: str) -> Any:
    return _json({"detail": [{"loc": loc, "msg": msg}]}, status)


def _loc(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class DecisionIn(BaseModel):
    """A pharmacist's decision. ``return`` needs a reason; ``override`` (双签) needs the prescriber's
    reason and both signatures (``prescriber`` and ``pharmacist``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    decision: Literal["pass", "return", "override"]
    pharmacist: str = Field(min_length=1, max_length=64, description="pharmacist id or name (signature)")
    reason: str | None = Field(default=None, max_length=2000)
    reason_code: str | None = Field(default=None, max_length=64)
    prescriber: str | None = Field(
        default=None, max_length=64, description="prescriber's signature for an override (双签)"
    )
    rule_ids: list[str] | None = Field(
        default=None, max_length=200, description="findings the decision is about; default: all"
    )


class ApiError(Exception):
    """A located client error (status, field path, message)."""

    def __init__(self, status: int, loc: str, msg: str, headers: dict[str, str] | None = None):
        super().__init__(msg)
        self.status, self.loc, self.msg, self.headers = status, loc, msg, headers


class AuditFastPath:
    """ASGI: ``POST /v1/audit`` the usual way (``Content-Type: application/json``, no query, a body that is
    a valid case) answered here, without FastAPI's middleware stack, router and response wrappers: the
    hot call of a HIS. ``answer(case)`` audits and stores the case and returns the audit id and the
    report text; an :class:`ApiError` it raises is answered as the app's handler answers it. Anything
    else (another path or method, a query, another content type, a body that does not validate) goes to
    the app unchanged, the body read here handed on in one piece, so every other answer and error
    (422 with located fields) is FastAPI's own. Sits inside :class:`~toolkit.service.guard.Guard`, so
    the host allow-list, the token and the body limit apply before it."""

    def __init__(self, app: Any, answer: Any):
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI entry: the usual audit request here, anything else to the app."""
        if (
            scope["type"] != "http"
            or scope["path"] != "/v1/audit"
            or scope["method"] != "POST"
            or scope["query_string"]
            or dict(scope["headers"]).get(b"content-type") != _JSON_BYTES
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            case = AuditCase.model_validate_json(body)
        except ValueError:  # ValidationError: FastAPI reports it with located fields

            async def replay() -> Any:
                nonlocal body
                if body is not None:
                    message, body = {"type": "http.request", "body": body, "more_body": False}, None
                    return message
                return await receive()

            await self.app(scope, replay, send)
            return
        try:
            audit_id, text = await self.answer(case)
        except ApiError as exc:
            await _send(send, exc.status, _detail(exc.loc, exc.msg), _latin1(exc.headers))
            return
        except Exception:
            # the app's answer to a crash (its Exception handler: 500, no message), then the exception goes
            # on to the guard, which logs its type, as it does after FastAPI's ServerErrorMiddleware
            await _send(send, 500, _detail("", "internal error"), [])
            raise
        ident = audit_id.encode()
        await _send(send, 200, text.encode(), [(b"x-audit-id", ident), (b"location", b"/v1/audits/" + ident)])


_JSON_BYTES = JSON.encode()


def _detail(loc: str, msg: str) -> bytes:
    """The body of ``_error(status, loc, msg)``, as bytes."""
    return _dumps({"detail": [{"loc": loc, "msg": msg}]})


def _latin1(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]


async def _send(send: Any, status: int, data: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(data)).encode()),
                (b"content-type", _JSON_BYTES),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def create_app(config: ServiceConfig | None = None, knowledge: Knowledge | None = None) -> Any:
    """Build the service. Migrates the database first when ``config.auto_migrate``."""
    require("fastapi", "service")
    require("sqlalchemy", "service")
    from fastapi import Body, FastAPI, Header, Query, Request, Response
    from fastapi.exceptions import RequestValidationError
    from fastapi.routing import APIRoute

    from toolkit import __version__
    from toolkit.audit import audit
    from toolkit.fhir import read as fhir_read
    from toolkit.fhir import write as fhir_write
    from toolkit.fhir.cds_auth import AuthError
    from toolkit.fhir.codes import LisMap
    from toolkit.knowledge import get_knowledge

    from . import cds
    from .config import check_retention, host_allow_list
    from .db import checkpoint, current_revision, head_revision, make_engine, migrate, session_factory
    from .guard import Guard

    config = config or ServiceConfig()
    check_retention(config)
    kb = knowledge or get_knowledge(config.rules_dir, config.local_rules)
    lis = LisMap.load(config.lis_map) if config.lis_map else None  # a bad map fails here, not per request
    engine = make_engine(config.db_url, autocheckpoint=False)  # checkpointed by checkpoint_loop()
    if config.auto_migrate:
        migrate(engine)
    elif current_revision(engine) != head_revision(engine):
        raise ToolkitError("the database schema is not up to date: run `clinic serve --migrate` first")
    store = Store(session_factory(engine), engine)
    verifier = None
    if config.cds_jwks:
        from toolkit.fhir.cds_auth import JwtVerifier

        verifier = JwtVerifier.from_file(config.cds_jwks, audiences=config.cds_audiences)
    label = f"{config.source_label} (KB {kb.version})"

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        import gc
        import sys

        before = sys.getswitchinterval()
        budget.install()  # under uvicorn: the loop's thread is the main thread (not under a test client)
        if config.switch_interval_s:  # while serving (see ServiceConfig.switch_interval_s)
            sys.setswitchinterval(config.switch_interval_s)
        keeper = asyncio.create_task(retention_loop()) if config.retention_days else None
        checkpointer = asyncio.create_task(checkpoint_loop())
        # What lives for the whole process (knowledge base with its name index, built here rather than
        # on the first request, app, modules: ~300,000 objects) is moved out of the cyclic collector's
        # reach. Otherwise every full collection walks all of it: 40–90 ms with the event loop stopped,
        # a few times a minute under load, which alone set the p99. Garbage is still freed as before.
        kb.names.prepare()  # the name index (a cached property) and its fuzzy-guess sets: built now,
        # not inside the first request that names an unknown drug
        combination_names()  # and the combination products 在用药品 lists are split by (A/B: one product)
        gc.freeze()
        # A young-generation collection ran whenever the requests in flight held over 700 new objects
        # (every few requests at 16 connections), walked them all and promoted them, feeding the older
        # generations: ~45 µs per request in all. Request objects are freed by reference counting, so
        # a higher first threshold only defers the rare cycle.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], GC_YOUNG_THRESHOLD), *thresholds[1:])
        yield
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        if keeper is not None:
            keeper.cancel()
        checkpointer.cancel()
        budget.uninstall()
        sys.setswitchinterval(before)
        pool.shutdown(wait=False, cancel_futures=True)
        store.writer.close()  # commit what is queued before the process ends
        try:
            with checkpoint_lock:  # after a periodic one still running in its thread (cancelling the
                checkpoint(engine, "TRUNCATE")  # task does not stop the thread: both would be busy)
        except Exception as exc:  # the WAL stays and is replayed on the next start: nothing is lost
            log.warning("final checkpoint failed: %s", type(exc).__name__)
        engine.dispose()

    def purge_once() -> int:
        """Apply the retention rule once (ServiceConfig.retention_days); returns audits removed."""
        from datetime import datetime, timedelta
        from pathlib import Path

        cutoff = datetime.now(UTC) - timedelta(days=config.retention_days or 0)
        archive = Path(config.retention_archive) if config.retention_archive else None
        removed = store.purge(cutoff, archive=archive)
        log.info(
            "retention: %d audits older than %g days removed%s",
            removed,
            config.retention_days,
            " (archived)" if archive else "",
        )
        return removed

    checkpoint_lock = threading.Lock()

    def locked_checkpoint() -> None:
        with checkpoint_lock:
            checkpoint(engine)

    async def checkpoint_loop() -> None:
        # SQLite: the WAL is copied into the database file here, in a thread, once a second, not by
        # whichever audit's commit crosses the auto-checkpoint size on the event loop (an fsync with
        # every request waiting: that set the service's p99). Durability is the WAL's either way.
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            try:
                await asyncio.to_thread(locked_checkpoint)
            except Exception as exc:  # keep serving; the next run catches up
                log.error("checkpoint failed: %s", type(exc).__name__)

    async def retention_loop() -> None:
        while True:
            try:
                await asyncio.to_thread(purge_once)
            except Exception as exc:  # keep serving; say what failed, by type only
                log.error("retention run failed: %s", type(exc).__name__)
            await asyncio.sleep(config.retention_interval_s)

    app = FastAPI(
        lifespan=lifespan,
        title="clinic-toolkit 处方前置审核服务",
        version=__version__,
        description="Prescription pre-audit for HIS/EMR: JSON, FHIR R4B (MedicationRequest → "
        "DetectedIssue), CDS Hooks (order-sign/order-select) and the pharmacist review "
        "queue. Severity: block/warn/info = DetectedIssue high/moderate/low = card "
        "critical/warning/info.",
    )
    app.state.store, app.state.engine, app.state.knowledge, app.state.config = store, engine, kb, config
    app.state.purge_once = purge_once

    # ------------------------------------------------------------------ errors
    def is_fhir(request: Any) -> bool:
        """FHIR routes answer errors as an OperationOutcome (application/fhir+json)."""
        path = request.url.path
        return path.startswith("/v1/fhir/") or path == "/metadata"

    def problem(request: Any, status: int, loc: str, msg: str, headers: dict[str, str] | None = None) -> Any:
        if is_fhir(request):
            return _json(
                fhir_write.outcome_for_error(status, loc, msg), status, headers, media="application/fhir+json"
            )
        return _json({"detail": [{"loc": loc, "msg": msg}]}, status, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        # The input value is deliberately not echoed back (it may be patient data).
        errors = exc.errors()[:20]
        if is_fhir(request):
            return _json(
                fhir_write.operation_outcome(
                    ("error", "invalid", e["msg"], fhir_write.fhirpath(_loc(e["loc"]))) for e in errors
                ),
                422,
                media="application/fhir+json",
            )
        detail = [{"loc": _loc(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
        return _json({"detail": detail}, 422)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Any:
        return problem(request, 422, "body." + exc.field if exc.field else "body", exc.reason)

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Any:
        return problem(request, exc.status, exc.loc, exc.msg, exc.headers)

    @app.exception_handler(NotFound)
    async def _missing(_request: Request, exc: NotFound) -> Any:
        return _error(404, "path.audit_id", "no such audit")

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict) -> Any:
        return _error(409, "path.audit_id", str(exc))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Any:
        return problem(request, 500, "", "internal error")  # logged by the guard, by type only

    # ------------------------------------------------------------------ models
    def decision_json(d: Any) -> dict[str, Any]:
        return {
            "id": d.id,
            "audit_id": d.audit_id,
            "decision": d.decision,
            "reason_code": d.reason_code,
            "reason": d.reason,
            "pharmacist": d.pharmacist,
            "prescriber": d.prescriber,
            "rule_ids": d.rule_ids,
            "kb_version": d.kb_version,
            "created_at": d.created_at.isoformat(),
        }

    def feedback_json(f: Any) -> dict[str, Any]:
        return {
            "card": f.card_uuid,
            "audit_id": f.audit_id,
            "rule_id": f.rule_id,
            "kb_version": f.kb_version,
            "outcome": f.outcome,
            "override_reason": None
            if f.override_code is None
            else {"system": f.override_system, "code": f.override_code, "display": f.override_display},
            "user_comment": f.user_comment,
            "accepted_suggestions": f.accepted_suggestions,
            "outcome_timestamp": f.outcome_timestamp.isoformat() if f.outcome_timestamp else None,
            "received_at": f.received_at.isoformat(),
        }

    _unset = object()

    def audit_json(row: Any, report: Any = _unset) -> dict[str, Any]:
        """The audit as the API shows it; ``report`` last (the queue splices the stored JSON there)."""
        created = row.created_at
        if created.tzinfo is None:  # a Core row from SQLite: the UTC zone is re-attached
            created = created.replace(tzinfo=UTC)
        return {
            "audit_id": row.id,
            "case_id": row.case_id,
            "source": row.source,
            "status": row.status,
            "max_severity": row.max_severity,
            "risk": row.risk,
            "awaiting_review": row.awaiting_review,
            "kb_version": row.kb_version,
            "created_at": created.isoformat(),
            "report": row.report if report is _unset else report,
        }

    # CPU work runs on this pool, off the event loop, with a timeout per case: /healthz and every other
    # request keep being answered while an audit runs. (A thread cannot be stopped: a case past the
    # timeout is answered 503 and finishes in the background; max_items bounds how long that can be.)
    pool = ThreadPoolExecutor(
        max_workers=config.audit_threads or max(2, (os.cpu_count() or 1)), thread_name_prefix="audit"
    )

    def check_limits(case: AuditCase, where: str = "body") -> None:
        n = len(case.prescription.items)
        if n > config.max_items:
            raise ApiError(
                422,
                f"{where}.prescription.items",
                f"{n} drug lines: over the limit of {config.max_items} per prescription (max_items)",
            )

    def audit_checked(case: AuditCase) -> AuditReport:
        report = audit(case, kb)
        if len(report.findings) > config.max_findings:
            raise ApiError(
                422,
                "body",
                f"{len(report.findings)} findings: over the limit of {config.max_findings} "
                "per prescription (max_findings); review this prescription by hand",
            )
        return report

    def timed_out() -> ApiError:
        log.warning("audit over the %.1fs limit", config.audit_timeout_s)
        return ApiError(503, "", f"the audit took longer than {config.audit_timeout_s:g} s (audit_timeout_s)")

    def run(case: AuditCase, where: str = "body") -> AuditReport:
        """Audit in the pool and wait (from a worker thread: sync routes)."""
        check_limits(case, where)
        try:
            return pool.submit(audit_checked, case).result(timeout=config.audit_timeout_s)
        except FutureTimeout:
            raise timed_out() from None

    budget = InlineBudget(config.inline_budget_s)

    async def run_async(case: AuditCase) -> AuditReport:
        """Audit in the pool without blocking the event loop (async routes), with the timeout; a small case
        (at most ``inline_items`` lines) is first audited right here, for at most ``inline_budget_s``."""
        check_limits(case)
        if budget.installed and len(case.prescription.items) <= config.inline_items:
            try:
                return budget.run(audit_checked, case)
            except OverBudget:
                log.info(
                    "audit over the inline budget of %.3fs: audited off the loop", config.inline_budget_s
                )
        try:
            async with asyncio.timeout(config.audit_timeout_s):  # no extra task, unlike wait_for
                return await asyncio.wrap_future(pool.submit(audit_checked, case))
        except TimeoutError:
            raise timed_out() from None

    # ------------------------------------------------------------------ JSON
    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, Any]:
        """Liveness: versions only (open without a token; no data)."""
        return {"status": "ok", "kb_version": kb.version, "engine_version": __version__}

    async def audit_one(
        case: AuditCase,
        queue: bool = Query(True, description="put a flagged prescription in the pharmacist queue"),
    ) -> Any:
        """Audit one case; the answer is exactly the batch/JSONL report of that case."""
        return await audit_and_store(case, queue)

    class AuditRoute(APIRoute):
        """``POST /v1/audit`` with a fast way in for the usual request (``Content-Type: application/json``,
        no query, a body that is a valid case): the case is validated once, straight from the request
        bytes (``AuditCase.model_validate_json``), skipping FastAPI's parse, validation and dependency
        machinery. Anything else (a query, another content type, a body that does not validate) takes
        FastAPI's own handler, so its answers and errors (422 with located fields) are unchanged."""

        def get_route_handler(self) -> Any:
            standard = super().get_route_handler()

            async def handler(request: Request) -> Any:
                if request.scope["query_string"] or request.headers.get("content-type") != JSON:
                    return await standard(request)
                try:
                    case = AuditCase.model_validate_json(await request.body())
                except ValueError:  # ValidationError: FastAPI reports it (the body is kept on the request)
                    return await standard(request)
                return await audit_and_store(case, True)

            return handler

    app.router.add_api_route(
        "/v1/audit",
        audit_one,
        methods=["POST"],
        tags=["audit"],
        response_model=None,
        responses={
            200: {"description": "AuditReport.to_json_dict(); X-Audit-Id header names the stored audit"}
        },
        route_class_override=AuditRoute,
    )

    async def audit_stored(case: AuditCase, queue: bool = True) -> tuple[str, str]:
        """Audit ``case`` and store it (group commit): the audit id and the report text as stored. Async:
        a large case is audited in the pool (off the loop, with a timeout) and the write waits on the
        group-commit writer, so no request thread is held. Both ways into ``POST /v1/audit`` use it."""
        report = await run_async(case)
        (audit_id,), (text,) = await store.add_audits_grouped([report], "json", review=queue)
        log.info("audit %s status=%s findings=%d", audit_id, report.status, len(report.findings))
        return audit_id, text

    async def audit_and_store(case: AuditCase, queue: bool) -> Any:
        audit_id, text = await audit_stored(case, queue)
        # the report text as stored: encoded once (store.report_text)
        return Response(
            text.encode(),
            media_type=JSON,
            headers={"X-Audit-Id": audit_id, "Location": f"/v1/audits/{audit_id}"},
        )

    max_batch = config.max_batch

    @app.post("/v1/audit/batch", tags=["audit"], response_model=None)
    def audit_batch(
        cases: Annotated[list[AuditCase], Body(min_length=1, max_length=max_batch)], queue: bool = Query(True)
    ) -> Any:
        """Audit up to ``max_batch`` cases: ``{"audits": [{"audit_id", "report"}]}`` in input order."""
        reports = [run(c, f"body[{n}]") for n, c in enumerate(cases)]
        ids, docs, job = store.prepare_audits(reports, "json-batch", review=queue)
        store.writer.submit(job).result()  # one transaction for the batch, shared with concurrent calls
        log.info("batch of %d audited", len(ids))
        return _json({"audits": [{"audit_id": i, "report": d} for i, d in zip(ids, docs, strict=True)]})

    @app.get("/v1/audits/{audit_id}", tags=["review"])
    def get_audit(audit_id: str) -> Any:
        return _json(audit_json(store.get_audit(audit_id)))

    @app.get("/v1/review-queue", tags=["review"])
    async def review_queue(
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0),
        after: str | None = Query(
            None, max_length=200, description="keyset cursor: the `next` of the previous page"
        ),
    ) -> Any:
        """Audits awaiting a pharmacist decision: error, then block, warn / needs_review; oldest first within
        a level. Page with ``after`` (the ``next`` of the previous page: stable and fast at any depth) or
        ``offset`` (up to ``max_offset``)."""
        if offset > config.max_offset:
            raise ApiError(400, "query.offset", f"offset over the limit of {config.max_offset} (max_offset)")
        try:
            cursor = parse_queue_cursor(after) if after else None
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "query.after", "not a cursor from this queue") from None
        # SQLite, no offset: the page is one indexed range read built into one row by SQLite (about a
        # millisecond), done right here on the loop like the audit writes (store.LoopBatcher): a
        # worker thread would have to win the GIL back from the audits for each step. An offset page
        # scans `offset` index entries, so it goes to a thread, as does every page on PostgreSQL.
        got = store.queue_page_sql(limit, 0, cursor) if offset == 0 else None
        if got is None:
            from starlette.concurrency import run_in_threadpool

            got = await run_in_threadpool(queue_page_json, limit, offset, cursor)
        items, last, n = got
        nxt = json.dumps(queue_cursor_key(last) if n == limit else None)
        return Response(('{"items":' + items + ',"next":' + nxt + "}").encode(), media_type=JSON)

    def queue_page_json(limit: int, offset: int, cursor: Any) -> tuple[str, Any, int]:
        """A queue page as (items JSON text, key of the last row, rows) from rows read in Python."""
        got = store.queue_page_sql(limit, offset, cursor)
        if got is not None:
            return got
        page = store.queue_page(limit, offset, cursor)
        # the stored report JSON is spliced in as it is: no decode and re-encode of every report
        items = [
            json.dumps(audit_json(r, None), ensure_ascii=False, separators=(",", ":"))[: -len("null}")]
            + report
            + "}"
            for r, report in page
        ]
        last = (page[-1][0].severity_rank, page[-1][0].created_at, page[-1][0].id) if page else None
        return "[" + ",".join(items) + "]", last, len(page)

    @app.post("/v1/audits/{audit_id}/decisions", tags=["review"], status_code=201)
    def add_decision(
        audit_id: str,
        body: DecisionIn,
        idempotency_key: str | None = Header(None, alias="Idempotency-Key", min_length=1, max_length=128),
    ) -> Any:
        """Record the one final decision on an audit awaiting review: 审核通过 (pass), 退回医师 (return) or
        双签放行 (override). 201 when stored; 409 when the audit is not awaiting review (already decided,
        or never queued); with an ``Idempotency-Key`` a retry answers 200 with the decision stored first.
        Passing or overriding a 拦截 (block) finding needs a reason."""
        try:  # the one decision workflow (toolkit.service.decisions), shared with the demo
            done = record_decision(
                store,
                audit_id,
                decision=body.decision,
                pharmacist=body.pharmacist,
                reason=body.reason,
                reason_code=body.reason_code,
                prescriber=body.prescriber,
                rule_ids=body.rule_ids,
                idempotency_key=idempotency_key,
            )
        except DecisionRefused as exc:
            raise ApiError(422, f"body.{exc.field}", exc.reason) from exc
        log.info(
            "decision %s on audit %s rules=%s%s",
            body.decision,
            audit_id,
            ",".join(done.rule_ids),
            " (replayed)" if done.replayed else "",
        )
        return _json(decision_json(done.decision), 200 if done.replayed else 201)

    @app.get("/v1/audits/{audit_id}/decisions", tags=["review"])
    def get_decisions(audit_id: str) -> Any:
        """Pharmacist decisions and prescriber overrides (CDS feedback) on one audit, oldest first."""
        decisions, feedback = store.decisions(audit_id)
        return _json(
            {
                "audit_id": audit_id,
                "decisions": [decision_json(d) for d in decisions],
                "overrides": [feedback_json(f) for f in feedback],
            }
        )

    # ------------------------------------------------------------------ FHIR
    @app.post(
        "/v1/fhir/audit",
        tags=["fhir"],
        response_model=None,
        responses={
            200: {
                "content": {"application/fhir+json": {}},
                "description": "Bundle (collection) of DetectedIssue",
            }
        },
    )
    def fhir_audit(
        bundle: Annotated[
            dict[str, Any],
            Body(
                description="FHIR R4B Bundle: MedicationRequest "
                "+ Patient, Condition, "
                "AllergyIntolerance, Observation"
            ),
        ],
        queue: bool = Query(True),
    ) -> Any:
        """Audit the MedicationRequests of a Bundle as one prescription; answer DetectedIssue resources.

        Age is taken on the request date: the earliest ``authoredOn``, else ``Bundle.timestamp``, else the
        server's date (UTC); the ``X-Request-Date`` and ``X-Request-Date-Source`` headers say which.
        """
        fc = fhir_read.bundle_to_case(bundle, kb=kb, lis=lis)
        report = run(fc.case, "body.entry")
        (audit_id,) = store.add_audits([report], "fhir", review=queue)
        out = fhir_write.report_to_bundle(report, fc, audit_id)
        log.info("fhir audit %s status=%s findings=%d", audit_id, report.status, len(report.findings))
        return _json(
            out,
            media="application/fhir+json",
            headers={
                "X-Audit-Id": audit_id,
                "X-Request-Date": fc.request_date.isoformat(),
                "X-Request-Date-Source": fc.request_date_source,
            },
        )

    @app.get("/v1/fhir/CodeSystem/audit-category", tags=["fhir"])
    def codesystem() -> Any:
        """The CodeSystem of finding categories used in DetectedIssue.code and card source.topic."""
        return _json(fhir_write.category_codesystem(), media="application/fhir+json")

    @app.get("/metadata", tags=["fhir"])
    def metadata(request: Request) -> Any:
        """The CapabilityStatement (FHIR 4.3.0 = R4B): the audit operation, formats and security."""
        base = str(request.base_url).rstrip("/")
        return _json(
            fhir_write.capability_statement(__version__, kb.version, base, jwt=verifier is not None),
            media="application/fhir+json",
        )

    # ------------------------------------------------------------------ CDS Hooks
    @app.get("/cds-services", tags=["cds-hooks"])
    def cds_discovery() -> Any:
        return _json(cds.discovery())

    def cds_authenticate(request: Any) -> None:
        """With a JWKS configured, a CDS call carries a JWT signed by a configured EHR (or, for loopback/dev,
        the service's bearer token); without one, the guard has already checked the token."""
        if verifier is None:
            return
        given = request.headers.get("authorization")
        if (
            config.token
            and given is not None
            and hmac.compare_digest(given.encode(), f"Bearer {config.token}".encode())
        ):
            return
        url = str(request.url).split("?", 1)[0]
        try:
            client = verifier.verify(given, url)
        except AuthError as exc:
            log.warning("cds jwt refused: %s", exc)
            raise ApiError(
                401,
                "header.authorization",
                f"CDS client not authenticated: {exc}",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
        log.info("cds client %s (kid %s)", client.iss, client.kid)

    @app.post("/cds-services/{service_id}", tags=["cds-hooks"])
    def cds_call(service_id: str, req: cds.HookRequest, request: Request) -> Any:
        """Run a hook: cards (indicator critical/warning/info) for the draft MedicationRequests;
        ``{"cards": []}`` when the draft orders hold no MedicationRequest to audit."""
        cds_authenticate(request)
        hook = cds.SERVICES.get(service_id)
        if hook is None:
            raise ApiError(404, "path.service_id", f"unknown service; known: {', '.join(cds.SERVICES)}")
        if req.hook != hook:
            raise ApiError(422, "body.hook", f"service {service_id} answers '{hook}', not '{req.hook}'")
        hc = cds.hook_to_case(req, kb, lis)
        if hc.fc is None:
            log.info("cds %s: no medication order to audit", hook)
            return _json({"cards": []})
        fc, missing = hc.fc, hc.missing
        report = run(fc.case, "body.context.draftOrders")
        selections = req.context.selections if hook == "order-select" else None
        cards, records = cds.build_cards(
            report, fc, label, missing=missing, selections=selections, outcomes=hc.outcomes
        )
        (audit_id,) = store.add_audits([report], f"cds-{hook}", review=hook == "order-sign", cards=[records])
        log.info("cds %s audit %s cards=%d missing_prefetch=%d", hook, audit_id, len(cards), len(missing))
        return _json({"cards": cards}, headers={"X-Audit-Id": audit_id})

    @app.post("/cds-services/{service_id}/feedback", tags=["cds-hooks"])
    def cds_feedback(service_id: str, req: cds.FeedbackRequest, request: Request) -> Any:
        """Record accepted / overridden (with a coded reason) per card uuid."""
        cds_authenticate(request)
        if service_id not in cds.SERVICES:
            raise ApiError(404, "path.service_id", f"unknown service; known: {', '.join(cds.SERVICES)}")
        entries = cds.feedback_entries(req)
        try:
            rows = store.add_feedback(entries)
        except NotFound as exc:
            raise ApiError(
                404, f"body.{exc.args[0]}", "unknown card uuid (not issued by this service)"
            ) from exc
        log.info(
            "cds feedback: %d entries (%d overridden)",
            len(rows),
            sum(r.outcome == "overridden" for r in rows),
        )
        return _json({"recorded": len(rows)})

    wrapped = Guard(
        AuditFastPath(app, audit_stored) if config.fast_audit_path else app,
        token=config.token,
        max_body_bytes=config.max_body_bytes,
        app_auth_prefix="/cds-services" if verifier is not None else None,
        allowed_hosts=host_allow_list(config),
    )
    # Tests and the CLI reach the FastAPI object (state, openapi) through the guard.
    wrapped.fastapi = app  # type: ignore[attr-defined]
    return wrapped
