"""Prescription pre-audit (处方前置审核): ``audit(case, knowledge) -> AuditReport``."""

from toolkit.audit.engine import AuditOptions, CaseReviewer, ReviewResult, audit, error_report

__all__ = ["AuditOptions", "CaseReviewer", "ReviewResult", "audit", "error_report"]
