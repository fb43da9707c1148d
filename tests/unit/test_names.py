"""Drug-name normalisation against the fixture formulary."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("written", "drug_id", "kind", "standard"),
    [
        ("氨氯地平", "amlodipine", "exact", True),
        ("苯磺酸氨氯地平片", "amlodipine", "stripped", True),
        ("络活喜", "amlodipine", "exact", False),
        ("代文(缬沙坦胶囊)", "valsartan", "stripped", True),  # the generic inside the brackets wins
        ("代文（缬沙坦胶囊）", "valsartan", "stripped", True),
        ("颉沙坦", "valsartan", "exact", False),  # a listed typo is not a standard name
        ("二甲双呱", "metformin", "exact", False),
        ("氨绿地平", "amlodipine", "homophone", False),  # same pinyin, not listed
        ("二甲双胍缓释片", "metformin", "stripped", True),
        ("盐酸二甲双胍片", "metformin", "stripped", True),
        ("缬沙坦氨氯地平片", "valsartan_amlodipine", "stripped", True),
        ("倍博特", "valsartan_amlodipine", "exact", False),
        ("阿斯匹林肠溶片", "aspirin", "stripped", False),
        ("缬沙但", "valsartan", "typo", False),  # one edit from 缬沙坦
        ("注射用甘精胰岛素", "insulin_glargine", "stripped", True),
        ("苯磺酸左旋氨氯地平片", "levamlodipine", "stripped", True),  # 左旋 is another drug, not a salt
        ("阿莫西林胶囊0.25g", "amoxicillin", "stripped", True),
        ("阿莫西林胶囊(0.25g*24粒)", "amoxicillin", "stripped", True),
    ],
)
def test_resolve(kb: Any, written: str, drug_id: str, kind: str, standard: bool) -> None:
    m = kb.names.resolve(written)
    assert m is not None, written
    assert (m.drug_id, m.kind, m.standard) == (drug_id, kind, standard)


@pytest.mark.parametrize(
    "written",
    [
        "维生素C片",
        "感冒灵颗粒",
        "x",
        "",
        "氨",
        "注射用头孢呋辛钠",  # another salt/ester of 头孢呋辛酯: another product
        "复方阿莫西林",  # a name inside a longer one is not that drug
        "头孢呋辛",  # one character short of 头孢呋辛酯
    ],
)
def test_unknown_names_are_not_guessed(kb: Any, written: str) -> None:
    assert kb.names.resolve(written) is None


@pytest.mark.parametrize(
    "written",
    [
        "二甲双刮",  # a homophone of an antidiabetic: only a misspelling the KB lists (二甲双呱) is taken
        "阿司匹灵",  # one edit from an antiplatelet
    ],
)
def test_no_guess_lands_on_a_guarded_class(kb: Any, written: str) -> None:
    """Anti-infectives, antidiabetics, antithrombotics, antiarrhythmics and psychotropics are never guessed."""
    assert kb.names.resolve(written) is None


def test_known_drugs_outside_the_formulary_are_never_guessed(kb: Any) -> None:
    from toolkit.knowledge.names import NameIndex

    written = {
        "氨氯地平": ("amlodipine", "generic"),
        "缬沙坦": ("valsartan", "generic"),
        "络活喜": ("amlodipine", "brand"),
    }
    plain = NameIndex(written)  # type: ignore[arg-type]
    assert plain.resolve("缬沙但") is not None
    index = NameIndex(written, known=frozenset({"缬沙但", "络活善"}))  # type: ignore[arg-type]
    assert index.resolve("缬沙但") is None  # a known drug is itself, not a typo of 缬沙坦
    assert index.known_outside("缬沙但片") == "缬沙但"
    assert index.resolve("缬沙但胶囊") is None
    assert index.resolve("缬沙弹") is None  # as close to a known drug as to 缬沙坦: no guess
    assert plain.resolve("络活善") is None  # a brand is never a guess's target
