"""The fast ways through ``POST /v1/audit`` (issue 16) give exactly what the general ones give.

* the request: a JSON case validated straight from the bytes vs FastAPI's own parse and validation;
* the report text: orjson / ``model_dump_json`` vs ``json.dumps(report.to_json_dict())``;
* the engine: findings built without ``model_construct``, per-KB memos of indications, allergens and
  drug facts, per-audit memo of dose limits (the regression rule cases check their outcomes too).
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from tests.unit.test_service_api import block_case, ok_case, warn_case
from toolkit.audit import audit
from toolkit.audit.context import _construct
from toolkit.knowledge.conditions import icd_matches
from toolkit.records import AuditCase, AuditReport, Category, Finding, Severity
from toolkit.service import ServiceConfig, create_app
from toolkit.service.store import _plain_json, report_json, report_text


def _dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


@pytest.fixture
def client(tmp_path: Path, kb: Any) -> TestClient:
    cfg = ServiceConfig(db_url=f"sqlite:///{tmp_path / 'clinic.db'}")
    return TestClient(create_app(cfg, knowledge=kb), base_url="http://127.0.0.1")


@pytest.mark.parametrize("make", [block_case, warn_case, ok_case])
def test_fast_and_standard_request_paths_answer_the_same(client: TestClient, make: Any) -> None:
    body = json.dumps(make(), ensure_ascii=False).encode()
    fast = client.post("/v1/audit", content=body, headers={"content-type": "application/json"})
    # a query or another spelling of the content type takes FastAPI's own handler
    slow_query = client.post(
        "/v1/audit?queue=true", content=body, headers={"content-type": "application/json"}
    )
    slow_type = client.post(
        "/v1/audit", content=body, headers={"content-type": "application/json; charset=utf-8"}
    )
    assert fast.status_code == slow_query.status_code == slow_type.status_code == 200
    assert fast.content == slow_query.content == slow_type.content
    ids = {r.headers["x-audit-id"] for r in (fast, slow_query, slow_type)}
    assert len(ids) == 3  # each stored
    for r in (fast, slow_query, slow_type):
        stored = client.get(f"/v1/audits/{r.headers['x-audit-id']}").json()
        assert stored["report"] == json.loads(fast.content)
        assert stored["awaiting_review"] == (stored["status"] != "ok")


def test_queue_false_still_honoured(client: TestClient) -> None:
    r = client.post("/v1/audit?queue=false", json=block_case())
    assert r.status_code == 200
    assert client.get(f"/v1/audits/{r.headers['x-audit-id']}").json()["awaiting_review"] is False


@pytest.mark.parametrize(
    "content",
    [b'{"id": "x", ', b'{"patient": {}}', b'{"id": "x", "patient": {"age": 500}}', b"", b"[1, 2]"],
)
def test_bodies_the_fast_path_refuses_get_fastapis_answer(client: TestClient, content: bytes) -> None:
    a = client.post("/v1/audit", content=content, headers={"content-type": "application/json"})
    b = client.post("/v1/audit?queue=true", content=content, headers={"content-type": "application/json"})
    assert a.status_code == b.status_code == 422
    assert a.json() == b.json()


def _without_id(r: Any) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in r.headers.items() if k not in ("x-audit-id", "location")}
    return r.status_code, r.content, headers


@pytest.mark.parametrize("make", [block_case, ok_case])
def test_the_asgi_fast_path_answers_as_fastapis_route(tmp_path: Path, kb: Any, make: Any) -> None:
    """AuditFastPath (in front of FastAPI) and the FastAPI route give the same status, headers and body;
    both store the audit and point to it."""
    answers = []
    for fast in (True, False):
        cfg = ServiceConfig(db_url=f"sqlite:///{tmp_path / f'{fast}.db'}", fast_audit_path=fast)
        with TestClient(create_app(cfg, knowledge=kb), base_url="http://127.0.0.1") as c:
            r = c.post("/v1/audit", json=make())
            assert r.headers["location"] == f"/v1/audits/{r.headers['x-audit-id']}"
            assert c.get(r.headers["location"]).json()["report"] == r.json()
            answers.append(_without_id(r))
    assert answers[0] == answers[1]


def test_the_asgi_fast_path_answers_limits_and_chunked_bodies_as_fastapi(tmp_path: Path, kb: Any) -> None:
    """A case over max_items is the same located 422 either way; a body sent without Content-Length
    (chunked) is read whole by the fast path."""
    case = block_case()
    case["prescription"]["items"] = case["prescription"]["items"] * 3
    body = json.dumps(case, ensure_ascii=False).encode()
    answers = []
    for fast in (True, False):
        cfg = ServiceConfig(db_url=f"sqlite:///{tmp_path / f'{fast}.db'}", fast_audit_path=fast, max_items=2)
        with TestClient(create_app(cfg, knowledge=kb), base_url="http://127.0.0.1") as c:
            over = c.post("/v1/audit", content=body, headers={"content-type": "application/json"})
            assert over.status_code == 422
            assert "max_items" in over.json()["detail"][0]["msg"]
            answers.append(_without_id(over))
            chunked = c.post(
                "/v1/audit",
                content=iter([body[:10], body[10:]]),
                headers={"content-type": "application/json"},
            )
            assert chunked.status_code == 422 and chunked.json() == over.json()
    assert answers[0] == answers[1]


class _Level(StrEnum):
    HIGH = "high"


@pytest.mark.parametrize(
    "evidence",
    [
        {"x": 1e-5, "y": 0.5},
        {"x": 1e16},
        {"x": float("nan"), "y": [float("inf"), -0.0]},
        {"x": 2**70},
        {"x": _Level.HIGH},
        {"x": {"nested": [0.0001, 123.25, "中文\n\x01\u2028", None, True]}},
        {"x": (1, 2.5)},
        {"labs.egfr": 25.0},
    ],
)
def test_report_json_is_exactly_json_dumps_of_to_json_dict(evidence: dict[str, Any]) -> None:
    finding = Finding(
        rule_id="RX-T-001",
        category=Category.DOSE,
        severity=Severity.WARN,
        message="m",
        evidence=evidence,
        references=("ref",),
    )
    report = AuditReport(id="c", status="flagged", findings=(finding,), risk=0.25)
    want = _dumps(report.to_json_dict())
    assert report_text(report.to_json_dict()) == want
    assert report_json(report) == want


def test_report_json_of_real_reports(kb: Any) -> None:
    for body in (block_case(), warn_case(), ok_case()):
        report = audit(AuditCase.model_validate(body), kb)
        assert report_json(report) == _dumps(report.to_json_dict())


def test_plain_json_rejects_what_encoders_write_differently() -> None:
    assert _plain_json({"a": [1, "x", None, True, 0.5, 0.0, {"b": 1e15}]})
    for value in (1e-5, 1e16, float("nan"), -math.inf, _Level.HIGH, {1: "x"}, {3.0}):
        assert not _plain_json({"a": [value]}), value


def test_fast_finding_construction_equals_model_construct() -> None:
    values = {
        "rule_id": "RX-T-001",
        "rule_version": 2,
        "category": Category.DOSE,
        "severity": Severity.BLOCK,
        "drugs": ("a",),
        "message": "m",
        "evidence": {"k": 1},
        "references": ("r",),
        "source": "rule",
        "items": (0,),
        "dianping": None,
    }
    assert list(values) == list(Finding.model_fields)  # _construct relies on this order
    fast, slow = _construct(Finding, dict(values)), Finding.model_construct(**values)
    assert fast == slow
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump_json() == slow.model_dump_json()


def test_icd_spec_test_matches_icd_matches() -> None:
    from toolkit.knowledge.conditions import IcdSpecs  # shared by the checks and compiled icd_in leaves

    specs = frozenset({"E11", "I10", "I20-I25", "J45.9", "K21"})
    fast = IcdSpecs.of(specs)
    codes = [None, "", "E11", "e11.9", "E1", "I10", "I21.4", "I25", "I26", "J45", "J45.9", "J45.90", "K21.0"]
    for code in codes:
        assert fast.matches(code) == any(icd_matches(code, s) for s in specs), code


def test_the_wal_is_checkpointed_off_the_event_loop_and_truncated_at_shutdown(
    tmp_path: Path, kb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits on the loop never checkpoint (wal_autocheckpoint=0); the service's own task does, in a
    thread, and the last one at shutdown leaves an empty WAL with every audit in the database file."""
    import sqlite3
    import threading
    import time

    from toolkit.service import app as app_module
    from toolkit.service import db as db_module

    calls: list[tuple[str, bool]] = []
    real = db_module.checkpoint

    def spy(engine: Any, mode: str = "PASSIVE") -> None:
        calls.append((mode, threading.current_thread() is threading.main_thread()))
        real(engine, mode)

    monkeypatch.setattr(db_module, "checkpoint", spy)
    monkeypatch.setattr(app_module, "CHECKPOINT_INTERVAL_S", 0.05)
    path = tmp_path / "clinic.db"
    cfg = ServiceConfig(db_url=f"sqlite:///{path}")
    with TestClient(create_app(cfg, knowledge=kb), base_url="http://127.0.0.1") as client:
        for k in range(30):
            assert client.post("/v1/audit", json=ok_case(f"RX-WAL-{k}")).status_code == 200
        with sqlite3.connect(path) as con:
            assert con.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # a fresh connection
        deadline = time.monotonic() + 5
        while not any(mode == "PASSIVE" for mode, _ in calls) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert ("PASSIVE", False) in calls  # from a worker thread, while serving
    assert calls[-1][0] == "TRUNCATE"
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM audits").fetchone()[0] == 30


def test_sqlite_audit_rows_written_raw_are_what_sqlalchemy_writes(tmp_path: Path, kb: Any) -> None:
    """Store.write_jobs writes SQLite audit rows through the driver (_sqlite_row): every column holds the
    same value of the same SQLite type as SQLAlchemy's insert of the same row, and reads back the same."""
    import sqlite3

    from toolkit.service.db import AuditRow, make_engine, migrate, session_factory
    from toolkit.service.store import Store

    reports = [audit(AuditCase.model_validate(make()), kb) for make in (block_case, warn_case, ok_case)]
    reports.append(reports[0].model_copy(update={"risk": 0.25, "id": "x" * 300}))
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    store = Store(session_factory(engine), engine)
    _, _, job = store.prepare_audits(reports, "json", want_docs=False)
    store.write_jobs([job])  # the raw path
    with engine.begin() as conn:  # SQLAlchemy's insert of the same rows under other ids
        conn.execute(store._insert_audits, [{**row, "id": "s" + row["id"][1:]} for row in job.audits])
    db = sqlite3.connect(tmp_path / "a.db")
    cols = [c.name for c in AuditRow.__table__.c]
    typed = ", ".join(f"{c}, typeof({c})" for c in cols if c != "id")
    for row in job.audits:
        raw, alchemy = (
            db.execute(f"SELECT {typed} FROM audits WHERE id = ?", (i,)).fetchone()
            for i in (row["id"], "s" + row["id"][1:])
        )
        assert raw == alchemy
        with store.session() as s:
            a, b = s.get(AuditRow, row["id"]), s.get(AuditRow, "s" + row["id"][1:])
            assert [getattr(a, c) for c in cols if c != "id"] == [getattr(b, c) for c in cols if c != "id"]
            assert a.awaiting_review is (row["awaiting_review"]) and a.created_at.tzinfo is not None


def test_memoised_dose_resolution_equals_a_fresh_one(kb: Any) -> None:
    """resolve_item's per-KB memo of a written product's dose (_dose_of_product) gives what _resolve_dose
    gives: the same line resolved cold, warm, and with the memo bypassed, for every line of the labelled
    cases (doses in mg, in tablets with and without a strength, impossible and implausible ones)."""
    from dataclasses import asdict

    from toolkit.audit import resolve as R
    from toolkit.audit.index import rule_index

    root = Path(__file__).resolve().parents[2]
    rows = [json.loads(line) for line in (root / "eval/data/audit_cases.jsonl").read_text().splitlines()]
    cases = [AuditCase.model_validate({"id": row["id"], **row["case"]}) for row in rows]
    items = [item for case in cases for item in case.prescription.items]
    extra = [
        items[0].model_copy(update={"dose": d, "unit": u}) for d, u in ((-5, "mg"), (0.001, "g"), (40, "片"))
    ]
    memo = rule_index(kb).memo
    for key in [k for k in memo if k[0] == "dose"]:
        del memo[key]

    def fields(r: Any) -> dict[str, Any]:
        return {k: v for k, v in asdict(r).items() if k != "item"} | {"item": r.item}

    for item in items + extra:
        cold = fields(R.resolve_item(0, item, kb))
        warm = fields(R.resolve_item(0, item, kb))
        bare = R.ResolvedItem(index=0, item=item)
        bare.frequency, bare.route = R.parse_frequency(item.frequency), R.normalize_route(item.route)
        product = R._product(item.drug, bare.route, item.unit, item.strength, kb)
        bare.match, bare.known, bare.local_form, bare.drug, bare.keys, bare.form, bare.strength = product
        if bare.drug is not None:
            R._resolve_dose(bare, kb)
        assert cold == warm == fields(bare), item
    assert any(k[0] == "dose" for k in memo)


def test_the_asgi_fast_path_answers_a_crash_as_fastapi(
    tmp_path: Path, kb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error inside the audit is the app's 500 byte for byte (status, headers, body), and the
    guard still sees the exception (it logs its type)."""
    import toolkit.audit as audit_module

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(audit_module, "audit", crash)
    answers = []
    for fast in (True, False):
        cfg = ServiceConfig(db_url=f"sqlite:///{tmp_path / f'{fast}.db'}", fast_audit_path=fast)
        with TestClient(
            create_app(cfg, knowledge=kb), base_url="http://127.0.0.1", raise_server_exceptions=False
        ) as c:
            r = c.post("/v1/audit", json=ok_case())
            assert r.status_code == 500 and r.json() == {"detail": [{"loc": "", "msg": "internal error"}]}
            answers.append(_without_id(r))
    assert answers[0] == answers[1]
