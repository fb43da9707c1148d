"""Contract tests of the JSON API, the review queue and pharmacist decisions (SQLite, TestClient)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from tests.conftest import item, make_case
from tests.unit.test_service_fhir import fhir_bundle
from toolkit.audit import audit
from toolkit.errors import ToolkitError
from toolkit.service import ServiceConfig, create_app
from toolkit.service.config import check_bind, is_loopback, read_token

TOKEN = "s3cret-token-for-tests-0123456789"


def block_case(case_id: str = "RX-B") -> dict[str, Any]:
    """Metformin at eGFR 25 (block) and amoxicillin despite a penicillin allergy (block)."""
    return make_case(
        item("阿莫西林胶囊", dose=0.5, unit="g", frequency="tid", days=5),
        item("二甲双胍片", dose=0.5, unit="g", frequency="tid", days=28),
        age=72,
        sex="F",
        allergies=["青霉素"],
        labs={"egfr": 25},
        case_id=case_id,
        diagnoses=[("急性支气管炎", "J20.9"), ("2型糖尿病", "E11.9")],
    ).model_dump(mode="json")


def warn_case(case_id: str = "RX-W") -> dict[str, Any]:
    """Clopidogrel with omeprazole: a warn interaction in the fixture KB."""
    return make_case(
        item("氯吡格雷片", dose=75, unit="mg"),
        item("奥美拉唑肠溶胶囊", dose=20, unit="mg"),
        diagnoses=[("冠心病", "I25.1"), ("胃食管反流", "K21.9")],
        case_id=case_id,
    ).model_dump(mode="json")


def ok_case(case_id: str = "RX-OK") -> dict[str, Any]:
    return make_case(item("缬沙坦胶囊", dose=80, unit="mg", days=28), case_id=case_id).model_dump(mode="json")


@pytest.fixture
def make_client(tmp_path: Path, kb: Any):
    def _make(**cfg: Any) -> TestClient:
        cfg.setdefault("db_url", f"sqlite:///{tmp_path / 'clinic.db'}")
        return TestClient(create_app(ServiceConfig(**cfg), knowledge=kb), base_url="http://127.0.0.1")

    return _make


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client()


def locs(resp: Any) -> list[str]:
    return [d["loc"] for d in resp.json()["detail"]]


# --------------------------------------------------------------------------- /v1/audit


def test_audit_returns_exactly_the_report_json(client: TestClient, kb: Any) -> None:
    from toolkit.records import AuditCase

    body = block_case()
    resp = client.post("/v1/audit", json=body)
    assert resp.status_code == 200
    assert resp.json() == audit(AuditCase.model_validate(body), kb).to_json_dict()
    assert resp.json()["max_severity"] == "block"
    audit_id = resp.headers["x-audit-id"]
    assert resp.headers["location"] == f"/v1/audits/{audit_id}"
    stored = client.get(f"/v1/audits/{audit_id}").json()
    assert stored["report"] == resp.json() and stored["risk"] is None and stored["case_id"] == "RX-B"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"id": "x", "patient": {"age": 500}}, "body.patient.age"),
        ({"id": "x", "patient": {"agee": 50}}, "body.patient.agee"),
        ({"patient": {}}, "body.id"),
        ({"id": "x", "prescription": {"items": [{"drug": ""}]}}, "body.prescription.items[0].drug"),
        ({"id": "x", "patient": {"labs": {"egfrr": 30}}}, "body.patient.labs"),
    ],
)
def test_invalid_case_is_422_with_the_field_path(client: TestClient, body: dict[str, Any], loc: str) -> None:
    resp = client.post("/v1/audit", json=body)
    assert resp.status_code == 422
    assert loc in locs(resp)
    assert all("input" not in d for d in resp.json()["detail"])  # submitted values are not echoed back


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    resp = client.post("/v1/audit", content=b'{"id": "x", ', headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert locs(resp)[0].startswith("body")


def test_batch_audits_in_order_and_is_bounded(make_client: Any) -> None:
    client = make_client(max_batch=3)
    resp = client.post("/v1/audit/batch", json=[ok_case(), block_case()])
    assert resp.status_code == 200
    audits = resp.json()["audits"]
    assert [a["report"]["id"] for a in audits] == ["RX-OK", "RX-B"]
    assert [a["report"]["status"] for a in audits] == ["ok", "flagged"]
    assert client.post("/v1/audit/batch", json=[ok_case()] * 4).status_code == 422
    assert client.post("/v1/audit/batch", json=[]).status_code == 422
    bad = client.post("/v1/audit/batch", json=[ok_case(), {"id": "y", "patient": {"sex": "X"}}])
    assert bad.status_code == 422 and "body[1].patient.sex" in locs(bad)


# --------------------------------------------------------------------------- queue and decisions


def test_queue_orders_by_severity_then_time_and_skips_ok_and_unqueued(client: TestClient) -> None:
    w1 = client.post("/v1/audit", json=warn_case("W1")).headers["x-audit-id"]
    b1 = client.post("/v1/audit", json=block_case("B1")).headers["x-audit-id"]
    client.post("/v1/audit", json=ok_case("OK1"))
    client.post("/v1/audit?queue=false", json=block_case("B-draft"))
    w2 = client.post("/v1/audit", json=warn_case("W2")).headers["x-audit-id"]
    items = client.get("/v1/review-queue").json()["items"]
    assert [i["audit_id"] for i in items] == [b1, w1, w2]
    assert [i["max_severity"] for i in items] == ["block", "warn", "warn"]
    assert all("risk" in i for i in items)
    assert [i["audit_id"] for i in client.get("/v1/review-queue?limit=1&offset=1").json()["items"]] == [w1]
    assert client.get("/v1/review-queue?limit=0").status_code == 422


def test_decisions_are_validated_and_leave_the_queue(client: TestClient) -> None:
    audit_id = client.post("/v1/audit", json=block_case()).headers["x-audit-id"]
    url = f"/v1/audits/{audit_id}/decisions"
    r = client.post(url, json={"decision": "return", "pharmacist": "药师甲"})
    assert r.status_code == 422 and locs(r) == ["body.reason"]
    r = client.post(url, json={"decision": "override", "pharmacist": "药师甲", "reason": "获益大于风险"})
    assert r.status_code == 422 and locs(r) == ["body.prescriber"]
    r = client.post(url, json={"decision": "pass", "pharmacist": "药师甲"})
    assert r.status_code == 422 and locs(r) == ["body.reason"]  # passing a block (拦截) needs a reason
    r = client.post(
        url, json={"decision": "pass", "pharmacist": "药师甲", "reason": "已核实", "rule_ids": ["RX-NOPE-1"]}
    )
    assert r.status_code == 422 and locs(r) == ["body.rule_ids[0]"]
    r = client.post(url, json={"decision": "maybe", "pharmacist": "药师甲"})
    assert r.status_code == 422 and locs(r) == ["body.decision"]
    r = client.post(url, json={"decision": "pass", "pharmacist": ""})
    assert r.status_code == 422 and locs(r) == ["body.pharmacist"]
    assert (
        client.post("/v1/audits/nope/decisions", json={"decision": "pass", "pharmacist": "甲"}).status_code
        == 404
    )
    assert [i["audit_id"] for i in client.get("/v1/review-queue").json()["items"]] == [audit_id]

    r = client.post(
        url,
        json={
            "decision": "override",
            "pharmacist": "药师甲",
            "prescriber": "王医生",
            "reason": "已评估获益大于风险",
            "reason_code": "benefit-outweighs-risk",
            "rule_ids": ["RX-CI-001"],
        },
    )
    assert r.status_code == 201
    d = r.json()
    assert (
        d["rule_ids"] == ["RX-CI-001"]
        and d["kb_version"] == client.get(f"/v1/audits/{audit_id}").json()["kb_version"]
    )
    assert d["created_at"].endswith("+00:00")
    assert client.get("/v1/review-queue").json()["items"] == []
    r = client.post(url, json={"decision": "pass", "pharmacist": "药师乙", "reason": "复核"})
    assert r.status_code == 409  # one final decision per audit
    other = client.post("/v1/audit", json=block_case("RX-B2")).headers["x-audit-id"]
    r = client.post(
        f"/v1/audits/{other}/decisions",
        json={"decision": "pass", "pharmacist": "药师乙", "reason": "已电话核实"},
    )
    assert {"RX-CI-001", "RX-ALG-001"} <= set(r.json()["rule_ids"])  # default: every finding
    got = client.get(url).json()
    assert [x["decision"] for x in got["decisions"]] == ["override"]
    assert client.get("/v1/audits/nope/decisions").status_code == 404


def test_decisions_survive_a_restart(make_client: Any) -> None:
    first = make_client()
    audit_id = first.post("/v1/audit", json=block_case()).headers["x-audit-id"]
    pending = first.post("/v1/audit", json=warn_case()).headers["x-audit-id"]
    first.post(
        f"/v1/audits/{audit_id}/decisions",
        json={"decision": "return", "pharmacist": "药师甲", "reason": "请核对肾功能"},
    )
    first.close()
    second = make_client()  # a new app instance (new engine) on the same SQLite file
    got = second.get(f"/v1/audits/{audit_id}/decisions").json()["decisions"]
    assert [(d["decision"], d["reason"]) for d in got] == [("return", "请核对肾功能")]
    assert [i["audit_id"] for i in second.get("/v1/review-queue").json()["items"]] == [pending]


# --------------------------------------------------------------------------- safety


def test_token_is_required_when_configured(make_client: Any) -> None:
    client = make_client(token=TOKEN)
    assert client.post("/v1/audit", json=ok_case()).status_code == 401
    bad = client.post("/v1/audit", json=ok_case(), headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/cds-services").status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/v1/audit", json=ok_case(), headers=auth).status_code == 200
    assert client.get("/openapi.json", headers=auth).status_code == 200
    assert client.get("/healthz").status_code == 200  # liveness only, no data


def test_body_over_the_limit_is_413(make_client: Any) -> None:
    client = make_client(max_body_bytes=2048)
    big = block_case()
    big["record"] = {"现病史": "咳" * 2000}
    assert client.post("/v1/audit", json=big).status_code == 413

    def chunks():  # no Content-Length: counted while read
        yield b'{"id": "x", "record": {"\xe7\x8e\xb0\xe7\x97\x85\xe5\x8f\xb2": "'
        for _ in range(100):
            yield b"a" * 100
        yield b'"}}'

    assert (
        client.post("/v1/audit", content=chunks(), headers={"content-type": "application/json"}).status_code
        == 413
    )
    assert client.post("/v1/audit", json=ok_case()).status_code == 200


def test_openapi_is_published(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/v1/audit",
        "/v1/audit/batch",
        "/v1/review-queue",
        "/v1/audits/{audit_id}/decisions",
        "/v1/fhir/audit",
        "/cds-services",
        "/cds-services/{service_id}",
        "/cds-services/{service_id}/feedback",
    ):
        assert p in paths


def test_no_patient_identifier_or_free_text_in_logs_or_database(
    client: TestClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = block_case()
    body["patient"]["id"] = "ID-110101195403011234"
    body["record"] = {"主诉": "咳嗽三天SECRETTEXT"}
    caplog.set_level(logging.DEBUG)
    audit_id = client.post("/v1/audit", json=body).headers["x-audit-id"]
    client.post(
        f"/v1/audits/{audit_id}/decisions",
        json={"decision": "return", "pharmacist": "药师甲", "reason": "REASONTEXT 请核对"},
    )
    assert audit_id in caplog.text  # the log does say what happened
    for secret in ("110101195403011234", "SECRETTEXT", "REASONTEXT"):
        assert secret not in caplog.text
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("clinic.db*"))
    assert b"110101195403011234" not in raw and b"SECRETTEXT" not in raw


def test_bind_and_token_rules(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("::")
    check_bind(ServiceConfig(host="127.0.0.1"))
    with pytest.raises(ToolkitError, match="CLINIC_API_TOKEN"):
        check_bind(ServiceConfig(host="0.0.0.0"))
    check_bind(ServiceConfig(host="0.0.0.0", token=TOKEN))
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    assert read_token(f) == TOKEN
    assert read_token(f, token="another-token-of-16+") == TOKEN  # the file wins over the variable's value
    assert read_token(None, token=TOKEN) == TOKEN
    assert read_token(None) is None and read_token(None, token="  ") is None
    with pytest.raises(ToolkitError, match="16"):
        read_token(None, token="short")
    f.write_text("")
    with pytest.raises(ToolkitError, match="empty"):
        read_token(f)


def test_schema_must_be_migrated_when_auto_migrate_is_off(tmp_path: Path, kb: Any) -> None:
    from toolkit.service.db import current_revision, head_revision, make_engine, migrate

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with pytest.raises(ToolkitError, match="--migrate"):
        create_app(ServiceConfig(db_url=url, auto_migrate=False), knowledge=kb)
    engine = make_engine(url)
    assert migrate(engine) == migrate(engine) == head_revision(engine) == current_revision(engine)
    create_app(ServiceConfig(db_url=url, auto_migrate=False), knowledge=kb)


def test_cli_refuses_a_public_bind_without_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from toolkit.cli.main import app

    monkeypatch.delenv("CLINIC_API_TOKEN", raising=False)
    res = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert res.exit_code == 2 and "CLINIC_API_TOKEN" in res.output
    res = CliRunner().invoke(app, ["serve", "--migrate", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert res.exit_code == 0 and (tmp_path / "x.db").exists()


def test_a_storage_failure_is_500_and_logs_no_payload(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_jobs: Any) -> None:
        raise RuntimeError("disk full while writing 张三 110101195403011234")

    store = client.app.fastapi.state.store
    store.write_jobs = broken
    caplog.set_level(logging.DEBUG)
    for path, body in (
        ("/v1/audit", block_case()),
        ("/v1/audit/batch", [block_case()]),
        ("/v1/fhir/audit", fhir_bundle()),
    ):
        resp = client.post(path, json=body)
        # FHIR routes answer an OperationOutcome (issue 14); the others the {"detail": [...]} shape
        msg = (
            resp.json()["issue"][0]["diagnostics"]
            if path.startswith("/v1/fhir")
            else resp.json()["detail"][0]["msg"]
        )
        assert resp.status_code == 500 and msg == "internal error"
    assert "RuntimeError" in caplog.text and "110101195403011234" not in caplog.text
    del store.write_jobs
    assert client.post("/v1/audit", json=block_case()).status_code == 200  # the writers survived
    assert client.post("/v1/audit/batch", json=[block_case()]).status_code == 200


def test_group_writer_batches_waiting_jobs_and_reports_errors() -> None:
    import threading

    from toolkit.service.writer import GroupWriter

    gate = threading.Event()
    batches: list[list[int]] = []

    def write(jobs: Any) -> None:
        gate.wait(5)
        if -1 in jobs:
            raise ValueError("bad job")
        batches.append(list(jobs))

    w = GroupWriter(write)
    futures = [w.submit(i) for i in range(5)]  # the first batch blocks on the gate; the rest queue up
    gate.set()
    for f in futures:
        f.result(5)
    assert sorted(j for b in batches for j in b) == [0, 1, 2, 3, 4]
    assert len(batches) <= 2  # whatever queued while the first write ran went in one transaction
    with pytest.raises(ValueError, match="bad job"):
        w.submit(-1).result(5)
    w.submit(7).result(5)
    w.close()
    assert batches[-1] == [7]


def test_database_urls() -> None:
    from toolkit.service.db import make_engine

    pytest.importorskip("psycopg")
    engine = make_engine("postgresql://clinic:pw-not-shown@127.0.0.1/clinic")  # no connection is made
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    with pytest.raises(ToolkitError) as exc:
        make_engine("nosuchdb://clinic:pw-not-shown@host/db")
    assert "pw-not-shown" not in str(exc.value) and "nosuchdb" in str(exc.value)


def test_migrations_match_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from toolkit.service.db import Base, make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'drift.db'}")
    migrate(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
