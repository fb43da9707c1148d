"""eval/visit/score_visit_audio.py without the speech model: alignment, why a finding was missed, and the
hint merge and scoring it shares with eval/visit/score_visit_cases.py (:mod:`toolkit.evaluation.visit`).

The audio side is a hand-made :class:`~toolkit.asr.records.Transcript` (``visit(transcript=…)``), so no
Whisper model is loaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("rapidfuzz")

from toolkit.asr.records import Transcript
from toolkit.evaluation.visit import EXTRACTION_RULES, hint_header, score_case, summarize
from toolkit.knowledge import get_knowledge
from toolkit.visit import visit

SCRIPT = Path(__file__).resolve().parents[2] / "eval" / "visit" / "score_visit_audio.py"


@pytest.fixture(scope="module")
def sva():
    spec = importlib.util.spec_from_file_location("score_visit_audio", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASE = {
    "id": "T-1",
    "text": "主诉咽痛三天。既往体健。过敏史青霉素过敏。诊断急性扁桃体炎。处理阿莫西林胶囊零点五克，一天三次，口服，吃五天。",
    "patient_hint": {"age": 30, "sex": "M", "labs": {"egfr": 90}},
    "expected": [{"category": "allergy", "severity": "block", "drugs": ["阿莫西林"]}],
    "clean": False,
}


def test_aligned_maps_a_span_through_substitutions_and_deletions(sva):
    assert sva.aligned("处理阿莫西林胶囊零点五克", "处理阿么西林胶囊0.5克", 2, 6) == "阿么西林"
    assert sva.aligned("abcdef", "abXXef", 2, 4) == "XX"
    assert sva.aligned("abcdef", "abef", 2, 4) == ""
    assert sva.aligned("abc", "abc", 0, 3) == "abc"


def test_hint_facts_are_merged_and_the_planted_finding_is_found_from_text(sva):
    kb = get_knowledge()
    v = visit(text=CASE["text"], id="T-1", header=hint_header(CASE))
    assert score_case(CASE, v.case, kb)["found"] == 1
    # the allergy only in the hint (not said): found through the merge, missed without it
    unsaid = {**CASE, "text": CASE["text"].replace("过敏史青霉素过敏。", "")}
    v = visit(text=unsaid["text"], id="T-1", header=hint_header(CASE))
    assert score_case(unsaid, v.case, kb)["missed"] == CASE["expected"]
    hinted = {**unsaid, "patient_hint": {**CASE["patient_hint"], "allergies": ["青霉素"]}}
    row = score_case(hinted, v.case, kb)
    assert row["found"] == 1 and row["missed"] == []


def test_a_misheard_drug_name_is_reported_with_what_was_heard(sva):
    kb = get_knowledge()
    vt = visit(text=CASE["text"], id="T-1", header=hint_header(CASE))
    va = visit(transcript=Transcript(text=CASE["text"].replace("阿莫西林", "阿么细林")), id="T-1")
    row = score_case(CASE, va.case, kb)
    assert row["missed"] == CASE["expected"]
    why = sva.why_missed(CASE["expected"][0], vt, va, kb)
    assert why["drugs_not_read"] == [
        {"drug": "阿莫西林", "said": "阿莫西林胶囊", "heard": "阿么细林胶囊", "heard_raw": "阿么细林胶囊"}
    ]


def test_a_misheard_allergy_is_reported(sva):
    kb = get_knowledge()
    vt = visit(text=CASE["text"], id="T-1", header=hint_header(CASE))
    va = visit(transcript=Transcript(text=CASE["text"].replace("青霉素过敏", "清梅素国民")), id="T-1")
    assert score_case(CASE, va.case, kb)["missed"] == CASE["expected"]
    why = sva.why_missed(CASE["expected"][0], vt, va, kb)
    assert why["drugs_not_read"] == [] and why["allergies"]["audio"] == []
    assert why["allergies"]["text"]


def test_a_clean_case_false_alarm_from_a_missed_dose_counts_as_extraction() -> None:
    kb = get_knowledge()
    text = "主诉咽痛三天。既往体健。诊断急性扁桃体炎。处理阿莫西林胶囊，一天三次，口服。"  # no dose, no days
    case = {"id": "T-2", "text": text, "patient_hint": {"age": 30, "sex": "M"}, "expected": [], "clean": True}
    row = score_case(case, visit(text=text, id="T-2", header=hint_header(case)).case, kb)
    by_rule = {x["rule"]: x for x in row["extra"]}
    assert by_rule["RX-FMT-003"]["extraction"] is True and by_rule["RX-FMT-003"]["drugs"] == ["阿莫西林"]
    assert all(x["extraction"] == (x["rule"] in EXTRACTION_RULES) for x in row["extra"])
    assert any(not x["extraction"] for x in row["extra"])  # the record's missing sections: not extraction's


def test_summary_counts_clean_false_alarms_and_planted_cases_found() -> None:
    extra = {"rule": "R", "severity": "warn", "drugs": [], "message": ""}
    rows = [
        {"clean": True, "missed": [], "extra": []},
        {
            "clean": True,
            "missed": [],
            "extra": [{**extra, "extraction": True}, {**extra, "extraction": False}],
        },
        {"clean": False, "missed": [], "extra": [{**extra, "extraction": True}]},  # not a false alarm
        {"clean": False, "missed": [{"category": "allergy"}], "extra": []},
    ]
    assert summarize(rows) == {
        "cases": 4,
        "clean_cases": 2,
        "clean_with_any_warn_block": 1,
        "clean_warn_block_findings": 2,
        "clean_findings_from_extraction": 1,
        "planted_cases": 2,
        "planted_found": 1,
    }
