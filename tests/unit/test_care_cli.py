"""``clinic care`` / ``clinic eval care``: the JSONL contract, error rows, and the scoring library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli.main import app
from toolkit.errors import InputError
from toolkit.evaluation.care import evaluate_care

CONTRACT = {
    "id",
    "status",
    "conditions",
    "follow_up",
    "referral",
    "screening_due",
    "guidance",
    "reminders",
    "references",
    "notes",
    "error",
    "kb_version",
}
LABELLED = Path(__file__).parents[2] / "eval" / "data" / "care_cases.jsonl"

GOOD = {
    "id": "v1",
    "visit_date": "2026-03-01",
    "vitals": {"sbp": 186, "dbp": 100},
    "patient": {"age": 60, "sex": "男", "diagnoses": [{"name": "高血压", "icd10": "I10"}]},
}


def _lines(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_care_writes_one_contract_line_per_row_and_error_rows(tmp_path: Path):
    bad_field = {"id": "v3", "patient": {"age": 200}}
    src = _lines(
        tmp_path,
        json.dumps(GOOD, ensure_ascii=False),
        "{not json",
        json.dumps(bad_field),
        json.dumps({"id": "v4", "case": {"patient": {"diagnoses": [{"name": "2型糖尿病"}]}}}),
    )
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["care", str(src), "--format", "jsonl", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["v1", "row-2", "v3", "v4"]
    assert all(set(r) == CONTRACT for r in rows)
    ok = rows[0]
    assert ok["status"] == "ok" and ok["error"] is None
    assert (
        ok["conditions"][0]["disease"] == "hypertension" and ok["conditions"][0]["control"] == "uncontrolled"
    )
    assert {"disease", "control", "evidence", "targets"} <= set(ok["conditions"][0])
    assert ok["follow_up"]["interval_days"] == 14 and ok["follow_up"]["reason"]
    assert ok["referral"][0]["urgency"] == "urgent" and ok["referral"][0]["reason"]
    assert all("rule_id" in g and g["text"] for g in ok["guidance"])
    assert rows[1]["status"] == "error" and "not valid JSON" in rows[1]["error"]
    assert rows[2]["status"] == "error" and "patient.age" in rows[2]["error"]
    assert rows[3]["status"] == "ok" and rows[3]["conditions"][0]["control"] == "unknown"
    assert "已评估 4 次就诊，其中 2 行无法评估（错误）" in result.output


def test_care_json_format_and_record_fields(tmp_path: Path):
    src = _lines(tmp_path, json.dumps(GOOD, ensure_ascii=False), json.dumps(GOOD | {"id": "v2"}))
    result = CliRunner().invoke(app, ["care", str(src), "--format", "json", "--record-fields"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["id"] for d in data] == ["v1", "v2"]
    assert set(data[0]["record_fields"]) == {"健康指导", "随访"}


def test_eval_care_scores_a_small_file(tmp_path: Path):
    right = {
        "id": "a",
        "case": GOOD,
        "expected": {"control": {"hypertension": "uncontrolled"}, "interval_days": 14, "referral": "urgent"},
    }
    wrong = {
        "id": "b",
        "case": GOOD,
        "expected": {"control": {"hypertension": "controlled"}, "interval_days": 90, "referral": "none"},
    }
    src = _lines(tmp_path, json.dumps(right, ensure_ascii=False), json.dumps(wrong, ensure_ascii=False))
    report = evaluate_care(src)
    assert report["control"]["accuracy"] == 0.5 and report["interval"]["accuracy"] == 0.5
    assert report["referral"]["accuracy"] == 0.5 and report["referral"]["yes_no_accuracy"] == 0.5
    assert {m["id"] for m in report["mismatches"]} == {"b"}
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "care", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["control"]["n"] == 2
    assert "控制情况" in result.output and "应为 控制达标，实为 控制未达标" in result.output


def test_eval_rejects_unlabelled_lines(tmp_path: Path):
    src = _lines(tmp_path, json.dumps({"id": "a", "case": GOOD}))
    with pytest.raises(InputError, match="expected"):
        evaluate_care(src)


def test_labelled_set_is_well_formed():
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 80 and len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        exp = r["expected"]
        assert r["split"] in {"dev", "holdout"} and r["why"]
        assert set(exp["control"].values()) <= {"controlled", "uncontrolled", "unknown"}
        assert exp["referral"] in {"none", "routine", "urgent"}
        assert exp["interval_days"] is None or exp["interval_days"] > 0
