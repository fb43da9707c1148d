"""HTTP service for HIS/EMR pre-audit (``clinic serve``): JSON, FHIR R4B, CDS Hooks, review queue.

Needs the ``service`` extra (fastapi, uvicorn, sqlalchemy, alembic, fhir.resources; psycopg for
PostgreSQL); nothing heavy is imported until :func:`create_app` or :func:`serve` is called.

Endpoints (OpenAPI at ``/openapi.json``, docs at ``/docs``):

=========================================  ==========================================================
``POST /v1/audit``                          AuditCase JSON → ``AuditReport.to_json_dict()``; header
                                            ``X-Audit-Id``. ``?queue=false`` keeps it out of the queue.
``POST /v1/audit/batch``                    list of cases (≤ ``--max-batch``) → ``{"audits": [...]}``
``POST /v1/fhir/audit``                     FHIR R4B Bundle → Bundle of DetectedIssue
``GET  /v1/fhir/CodeSystem/audit-category`` the category CodeSystem used in DetectedIssue.code
``GET  /cds-services``                      CDS Hooks discovery (``rx-preaudit``: order-sign,
                                            ``rx-preaudit-select``: order-select)
``POST /cds-services/{id}``                 hook call → cards
``POST /cds-services/{id}/feedback``        accepted / overridden per card uuid (with reason code)
``GET  /v1/review-queue``                   audits awaiting a pharmacist: error, block, warn; oldest first
``POST /v1/audits/{audit_id}/decisions``    pass / return / override (双签)
``GET  /v1/audits/{audit_id}/decisions``    pharmacist decisions + prescriber overrides
``GET  /v1/audits/{audit_id}``              the stored audit (report JSON, risk, kb version)
``GET  /healthz``                           versions only; the one path open without a token
=========================================  ==========================================================

Safety: binds 127.0.0.1 by default and refuses any other host unless a bearer token is set
(``ServiceConfig.token``: ``clinic serve`` reads ``--token-file`` or ``CLINIC_API_TOKEN``); bodies over
``--max-body`` (1 MiB) get 413; invalid input gets 4xx with ``{"detail": [{"loc": "body.patient.age",
"msg": …}]}`` and the submitted values are not echoed; logs carry ids, counts and rule ids only. The
database keeps the report JSON and the case id as sent by the HIS (send a prescription key, not a name or
ID-card number); ``patient.id`` and the record text are never stored.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from toolkit.errors import require

from .config import ServiceConfig, check_bind, read_token

log = logging.getLogger(__name__)


def create_app(config: ServiceConfig | None = None, knowledge: Any = None) -> Any:
    """The ASGI app (FastAPI behind the auth/size guard); see :mod:`toolkit.service.app`."""
    from .app import create_app as _create

    return _create(config, knowledge)


def serve(config: ServiceConfig, *, on_started: Any = None) -> None:
    """Run the service with uvicorn until interrupted. Refuses a non-loopback bind without a token.

    ``on_started(app)`` is called once the socket listens (``clinic serve`` prints where, and with what);
    ``serve`` returns after uvicorn's shutdown."""
    check_bind(config)
    uvicorn = require("uvicorn", "service")
    app = create_app(config)
    log.info("serving on %s:%d (auth %s)", config.host, config.port, "on" if config.token else "off")
    # Access logs are off: request lines could carry identifiers in query strings.
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            access_log=False,
            log_level="warning",
            proxy_headers=False,
            server_header=False,
        )
    )
    if on_started is not None:
        startup = server.startup

        async def _startup(sockets: Any = None) -> None:
            await startup(sockets=sockets)
            if server.started:
                on_started(app)

        server.startup = _startup  # type: ignore[method-assign]
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
        server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run


__all__ = ["ServiceConfig", "check_bind", "create_app", "read_token", "serve"]
