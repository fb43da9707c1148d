"""Recall and precision of the pre-audit per finding category on labelled cases.

Each labelled case lists the findings a careful pharmacist would raise
(category, drugs, severity). Only actionable findings (warn, block) are
scored: info findings are notes. A predicted finding matches an expected one
of the same category when their drug sets overlap (or either names no drug,
for prescription-level problems such as too many items). Predictions are
deduplicated by (category, drugs) first, so a dose that is over both the
single and the daily maximum counts once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from toolkit.audit import AuditOptions, audit
from toolkit.errors import InputError
from toolkit.knowledge.loader import Knowledge
from toolkit.records import AuditCase, Category, Finding, Severity


class Expected(BaseModel):
    """One finding a pharmacist expects on a labelled case: category, severity and the drugs it names."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    category: Category
    severity: Severity
    drugs: tuple[str, ...] = ()


class LabelledCase(BaseModel):
    """One line of a labelled JSONL set: an AuditCase (without its id) and the findings it should raise."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    case: dict[str, Any]
    expected: tuple[Expected, ...] = ()
    tags: tuple[str, ...] = ()
    why: str = ""


@dataclass
class CategoryScore:
    """True/false positive and false negative counts of one finding category, with severity agreement."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    severity_agree: int = 0

    @property
    def precision(self) -> float | None:
        """tp / (tp + fp), or None when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """tp / (tp + fn), or None when nothing was expected."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall; 0.0 when either is 0, None when either is undefined."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)


@dataclass
class AuditEvalReport:
    """The scores of one labelled set: per category, clean cases passed, input errors and misses."""

    cases: int
    clean_cases: int
    clean_passed: int
    per_category: dict[str, CategoryScore]
    errors: list[dict[str, Any]] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)
    kb_version: str = ""

    @property
    def total(self) -> CategoryScore:
        """Counts summed over every category (the micro average)."""
        t = CategoryScore()
        for s in self.per_category.values():
            t.tp, t.fp, t.fn = t.tp + s.tp, t.fp + s.fp, t.fn + s.fn
            t.severity_agree += s.severity_agree
        return t

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict: micro and per-category scores, errors and misses."""

        def score(s: CategoryScore) -> dict[str, Any]:
            return {
                "tp": s.tp,
                "fp": s.fp,
                "fn": s.fn,
                "precision": s.precision,
                "recall": s.recall,
                "f1": s.f1,
                "severity_agreement": s.severity_agree / s.tp if s.tp else None,
            }

        return {
            "cases": self.cases,
            "clean_cases": self.clean_cases,
            "clean_passed": self.clean_passed,
            "kb_version": self.kb_version,
            "micro": score(self.total),
            "per_category": {k: score(v) for k, v in sorted(self.per_category.items())},
            "errors": self.errors,
            "misses": self.misses,
        }


def read_labelled(path: str | Path) -> list[LabelledCase]:
    """Read a labelled JSONL file (blank lines skipped); InputError names the row of an invalid case."""
    path = Path(path)
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(LabelledCase.model_validate_json(line))
        except ValidationError as exc:
            raise InputError(
                str(exc.errors()[0]["msg"]) + f" at {exc.errors()[0]['loc']}", file=str(path), row=n
            ) from exc
    return out


def _canonical(name: str, kb: Knowledge) -> str:
    """Compare drugs by identity, not spelling (孟鲁司特钠 and 孟鲁司特 are one drug)."""
    m = kb.names.resolve(name)
    return kb.drugs[m.drug_id].name if m else name


def _overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    a, b = set(a), set(b)
    return not a or not b or bool(a & b)


def score_case(lc: LabelledCase, findings: Sequence[Finding], kb: Knowledge, report: AuditEvalReport) -> None:
    """Add one case's findings to ``report``: matched by category and overlapping drugs, warn/block only."""
    scores = report.per_category
    predicted: dict[tuple[str, frozenset[str]], Severity] = {}
    for f in findings:
        if f.severity is Severity.INFO:
            continue
        key = (f.category.value, frozenset(f.drugs))
        if key not in predicted or f.severity.rank > predicted[key].rank:
            predicted[key] = f.severity
    expected = [
        e.model_copy(update={"drugs": tuple(_canonical(d, kb) for d in e.drugs)})
        for e in lc.expected
        if e.severity is not Severity.INFO
    ]
    if not expected:
        report.clean_cases += 1
        report.clean_passed += int(not predicted)
    unmatched = dict(predicted)
    for e in expected:
        hit = next((k for k in unmatched if k[0] == e.category.value and _overlap(k[1], e.drugs)), None)
        s = scores[e.category.value]
        if hit is None:
            s.fn += 1
            report.misses.append({"id": lc.id, "missed": e.model_dump(mode="json")})
            continue
        s.tp += 1
        s.severity_agree += int(unmatched.pop(hit) is e.severity)
    for (category, drugs), sev in unmatched.items():
        scores[category].fp += 1
        report.misses.append(
            {"id": lc.id, "extra": {"category": category, "drugs": sorted(drugs), "severity": sev.value}}
        )


def evaluate_audit(
    cases: list[LabelledCase], kb: Knowledge, options: AuditOptions | None = None
) -> AuditEvalReport:
    """Score the audit (rules, and the reviewer's findings when ``options.reviewer``) on labelled cases."""
    scores: dict[str, CategoryScore] = {c.value: CategoryScore() for c in Category}
    report = AuditEvalReport(
        cases=len(cases), clean_cases=0, clean_passed=0, per_category=scores, kb_version=kb.version
    )
    for lc in cases:
        try:
            case = AuditCase.model_validate({"id": lc.id, **lc.case})
        except ValidationError as exc:
            report.errors.append({"id": lc.id, "error": str(exc)})
            continue
        result = audit(case, kb, options)
        score_case(lc, result.findings, kb, report)
    return report


def category_counts(cases: list[LabelledCase]) -> Counter:
    """Number of expected warn/block findings per category over ``cases`` (info findings are not scored)."""
    return Counter(e.category.value for c in cases for e in c.expected if e.severity is not Severity.INFO)
