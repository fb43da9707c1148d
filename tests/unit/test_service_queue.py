"""The review queue page built inside SQLite (one aggregate row) answers exactly what the row-by-row
path answers; and the retention rule for stored audits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient

from tests.unit.test_service_api import block_case, ok_case, warn_case
from toolkit.audit import audit
from toolkit.records import AuditCase
from toolkit.service import ServiceConfig, create_app

RISKS = [None, 0.1, 1 / 3, 0.1 + 0.2, 1e-05, 1.0, 0.0, 0.987654321012345]


@pytest.fixture
def client(tmp_path: Path, kb: Any) -> TestClient:
    return TestClient(
        create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'q.db'}"), knowledge=kb),
        base_url="http://127.0.0.1",
    )


def seed(client: TestClient, kb: Any, n: int = 23) -> None:
    """``n`` queued audits of three severities, odd risks, some timestamps on a whole second."""
    store = client.app.fastapi.state.store
    makers = [block_case, warn_case, ok_case]
    reports = []
    for i in range(n):
        body = makers[i % 3](f"RX-{i}")
        report = audit(AuditCase.model_validate(body), kb)
        reports.append(report.model_copy(update={"risk": RISKS[i % len(RISKS)]}))
    _ids, _docs, job = store.prepare_audits(reports, "json", review=True)
    start = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)
    for i, row in enumerate(job.audits):
        # several rows share a timestamp (the id breaks the tie); every fourth is on a whole second
        row["created_at"] = start + timedelta(seconds=i // 2, microseconds=0 if i % 4 == 0 else 1234 * i)
        row["awaiting_review"] = True  # the ok ones too, so ranks -1 and 0 appear in the order
    store.write_jobs([job])


def walk(client: TestClient, limit: int) -> list[dict[str, Any]]:
    items, after = [], None
    while True:
        resp = client.get("/v1/review-queue", params={"limit": limit, **({"after": after} if after else {})})
        assert resp.status_code == 200
        page = resp.json()
        items += page["items"]
        after = page["next"]
        if after is None:
            return items


@pytest.mark.parametrize("limit", [1, 4, 50])
def test_sql_page_equals_the_row_by_row_page(client: TestClient, kb: Any, limit: int) -> None:
    seed(client, kb)
    store = client.app.fastapi.state.store
    assert store.page_in_sql
    fast = walk(client, limit)
    fast_offset = client.get("/v1/review-queue", params={"limit": limit, "offset": 5}).json()
    store.page_in_sql = False
    slow = walk(client, limit)
    slow_offset = client.get("/v1/review-queue", params={"limit": limit, "offset": 5}).json()
    assert len(slow) == 23
    assert fast == slow  # every field, the spliced report and the order
    assert fast_offset == slow_offset
    ranks = [(-store.get_audit(i["audit_id"]).severity_rank, i["created_at"], i["audit_id"]) for i in fast]
    assert ranks == sorted(ranks)
    # floats read back exactly, whatever digits SQLite printed
    assert sorted(map(str, {i["risk"] for i in fast})) == sorted(map(str, set(RISKS)))


def test_sql_page_item_text_is_valid_json_with_non_ascii(client: TestClient, kb: Any) -> None:
    seed(client, kb, 3)
    items, last, n = client.app.fastapi.state.store.queue_page_sql(10)
    assert n == 3 and last is not None and last[1].tzinfo is not None
    parsed = json.loads(items)
    assert any("阿莫西林" in json.dumps(i["report"], ensure_ascii=False) for i in parsed)
    assert parsed[0]["created_at"].endswith("+00:00")


# --------------------------------------------------------------------------- retention


def _age(client: TestClient, audit_id: str, days: float) -> None:
    from sqlalchemy import update

    from toolkit.service.db import AuditRow

    store = client.app.fastapi.state.store
    with store.session() as s, s.begin():
        s.execute(
            update(AuditRow)
            .where(AuditRow.id == audit_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=days))
        )


def test_retention_removes_old_decided_audits_and_never_one_awaiting_review(tmp_path: Path, kb: Any) -> None:
    from toolkit.service.store import NotFound

    archive = tmp_path / "archive.jsonl"
    client = TestClient(
        create_app(
            ServiceConfig(
                db_url=f"sqlite:///{tmp_path / 'r.db'}", retention_days=400, retention_archive=str(archive)
            ),
            knowledge=kb,
        ),
        base_url="http://127.0.0.1",
    )
    post = lambda body, **q: client.post("/v1/audit", json=body, params=q).headers["x-audit-id"]  # noqa: E731
    old_decided, old_waiting, old_ok = (
        post(block_case("OLD-D")),
        post(block_case("OLD-W")),
        post(ok_case("OLD-OK")),
    )
    new_decided, new_unqueued = post(warn_case("NEW-D")), post(warn_case("NEW-U"), queue="false")
    for audit_id in (old_decided, new_decided):
        r = client.post(
            f"/v1/audits/{audit_id}/decisions",
            json={"decision": "return", "pharmacist": "王药师", "reason": "剂量过大"},
        )
        assert r.status_code == 201
    for audit_id in (old_decided, old_waiting, old_ok):
        _age(client, audit_id, 401)
    _age(client, new_decided, 399)

    assert client.app.fastapi.state.purge_once() == 2  # the old decided one and the old one never queued
    store = client.app.fastapi.state.store
    for gone in (old_decided, old_ok):
        with pytest.raises(NotFound):
            store.get_audit(gone)
    for kept in (old_waiting, new_decided, new_unqueued):
        assert store.get_audit(kept).id == kept
    assert [i["audit_id"] for i in client.get("/v1/review-queue").json()["items"]] == [old_waiting]
    assert len(client.get(f"/v1/audits/{new_decided}/decisions").json()["decisions"]) == 1

    lines = [json.loads(x) for x in archive.read_text(encoding="utf-8").splitlines()]
    by_id = {x["audit"]["id"]: x for x in lines}
    assert set(by_id) == {old_decided, old_ok}
    assert by_id[old_decided]["decisions"][0]["reason"] == "剂量过大"
    assert by_id[old_decided]["audit"]["report"]["max_severity"] == "block"
    assert archive.stat().st_mode & 0o777 == 0o600
    assert client.app.fastapi.state.purge_once() == 0  # idempotent


def test_retention_walks_many_batches_and_keeps_the_waiting(client: TestClient, kb: Any) -> None:
    store = client.app.fastapi.state.store
    report = audit(AuditCase.model_validate(block_case()), kb)
    _ids, _docs, job = store.prepare_audits([report] * 25, "json", review=True)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for i, row in enumerate(job.audits):
        row["created_at"] = start + timedelta(seconds=i // 3)  # ties on created_at across batches
        row["awaiting_review"] = i % 5 == 0
    store.write_jobs([job])
    assert store.purge(datetime(2021, 1, 1, tzinfo=UTC), batch=4) == 20
    left = [r.id for r in store.queue(100)]
    assert sorted(left) == sorted(row["id"] for row in job.audits if row["awaiting_review"])
    with pytest.raises(ValueError):
        store.purge(datetime(2021, 1, 1))  # a naive cut-off is refused


def test_retention_settings_are_checked(tmp_path: Path, kb: Any) -> None:
    from toolkit.errors import ToolkitError

    with pytest.raises(ToolkitError, match="retention_days"):
        create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'x.db'}", retention_days=0.5), knowledge=kb)


def test_the_service_applies_retention_while_it_runs(tmp_path: Path, kb: Any) -> None:
    import time

    from toolkit.service.store import NotFound

    db = f"sqlite:///{tmp_path / 'run.db'}"
    first = TestClient(create_app(ServiceConfig(db_url=db), knowledge=kb), base_url="http://127.0.0.1")
    old = first.post("/v1/audit", json=ok_case()).headers["x-audit-id"]
    _age(first, old, 30)
    app = create_app(ServiceConfig(db_url=db, retention_days=7), knowledge=kb)
    with TestClient(app, base_url="http://127.0.0.1"):  # runs the start-up, so the retention task
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                app.fastapi.state.store.get_audit(old)
            except NotFound:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the retention task did not run at start-up")
