"""The service against a real PostgreSQL (psycopg 3): migrations, audits, decisions, CDS feedback, restart.

Runs when ``CLINIC_TEST_PG_URL`` is set (e.g. ``postgresql+psycopg://clinic:clinic@127.0.0.1/clinic_test``);
each run works in a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

PG_URL = os.environ.get("CLINIC_TEST_PG_URL")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not PG_URL, reason="set CLINIC_TEST_PG_URL to run the PostgreSQL tests"),
]


@pytest.fixture
def pg_url() -> Any:
    pytest.importorskip("psycopg")
    pytest.importorskip("fastapi")
    from sqlalchemy import text

    from toolkit.service.db import make_engine

    assert PG_URL is not None
    schema = f"clinic_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_postgres_round_trip_survives_restart(pg_url: str, kb: Any) -> None:
    from fastapi.testclient import TestClient

    from tests.unit.test_service_api import block_case, ok_case, warn_case
    from tests.unit.test_service_cds import hook_request
    from toolkit.service import ServiceConfig, create_app
    from toolkit.service.db import current_revision, head_revision, make_engine, migrate

    engine = make_engine(pg_url)
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    assert migrate(engine) == head_revision(engine)

    first = TestClient(
        create_app(ServiceConfig(db_url=pg_url, auto_migrate=False), knowledge=kb),
        base_url="http://127.0.0.1",
    )  # the Host allow-list answers loopback names only
    warn_id = first.post("/v1/audit", json=warn_case()).headers["x-audit-id"]
    block_id = first.post("/v1/audit", json=block_case()).headers["x-audit-id"]
    first.post("/v1/audit", json=ok_case())
    assert [i["audit_id"] for i in first.get("/v1/review-queue").json()["items"]] == [block_id, warn_id]
    r = first.post(
        f"/v1/audits/{block_id}/decisions",
        json={
            "decision": "override",
            "pharmacist": "药师甲",
            "prescriber": "王医生",
            "reason": "已评估获益大于风险",
        },
    )
    assert r.status_code == 201
    hook = first.post("/cds-services/rx-preaudit", json=hook_request())
    cds_id, card = hook.headers["x-audit-id"], hook.json()["cards"][0]
    fb = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-20T09:30:00+08:00",
                "overrideReason": {"reason": {"code": "patient-informed-consent"}},
            }
        ]
    }
    assert first.post("/cds-services/rx-preaudit/feedback", json=fb).status_code == 200
    first.close()

    second = TestClient(
        create_app(ServiceConfig(db_url=pg_url), knowledge=kb),  # auto-migrate is a no-op now
        base_url="http://127.0.0.1",
    )
    assert current_revision(engine) == head_revision(engine)
    decisions = second.get(f"/v1/audits/{block_id}/decisions").json()["decisions"]
    assert [(d["decision"], d["prescriber"]) for d in decisions] == [("override", "王医生")]
    assert decisions[0]["created_at"].endswith("+00:00")
    overrides = second.get(f"/v1/audits/{cds_id}/decisions").json()["overrides"]
    assert overrides[0]["override_reason"]["code"] == "patient-informed-consent"
    assert [i["audit_id"] for i in second.get("/v1/review-queue").json()["items"]] == [cds_id, warn_id]
    engine.dispose()
