"""Care rules: loading with located errors, every rule fires once and stays silent once, engine behaviour."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from toolkit.care import CarePlan, assess, get_care_rules, load_care_rules
from toolkit.care.facts import CareCondition, CareFacts, _mentions, _worsens
from toolkit.errors import InputError, KnowledgeError
from toolkit.knowledge.loader import default_rules_dir
from toolkit.records import AuditCase

RULE_CASES = Path(__file__).parents[1] / "regression" / "care" / "rule_cases.yaml"
ICD = re.compile(r"[A-Z]\d{2}(\.\d{1,2})?")
VISIT = "2026-03-01"


def visit(spec: dict[str, Any], ident: str = "t") -> AuditCase:
    """An AuditCase from the shorthand of rule_cases.yaml."""
    patient: dict[str, Any] = {
        "age": spec.get("age", 60), "sex": spec.get("sex", "M"),
        "diagnoses": [{"name": d, "icd10": d} if ICD.fullmatch(d) else {"name": d} for d in spec.get("dx", [])],
        "labs": spec.get("labs", {}), "lab_dates": spec.get("dates", {}),
    }
    for key in ("smoker", "pregnant"):
        if key in spec:
            patient[key] = spec[key]
    vitals = dict(spec.get("vitals", {}))
    if "bp" in spec:
        vitals.update(sbp=spec["bp"][0], dbp=spec["bp"][1])
    case: dict[str, Any] = {"id": ident, "patient": patient, "visit_date": VISIT,
                            "visit_type": spec.get("vt", "复诊"), "record": {"主诉": "慢病复诊"}}
    if vitals:
        case["vitals"] = vitals
    if "text" in spec:
        case["record"]["现病史"] = spec["text"]
    return AuditCase.model_validate(case)


def fired(plan: CarePlan) -> set[str]:
    """Rule ids that made a statement in the plan (diseases recognised count as their DX rule)."""
    kb = get_care_rules()
    ids: set[str] = {d.id for d in kb.diseases if plan.control_of(d.disease.value) is not None}

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "rule_id":
                    ids.add(v)
                elif k == "rule_ids":
                    ids.update(v)
                else:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(plan.to_json_dict())
    return ids


CASES: dict[str, dict[str, Any]] = yaml.safe_load(RULE_CASES.read_text(encoding="utf-8"))


def test_every_rule_has_a_firing_and_a_silent_case():
    assert set(CASES) == set(get_care_rules().rule_ids())


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires(rule_id: str):
    assert rule_id in fired(assess(visit(CASES[rule_id]["fires"])))


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_stays_silent(rule_id: str):
    assert rule_id not in fired(assess(visit(CASES[rule_id]["silent"])))


# --------------------------------------------------------------------------- loader

def _copy_rules(tmp_path: Path) -> Path:
    target = tmp_path / "care"
    shutil.copytree(default_rules_dir() / "care", target)
    return target


def test_shipped_rules_load_and_cite_sources():
    kb = load_care_rules()
    assert kb.version.startswith("care+")
    for section in ("targets", "status", "referrals", "follow_up", "screening", "guidance"):
        for rule in getattr(kb, section):
            assert rule.references, rule.id


def test_loader_locates_bad_operator_and_unknown_fact(tmp_path: Path):
    root = _copy_rules(tmp_path)
    (root / "zz_bad.yaml").write_text(
        "referrals:\n"
        "  - id: CARE-BAD-REF-001\n    urgency: urgent\n    reason: x\n    references: [x]\n"
        "    when: {fact: vitals.sbp, op: gte, value: 180}\n"
        "  - id: CARE-BAD-REF-002\n    urgency: soon\n    reason: x\n    references: [x]\n"
        "    when: {fact: vitals.sbpp, op: ge, value: 180}\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load_care_rules(root)
    problems = "\n".join(err.value.problems)
    assert "care/zz_bad.yaml -> referrals[0] (CARE-BAD-REF-001) -> when" in problems
    assert "op: unknown 'gte'" in problems
    assert "referrals[1] (CARE-BAD-REF-002) -> urgency" in problems
    assert "unknown fact 'vitals.sbpp'" in problems


def test_loader_reports_duplicate_ids_unknown_sections_and_placeholders(tmp_path: Path):
    root = _copy_rules(tmp_path)
    (root / "zz_dup.yaml").write_text(
        "guidance:\n"
        "  - id: CARE-GUIDE-001\n    topic: t\n    text: 您的体重{weight}\n    references: [x]\n"
        "    when: {fact: disease, op: has, value: hypertension}\n"
        "advice: []\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load_care_rules(root)
    problems = "\n".join(err.value.problems)
    assert "care/zz_dup.yaml -> advice: unknown section" in problems
    assert "guidance (CARE-GUIDE-001): duplicate rule id, first in care/common.yaml" in problems
    assert "unknown placeholder '{weight}'" in problems


def test_loader_rejects_unknown_control_value_and_screening_item(tmp_path: Path):
    root = _copy_rules(tmp_path)
    (root / "zz_vals.yaml").write_text(
        "screening:\n"
        "  - id: CARE-BAD-SCR-001\n    item: retina\n    interval_days: 365\n    reason: x\n    references: [x]\n"
        "    when: {fact: control.t2dm, op: eq, value: good}\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load_care_rules(root)
    problems = "\n".join(err.value.problems)
    assert "screening[0] (CARE-BAD-SCR-001) -> item: Value error, unknown item 'retina'" in problems
    assert "'good' is not allowed for fact 'control.t2dm'" in problems


def test_loader_reports_bad_yaml(tmp_path: Path):
    root = _copy_rules(tmp_path)
    (root / "zz_broken.yaml").write_text("targets: [\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"zz_broken.yaml: not valid YAML"):
        load_care_rules(root)


# --------------------------------------------------------------------------- engine behaviour

def test_missing_hba1c_is_named_not_assumed():
    plan = assess(visit({"dx": ["E11"], "labs": {"hba1c": 6.5}, "dates": {"hba1c": "2025-05-01"}}))
    status = plan.conditions[0]
    assert status.control == "unknown"
    assert any("近6个月未记录糖化血红蛋白（最近一次2025-05-01" in m for m in status.missing)
    assert any("本次未记录" in m or "近1个月未记录空腹血糖" in m for m in status.missing)


def test_statements_cite_rule_and_values():
    plan = assess(visit({"dx": ["I10"], "bp": [150, 95]}))
    status = plan.conditions[0]
    sbp = next(s for s in status.evidence if "收缩压" in s.text)
    assert sbp.rule_id == "CARE-HTN-TGT-005" and sbp.values == {"vitals.sbp": 150.0}
    assert "目标 < 140 mmHg：未达标" in sbp.text
    assert any("国家基层高血压防治管理指南2020" in r for r in plan.references)


def test_negated_and_worsened_symptoms():
    assert not _mentions("无头痛、头晕，否认胸闷", "胸闷")
    assert _mentions("无明显诱因出现胸痛", "胸痛")
    assert _mentions("头痛，无恶心", "头痛") and not _mentions("头痛，无恶心", "恶心")
    assert _worsens("咳嗽咳痰加重3天", "咳嗽")
    assert not _worsens("咳嗽未见加重", "咳嗽")


def test_bmi_computed_from_weight_and_height():
    case = visit({"dx": ["I10"]}).model_copy(update={"patient": visit({"dx": ["I10"]}).patient.model_copy(
        update={"weight_kg": 81.0, "height_cm": 170.0})})
    assert CareFacts.of(case).bmi() == 28.0
    plan = assess(case)
    assert any(g.topic == "weight" and "28" in g.text for g in plan.guidance)


def test_no_visit_date_is_noted_and_screening_not_guessed():
    case = visit({"dx": ["E11"], "dates": {"fundus": "2025-01-01"}}).model_copy(update={"visit_date": None})
    plan = assess(case)
    assert any("未记录就诊日期" in n for n in plan.notes)
    assert "fundus" not in {s.item for s in plan.screening_due}


def test_no_chronic_disease_gives_empty_plan_with_reason():
    plan = assess(visit({"dx": ["J06"]}))
    assert plan.conditions == () and plan.follow_up.interval_days is None
    assert "未识别到纳入管理的慢性病" in plan.follow_up.reason


def test_record_fields_fill_guidance_and_follow_up():
    fields = assess(visit({"dx": ["I10"], "bp": [150, 95], "smoker": True})).to_record_fields()
    assert set(fields) == {"健康指导", "随访"}
    assert "5克" in fields["健康指导"] and "戒烟" in fields["健康指导"]
    assert "2周后复诊" in fields["随访"] and "高血压：控制未达标" in fields["随访"]


def test_bad_input_raises_input_error_naming_field():
    with pytest.raises(InputError) as err:
        assess({"id": "x", "patient": {"labs": {"hba1c_pct": 7}}})
    assert err.value.field == "patient.labs"


def test_condition_vocabulary_is_checked():
    with pytest.raises(ValueError, match="unknown fact"):
        CareCondition.model_validate({"fact": "labs.hba1c_pct", "op": "gt", "value": 7})
    with pytest.raises(ValueError, match="needs a non-empty list"):
        CareCondition.model_validate({"fact": "symptom", "op": "mentions", "value": "胸痛"})


def test_extracted_record_and_its_output_line_are_accepted():
    from toolkit.extract.records import OutpatientRecord
    from toolkit.records import Diagnosis, Vitals

    record = OutpatientRecord(text_length=10, age=65, sex="M", vitals=Vitals(sbp=160, dbp=95),
                              diagnoses=(Diagnosis(name="高血压", icd10="I10"),))
    plan = assess(record, case_id="rec-1")
    assert plan.id == "rec-1" and plan.control_of("hypertension") == "uncontrolled"
    line = assess({"id": "L1", "visit_date": VISIT, "record": record.contract_dict()})
    assert line.id == "L1" and line.follow_up.interval_days == 14 and line.notes == ()
