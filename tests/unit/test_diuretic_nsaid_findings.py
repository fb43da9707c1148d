"""Diuretic + NSAID: one finding per problem (KB 2026.12, kbfix).

降压0号 (HCTZ + triamterene + dihydralazine + reserpine) + an NSAID used to give two renal findings
(RX-DDI-008 and RX-DDI-377). They are two problems: RX-DDI-008 owns reduced diuretic/antihypertensive effect and
haemodynamic AKI for every non-MRA diuretic, RX-DDI-377 owns hyperkalaemia from potassium-sparing diuretics.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import item, make_case
from toolkit.audit import audit
from toolkit.knowledge.schema import Target

DX = [("原发性高血压", "I10"), ("骨关节炎", "M19.9")]
IBU = item("布洛芬缓释胶囊", strength="0.3 g", dose=0.3, unit="g", frequency="bid", days=5)


def _findings(kb: Any, *items: dict[str, Any], age: int = 70) -> list[Any]:
    return audit(make_case(*items, age=age, diagnoses=DX, labs={"egfr": 85}), kb).findings


def test_jiangya0hao_with_an_nsaid_is_one_finding_per_problem(shipped_kb: Any) -> None:
    jy0 = item("复方利血平氨苯蝶啶片", dose=1, unit="片", days=14)
    found = [f for f in _findings(shipped_kb, jy0, IBU) if f.rule_id.startswith("RX-DDI-")]
    assert sorted(f.rule_id for f in found) == ["RX-DDI-008", "RX-DDI-377"]
    renal = next(f for f in found if f.rule_id == "RX-DDI-008").message
    potassium = next(f for f in found if f.rule_id == "RX-DDI-377").message
    assert "急性肾损伤" in renal and "钾" not in renal
    assert "高钾血症" in potassium and "急性肾损伤" not in potassium and "另条提示" in potassium


def test_every_potassium_sparing_diuretic_also_gets_the_renal_rule(shipped_kb: Any) -> None:
    """RX-DDI-377's message points to the renal finding ("另条提示"): that must always exist."""
    r008 = next(r for r in shipped_kb.interactions if r.id == "RX-DDI-008")
    r377 = next(r for r in shipped_kb.interactions if r.id == "RX-DDI-377")
    assert r377.b == r008.b
    k_sparing = [d for d in shipped_kb.drugs if shipped_kb.matches(r377.a, d)]
    assert k_sparing, "no potassium-sparing diuretic in the formulary"
    assert all(shipped_kb.matches(r008.a, d) for d in k_sparing)
    # MRAs keep their own combined rule (RX-DDI-009), not RX-DDI-008
    assert not shipped_kb.matches(r008.a, "spironolactone")
    assert shipped_kb.matches(Target(classes=("mra",)), "spironolactone")
