"""The labelled audit evaluation runs in CI and guards against regressions.

The floors sit a little under what was measured when they were set (see the issue note);
they catch an engine or knowledge-base change that loses findings or adds false ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from toolkit.evaluation.audit import evaluate_audit, read_labelled

DATA = Path(__file__).resolve().parents[2] / "eval" / "data"


@pytest.mark.regression
def test_dev_set_precision_and_recall(shipped_kb: Any) -> None:
    report = evaluate_audit(read_labelled(DATA / "audit_cases.jsonl"), shipped_kb)
    micro = report.to_json()["micro"]
    assert report.cases >= 150 and not report.errors
    assert micro["recall"] >= 0.95, micro
    assert micro["precision"] >= 0.90, micro
    assert report.clean_passed >= report.clean_cases - 3
    for category, score in report.to_json()["per_category"].items():
        if score["tp"] + score["fn"]:
            assert score["recall"] >= 0.8, (category, score)
