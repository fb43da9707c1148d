"""在用药品 (``patient.current_medications``): the prescription is checked for interactions and duplicate
therapy against the drugs the patient already takes (医疗机构处方审核规范 第十五条(五)), through the engine,
the HIS batch reader, CDS Hooks (MedicationStatement / active MedicationRequest) and FHIR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit
from toolkit.records import AuditCase, Severity

IBUPROFEN = item("布洛芬缓释胶囊", dose=0.3, unit="g", strength="0.3 g", frequency="bid")
OA = [("膝骨关节炎", "M17.9")]


def _rules(report: Any) -> list[str]:
    return [f.rule_id for f in report.findings]


# --------------------------------------------------------------------------- engine


def test_home_warfarin_and_prescribed_ibuprofen_is_the_interaction(shipped_kb: Any) -> None:
    case = make_case(IBUPROFEN, diagnoses=OA, current_medications="华法林;")
    report = audit(case, shipped_kb)
    (f,) = [f for f in report.findings if f.rule_id == "RX-DDI-020"]
    rule = next(r for r in shipped_kb.interactions if r.id == "RX-DDI-020")
    assert f.severity is rule.severity  # the rule's own severity, as between two lines
    assert f.items == (0,)  # prescribed lines only
    assert set(f.drugs) == {"华法林", "布洛芬"}
    assert f.evidence["current_medication"] == "华法林"
    assert "华法林（在用药品）" in f.message and "布洛芬" in f.message
    assert report.status == "flagged"


def test_without_a_home_drug_the_same_prescription_is_silent(shipped_kb: Any) -> None:
    report = audit(make_case(IBUPROFEN, diagnoses=OA), shipped_kb)
    assert not [f for f in report.findings if f.category.value == "interaction"]


def test_interaction_read_in_both_directions(shipped_kb: Any) -> None:
    """Home ibuprofen, warfarin prescribed: the same rule, the prescribed warfarin line its item."""
    case = make_case(
        item("华法林钠片", dose=3, unit="mg", strength="3 mg"),
        diagnoses=[("心房颤动", "I48.0")],
        current_medications=["芬必得"],  # a brand name resolves as a line's would
    )
    (f,) = [f for f in audit(case, shipped_kb).findings if f.rule_id == "RX-DDI-020"]
    assert f.items == (0,) and f.evidence["current_medication"] == "芬必得"
    assert "布洛芬（在用药品）" in f.message


def test_home_amlodipine_and_prescribed_nifedipine_is_a_duplicate(shipped_kb: Any) -> None:
    case = make_case(item("硝苯地平控释片", dose=30, unit="mg"), current_medications=["苯磺酸氨氯地平片"])
    report = audit(case, shipped_kb)
    (f,) = [f for f in report.findings if f.category.value == "duplicate_therapy"]
    assert f.rule_id == "RX-DUP-002" and f.severity is Severity.WARN
    assert f.items == (0,) and set(f.drugs) == {"硝苯地平", "氨氯地平"}
    assert "氨氯地平（在用药品）" in f.message and f.evidence["current_medication"] == "苯磺酸氨氯地平片"


def test_continuing_the_home_drug_is_not_a_duplicate(shipped_kb: Any) -> None:
    case = make_case(item("苯磺酸氨氯地平片", dose=5, unit="mg"), current_medications=["氨氯地平", "络活喜"])
    report = audit(case, shipped_kb)
    assert not [f for f in report.findings if f.category.value in {"duplicate_therapy", "interaction"}]
    assert "RX-REC-005" not in _rules(report)
    assert report.status == "ok"


def test_same_ingredient_in_a_home_combination_is_rx_dup_001(shipped_kb: Any) -> None:
    case = make_case(item("苯磺酸氨氯地平片", dose=5, unit="mg"), current_medications=["氨氯地平贝那普利片"])
    (f,) = [f for f in audit(case, shipped_kb).findings if f.rule_id == "RX-DUP-001"]
    assert f.items == (0,) and f.evidence["count"] == 2
    assert "（在用药品）" in f.message and "不含在用药品" in f.message and "—" not in f.message


def test_home_aspirin_with_prescribed_clopidogrel_is_the_dapt_exception(shipped_kb: Any) -> None:
    """Duplicate exceptions apply to current medications too (DAPT is not a duplicate)."""
    case = make_case(
        item("硫酸氢氯吡格雷片", dose=75, unit="mg"),
        diagnoses=[("冠心病", "I25.1")],
        current_medications=["拜阿司匹林"],
    )
    report = audit(case, shipped_kb)
    assert not [f for f in report.findings if f.category.value == "duplicate_therapy"]


def test_unresolvable_home_name_is_said_and_not_needs_review(shipped_kb: Any) -> None:
    case = make_case(item("苯磺酸氨氯地平片", dose=5, unit="mg"), current_medications=["某某祖传秘方丸"])
    report = audit(case, shipped_kb)
    (f,) = [f for f in report.findings if f.rule_id == "RX-REC-005"]
    assert f.severity is Severity.INFO and f.items == () and f.evidence["written"] == "某某祖传秘方丸"
    assert "某某祖传秘方丸" in f.message
    assert report.status == "ok"  # not a line being dispensed: never needs_review on its own


def test_two_home_drugs_are_not_compared_with_each_other(shipped_kb: Any) -> None:
    case = make_case(item("苯磺酸氨氯地平片", dose=5, unit="mg"), current_medications=["华法林", "布洛芬"])
    assert "RX-DDI-020" not in _rules(audit(case, shipped_kb))


def test_home_drug_gets_no_dose_allergy_or_population_check(shipped_kb: Any) -> None:
    case = make_case(
        item("苯磺酸氨氯地平片", dose=5, unit="mg"),
        current_medications=["阿莫西林胶囊"],
        allergies=["青霉素"],
        pregnant=True,
        sex="F",
    )
    report = audit(case, shipped_kb)
    assert not [f for f in report.findings if "阿莫西林" in f.drugs]


# --------------------------------------------------------------------------- inputs: JSON, HIS batch


def test_json_round_trip_keeps_current_medications() -> None:
    case = make_case(IBUPROFEN, current_medications="华法林；阿司匹林")
    assert case.patient.current_medications == ("华法林", "阿司匹林")
    again = AuditCase.model_validate_json(case.model_dump_json())
    assert again == case


def test_openapi_describes_current_medications(tmp_path: Path, kb: Any) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from toolkit.service import ServiceConfig, create_app

    app = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'api.db'}"), knowledge=kb)
    schema = TestClient(app, base_url="http://127.0.0.1").get("/openapi.json").json()
    patient = schema["components"]["schemas"]["Patient"]["properties"]["current_medications"]
    assert "在用药品" in patient["description"]


def test_his_batch_column_fills_current_medications(tmp_path: Path) -> None:
    from toolkit.batch import BatchOptions, iter_cases, run_batch
    from toolkit.batch.readers import DEFAULT_COLUMNS

    for col in ("在用药品", "当前用药", "合并用药"):
        assert DEFAULT_COLUMNS[col] == "current_medications"
    src = tmp_path / "rx.csv"
    src.write_text(
        "处方号,年龄,性别,诊断,在用药品,药品名称,单次剂量,剂量单位,规格,频次,给药途径,天数\n"
        "R1,70,男,膝骨关节炎,华法林;苯磺酸氨氯地平片,布洛芬缓释胶囊,0.3,g,0.3 g,bid,口服,3\n"
        "R2,70,男,膝骨关节炎,,布洛芬缓释胶囊,0.3,g,0.3 g,bid,口服,3\n",
        encoding="utf-8",
    )
    cases = {c.id: c for c in iter_cases(src)}
    assert cases["R1"].case.patient.current_medications == ("华法林", "苯磺酸氨氯地平片")
    assert cases["R2"].case.patient.current_medications == ()
    out = tmp_path / "out.jsonl"
    run_batch(src, out, options=BatchOptions(workers=1))
    rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert "RX-DDI-020" in {f["rule_id"] for f in rows["R1"]["findings"]}
    assert "RX-DDI-020" not in {f["rule_id"] for f in rows["R2"]["findings"]}


# --------------------------------------------------------------------------- inputs: FHIR, CDS Hooks


def _mr(rid: str, name: str, status: str = "draft", dose: float = 0.3, unit: str = "g") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2026-11-20",
        "medicationCodeableConcept": {"text": name},
        "dosageInstruction": [
            {
                "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit}}],
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "route": {"text": "口服"},
            }
        ],
        "dispenseRequest": {"expectedSupplyDuration": {"value": 3, "unit": "d"}},
    }


def _statement(name: str, status: str = "active", coded: bool = False) -> dict[str, Any]:
    concept: dict[str, Any] = (
        {"coding": [{"system": "http://www.whocc.no/atc", "code": "B01AA03"}]}  # by ATC only, as an order
        if coded
        else {"text": name}
    )
    return {
        "resourceType": "MedicationStatement",
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": concept,
    }


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _hook(prefetch: dict[str, Any], drafts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "hook": "order-sign",
        "hookInstance": "6b7c1d7e-cm-1",
        "context": {
            "userId": "Practitioner/dr1",
            "patientId": "p1",
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in (drafts or [_mr("mr-ibu", "布洛芬缓释胶囊")])],
            },
        },
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1956-01-01"},
            "conditions": _searchset(
                [
                    {
                        "resourceType": "Condition",
                        "subject": {"reference": "Patient/p1"},
                        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "M17.9"}]},
                    }
                ]
            ),
            "allergies": None,
            "observations": None,
            **prefetch,
        },
    }


def test_cds_hooks_reads_medication_statements_and_active_orders() -> None:
    pytest.importorskip("fhir.resources")
    from toolkit.service.cds import HookRequest, discovery, hook_to_case

    prefetch = {
        "medicationStatements": _searchset(
            [_statement("华法林", coded=True), _statement("阿司匹林肠溶片", status="stopped")]
        ),
        # the draft order itself comes back from the EHR's active search: not a current medication
        "medicationRequests": _searchset(
            [
                _mr("mr-ibu", "布洛芬缓释胶囊", status="active"),
                _mr("mr-old", "苯磺酸氨氯地平片", "active", 5, "mg"),
            ]
        ),
    }
    hc = hook_to_case(HookRequest.model_validate(_hook(prefetch)))
    assert hc.fc is not None
    assert hc.fc.case.patient.current_medications == ("华法林", "苯磺酸氨氯地平片")
    assert [i.drug for i in hc.fc.case.prescription.items] == ["布洛芬缓释胶囊"]
    assert "medicationStatements" not in hc.missing and "medicationRequests" not in hc.missing
    service = discovery()["services"][0]
    assert "MedicationStatement?patient=" in service["prefetch"]["medicationStatements"]
    assert "status=active" in service["prefetch"]["medicationRequests"]


def test_cds_hooks_card_names_the_home_drug(tmp_path: Path, shipped_kb: Any) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("fhir.resources")
    from fastapi.testclient import TestClient

    from toolkit.service import ServiceConfig, create_app

    client = TestClient(
        create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'cds.db'}"), knowledge=shipped_kb),
        base_url="http://127.0.0.1",
    )
    req = _hook({"medicationStatements": _searchset([_statement("华法林")]), "medicationRequests": None})
    cards = client.post("/cds-services/rx-preaudit", json=req).json()["cards"]
    ddi = [c for c in cards if "RX-DDI-020" in c["detail"]]
    assert ddi and "华法林（在用药品）" in ddi[0]["summary"] and ddi[0]["indicator"] == "warning"
    del req["prefetch"]["medicationStatements"]  # not sent: the check did not run, and a card says so
    cards = client.post("/cds-services/rx-preaudit", json=req).json()["cards"]
    assert not [c for c in cards if "RX-DDI-020" in c.get("detail", "")]
    assert any(c["summary"].startswith("未收到") and "在用药品" in c["summary"] for c in cards)


def test_fhir_document_round_trip_keeps_current_medications(shipped_kb: Any) -> None:
    pytest.importorskip("fhir.resources")
    from toolkit.fhir import write
    from toolkit.fhir.read import bundle_to_case

    case = make_case(IBUPROFEN, diagnoses=OA, current_medications=["华法林", "苯磺酸氨氯地平片"])
    case = case.model_copy(update={"visit_date": "2026-11-20"})
    doc = write.case_to_document(case)
    statements = [
        e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "MedicationStatement"
    ]
    assert [s["medicationCodeableConcept"]["text"] for s in statements] == ["华法林", "苯磺酸氨氯地平片"]
    from tests.unit.test_fhir_write import check_valid

    check_valid(doc)  # R4B model, R4 JSON schema and the document invariants (every entry referenced)
    fc = bundle_to_case(doc, kb=shipped_kb)
    back = fc.case
    assert back.patient.current_medications == case.patient.current_medications
    report = audit(back, shipped_kb)
    assert "RX-DDI-020" in _rules(report)
    # the DetectedIssue of the interaction points at the MedicationStatement it read 华法林 from
    issues = [e["resource"] for e in write.report_to_bundle(report, fc, "a1")["entry"]]
    ddi = next(i for i in issues if "RX-DDI-020" in json.dumps(i, ensure_ascii=False))
    refs = [d["reference"] for ev in ddi.get("evidence", []) for d in ev.get("detail", [])]
    warfarin = next(r for r, name in fc.sources.current_medications if name == "华法林")
    assert warfarin in refs
