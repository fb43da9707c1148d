"""Every code check (rules/checks.yaml) fires in one case and stays silent in another."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit
from toolkit.records import AuditCase, Severity

ANTIBIOTIC_DX = [("急性支气管炎", "J20.9")]
DM_DX = [("2型糖尿病", "E11.9")]
AF_DX = [("心房颤动", "I48.0")]
CAD_DX = [("冠心病", "I25.1")]

# rule id → (case where it fires, expected severity, case where it must not fire)
CASES: dict[str, tuple[AuditCase, Severity, AuditCase]] = {
    "RX-FMT-001": (
        make_case(
            *[item("苯磺酸氨氯地平片")] * 3,
            *[item("盐酸二甲双胍片", strength="0.5 g")] * 3,
            diagnoses=[("原发性高血压", "I10"), ("2型糖尿病", "E11.9")],
        ),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片")),
    ),
    "RX-FMT-002": (
        make_case(item("苯磺酸氨氯地平片", frequency="遵医嘱")),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片", frequency="qd", note="早餐后")),
    ),
    "RX-FMT-003": (
        make_case(item("苯磺酸氨氯地平片", route=None, days=None)),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片")),
    ),
    "RX-FMT-004": (
        make_case(item("苯磺酸氨氯地平片"), diagnoses=[]),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片")),
    ),
    "RX-FMT-005": (
        make_case(item("苯磺酸氨氯地平片"), age=None),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片"), age=40),
    ),
    "RX-FMT-006": (
        make_case(item("二甲双呱", strength="0.5 g"), diagnoses=DM_DX),
        Severity.INFO,
        make_case(item("盐酸二甲双胍片", strength="0.5 g"), diagnoses=DM_DX),
    ),
    "RX-FMT-007": (make_case(item("某某不存在的药片")), Severity.INFO, make_case(item("苯磺酸氨氯地平片"))),
    "RX-REC-005": (  # a current medication (在用药品) the knowledge base cannot identify was not compared
        make_case(item("苯磺酸氨氯地平片"), current_medications=["某某不存在的药片"]),
        Severity.INFO,
        make_case(item("苯磺酸氨氯地平片"), current_medications=["苯磺酸氨氯地平片"]),
    ),
    "RX-FMT-008": (
        make_case(item("代文", dose=1, unit="粒")),
        Severity.INFO,
        make_case(item("代文", dose=1, unit="粒", strength="80 mg")),
    ),
    "RX-FMT-009": (
        make_case(
            item("阿莫西林胶囊", strength="0.25 g", frequency="tid", skin_test="阴性"),
            age=6,
            diagnoses=ANTIBIOTIC_DX,
        ),
        Severity.INFO,
        make_case(
            item("阿莫西林胶囊", strength="0.25 g", frequency="tid", skin_test="阴性"),
            age=6,
            weight_kg=20,
            diagnoses=ANTIBIOTIC_DX,
        ),
    ),
    "RX-DOSE-001": (
        make_case(item("苯磺酸氨氯地平片", dose=15, unit="mg")),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片", dose=10, unit="mg")),
    ),
    "RX-DOSE-002": (
        make_case(
            item("代文", dose=160, unit="mg", strength="160 mg", frequency="qd"),
            item("倍博特", dose=1, unit="片"),
        ),
        Severity.WARN,
        make_case(item("代文", dose=80, unit="mg", strength="80 mg")),
    ),
    "RX-DOSE-003": (
        make_case(
            item("盐酸二甲双胍片", strength="0.5 g", dose=0.5, unit="mg", frequency="bid"), diagnoses=DM_DX
        ),
        Severity.BLOCK,
        make_case(
            item("盐酸二甲双胍片", strength="0.5 g", dose=0.5, unit="g", frequency="bid"), diagnoses=DM_DX
        ),
    ),
    "RX-DOSE-004": (
        make_case(item("盐酸二甲双胍片", dose=100, unit="mg", frequency="bid"), diagnoses=DM_DX),
        Severity.INFO,
        make_case(item("盐酸二甲双胍片", dose=500, unit="mg", frequency="bid"), diagnoses=DM_DX),
    ),
    "RX-DOSE-005": (
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", dose=1, unit="粒", frequency="qid", skin_test="阴性"),
            age=8,
            weight_kg=20,
            diagnoses=ANTIBIOTIC_DX,
        ),
        Severity.WARN,
        make_case(
            item("阿莫西林胶囊", strength="0.25 g", dose=1, unit="粒", frequency="tid", skin_test="阴性"),
            age=8,
            weight_kg=20,
            diagnoses=ANTIBIOTIC_DX,
        ),
    ),
    "RX-FREQ-001": (
        make_case(item("苯磺酸氨氯地平片", frequency="tid")),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片", frequency="每日一次")),
    ),
    "RX-FREQ-002": (
        make_case(item("苯磺酸氨氯地平片", frequency="一会儿吃")),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片", frequency="一日1次")),
    ),
    "RX-FREQ-003": (
        make_case(item("替格瑞洛片", frequency="qd"), diagnoses=[("冠心病", "I25.1")]),
        Severity.WARN,
        make_case(item("替格瑞洛片", frequency="bid"), diagnoses=[("冠心病", "I25.1")]),
    ),
    "RX-ROUTE-001": (
        make_case(item("甘精胰岛素", dose=10, unit="U", route="口服", frequency="qn"), diagnoses=DM_DX),
        Severity.BLOCK,
        make_case(item("甘精胰岛素", dose=10, unit="U", route="皮下注射", frequency="qn"), diagnoses=DM_DX),
    ),
    "RX-ROUTE-002": (
        make_case(item("苯磺酸氨氯地平片", route="随便")),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片", route="po")),
    ),
    "RX-DAYS-001": (
        make_case(item("奥美拉唑肠溶胶囊", days=14), diagnoses=[("急性胃炎", "K29.1")]),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片", days=28)),
    ),
    "RX-DAYS-002": (
        make_case(
            item("布洛芬缓释胶囊", frequency="bid", days=5),
            diagnoses=[("腰痛", "M54.5")],
            rx={"kind": "急诊"},
        ),
        Severity.WARN,
        make_case(
            item("布洛芬缓释胶囊", frequency="bid", days=3),
            diagnoses=[("腰痛", "M54.5")],
            rx={"kind": "急诊"},
        ),
    ),
    "RX-DAYS-003": (
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", days=14, skin_test="阴性"),
            diagnoses=ANTIBIOTIC_DX,
        ),
        Severity.WARN,
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", days=7, skin_test="阴性"),
            diagnoses=ANTIBIOTIC_DX,
        ),
    ),
    "RX-LONG-001": (
        make_case(item("苯磺酸氨氯地平片", days=90)),
        Severity.BLOCK,
        make_case(item("苯磺酸氨氯地平片", days=84)),
    ),
    "RX-LONG-002": (
        make_case(item("苯磺酸氨氯地平片", days=56)),
        Severity.INFO,
        make_case(item("苯磺酸氨氯地平片", days=28)),
    ),
    "RX-LONG-003": (
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", days=30, skin_test="阴性"),
            diagnoses=ANTIBIOTIC_DX,
        ),
        Severity.BLOCK,
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", days=5, skin_test="阴性"),
            diagnoses=ANTIBIOTIC_DX,
        ),
    ),
    "RX-DUP-001": (
        make_case(item("倍博特"), item("苯磺酸氨氯地平片")),
        Severity.WARN,
        make_case(item("倍博特"), item("贝那普利片")),
    ),
    "RX-ALG-001": (
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"),
            allergies=["青霉素"],
            diagnoses=ANTIBIOTIC_DX,
        ),
        Severity.BLOCK,
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"),
            allergies=["磺胺"],
            diagnoses=ANTIBIOTIC_DX,
        ),
    ),
    # an allergen the engine cannot place (PCN) is said, not passed in silence; a food allergen is not a drug
    "RX-ALG-002": (
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"),
            allergies=["PCN"],
            diagnoses=ANTIBIOTIC_DX,
        ),
        Severity.WARN,
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"),
            allergies=["海鲜", "青霉素过敏"],
            diagnoses=ANTIBIOTIC_DX,
        ),
    ),
    "RX-POP-001": (
        make_case(item("代文", strength="80 mg"), sex="F", pregnant=True),
        Severity.BLOCK,
        make_case(item("代文", strength="80 mg"), sex="F", pregnant=False),
    ),
    "RX-POP-002": (
        make_case(item("代文", strength="80 mg"), sex="F", lactating=True),
        Severity.WARN,
        make_case(item("苯磺酸氨氯地平片"), sex="F", lactating=True),
    ),
    "RX-POP-003": (
        make_case(
            item("盐酸二甲双胍片", strength="0.5 g", frequency="bid"), age=8, weight_kg=30, diagnoses=DM_DX
        ),
        Severity.BLOCK,
        make_case(
            item("盐酸二甲双胍片", strength="0.5 g", frequency="bid"), age=12, weight_kg=40, diagnoses=DM_DX
        ),
    ),
    "RX-POP-004": (
        make_case(item("格列本脲片"), age=75, diagnoses=DM_DX),
        Severity.WARN,
        make_case(item("格列本脲片"), age=60, diagnoses=DM_DX),
    ),
    "RX-SKIN-001": (
        make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid"), diagnoses=ANTIBIOTIC_DX),
        Severity.WARN,
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"), diagnoses=ANTIBIOTIC_DX
        ),
    ),
    "RX-SKIN-002": (
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阳性(+)"),
            diagnoses=ANTIBIOTIC_DX,
        ),
        Severity.BLOCK,
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"), diagnoses=ANTIBIOTIC_DX
        ),
    ),
    "RX-REC-001": (
        make_case(item("苯磺酸氨氯地平片"), record={"主诉": "头晕3天", "诊断": "原发性高血压"}),
        Severity.WARN,
        make_case(
            item("苯磺酸氨氯地平片"),
            record={
                "主诉": "头晕3天",
                "现病史": "血压控制欠佳",
                "既往史": "无",
                "过敏史": "否认",
                "体格检查": "BP 150/95mmHg",
                "诊断": "原发性高血压",
                "处理": "氨氯地平5 mg qd",
            },
        ),
    ),
    "RX-REC-002": (
        make_case(
            item("苯磺酸氨氯地平片"),
            record={"主诉": "患者三天前无明显诱因出现头晕伴视物模糊，休息后无缓解，今日来诊"},
        ),
        Severity.INFO,
        make_case(item("苯磺酸氨氯地平片"), record={"主诉": "头晕3天"}),
    ),
    "RX-REC-003": (
        make_case(item("苯磺酸氨氯地平片"), record={"诊断": "冠心病"}),
        Severity.INFO,
        make_case(item("苯磺酸氨氯地平片"), record={"诊断": "原发性高血压 2级"}),
    ),
    "RX-REC-004": (
        make_case(item("苯磺酸氨氯地平片", days=56), record={"处理": "继续服药"}),
        Severity.INFO,
        make_case(
            item("苯磺酸氨氯地平片", days=56), record={"处理": "病情稳定，开具长期处方8周，已评估并签字确认"}
        ),
    ),
}

# checks whose data (renal steps by measure, maintenance doses, tool thresholds) the fixture KB does not
# carry: run on the shipped knowledge base
SHIPPED_CASES: dict[str, tuple[AuditCase, Severity, AuditCase]] = {
    # a local product of a drug the formulary has only for systemic use (review §0 #5)
    "RX-FMT-010": (
        make_case(item("左氧氟沙星滴眼液", dose=1, unit="滴", frequency="qid", route="滴眼"), age=8),
        Severity.INFO,
        make_case(item("左氧氟沙星片", strength="0.5 g", dose=0.5, unit="g", frequency="qd", days=7)),
    ),
    # 第二类精神药品 > 7 days: a chronic diagnosis is no reason (review §2.5 probe estazolam-28d); a written one is
    "RX-DAYS-004": (
        make_case(
            item("艾司唑仑片", strength="1 mg", dose=1, unit="mg", frequency="qn", days=28),
            age=70,
            diagnoses=[("原发性高血压", "I10"), ("失眠", "G47.0")],
        ),
        Severity.WARN,
        make_case(
            item("艾司唑仑片", strength="1 mg", dose=1, unit="mg", frequency="qn", days=14),
            age=70,
            diagnoses=[("原发性高血压", "I10"), ("失眠", "G47.0")],
            rx={"reason": "慢性失眠，专科建议续用2周后复诊减量"},
        ),
    ),
    # 精二 on a long prescription: RX-LONG-004 (点评 1-13, 特殊管理药品), not the antibiotic RX-LONG-003 (review-2)
    "RX-LONG-004": (
        make_case(
            item("艾司唑仑片", strength="1 mg", dose=1, unit="mg", frequency="qn", days=28),
            age=70,
            diagnoses=[("失眠", "G47.0")],
            rx={"kind": "长期"},
        ),
        Severity.BLOCK,
        make_case(
            item("艾司唑仑片", strength="1 mg", dose=1, unit="mg", frequency="qn", days=7),
            age=70,
            diagnoses=[("失眠", "G47.0")],
        ),
    ),
    # only eGFR, 86 years, a drug whose renal steps are in CrCl → info; with Scr and weight CG is computed
    "RX-DOSE-006": (
        make_case(
            item("达比加群酯胶囊", strength="110 mg", frequency="bid", days=28),
            age=86,
            sex="F",
            diagnoses=AF_DX,
            labs={"egfr": 52},
        ),
        Severity.INFO,
        make_case(
            item("达比加群酯胶囊", strength="110 mg", frequency="bid", days=28),
            age=86,
            sex="F",
            weight_kg=45,
            diagnoses=AF_DX,
            labs={"egfr": 52, "scr": 60},
        ),
    ),
    # clopidogrel 300 mg every day for 28 days is not a loading dose (review §1.2); 300 mg on day 1 is
    "RX-DOSE-007": (
        make_case(item("硫酸氢氯吡格雷片", strength="75 mg", dose=300, unit="mg", days=28), diagnoses=CAD_DX),
        Severity.BLOCK,
        make_case(item("硫酸氢氯吡格雷片", strength="75 mg", dose=300, unit="mg", days=1), diagnoses=CAD_DX),
    ),
    # a tool-set plausibility threshold: prandial insulin > 40 U per dose (not a label maximum)
    "RX-DOSE-008": (
        make_case(
            item(
                "门冬胰岛素注射液",
                strength="300 U/3 ml",
                dose=44,
                unit="U",
                frequency="tid",
                route="皮下注射",
                days=28,
            ),
            weight_kg=90,
            diagnoses=DM_DX,
        ),
        Severity.WARN,
        make_case(
            item(
                "门冬胰岛素注射液",
                strength="300 U/3 ml",
                dose=12,
                unit="U",
                frequency="tid",
                route="皮下注射",
                days=28,
            ),
            weight_kg=90,
            diagnoses=DM_DX,
        ),
    ),
}


def _fired(case: AuditCase, kb: Any, rule_id: str):
    return [f for f in audit(case, kb).findings if f.rule_id == rule_id]


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_check_fires(rule_id: str, kb: Any) -> None:
    fires, severity, _ = CASES[rule_id]
    found = _fired(fires, kb, rule_id)
    assert found, f"{rule_id} did not fire; got {[f.rule_id for f in audit(fires, kb).findings]}"
    assert found[0].severity is severity
    assert "{" not in found[0].message and "—" not in found[0].message, found[0].message
    assert found[0].references


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_check_silent(rule_id: str, kb: Any) -> None:
    _, _, silent = CASES[rule_id]
    assert not _fired(silent, kb, rule_id)


@pytest.mark.parametrize("rule_id", sorted(SHIPPED_CASES))
def test_shipped_check_fires(rule_id: str, shipped_kb: Any) -> None:
    fires, severity, _ = SHIPPED_CASES[rule_id]
    found = _fired(fires, shipped_kb, rule_id)
    assert found, f"{rule_id} did not fire; got {[f.rule_id for f in audit(fires, shipped_kb).findings]}"
    assert found[0].severity is severity
    assert "{" not in found[0].message and "—" not in found[0].message, found[0].message
    assert found[0].references


@pytest.mark.parametrize("rule_id", sorted(SHIPPED_CASES))
def test_shipped_check_silent(rule_id: str, shipped_kb: Any) -> None:
    _, _, silent = SHIPPED_CASES[rule_id]
    assert not _fired(silent, shipped_kb, rule_id)


# checks that need an institution's file: RX-FMT-011 (a 药品编码 missing from the drug dictionary) fires and
# stays silent in tests/unit/test_formulary_map.py::test_map_apply_and_audit_by_code
INSTITUTION_CASES = {"RX-FMT-011"}


def test_every_check_has_cases(kb: Any) -> None:
    assert set(CASES) | set(SHIPPED_CASES) | INSTITUTION_CASES == set(kb.checks)


def test_allergy_message_reads_as_a_history_and_long_prescription_is_one_notice(kb: Any) -> None:
    """Issue 19: 患者有青霉素过敏史 (not 患者对“青霉素过敏”过敏); one 长期处方 notice for the prescription."""
    case = make_case(
        item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"),
        allergies=["青霉素过敏"],
        diagnoses=ANTIBIOTIC_DX,
    )
    alg = [f for f in audit(case, kb).findings if f.rule_id == "RX-ALG-001"]
    assert [f.message.split("，")[0] for f in alg] == ["患者有青霉素过敏史"]
    long = make_case(
        item("苯磺酸氨氯地平片", days=56),
        item("盐酸二甲双胍片", strength="0.5 g", days=84),
        item("阿托伐他汀钙片", strength="20 mg", dose=20, frequency="qn", days=56),
        diagnoses=[("原发性高血压", "I10"), ("2型糖尿病", "E11.9"), ("高脂血症", "E78.5")],
    )
    found = [
        f
        for f in audit(long, kb).findings
        if f.category.value == "long_prescription" or f.rule_id == "RX-REC-004"
    ]
    assert [f.rule_id for f in found] == ["RX-LONG-002"] and len(found[0].items) == 3
    assert "最长84天" in found[0].message
    # with a record that lacks the evaluation, the record notice is the one notice
    recorded = long.model_copy(update={"record": {"处理": "继续服药"}})
    found = [
        f.rule_id
        for f in audit(recorded, kb).findings
        if f.category.value == "long_prescription" or f.rule_id == "RX-REC-004"
    ]
    assert found == ["RX-REC-004"]
