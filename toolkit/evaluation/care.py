"""Score care plans against labelled visits (``eval/data/care_cases.jsonl``).

Each line: ``{"id", "split", "case": {AuditCase}, "expected": {"control": {disease: status},
"interval_days": int | null, "referral": "none" | "routine" | "urgent"}, "why": "..."}``.
The labels come from guideline facts written by hand, not from this engine's output.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from toolkit.care.assess import assess
from toolkit.care.knowledge import CareKnowledge, get_care_rules
from toolkit.errors import InputError, ToolkitError

log = logging.getLogger(__name__)

REFERRAL_LABELS = ("none", "routine", "urgent")


def _ratio(correct: int, n: int) -> float | None:
    return round(correct / n, 4) if n else None


def read_labelled(path: str | Path) -> list[dict[str, Any]]:
    """The labelled lines of ``path``; a line that is not JSON or lacks ``expected`` is an InputError."""
    rows = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", file=str(path), row=i) from exc
        if not isinstance(row, dict) or not isinstance(row.get("expected"), dict):
            raise InputError(
                "a labelled line needs an 'expected' object", file=str(path), row=i, field="expected"
            )
        rows.append(row)
    return rows


def evaluate_care(
    path: str | Path, rules: CareKnowledge | None = None, split: str | None = None
) -> dict[str, Any]:
    """Accuracy of control status (per disease), follow-up interval and referral on a labelled file.

    ``split`` keeps only lines whose ``split`` field equals it (``dev``: seen while the rules were
    written; ``holdout``: written after the rules were frozen).
    """
    kb = rules or get_care_rules()
    rows = [r for r in read_labelled(path) if split is None or r.get("split") == split]
    control_n = control_ok = interval_n = interval_ok = referral_n = referral_ok = yes_no_ok = 0
    recog_n = recog_ok = 0
    by_disease: dict[str, Counter[str]] = defaultdict(Counter)
    control_confusion: dict[str, Counter[str]] = defaultdict(Counter)
    referral_confusion: dict[str, Counter[str]] = defaultdict(Counter)
    mismatches: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for row in rows:
        ident = str(row.get("id"))
        exp = row["expected"]
        try:
            plan = assess(row, kb)
        except ToolkitError as exc:
            errors.append({"id": ident, "error": str(exc)})
            continue
        got_control = {c.disease.value: c.control.value for c in plan.conditions}
        exp_control = exp.get("control", {})
        recog_n += 1
        if set(got_control) == set(exp_control):
            recog_ok += 1
        else:
            mismatches.append(
                {
                    "id": ident,
                    "field": "diseases",
                    "expected": sorted(exp_control),
                    "predicted": sorted(got_control),
                }
            )
        for disease, want in exp_control.items():
            got = got_control.get(disease, "not_recognised")
            control_n += 1
            by_disease[disease]["n"] += 1
            control_confusion[want][got] += 1
            if got == want:
                control_ok += 1
                by_disease[disease]["correct"] += 1
            else:
                mismatches.append(
                    {"id": ident, "field": f"control.{disease}", "expected": want, "predicted": got}
                )
        if "interval_days" in exp:
            interval_n += 1
            got_interval = plan.follow_up.interval_days
            if got_interval == exp["interval_days"]:
                interval_ok += 1
            else:
                mismatches.append(
                    {
                        "id": ident,
                        "field": "interval_days",
                        "expected": exp["interval_days"],
                        "predicted": got_interval,
                    }
                )
        if "referral" in exp:
            referral_n += 1
            got_ref = plan.referral_urgency or "none"
            referral_confusion[exp["referral"]][got_ref] += 1
            if got_ref == exp["referral"]:
                referral_ok += 1
            else:
                mismatches.append(
                    {"id": ident, "field": "referral", "expected": exp["referral"], "predicted": got_ref}
                )
            if (got_ref == "none") == (exp["referral"] == "none"):
                yes_no_ok += 1
    report = {
        "file": str(path),
        "split": split or "all",
        "kb_version": kb.version,
        "n_cases": len(rows),
        "n_errors": len(errors),
        "recognition": {"n": recog_n, "correct": recog_ok, "accuracy": _ratio(recog_ok, recog_n)},
        "control": {
            "n": control_n,
            "correct": control_ok,
            "accuracy": _ratio(control_ok, control_n),
            "by_disease": {
                d: {"n": c["n"], "correct": c["correct"], "accuracy": _ratio(c["correct"], c["n"])}
                for d, c in sorted(by_disease.items())
            },
            "confusion": {k: dict(v) for k, v in sorted(control_confusion.items())},
        },
        "interval": {"n": interval_n, "correct": interval_ok, "accuracy": _ratio(interval_ok, interval_n)},
        "referral": {
            "n": referral_n,
            "correct": referral_ok,
            "accuracy": _ratio(referral_ok, referral_n),
            "yes_no_accuracy": _ratio(yes_no_ok, referral_n),
            "confusion": {k: dict(v) for k, v in sorted(referral_confusion.items())},
        },
        "mismatches": mismatches,
        "errors": errors,
    }
    log.info(
        "care eval on %d cases: control %s, interval %s, referral %s",
        len(rows),
        report["control"]["accuracy"],
        report["interval"]["accuracy"],
        report["referral"]["accuracy"],
    )
    return report
