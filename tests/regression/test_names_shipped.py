"""Names that real prescriptions write, resolved against the shipped formulary (stable cases)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.regression
@pytest.mark.parametrize(
    ("written", "drug_id"),
    [
        ("门冬胰岛素30注射液(诺和锐30)", "insulin_aspart_30"),  # digits are part of the name
        ("诺和锐30", "insulin_aspart_30"),
        ("苯磺酸左旋氨氯地平片", "levamlodipine"),
        ("施慧达", "levamlodipine"),
        ("拜新同", "nifedipine"),
        ("代文(缬沙坦胶囊)", "valsartan"),
        ("二甲双呱", "metformin"),
        ("阿斯匹林肠溶片", "aspirin"),
        ("颉沙坦", "valsartan"),
        ("瑞舒伐他汀钙片10mg", "rosuvastatin"),
        ("信必可都保", "budesonide_formoterol"),
        ("欧乐欣", "umeclidinium_vilanterol"),  # brand added in KB 2026.12.5
        ("诺和益", "insulin_degludec_liraglutide"),
        (
            "诺和灵N",
            "isophane_human_insulin",
        ),  # NPH: its own entry since issue 18 (rules/formulary/dm_ext.yaml)
    ],
)
def test_shipped_names(shipped_kb: Any, written: str, drug_id: str) -> None:
    m = shipped_kb.names.resolve(written)
    assert m is not None and m.drug_id == drug_id, (written, m)


@pytest.mark.regression
@pytest.mark.parametrize(
    ("written", "own", "neighbour"),
    [
        ("左西替利嗪片", "levocetirizine", "cetirizine"),
        ("注射用头孢呋辛钠", "cefuroxime_sodium", "cefuroxime"),
    ],
)
def test_other_products_are_not_mistaken(shipped_kb: Any, written: str, own: str, neighbour: str) -> None:
    """A product never resolves to a near neighbour (levocetirizine ≠ cetirizine, NPH ≠ regular insulin,
    IV cefuroxime sodium ≠ oral cefuroxime axetil): to its own entry, or to nothing when it has none."""
    m = shipped_kb.names.resolve(written)
    assert m is None or m.drug_id == own, (written, m)
    assert m is None or m.drug_id != neighbour
