"""Chronic-disease care plans: control status, follow-up, referral, screening due and guidance.

``assess(case) -> CarePlan``; rules are data in ``rules/care/`` (loaded once with
:func:`get_care_rules`). Imports nothing heavy.
"""

from __future__ import annotations

from toolkit.care.assess import assess, assess_lines, assess_row
from toolkit.care.facts import Control, Disease
from toolkit.care.knowledge import CareKnowledge, get_care_rules, load_care_rules
from toolkit.care.plan import CarePlan

__all__ = [
    "CareKnowledge",
    "CarePlan",
    "Control",
    "Disease",
    "assess",
    "assess_lines",
    "assess_row",
    "get_care_rules",
    "load_care_rules",
]
