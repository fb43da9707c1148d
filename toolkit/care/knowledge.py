"""Load and validate the care rules in ``rules/care/`` (same loader helpers as the audit KB).

Every file is validated at load and every problem is reported at once, located
as ``care/hypertension.yaml -> targets[2] (CARE-HTN-TGT-003) -> when -> op: …``.
"""

from __future__ import annotations

import hashlib
import logging
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from toolkit.care.facts import Disease
from toolkit.care.schema import (
    SECTIONS,
    CareRulesFile,
    CountRule,
    DiseaseDef,
    FollowUpRule,
    GuidanceRule,
    ReferralRule,
    ReminderRule,
    ScreeningRule,
    StatusRule,
    TargetRule,
)
from toolkit.errors import KnowledgeError
from toolkit.knowledge.loader import _read_yaml, _validate_entries, default_rules_dir

log = logging.getLogger(__name__)

GUIDANCE_FIELDS = frozenset({"bmi", "age", "weight_kg", "waist_cm", "sbp", "dbp"})
"""Placeholders a guidance text may use, e.g. '您的BMI为{bmi}'."""


@dataclass(frozen=True)
class CareKnowledge:
    """The validated care rules, in file order. Build once per process and share read-only."""

    diseases: tuple[DiseaseDef, ...]
    targets: tuple[TargetRule, ...]
    status: tuple[StatusRule, ...]
    referrals: tuple[ReferralRule, ...]
    follow_up: tuple[FollowUpRule, ...]
    screening: tuple[ScreeningRule, ...]
    guidance: tuple[GuidanceRule, ...]
    reminders: tuple[ReminderRule, ...]
    counts: tuple[CountRule, ...]
    fingerprint: str

    def count_rules(self) -> dict[str, CountRule]:
        """The counted criteria by name (``count.<name>`` facts)."""
        return {c.count: c for c in self.counts}

    @property
    def version(self) -> str:
        """The care rules' version for reports: ``care+`` and 8 hex digits of their fingerprint."""
        return f"care+{self.fingerprint[:8]}"

    def rule_ids(self) -> list[str]:
        """Every rule id, in file order."""
        return [r.id for s in SECTIONS for r in getattr(self, s)]


def default_care_dir() -> Path:
    """The care rules shipped with the package (``rules/care/`` in the repository)."""
    return default_rules_dir() / "care"


def load_care_rules(care_dir: str | Path | None = None) -> CareKnowledge:
    """Load every ``*.yaml`` under ``care_dir`` (default: the shipped rules); raise KnowledgeError listing all
    problems."""
    root = Path(care_dir) if care_dir else default_care_dir()
    if not root.is_dir():
        raise KnowledgeError([f"{root}: care rules directory not found"])
    problems: list[str] = []
    digest = hashlib.sha256()
    sections: dict[str, list[tuple[str, Any]]] = {s: [] for s in SECTIONS}
    paths = sorted(root.rglob("*.yaml"))
    if not paths:
        problems.append(f"{root}: no care rule files (*.yaml)")
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
        name = f"{root.name}/{path.relative_to(root).as_posix()}"
        data = _read_yaml(path, root, problems)
        if data is None:
            continue
        entries = _validate_entries(name, data, CareRulesFile, problems)
        for s in SECTIONS:
            sections[s].extend((name, r) for r in entries.get(s, []))
    _cross_check(sections, problems)
    if problems:
        raise KnowledgeError(problems)
    kb = CareKnowledge(
        **{s: tuple(r for _, r in sections[s]) for s in SECTIONS},  # type: ignore[arg-type]
        fingerprint=digest.hexdigest(),
    )
    log.info("care rules %s loaded: %d rules", kb.version, len(kb.rule_ids()))
    return kb


def _cross_check(sections: dict[str, list[tuple[str, Any]]], problems: list[str]) -> None:
    """Rule ids unique, each disease defined once and given targets or status rules, placeholders known."""
    seen: dict[str, str] = {}
    for s in SECTIONS:
        for file, r in sections[s]:
            rid = r.id
            if rid in seen:
                problems.append(f"{file} -> {s} ({rid}): duplicate rule id, first in {seen[rid]}")
            seen.setdefault(rid, file)
    defined: dict[str, str] = {}
    for file, d in sections["diseases"]:
        key = d.disease.value
        if key in defined:
            problems.append(
                f"{file} -> diseases ({d.id}) -> disease: '{key}' already defined in {defined[key]}"
            )
        defined.setdefault(key, file)
    assessed = {r.disease.value for s in ("targets", "status") for _, r in sections[s]}
    for s in ("targets", "status"):
        for file, r in sections[s]:
            if r.disease.value not in defined:
                problems.append(
                    f"{file} -> {s} ({r.id}) -> disease: '{r.disease.value}' has no entry in diseases"
                )
    for key, file in defined.items():
        if key not in assessed:
            problems.append(f"{file} -> diseases: '{key}' has no targets or status rules")
    missing = sorted(d.value for d in Disease if d.value not in defined)
    if sections["diseases"] and missing:
        log.warning("care rules define no recognition rule for: %s", ", ".join(missing))
    counted: dict[str, str] = {}
    for file, c in sections["counts"]:
        if c.count in counted:
            problems.append(
                f"{file} -> counts ({c.id}) -> count: '{c.count}' already defined in {counted[c.count]}"
            )
        counted.setdefault(c.count, file)
    for s in SECTIONS:
        for file, r in sections[s]:
            trees = [r.when] if getattr(r, "when", None) is not None else []
            for tree in trees:
                for fact in tree.facts():
                    if fact.startswith("count.") and fact[6:] not in counted:
                        problems.append(
                            f"{file} -> {s} ({r.id}) -> when: '{fact}' has no definition in a counts section"
                        )
    for file, g in sections["guidance"]:
        names = {f for _, f, _, _ in string.Formatter().parse(g.text) if f}
        for unknown in sorted(names - GUIDANCE_FIELDS):
            problems.append(
                f"{file} -> guidance ({g.id}) -> text: unknown placeholder '{{{unknown}}}'; "
                f"allowed: {', '.join(sorted(GUIDANCE_FIELDS))}"
            )


@lru_cache(maxsize=4)
def get_care_rules(care_dir: str | None = None) -> CareKnowledge:
    """The care rules for this process: loaded once per directory and shared."""
    return load_care_rules(care_dir)
