"""Cockcroft–Gault creatinine clearance (toolkit.knowledge.renal) and the ``labs.crcl`` fact."""

from __future__ import annotations

import pytest

from toolkit.knowledge.conditions import FactView
from toolkit.knowledge.renal import cockcroft_gault, crcl_for, renal_function
from toolkit.records import AuditCase, Patient


def test_review_worked_example() -> None:
    # kb-review-2026-12 §0 #2: 86-year-old woman, 45 kg, Scr 90 μmol/L → CrCl ≈ 28–29 mL/min
    # (54 × 45 / (72 × 90/88.4) × 0.85 = 28.2)
    assert cockcroft_gault(86, 45, 90, "F") == pytest.approx(28.18, abs=0.05)


def test_units_and_sex_factor() -> None:
    male_umol = cockcroft_gault(60, 70, 88.4, "M")
    assert male_umol == pytest.approx((140 - 60) * 70 / 72, rel=1e-9)  # Scr 1 mg/dL
    assert cockcroft_gault(60, 70, 1.0, "M", scr_unit="mg/dL") == pytest.approx(male_umol)
    assert cockcroft_gault(60, 70, 88.4, "F") == pytest.approx(male_umol * 0.85)
    with pytest.raises(ValueError):
        cockcroft_gault(60, 70, 0, "M")


def test_a_crcl_lab_wins_over_the_computed_value() -> None:
    p = Patient(age=86, sex="F", weight_kg=45, labs={"scr": 90, "crcl": 40})
    value, basis = crcl_for(p)
    assert value == 40 and "患者提供" in (basis or "")
    assert renal_function(p).crcl_source == "lab"


def test_computed_value_states_formula_and_weight() -> None:
    value, basis = crcl_for(Patient(age=86, sex="F", weight_kg=45, labs={"scr": 90, "egfr": 52}))
    assert value == pytest.approx(28.2, abs=0.05)
    assert basis is not None and "Cockcroft-Gault" in basis and "实际体重45 kg" in basis and "女" in basis


def test_scr_below_20_is_read_as_mg_dl() -> None:
    value, basis = crcl_for(Patient(age=60, sex="M", weight_kg=72, labs={"scr": 1.0}))
    assert value == pytest.approx(80.0) and "mg/dL" in (basis or "")


@pytest.mark.parametrize(
    "patient",
    [
        Patient(age=86, weight_kg=45, labs={"scr": 90}),  # sex unknown: not guessed
        Patient(age=86, sex="F", labs={"scr": 90}),  # no weight
        Patient(sex="F", weight_kg=45, labs={"scr": 90}),  # no age
        Patient(age=86, sex="F", weight_kg=45, labs={"egfr": 52}),  # no Scr
        Patient(age=10, sex="F", weight_kg=30, labs={"scr": 40}),  # a child: CG is an adult formula
    ],
)
def test_missing_inputs_give_no_value(patient: Patient) -> None:
    assert crcl_for(patient) == (None, None)


def test_labs_crcl_fact_uses_the_computed_value() -> None:
    case = AuditCase.model_validate(
        {"id": "f", "patient": {"age": 86, "sex": "F", "weight_kg": 45, "labs": {"scr": 90}}}
    )
    assert FactView(case).get("labs.crcl") == pytest.approx(28.2, abs=0.05)
    bare = AuditCase.model_validate({"id": "g", "patient": {"age": 86, "labs": {"egfr": 52}}})
    assert FactView(bare).get("labs.crcl") is None
