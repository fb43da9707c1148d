"""Issue 18 §1, community classes (rules/formulary/{community,antiinfective,gi,analgesic,cns,resp_cough}_ext.yaml):
class rules reach the new class entries through their classes and ingredients, the full entries' dose limits
fire above the label maximum and stay silent within it, and the reimbursement list's names resolve to their
own entry (never to the neighbour they used to be guessed as)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit

URI = [("急性上呼吸道感染", "J06.9")]
UTI = [("急性膀胱炎", "N30.0")]
OA = [("膝骨关节炎", "M17.9")]
GOUT = [("急性痛风性关节炎", "M10.9")]
INSOMNIA = [("失眠", "G47.0")]
ANXIETY = [("焦虑状态", "F41.9")]
DEPRESSION = [("抑郁症", "F32.9")]
ZOSTER = [("带状疱疹", "B02.9")]
PAIN = [("腰痛", "M54.5")]
URTICARIA = [("慢性荨麻疹", "L50.8")]
GERD = [("胃食管反流病", "K21.9")]
DYSPEPSIA = [("功能性消化不良", "K30")]
DIARRHOEA = [("急性腹泻", "A09.9")]
DEMENTIA = [("阿尔茨海默病", "G30.9")]
HP = [("幽门螺杆菌感染", "B98.0"), ("慢性胃炎", "K29.5")]
AF = [("心房颤动", "I48.9")]
SCZ = [("精神分裂症", "F20.9")]


def _ids(case: Any, kb: Any) -> set[str]:
    return {f.rule_id for f in audit(case, kb).findings}


# --------------------------------------------------------------------------- class rules reach the new drugs
# (label, items as (name, dose, unit, frequency, route), diagnoses, patient extras, rule, fires)
_CEFALEXIN = ("头孢氨苄胶囊", 0.5, "g", "qid", "口服")
_ETORICOXIB = ("依托考昔片", 60, "mg", "qd", "口服")
_DIAZEPAM = ("地西泮片", 2.5, "mg", "qn", "口服")
CLASS_CASES = [
    # β-lactam allergy: cross-reactivity (penicillin allergy → cephalosporin) and direct allergy
    ("cefalexin-penicillin-allergy", [_CEFALEXIN], URI, {"allergies": ["青霉素"]}, "RX-ALG-X-001", True),
    ("cefalexin-no-allergy", [_CEFALEXIN], URI, {}, "RX-ALG-X-001", False),
    (
        "pip-tazo-penicillin-allergy",
        [("注射用哌拉西林钠他唑巴坦钠", 4.5, "g", "q8h", "静脉滴注")],
        URI,
        {"allergies": ["青霉素"]},
        "RX-ALG-001",
        True,
    ),
    (
        "pip-tazo-no-allergy",
        [("注射用哌拉西林钠他唑巴坦钠", 4.5, "g", "q8h", "静脉滴注")],
        URI,
        {},
        "RX-ALG-001",
        False,
    ),
    (
        "cefprozil-cephalosporin-allergy",
        [("头孢丙烯片", 0.5, "g", "bid", "口服")],
        URI,
        {"allergies": ["头孢类"]},
        "RX-ALG-001",
        True,
    ),
    # penicillins need a skin test (RX-SKIN-001); cephalosporins do not (2021 guideline)
    (
        "benzylpenicillin-skin-test",
        [("注射用青霉素钠", 480, "万U", "bid", "静脉滴注")],
        URI,
        {},
        "RX-SKIN-001",
        True,
    ),
    (
        "ceftriaxone-no-skin-test",
        [("注射用头孢曲松钠", 2, "g", "qd", "静脉滴注")],
        URI,
        {},
        "RX-SKIN-001",
        False,
    ),
    # review-5: a cephalosporin/β-lactamase-inhibitor combination takes the skin-test rule of its β-lactam (2021
    # guideline), not sulbactam's penicillin-skin-test flag; a penicillin combination with sulbactam still needs it
    (
        "cefoperazone-sulbactam-no-skin-test",
        [("注射用头孢哌酮钠舒巴坦钠", 2, "g", "q12h", "静脉滴注")],
        URI,
        {},
        "RX-SKIN-001",
        False,
    ),
    (
        "ampicillin-sulbactam-skin-test",
        [("注射用氨苄西林钠舒巴坦钠", 1.5, "g", "q8h", "静脉滴注")],
        URI,
        {},
        "RX-SKIN-001",
        True,
    ),
    # NSAIDs: duplicate NSAID group, NSAID + anticoagulant, NSAID + SSRI
    (
        "loxoprofen+etoricoxib",
        [("洛索洛芬钠片", 60, "mg", "tid", "口服"), _ETORICOXIB],
        OA,
        {},
        "RX-DUP-022",
        True,
    ),
    ("etoricoxib-alone", [_ETORICOXIB], OA, {}, "RX-DUP-022", False),
    (
        "etoricoxib+warfarin",
        [_ETORICOXIB, ("华法林钠片", 3, "mg", "qd", "口服")],
        [*OA, *AF],
        {},
        "RX-DDI-020",
        True,
    ),
    (
        "compound-aspirin+ibuprofen",
        [("复方阿司匹林片", 1, "片", "tid", "口服"), ("布洛芬缓释胶囊", 0.3, "g", "bid", "口服")],
        PAIN,
        {},
        "RX-DUP-022",
        True,
    ),
    (
        "escitalopram+ibuprofen",
        [("草酸艾司西酞普兰片", 10, "mg", "qd", "口服"), ("布洛芬片", 0.2, "g", "tid", "口服")],
        [*DEPRESSION, *PAIN],
        {},
        "RX-DDI-044",
        True,
    ),
    (
        "escitalopram-alone",
        [("草酸艾司西酞普兰片", 10, "mg", "qd", "口服")],
        DEPRESSION,
        {},
        "RX-DDI-044",
        False,
    ),
    # benzodiazepines / Z-drugs: Beers elderly note and same-effect hypnotics
    ("diazepam-80y", [_DIAZEPAM], ANXIETY, {"age": 80}, "RX-POP-004", True),
    ("diazepam-50y", [_DIAZEPAM], ANXIETY, {"age": 50}, "RX-POP-004", False),
    (
        "diazepam+zopiclone",
        [_DIAZEPAM, ("佐匹克隆片", 7.5, "mg", "qn", "口服")],
        INSOMNIA,
        {"age": 50},
        "RX-DDI-075",
        True,
    ),
    (
        "diphenhydramine-78y",
        [("盐酸苯海拉明片", 25, "mg", "tid", "口服")],
        URTICARIA,
        {"age": 78},
        "RX-POP-004",
        True,
    ),
    # review-5: opioid/paracetamol combination in a child; fosfomycin trometamol under 12 (FDA Monurol)
    ("oxycodone-apap-10y", [("氨酚羟考酮片", 1, "片", "q6h", "口服")], PAIN, {"age": 10}, "RX-POP-003", True),
    (
        "oxycodone-apap-40y",
        [("氨酚羟考酮片", 1, "片", "q6h", "口服")],
        PAIN,
        {"age": 40},
        "RX-POP-003",
        False,
    ),
    (
        "fosfomycin-trometamol-8y",
        [("磷霉素氨丁三醇散", 2, "g", "st", "口服")],
        UTI,
        {"age": 8},
        "RX-POP-003",
        True,
    ),
    (
        "fosfomycin-trometamol-30y",
        [("磷霉素氨丁三醇散", 3, "g", "st", "口服")],
        UTI,
        {"age": 30, "sex": "F"},
        "RX-POP-003",
        False,
    ),
    # fluoroquinolones: children under 18, hypoglycaemia with sulfonylureas
    (
        "ciprofloxacin-15y",
        [("盐酸环丙沙星片", 0.25, "g", "bid", "口服")],
        UTI,
        {"age": 15},
        "RX-POP-003",
        True,
    ),
    (
        "ciprofloxacin-40y",
        [("盐酸环丙沙星片", 0.25, "g", "bid", "口服")],
        UTI,
        {"age": 40},
        "RX-POP-003",
        False,
    ),
    (
        "norfloxacin+glimepiride",
        [("诺氟沙星胶囊", 0.4, "g", "bid", "口服"), ("格列美脲片", 2, "mg", "qd", "口服")],
        [*UTI, ("2型糖尿病", "E11.9")],
        {},
        "RX-DDI-063",
        True,
    ),
    # tetracyclines: children under 8
    ("doxycycline-6y", [("盐酸多西环素片", 50, "mg", "bid", "口服")], URI, {"age": 6}, "RX-POP-003", True),
    ("doxycycline-10y", [("盐酸多西环素片", 50, "mg", "bid", "口服")], URI, {"age": 10}, "RX-POP-003", False),
    # erythromycin esters carry erythromycin's interactions (simvastatin contraindicated)
    (
        "erythromycin-cyclocarbonate+simvastatin",
        [("环酯红霉素干混悬剂", 0.25, "g", "bid", "口服"), ("辛伐他汀片", 20, "mg", "qn", "口服")],
        [*URI, ("高脂血症", "E78.5")],
        {},
        "RX-DDI-010",
        True,
    ),
    # antihistamines: levocetirizine is its own drug and duplicates cetirizine
    (
        "levocetirizine+cetirizine",
        [("盐酸左西替利嗪片", 5, "mg", "qd", "口服"), ("西替利嗪片", 10, "mg", "qd", "口服")],
        URTICARIA,
        {},
        "RX-DUP-024",
        True,
    ),
    (
        "levocetirizine-alone",
        [("盐酸左西替利嗪片", 5, "mg", "qd", "口服")],
        URTICARIA,
        {},
        "RX-DUP-024",
        False,
    ),
    # acid suppression and prokinetics
    (
        "ranitidine+omeprazole",
        [("盐酸雷尼替丁胶囊", 0.15, "g", "bid", "口服"), ("奥美拉唑肠溶胶囊", 20, "mg", "qd", "口服")],
        GERD,
        {},
        "RX-DUP-020",
        True,
    ),
    (
        "metoclopramide+domperidone",
        [("盐酸甲氧氯普胺片", 10, "mg", "tid", "口服"), ("多潘立酮片", 10, "mg", "tid", "口服")],
        DYSPEPSIA,
        {},
        "RX-DUP-021",
        True,
    ),
    # paracetamol inside an opioid combination: same-ingredient duplication with paracetamol
    (
        "oxycodone-apap+paracetamol",
        [("氨酚羟考酮片", 1, "片", "q6h", "口服"), ("对乙酰氨基酚片", 0.5, "g", "tid", "口服")],
        PAIN,
        {},
        "RX-DUP-001",
        True,
    ),
    ("oxycodone-apap-alone", [("氨酚羟考酮片", 1, "片", "q6h", "口服")], PAIN, {}, "RX-DUP-001", False),
    # pregnancy: ribavirin is contraindicated (block), amoxicillin is not
    (
        "ribavirin-pregnant",
        [("利巴韦林片", 0.15, "g", "tid", "口服")],
        URI,
        {"pregnant": True, "sex": "F", "age": 28},
        "RX-POP-001",
        True,
    ),
    ("cefalexin-pregnant", [_CEFALEXIN], UTI, {"pregnant": True, "sex": "F", "age": 28}, "RX-POP-001", False),
    # Hp quadruple therapy: bismuth is contraindicated in pregnancy
    (
        "bismuth-pregnant",
        [("枸橼酸铋钾胶囊", 0.6, "g", "bid", "口服")],
        HP,
        {"pregnant": True, "sex": "F", "age": 30},
        "RX-POP-001",
        True,
    ),
]


@pytest.mark.regression
@pytest.mark.parametrize(
    ("label", "items", "dx", "extra", "rule", "fires"),
    CLASS_CASES,
    ids=[f"{c[0]}-{'fires' if c[5] else 'silent'}" for c in CLASS_CASES],
)
def test_class_rules_reach_new_drugs(
    shipped_kb: Any,
    label: str,
    items: list[tuple[Any, ...]],
    dx: list[tuple[str, str]],
    extra: dict[str, Any],
    rule: str,
    fires: bool,
) -> None:
    lines = [item(n, dose=d, unit=u, frequency=f, route=r, days=5) for n, d, u, f, r in items]
    for n, *_ in items:
        assert shipped_kb.names.resolve(n) is not None, n
    extra = dict(extra)
    sex = extra.pop("sex", "M")
    age = extra.pop("age", 45)
    case = make_case(*lines, age=age, sex=sex, diagnoses=dx, **extra)
    found = _ids(case, shipped_kb)
    assert (rule in found) is fires, (label, rule, sorted(found))


# --------------------------------------------------------------------------- dose limits of the full entries
# (drug as written, dose, unit, frequency, days, age, labs, diagnoses, expected rule, fires)
DOSE_CASES = [
    ("头孢氨苄胶囊", 0.5, "g", "qid", 5, 40, {}, URI, "RX-DOSE-001", False),
    ("头孢氨苄胶囊", 1.5, "g", "qid", 5, 40, {}, URI, "RX-DOSE-001", True),  # single > 1 g
    (
        "头孢氨苄胶囊",
        0.25,
        "g",
        "q6h",
        5,
        70,
        {"egfr": 20},
        UTI,
        "RX-DOSE-002",
        True,
    ),  # CrCl 15–29: ≤ 750 mg/d
    ("头孢氨苄胶囊", 0.25, "g", "tid", 5, 70, {"egfr": 20}, UTI, "RX-DOSE-002", False),
    ("头孢丙烯片", 0.5, "g", "bid", 5, 40, {}, URI, "RX-DOSE-002", False),
    ("头孢丙烯片", 1, "g", "bid", 5, 40, {}, URI, "RX-DOSE-001", True),
    ("注射用头孢曲松钠", 2, "g", "q12h", 5, 40, {}, URI, "RX-DOSE-002", False),
    ("注射用头孢曲松钠", 3, "g", "q12h", 5, 40, {}, URI, "RX-DOSE-002", True),  # > 4 g/d
    ("盐酸多西环素片", 0.1, "g", "bid", 7, 40, {}, URI, "RX-DOSE-002", False),
    ("盐酸多西环素片", 0.2, "g", "bid", 7, 40, {}, URI, "RX-DOSE-002", True),
    ("盐酸多西环素片", 0.1, "g", "tid", 7, 40, {}, URI, "RX-DOSE-007", True),  # > 200 mg/d maintenance
    ("盐酸环丙沙星片", 0.5, "g", "bid", 5, 40, {"egfr": 90}, UTI, "RX-DOSE-002", False),
    ("盐酸环丙沙星片", 0.5, "g", "bid", 5, 70, {"egfr": 20}, UTI, "RX-DOSE-002", True),  # CrCl 5–29: q18h
    ("诺氟沙星胶囊", 0.4, "g", "bid", 3, 40, {"egfr": 90}, UTI, "RX-DOSE-002", False),
    ("诺氟沙星胶囊", 0.4, "g", "bid", 3, 70, {"egfr": 20}, UTI, "RX-DOSE-002", True),  # CrCl ≤ 30: 400 mg qd
    ("阿昔洛韦片", 0.4, "g", "tid", 7, 40, {}, ZOSTER, "RX-DOSE-002", False),
    ("阿昔洛韦片", 0.8, "g", "q4h", 7, 40, {}, ZOSTER, "RX-DOSE-002", True),  # 4.8 g/d > 4 g
    ("盐酸伐昔洛韦片", 1, "g", "tid", 7, 40, {"egfr": 90}, ZOSTER, "RX-DOSE-002", False),
    (
        "盐酸伐昔洛韦片",
        1,
        "g",
        "tid",
        7,
        75,
        {"egfr": 40},
        ZOSTER,
        "RX-DOSE-002",
        True,
    ),  # CrCl 30–49: 1 g q12h
    ("泛昔洛韦片", 0.25, "g", "tid", 7, 50, {"egfr": 90}, ZOSTER, "RX-DOSE-002", False),
    ("泛昔洛韦片", 0.5, "g", "tid", 7, 75, {"egfr": 30}, ZOSTER, "RX-DOSE-002", True),  # CrCl 20–39: 500 mg/d
    # review-5: FDA Famvir 2.2 — herpes labialis 1500 mg once, genital herpes 1000 mg bid for one day
    ("泛昔洛韦片", 1.5, "g", "st", 1, 40, {}, [("复发性唇疱疹", "B00.1")], "RX-DOSE-001", False),
    ("泛昔洛韦片", 1, "g", "bid", 1, 40, {}, [("复发性生殖器疱疹", "A60.0")], "RX-DOSE-002", False),
    ("泛昔洛韦片", 1, "g", "tid", 7, 40, {}, ZOSTER, "RX-DOSE-002", True),  # 3 g/d > 2 g
    (
        "泛昔洛韦片",
        2,
        "g",
        "st",
        1,
        40,
        {},
        [("复发性唇疱疹", "B00.1")],
        "RX-DOSE-001",
        True,
    ),  # > 1.5 g per dose
    ("依托考昔片", 120, "mg", "qd", 5, 50, {}, GOUT, "RX-DOSE-007", False),
    ("依托考昔片", 120, "mg", "qd", 28, 50, {}, GOUT, "RX-DOSE-007", True),  # 120 mg ≤ 8 days
    ("依托考昔片", 60, "mg", "qd", 28, 50, {}, OA, "RX-DOSE-007", False),
    ("盐酸曲马多片", 100, "mg", "q6h", 3, 60, {}, PAIN, "RX-DOSE-002", False),
    ("盐酸曲马多片", 100, "mg", "q6h", 3, 80, {}, PAIN, "RX-DOSE-002", True),  # > 75 y: 300 mg/d
    ("普瑞巴林胶囊", 150, "mg", "bid", 14, 60, {"egfr": 90}, ZOSTER, "RX-DOSE-002", False),
    (
        "普瑞巴林胶囊",
        150,
        "mg",
        "bid",
        14,
        70,
        {"egfr": 20},
        ZOSTER,
        "RX-DOSE-002",
        True,
    ),  # CrCl 15–30: ≤ 150
    ("加巴喷丁胶囊", 0.3, "g", "tid", 14, 60, {"egfr": 90}, ZOSTER, "RX-DOSE-002", False),
    ("加巴喷丁胶囊", 0.3, "g", "tid", 14, 70, {"egfr": 20}, ZOSTER, "RX-DOSE-002", True),  # CrCl 15–29: ≤ 700
    ("草酸艾司西酞普兰片", 10, "mg", "qd", 28, 70, {}, DEPRESSION, "RX-DOSE-001", False),
    ("草酸艾司西酞普兰片", 20, "mg", "qd", 28, 70, {}, DEPRESSION, "RX-DOSE-001", True),  # ≥ 65 y: 10 mg
    ("氢溴酸西酞普兰片", 40, "mg", "qd", 28, 50, {}, DEPRESSION, "RX-DOSE-001", False),
    ("氢溴酸西酞普兰片", 40, "mg", "qd", 28, 62, {}, DEPRESSION, "RX-DOSE-001", True),  # > 60 y: 20 mg
    ("盐酸帕罗西汀片", 20, "mg", "qd", 28, 40, {}, DEPRESSION, "RX-DOSE-001", False),
    ("盐酸帕罗西汀片", 80, "mg", "qd", 28, 40, {}, DEPRESSION, "RX-DOSE-001", True),
    ("地西泮片", 5, "mg", "tid", 7, 40, {}, ANXIETY, "RX-DOSE-001", False),
    ("地西泮片", 20, "mg", "tid", 7, 40, {}, ANXIETY, "RX-DOSE-001", True),  # tablets: ≤ 10 mg/dose
    ("盐酸左西替利嗪片", 5, "mg", "qd", 14, 40, {"egfr": 90}, URTICARIA, "RX-DOSE-002", False),
    (
        "盐酸左西替利嗪片",
        5,
        "mg",
        "qd",
        14,
        70,
        {"egfr": 40},
        URTICARIA,
        "RX-DOSE-002",
        True,
    ),  # CrCl 30–49: q48h
    ("盐酸雷尼替丁胶囊", 0.15, "g", "bid", 14, 40, {"egfr": 90}, GERD, "RX-DOSE-002", False),
    (
        "盐酸雷尼替丁胶囊",
        0.15,
        "g",
        "bid",
        14,
        75,
        {"egfr": 30},
        GERD,
        "RX-DOSE-002",
        True,
    ),  # CrCl < 50: 150 mg/d
    ("盐酸甲氧氯普胺片", 10, "mg", "tid", 3, 40, {}, DYSPEPSIA, "RX-DOSE-001", False),
    ("盐酸甲氧氯普胺片", 20, "mg", "tid", 3, 40, {}, DYSPEPSIA, "RX-DOSE-001", True),
    (
        "盐酸甲氧氯普胺片",
        5,
        "mg",
        "tid",
        3,
        50,
        {"egfr": 10},
        DYSPEPSIA,
        "RX-DOSE-002",
        False,
    ),  # ESRD: ≤ 15 mg/d
    ("盐酸甲氧氯普胺片", 10, "mg", "tid", 3, 50, {"egfr": 10}, DYSPEPSIA, "RX-DOSE-002", True),  # review-5
    ("盐酸文拉法辛片", 75, "mg", "tid", 28, 50, {"egfr": 45}, DEPRESSION, "RX-DOSE-002", False),
    (
        "盐酸文拉法辛片",
        100,
        "mg",
        "tid",
        28,
        50,
        {"egfr": 45},
        DEPRESSION,
        "RX-DOSE-002",
        True,
    ),  # CrCl 30–59: −25 %
    ("盐酸洛哌丁胺胶囊", 4, "mg", "qid", 2, 40, {}, DIARRHOEA, "RX-DOSE-002", False),
    ("盐酸洛哌丁胺胶囊", 4, "mg", "q4h", 2, 40, {}, DIARRHOEA, "RX-DOSE-002", True),  # > 16 mg/d
    ("盐酸美金刚片", 10, "mg", "bid", 28, 75, {"egfr": 70}, DEMENTIA, "RX-DOSE-002", False),
    (
        "盐酸美金刚片",
        10,
        "mg",
        "bid",
        28,
        75,
        {"egfr": 20},
        DEMENTIA,
        "RX-DOSE-002",
        True,
    ),  # CrCl 5–29: 10 mg
    ("枸橼酸铋钾胶囊", 0.3, "g", "qid", 14, 40, {}, HP, "RX-DOSE-002", False),
    ("枸橼酸铋钾胶囊", 0.6, "g", "qid", 14, 40, {}, HP, "RX-DOSE-002", True),
    ("氟哌噻吨美利曲辛片", 1, "片", "bid", 14, 40, {}, ANXIETY, "RX-DOSE-002", False),
    ("氟哌噻吨美利曲辛片", 2, "片", "bid", 14, 40, {}, ANXIETY, "RX-DOSE-002", True),  # label: ≤ 3 tablets/d
    ("阿立哌唑片", 15, "mg", "qd", 28, 40, {}, SCZ, "RX-DOSE-001", False),
    ("阿立哌唑片", 40, "mg", "qd", 28, 40, {}, SCZ, "RX-DOSE-001", True),
    ("注射用阿立哌唑", 400, "mg", "q4w", 28, 40, {}, SCZ, "RX-DOSE-001", False),  # long-acting form limits
    ("注射用利培酮微球", 25, "mg", "q2w", 28, 40, {}, SCZ, "RX-DOSE-001", False),
    ("注射用利培酮微球", 75, "mg", "q2w", 28, 40, {}, SCZ, "RX-DOSE-001", True),  # ≤ 50 mg per injection
    ("盐酸克林霉素胶囊", 0.3, "g", "qid", 5, 40, {}, URI, "RX-DOSE-001", False),
    ("盐酸克林霉素胶囊", 0.6, "g", "qid", 5, 40, {}, URI, "RX-DOSE-001", True),  # oral ≤ 450 mg per dose
    ("克林霉素磷酸酯注射液", 0.6, "g", "q8h", 5, 40, {}, URI, "RX-DOSE-001", False),  # IV 600 mg is fine
    ("盐酸乙哌立松片", 50, "mg", "tid", 14, 40, {}, PAIN, "RX-DOSE-002", False),
    ("盐酸乙哌立松片", 100, "mg", "tid", 14, 40, {}, PAIN, "RX-DOSE-002", True),
    ("枸橼酸喷托维林片", 25, "mg", "tid", 3, 40, {}, URI, "RX-DOSE-002", False),
    ("枸橼酸喷托维林片", 50, "mg", "tid", 3, 40, {}, URI, "RX-DOSE-001", True),
    ("复方甘草片", 3, "片", "tid", 3, 40, {}, URI, "RX-DOSE-002", False),
    ("复方甘草片", 4, "片", "qid", 3, 40, {}, URI, "RX-DOSE-002", True),  # label: ≤ 4 tablets tid
]


@pytest.mark.regression
@pytest.mark.parametrize(
    ("drug", "dose", "unit", "freq", "days", "age", "labs", "dx", "rule", "fires"),
    DOSE_CASES,
    ids=[
        f"{c[0]}-{c[1]}{c[2]}-{c[3]}-{c[5]}y{'-' + str(c[6]) if c[6] else ''}-{'fires' if c[9] else 'silent'}"
        for c in DOSE_CASES
    ],
)
def test_dose_limits_of_full_entries(
    shipped_kb: Any,
    drug: str,
    dose: float,
    unit: str,
    freq: str,
    days: int,
    age: int,
    labs: dict[str, float],
    dx: list[tuple[str, str]],
    rule: str,
    fires: bool,
) -> None:
    assert shipped_kb.names.resolve(drug) is not None, drug
    case = make_case(
        item(drug, dose=dose, unit=unit, frequency=freq, days=days), age=age, diagnoses=dx, labs=labs
    )
    found = _ids(case, shipped_kb)
    if fires:
        assert rule in found, (drug, dose, sorted(found))
    else:
        assert not {"RX-DOSE-001", "RX-DOSE-002", "RX-DOSE-007"} & found, (drug, dose, sorted(found))


# --------------------------------------------------------------------------- combinations add up per ingredient
# fixed-dose opioid combinations carry their strengths, so paracetamol and tramadol are summed over all lines
SUM_CASES = [
    (
        "oxycodone-apap-2tab-q6h+paracetamol",
        [("氨酚羟考酮片", 2, "片", "q6h"), ("对乙酰氨基酚片", 0.5, "g", "tid")],
        True,
    ),
    (
        "oxycodone-apap-1tab-q6h+paracetamol",
        [("氨酚羟考酮片", 1, "片", "q6h"), ("对乙酰氨基酚片", 0.5, "g", "tid")],
        False,
    ),
    ("tramadol-apap+tramadol", [("氨酚曲马多片", 2, "片", "qid"), ("盐酸曲马多片", 100, "mg", "q6h")], True),
    ("tramadol-apap-alone", [("氨酚曲马多片", 2, "片", "qid")], False),
]


@pytest.mark.regression
@pytest.mark.parametrize(
    ("label", "lines", "fires"), SUM_CASES, ids=[f"{c[0]}-{'fires' if c[2] else 'silent'}" for c in SUM_CASES]
)
def test_combination_ingredients_are_summed(
    shipped_kb: Any, label: str, lines: list[tuple[Any, ...]], fires: bool
) -> None:
    case = make_case(
        *[item(n, dose=d, unit=u, frequency=f, days=3) for n, d, u, f in lines], age=50, diagnoses=PAIN
    )
    assert ("RX-DOSE-002" in _ids(case, shipped_kb)) is fires, label


# --------------------------------------------------------------------------- names resolve to their own entry
@pytest.mark.regression
@pytest.mark.parametrize(
    ("written", "drug_id"),
    [
        ("青霉素", "benzylpenicillin"),  # was erythromycin by one edit
        ("注射用青霉素钠", "benzylpenicillin"),
        ("克林霉素", "clindamycin"),  # was clarithromycin
        ("克林霉素磷酸酯注射液", "clindamycin"),
        ("替硝唑片", "tinidazole"),  # was metronidazole
        ("奥硝唑胶囊", "ornidazole"),
        ("头孢噻肟", "cefotaxime"),  # was cefixime
        ("头孢唑肟", "ceftizoxime"),
        ("头孢吡肟", "cefepime"),
        ("头孢匹罗", "cefpirome"),  # was cefaclor
        ("美洛西林", "mezlocillin"),  # was meloxicam
        ("阿洛西林", "azlocillin"),  # was amoxicillin
        ("氯霉素", "chloramphenicol"),  # was erythromycin
        ("链霉素", "streptomycin"),
        ("磷霉素", "fosfomycin"),
        ("制霉素", "nystatin"),
        ("醋氯芬酸", "aceclofenac"),  # was diclofenac
        ("注射用头孢呋辛钠", "cefuroxime_sodium"),  # IV cefuroxime is not oral cefuroxime axetil
        ("头孢呋辛酯片", "cefuroxime"),
        ("盐酸左西替利嗪片", "levocetirizine"),  # was cetirizine by containment
        ("黛力新", "flupentixol_melitracen"),  # not 达力新 (cefuroxime brand)
        ("氟哌酸", "norfloxacin"),
        ("吡哌酸", "pipemidic_acid"),
        ("安定", "diazepam"),
        ("复方新诺明", "co_trimoxazole"),
        ("小儿复方磺胺甲噁唑", "co_trimoxazole"),
        ("富马酸伏诺拉生片", "vonoprazan"),
        ("甲苯磺酸奥马环素片", "omadacycline"),
        ("苹果酸奈诺沙星胶囊", "nemonoxacin"),
        ("氨酚待因片(Ⅱ)", "paracetamol_codeine"),
        ("格隆溴铵注射液", "glycopyrronium_injection"),
    ],
)
def test_community_names_resolve_to_their_own_entry(shipped_kb: Any, written: str, drug_id: str) -> None:
    m = shipped_kb.names.resolve(written)
    assert m is not None and m.drug_id == drug_id, (written, m)


@pytest.mark.regression
def test_community_entries_are_tiered_and_cited(shipped_kb: Any) -> None:
    """Every entry of the community files is a class entry without numeric limits, or a full entry with
    strengths on every form; all cite a source."""
    files = ("community_ext", "antiinfective_ext", "gi_ext", "analgesic_ext", "cns_ext", "resp_cough_ext")
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2] / "rules" / "formulary"
    ids = [
        d["id"]
        for f in files
        for d in (yaml.safe_load((root / f"{f}.yaml").read_text("utf-8"))["drugs"] or [])
    ]
    assert len(ids) > 350
    for i in ids:
        d = shipped_kb.drugs[i]
        assert d.references, i
        if d.tier == "class":
            assert d.dose is None or not (d.dose.adult or d.dose.child or d.dose.elderly or d.dose.renal), i
        else:
            assert all(f.strengths for f in d.forms), i


# --------------------------------------------------------------------------- review-5 (second reader) corrections
@pytest.mark.regression
@pytest.mark.parametrize(
    ("drug", "dose", "unit", "days", "fires"),
    [
        ("地达西尼胶囊", 2.5, "mg", 14, True),  # 第二类精神药品 (2023): > 7 days without a reason
        ("地达西尼胶囊", 2.5, "mg", 7, False),
    ],
)
def test_dimdazenil_is_psychotropic_2(
    shipped_kb: Any, drug: str, dose: float, unit: str, days: int, fires: bool
) -> None:
    case = make_case(item(drug, dose=dose, unit=unit, frequency="qn", days=days), age=45, diagnoses=INSOMNIA)
    assert ("RX-DAYS-004" in _ids(case, shipped_kb)) is fires


@pytest.mark.regression
@pytest.mark.parametrize(
    ("drug", "dose", "warn"),
    [
        ("盐酸帕罗西汀片", 20, True),  # first-trimester cardiac malformations: avoid (warn)
        ("草酸艾司西酞普兰片", 10, False),  # other SSRIs: caution (info only)
    ],
)
def test_paroxetine_pregnancy_is_avoid(shipped_kb: Any, drug: str, dose: float, warn: bool) -> None:
    case = make_case(
        item(drug, dose=dose, unit="mg", frequency="qd", days=14),
        age=30,
        sex="F",
        diagnoses=DEPRESSION,
        pregnant=True,
    )
    sev = {f.severity.value for f in audit(case, shipped_kb).findings if f.rule_id == "RX-POP-001"}
    assert ("warn" in sev) is warn, sev


@pytest.mark.regression
@pytest.mark.parametrize(
    ("drug", "dose", "unit", "freq", "route", "warn"),
    [
        # Beers 2023 lists ketorolac and indomethacin (also inside 氨糖美辛) as "avoid" outright: warn, not info
        ("酮咯酸氨丁三醇注射液", 30, "mg", "st", "肌内注射", True),
        ("氨糖美辛肠溶片", 1, "片", "tid", "口服", True),
        ("醋氯芬酸片", 0.1, "g", "bid", "口服", False),  # other NSAIDs: avoid long-term only (caution, info)
    ],
)
def test_beers_avoid_nsaids_warn_in_elderly(
    shipped_kb: Any, drug: str, dose: float, unit: str, freq: str, route: str, warn: bool
) -> None:
    case = make_case(
        item(drug, dose=dose, unit=unit, frequency=freq, route=route, days=3), age=75, diagnoses=PAIN
    )
    sev = {f.severity.value for f in audit(case, shipped_kb).findings if f.rule_id == "RX-POP-004"}
    assert sev, sev
    assert ("warn" in sev) is warn, sev


@pytest.mark.regression
def test_potassium_with_a_potassium_losing_diuretic_is_indicated(shipped_kb: Any) -> None:
    """qa-pharmacist: KCl 0.5 g bid beside furosemide in heart failure warned RX-IND-017 (label: 预防低钾血症)."""
    kcl = item("氯化钾缓释片", dose=0.5, unit="g", frequency="bid", strength="0.5 g", days=7)
    furosemide = item("呋塞米片", dose=20, unit="mg", strength="20 mg", days=7)
    amlodipine = item("苯磺酸氨氯地平片", dose=5, unit="mg", strength="5 mg", days=7)
    dx = [("慢性心力衰竭", "I50.9")]
    with_loop = audit(
        make_case(kcl, furosemide, diagnoses=dx, labs={"egfr": 60, "potassium": 4.0}), shipped_kb
    )
    assert "RX-IND-017" not in {f.rule_id for f in with_loop.findings}
    without = audit(make_case(kcl, amlodipine, diagnoses=dx, labs={"egfr": 60, "potassium": 4.0}), shipped_kb)
    assert "RX-IND-017" in {f.rule_id for f in without.findings}
