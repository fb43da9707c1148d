"""中成药 in the knowledge base (rules/formulary/tcm.yaml, tcm_western.yaml, rules/tcm_rules.yaml):
Western ingredients of 中成药 reach the ingredient-level checks, label counts are dose limits, the
names resolve to the right product, and the 中成药 test set keeps its score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from toolkit.audit import audit
from toolkit.evaluation.audit import evaluate_audit, read_labelled
from toolkit.records import AuditCase

DATA = Path(__file__).resolve().parents[2] / "eval" / "data"


def _run(
    kb: Any, items: list[dict], age: float = 60, dx: tuple = (("原发性高血压", "I10"),), **labs: float
) -> list[tuple[str, str, tuple[str, ...]]]:
    case = AuditCase.model_validate(
        {
            "id": "tcm",
            "patient": {
                "age": age,
                "sex": "M",
                "diagnoses": [{"name": n, "icd10": c} for n, c in dx],
                "labs": {"egfr": 85, "potassium": 4.3, **labs},
            },
            "prescription": {"kind": "普通", "items": items},
        }
    )
    return [(f.rule_id, f.severity.value, f.drugs) for f in audit(case, kb).findings]


def _item(drug: str, dose: float, unit: str, freq: str = "tid", strength: str | None = None) -> dict:
    out = {"drug": drug, "dose": dose, "unit": unit, "frequency": freq, "route": "口服", "days": 7}
    if strength:
        out["strength"] = strength
    return out


@pytest.mark.regression
@pytest.mark.parametrize(
    ("written", "drug_id"),
    [
        ("消渴丸", "xiaoke_wan"),
        ("珍菊降压片", "zhenju_jiangya"),
        ("999感冒灵颗粒", "ganmaoling_keli"),
        ("感冒灵颗粒", "ganmaoling_keli"),
        ("维C银翘片", "weic_yinqiao"),
        ("复方丹参滴丸", "fufang_danshen_diwan"),
        ("复方丹参片", "fufang_danshen"),
        ("银杏叶片", "yinxingye"),
        ("降压0号", "compound_reserpine_triamterene"),
        ("复方利血平氨苯蝶啶片", "compound_reserpine_triamterene"),
        ("复方利血平片", "compound_reserpine"),
        ("藿香正气水", "huoxiang_zhengqi_shui"),
        ("藿香正气软胶囊", "huoxiang_zhengqi"),
        ("六味地黄丸", "liuwei_dihuang"),
        ("连花清瘟胶囊", "lianhua_qingwen"),
        ("盐酸可乐定片", "clonidine"),
        ("吲哚美辛肠溶片", "indomethacin"),
    ],
)
def test_names(shipped_kb: Any, written: str, drug_id: str) -> None:
    m = shipped_kb.names.resolve(written)
    assert m is not None and m.drug_id == drug_id, (written, m)


@pytest.mark.regression
def test_every_tcm_product_has_a_function_class_and_combinations_have_amounts(shipped_kb: Any) -> None:
    functional = {c for c, d in shipped_kb.classes.items() if d.parent == "tcm" and c != "tcm_contains"}
    products = [d for d in shipped_kb.drugs.values() if "tcm" in shipped_kb.classes_of(d.id)]
    assert len(products) >= 150
    for d in products:
        assert set(d.classes) & functional, d.id
        if d.ingredients and d.tier == "full":
            assert all(len(s.split("/")) >= len(d.ingredients) for f in d.forms for s in f.strengths), d.id


@pytest.mark.regression
def test_xiaoke_wan_is_glibenclamide(shipped_kb: Any) -> None:
    """Review Appendix A: 消渴丸 + 格列美脲, 78 y, eGFR 40 → SU duplication and the glibenclamide renal block."""
    found = _run(
        shipped_kb,
        [_item("消渴丸", 10, "丸"), _item("格列美脲片", 2, "mg", "qd", "2 mg")],
        age=78,
        dx=(("2型糖尿病", "E11.9"),),
        egfr=40,
    )
    assert ("RX-DUP-010", "warn", ("消渴丸", "格列美脲")) in found, found
    assert ("RX-CI-063", "block", ("消渴丸",)) in found, found


@pytest.mark.regression
def test_xiaoke_wan_glibenclamide_dose_is_summed(shipped_kb: Any) -> None:
    """10 pills = 2.5 mg glibenclamide; with 格列本脲 10 mg bid the day's 27.5 mg exceeds 15 mg."""
    found = _run(
        shipped_kb,
        [_item("消渴丸", 10, "丸", "bid"), _item("格列本脲片", 10, "mg", "bid", "2.5 mg")],
        dx=(("2型糖尿病", "E11.9"),),
    )
    dup = [f for f in found if f[0] == "RX-DUP-001"]
    assert dup and dup[0][1] == "block" and dup[0][2] == ("格列本脲",), found


@pytest.mark.regression
def test_zhenju_in_gout_and_with_hctz(shipped_kb: Any) -> None:
    gout = _run(shipped_kb, [_item("珍菊降压片", 1, "片")], dx=(("原发性高血压", "I10"), ("痛风", "M10.9")))
    assert ("RX-CI-001", "block", ("珍菊降压片",)) in gout, gout
    both = _run(shipped_kb, [_item("珍菊降压片", 1, "片"), _item("氢氯噻嗪片", 25, "mg", "qd", "25 mg")])
    assert ("RX-DUP-001", "warn", ("氢氯噻嗪",)) in both, both


@pytest.mark.regression
def test_ganmaoling_and_tylenol_share_two_ingredients(shipped_kb: Any) -> None:
    found = _run(
        shipped_kb,
        [_item("感冒灵颗粒", 1, "袋"), _item("酚麻美敏片", 1, "片")],
        dx=(("急性上呼吸道感染", "J06.9"),),
    )
    dup = {f[2] for f in found if f[0] == "RX-DUP-001"}
    assert dup == {("对乙酰氨基酚",), ("氯苯那敏",)}, found


@pytest.mark.regression
def test_label_count_limits(shipped_kb: Any) -> None:
    """一次1袋、一日3次: 2 bags tid is 2× the label → block; the label dose passes."""
    over = _run(shipped_kb, [_item("感冒灵颗粒", 2, "袋")], dx=(("急性上呼吸道感染", "J06.9"),))
    assert {("RX-DOSE-001", "block"), ("RX-DOSE-002", "block")} <= {f[:2] for f in over}, over
    ok = _run(shipped_kb, [_item("复方丹参滴丸", 10, "丸")], dx=(("冠心病", "I25.1"),))
    assert not [f for f in ok if f[0].startswith("RX-DOSE")], ok


@pytest.mark.regression
def test_a_pill_count_is_not_read_against_another_pill_form(shipped_kb: Any) -> None:
    """补中益气丸 comes as 浓缩丸 (8–10 pills) and 大蜜丸 (1 pill): a line that does not say which is not
    checked against the 大蜜丸 count, and one that names 浓缩丸 is checked against its own."""
    plain = _run(shipped_kb, [_item("补中益气丸", 8, "丸")], dx=(("脾胃虚弱", None),))
    assert not [f for f in plain if f[0].startswith("RX-DOSE")], plain
    named = _run(shipped_kb, [_item("补中益气丸(浓缩丸)", 12, "丸")], dx=(("脾胃虚弱", None),))
    assert ("RX-DOSE-001", "warn") in {f[:2] for f in named}, named


@pytest.mark.regression
def test_tcm_case_set(shipped_kb: Any) -> None:
    """eval/data/tcm_cases.jsonl (34 cases written for this KB by its author, not blind): measured at
    precision 0.89, recall 0.97 when first scored; after the second reader's review (review-3: three
    labels completed with correct findings the first labels missed, RX-DDI-211 added) 1.00 / 1.00 —
    not a blind measure. The floors catch a change that loses the ingredient-level findings."""
    report = evaluate_audit(read_labelled(DATA / "tcm_cases.jsonl"), shipped_kb)
    micro = report.to_json()["micro"]
    assert report.cases >= 25 and not report.errors
    assert micro["recall"] >= 0.9 and micro["precision"] >= 0.85, micro


# ---------------------------------------------------------------- second reader (review-3)
@pytest.mark.regression
@pytest.mark.parametrize(
    ("written", "drug_id"),
    [
        ("消炎痛", "indomethacin"),
        ("消炎痛片", "indomethacin"),
        ("利舍平", "reserpine"),
        ("复方降压片", "compound_reserpine"),
        ("十滴水软胶囊", "shidi_shui_ruanjiaonang"),
        ("十滴水", "shidi_shui"),
    ],
)
def test_reviewed_common_names(shipped_kb: Any, written: str, drug_id: str) -> None:
    m = shipped_kb.names.resolve(written)
    assert m is not None and m.drug_id == drug_id, (written, m)


@pytest.mark.regression
@pytest.mark.parametrize("neighbour", ["消炎灵", "利福平", "复方降脂片"])
def test_reviewed_aliases_do_not_capture_their_neighbours(shipped_kb: Any, neighbour: str) -> None:
    m = shipped_kb.names.resolve(neighbour)
    assert m is None or m.drug_id not in {"indomethacin", "reserpine", "compound_reserpine"}, (neighbour, m)


@pytest.mark.regression
def test_only_the_ethanol_form_of_shidishui_meets_metronidazole(shipped_kb: Any) -> None:
    """十滴水 (tincture) contains ethanol; the soft capsule does not and must not be blocked."""
    dx = (("急性胃肠炎", "A09.9"),)
    metro = _item("甲硝唑片", 0.4, "g", "tid", "0.2 g")
    tincture = _run(shipped_kb, [_item("十滴水", 5, "ml", "bid"), metro], dx=dx)
    assert ("RX-DDI-206", "block") in {f[:2] for f in tincture}, tincture
    capsule = _run(shipped_kb, [_item("十滴水软胶囊", 2, "粒", "bid"), metro], dx=dx)
    assert "RX-DDI-206" not in {f[0] for f in capsule}, capsule


@pytest.mark.regression
def test_keteling_is_contraindicated_in_pregnancy(shipped_kb: Any) -> None:
    case = AuditCase.model_validate(
        {
            "id": "tcm",
            "patient": {
                "age": 28,
                "sex": "F",
                "pregnant": True,
                "diagnoses": [{"name": "急性支气管炎", "icd10": "J20.9"}],
            },
            "prescription": {"kind": "普通", "items": [_item("咳特灵胶囊", 1, "粒")]},
        }
    )
    found = {(f.rule_id, f.severity.value) for f in audit(case, shipped_kb).findings}
    assert ("RX-POP-001", "block") in found, found


@pytest.mark.regression
def test_biyankang_contains_ephedra(shipped_kb: Any) -> None:
    alone = _run(
        shipped_kb, [_item("鼻炎康片", 4, "片")], dx=(("原发性高血压", "I10"), ("过敏性鼻炎", "J30.4"))
    )
    assert ("RX-CI-201", "info", ("鼻炎康片",)) in alone, alone
    with_lhqw = _run(
        shipped_kb,
        [_item("鼻炎康片", 4, "片"), _item("连花清瘟胶囊", 4, "粒")],
        dx=(("急性上呼吸道感染", "J06.9"),),
    )
    assert ("RX-DUP-148", "warn") in {f[:2] for f in with_lhqw}, with_lhqw


@pytest.mark.regression
def test_nsaid_with_low_dose_aspirin_is_reported_once(shipped_kb: Any) -> None:
    """新癀片 (indomethacin) + aspirin → RX-DDI-211 warn; ibuprofen + aspirin stays RX-DDI-038 only."""
    dx = (("冠心病", "I25.1"),)
    asa = _item("阿司匹林肠溶片", 100, "mg", "qd", "100 mg")
    xh = _run(shipped_kb, [_item("新癀片", 2, "片"), asa], dx=dx)
    assert ("RX-DDI-211", "warn") in {f[:2] for f in xh}, xh
    ibu = _run(shipped_kb, [_item("布洛芬缓释胶囊", 300, "mg", "bid", "300 mg"), asa], dx=dx)
    ids = [f[0] for f in ibu]
    assert "RX-DDI-038" in ids and "RX-DDI-211" not in ids, ibu


@pytest.mark.regression
def test_clonidine_single_dose_ceiling(shipped_kb: Any) -> None:
    """国产盐酸可乐定片说明书 极量一次0.6 mg."""
    found = _run(shipped_kb, [_item("盐酸可乐定片", 0.75, "mg", "bid", "0.075 mg")])
    assert "RX-DOSE-001" in {f[0] for f in found}, found


@pytest.mark.regression
def test_compound_liquorice_tablet_counts_as_gancao(shipped_kb: Any) -> None:
    """复方甘草片 (甘草浸膏粉) with a thiazide: RX-DDI-204 info, warn when K < 3.5."""
    items = [_item("复方甘草片", 3, "片"), _item("氢氯噻嗪片", 25, "mg", "qd", "25 mg")]
    dx = (("原发性高血压", "I10"), ("急性支气管炎", "J20.9"))
    assert ("RX-DDI-204", "info") in {f[:2] for f in _run(shipped_kb, items, dx=dx)}
    low = _run(shipped_kb, items, dx=dx, potassium=3.2)
    assert ("RX-DDI-204", "warn") in {f[:2] for f in low}, low


@pytest.mark.regression
def test_ephedra_escalates_in_coronary_disease(shipped_kb: Any) -> None:
    """RX-CI-201: 麻黄 products are info in hypertension, warn in coronary disease / arrhythmia / heart failure."""
    htn = _run(
        shipped_kb, [_item("连花清瘟胶囊", 4, "粒")], dx=(("原发性高血压", "I10"), ("流行性感冒", "J11.1"))
    )
    chd = _run(
        shipped_kb, [_item("连花清瘟胶囊", 4, "粒")], dx=(("冠心病", "I25.1"), ("流行性感冒", "J11.1"))
    )
    assert ("RX-CI-201", "info") in {f[:2] for f in htn}, htn
    assert ("RX-CI-201", "warn") in {f[:2] for f in chd}, chd
