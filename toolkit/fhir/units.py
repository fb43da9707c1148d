"""UCUM units of lab values, parsed with ``ucumvert`` (a maintained UCUM grammar → pint), so any valid
UCUM expression is read and converted by dimension, not looked up in a hand-written list.

Before parsing, the spellings HIS and LIS systems send that are *not* UCUM are rewritten to UCUM
(``mL/min/1.73 m^2`` → ``mL/min/{1.73_m2}``, ``ml`` → ``mL``, ``IU`` → ``[IU]``, ``mEq`` → ``meq``,
``μmol`` → ``umol``, ``10^9/L`` → ``10*9/L``, ``mmHg`` → ``mm[Hg]``, ``℃`` → ``Cel``). A unit that is
still not UCUM, or whose dimension does not fit the lab (potassium in mg/dL), is refused by the
caller, never guessed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from toolkit.errors import require

from .codes import LabCode

_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/\s*\(?1[.,]73\s*(?:m\s*\^?\s*2|m²|m2|sq\.?\s*m|平方米)\)?", re.I), "/{1.73_m2}"),
    (re.compile(r"[μµ]"), "u"),
    (re.compile(r"\bmEq\b|\bmeq\b", re.I), "meq"),
    (re.compile(r"(?<!\[)\bm?IU\b(?!\])"), lambda m: m.group(0)[:-2] + "[IU]"),  # type: ignore[list-item]
    (re.compile(r"(?<![A-Za-z\[])(m?)ml\b"), lambda m: m.group(1) + "mL"),  # type: ignore[list-item]
    (re.compile(r"(?<=[/\d])l\b"), "L"),
    (re.compile(r"^l\b"), "L"),
    (re.compile(r"10\s*\^\s*(\d+)"), r"10*\1"),
    (re.compile(r"mmHg", re.I), "mm[Hg]"),
    (re.compile(r"℃|°C"), "Cel"),
    (re.compile(r"^(?:次/分|bpm|beats/min)$", re.I), "/min"),
    (re.compile(r"^Kg$"), "kg"),
    (re.compile(r"^lbs?$", re.I), "[lb_av]"),
)


def to_ucum(text: str) -> str:
    """The UCUM spelling of a unit as HIS systems write it (best effort; the parser decides)."""
    u = text.strip().replace(" ", "") if "1.73" not in text else text.strip()
    for pattern, repl in _REWRITES:
        u = pattern.sub(repl, u)  # type: ignore[arg-type]
    return u.replace(" ", "")


@lru_cache(maxsize=1)
def _registry() -> Any:
    require("ucumvert", "service")
    from ucumvert import PintUcumRegistry

    return PintUcumRegistry()


@lru_cache(maxsize=512)
def parse_unit(text: str) -> Any:
    """A pint quantity of one unit, or raises ValueError when the text is not UCUM after the rewrites."""
    from ucumvert import InvalidUcumError

    ureg = _registry()
    code = to_ucum(text)
    if code in {"%", "[%]"}:
        return ureg.Quantity(1, "percent")
    try:
        return ureg.from_ucum(code)
    except (InvalidUcumError, Exception) as exc:  # ucumvert raises pint errors for unknown atoms too
        raise ValueError(f"{text!r} is not a UCUM unit") from exc


def convert(value: float, unit: str | None, lab: LabCode, *, loinc: str | None = None) -> float:
    """``value unit`` in the unit the audit expects for ``lab``. Raises ValueError naming the reason.

    A mass concentration converts to the molar unit through the analyte's molar mass when the table
    gives one (creatinine mg/dL → μmol/L); HbA1c in mmol/mol (IFCC) converts to NGSP % by the IFCC–NGSP
    master equation. Enzyme activities in U/L and [IU]/L are the same unit (IFCC).
    """
    if not unit:
        unit = lab.unit  # no unit sent: the lab's usual unit is assumed (a note says so)
    if len(unit) > 64:
        raise ValueError("a unit of over 64 characters")
    u = to_ucum(unit)
    if lab.key == "hba1c" and (u == "mmol/mol" or loinc == "59261-8"):
        return round(0.09148 * value + 2.152, 2)
    if lab.unit == "U/L":
        u = u.replace("[IU]", "U")
    if lab.unit == "{INR}" and u in {"", "1", "{INR}", "{ratio}"}:
        return value
    if lab.key == "egfr" and u in {"mL/min", "mL/min/{1.73_m2}"}:
        return value
    src, dst = parse_unit(u), parse_unit(lab.unit)
    q = value * src
    try:
        return float(q.to(dst.units).magnitude / dst.magnitude)
    except Exception:
        pass
    if lab.molar_mass:
        try:  # mass/volume → substance/volume
            ureg = _registry()
            grams_per_l = (q.to("g/L")).magnitude
            mol_per_l = grams_per_l / lab.molar_mass
            return float((ureg.Quantity(mol_per_l, "mol/L")).to(dst.units).magnitude / dst.magnitude)
        except Exception:
            pass
    raise ValueError(f"unit {unit!r} does not fit {lab.key} (expected {lab.unit} or a unit of the same kind)")
