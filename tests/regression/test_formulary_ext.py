"""Issue 18 §1, chronic-disease classes (rules/formulary/{dm,cv,resp,chronic}_ext.yaml): the new full
entries' dose limits fire above the label maximum and stay silent at it, and class rules reach the new
drugs through their classes and, for combinations, through their ingredients."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit

HTN = [("原发性高血压", "I10")]
DM = [("2型糖尿病", "E11.9")]
COPD = [("慢性阻塞性肺疾病", "J44.9")]
BPH = [("良性前列腺增生", "N40")]
AF = [("心房颤动", "I48.9")]


def _ids(case: Any, kb: Any) -> set[str]:
    return {f.rule_id for f in audit(case, kb).findings}


# --------------------------------------------------------------------------- dose limits of full entries
# (drug as written, dose, unit, frequency, diagnoses, labs, expected rule, fires)
DOSE_CASES = [
    ("阿格列汀片", 25, "mg", "qd", DM, {"egfr": 70}, "RX-DOSE-002", False),
    ("阿格列汀片", 25, "mg", "qd", DM, {"egfr": 45}, "RX-DOSE-002", True),  # CrCl 30–<60: 12.5 mg
    ("阿格列汀片", 12.5, "mg", "qd", DM, {"egfr": 45}, "RX-DOSE-002", False),
    ("阿格列汀片", 12.5, "mg", "qd", DM, {"egfr": 20}, "RX-DOSE-002", True),  # <30: 6.25 mg
    ("那格列奈片", 120, "mg", "tid", DM, {}, "RX-DOSE-001", False),
    ("那格列奈片", 240, "mg", "tid", DM, {}, "RX-DOSE-001", True),
    ("马来酸罗格列酮片", 4, "mg", "bid", DM, {}, "RX-DOSE-002", False),
    ("马来酸罗格列酮片", 8, "mg", "bid", DM, {}, "RX-DOSE-002", True),
    ("艾塞那肽注射液", 10, "μg", "bid", DM, {}, "RX-DOSE-001", False),
    ("艾塞那肽注射液", 20, "μg", "bid", DM, {}, "RX-DOSE-001", True),
    ("利司那肽注射液", 20, "μg", "qd", DM, {}, "RX-DOSE-001", False),
    ("利司那肽注射液", 40, "μg", "qd", DM, {}, "RX-DOSE-001", True),
    ("依帕司他片", 50, "mg", "tid", DM, {}, "RX-DOSE-002", False),
    ("依帕司他片", 100, "mg", "tid", DM, {}, "RX-DOSE-002", True),
    ("羟苯磺酸钙胶囊", 0.5, "g", "tid", DM, {}, "RX-DOSE-002", False),
    ("羟苯磺酸钙胶囊", 1, "g", "tid", DM, {}, "RX-DOSE-002", True),
    ("阿利沙坦酯片", 240, "mg", "qd", HTN, {}, "RX-DOSE-001", False),
    ("阿利沙坦酯片", 480, "mg", "qd", HTN, {}, "RX-DOSE-001", True),
    ("乐卡地平片", 20, "mg", "qd", HTN, {}, "RX-DOSE-001", False),
    ("乐卡地平片", 40, "mg", "qd", HTN, {}, "RX-DOSE-001", True),
    ("贝尼地平片", 8, "mg", "qd", HTN, {}, "RX-DOSE-001", False),
    ("贝尼地平片", 16, "mg", "qd", HTN, {}, "RX-DOSE-001", True),
    ("拉西地平片", 4, "mg", "qd", HTN, {}, "RX-DOSE-001", False),
    ("拉西地平片", 8, "mg", "qd", HTN, {}, "RX-DOSE-001", True),
    ("尼莫地平片", 60, "mg", "q4h", [("蛛网膜下腔出血", "I60.9")], {}, "RX-DOSE-002", False),
    ("尼莫地平片", 90, "mg", "q4h", [("蛛网膜下腔出血", "I60.9")], {}, "RX-DOSE-001", True),
    ("盐酸美西律片", 200, "mg", "tid", [("室性早搏", "I49.3")], {}, "RX-DOSE-002", False),
    ("盐酸美西律片", 400, "mg", "q6h", [("室性早搏", "I49.3")], {}, "RX-DOSE-002", True),
    ("盐酸普罗帕酮片", 150, "mg", "tid", AF, {}, "RX-DOSE-002", False),
    ("盐酸普罗帕酮片", 400, "mg", "tid", AF, {}, "RX-DOSE-001", True),
    ("盐酸伊伐布雷定片", 7.5, "mg", "bid", [("慢性心力衰竭", "I50.9")], {}, "RX-DOSE-002", False),
    ("盐酸伊伐布雷定片", 10, "mg", "bid", [("慢性心力衰竭", "I50.9")], {}, "RX-DOSE-001", True),
    ("阿哌沙班片", 5, "mg", "bid", AF, {}, "RX-DOSE-002", False),
    ("阿哌沙班片", 20, "mg", "bid", AF, {}, "RX-DOSE-001", True),
    # review-4: AF at CrCl 15–29 → 2.5 mg bid (EU SmPC 4.2)
    ("阿哌沙班片", 5, "mg", "bid", AF, {"crcl": 25}, "RX-DOSE-002", True),
    ("阿哌沙班片", 2.5, "mg", "bid", AF, {"crcl": 25}, "RX-DOSE-002", False),
    ("阿哌沙班片", 5, "mg", "bid", AF, {"crcl": 45}, "RX-DOSE-002", False),
    # review-4: indobufen 100–200 mg/d in renal impairment (易抑宁说明书; threshold eGFR<60 is U)
    ("吲哚布芬片", 0.2, "g", "bid", [("冠心病", "I25.1")], {"egfr": 45}, "RX-DOSE-002", True),
    ("吲哚布芬片", 0.1, "g", "bid", [("冠心病", "I25.1")], {"egfr": 45}, "RX-DOSE-002", False),
    ("吲哚布芬片", 0.2, "g", "bid", [("冠心病", "I25.1")], {"egfr": 75}, "RX-DOSE-002", False),
    ("甲苯磺酸艾多沙班片", 60, "mg", "qd", AF, {"egfr": 70}, "RX-DOSE-002", False),
    ("甲苯磺酸艾多沙班片", 60, "mg", "qd", AF, {"egfr": 40}, "RX-DOSE-002", True),  # CrCl 15–50: 30 mg
    ("甲苯磺酸艾多沙班片", 30, "mg", "qd", AF, {"egfr": 40}, "RX-DOSE-002", False),
    ("西洛他唑片", 100, "mg", "bid", [("下肢动脉硬化闭塞症", "I70.2")], {}, "RX-DOSE-002", False),
    ("西洛他唑片", 200, "mg", "bid", [("下肢动脉硬化闭塞症", "I70.2")], {}, "RX-DOSE-001", True),
    ("普罗布考片", 0.5, "g", "bid", [("高脂血症", "E78.5")], {}, "RX-DOSE-002", False),
    ("普罗布考片", 1, "g", "bid", [("高脂血症", "E78.5")], {}, "RX-DOSE-001", True),
    ("甲巯咪唑片", 30, "mg", "qd", [("甲状腺功能亢进症", "E05.9")], {}, "RX-DOSE-002", False),
    ("甲巯咪唑片", 40, "mg", "bid", [("甲状腺功能亢进症", "E05.9")], {}, "RX-DOSE-002", True),
    ("丙硫氧嘧啶片", 100, "mg", "tid", [("甲状腺功能亢进症", "E05.9")], {}, "RX-DOSE-002", False),
    ("丙硫氧嘧啶片", 300, "mg", "tid", [("甲状腺功能亢进症", "E05.9")], {}, "RX-DOSE-002", True),
    ("盐酸坦索罗辛缓释胶囊", 0.2, "mg", "qd", BPH, {}, "RX-DOSE-001", False),
    ("盐酸坦索罗辛缓释胶囊", 1.6, "mg", "qd", BPH, {}, "RX-DOSE-001", True),
    ("非那雄胺片", 5, "mg", "qd", BPH, {}, "RX-DOSE-001", False),
    ("非那雄胺片", 10, "mg", "qd", BPH, {}, "RX-DOSE-001", True),
    ("赛洛多辛胶囊", 4, "mg", "bid", BPH, {"egfr": 70}, "RX-DOSE-002", False),
    ("赛洛多辛胶囊", 4, "mg", "bid", BPH, {"egfr": 40}, "RX-DOSE-002", True),  # CrCl 30–50: 4 mg/d
    ("琥珀酸索利那新片", 10, "mg", "qd", [("膀胱过度活动症", "N32.8")], {"egfr": 70}, "RX-DOSE-002", False),
    ("琥珀酸索利那新片", 10, "mg", "qd", [("膀胱过度活动症", "N32.8")], {"egfr": 25}, "RX-DOSE-002", True),
    ("酒石酸托特罗定片", 2, "mg", "bid", [("膀胱过度活动症", "N32.8")], {"egfr": 25}, "RX-DOSE-002", True),
    ("酒石酸托特罗定片", 1, "mg", "bid", [("膀胱过度活动症", "N32.8")], {"egfr": 25}, "RX-DOSE-002", False),
    ("阿仑膦酸钠片", 70, "mg", "qw", [("骨质疏松", "M81.9")], {}, "RX-DOSE-001", False),
    ("阿仑膦酸钠片", 140, "mg", "qw", [("骨质疏松", "M81.9")], {}, "RX-DOSE-001", True),
    # review-4: the weekly 70 mg written qd is 70 mg/d (daily maximum 40 mg, widest label)
    ("阿仑膦酸钠片", 70, "mg", "qd", [("骨质疏松", "M81.9")], {}, "RX-DOSE-002", True),
    ("阿仑膦酸钠片", 10, "mg", "qd", [("骨质疏松", "M81.9")], {}, "RX-DOSE-002", False),
    # review-4: thyroid tablets 160 mg/d (国产说明书 少数患者需一日160 mg)
    ("甲状腺片", 80, "mg", "tid", [("甲状腺功能减退症", "E03.9")], {}, "RX-DOSE-002", True),
    ("甲状腺片", 40, "mg", "tid", [("甲状腺功能减退症", "E03.9")], {}, "RX-DOSE-002", False),
    # review-4: inhaled beclometasone 2000 μg/d (widest label)
    ("丙酸倍氯米松吸入气雾剂", 1000, "μg", "qid", [("支气管哮喘", "J45.9")], {}, "RX-DOSE-002", True),
    ("丙酸倍氯米松吸入气雾剂", 250, "μg", "bid", [("支气管哮喘", "J45.9")], {}, "RX-DOSE-002", False),
    ("茚达特罗吸入粉雾剂", 150, "μg", "qd", COPD, {}, "RX-DOSE-001", False),
    ("茚达特罗吸入粉雾剂", 600, "μg", "qd", COPD, {}, "RX-DOSE-001", True),
]


@pytest.mark.regression
@pytest.mark.parametrize(
    ("drug", "dose", "unit", "freq", "dx", "labs", "rule", "fires"),
    DOSE_CASES,
    ids=[f"{c[0]}-{c[1]}{c[2]}-{c[3]}-{'fires' if c[7] else 'silent'}" for c in DOSE_CASES],
)
def test_dose_limits_of_new_full_entries(
    shipped_kb: Any,
    drug: str,
    dose: float,
    unit: str,
    freq: str,
    dx: list[tuple[str, str]],
    labs: dict[str, float],
    rule: str,
    fires: bool,
) -> None:
    case = make_case(
        item(drug, dose=dose, unit=unit, frequency=freq, days=28), age=60, diagnoses=dx, labs=labs
    )
    assert shipped_kb.names.resolve(drug) is not None, drug
    found = _ids(case, shipped_kb)
    if fires:
        assert rule in found, (drug, dose, found)
    else:
        assert not {"RX-DOSE-001", "RX-DOSE-002"} & found, (drug, dose, found)


# --------------------------------------------------------------------------- class rules reach the new drugs
# (items as (name, dose, unit, frequency, route), diagnoses, patient extras, rule, fires)
_VHCT = ("缬沙坦氢氯噻嗪片", 1, "片", "qd", "口服")
_AML = ("苯磺酸氨氯地平片", 5, "mg", "qd", "口服")
CLASS_CASES = [
    # ARB/HCTZ combination: ACEI+ARB, thiazide in gout, duplicate ARB through its ingredients
    ("vhct+benazepril", [_VHCT, ("盐酸贝那普利片", 10, "mg", "qd", "口服")], HTN, {}, "RX-DDI-001", True),
    ("vhct+amlodipine", [_VHCT, _AML], HTN, {}, "RX-DDI-001", False),
    ("vhct-gout", [_VHCT], [*HTN, ("痛风", "M10.9")], {}, "RX-CI-001", True),
    ("vhct-no-gout", [_VHCT], HTN, {}, "RX-CI-001", False),
    ("vhct+losartan", [_VHCT, ("氯沙坦钾片", 50, "mg", "qd", "口服")], HTN, {}, "RX-DUP-005", True),
    (
        "telmisartan-hctz+irbesartan",
        [("替米沙坦氢氯噻嗪片", 1, "片", "qd", "口服"), ("厄贝沙坦片", 150, "mg", "qd", "口服")],
        HTN,
        {},
        "RX-DUP-005",
        True,
    ),
    (
        "perindopril-indapamide+valsartan",
        [("培哚普利吲达帕胺片", 1, "片", "qd", "口服"), ("缬沙坦胶囊", 80, "mg", "qd", "口服")],
        HTN,
        {},
        "RX-DDI-001",
        True,
    ),
    # antidiabetics
    (
        "nateglinide+glimepiride",
        [("那格列奈片", 120, "mg", "tid", "口服"), ("格列美脲片", 2, "mg", "qd", "口服")],
        DM,
        {},
        "RX-DUP-010",
        True,
    ),
    (
        "nateglinide+metformin",
        [("那格列奈片", 120, "mg", "tid", "口服"), ("盐酸二甲双胍片", 0.5, "g", "tid", "口服")],
        DM,
        {},
        "RX-DUP-010",
        False,
    ),
    (
        "alogliptin+sitagliptin",
        [("阿格列汀片", 25, "mg", "qd", "口服"), ("磷酸西格列汀片", 100, "mg", "qd", "口服")],
        DM,
        {},
        "RX-DUP-011",
        True,
    ),
    (
        "vildagliptin-metformin+exenatide",
        [("维格列汀二甲双胍片", 1, "片", "bid", "口服"), ("艾塞那肽注射液", 5, "μg", "bid", "皮下注射")],
        DM,
        {},
        "RX-DUP-011",
        True,
    ),
    (
        "rosiglitazone-hf",
        [("马来酸罗格列酮片", 4, "mg", "qd", "口服")],
        [*DM, ("慢性心力衰竭", "I50.9")],
        {},
        "RX-CI-019",
        True,
    ),
    ("rosiglitazone-no-hf", [("马来酸罗格列酮片", 4, "mg", "qd", "口服")], DM, {}, "RX-CI-019", False),
    (
        "nph+glargine",
        [
            ("精蛋白生物合成人胰岛素注射液", 10, "U", "qn", "皮下注射"),
            ("甘精胰岛素注射液", 10, "U", "qd", "皮下注射"),
        ],
        DM,
        {},
        "RX-DUP-014",
        True,
    ),
    (
        "nph+aspart",
        [("诺和灵N", 10, "U", "qn", "皮下注射"), ("门冬胰岛素注射液", 6, "U", "tid", "皮下注射")],
        DM,
        {},
        "RX-DUP-014",
        False,
    ),
    # antithrombotics
    (
        "apixaban+warfarin",
        [("阿哌沙班片", 5, "mg", "bid", "口服"), ("华法林钠片", 3, "mg", "qd", "口服")],
        AF,
        {},
        "RX-DUP-018",
        True,
    ),
    ("apixaban-alone", [("阿哌沙班片", 5, "mg", "bid", "口服")], AF, {}, "RX-DUP-018", False),
    (
        "enoxaparin+rivaroxaban",
        [("依诺肝素钠注射液", 40, "mg", "qd", "皮下注射"), ("利伐沙班片", 20, "mg", "qd", "口服")],
        AF,
        {},
        "RX-DUP-018",
        True,
    ),
    # review-4: indobufen replaces aspirin in DAPT for aspirin-intolerant patients (冠心病双联抗血小板治疗中国
    # 专家共识2021), so indobufen + a P2Y12 inhibitor is the `dapt` exception; with aspirin it is a duplicate
    (
        "indobufen+clopidogrel",
        [("吲哚布芬片", 0.2, "g", "bid", "口服"), ("硫酸氢氯吡格雷片", 75, "mg", "qd", "口服")],
        [("冠心病", "I25.1")],
        {},
        "RX-DUP-017",
        False,
    ),
    (
        "indobufen+aspirin",
        [("吲哚布芬片", 0.2, "g", "bid", "口服"), ("阿司匹林肠溶片", 100, "mg", "qd", "口服")],
        [("冠心病", "I25.1")],
        {},
        "RX-DUP-017",
        True,
    ),
    # review-4: LMWH/fondaparinux overlapping warfarin initiation is label practice (no block); LMWH + DOAC is
    (
        "enoxaparin+warfarin",
        [("依诺肝素钠注射液", 60, "mg", "q12h", "皮下注射"), ("华法林钠片", 3, "mg", "qd", "口服")],
        [("深静脉血栓形成", "I80.2")],
        {},
        "RX-DUP-018",
        False,
    ),
    (
        "fondaparinux+warfarin",
        [("磺达肝癸钠注射液", 7.5, "mg", "qd", "皮下注射"), ("华法林钠片", 3, "mg", "qd", "口服")],
        [("深静脉血栓形成", "I80.2")],
        {},
        "RX-DUP-018",
        False,
    ),
    (
        "clopidogrel-aspirin+aspirin",
        [("氯吡格雷阿司匹林片", 1, "片", "qd", "口服"), ("阿司匹林肠溶片", 100, "mg", "qd", "口服")],
        [("冠心病", "I25.1")],
        {},
        "RX-DUP-001",
        True,
    ),
    # nicorandil carries a nitrate moiety: PDE5 inhibitors contraindicated (RX-DDI-051 names k_channel_opener);
    # review-4: k_channel_opener is under antianginal, not nitrate, so no 长效硝酸酯 duplicate with ISMN/NTG
    (
        "nicorandil+ismn",
        [("尼可地尔片", 5, "mg", "tid", "口服"), ("单硝酸异山梨酯缓释片", 40, "mg", "qd", "口服")],
        [("稳定型心绞痛", "I20.8")],
        {},
        "RX-DUP-019",
        False,
    ),
    (
        "ismn+isdn",
        [("单硝酸异山梨酯缓释片", 40, "mg", "qd", "口服"), ("硝酸异山梨酯片", 10, "mg", "tid", "口服")],
        [("稳定型心绞痛", "I20.8")],
        {},
        "RX-DUP-019",
        True,
    ),
    (
        "nicorandil+riociguat",
        [("尼可地尔片", 5, "mg", "tid", "口服"), ("利奥西呱片", 1, "mg", "tid", "口服")],
        [("稳定型心绞痛", "I20.8"), ("肺动脉高压", "I27.0")],
        {},
        "RX-DDI-051",
        True,
    ),
    # review-4: cilostazol in heart failure of any severity (label contraindication, RX-CI-161)
    (
        "cilostazol-hf",
        [("西洛他唑片", 50, "mg", "bid", "口服")],
        [("下肢动脉硬化闭塞症", "I70.2"), ("慢性心力衰竭", "I50.9")],
        {},
        "RX-CI-161",
        True,
    ),
    (
        "cilostazol-no-hf",
        [("西洛他唑片", 50, "mg", "bid", "口服")],
        [("下肢动脉硬化闭塞症", "I70.2")],
        {},
        "RX-CI-161",
        False,
    ),
    # review-4: zoledronic acid CrCl < 35 contraindicated (RX-CI-162), alendronate not recommended (RX-CI-163)
    (
        "zoledronic-crcl30",
        [("唑来膦酸注射液", 5, "mg", "st", "静脉滴注")],
        [("骨质疏松", "M81.9")],
        {"labs": {"crcl": 30}},
        "RX-CI-162",
        True,
    ),
    (
        "zoledronic-crcl50",
        [("唑来膦酸注射液", 5, "mg", "st", "静脉滴注")],
        [("骨质疏松", "M81.9")],
        {"labs": {"crcl": 50}},
        "RX-CI-162",
        False,
    ),
    (
        "alendronate-crcl30",
        [("阿仑膦酸钠片", 70, "mg", "qw", "口服")],
        [("骨质疏松", "M81.9")],
        {"labs": {"crcl": 30}},
        "RX-CI-163",
        True,
    ),
    # review-4: exenatide/lixisenatide CrCl < 30 not recommended (RX-CI-164); apixaban/edoxaban CrCl < 15 (RX-CI-165)
    (
        "exenatide-crcl25",
        [("艾塞那肽注射液", 5, "μg", "bid", "皮下注射")],
        DM,
        {"labs": {"crcl": 25}},
        "RX-CI-164",
        True,
    ),
    (
        "exenatide-crcl45",
        [("艾塞那肽注射液", 5, "μg", "bid", "皮下注射")],
        DM,
        {"labs": {"crcl": 45}},
        "RX-CI-164",
        False,
    ),
    (
        "edoxaban-crcl12",
        [("甲苯磺酸艾多沙班片", 30, "mg", "qd", "口服")],
        AF,
        {"labs": {"crcl": 12}},
        "RX-CI-165",
        True,
    ),
    (
        "edoxaban-crcl20",
        [("甲苯磺酸艾多沙班片", 30, "mg", "qd", "口服")],
        AF,
        {"labs": {"crcl": 20}},
        "RX-CI-165",
        False,
    ),
    # review-4: 坎地氢噻 is a class entry (strength unverified) — its ingredients still reach the class rules
    (
        "candesartan-hctz+losartan",
        [("坎地氢噻片", 1, "片", "qd", "口服"), ("氯沙坦钾片", 50, "mg", "qd", "口服")],
        HTN,
        {},
        "RX-DUP-005",
        True,
    ),
    (
        "candesartan-hctz-gout",
        [("坎地氢噻片", 1, "片", "qd", "口服")],
        [*HTN, ("痛风", "M10.9")],
        {},
        "RX-CI-001",
        True,
    ),
    (
        "nicorandil+sildenafil",
        [("尼可地尔片", 5, "mg", "tid", "口服"), ("枸橼酸西地那非片", 50, "mg", "qd", "口服")],
        [("稳定型心绞痛", "I20.8"), ("勃起功能障碍", "N48.4")],
        {},
        "RX-DDI-051",
        True,
    ),
    (
        "nicorandil-alone",
        [("尼可地尔片", 5, "mg", "tid", "口服")],
        [("稳定型心绞痛", "I20.8")],
        {},
        "RX-DDI-051",
        False,
    ),
    # finerenone is an MRA: RAAS + MRA hyperkalaemia rule (blocks at K > 5.0)
    (
        "finerenone+valsartan-k55",
        [("非奈利酮片", 10, "mg", "qd", "口服"), ("缬沙坦胶囊", 80, "mg", "qd", "口服")],
        [("糖尿病肾病", "E11.2")],
        {"labs": {"potassium": 5.5, "egfr": 50}},
        "RX-DDI-004",
        True,
    ),
    # QT: probucol is QT-prolonging, so domperidone with it is blocked
    (
        "probucol+domperidone",
        [("普罗布考片", 0.5, "g", "bid", "口服"), ("多潘立酮片", 10, "mg", "tid", "口服")],
        [("高脂血症", "E78.5"), ("功能性消化不良", "K30")],
        {},
        "RX-DDI-056",
        True,
    ),
    (
        "probucol-alone",
        [("普罗布考片", 0.5, "g", "bid", "口服")],
        [("高脂血症", "E78.5")],
        {},
        "RX-DDI-056",
        False,
    ),
    # airway: triple inhaler components are seen by the LAMA and LABA groups
    (
        "budesonide-glyco-formoterol+tiotropium",
        [("布地格福吸入气雾剂", 2, "揿", "bid", "吸入"), ("噻托溴铵粉吸入剂", 18, "μg", "qd", "吸入")],
        COPD,
        {},
        "RX-DUP-025",
        True,
    ),
    # a triple inhaler with an ICS/LABA repeats the LABA (block) and the ICS: the duplicate exception
    # ics_laba_plus_lama excuses an item only in its role within the group (the triple is a LABA in the
    # LABA group, not "the LAMA"), while ICS/LABA + a LAMA stays allowed
    (
        "fluticasone-umec-vilanterol+budesonide-formoterol",
        [
            ("氟替美维吸入粉雾剂", 1, "吸", "qd", "吸入"),
            ("布地奈德福莫特罗吸入粉雾剂", 2, "吸", "bid", "吸入"),
        ],
        COPD,
        {},
        "RX-DUP-026",
        True,
    ),
    (
        "budesonide-glyco-formoterol+salmeterol-fluticasone",
        [("布地格福吸入气雾剂", 2, "揿", "bid", "吸入"), ("沙美特罗替卡松粉吸入剂", 1, "吸", "bid", "吸入")],
        COPD,
        {},
        "RX-DUP-026",
        True,
    ),
    (
        "glyco-formoterol+salmeterol",
        [("格隆溴铵福莫特罗吸入气雾剂", 2, "揿", "bid", "吸入"), ("沙美特罗气雾剂", 50, "μg", "bid", "吸入")],
        COPD,
        {},
        "RX-DUP-026",
        True,
    ),
    (
        "tiotropium-olodaterol-alone",
        [("噻托溴铵奥达特罗吸入喷雾剂", 2, "揿", "qd", "吸入")],
        COPD,
        {},
        "RX-DUP-026",
        False,
    ),
    # BPH: tamsulosin is an α1-blocker (duplicate with doxazosin; PDE5 interaction)
    (
        "tamsulosin+doxazosin",
        [("盐酸坦索罗辛缓释胶囊", 0.2, "mg", "qd", "口服"), ("甲磺酸多沙唑嗪控释片", 4, "mg", "qd", "口服")],
        [*BPH, *HTN],
        {},
        "RX-DUP-009",
        True,
    ),
    (
        "tamsulosin+finasteride",
        [("盐酸坦索罗辛缓释胶囊", 0.2, "mg", "qd", "口服"), ("非那雄胺片", 5, "mg", "qd", "口服")],
        BPH,
        {},
        "RX-DUP-009",
        False,
    ),
    (
        "tamsulosin+sildenafil",
        [("盐酸坦索罗辛缓释胶囊", 0.2, "mg", "qd", "口服"), ("枸橼酸西地那非片", 50, "mg", "qd", "口服")],
        [*BPH, ("勃起功能障碍", "N48.4")],
        {},
        "RX-DDI-052",
        True,
    ),
    # thyroid tablets are a thyroid hormone: contraindicated in acute MI
    (
        "thyroid-tablets-ami",
        [("甲状腺片", 40, "mg", "qd", "口服")],
        [("甲状腺功能减退症", "E03.9"), ("急性心肌梗死", "I21.9")],
        {},
        "RX-CI-031",
        True,
    ),
    (
        "thyroid-tablets-hypothyroid",
        [("甲状腺片", 40, "mg", "qd", "口服")],
        [("甲状腺功能减退症", "E03.9")],
        {},
        "RX-CI-031",
        False,
    ),
    # population notes of the new entries (RX-POP-001 pregnancy)
    (
        "allisartan-pregnant",
        [("阿利沙坦酯片", 240, "mg", "qd", "口服")],
        HTN,
        {"pregnant": True, "sex": "F"},
        "RX-POP-001",
        True,
    ),
    (
        "labetalol-pregnant",
        [("盐酸拉贝洛尔片", 100, "mg", "bid", "口服")],
        [("妊娠期高血压", "O13")],
        {"pregnant": True, "sex": "F"},
        "RX-POP-001",
        False,
    ),
]


@pytest.mark.regression
@pytest.mark.parametrize(
    ("label", "items", "dx", "extra", "rule", "fires"),
    CLASS_CASES,
    ids=[
        f"{(c.values if hasattr(c, 'values') else c)[0]}-"
        f"{'fires' if (c.values if hasattr(c, 'values') else c)[5] else 'silent'}"
        for c in CLASS_CASES
    ],
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
    lines = [item(n, dose=d, unit=u, frequency=f, route=r, days=28) for n, d, u, f, r in items]
    for n, *_ in items:
        assert shipped_kb.names.resolve(n) is not None, n
    extra = dict(extra)
    sex = extra.pop("sex", "M")
    case = make_case(*lines, age=62, sex=sex, diagnoses=dx, **extra)
    found = _ids(case, shipped_kb)
    assert (rule in found) is fires, (label, rule, sorted(found))


# --------------------------------------------------------------------------- names resolve to their own entry
@pytest.mark.regression
@pytest.mark.parametrize(
    ("written", "drug_id"),
    [
        ("缬沙坦氢氯噻嗪片", "valsartan_hctz"),  # was losartan_hctz by one edit
        ("那格列奈片", "nateglinide"),  # was repaglinide
        ("米格列奈钙片", "mitiglinide"),
        ("尼莫地平片", "nimodipine"),  # was nitrendipine
        ("盐酸尼卡地平片", "nicardipine"),
        ("盐酸阿罗洛尔片", "arotinolol"),  # was atenolol
        ("马来酸罗格列酮片", "rosiglitazone"),  # was pioglitazone
        ("非诺贝酸片", "fenofibric_acid"),  # was fenofibrate
        ("诺和灵N", "isophane_human_insulin"),
        ("精蛋白人胰岛素混合(50R)", "human_insulin_50r"),
        ("坦洛新(坦索罗辛)", "tamsulosin"),
        ("甲苯磺酸艾多沙班片", "edoxaban"),
        ("布地格福吸入气雾剂", "budesonide_glycopyrronium_formoterol"),
        ("倍择瑞", "budesonide_glycopyrronium_formoterol"),
        ("全再乐", "fluticasone_furoate_umeclidinium_vilanterol"),
        ("甲钴胺片", "mecobalamin"),  # review-4: added (kb-review §3.2)
        ("弥可保", "mecobalamin"),
        ("腺苷钴胺片", "cobamamide"),  # one character from 甲钴胺: stays its own drug
        ("茚达格莫吸入粉雾剂", "indacaterol_glycopyrronium_mometasone"),
    ],
)
def test_new_names_resolve_to_their_own_entry(shipped_kb: Any, written: str, drug_id: str) -> None:
    m = shipped_kb.names.resolve(written)
    assert m is not None and m.drug_id == drug_id, (written, m)


# --------------------------------------------------------------------------- review-4: other limits
@pytest.mark.regression
@pytest.mark.parametrize(
    ("label", "line", "dx", "labs", "rule", "fires"),
    [
        # apixaban 10 mg bid only for the first 7 days of VTE treatment (maintenance 10 mg/d)
        (
            "apixaban-10bid-28d",
            ("阿哌沙班片", 10, "mg", "bid", 28, None),
            [("深静脉血栓形成", "I80.2")],
            {"crcl": 80},
            "RX-DOSE-007",
            True,
        ),
        (
            "apixaban-10bid-7d",
            ("阿哌沙班片", 10, "mg", "bid", 7, None),
            [("深静脉血栓形成", "I80.2")],
            {"crcl": 80},
            "RX-DOSE-007",
            False,
        ),
        # propafenone: 国产说明书 治疗量分4–6次服
        ("propafenone-q4h", ("盐酸普罗帕酮片", 150, "mg", "q4h", 28, None), AF, {}, "RX-FREQ-001", False),
        ("propafenone-8x", ("盐酸普罗帕酮片", 100, "mg", "一日8次", 28, None), AF, {}, "RX-FREQ-001", True),
        # metformin in an extended-release combination is checked against metformin XR (2000 mg once daily),
        # not the immediate-release 1000 mg single maximum: 2 × 5/1000 mg qd is the label maximum
        (
            "dapa-met-xr-2tab",
            ("达格列净二甲双胍缓释片", 2, "片", "qd", 28, "5 mg/1000 mg"),
            DM,
            {"egfr": 80},
            "RX-DOSE-001",
            False,
        ),
        (
            "dapa-met-xr-3tab",
            ("达格列净二甲双胍缓释片", 3, "片", "qd", 28, "5 mg/1000 mg"),
            DM,
            {"egfr": 80},
            "RX-DOSE-001",
            True,
        ),
        # mecobalamin: label 0.5 mg tid, no maximum written → frequency only
        ("mecobalamin-tid", ("甲钴胺片", 0.5, "mg", "tid", 28, None), DM, {}, "RX-FREQ-001", False),
        ("mecobalamin-qid", ("甲钴胺片", 0.5, "mg", "qid", 28, None), DM, {}, "RX-FREQ-001", True),
        (
            "saxa-met-xr-2tab",
            ("沙格列汀二甲双胍缓释片", 2, "片", "qd", 28, "2.5 mg/1000 mg"),
            DM,
            {"egfr": 80},
            "RX-DOSE-001",
            False,
        ),
    ],
)
def test_review4_limits(
    shipped_kb: Any,
    label: str,
    line: tuple[Any, ...],
    dx: list[tuple[str, str]],
    labs: dict[str, float],
    rule: str,
    fires: bool,
) -> None:
    name, dose, unit, freq, days, strength = line
    extra = {"strength": strength} if strength else {}
    case = make_case(
        item(name, dose=dose, unit=unit, frequency=freq, days=days, **extra), age=60, diagnoses=dx, labs=labs
    )
    found = _ids(case, shipped_kb)
    assert (rule in found) is fires, (label, sorted(found))


@pytest.mark.regression
@pytest.mark.parametrize(
    ("name", "dose", "unit", "age", "fires"),
    [
        ("甲状腺片", 40, "mg", 72, True),  # Beers 2023: desiccated thyroid, avoid
        ("甲状腺片", 40, "mg", 50, False),
        (
            "双嘧达莫片",
            25,
            "mg",
            72,
            True,
        ),  # Beers 2023: oral short-acting dipyridamole, avoid (tablet form only)
        ("双嘧达莫片", 25, "mg", 50, False),
    ],
)
def test_review4_beers_avoid(
    shipped_kb: Any, name: str, dose: float, unit: str, age: int, fires: bool
) -> None:
    case = make_case(
        item(name, dose=dose, unit=unit, frequency="tid" if "双嘧" in name else "qd", days=28),
        age=age,
        diagnoses=[("冠心病", "I25.1"), ("甲状腺功能减退症", "E03.9")],
    )
    hits = [f for f in audit(case, shipped_kb).findings if f.rule_id == "RX-POP-004"]
    assert bool(hits) is fires and all(f.severity.value == "warn" for f in hits), (name, age, hits)
