"""Rules alone vs rules + learned reviewer, on labelled cases the reviewer never saw.

Two questions, measured on the same cases:

* **findings** — per category precision/recall with the scorer of
  :mod:`toolkit.evaluation.audit` (same matching: category + overlapping drugs,
  warn/block only), once with the rule findings and once with the rule and the
  model findings together;
* **ranking** — how well the review queue is ordered. A case "needs intervention"
  when its labels hold any warn/block finding. The model orders by risk; the
  rules-only queue by worst severity then number of warn/block findings (ties in
  that order are counted at their expected value, as a random tie-break would).
  Reported: ROC AUC and the precision of the top 10 % of the queue.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from toolkit.audit import audit
from toolkit.audit.resolve import resolve_item
from toolkit.knowledge.loader import Knowledge
from toolkit.onnx.models import auc
from toolkit.records import AuditCase, Category, Severity
from toolkit.review.model import Reviewer
from toolkit.review.queue import rules_only_score

from .audit import AuditEvalReport, CategoryScore, LabelledCase, score_case

__all__ = ["RankingScore", "ReviewerEvalReport", "evaluate_reviewer", "precision_at"]

log = logging.getLogger(__name__)


def precision_at(scores: Sequence[float], labels: Sequence[bool], fraction: float = 0.1) -> float | None:
    """Precision of the top ``fraction`` of a queue ordered by score; a tie at the cut counts at its mean."""
    n = len(scores)
    if not n:
        return None
    k = max(1, math.ceil(n * fraction))
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    cut = np.sort(s)[::-1][k - 1]
    above = s > cut
    tied = s == cut
    take = k - int(above.sum())
    positives = y[above].sum() + (y[tied].mean() * take if take else 0.0)
    return float(positives / k)


@dataclass
class RankingScore:
    """How well one queue order ranks the cases that need intervention: ROC AUC and top-10 % precision."""

    auc: float | None
    precision_top10: float | None

    def to_json(self) -> dict[str, Any]:
        """The score as a JSON-ready dict (None stays null)."""
        return {"auc": self.auc, "precision_top10": self.precision_top10}


@dataclass
class ReviewerEvalReport:
    """Rules alone vs rules + model on one labelled set."""

    cases: int
    needs_intervention: int
    rules: AuditEvalReport
    with_model: AuditEvalReport
    ranking_rules: RankingScore
    ranking_model: RankingScore
    model: str
    model_findings: dict[str, int] = field(default_factory=dict)
    mean_review_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict; ``model_extras``: model findings the labels do not hold."""
        rules, model = self.rules.to_json(), self.with_model.to_json()
        for d in (rules, model):
            d.pop("misses", None)
        return {
            "cases": self.cases,
            "needs_intervention": self.needs_intervention,
            "model": self.model,
            "mean_review_ms": self.mean_review_ms,
            "model_findings": self.model_findings,
            "ranking": {"rules_only": self.ranking_rules.to_json(), "model": self.ranking_model.to_json()},
            "rules": rules,
            "rules_plus_model": model,
            "model_extras": [
                m for m in self.with_model.misses if m not in self.rules.misses and "extra" in m
            ],
            "model_recovered": [
                m for m in self.rules.misses if m not in self.with_model.misses and "missed" in m
            ],
        }


def evaluate_reviewer(cases: Sequence[LabelledCase], kb: Knowledge, reviewer: Reviewer) -> ReviewerEvalReport:
    """Score rules alone and rules + model findings, and both queue orders, on ``cases``."""
    import time

    def empty() -> AuditEvalReport:
        return AuditEvalReport(
            cases=len(cases),
            clean_cases=0,
            clean_passed=0,
            per_category={c.value: CategoryScore() for c in Category},
            kb_version=kb.version,
        )

    rules_report, model_report = empty(), empty()
    risk: list[float] = []
    base: list[float] = []
    labels: list[bool] = []
    counts: dict[str, int] = {}
    spent = 0.0
    for lc in cases:
        try:
            case = AuditCase.model_validate({"id": lc.id, **lc.case})
        except ValidationError as exc:
            rules_report.errors.append({"id": lc.id, "error": str(exc)})
            model_report.errors.append({"id": lc.id, "error": str(exc)})
            continue
        findings = audit(case, kb).findings
        t = time.perf_counter()
        items = [resolve_item(i, it, kb) for i, it in enumerate(case.prescription.items)]
        review = reviewer.review(case, items, findings)
        spent += time.perf_counter() - t
        for f in review.findings:
            key = f"{f.rule_id} {f.severity.value}"
            counts[key] = counts.get(key, 0) + 1
        score_case(lc, findings, kb, rules_report)
        score_case(lc, (*findings, *review.findings), kb, model_report)
        risk.append(review.risk)
        base.append(rules_only_score(findings))
        labels.append(any(e.severity is not Severity.INFO for e in lc.expected))
    return ReviewerEvalReport(
        cases=len(cases),
        needs_intervention=sum(labels),
        rules=rules_report,
        with_model=model_report,
        ranking_rules=RankingScore(auc(base, labels), precision_at(base, labels)),
        ranking_model=RankingScore(auc(risk, labels), precision_at(risk, labels)),
        model=reviewer.revision,
        model_findings=dict(sorted(counts.items())),
        mean_review_ms=spent / max(len(labels), 1) * 1000,
    )
