"""Issue 18, helper "gaps" (rules/formulary/supplements_ext.yaml, rules/supplements_rules.yaml): the community
supplements resolve to their own entries, every full entry's dose limit fires above the label maximum and stays
silent within it, combination ingredients are summed, and the class rules reach the new entries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit

OP = [("骨质疏松症", "M81.9")]
CKD = [("慢性肾脏病3期", "N18.3")]
HYPOPARA = [("甲状旁腺功能减退症", "E20.9")]
ARR = [("室性早搏", "I49.3")]
ACIDOSIS = [("慢性肾脏病4期", "N18.4"), ("代谢性酸中毒", "E87.2")]
VITD = [("维生素D缺乏", "E55.9")]
LEVO = item("左氧氟沙星片", 0.5, "g")


def _ids(case: Any, kb: Any) -> dict[str, str]:
    return {f.rule_id: f.severity.value for f in audit(case, kb).findings}


@pytest.mark.regression
@pytest.mark.parametrize(
    ("written", "drug_id"),
    [
        ("碳酸钙D3片", "calcium_carbonate_d3"),
        ("钙尔奇D", "calcium_carbonate_d3"),
        ("迪巧", "calcium_carbonate_d3"),
        ("小儿碳酸钙D3颗粒", "calcium_carbonate_d3"),
        ("维生素D2软胶囊", "ergocalciferol"),
        ("维生素D3注射液", "colecalciferol"),
        ("骨化三醇软胶囊", "calcitriol"),
        ("罗盖全", "calcitriol"),
        ("阿法骨化醇软胶囊", "alfacalcidol"),
        ("艾地骨化醇软胶囊", "eldecalcitol"),
        ("门冬氨酸钾镁片", "potassium_magnesium_aspartate"),
        ("潘南金", "potassium_magnesium_aspartate"),
        ("碳酸氢钠片", "sodium_bicarbonate"),
        # already covered elsewhere: must stay on their own entries
        ("碳酸钙片", "calcium_carbonate"),
        ("叶酸片", "folic_acid"),
        ("枸橼酸氢钾钠颗粒", "potassium_sodium_hydrogen_citrate"),
        ("友来特", "potassium_sodium_hydrogen_citrate"),
        ("维生素B12片", "cyanocobalamin"),
        # review-7: the registered product 维生素D滴剂(胶囊型) contains vitamin D3; 维生素AD滴剂 stays its own drug
        ("维生素D滴剂", "colecalciferol"),
        ("维生素D滴剂(胶囊型)", "colecalciferol"),
        ("维生素AD滴剂", "vitamin_ad"),
    ],
)
def test_names_resolve_to_their_own_entry(shipped_kb: Any, written: str, drug_id: str) -> None:
    from toolkit.knowledge.names import strip_form

    m = shipped_kb.names.resolve(written) or shipped_kb.names.resolve(strip_form(written))
    assert m is not None and m.drug_id == drug_id, (written, m)


# (label, items, diagnoses, patient extras, rule, expected severity or None for silent)
LIMIT_CASES = [
    # calcitriol: adult 2 μg/d (Rocaltrol: hypoparathyroidism 0.5–2 μg/d); injection form 4 μg
    ("calcitriol-0.25bid", [item("骨化三醇软胶囊", 0.25, "μg", "bid")], OP, {}, "RX-DOSE-002", None),
    ("calcitriol-1bid", [item("骨化三醇软胶囊", 1, "μg", "bid")], HYPOPARA, {}, "RX-DOSE-002", None),
    ("calcitriol-1.5bid", [item("骨化三醇软胶囊", 1.5, "μg", "bid")], HYPOPARA, {}, "RX-DOSE-002", "warn"),
    (
        "calcitriol-child-3ug",
        [item("骨化三醇软胶囊", 1.5, "μg", "bid")],
        HYPOPARA,
        {"age": 8, "weight_kg": 25},
        "RX-DOSE-002",
        "warn",
    ),
    ("calcitriol-inj-2ug", [item("骨化三醇注射液", 2, "μg", "st", "静脉注射")], CKD, {}, "RX-DOSE-001", None),
    (
        "calcitriol-inj-6ug",
        [item("骨化三醇注射液", 6, "μg", "st", "静脉注射")],
        CKD,
        {},
        "RX-DOSE-001",
        "warn",
    ),
    # alfacalcidol: adult 3 μg/d; child 0.05 μg/kg/d
    ("alfacalcidol-1ug", [item("阿法骨化醇软胶囊", 1, "μg")], CKD, {}, "RX-DOSE-002", None),
    ("alfacalcidol-2ug-bid", [item("阿法骨化醇软胶囊", 2, "μg", "bid")], CKD, {}, "RX-DOSE-002", "warn"),
    (
        "alfacalcidol-child-per-kg",
        [item("阿法骨化醇软胶囊", 1, "μg")],
        HYPOPARA,
        {"age": 4, "weight_kg": 15},
        "RX-DOSE-005",
        "warn",
    ),
    (
        "alfacalcidol-child-ok",
        [item("阿法骨化醇软胶囊", 0.5, "μg")],
        HYPOPARA,
        {"age": 4, "weight_kg": 15},
        "RX-DOSE-005",
        None,
    ),
    # vitamin D: injection 600 000 U per dose (label); oral above 4000 U/d is a tool threshold (info)
    ("d3-400", [item("维生素D3滴剂", 400, "IU")], VITD, {}, "RX-DOSE-008", None),
    ("d2-5000", [item("维生素D2软胶囊", 1, "粒", strength="5000 U")], VITD, {}, "RX-DOSE-008", "info"),
    ("d3-inj-600k", [item("维生素D3注射液", 60, "万U", "st", "肌内注射")], VITD, {}, "RX-DOSE-001", None),
    ("d3-inj-900k", [item("维生素D3注射液", 90, "万U", "st", "肌内注射")], VITD, {}, "RX-DOSE-001", "warn"),
    (
        "d3-inj-1200k",
        [item("维生素D3注射液", 120, "万U", "st", "肌内注射")],
        VITD,
        {},
        "RX-DOSE-001",
        "block",
    ),
    ("d2-inj-400k", [item("维生素D2注射液", 40, "万U", "st", "肌内注射")], VITD, {}, "RX-DOSE-001", None),
    ("d2-inj-900k", [item("维生素D2注射液", 90, "万U", "st", "肌内注射")], VITD, {}, "RX-DOSE-001", "warn"),
    (
        "d3-inj-child-300k",
        [item("维生素D3注射液", 30, "万U", "st", "肌内注射")],
        [("维生素D缺乏性佝偻病", "E55.0")],
        {"age": 3, "weight_kg": 14},
        "RX-DOSE-001",
        None,
    ),
    (
        "d3-inj-child-900k",
        [item("维生素D3注射液", 90, "万U", "st", "肌内注射")],
        [("维生素D缺乏性佝偻病", "E55.0")],
        {"age": 3, "weight_kg": 14},
        "RX-DOSE-001",
        "warn",
    ),
    # 碳酸钙D3 + vitamin D drops (800–1200 U/d in osteoporosis) is no same-ingredient duplicate; two calcium
    # products are (calcium carbonate is the listed ingredient of 碳酸钙D3)
    (
        "cad3+d3",
        [item("钙尔奇D", 1, "片", "bid"), item("维生素D3滴剂", 400, "IU")],
        OP,
        {},
        "RX-DUP-001",
        None,
    ),
    (
        "cad3+calcium-carbonate",
        [item("钙尔奇D", 1, "片"), item("碳酸钙片", 0.75, "g")],
        OP,
        {},
        "RX-DUP-001",
        "warn",
    ),
    # potassium magnesium aspartate: tablet 3 tablets per dose, 9 per day (as potassium aspartate 158 mg/tablet)
    ("pma-2tid", [item("门冬氨酸钾镁片", 2, "片", "tid")], ARR, {}, "RX-DOSE-002", None),
    ("pma-4tid-single", [item("门冬氨酸钾镁片", 4, "片", "tid")], ARR, {}, "RX-DOSE-001", "warn"),
    ("pma-4tid-daily", [item("门冬氨酸钾镁片", 4, "片", "tid")], ARR, {}, "RX-DOSE-002", "warn"),
    ("pma-inj-20ml", [item("门冬氨酸钾镁注射液", 2, "支", "qd", "静脉滴注")], ARR, {}, "RX-DOSE-001", None),
    ("pma-inj-30ml", [item("门冬氨酸钾镁注射液", 3, "支", "qd", "静脉滴注")], ARR, {}, "RX-DOSE-001", "warn"),
    # sodium bicarbonate: single 4 g; 16 g/d adults, 8.4 g/d from 65 (OTC sodium cap)
    ("bicarb-1g-tid", [item("碳酸氢钠片", 1, "g", "tid")], ACIDOSIS, {"egfr": 25}, "RX-DOSE-002", None),
    ("bicarb-5g-single", [item("碳酸氢钠片", 5, "g", "bid")], ACIDOSIS, {"egfr": 25}, "RX-DOSE-001", "warn"),
    (
        "bicarb-3g-tid-adult",
        [item("碳酸氢钠片", 3, "g", "tid")],
        ACIDOSIS,
        {"age": 50, "egfr": 25},
        "RX-DOSE-002",
        None,
    ),
    (
        "bicarb-3g-tid-elderly",
        [item("碳酸氢钠片", 3, "g", "tid")],
        ACIDOSIS,
        {"age": 75, "egfr": 25},
        "RX-DOSE-002",
        "warn",
    ),
    (
        "bicarb-3g-tid-62y",
        [item("碳酸氢钠片", 3, "g", "tid")],
        ACIDOSIS,
        {"age": 62, "egfr": 25},
        "RX-DOSE-002",
        "warn",
    ),
    (
        "bicarb-2g-tid-75y",
        [item("碳酸氢钠片", 2, "g", "tid")],
        ACIDOSIS,
        {"age": 75, "egfr": 25},
        "RX-DOSE-002",
        None,
    ),
    # review-7: the injection is dosed from blood gas / body weight (5% 250 ml = 12.5 g is a label dose); the
    # tablet's 4 g per dose and the OTC sodium cap from 60 years do not apply to it (form limit 30 g, tool value)
    (
        "bicarb-inj-250ml-75y",
        [item("碳酸氢钠注射液", 250, "ml", "st", "静脉滴注")],
        ACIDOSIS,
        {"age": 75, "egfr": 25},
        "RX-DOSE-001",
        None,
    ),
    (
        "bicarb-inj-250ml-75y-daily",
        [item("碳酸氢钠注射液", 250, "ml", "st", "静脉滴注")],
        ACIDOSIS,
        {"age": 75, "egfr": 25},
        "RX-DOSE-002",
        None,
    ),
    (
        "bicarb-inj-800ml",
        [item("碳酸氢钠注射液", 800, "ml", "st", "静脉滴注")],
        ACIDOSIS,
        {"age": 50, "egfr": 25},
        "RX-DOSE-001",
        "warn",
    ),
    # the tablet limits still apply to tablets
    (
        "bicarb-tab-12.5g",
        [item("碳酸氢钠片", 12.5, "g", "st")],
        ACIDOSIS,
        {"age": 50, "egfr": 25},
        "RX-DOSE-001",
        "block",
    ),
    # review-7: 叶酸片 0.4 mg and 5 mg differ 12.5-fold, so a line in 片 without a strength is not guessed
    (
        "folic-1tab-no-strength",
        [item("叶酸片", 1, "片", "tid")],
        [("巨幼细胞贫血", "D52.9")],
        {},
        "RX-FMT-008",
        "info",
    ),
    (
        "folic-0.4mg-strength",
        [item("叶酸片", 1, "片", strength="0.4 mg")],
        [("早孕", "Z34.9")],
        {},
        "RX-FMT-008",
        None,
    ),
    (
        "folic-5mg-tid",
        [item("叶酸片", 1, "片", "tid", strength="5 mg")],
        [("巨幼细胞贫血", "D52.9")],
        {},
        "RX-DOSE-002",
        None,
    ),
    (
        "folic-5mg-3tab-tid",
        [item("叶酸片", 3, "片", "tid", strength="5 mg")],
        [("巨幼细胞贫血", "D52.9")],
        {},
        "RX-DOSE-002",
        "warn",
    ),
]


@pytest.mark.regression
@pytest.mark.parametrize(
    ("label", "items", "dx", "extra", "rule", "severity"), LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES]
)
def test_full_entry_limits(
    shipped_kb: Any,
    label: str,
    items: list[dict[str, Any]],
    dx: list[tuple[str, str]],
    extra: dict[str, Any],
    rule: str,
    severity: str | None,
) -> None:
    patient: dict[str, Any] = {"age": 60, "sex": "F", "weight_kg": 60}
    labs = {"egfr": extra.pop("egfr")} if "egfr" in extra else {"egfr": 80}
    patient.update(extra)
    found = _ids(make_case(*items, diagnoses=dx, labs=labs, **patient), shipped_kb)
    if severity is None:
        assert rule not in found, (label, found)
    else:
        assert found.get(rule) == severity, (label, found)


# class rules and interactions reach the new entries (through classes and ingredients)
CLASS_CASES = [
    # chelation (RX-DDI-396, interactions_ext.yaml) reaches 碳酸钙D3 through its calcium carbonate
    (
        "cad3+levofloxacin",
        [item("钙尔奇D", 1, "片"), LEVO],
        [*OP, ("急性膀胱炎", "N30.0")],
        "RX-DDI-396",
        "info",
    ),
    (
        "d3+levofloxacin",
        [item("维生素D3滴剂", 400, "IU"), LEVO],
        [*VITD, ("急性膀胱炎", "N30.0")],
        "RX-DDI-396",
        None,
    ),
    # active vitamin D + thiazide in a combination product (valsartan/HCTZ) via its ingredient
    (
        "alfacalcidol+valsartan-hctz",
        [item("阿法骨化醇软胶囊", 0.5, "μg"), item("缬沙坦氢氯噻嗪片", 1, "片")],
        [*OP, ("高血压", "I10")],
        "RX-DDI-401",
        "info",
    ),
    # one line of potassium magnesium aspartate is never paired with itself (it is potassium_raising)
    ("pma-alone", [item("门冬氨酸钾镁片", 1, "片", "tid")], ARR, "RX-DDI-402", None),
    (
        "pma+spironolactone",
        [item("门冬氨酸钾镁片", 1, "片", "tid"), item("螺内酯片", 20, "mg")],
        ARR,
        "RX-DDI-402",
        "warn",
    ),
    # calcium D3 + calcitriol is the usual osteoporosis pair: no duplicate
    (
        "cad3+calcitriol",
        [item("钙尔奇D", 1, "片"), item("骨化三醇软胶囊", 0.25, "μg", "bid")],
        OP,
        "RX-DUP-202",
        None,
    ),
    # oral vitamin B12 tablets are an oral form of cyanocobalamin (were blocked as a route error); i.v. is still wrong
    ("b12-oral", [item("维生素B12片", 25, "μg", "tid")], [("维生素B12缺乏", "D51.9")], "RX-ROUTE-001", None),
    (
        "b12-iv",
        [item("维生素B12注射液", 0.5, "mg", "qd", "静脉注射")],
        [("维生素B12缺乏", "D51.9")],
        "RX-ROUTE-001",
        "block",
    ),
    # review-7: heart failure is chronic, so a history of it still fires RX-CI-305 (info); a history of oedema does not
    (
        "bicarb-hf-history",
        [item("碳酸氢钠片", 1, "g", "tid")],
        [("慢性心力衰竭病史", None)],
        "RX-CI-305",
        "info",
    ),
    ("bicarb-oedema-history", [item("碳酸氢钠片", 1, "g", "tid")], [("下肢水肿史", None)], "RX-CI-305", None),
    # review-7: RX-DUP-201 covers every pair of fibrates, not only fenofibrate + fenofibric acid
    (
        "bezafibrate+gemfibrozil",
        [item("苯扎贝特片", 200, "mg", "tid"), item("吉非罗齐胶囊", 600, "mg", "bid")],
        [("高甘油三酯血症", "E78.1")],
        "RX-DUP-201",
        "warn",
    ),
    # review-7: 胆维丁 (vitamin D3 cholesterol, not in the vitamin_d class) is reached by id
    (
        "cholecalciferol-cholesterol-hypercalcaemia",
        [item("胆维丁乳", 15, "ml", "st")],
        [("高钙血症", None)],
        "RX-CI-301",
        "block",
    ),
    (
        "calcitriol+cholecalciferol-cholesterol",
        [item("骨化三醇软胶囊", 0.25, "μg", "bid"), item("胆维丁乳", 15, "ml", "st")],
        [("维生素D缺乏", "E55.9")],
        "RX-DDI-404",
        "info",
    ),
    # review-7: a kidney stone of unknown type is not read as a calcium stone (RX-CI-312 reads only the explicit words)
    ("calcium-kidney-stone-unknown", [item("碳酸钙D3片", 1, "片")], [("肾结石", "N20.0")], "RX-CI-312", None),
    ("calcium-oxalate-stone", [item("碳酸钙D3片", 1, "片")], [("草酸钙结石", "N20.0")], "RX-CI-312", "warn"),
    # review-7: 门冬氨酸钾镁注射液 only by dilute infusion (label: 不得静注); i.v. push stays a route finding
    ("pma-iv-push", [item("门冬氨酸钾镁注射液", 1, "支", "qd", "静脉注射")], ARR, "RX-ROUTE-001", "block"),
    ("pma-iv-drip", [item("门冬氨酸钾镁注射液", 1, "支", "qd", "静脉滴注")], ARR, "RX-ROUTE-001", None),
    # calcium in hypercalcaemia through the combination
    ("cad3-hypercalcaemia", [item("钙尔奇D", 1, "片")], [("高钙血症", None)], "RX-CI-301", "block"),
]


@pytest.mark.regression
@pytest.mark.parametrize(
    ("label", "items", "dx", "rule", "severity"), CLASS_CASES, ids=[c[0] for c in CLASS_CASES]
)
def test_class_rules_reach_the_new_entries(
    shipped_kb: Any,
    label: str,
    items: list[dict[str, Any]],
    dx: list[tuple[str, str]],
    rule: str,
    severity: str | None,
) -> None:
    found = _ids(
        make_case(*items, diagnoses=dx, labs={"egfr": 80, "potassium": 4.2}, age=60, sex="F", weight_kg=60),
        shipped_kb,
    )
    if severity is None:
        assert rule not in found, (label, found)
    else:
        assert found.get(rule) == severity, (label, found)
