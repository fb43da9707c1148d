"""Issue 16 on the service: limits, honest statuses in the queue, exclusive and idempotent decisions,
Host allow-list, bounded paging, one patient per FHIR request, bounded CDS feedback text."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from tests.conftest import item, make_case
from tests.unit.test_service_api import block_case, locs, ok_case, warn_case
from tests.unit.test_service_cds import hook_request
from tests.unit.test_service_fhir import fhir_bundle
from toolkit.evaluation.hostile import many_items
from toolkit.service import ServiceConfig, create_app


@pytest.fixture
def make_client(tmp_path: Path, kb: Any):
    def _make(**cfg: Any) -> TestClient:
        cfg.setdefault("db_url", f"sqlite:///{tmp_path / 'clinic.db'}")
        return TestClient(create_app(ServiceConfig(**cfg), knowledge=kb), base_url="http://127.0.0.1")

    return _make


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client()


def unknown_drug_case(case_id: str = "RX-U") -> dict[str, Any]:
    return make_case(item("某某未知药片", dose=1, unit="片", days=7), case_id=case_id).model_dump(mode="json")


# --------------------------------------------------------------------------- statuses and limits


def test_an_unchecked_line_is_needs_review_and_queued(client: TestClient) -> None:
    r = client.post("/v1/audit", json=unknown_drug_case())
    assert r.status_code == 200 and r.json()["status"] == "needs_review"
    queued = client.get("/v1/review-queue").json()["items"]
    assert [i["status"] for i in queued] == ["needs_review"]


def test_too_many_items_is_an_error_naming_the_limit_and_the_service_stays_responsive(
    make_client: Any,
) -> None:
    client = make_client(max_body_bytes=4 << 20)
    one = make_case(item("阿司匹林肠溶片", dose=100, unit="mg", days=7), case_id="BIG").model_dump(
        mode="json"
    )
    big = many_items(one, 3000)
    start = time.perf_counter()
    r = client.post("/v1/audit", json=big)
    assert r.status_code == 422 and "limit of 100" in r.json()["detail"][0]["msg"]
    assert r.json()["detail"][0]["loc"] == "body.prescription.items"
    assert time.perf_counter() - start < 10
    small = make_client(max_body_bytes=4 << 20, max_items=5000)
    assert (
        small.post(
            "/v1/audit",
            json=make_case(*[item("阿司匹林肠溶片", dose=100, unit="mg")] * 3, case_id="S").model_dump(
                mode="json"
            ),
        ).status_code
        == 200
    )


def test_slow_audit_times_out_while_healthz_answers(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toolkit.audit as audit_pkg

    real = audit_pkg.audit

    def slow(case: Any, *a: Any, **k: Any) -> Any:
        if case.id == "SLOW":
            time.sleep(1.5)
        return real(case, *a, **k)

    monkeypatch.setattr(audit_pkg, "audit", slow)
    client = make_client(audit_timeout_s=0.5)
    result: dict[str, Any] = {}

    def post() -> None:
        result["r"] = client.post("/v1/audit", json=ok_case("SLOW"))

    t = threading.Thread(target=post)
    t.start()
    time.sleep(0.1)
    start = time.perf_counter()
    assert client.get("/healthz").status_code == 200
    assert time.perf_counter() - start < 0.4  # not behind the slow audit
    t.join()
    r = result["r"]
    assert r.status_code == 503 and "audit_timeout_s" in r.json()["detail"][0]["msg"]
    assert client.post("/v1/audit", json=ok_case()).status_code == 200


def _fastapi(app: Any) -> Any:
    while not hasattr(app, "router") and hasattr(app, "app"):  # inside the guard
        app = app.app
    return app


def test_a_small_case_is_audited_on_the_loop_within_its_budget_then_in_the_pool(
    tmp_path: Path, kb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As under uvicorn, the event loop runs in the main thread here (an ASGI transport, no test-client
    thread): a case of at most ``inline_items`` lines is audited on the loop; one still running after
    ``inline_budget_s`` is interrupted there and audited again in the pool, where the timeout answers 503;
    a longer case goes straight to the pool. SIGALRM is given back at shutdown."""
    import asyncio
    import signal

    import httpx

    import toolkit.audit as audit_pkg

    real = audit_pkg.audit
    calls: list[tuple[str, bool]] = []

    def spy(case: Any, *a: Any, **k: Any) -> Any:
        calls.append((case.id, threading.current_thread() is threading.main_thread()))
        if case.id == "SLOW":
            time.sleep(1.5)
        return real(case, *a, **k)

    monkeypatch.setattr(audit_pkg, "audit", spy)
    before = signal.getsignal(signal.SIGALRM)
    cfg = ServiceConfig(db_url=f"sqlite:///{tmp_path / 'c.db'}", audit_timeout_s=0.5, inline_budget_s=0.05)
    app = create_app(cfg, knowledge=kb)
    six = make_case(*[item("缬沙坦胶囊", dose=80, unit="mg", days=28)] * 6, case_id="SIX").model_dump(
        mode="json"
    )

    async def visit() -> tuple[Any, ...]:
        inner = _fastapi(app)
        async with inner.router.lifespan_context(inner):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                ok = await c.post("/v1/audit", json=ok_case())
                start = time.perf_counter()
                slow = await c.post("/v1/audit", json=ok_case("SLOW"))
                took = time.perf_counter() - start
                big = await c.post("/v1/audit", json=six)
        return ok, slow, took, big

    ok, slow, took, big = asyncio.run(visit())
    assert ok.status_code == 200 and big.status_code == 200
    assert slow.status_code == 503 and "audit_timeout_s" in slow.json()["detail"][0]["msg"]
    assert took < 1.4  # cut on the loop after 0.05 s, then 0.5 s in the pool: not the 1.5 s sleep
    assert calls[0] == ("RX-OK", True)  # on the loop
    assert calls[1:3] == [("SLOW", True), ("SLOW", False)]  # interrupted there, then in the pool
    assert calls[3] == ("SIX", False)  # over inline_items (5)
    assert signal.getsignal(signal.SIGALRM) is before


def test_without_the_main_thread_every_audit_keeps_its_timeout(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop outside the main thread (a test client, an embedding app) cannot take SIGALRM: no inline
    audit there, so even a one-line case has the timeout."""
    import toolkit.audit as audit_pkg

    real = audit_pkg.audit

    def slow(case: Any, *a: Any, **k: Any) -> Any:
        if case.id == "SLOW":
            time.sleep(1.0)
        return real(case, *a, **k)

    monkeypatch.setattr(audit_pkg, "audit", slow)
    with make_client(audit_timeout_s=0.3, inline_items=8) as inline:  # lifespan runs, in its own thread
        assert inline.post("/v1/audit", json=ok_case("SLOW")).status_code == 503


def test_a_huge_drug_name_is_an_unchecked_line_not_a_dead_process(client: TestClient) -> None:
    """A 150,000-character drug name (450 KB, under the body limit) used to make the name matcher's
    one-character-wildcard set grow with the square of its length until the machine ran out of memory.
    Now a name over MAX_NAME_CHARS resolves to nothing: the line is not covered, so the case is 需人工审核
    (needs_review), at once; the same for a huge current medication (RX-REC-005)."""
    import resource

    from toolkit.knowledge.names import MAX_NAME_CHARS

    name = "华" * 150_000  # twice: 900 KB
    case = make_case(item(name, dose=5, unit="mg", days=7), case_id="HUGE").model_dump(mode="json")
    case["patient"]["current_medications"] = [name]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    r = client.post("/v1/audit", json=case)
    assert r.status_code == 200 and r.json()["status"] == "needs_review"
    assert {"RX-FMT-007", "RX-REC-005"} <= {f["rule_id"] for f in r.json()["findings"]}
    assert time.perf_counter() - start < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB: < 0.5 GB more
    assert len("精蛋白生物合成人胰岛素注射液(预混30R)(3ml:300单位*1支/盒)") < MAX_NAME_CHARS


def test_more_than_100_current_medications_is_a_located_422(client: TestClient) -> None:
    case = ok_case("MANY")
    case["patient"]["current_medications"] = [f"药{n}" for n in range(101)]
    r = client.post("/v1/audit", json=case)
    assert r.status_code == 422 and locs(r) == ["body.patient.current_medications"]


def test_huge_offset_is_400(client: TestClient) -> None:
    r = client.get("/v1/review-queue?offset=99999999999999999999")
    assert r.status_code == 400 and locs(r) == ["query.offset"]


# --------------------------------------------------------------------------- decisions


def test_one_final_decision_per_audit_and_conflicts_are_409(client: TestClient) -> None:
    audit_id = client.post("/v1/audit", json=warn_case()).headers["x-audit-id"]
    url = f"/v1/audits/{audit_id}/decisions"
    first = client.post(url, json={"decision": "return", "pharmacist": "药师甲", "reason": "请调整"})
    assert first.status_code == 201
    again = client.post(url, json={"decision": "pass", "pharmacist": "药师乙"})
    assert again.status_code == 409
    assert [d["decision"] for d in client.get(url).json()["decisions"]] == ["return"]
    ok_id = client.post("/v1/audit", json=ok_case()).headers["x-audit-id"]  # never awaited review
    assert (
        client.post(
            f"/v1/audits/{ok_id}/decisions", json={"decision": "pass", "pharmacist": "甲"}
        ).status_code
        == 409
    )


def test_concurrent_conflicting_decisions_store_exactly_one(client: TestClient) -> None:
    audit_id = client.post("/v1/audit", json=warn_case()).headers["x-audit-id"]
    url = f"/v1/audits/{audit_id}/decisions"
    codes: list[int] = []
    lock = threading.Lock()

    def decide(n: int) -> None:
        body = (
            {"decision": "pass", "pharmacist": f"药师{n}", "reason": "可"}
            if n % 2
            else {"decision": "return", "pharmacist": f"药师{n}", "reason": "请改"}
        )
        code = client.post(url, json=body).status_code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201] + [409] * 19
    assert len(client.get(url).json()["decisions"]) == 1


def test_a_retry_with_the_same_idempotency_key_returns_the_first_decision(client: TestClient) -> None:
    audit_id = client.post("/v1/audit", json=warn_case()).headers["x-audit-id"]
    url = f"/v1/audits/{audit_id}/decisions"
    body = {"decision": "return", "pharmacist": "药师甲", "reason": "请调整"}
    key = {"Idempotency-Key": "9b2d7c1e-retry-1"}
    first = client.post(url, json=body, headers=key)
    retry = client.post(url, json=body, headers=key)
    assert first.status_code == 201 and retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
    assert len(client.get(url).json()["decisions"]) == 1
    other = client.post("/v1/audit", json=warn_case("W9")).headers["x-audit-id"]
    reused = client.post(f"/v1/audits/{other}/decisions", json=body, headers=key)
    assert reused.status_code == 409  # a key names one decision, never another audit's


def test_pass_or_override_of_a_block_needs_a_reason(client: TestClient) -> None:
    audit_id = client.post("/v1/audit", json=block_case()).headers["x-audit-id"]
    url = f"/v1/audits/{audit_id}/decisions"
    r = client.post(url, json={"decision": "pass", "pharmacist": "药师甲"})
    assert r.status_code == 422 and locs(r) == ["body.reason"]
    warn_id = client.post("/v1/audit", json=warn_case()).headers["x-audit-id"]
    assert (
        client.post(
            f"/v1/audits/{warn_id}/decisions", json={"decision": "pass", "pharmacist": "甲"}
        ).status_code
        == 201
    )  # a warn may pass without one
    assert (
        client.post(
            url, json={"decision": "pass", "pharmacist": "药师甲", "reason": "已电话核实"}
        ).status_code
        == 201
    )


# --------------------------------------------------------------------------- Host allow-list


def test_host_header_allow_list(make_client: Any) -> None:
    client = make_client()
    assert client.get("/healthz").status_code == 200
    for host in ("evil.example", "127.0.0.1.evil.example", "attacker.test:8000"):
        r = client.get("/v1/review-queue", headers={"Host": host})
        assert r.status_code == 421, host
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert client.get("/v1/review-queue", headers={"Host": host}).status_code == 200, host
    custom = make_client(allowed_hosts=("his-gw.clinic.local",))
    assert custom.get("/v1/review-queue", headers={"Host": "his-gw.clinic.local:8000"}).status_code == 200
    assert custom.get("/v1/review-queue", headers={"Host": "localhost"}).status_code == 421


# --------------------------------------------------------------------------- FHIR and CDS


def test_fhir_bundle_for_two_patients_is_an_error(client: TestClient) -> None:
    bundle = fhir_bundle()
    mrs = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
    mrs[-1]["resource"]["subject"] = {"reference": "Patient/p2"}
    r = client.post("/v1/fhir/audit", json=bundle)
    assert (
        r.status_code == 422 and "more than one patient" in r.json()["issue"][0]["diagnostics"]
    )  # OperationOutcome
    same = fhir_bundle()
    for e in same["entry"]:
        if e["resource"]["resourceType"] == "MedicationRequest":
            e["resource"]["subject"] = {"reference": "http://his.example/fhir/Patient/p1"}
    assert client.post("/v1/fhir/audit", json=same).status_code == 200  # the same patient, written in full


def test_cds_feedback_text_is_bounded_and_sanitised(client: TestClient) -> None:
    resp = client.post("/cds-services/rx-preaudit", json=hook_request())
    card = resp.json()["cards"][0]["uuid"]
    audit_id = resp.headers["x-audit-id"]

    def feedback(comment: str) -> Any:
        return client.post(
            "/cds-services/rx-preaudit/feedback",
            json={
                "feedback": [
                    {
                        "card": card,
                        "outcome": "overridden",
                        "outcomeTimestamp": "2026-11-20T08:00:00Z",
                        "overrideReason": {
                            "reason": {"code": "benefit-outweighs-risk"},
                            "userComment": comment,
                        },
                    }
                ]
            },
        )

    assert feedback("x" * 501).status_code == 422
    assert feedback("已评估\x00\x1b[31m<script>\u202e获益").status_code == 200
    stored = client.get(f"/v1/audits/{audit_id}/decisions").json()["overrides"][-1]["user_comment"]
    assert "\x00" not in stored and "\x1b" not in stored and "\u202e" not in stored
    assert "已评估" in stored and "获益" in stored


def test_keyset_pages_walk_the_queue_in_order_without_gaps(client: TestClient) -> None:
    ids = [
        client.post("/v1/audit", json=(block_case if n % 3 == 0 else warn_case)(f"Q{n}")).headers[
            "x-audit-id"
        ]
        for n in range(7)
    ]
    full = [i["audit_id"] for i in client.get("/v1/review-queue?limit=50").json()["items"]]
    assert sorted(full) == sorted(ids)
    walked, after = [], None
    while True:
        page = client.get(
            "/v1/review-queue", params={"limit": 3, **({"after": after} if after else {})}
        ).json()
        walked += [i["audit_id"] for i in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert walked == full
    assert client.get("/v1/review-queue?after=bm90LWEtY3Vyc29y").status_code == 400
