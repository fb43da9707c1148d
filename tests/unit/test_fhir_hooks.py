"""toolkit.fhir.hooks: CDS Hooks 2.0 prefetch semantics (absent key ≠ null key ≠ OperationOutcome) and draft
orders without a MedicationRequest."""

from __future__ import annotations

import pytest

pytest.importorskip("fhir.resources")

from toolkit.errors import InputError
from toolkit.fhir.hooks import draft_medication_requests, read_prefetch

ALLERGY = {
    "resourceType": "AllergyIntolerance",
    "patient": {"reference": "Patient/p1"},
    "code": {"text": "青霉素"},
    "clinicalStatus": {"coding": [{"code": "active"}]},
}
OO = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "timeout", "diagnostics": "超时"}],
}


def test_absent_null_and_error_keys_are_told_apart() -> None:
    pre = read_prefetch(
        {
            "allergies": None,
            "conditions": OO,
            "observations": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": OO}]},
            "patient": {"resourceType": "Patient", "id": "p1"},
        }
    )
    assert pre.no_data == ["allergies"] and pre.not_sent == ["medicationStatements", "medicationRequests"]
    assert [k for k, _ in pre.outcomes] == ["conditions", "observations"] and pre.outcomes[0][1] == "超时"
    assert len(pre.by_type["Patient"]) == 1 and pre.by_type["AllergyIntolerance"] == []
    pre = read_prefetch(
        {
            "allergies": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"fullUrl": "urn:uuid:a", "resource": ALLERGY}],
            }
        }
    )
    assert pre.no_data == []
    assert pre.not_sent == [
        "patient",
        "conditions",
        "observations",
        "medicationStatements",
        "medicationRequests",
    ]
    assert pre.by_type["AllergyIntolerance"][0][2] == "urn:uuid:a"


def test_draft_orders_keep_only_medication_requests_to_audit() -> None:
    sr = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
    }
    mr = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "二甲双胍片"},
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": sr}]}
    assert draft_medication_requests(bundle) == []
    bundle["entry"] += [{"resource": mr}, {"resource": {**mr, "status": "cancelled"}}]
    assert len(draft_medication_requests(bundle)) == 1
    with pytest.raises(InputError):
        draft_medication_requests(mr)
