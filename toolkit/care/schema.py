"""Schemas of the care rule files in ``rules/care/`` (see rules/care/README.md).

Every model forbids unknown keys, so a typo in a rule file is an error naming
the file, the entry and the field. Sections of a file:

- ``diseases``: how a managed disease is recognised from the diagnoses.
- ``targets``: control targets by population; the first matching entry per disease applies.
- ``status``: conditions that set a disease's control status (e.g. COPD exacerbation).
- ``referrals``: 转诊 criteria, ``urgent`` (紧急转诊) or ``routine`` (普通转诊).
- ``follow_up``: follow-up intervals; the shortest matching interval is proposed.
- ``screening``: complication and monitoring checks with their intervals.
- ``guidance``: non-drug advice written for the patient; one text per topic.
- ``reminders``: notes for the clinician (quality-of-care checks, e.g. no statin prescribed in CHD).
- ``counts``: counted criteria (e.g. 严重ASCVD事件), read by other rules as the fact ``count.<name>``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from toolkit.care.facts import CARE_FACTS, COUNTS, DATED_ITEMS, CareCondition, Control, Disease

CARE_RULE_ID = re.compile(r"CARE-[A-Z]+(-[A-Z0-9]+)*-\d{3}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Spec):
    id: str
    version: int = Field(default=1, ge=1)
    references: tuple[str, ...] = Field(min_length=1, description="guideline, year and section")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not CARE_RULE_ID.fullmatch(v):
            raise ValueError(f"rule id '{v}' must look like CARE-HTN-TGT-001")
        return v


class DiseaseDef(_Rule):
    """How a managed disease is recognised (usually ICD-10 ranges and diagnosis words)."""

    disease: Disease
    name: str
    when: CareCondition


class Measure(_Spec):
    """One target: a numeric fact compared with a threshold, e.g. 收缩压 < 140 mmHg."""

    fact: str
    op: Literal["lt", "le", "gt", "ge", "between"]
    value: float | tuple[float, float]
    controls: bool = Field(default=True, description="decides the disease's control status")
    max_age_days: int | None = Field(default=None, ge=0, description="labs older than this are not current")

    @model_validator(mode="after")
    def _check(self) -> Measure:
        if CARE_FACTS.get(self.fact) != "number" or self.fact.startswith(("lab_age_days.", "control.")):
            raise ValueError(f"fact: '{self.fact}' is not a measurable number (vitals.*, labs.*, bmi, …)")
        if (self.op == "between") != isinstance(self.value, tuple):
            raise ValueError("op 'between' takes [low, high]; the other ops take one number")
        if self.max_age_days is not None and not self.fact.startswith("labs."):
            raise ValueError("max_age_days applies to labs only")
        return self

    def met(self, actual: float) -> bool:
        """True when ``actual`` meets the target (``between``: low inclusive, high exclusive)."""
        if isinstance(self.value, tuple):
            return self.value[0] <= actual < self.value[1]
        v = self.value
        return {"lt": actual < v, "le": actual <= v, "gt": actual > v, "ge": actual >= v}[self.op]


class TargetRule(_Rule):
    """Targets of one population for one disease (e.g. 高血压, 65–79岁: < 150/90 mmHg)."""

    disease: Disease
    population: str = Field(description="who the targets are for, in Chinese")
    when: CareCondition | None = Field(default=None, description="absent: everyone with the disease")
    measures: tuple[Measure, ...] = Field(min_length=1)
    note: str = ""


class StatusRule(_Rule):
    """A condition that sets control status: ``uncontrolled`` overrides targets; ``controlled`` fills unknown."""

    disease: Disease
    control: Literal[Control.CONTROLLED, Control.UNCONTROLLED]
    when: CareCondition
    message: str


Urgency = Literal["urgent", "routine"]


class ReferralRule(_Rule):
    """A 转诊 criterion (``referrals``): when ``when`` holds, refer with this urgency and reason."""

    urgency: Urgency
    when: CareCondition
    reason: str


class FollowUpRule(_Rule):
    """A follow-up interval (``follow_up``) proposed when ``when`` holds; the shortest match is used."""

    when: CareCondition
    interval_days: int = Field(gt=0)
    reason: str


class ScreeningRule(_Rule):
    """A check due every ``interval_days`` for a population, read from ``patient.lab_dates``."""

    item: str
    interval_days: int = Field(gt=0)
    when: CareCondition
    reason: str

    @field_validator("item")
    @classmethod
    def _item(cls, v: str) -> str:
        if v not in DATED_ITEMS:
            raise ValueError(f"unknown item '{v}'; allowed: {', '.join(DATED_ITEMS)}")
        return v


class GuidanceRule(_Rule):
    """Non-drug advice for the patient (``guidance``); one text per ``topic``, the first match wins."""

    topic: str = Field(description="one text per topic is given (the first matching rule)")
    when: CareCondition
    text: str = Field(min_length=1, description="plain Chinese for the patient; {bmi} etc. filled from facts")


class ReminderRule(_Rule):
    """A note for the clinician (not the patient): a quality-of-care check such as no statin in CHD."""

    when: CareCondition
    text: str = Field(min_length=1, description="what to check, in Chinese, for the clinician")


class CountItem(_Spec):
    """One criterion of a counted list: its Chinese label and when it holds."""

    label: str = Field(min_length=1)
    when: CareCondition

    @field_validator("when")
    @classmethod
    def _no_nested_counts(cls, v: CareCondition) -> CareCondition:
        nested = [f for f in v.facts() if f.startswith("count.")]
        if nested:
            raise ValueError(f"a counted item cannot read another count ({', '.join(nested)})")
        return v


class CountRule(_Rule):
    """A counted criterion, read by other rules as ``count.<count>``: how many of ``items`` hold."""

    count: str
    items: tuple[CountItem, ...] = Field(min_length=1)
    note: str = ""

    @field_validator("count")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in COUNTS:
            raise ValueError(f"unknown count '{v}'; allowed: {', '.join(COUNTS)}")
        return v


class CareRulesFile(_Spec):
    """One file of ``rules/care/``: its sections, each optional, validated by the care loader."""

    diseases: tuple[DiseaseDef, ...] = ()
    targets: tuple[TargetRule, ...] = ()
    status: tuple[StatusRule, ...] = ()
    referrals: tuple[ReferralRule, ...] = ()
    follow_up: tuple[FollowUpRule, ...] = ()
    screening: tuple[ScreeningRule, ...] = ()
    guidance: tuple[GuidanceRule, ...] = ()
    reminders: tuple[ReminderRule, ...] = ()
    counts: tuple[CountRule, ...] = ()


SECTIONS = tuple(CareRulesFile.model_fields)
