"""The review queue's order without the model: the baseline the learned reviewer is compared with
(in training, :mod:`toolkit.review.train`, and on labelled cases, :mod:`toolkit.evaluation.reviewer`)."""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.records import Finding, Severity

__all__ = ["rules_only_score"]


def rules_only_score(rule_findings: Sequence[Finding]) -> float:
    """The queue order without the model: worst severity first, then the number of warn/block findings."""
    worst = max((fd.severity.rank for fd in rule_findings), default=-1)
    return worst * 100 + sum(fd.severity is not Severity.INFO for fd in rule_findings)
