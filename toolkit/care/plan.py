"""Typed records of a chronic-disease care plan (the output of :func:`toolkit.care.assess`).

They live here rather than in ``toolkit/records.py`` because only the care stage
produces them; move them there if another stage starts reading them. Every
statement carries the rule id that made it, the values it used and the rule's
guideline references.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from toolkit.care.facts import Control, Disease
from toolkit.records import Record

Urgency = Literal["urgent", "routine"]


class Statement(Record):
    """One sentence of evidence with the rule that made it and the values it used."""

    rule_id: str
    text: str
    values: dict[str, Any] = Field(default_factory=dict)


class TargetCheck(Record):
    """One target compared with the visit's value (``met`` is None when the value is missing or stale)."""

    rule_id: str
    fact: str
    label: str
    target: str = Field(description="the target as written, e.g. '< 140 mmHg'")
    actual: float | None = None
    measured: str | None = Field(default=None, description="ISO date of the value, when known")
    met: bool | None = None
    controls: bool = True


class ConditionStatus(Record):
    """Control status of one managed disease at this visit."""

    disease: Disease
    name: str
    control: Control
    population: str = ""
    evidence: tuple[Statement, ...] = ()
    targets: tuple[TargetCheck, ...] = ()
    missing: tuple[str, ...] = Field(default=(), description="data the status could not use, named")


class FollowUp(Record):
    """The proposed follow-up: the shortest interval among the matching rules (None: no rule matched)."""

    interval_days: int | None = None
    reason: str = ""
    rule_ids: tuple[str, ...] = ()


class Referral(Record):
    """A 转诊 (referral) raised by a rule, with its urgency, reason and the values it used."""

    rule_id: str
    urgency: Urgency
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    references: tuple[str, ...] = ()


class ScreeningDue(Record):
    """A screening or monitoring check that is due: never recorded or older than ``interval_days``."""

    rule_id: str
    item: str
    label: str
    interval_days: int
    last_date: str | None = None
    days_since: int | None = None
    reason: str
    references: tuple[str, ...] = ()


class Guidance(Record):
    """Non-drug advice for the patient on one topic (the first matching guidance rule's text)."""

    rule_id: str
    topic: str
    text: str
    references: tuple[str, ...] = ()


class Reminder(Record):
    """A note for the clinician: a quality-of-care check (e.g. no statin prescribed in CHD)."""

    rule_id: str
    text: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    references: tuple[str, ...] = ()


class CarePlan(Record):
    """The care plan of one visit; ``status`` is ``error`` when the input could not be read."""

    id: str
    status: Literal["ok", "error"] = "ok"
    conditions: tuple[ConditionStatus, ...] = ()
    follow_up: FollowUp = Field(default_factory=FollowUp)
    referral: tuple[Referral, ...] = ()
    screening_due: tuple[ScreeningDue, ...] = ()
    guidance: tuple[Guidance, ...] = ()
    reminders: tuple[Reminder, ...] = Field(
        default=(), description="notes for the clinician, not the patient"
    )
    references: tuple[str, ...] = ()
    notes: tuple[str, ...] = Field(default=(), description="visit-level gaps, e.g. no visit date")
    error: str | None = None
    kb_version: str | None = None

    @property
    def referral_urgency(self) -> Urgency | None:
        """The most urgent referral raised, or None."""
        urgencies = {r.urgency for r in self.referral}
        return "urgent" if "urgent" in urgencies else ("routine" if urgencies else None)

    def control_of(self, disease: str) -> Control | None:
        """The control status of ``disease`` at this visit, or None when it is not among the conditions."""
        return next((c.control for c in self.conditions if c.disease == disease), None)

    def to_json_dict(self) -> dict[str, Any]:
        """The stable JSONL contract: id, status, conditions, follow_up, referral, screening_due,
        guidance, reminders, references, notes, error, kb_version."""
        return self.model_dump(mode="json")

    def to_record_fields(self) -> dict[str, str]:
        """Text for the draft record's 健康指导 and 随访 sections, in plain Chinese."""
        guidance = "\n".join(f"{i}. {g.text}" for i, g in enumerate(self.guidance, 1))
        lines: list[str] = []
        for r in self.referral:
            lines.append(("紧急转诊：" if r.urgency == "urgent" else "建议转诊：") + r.reason)
        if self.follow_up.interval_days:
            lines.append(f"建议{_days(self.follow_up.interval_days)}后复诊随访（{self.follow_up.reason}）。")
        elif self.follow_up.reason:
            lines.append(self.follow_up.reason)
        for c in self.conditions:
            words = _COPD_ZH if c.disease == Disease.COPD else _CONTROL_ZH
            lines.append(
                f"{c.name}：{words[c.control]}" + (f"（{'；'.join(c.missing)}）" if c.missing else "") + "。"
            )
        if self.screening_due:
            lines.append("待完成检查：" + "、".join(s.label for s in self.screening_due) + "。")
        return {"健康指导": guidance, "随访": "\n".join(lines)}


_CONTROL_ZH = {
    Control.CONTROLLED: "控制达标",
    Control.UNCONTROLLED: "控制未达标",
    Control.UNKNOWN: "本次资料不足，无法判断控制情况",
}
# COPD has no numeric target: its status is stable (稳定期) or an exacerbation (急性加重).
_COPD_ZH = {
    Control.CONTROLLED: "稳定期",
    Control.UNCONTROLLED: "急性加重或病情不稳定",
    Control.UNKNOWN: "记录未描述症状变化，无法判断是否稳定",
}


def _days(n: int) -> str:
    if n % 30 == 0 and n >= 30:
        return f"{n // 30}个月"
    if n % 7 == 0:
        return f"{n // 7}周"
    return f"{n}天"
