"""One vocabulary of labels a person reads (issues 14, 15, 19): every code has its label, no copies."""

from __future__ import annotations

import re
from pathlib import Path

import toolkit
from toolkit import labels
from toolkit.batch.runner import STATUSES
from toolkit.records import AuditReport, Category, DianpingClass, Severity

ROOT = Path(toolkit.__file__).resolve().parent

RETIRED = ("处方书写规范", "禁忌症", "适应症")
"""Category names that disagreed with 医院处方点评管理规范/医疗机构处方审核规范 (labels.py says why)."""

# a dict literal that maps a code to its label outside labels.py is a copy
_COPY = re.compile(
    r'["\'](?:block|Severity\.BLOCK)["\']?\s*:\s*["\'](?:拦截|禁止)|'
    r'Severity\.BLOCK\s*:\s*["\'](?:拦截|禁止)|'
    r'["\']contraindication["\']\s*:\s*["\']禁忌|Category\.CONTRAINDICATION\s*:\s*["\']禁忌|'
    r'["\']needs_review["\']\s*:\s*["\']需人工审核|["\']full["\']\s*:\s*["\']完整审核'
)

PENDING: set[str] = set()
"""Files allowed to hold a copy for now (another change switching them); the test fails once a file here
has no copy left, so the list can only shrink. Empty: the demo, FHIR and formulary code all import labels."""


def test_every_code_has_a_label() -> None:
    assert (
        set(labels.STATUS_LABELS)
        == set(STATUSES)
        == set(AuditReport.model_fields["status"].annotation.__args__)
    )
    assert set(labels.SEVERITY_LABELS) == set(Severity)
    assert set(labels.CATEGORY_LABELS) == set(Category)
    assert set(labels.DIANPING_LABELS) == set(DianpingClass)
    assert set(labels.COVERAGE_LABELS) == set(labels.COVERAGE_LEVELS) == {"full", "class", "none"}
    assert set(labels.MATCH_LABELS) == set(labels.MATCH_KINDS)
    from typing import get_args

    from toolkit.knowledge.names import MatchKind

    assert set(labels.MATCH_KINDS) == set(get_args(MatchKind))
    all_labels = [
        *labels.STATUS_LABELS.values(),
        *labels.SEVERITY_LABELS.values(),
        *labels.CATEGORY_LABELS.values(),
        *labels.COVERAGE_LABELS.values(),
        *labels.MATCH_LABELS.values(),
        *labels.INPUT_ERRORS.values(),
    ]
    assert all(re.search(r"[\u4e00-\u9fff]", x) for x in all_labels)
    assert len(set(labels.CATEGORY_LABELS.values())) == len(Category)  # no two categories share a name


def test_terms_follow_the_regulations() -> None:
    assert labels.CATEGORY_LABELS[Category.INDICATION] == "适应证"
    assert labels.CATEGORY_LABELS[Category.CONTRAINDICATION] == "禁忌证"
    assert labels.CATEGORY_LABELS[Category.FORMAT] == "处方格式"
    assert [labels.SEVERITY_LABELS[s] for s in (Severity.BLOCK, Severity.WARN, Severity.INFO)] == [
        "拦截",
        "警示",
        "提示",
    ]
    assert labels.category_label("no-such-code") == "no-such-code"


def test_fhir_and_cds_displays_come_from_labels() -> None:
    from toolkit.service import cds, fhir_io

    assert fhir_io.CATEGORY_DISPLAY is labels.CATEGORY_LABELS
    assert cds.SEVERITY_ZH is labels.SEVERITY_LABELS


def _copies() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "labels.py":
            continue
        text = path.read_text(encoding="utf-8")
        hits = [m.group(0) for m in _COPY.finditer(text)] + [t for t in RETIRED if t in text]
        if hits:
            found[rel] = hits
    return found


def test_no_other_copy_of_the_labels() -> None:
    copies = _copies()
    unexpected = {k: v for k, v in copies.items() if k not in PENDING}
    assert not unexpected, f"label copies outside toolkit/labels.py: {unexpected}"
    switched = PENDING - set(copies)
    assert not switched, f"{switched} no longer hold copies: remove them from PENDING"
