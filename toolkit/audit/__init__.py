"""Prescription pre-audit (处方前置审核): ``audit(case, knowledge) -> AuditReport``."""

from toolkit.audit.engine import AuditOptions, audit, error_report

__all__ = ["AuditOptions", "audit", "error_report"]
