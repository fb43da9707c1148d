"""CDS Hooks contract: discovery, order-sign / order-select cards, feedback, and the FHIR endpoint."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("fhir.resources")

from fastapi.testclient import TestClient

from tests.unit.test_service_fhir import fhir_bundle
from toolkit.service import ServiceConfig, create_app
from toolkit.service.cds import CODESYSTEM_OVERRIDE, OVERRIDE_REASONS


@pytest.fixture
def make_client(tmp_path: Path, kb: Any):
    def _make() -> TestClient:
        return TestClient(
            create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'cds.db'}"), knowledge=kb),
            base_url="http://127.0.0.1",
        )

    return _make


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client()


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def hook_request(hook: str = "order-sign", prefetch: bool = True) -> dict[str, Any]:
    res = [e["resource"] for e in fhir_bundle()["entry"]]
    by = {
        t: [r for r in res if r["resourceType"] == t]
        for t in ("Patient", "Condition", "AllergyIntolerance", "Observation", "MedicationRequest")
    }
    req: dict[str, Any] = {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "userId": "Practitioner/dr1",
            "patientId": "p1",
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in by["MedicationRequest"]],
            },
        },
    }
    if prefetch:
        req["prefetch"] = {
            "patient": by["Patient"][0],
            "conditions": searchset(by["Condition"]),
            "allergies": searchset(by["AllergyIntolerance"]),
            "observations": searchset(by["Observation"]),
            "medicationStatements": searchset([]),  # 在用药品: none
            "medicationRequests": searchset([]),
        }
    return req


def locs(resp: Any) -> list[str]:
    return [d["loc"] for d in resp.json()["detail"]]


def test_discovery_lists_the_services_with_prefetch(client: TestClient) -> None:
    services = {s["id"]: s for s in client.get("/cds-services").json()["services"]}
    assert services["rx-preaudit"]["hook"] == "order-sign"
    assert services["rx-preaudit-select"]["hook"] == "order-select"
    prefetch = services["rx-preaudit"]["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert "33914-3" in prefetch["observations"] and set(prefetch) == {
        "patient",
        "conditions",
        "allergies",
        "observations",
        "medicationStatements",
        "medicationRequests",
    }


def test_order_sign_returns_cards_and_queues_the_prescription(client: TestClient) -> None:
    resp = client.post("/cds-services/rx-preaudit", json=hook_request())
    assert resp.status_code == 200
    cards = resp.json()["cards"]
    critical = [c for c in cards if c["indicator"] == "critical"]
    assert len(critical) == 2  # metformin at eGFR 25, amoxicillin despite penicillin allergy
    assert len({c["uuid"] for c in cards}) == len(cards)
    for c in cards:
        assert len(c["summary"]) < 140 and c["indicator"] in {"info", "warning", "critical"}
        assert c["source"]["label"] and "规则 `RX-" in c["detail"]
    met = next(c for c in critical if "二甲双胍" in c["summary"])
    assert met["overrideReasons"] == [dict(r) for r in OVERRIDE_REASONS]
    assert all(r["display"] for r in met["overrideReasons"])
    assert met["selectionBehavior"] == "at-most-one"
    (sugg,) = met["suggestions"]
    assert sugg["actions"] == [
        {
            "type": "delete",
            "description": "从待签医嘱中移除 二甲双胍片",
            "resourceId": "MedicationRequest/mr-met",
        }
    ]
    assert all("suggestions" not in c for c in cards if c["indicator"] != "critical")
    queue = client.get("/v1/review-queue").json()["items"]
    assert [q["audit_id"] for q in queue] == [resp.headers["x-audit-id"]]
    assert queue[0]["source"] == "cds-order-sign"


def test_missing_prefetch_is_said_not_silently_passed(client: TestClient) -> None:
    cards = client.post("/cds-services/rx-preaudit", json=hook_request(prefetch=False)).json()["cards"]
    notice = cards[-1]
    assert notice["indicator"] == "info" and "过敏史" in notice["summary"]
    assert not any("过敏" in c["summary"] and c["indicator"] == "critical" for c in cards)


def test_null_prefetch_means_no_data_not_a_missing_key(client: TestClient) -> None:
    """CDS Hooks 2.0: a key sent as null = the EHR has no data (no allergies recorded): no "未收到" card."""
    req = hook_request()
    req["prefetch"]["allergies"] = None
    cards = client.post("/cds-services/rx-preaudit", json=req).json()["cards"]
    assert not any(c["summary"].startswith("未收到") for c in cards)
    assert not any(
        "青霉素" in c["detail"] and c["indicator"] == "critical" for c in cards
    )  # no allergy, no card
    del req["prefetch"]["allergies"]  # not sent at all: said
    cards = client.post("/cds-services/rx-preaudit", json=req).json()["cards"]
    assert any(c["summary"].startswith("未收到") and "过敏史" in c["summary"] for c in cards)


def test_operation_outcome_in_prefetch_is_reported_in_a_card(client: TestClient) -> None:
    req = hook_request()
    oo = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "LIS query timed out"}],
    }
    req["prefetch"]["observations"] = oo
    req["prefetch"]["conditions"]["entry"].append(
        {
            "resource": {
                **oo,
                "issue": [
                    {"severity": "warning", "code": "incomplete", "diagnostics": "older diagnoses not loaded"}
                ],
            }
        }
    )
    cards = client.post("/cds-services/rx-preaudit", json=req).json()["cards"]
    card = next(c for c in cards if "出错" in c["summary"])
    assert card["indicator"] == "info" and "LIS query timed out" in card["detail"]
    assert "older diagnoses not loaded" in card["detail"]


def test_unknown_context_fields_are_tolerated(client: TestClient) -> None:
    req = hook_request()
    req["context"]["encounterType"] = "outpatient"
    req["context"]["com.his-vendor.department"] = {"code": "0301", "name": "全科"}
    assert client.post("/cds-services/rx-preaudit", json=req).status_code == 200


def test_order_sign_without_medication_orders_is_an_empty_card_list(client: TestClient) -> None:
    req = hook_request()
    req["context"]["draftOrders"]["entry"] = [
        {
            "resource": {
                "resourceType": "ServiceRequest",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "code": {"text": "血常规"},
            }
        }
    ]
    resp = client.post("/cds-services/rx-preaudit", json=req)
    assert resp.status_code == 200 and resp.json() == {"cards": []}
    assert client.get("/v1/review-queue").json()["items"] == []


def test_order_select_answers_only_about_the_selection_and_does_not_queue(client: TestClient) -> None:
    req = hook_request("order-select")
    req["context"]["selections"] = ["MedicationRequest/mr-met"]
    cards = client.post("/cds-services/rx-preaudit-select", json=req).json()["cards"]
    assert [c for c in cards if c["indicator"] == "critical"]
    assert all("阿莫西林" not in c["summary"] for c in cards)
    assert client.get("/v1/review-queue").json()["items"] == []


@pytest.mark.parametrize(
    ("mutate", "status", "loc"),
    [
        (lambda r: r.__setitem__("hook", "order-select"), 422, "body.hook"),
        (lambda r: r.__setitem__("hook", "patient-view"), 422, "body.hook"),
        (lambda r: r["context"].pop("draftOrders"), 422, "body.context.draftOrders"),
        (
            lambda r: r["context"]["draftOrders"].__setitem__("resourceType", "MedicationRequest"),
            422,
            "body.context.draftOrders.resourceType",
        ),
        (
            lambda r: r["context"]["draftOrders"]["entry"][0]["resource"].__setitem__(
                "status", "bogus-status"
            ),
            422,
            "body.context.draftOrders.entry[0].resource.status",
        ),
        (
            lambda r: r["prefetch"]["patient"].__setitem__("id", "someone-else"),
            422,
            "body.prefetch.patient.id",
        ),
        (lambda r: r.__setitem__("surprise", 1), 422, "body.surprise"),
    ],
)
def test_invalid_hook_requests_are_located(client: TestClient, mutate: Any, status: int, loc: str) -> None:
    req = copy.deepcopy(hook_request())
    mutate(req)
    resp = client.post("/cds-services/rx-preaudit", json=req)
    assert resp.status_code == status
    assert loc in locs(resp)


def test_unknown_service_is_404(client: TestClient) -> None:
    assert client.post("/cds-services/nope", json=hook_request()).status_code == 404


def test_feedback_records_overrides_per_card_with_rule_and_kb(make_client: Any) -> None:
    client = make_client()
    resp = client.post("/cds-services/rx-preaudit", json=hook_request())
    audit_id, cards = resp.headers["x-audit-id"], resp.json()["cards"]
    met = next(c for c in cards if "二甲双胍" in c["summary"])
    other = next(c for c in cards if c is not met and c["indicator"] != "info")
    fb = {
        "feedback": [
            {
                "card": met["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-20T09:30:00+08:00",
                "overrideReason": {
                    "reason": {
                        "system": CODESYSTEM_OVERRIDE,
                        "code": "benefit-outweighs-risk",
                        "display": "已评估获益大于风险",
                    },
                    "userComment": "肾内科会诊后",
                },
            },
            {
                "card": other["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": "2026-11-20T09:30:05+08:00",
                "acceptedSuggestions": [{"id": "s1"}],
            },
        ]
    }
    assert client.post("/cds-services/rx-preaudit/feedback", json=fb).status_code == 200
    client.close()
    restarted = make_client()
    got = restarted.get(f"/v1/audits/{audit_id}/decisions").json()["overrides"]
    assert [g["outcome"] for g in got] == ["overridden", "accepted"]
    assert got[0]["rule_id"] == "RX-CI-001" and got[0]["kb_version"]
    assert got[0]["override_reason"]["code"] == "benefit-outweighs-risk"
    assert got[0]["outcome_timestamp"] == "2026-11-20T01:30:00+00:00"


@pytest.mark.parametrize(
    ("entry", "status", "loc"),
    [
        (
            {"outcome": "overridden", "overrideReason": {"reason": {"code": "because"}}},
            422,
            "body.feedback[1].overrideReason.reason",
        ),
        ({"outcome": "dismissed"}, 422, "body.feedback[1].outcome"),
        ({"outcome": "overridden", "outcomeTimestamp": None}, 422, "body.feedback[1].outcomeTimestamp"),
        ({"card": "not-a-card-uuid"}, 404, "body.feedback[1].card"),
    ],
)
def test_invalid_feedback_is_located_and_nothing_is_stored(
    client: TestClient, entry: dict[str, Any], status: int, loc: str
) -> None:
    resp = client.post("/cds-services/rx-preaudit", json=hook_request())
    audit_id, card = resp.headers["x-audit-id"], resp.json()["cards"][0]["uuid"]
    good = {"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-11-20T09:30:00+08:00"}
    bad = {**good, **entry}
    resp = client.post("/cds-services/rx-preaudit/feedback", json={"feedback": [good, bad]})
    assert resp.status_code == status and loc in locs(resp)
    assert client.get(f"/v1/audits/{audit_id}/decisions").json()["overrides"] == []  # all or nothing


# --------------------------------------------------------------------------- FHIR endpoint


def test_fhir_endpoint_answers_detected_issues(client: TestClient) -> None:
    from fhir.resources.R4B.bundle import Bundle

    resp = client.post(
        "/v1/fhir/audit", json=fhir_bundle(), headers={"content-type": "application/fhir+json"}
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/fhir+json")
    out = resp.json()
    Bundle.model_validate(out)
    severities = sorted(e["resource"]["severity"] for e in out["entry"])
    assert severities.count("high") == 2
    assert (
        resp.headers["x-request-date"] == "2026-11-20"
        and resp.headers["x-request-date-source"] == "authoredOn"
    )
    assert out["id"] == resp.headers["x-audit-id"]


def outcome_exprs(resp: Any) -> list[str]:
    """FHIR routes answer errors as an OperationOutcome; its issues' FHIRPath expressions."""
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    assert resp.headers["content-type"].startswith("application/fhir+json")
    oo = OperationOutcome.model_validate(resp.json())
    assert all(i.severity == "error" and i.code == "invalid" and i.diagnostics for i in oo.issue)
    return [e for i in oo.issue for e in (i.expression or [])]


def test_fhir_endpoint_locates_errors(client: TestClient) -> None:
    b = fhir_bundle()
    b["entry"][7]["resource"]["valueQuantity"].update(unit="mg/dL", code="mg/dL")
    resp = client.post("/v1/fhir/audit", json=b)
    assert resp.status_code == 422 and outcome_exprs(resp) == ["Bundle.entry[7].resource.valueQuantity.unit"]
    resp = client.post("/v1/fhir/audit", json={"resourceType": "Patient"})
    assert resp.status_code == 422 and outcome_exprs(resp) == ["Bundle.resourceType"]
    resp = client.post("/v1/fhir/audit", json={"resourceType": "Bundle", "type": "collection", "entry": {}})
    assert resp.status_code == 422 and outcome_exprs(resp) == ["Bundle.entry"]
    resp = client.post("/v1/fhir/audit", json={"resourceType": "Bundle", "type": "nonsense", "entry": []})
    assert resp.status_code == 422 and outcome_exprs(resp) == ["Bundle.type"]


def test_codesystem_is_served(client: TestClient) -> None:
    cs = client.get("/v1/fhir/CodeSystem/audit-category").json()
    assert cs["resourceType"] == "CodeSystem" and cs["concept"]
