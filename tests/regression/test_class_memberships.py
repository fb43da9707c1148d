"""Class memberships decided by review-6 (KB 2026.12) and the target lists that must stay complete.

- `qt_prolonging`: drugs whose label carries a QT-prolongation warning (or that CredibleMeds lists with a
  known/possible risk); joining the class extends the domperidone block (RX-DDI-056) to them.
- `serotonergic`, `potassium_raising`: memberships only (no rule names these classes today).
- `strong_anticholinergic`: the bladder antimuscarinics stay out (2023 Beers Table 3 exempts
  "antimuscarinics for urinary incontinence" from the BPH/LUTS criterion, RX-CI-038); every other
  anticholinergic rule names `antimuscarinic_bladder` as well.
- RX-DDI-081 / RX-DDI-084 / RX-DDI-374 name drugs instead of a class to leave one drug to another rule;
  the guards below fail when a new class member is reached by none of them.
"""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.audit import audit
from toolkit.records import AuditCase

QT_JOINED = [
    "sulpiride",
    "tiapride",
    "pipotiazine",
    "penfluridol",
    "clozapine",
    "risperidone",
    "perphenazine",
    "fluphenazine",
    "chlorprothixene",
    "amitriptyline",
    "imipramine",
    "clomipramine",
    "doxepin",
    "maprotiline",
    "flupentixol_melitracen",
    "trazodone",
    "fluoxetine",
    "ciprofloxacin",
    "norfloxacin",
    "sitafloxacin",
    "nemonoxacin",
    "lopinavir_ritonavir",
]
SEROTONERGIC_JOINED = ["mirtazapine", "doxepin", "maprotiline", "flupentixol_melitracen", "lithium_carbonate"]
BLADDER = ["oxybutynin", "solifenacin", "tolterodine", "flavoxate"]


def _line(kb: Any, drug_id: str) -> dict[str, Any]:
    d = kb.drugs[drug_id]
    form = d.forms[0].form if d.forms else ""
    return {
        "drug": f"{d.name}{form}",
        "dose": 1,
        "unit": d.forms[0].unit if d.forms else "片",
        "frequency": "qd",
        "route": "口服",
        "days": 5,
    }


def _findings(kb: Any, *lines: dict[str, Any], dx: list[tuple[str, str]], age: int = 60) -> list[Any]:
    case = AuditCase.model_validate(
        {
            "id": "membership",
            "patient": {
                "age": age,
                "sex": "M",
                "weight_kg": 65,
                "diagnoses": [{"name": n, "icd10": c} for n, c in dx],
                "labs": {"egfr": 85, "potassium": 4.3, "alt": 22},
            },
            "prescription": {"kind": "普通", "items": list(lines)},
        }
    )
    return audit(case, kb).findings


@pytest.mark.regression
@pytest.mark.parametrize("drug", QT_JOINED)
def test_qt_member_is_blocked_with_domperidone(shipped_kb: Any, drug: str) -> None:
    assert "qt_prolonging" in shipped_kb.classes_of(drug)
    dom = {
        "drug": "多潘立酮片",
        "strength": "10 mg",
        "dose": 10,
        "unit": "mg",
        "frequency": "tid",
        "route": "口服",
        "days": 5,
    }
    found = [
        f
        for f in _findings(shipped_kb, dom, _line(shipped_kb, drug), dx=[("功能性消化不良", "K30")])
        if f.rule_id == "RX-DDI-056"
    ]
    assert len(found) == 1 and found[0].severity.value == "block", (drug, found)


@pytest.mark.regression
def test_domperidone_stays_silent_with_a_drug_outside_the_class(shipped_kb: Any) -> None:
    """Sertraline is not QT-listed: the class extension must not turn RX-DDI-056 into 'any psychotropic'."""
    assert "qt_prolonging" not in shipped_kb.classes_of("sertraline")
    dom = {
        "drug": "多潘立酮片",
        "strength": "10 mg",
        "dose": 10,
        "unit": "mg",
        "frequency": "tid",
        "route": "口服",
        "days": 5,
    }
    found = _findings(shipped_kb, dom, _line(shipped_kb, "sertraline"), dx=[("功能性消化不良", "K30")])
    assert "RX-DDI-056" not in {f.rule_id for f in found}


@pytest.mark.regression
@pytest.mark.parametrize("drug", SEROTONERGIC_JOINED)
def test_serotonergic_members(shipped_kb: Any, drug: str) -> None:
    assert "serotonergic" in shipped_kb.classes_of(drug)


@pytest.mark.regression
def test_heparin_raises_potassium(shipped_kb: Any) -> None:
    assert "potassium_raising" in shipped_kb.classes_of("heparin")


@pytest.mark.regression
@pytest.mark.parametrize("drug", BLADDER)
def test_bladder_antimuscarinics_stay_out_of_strong_anticholinergic(shipped_kb: Any, drug: str) -> None:
    """Out of the class (so the BPH rule RX-CI-038 stays silent, as Beers exempts them), but still reached by
    the anticholinergic-burden rules through antimuscarinic_bladder."""
    classes = shipped_kb.classes_of(drug)
    assert "strong_anticholinergic" not in classes and "antimuscarinic_bladder" in classes
    bph = _findings(
        shipped_kb,
        _line(shipped_kb, drug),
        dx=[("良性前列腺增生", "N40"), ("膀胱过度活动症", "N32.8")],
        age=70,
    )
    assert "RX-CI-038" not in {f.rule_id for f in bph}
    with_chlorphenamine = _findings(
        shipped_kb,
        _line(shipped_kb, drug),
        _line(shipped_kb, "chlorphenamine"),
        dx=[("膀胱过度活动症", "N32.8"), ("过敏性鼻炎", "J30.4")],
        age=70,
    )
    hits = [f for f in with_chlorphenamine if f.rule_id == "RX-DDI-368"]
    assert len(hits) == 1 and hits[0].severity.value == "warn"


def _rule(kb: Any, rule_id: str) -> Any:
    return next(r for r in kb.interactions if r.id == rule_id)


def _members(kb: Any, cls: str) -> set[str]:
    return {d for d in kb.drugs if cls in kb.classes_of(d)}


@pytest.mark.regression
def test_every_dihydropyridine_meets_exactly_one_clarithromycin_rule(shipped_kb: Any) -> None:
    """RX-DDI-081 names its dihydropyridines; lercanidipine is RX-DDI-336 (block), felodipine RX-DDI-337 (warn)."""
    rules = [_rule(shipped_kb, i) for i in ("RX-DDI-081", "RX-DDI-336", "RX-DDI-337")]
    for d in _members(shipped_kb, "dhp_ccb"):
        hits = [
            r.id
            for r in rules
            if (shipped_kb.matches(r.a, "clarithromycin") and shipped_kb.matches(r.b, d))
            or (shipped_kb.matches(r.b, "clarithromycin") and shipped_kb.matches(r.a, d))
        ]
        assert len(hits) == 1, (d, hits)


@pytest.mark.regression
def test_every_beta_blocker_meets_the_amiodarone_bradycardia_rule(shipped_kb: Any) -> None:
    r084 = _rule(shipped_kb, "RX-DDI-084")
    assert all(shipped_kb.matches(r084.b, d) for d in _members(shipped_kb, "beta_blocker"))
    r305 = _rule(shipped_kb, "RX-DDI-305")
    assert shipped_kb.matches(r305.b, "sotalol") and not shipped_kb.matches(r305.b, "metoprolol")


@pytest.mark.regression
def test_every_ginkgo_product_meets_one_bleeding_rule_with_a_doac(shipped_kb: Any) -> None:
    """RX-DDI-374 names the ginkgo products; 银杏达莫 is reached through its dipyridamole (RX-DDI-033)."""
    rules = [_rule(shipped_kb, i) for i in ("RX-DDI-374", "RX-DDI-033")]
    for d in _members(shipped_kb, "ginkgo_extract"):
        hits = [
            r.id
            for r in rules
            if (shipped_kb.matches(r.a, d) and shipped_kb.matches(r.b, "rivaroxaban"))
            or (shipped_kb.matches(r.b, d) and shipped_kb.matches(r.a, "rivaroxaban"))
        ]
        assert len(hits) == 1, (d, hits)
