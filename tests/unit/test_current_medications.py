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


# --------------------------------------------------------------------------- review16 (curmed-fix-inputs)
# 在用药品 as HIS cells and FHIR texts write them: several drugs in one cell, doses and frequencies, stop
# marks and placeholders; a MedicationStatement's route; a class word; a home product over the daily max.

LEVOFLOXACIN = item("左氧氟沙星片", dose=0.5, unit="g", strength="0.5 g", frequency="qd")
SIMVASTATIN = item("辛伐他汀片", dose=20, unit="mg", strength="20 mg", frequency="qn")


def _ids(case: Any, kb: Any) -> list[str | None]:
    from toolkit.audit.resolve import resolve_current

    return [
        (r.drug.id if r.drug else None)
        for r in (resolve_current(i, n, kb) for i, n in enumerate(case.patient.current_medications))
    ]


@pytest.mark.parametrize(
    ("cell", "drugs"),
    [
        ("华法林3mg qd；二甲双胍0.5g tid", ["warfarin", "metformin"]),
        ("华法林钠片 2.5mg 1片 qd", ["warfarin"]),
        ("华法林 阿司匹林", ["warfarin", "aspirin"]),
        ("阿司匹林肠溶片|氯吡格雷", ["aspirin", "clopidogrel"]),
        ("华法林\n阿司匹林", ["warfarin", "aspirin"]),
        ("华法林钠片 2.5mg*1片/日", ["warfarin"]),  # '/日' is the frequency, not a second drug
        ("阿司匹林 肠溶片", ["aspirin"]),  # a form word after the name is the same drug
        ("硝苯地平控释片 (拜新同 30mg) qd", ["nifedipine"]),  # a space inside the brand bracket
        ("布地奈德福莫特罗 160/4.5μg 2吸 bid", ["budesonide_formoterol"]),  # 160/4.5 is one strength
    ],
)
def test_his_cell_with_doses_spaces_lines_and_bars_names_each_drug(
    cell: str, drugs: list[str], shipped_kb: Any
) -> None:
    case = make_case(IBUPROFEN, diagnoses=OA, current_medications=cell)
    assert _ids(case, shipped_kb) == drugs, case.patient.current_medications
    report = audit(case, shipped_kb)
    assert ("RX-DDI-020" in _rules(report)) == ("warfarin" in drugs)
    assert "RX-REC-005" not in _rules(report)


def test_split_keeps_the_sig_with_its_drug_and_is_idempotent() -> None:
    from toolkit.medication_lists import current_medication_list

    got = current_medication_list("华法林3mg qd；二甲双胍0.5g tid")
    assert got == ("华法林3mg qd", "二甲双胍0.5g tid")  # the pharmacist still reads the dose written
    assert current_medication_list(list(got)) == got
    assert current_medication_list(["遗尿停胶囊", "三七片"]) == ("遗尿停胶囊", "三七片")  # 停 in a name


@pytest.mark.parametrize(
    "cell",
    [
        "华法林（已停）",
        "华法林(停)",
        "华法林 已停用",
        "华法林停用",
        "华法林 暂停",
        "暂无",
        "不详",
        "无特殊",
        "未服用药物",
        "无",
        "否认",
        "否认长期用药史",
        "none",
    ],
)
def test_stopped_entries_and_placeholders_are_no_current_medication(cell: str, shipped_kb: Any) -> None:
    case = make_case(IBUPROFEN, diagnoses=OA, current_medications=f"{cell}；苯磺酸氨氯地平片")
    assert case.patient.current_medications == ("苯磺酸氨氯地平片",)
    report = audit(case, shipped_kb)
    assert "RX-DDI-020" not in _rules(report) and "RX-REC-005" not in _rules(report)


@pytest.mark.parametrize("home", ["红霉素 外用", "红霉素（外用）", "外用红霉素", "红霉素软膏"])
def test_topical_home_erythromycin_is_no_systemic_interaction(home: str, shipped_kb: Any) -> None:
    """外用 红霉素 is a local product, not the oral macrolide: simvastatin must not be blocked (RX-DDI-010)."""
    with_oral = audit(make_case(SIMVASTATIN, current_medications=["红霉素"]), shipped_kb)
    assert "RX-DDI-010" in _rules(with_oral)  # the systemic drug does interact
    report = audit(make_case(SIMVASTATIN, current_medications=[home]), shipped_kb)
    alone = audit(make_case(SIMVASTATIN), shipped_kb)
    assert "RX-DDI-010" not in _rules(report) and report.status == alone.status
    (f,) = [f for f in report.findings if f.rule_id == "RX-REC-005"]
    assert f.evidence["local"] == "皮肤外用"


def test_resolve_current_takes_the_route_like_a_written_line(shipped_kb: Any) -> None:
    from toolkit.audit.resolve import resolve_current, resolve_item
    from toolkit.records import PrescriptionItem

    line = resolve_item(0, PrescriptionItem(drug="红霉素", route="外用"), shipped_kb)
    home = resolve_current(0, "红霉素", shipped_kb, route="外用")
    assert line.drug is None and home.drug is None and home.local_form == line.local_form == "皮肤外用"
    assert resolve_current(0, "红霉素", shipped_kb).drug is not None  # no route: the systemic drug
    assert resolve_current(0, "左氧氟沙星 滴眼", shipped_kb).local_form == "眼用"


def _route_statement(name: str, **extra: Any) -> dict[str, Any]:
    st = _statement(name)
    st.update(extra)
    return st


def test_fhir_statement_route_is_used(tmp_path: Path, shipped_kb: Any) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("fhir.resources")
    from fastapi.testclient import TestClient

    from toolkit.service import ServiceConfig, create_app

    client = TestClient(
        create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'cds.db'}"), knowledge=shipped_kb),
        base_url="http://127.0.0.1",
    )
    sim = _mr("mr-sim", "辛伐他汀片", dose=20, unit="mg")

    def rules(statement: dict[str, Any]) -> set[str]:
        req = _hook({"medicationStatements": _searchset([statement]), "medicationRequests": None}, [sim])
        cards = client.post("/cds-services/rx-preaudit", json=req).json()["cards"]
        return {c["detail"].split("RX-")[1][:7] for c in cards if "RX-" in c.get("detail", "")}

    assert "DDI-010" in rules(_statement("红霉素"))
    by_text = _route_statement("红霉素", dosage=[{"route": {"text": "外用"}}])
    by_snomed = _route_statement(
        "红霉素", dosage=[{"route": {"coding": [{"system": "http://snomed.info/sct", "code": "6064005"}]}}]
    )
    by_eye = _route_statement("红霉素", dosage=[{"route": {"text": "滴眼"}}])
    for st in (by_text, by_snomed, by_eye):
        got = rules(st)
        assert "DDI-010" not in got and "REC-005" in got, (st, got)


def test_fhir_text_with_dose_is_read_as_the_drug() -> None:
    pytest.importorskip("fhir.resources")
    from toolkit.service.cds import HookRequest, hook_to_case

    prefetch = {
        "medicationStatements": _searchset([_statement("华法林钠片 3mg qd")]),
        "medicationRequests": None,
    }
    hc = hook_to_case(HookRequest.model_validate(_hook(prefetch)))
    assert hc.fc is not None
    from toolkit.knowledge import get_knowledge

    assert _ids(hc.fc.case, get_knowledge()) == ["warfarin"]


def test_fhir_ended_statement_and_planned_request_are_not_current() -> None:
    pytest.importorskip("fhir.resources")
    from toolkit.service.cds import HookRequest, hook_to_case

    ended = _route_statement("华法林", effectivePeriod={"start": "2020-01-01", "end": "2024-01-01"})
    ongoing = _route_statement("阿司匹林", effectivePeriod={"start": "2020-01-01", "end": "2099-01-01"})
    plan = _mr("mr-plan", "苯磺酸氨氯地平片", "active", 5, "mg") | {"intent": "plan"}
    proposal = _mr("mr-prop", "辛伐他汀片", "active", 20, "mg") | {"intent": "proposal"}
    order = _mr("mr-old", "氯吡格雷片", "active", 75, "mg")
    prefetch = {
        "medicationStatements": _searchset([ended, ongoing]),
        "medicationRequests": _searchset([plan, proposal, order]),
    }
    hc = hook_to_case(HookRequest.model_validate(_hook(prefetch)))
    assert hc.fc is not None
    assert hc.fc.case.patient.current_medications == ("阿司匹林", "氯吡格雷片")


def test_bare_insulin_is_no_false_insulin_duplicate(shipped_kb: Any) -> None:
    """胰岛素 on a medication list names no insulin: no 胰岛素方案重复 with a prescribed analogue, an info
    that the duplicate check was not done; the class's interactions still apply."""
    aspart = item("门冬胰岛素注射液", dose=6, unit="U", frequency="tid", route="皮下注射")
    dm = [("2型糖尿病", "E11.9")]
    report = audit(make_case(aspart, diagnoses=dm, current_medications="胰岛素"), shipped_kb)
    assert not [f for f in report.findings if f.category.value == "duplicate_therapy"]
    (f,) = [f for f in report.findings if f.rule_id == "RX-REC-005"]
    assert f.severity is Severity.INFO and "胰岛素类" in f.message and "已按该类别核对相互作用" in f.message
    assert "—" not in f.message and "{" not in f.message
    # a specific home insulin is still compared (two premixed insulins are a duplicate)
    named = make_case(aspart, diagnoses=dm, current_medications="精蛋白生物合成人胰岛素注射液(预混30R)")
    assert "RX-DUP-014" in _rules(audit(named, shipped_kb))
    # the class's interactions: insulin + a fluoroquinolone (RX-DDI-063)
    lev = make_case(LEVOFLOXACIN, diagnoses=[("急性支气管炎", "J20.9")], current_medications="胰岛素")
    assert "RX-DDI-063" in _rules(audit(lev, shipped_kb))


PARACETAMOL_1G_QID = item("对乙酰氨基酚片", dose=1, unit="g", strength="0.5 g", frequency="qid")
PARACETAMOL_05G_TID = item("对乙酰氨基酚片", dose=0.5, unit="g", strength="0.5 g", frequency="tid")


def test_rx_dup_001_blocks_when_the_lines_reach_the_max_and_home_has_the_ingredient(shipped_kb: Any) -> None:
    """fires: 对乙酰氨基酚 1 g qid (4 g, the daily maximum) + home 复方氨酚烷胺: over the max → block."""
    report = audit(make_case(PARACETAMOL_1G_QID, current_medications=["复方氨酚烷胺胶囊"]), shipped_kb)
    (f,) = [f for f in report.findings if f.rule_id == "RX-DUP-001"]
    assert f.severity is Severity.BLOCK and report.status == "flagged"
    assert "仅本处方已达每日最大剂量" in f.message and "复方氨酚烷胺胶囊即超过最大剂量" in f.message
    assert f.items == (0,)


def test_rx_dup_001_below_the_max_with_a_home_product_stays_warn(shipped_kb: Any) -> None:
    """silent (no block): 对乙酰氨基酚 0.5 g tid (1.5 g) + home 复方氨酚烷胺: the duplicate is a warn."""
    report = audit(make_case(PARACETAMOL_05G_TID, current_medications=["复方氨酚烷胺胶囊"]), shipped_kb)
    (f,) = [f for f in report.findings if f.rule_id == "RX-DUP-001"]
    assert f.severity is Severity.WARN and "最大剂量" not in f.message
    # the same lines without a home product: no duplicate at all
    assert "RX-DUP-001" not in _rules(audit(make_case(PARACETAMOL_1G_QID), shipped_kb))


def test_repeated_names_are_one_and_the_limit_applies_to_distinct_drugs() -> None:
    names = [f"药{i % 30}" for i in range(150)]
    case = make_case(IBUPROFEN, current_medications=names)
    assert len(case.patient.current_medications) == 30
    many = make_case(IBUPROFEN, current_medications=";".join(["华法林"] * 101))
    assert many.patient.current_medications == ("华法林",)
    with pytest.raises(ValueError):
        make_case(IBUPROFEN, current_medications=[f"药{i}" for i in range(101)])


@pytest.mark.parametrize(
    ("cell", "entries"),
    [
        # a stop word that is not about this drug, or a pause said to end: still taken (review-2)
        ("华法林（停用阿司匹林后继续服用）", ("华法林（停用阿司匹林后继续服用）",)),
        ("阿托伐他汀 20mg qn 暂停服用3天后恢复", ("阿托伐他汀 20mg qn 暂停服用3天后恢复",)),
        ("华法林 不能停", ("华法林 不能停",)),
        ("华法林 未停；阿司匹林（已停）", ("华法林 未停",)),
    ],
)
def test_an_entry_said_to_go_on_is_kept(cell: str, entries: tuple[str, ...]) -> None:
    from toolkit.records import Patient

    assert Patient(current_medications=cell).current_medications == entries
