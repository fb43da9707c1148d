"""How well a review queue is ordered: ROC AUC, precision of the top of the queue, and the
rules-only order the reviewer is compared with (scored on labelled cases by
:mod:`toolkit.evaluation.reviewer`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from toolkit.onnx.models import auc
from toolkit.records import Finding, Severity

__all__ = ["auc", "precision_at", "rules_only_score"]


def rules_only_score(rule_findings: Sequence[Finding]) -> float:
    """The queue order without the model: worst severity first, then the number of warn/block findings."""
    worst = max((fd.severity.rank for fd in rule_findings), default=-1)
    return worst * 100 + sum(fd.severity is not Severity.INFO for fd in rule_findings)


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
