"""The HTTP API for HIS/EMR pre-audit: JSON, FHIR R4B and CDS Hooks, plus the pharmacist review queue.

``create_app(config)`` builds one FastAPI app with its knowledge base and decision store; routes only
parse, call :func:`toolkit.audit.audit` and the store, and shape the answer. Logs carry ids, counts
and rule ids, never patient data or free text.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations (built inside
# create_app from the config) at runtime.

import contextlib
import json
import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolkit.errors import InputError, ToolkitError, require
from toolkit.knowledge.loader import Knowledge
from toolkit.records import AuditCase, AuditReport

from .config import ServiceConfig
from .store import NotFound, Store, decision_problem

log = logging.getLogger(__name__)

JSON = "application/json"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None, media: str = JSON) -> Any:
    from fastapi import Response

    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(), status_code=status,
                    media_type=media, headers=headers)


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
    prescriber: str | None = Field(default=None, max_length=64,
                                   description="prescriber's signature for an override (双签)")
    rule_ids: list[str] | None = Field(default=None, max_length=200,
                                       description="findings the decision is about; default: all")


class ApiError(Exception):
    """A located client error (status, field path, message)."""

    def __init__(self, status: int, loc: str, msg: str):
        super().__init__(msg)
        self.status, self.loc, self.msg = status, loc, msg


def create_app(config: ServiceConfig | None = None, knowledge: Knowledge | None = None) -> Any:
    """Build the service. Migrates the database first when ``config.auto_migrate``."""
    require("fastapi", "service")
    require("sqlalchemy", "service")
    from fastapi import Body, FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError

    from toolkit import __version__
    from toolkit.audit import audit
    from toolkit.knowledge import get_knowledge

    from . import cds, fhir_io
    from .db import current_revision, head_revision, make_engine, migrate, session_factory
    from .guard import Guard

    config = config or ServiceConfig()
    kb = knowledge or get_knowledge(config.rules_dir, config.local_rules)
    engine = make_engine(config.db_url)
    if config.auto_migrate:
        migrate(engine)
    elif current_revision(engine) != head_revision(engine):
        raise ToolkitError("the database schema is not up to date: run `clinic serve --migrate` first")
    store = Store(session_factory(engine), engine)
    label = f"{config.source_label} (KB {kb.version})"

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        yield
        store.writer.close()  # commit what is queued before the process ends
        engine.dispose()

    app = FastAPI(lifespan=lifespan, title="clinic-toolkit 处方前置审核服务", version=__version__,
                  description="Prescription pre-audit for HIS/EMR: JSON, FHIR R4B (MedicationRequest → "
                              "DetectedIssue), CDS Hooks (order-sign/order-select) and the pharmacist review "
                              "queue. Severity: block/warn/info = DetectedIssue high/moderate/low = card "
                              "critical/warning/info.")
    app.state.store, app.state.engine, app.state.knowledge, app.state.config = store, engine, kb, config

    # ------------------------------------------------------------------ errors
    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Any:
        # The input value is deliberately not echoed back (it may be patient data).
        detail = [{"loc": _loc(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()[:20]]
        return _json({"detail": detail}, 422)

    @app.exception_handler(InputError)
    async def _input(_request: Request, exc: InputError) -> Any:
        return _error(422, "body." + exc.field if exc.field else "body", exc.reason)

    @app.exception_handler(ApiError)
    async def _api(_request: Request, exc: ApiError) -> Any:
        return _error(exc.status, exc.loc, exc.msg)

    @app.exception_handler(NotFound)
    async def _missing(_request: Request, exc: NotFound) -> Any:
        return _error(404, "path.audit_id", "no such audit")

    @app.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception) -> Any:
        return _error(500, "", "internal error")  # logged by the guard, by type only

    # ------------------------------------------------------------------ models
    def decision_json(d: Any) -> dict[str, Any]:
        return {"id": d.id, "audit_id": d.audit_id, "decision": d.decision, "reason_code": d.reason_code,
                "reason": d.reason, "pharmacist": d.pharmacist, "prescriber": d.prescriber,
                "rule_ids": d.rule_ids, "kb_version": d.kb_version, "created_at": d.created_at.isoformat()}

    def feedback_json(f: Any) -> dict[str, Any]:
        return {"card": f.card_uuid, "audit_id": f.audit_id, "rule_id": f.rule_id, "kb_version": f.kb_version,
                "outcome": f.outcome, "override_reason": None if f.override_code is None else
                {"system": f.override_system, "code": f.override_code, "display": f.override_display},
                "user_comment": f.user_comment, "accepted_suggestions": f.accepted_suggestions,
                "outcome_timestamp": f.outcome_timestamp.isoformat() if f.outcome_timestamp else None,
                "received_at": f.received_at.isoformat()}

    def audit_json(row: Any) -> dict[str, Any]:
        return {"audit_id": row.id, "case_id": row.case_id, "source": row.source, "status": row.status,
                "max_severity": row.max_severity, "risk": row.risk, "awaiting_review": row.awaiting_review,
                "kb_version": row.kb_version, "created_at": row.created_at.isoformat(), "report": row.report}

    def run(case: AuditCase) -> AuditReport:
        return audit(case, kb)

    # ------------------------------------------------------------------ JSON
    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, Any]:
        """Liveness: versions only (open without a token; no data)."""
        return {"status": "ok", "kb_version": kb.version, "engine_version": __version__}

    @app.post("/v1/audit", tags=["audit"], response_model=None,
              responses={200: {"description": "AuditReport.to_json_dict(); X-Audit-Id header names the "
                                              "stored audit"}})
    async def audit_one(case: AuditCase,
                        queue: bool = Query(True, description="put a flagged prescription in the pharmacist "
                                                              "queue")) -> Any:
        """Audit one case; the answer is exactly the batch/JSONL report of that case."""
        # async on purpose: the audit is ~0.2 ms of CPU and the write waits on the group-commit
        # writer, so a threadpool hop would only add latency.
        report = run(case)
        (audit_id,), (doc,) = await store.add_audits_grouped([report], "json", review=queue)
        log.info("audit %s status=%s findings=%d", audit_id, report.status, len(report.findings))
        return _json(doc, headers={"X-Audit-Id": audit_id, "Location": f"/v1/audits/{audit_id}"})

    max_batch = config.max_batch

    @app.post("/v1/audit/batch", tags=["audit"], response_model=None)
    def audit_batch(cases: Annotated[list[AuditCase], Body(min_length=1, max_length=max_batch)],
                    queue: bool = Query(True)) -> Any:
        """Audit up to ``max_batch`` cases: ``{"audits": [{"audit_id", "report"}]}`` in input order."""
        reports = [run(c) for c in cases]
        ids, docs, job = store.prepare_audits(reports, "json-batch", review=queue)
        store.writer.submit(job).result()  # one transaction for the batch, shared with concurrent calls
        log.info("batch of %d audited", len(ids))
        return _json({"audits": [{"audit_id": i, "report": d} for i, d in zip(ids, docs, strict=True)]})

    @app.get("/v1/audits/{audit_id}", tags=["review"])
    def get_audit(audit_id: str) -> Any:
        return _json(audit_json(store.get_audit(audit_id)))

    @app.get("/v1/review-queue", tags=["review"])
    def review_queue(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> Any:
        """Audits awaiting a pharmacist decision: error, then block, warn; oldest first within a level."""
        return _json({"items": [audit_json(r) for r in store.queue(limit, offset)]})

    @app.post("/v1/audits/{audit_id}/decisions", tags=["review"], status_code=201)
    def add_decision(audit_id: str, body: DecisionIn) -> Any:
        """Record 审核通过 (pass), 退回医师 (return) or 双签放行 (override) for an audit."""
        row = store.get_audit(audit_id)
        problem = decision_problem(body.decision, body.reason, body.prescriber)
        if problem:
            raise ApiError(422, f"body.{problem[0]}", problem[1])
        known = [f["rule_id"] for f in row.report.get("findings", [])]
        rule_ids = body.rule_ids if body.rule_ids is not None else list(dict.fromkeys(known))
        for n, rid in enumerate(rule_ids):
            if rid not in known:
                raise ApiError(422, f"body.rule_ids[{n}]", f"rule {rid} is not a finding of this audit; "
                                                         f"findings: {', '.join(dict.fromkeys(known)) or 'none'}")
        d = store.add_decision(audit_id, decision=body.decision, pharmacist=body.pharmacist, rule_ids=rule_ids,
                               reason=body.reason, reason_code=body.reason_code, prescriber=body.prescriber)
        log.info("decision %s on audit %s rules=%s", body.decision, audit_id, ",".join(rule_ids))
        return _json(decision_json(d), 201)

    @app.get("/v1/audits/{audit_id}/decisions", tags=["review"])
    def get_decisions(audit_id: str) -> Any:
        """Pharmacist decisions and prescriber overrides (CDS feedback) on one audit, oldest first."""
        decisions, feedback = store.decisions(audit_id)
        return _json({"audit_id": audit_id, "decisions": [decision_json(d) for d in decisions],
                      "overrides": [feedback_json(f) for f in feedback]})

    # ------------------------------------------------------------------ FHIR
    @app.post("/v1/fhir/audit", tags=["fhir"], response_model=None,
              responses={200: {"content": {"application/fhir+json": {}},
                               "description": "Bundle (collection) of DetectedIssue"}})
    def fhir_audit(bundle: Annotated[dict[str, Any], Body(description="FHIR R4B Bundle: MedicationRequest "
                                                                      "+ Patient, Condition, "
                                                                      "AllergyIntolerance, Observation")],
                   queue: bool = Query(True)) -> Any:
        """Audit the MedicationRequests of a Bundle as one prescription; answer DetectedIssue resources.

        Age is taken on the request date: the earliest ``authoredOn``, else ``Bundle.timestamp``, else the
        server's date (UTC); the ``X-Request-Date`` and ``X-Request-Date-Source`` headers say which.
        """
        fc = fhir_io.bundle_to_case(bundle)
        report = run(fc.case)
        (audit_id,) = store.add_audits([report], "fhir", review=queue)
        out = fhir_io.report_to_bundle(report, fc, audit_id)
        log.info("fhir audit %s status=%s findings=%d", audit_id, report.status, len(report.findings))
        return _json(out, media="application/fhir+json",
                     headers={"X-Audit-Id": audit_id, "X-Request-Date": fc.request_date.isoformat(),
                              "X-Request-Date-Source": fc.request_date_source})

    @app.get("/v1/fhir/CodeSystem/audit-category", tags=["fhir"])
    def codesystem() -> Any:
        """The CodeSystem of finding categories used in DetectedIssue.code and card source.topic."""
        return _json(fhir_io.category_codesystem(), media="application/fhir+json")

    # ------------------------------------------------------------------ CDS Hooks
    @app.get("/cds-services", tags=["cds-hooks"])
    def cds_discovery() -> Any:
        return _json(cds.discovery())

    @app.post("/cds-services/{service_id}", tags=["cds-hooks"])
    def cds_call(service_id: str, req: cds.HookRequest) -> Any:
        """Run a hook: cards (indicator critical/warning/info) for the draft MedicationRequests."""
        hook = cds.SERVICES.get(service_id)
        if hook is None:
            raise ApiError(404, "path.service_id", f"unknown service; known: {', '.join(cds.SERVICES)}")
        if req.hook != hook:
            raise ApiError(422, "body.hook", f"service {service_id} answers '{hook}', not '{req.hook}'")
        fc, missing = cds.hook_to_case(req)
        report = run(fc.case)
        selections = req.context.selections if hook == "order-select" else None
        cards, records = cds.build_cards(report, fc, label, missing=missing, selections=selections)
        (audit_id,) = store.add_audits([report], f"cds-{hook}", review=hook == "order-sign", cards=[records])
        log.info("cds %s audit %s cards=%d missing_prefetch=%d", hook, audit_id, len(cards), len(missing))
        return _json({"cards": cards}, headers={"X-Audit-Id": audit_id})

    @app.post("/cds-services/{service_id}/feedback", tags=["cds-hooks"])
    def cds_feedback(service_id: str, req: cds.FeedbackRequest) -> Any:
        """Record accepted / overridden (with a coded reason) per card uuid."""
        if service_id not in cds.SERVICES:
            raise ApiError(404, "path.service_id", f"unknown service; known: {', '.join(cds.SERVICES)}")
        entries = cds.feedback_entries(req)
        try:
            rows = store.add_feedback(entries)
        except NotFound as exc:
            raise ApiError(404, f"body.{exc.args[0]}", "unknown card uuid (not issued by this service)") from exc
        log.info("cds feedback: %d entries (%d overridden)", len(rows),
                 sum(r.outcome == "overridden" for r in rows))
        return _json({"recorded": len(rows)})

    wrapped = Guard(app, token=config.token, max_body_bytes=config.max_body_bytes)
    # Tests and the CLI reach the FastAPI object (state, openapi) through the guard.
    wrapped.fastapi = app  # type: ignore[attr-defined]
    return wrapped
