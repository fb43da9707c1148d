"""Renal function as the labels mean it: Cockcroft–Gault creatinine clearance.

Labels of DOACs, levofloxacin, amoxicillin, clarithromycin, oseltamivir and the cephalosporins
state their renal steps in CrCl (mL/min) by Cockcroft–Gault, not in eGFR (mL/min/1.73 m²); in
small or very old patients eGFR can overstate CrCl by a whole dose step (an 86-year-old woman of
45 kg with Scr 90 μmol/L: eGFR ≈ 52, CrCl ≈ 29). This module computes CrCl from the case's facts.

    CrCl (mL/min) = (140 − age) × weight (kg) / (72 × Scr (mg/dL)) × 0.85 if female
                  = (140 − age) × weight (kg) / (0.8145 × Scr (μmol/L)) × 0.85 if female  (72 / 88.4 = 0.8145)

(Cockcroft DW, Gault MH. Nephron 1976;16:31–41; 1 mg/dL = 88.4 μmol/L.) The weight used is the
actual body weight as given (``weight_kg``), as in the DOAC trials and SmPCs; no ideal or adjusted
weight is computed, so in obese patients CrCl is overstated (the evidence says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from toolkit.records import Patient

UMOL_PER_MG_DL = 88.4
SCR_MG_DL_BELOW = 20.0
"""``labs.scr`` is μmol/L (records.LAB_NAMES); a value below this (0.23 mg/dL in μmol/L would be
implausible) is read as mg/dL, and the evidence says so."""

FORMULA = "Cockcroft-Gault: (140-年龄)×实际体重kg/(72×Scr mg/dL)，女性×0.85"

ScrUnit = Literal["umol/L", "mg/dL"]


def cockcroft_gault(
    age: float, weight_kg: float, scr: float, sex: str | None, scr_unit: ScrUnit = "umol/L"
) -> float:
    """Creatinine clearance in mL/min by Cockcroft–Gault with the weight given (actual body weight).

    ``sex`` is "F" for the ×0.85 factor; any other value (including unknown) is computed as male,
    which is the *higher* estimate: callers that need the safe side must know the sex (see
    :func:`crcl_for`, which refuses to compute without it).
    """
    if age <= 0 or weight_kg <= 0 or scr <= 0:
        raise ValueError("age, weight and serum creatinine must be positive")
    scr_mg_dl = scr / UMOL_PER_MG_DL if scr_unit == "umol/L" else scr
    value = (140.0 - age) * weight_kg / (72.0 * scr_mg_dl)
    if sex == "F":
        value *= 0.85
    return max(value, 0.0)


@dataclass(frozen=True, slots=True)
class RenalFunction:
    """The renal measures known for one patient, and how each was obtained."""

    egfr: float | None
    crcl: float | None
    crcl_source: Literal["lab", "cockcroft_gault"] | None
    crcl_basis: str | None  # the formula and inputs, for a finding's evidence

    def value(self, measure: str) -> tuple[float | None, str | None, str | None]:
        """(value, measure used, fallback note) for a limit stated in ``measure`` ("egfr" | "crcl").
        The label's own measure is used when known; the other one only as a stated fallback."""
        if measure == "crcl":
            if self.crcl is not None:
                return self.crcl, "crcl", None
            if self.egfr is not None:
                return (
                    self.egfr,
                    "egfr",
                    "说明书按CrCl（Cockcroft-Gault）分级，缺少血肌酐/体重/年龄/性别，暂以eGFR代替",
                )
            return None, None, None
        if self.egfr is not None:
            return self.egfr, "egfr", None
        if self.crcl is not None:
            return self.crcl, "crcl", "说明书按eGFR分级，未提供eGFR，暂以CrCl代替"
        return None, None, None


def crcl_for(patient: Patient) -> tuple[float | None, str | None]:
    """(CrCl, basis) for a patient: a CrCl lab wins; else Cockcroft–Gault from ``labs.scr``, age,
    ``weight_kg`` and sex; None when any input is missing (sex unknown: not guessed)."""
    labs = patient.labs
    if labs.get("crcl") is not None:
        return labs["crcl"], "患者提供的肌酐清除率"
    scr, age, weight, sex = labs.get("scr"), patient.age, patient.weight_kg, patient.sex
    if scr is None or not scr > 0 or age is None or weight is None or sex not in ("M", "F") or age < 18:
        return None, None  # CG is an adult formula; children need Schwartz (not implemented)
    unit: ScrUnit = "mg/dL" if scr < SCR_MG_DL_BELOW else "umol/L"
    value = round(cockcroft_gault(age, weight, scr, sex, unit), 1)
    shown = f"Scr {scr:g} {'mg/dL' if unit == 'mg/dL' else 'μmol/L'}"
    if unit == "mg/dL":
        shown += "（数值<20按mg/dL理解）"
    basis = (
        f"{FORMULA}；{age:g}岁、{'女' if sex == 'F' else '男'}、实际体重{weight:g} kg、{shown}"
        f" → CrCl {value:g} mL/min（肥胖者实际体重会高估）"
    )
    return value, basis


def renal_function(patient: Patient) -> RenalFunction:
    """The patient's renal function: eGFR from the labs, CrCl (lab, else Cockcroft–Gault) and its basis."""
    crcl, basis = crcl_for(patient)
    source = None if crcl is None else ("lab" if patient.labs.get("crcl") is not None else "cockcroft_gault")
    return RenalFunction(egfr=patient.labs.get("egfr"), crcl=crcl, crcl_source=source, crcl_basis=basis)


__all__ = ["FORMULA", "RenalFunction", "cockcroft_gault", "crcl_for", "renal_function"]
