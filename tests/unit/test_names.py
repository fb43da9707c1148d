"""Drug-name normalisation against the fixture formulary."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(("written", "drug_id", "kind", "standard"), [
    ("氨氯地平", "amlodipine", "exact", True),
    ("苯磺酸氨氯地平片", "amlodipine", "stripped", True),
    ("络活喜", "amlodipine", "exact", False),
    ("代文(缬沙坦胶囊)", "valsartan", "stripped", True),  # the generic inside the brackets wins
    ("代文（缬沙坦胶囊）", "valsartan", "stripped", True),
    ("颉沙坦", "valsartan", "exact", False),  # a listed typo is not a standard name
    ("二甲双呱", "metformin", "exact", False),
    ("二甲双刮", "metformin", "homophone", False),  # same pinyin, not listed
    ("二甲双胍缓释片", "metformin", "stripped", True),
    ("盐酸二甲双胍片", "metformin", "stripped", True),
    ("缬沙坦氨氯地平片", "valsartan_amlodipine", "stripped", True),
    ("倍博特", "valsartan_amlodipine", "exact", False),
    ("阿斯匹林肠溶片", "aspirin", "stripped", False),
    ("阿司匹灵", "aspirin", "typo", False),  # one edit from 阿司匹林
    ("注射用甘精胰岛素", "insulin_glargine", "stripped", True),
    ("苯磺酸左旋氨氯地平片", "levamlodipine", "stripped", True),  # 左旋 is another drug, not a salt
    ("阿莫西林胶囊0.25g", "amoxicillin", "stripped", True),
    ("阿莫西林胶囊(0.25g*24粒)", "amoxicillin", "stripped", True),
])
def test_resolve(kb: Any, written: str, drug_id: str, kind: str, standard: bool) -> None:
    m = kb.names.resolve(written)
    assert m is not None, written
    assert (m.drug_id, m.kind, m.standard) == (drug_id, kind, standard)


@pytest.mark.parametrize("written", [
    "维生素C片", "感冒灵颗粒", "x", "", "氨",
    "注射用头孢呋辛钠",  # another salt/ester of 头孢呋辛酯: another product
    "复方阿莫西林",  # a name inside a longer one is not that drug
    "头孢呋辛",  # one character short of 头孢呋辛酯
])
def test_unknown_names_are_not_guessed(kb: Any, written: str) -> None:
    assert kb.names.resolve(written) is None
