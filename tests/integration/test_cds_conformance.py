"""CDS Hooks 2.0 conformance walk, as an EHR (CDS Client) would do it against ``clinic serve --cds-jwks``:
discovery → order-sign signed with the EHR's key (JWT: iss, aud = the service URL, exp, iat, jti, kid)
→ cards → feedback on a card (signed too). The key pair and the JWKS are generated in the test."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("fhir.resources")
pytest.importorskip("joserfc")

from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.unit.test_service_cds import hook_request
from toolkit.service import ServiceConfig, create_app

pytestmark = pytest.mark.integration

BASE = "http://127.0.0.1"
ISS = "https://his.example-clinic.cn"
TOKEN = "dev-token-0123456789abcdef"


@pytest.fixture(scope="module")
def ehr_key() -> Any:
    return ECKey.generate_key("P-384", parameters={"kid": "his-2026-12", "use": "sig"})


@pytest.fixture
def client(tmp_path: Path, kb: Any, ehr_key: Any) -> TestClient:
    jwks = tmp_path / "cds-jwks.json"
    jwks.write_text(json.dumps({ISS: {"keys": [ehr_key.as_dict(private=False)]}}), encoding="utf-8")
    config = ServiceConfig(
        db_url=f"sqlite:///{tmp_path / 'cds.db'}",
        token=TOKEN,
        cds_jwks=str(jwks),
        allowed_hosts=("127.0.0.1",),
    )
    return TestClient(create_app(config, knowledge=kb), base_url=BASE)


def signed(key: Any, aud: str, **override: Any) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": ISS,
        "sub": "his-cds-client",
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        **override,
    }
    token = jwt.encode({"alg": "ES384", "typ": "JWT", "kid": key.kid}, claims, key, algorithms=["ES384"])
    return {"Authorization": f"Bearer {token}"}


def test_discovery_signed_order_sign_cards_feedback(client: TestClient, ehr_key: Any) -> None:
    # 1. discovery (no patient data: open to the EHR)
    disc = client.get("/cds-services")
    assert disc.status_code == 200
    service = next(s for s in disc.json()["services"] if s["hook"] == "order-sign")
    assert {"id", "hook", "description", "prefetch"} <= set(service)
    url = f"{BASE}/cds-services/{service['id']}"

    # 2. the hook call, signed by the EHR
    req = hook_request()
    resp = client.post(f"/cds-services/{service['id']}", json=req, headers=signed(ehr_key, url))
    assert resp.status_code == 200, resp.text
    cards = resp.json()["cards"]
    assert cards and all({"uuid", "summary", "indicator", "source"} <= set(c) for c in cards)
    assert all(c["indicator"] in {"info", "warning", "critical"} and len(c["summary"]) < 140 for c in cards)
    critical = next(c for c in cards if c["indicator"] == "critical" and c.get("overrideReasons"))

    # 3. feedback on that card, per spec (outcome, overrideReason from the card's list, outcomeTimestamp)
    fb = {
        "feedback": [
            {
                "card": critical["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": critical["overrideReasons"][0], "userComment": "已告知患者"},
                "outcomeTimestamp": "2026-12-07T10:00:00+08:00",
            }
        ]
    }
    resp = client.post(
        f"/cds-services/{service['id']}/feedback", json=fb, headers=signed(ehr_key, f"{url}/feedback")
    )
    assert resp.status_code == 200 and resp.json() == {"recorded": 1}

    # 4. the pharmacist side sees the override (the service's own token, not a CDS client's JWT)
    audit_id = client.get("/v1/review-queue", headers={"Authorization": f"Bearer {TOKEN}"}).json()["items"][
        0
    ]["audit_id"]
    overrides = client.get(
        f"/v1/audits/{audit_id}/decisions", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()["overrides"]
    assert overrides[0]["outcome"] == "overridden" and overrides[0]["user_comment"] == "已告知患者"


def test_an_unsigned_or_badly_signed_call_is_401(client: TestClient, ehr_key: Any) -> None:
    url = f"{BASE}/cds-services/rx-preaudit"
    for headers in (
        {},
        signed(ECKey.generate_key("P-384", parameters={"kid": "his-2026-12"}), url),
        signed(ehr_key, f"{BASE}/cds-services/rx-preaudit-select"),
        {"Authorization": "Bearer wrong-token-0123456789"},
    ):
        resp = client.post("/cds-services/rx-preaudit", json=hook_request(), headers=headers)
        assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")
    h = signed(ehr_key, url)
    assert client.post("/cds-services/rx-preaudit", json=hook_request(), headers=h).status_code == 200
    assert (
        client.post("/cds-services/rx-preaudit", json=hook_request(), headers=h).status_code == 401
    )  # replay
    # a CDS client's JWT opens only the CDS routes, not the queue
    assert client.get("/v1/review-queue", headers=signed(ehr_key, url)).status_code == 401


def test_the_simple_token_still_works_for_loopback_and_dev(client: TestClient) -> None:
    resp = client.post(
        "/cds-services/rx-preaudit", json=hook_request(), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resp.status_code == 200 and resp.json()["cards"]


def test_signed_order_sign_without_medications_is_empty(client: TestClient, ehr_key: Any) -> None:
    req = copy.deepcopy(hook_request())
    req["context"]["draftOrders"]["entry"] = [
        {
            "resource": {
                "resourceType": "ServiceRequest",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "code": {"text": "胸部X线"},
            }
        }
    ]
    resp = client.post(
        "/cds-services/rx-preaudit", json=req, headers=signed(ehr_key, f"{BASE}/cds-services/rx-preaudit")
    )
    assert resp.status_code == 200 and resp.json() == {"cards": []}


def test_metadata_is_a_capability_statement(client: TestClient) -> None:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    resp = client.get("/metadata", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/fhir+json")
    cs = CapabilityStatement.model_validate(resp.json())
    assert cs.fhirVersion == "4.3.0" and "JWT" in cs.rest[0].security.description


def test_every_fhir_error_is_an_operation_outcome(client: TestClient) -> None:
    """Errors of the FHIR routes, including the guard's (401, 413), are OperationOutcomes."""
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    auth = {"Authorization": f"Bearer {TOKEN}"}
    for resp, status, code in (
        (client.post("/v1/fhir/audit", json={"resourceType": "Bundle", "type": "collection"}), 401, "login"),
        (
            client.post(
                "/v1/fhir/audit",
                content=b"{" + b" " * (2 << 20) + b"}",
                headers={**auth, "content-type": "application/json"},
            ),
            413,
            "too-costly",
        ),
        (
            client.post(
                "/v1/fhir/audit", json={"resourceType": "Bundle", "type": "collection"}, headers=auth
            ),
            422,
            "invalid",
        ),
        (client.post("/v1/fhir/audit", json=[1, 2], headers=auth), 422, "invalid"),
    ):
        assert resp.status_code == status
        assert resp.headers["content-type"].startswith("application/fhir+json")
        oo = OperationOutcome.model_validate(resp.json())
        assert oo.issue[0].code == code and oo.issue[0].diagnostics
