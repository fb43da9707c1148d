"""Dose × strength reconciliation of one prescription line."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.audit.resolve import resolve_item
from toolkit.records import PrescriptionItem


@pytest.mark.parametrize(
    ("line", "doses"),
    [
        ({"drug": "盐酸二甲双胍片", "strength": "0.5 g", "dose": 1, "unit": "片"}, {"metformin": 500}),
        ({"drug": "盐酸二甲双胍片", "dose": 0.5, "unit": "g"}, {"metformin": 500}),
        ({"drug": "倍博特", "dose": 2, "unit": "片"}, {"valsartan": 160, "amlodipine": 10}),
        ({"drug": "倍博特", "dose": 80, "unit": "mg"}, {"valsartan": 80, "amlodipine": 5}),
        ({"drug": "甘精胰岛素", "dose": 12, "unit": "U"}, {"insulin_glargine": 12}),
        (
            {"drug": "甘精胰岛素", "strength": "300 U/3 ml", "dose": 0.12, "unit": "ml"},
            {"insulin_glargine": 12},
        ),
        # a combination written by its total mass: 0.625 g is one 500/125 mg tablet, not 625 mg amoxicillin
        (
            {"drug": "阿莫西林克拉维酸钾片", "strength": "0.625 g", "dose": 1, "unit": "片"},
            {"amoxicillin": 500},
        ),
        ({"drug": "阿莫西林克拉维酸钾片", "dose": 0.625, "unit": "g"}, {"amoxicillin": 500}),
        (
            {"drug": "阿莫西林克拉维酸钾片", "strength": "500 mg/125 mg", "dose": 500, "unit": "mg"},
            {"amoxicillin": 500},
        ),
    ],
)
def test_doses_per_ingredient(kb: Any, line: dict[str, Any], doses: dict[str, float]) -> None:
    r = resolve_item(0, PrescriptionItem(frequency="qd", **line), kb)
    assert r.dose_problem is None
    assert r.doses == pytest.approx(doses)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"drug": "代文", "dose": 1, "unit": "粒"}, "未写规格"),  # two strengths, none written
        ({"drug": "盐酸二甲双胍片", "dose": 1, "unit": "勺"}, "无法识别"),
        ({"drug": "盐酸二甲双胍片", "dose": -1, "unit": "片"}, "不是正数"),
        ({"drug": "甘精胰岛素", "dose": 10, "unit": "mg"}, "不能换算"),
    ],
)
def test_unreadable_doses_say_why(kb: Any, line: dict[str, Any], problem: str) -> None:
    r = resolve_item(0, PrescriptionItem(frequency="qd", **line), kb)
    assert r.dose_problem and problem in r.dose_problem and not r.doses
