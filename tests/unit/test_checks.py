"""Every code check (rules/checks.yaml) fires in one case and stays silent in another."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit
from toolkit.records import AuditCase, Severity

ANTIBIOTIC_DX = [("急性支气管炎", "J20.9")]
DM_DX = [("2型糖尿病", "E11.9")]

# rule id → (case where it fires, expected severity, case where it must not fire)
CASES: dict[str, tuple[AuditCase, Severity, AuditCase]] = {
    "RX-FMT-001": (make_case(*[item("苯磺酸氨氯地平片")] * 3, *[item("盐酸二甲双胍片", strength="0.5 g")] * 3,
                             diagnoses=[("原发性高血压", "I10"), ("2型糖尿病", "E11.9")]), Severity.WARN,
                   make_case(item("苯磺酸氨氯地平片"))),
    "RX-FMT-002": (make_case(item("苯磺酸氨氯地平片", frequency="遵医嘱")), Severity.WARN,
                   make_case(item("苯磺酸氨氯地平片", frequency="qd", note="早餐后"))),
    "RX-FMT-003": (make_case(item("苯磺酸氨氯地平片", route=None, days=None)), Severity.WARN,
                   make_case(item("苯磺酸氨氯地平片"))),
    "RX-FMT-004": (make_case(item("苯磺酸氨氯地平片"), diagnoses=[]), Severity.WARN,
                   make_case(item("苯磺酸氨氯地平片"))),
    "RX-FMT-005": (make_case(item("苯磺酸氨氯地平片"), age=None), Severity.WARN,
                   make_case(item("苯磺酸氨氯地平片"), age=40)),
    "RX-FMT-006": (make_case(item("二甲双呱", strength="0.5 g"), diagnoses=DM_DX), Severity.INFO,
                   make_case(item("盐酸二甲双胍片", strength="0.5 g"), diagnoses=DM_DX)),
    "RX-FMT-007": (make_case(item("某某不存在的药片")), Severity.INFO, make_case(item("苯磺酸氨氯地平片"))),
    "RX-FMT-008": (make_case(item("代文", dose=1, unit="粒")), Severity.INFO,
                   make_case(item("代文", dose=1, unit="粒", strength="80 mg"))),
    "RX-FMT-009": (make_case(item("阿莫西林胶囊", strength="0.25 g", frequency="tid", skin_test="阴性"), age=6,
                             diagnoses=ANTIBIOTIC_DX), Severity.INFO,
                   make_case(item("阿莫西林胶囊", strength="0.25 g", frequency="tid", skin_test="阴性"), age=6,
                             weight_kg=20, diagnoses=ANTIBIOTIC_DX)),
    "RX-DOSE-001": (make_case(item("苯磺酸氨氯地平片", dose=15, unit="mg")), Severity.WARN,
                    make_case(item("苯磺酸氨氯地平片", dose=10, unit="mg"))),
    "RX-DOSE-002": (make_case(item("代文", dose=160, unit="mg", strength="160 mg", frequency="qd"),
                              item("倍博特", dose=1, unit="片")), Severity.WARN,
                    make_case(item("代文", dose=80, unit="mg", strength="80 mg"))),
    "RX-DOSE-003": (make_case(item("盐酸二甲双胍片", strength="0.5 g", dose=0.5, unit="mg", frequency="bid"),
                              diagnoses=DM_DX), Severity.BLOCK,
                    make_case(item("盐酸二甲双胍片", strength="0.5 g", dose=0.5, unit="g", frequency="bid"),
                              diagnoses=DM_DX)),
    "RX-DOSE-004": (make_case(item("盐酸二甲双胍片", dose=100, unit="mg", frequency="bid"), diagnoses=DM_DX),
                    Severity.INFO,
                    make_case(item("盐酸二甲双胍片", dose=500, unit="mg", frequency="bid"), diagnoses=DM_DX)),
    "RX-DOSE-005": (make_case(item("阿莫西林胶囊", strength="0.5 g", dose=1, unit="粒", frequency="qid",
                                   skin_test="阴性"), age=8, weight_kg=20, diagnoses=ANTIBIOTIC_DX),
                    Severity.WARN,
                    make_case(item("阿莫西林胶囊", strength="0.25 g", dose=1, unit="粒", frequency="tid",
                                   skin_test="阴性"), age=8, weight_kg=20, diagnoses=ANTIBIOTIC_DX)),
    "RX-FREQ-001": (make_case(item("苯磺酸氨氯地平片", frequency="tid")), Severity.WARN,
                    make_case(item("苯磺酸氨氯地平片", frequency="每日一次"))),
    "RX-FREQ-002": (make_case(item("苯磺酸氨氯地平片", frequency="一会儿吃")), Severity.WARN,
                    make_case(item("苯磺酸氨氯地平片", frequency="一日1次"))),
    "RX-FREQ-003": (make_case(item("替格瑞洛片", frequency="qd"), diagnoses=[("冠心病", "I25.1")]), Severity.WARN,
                    make_case(item("替格瑞洛片", frequency="bid"), diagnoses=[("冠心病", "I25.1")])),
    "RX-ROUTE-001": (make_case(item("甘精胰岛素", dose=10, unit="U", route="口服", frequency="qn"),
                               diagnoses=DM_DX), Severity.BLOCK,
                     make_case(item("甘精胰岛素", dose=10, unit="U", route="皮下注射", frequency="qn"),
                               diagnoses=DM_DX)),
    "RX-ROUTE-002": (make_case(item("苯磺酸氨氯地平片", route="随便")), Severity.WARN,
                     make_case(item("苯磺酸氨氯地平片", route="po"))),
    "RX-DAYS-001": (make_case(item("奥美拉唑肠溶胶囊", days=14), diagnoses=[("慢性胃炎", "K29.5")]),
                    Severity.WARN,
                    make_case(item("苯磺酸氨氯地平片", days=28))),
    "RX-DAYS-002": (make_case(item("布洛芬缓释胶囊", frequency="bid", days=5), diagnoses=[("腰痛", "M54.5")],
                              rx={"kind": "急诊"}), Severity.WARN,
                    make_case(item("布洛芬缓释胶囊", frequency="bid", days=3), diagnoses=[("腰痛", "M54.5")],
                              rx={"kind": "急诊"})),
    "RX-DAYS-003": (make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid", days=14,
                                   skin_test="阴性"), diagnoses=ANTIBIOTIC_DX), Severity.WARN,
                    make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid", days=7,
                                   skin_test="阴性"), diagnoses=ANTIBIOTIC_DX)),
    "RX-LONG-001": (make_case(item("苯磺酸氨氯地平片", days=90)), Severity.BLOCK,
                    make_case(item("苯磺酸氨氯地平片", days=84))),
    "RX-LONG-002": (make_case(item("苯磺酸氨氯地平片", days=56)), Severity.INFO,
                    make_case(item("苯磺酸氨氯地平片", days=28))),
    "RX-LONG-003": (make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid", days=30,
                                   skin_test="阴性"), diagnoses=ANTIBIOTIC_DX), Severity.BLOCK,
                    make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid", days=5,
                                   skin_test="阴性"), diagnoses=ANTIBIOTIC_DX)),
    "RX-DUP-001": (make_case(item("倍博特"), item("苯磺酸氨氯地平片")), Severity.WARN,
                   make_case(item("倍博特"), item("贝那普利片"))),
    "RX-ALG-001": (make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"),
                             allergies=["青霉素"], diagnoses=ANTIBIOTIC_DX), Severity.BLOCK,
                   make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"),
                             allergies=["磺胺"], diagnoses=ANTIBIOTIC_DX)),
    "RX-POP-001": (make_case(item("代文", strength="80 mg"), sex="F", pregnant=True), Severity.BLOCK,
                   make_case(item("代文", strength="80 mg"), sex="F", pregnant=False)),
    "RX-POP-002": (make_case(item("代文", strength="80 mg"), sex="F", lactating=True), Severity.WARN,
                   make_case(item("苯磺酸氨氯地平片"), sex="F", lactating=True)),
    "RX-POP-003": (make_case(item("盐酸二甲双胍片", strength="0.5 g", frequency="bid"), age=8, weight_kg=30,
                             diagnoses=DM_DX), Severity.BLOCK,
                   make_case(item("盐酸二甲双胍片", strength="0.5 g", frequency="bid"), age=12, weight_kg=40,
                             diagnoses=DM_DX)),
    "RX-POP-004": (make_case(item("格列本脲片"), age=75, diagnoses=DM_DX), Severity.WARN,
                   make_case(item("格列本脲片"), age=60, diagnoses=DM_DX)),
    "RX-SKIN-001": (make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid"), diagnoses=ANTIBIOTIC_DX),
                    Severity.WARN,
                    make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"),
                              diagnoses=ANTIBIOTIC_DX)),
    "RX-SKIN-002": (make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阳性(+)"),
                              diagnoses=ANTIBIOTIC_DX), Severity.BLOCK,
                    make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid", skin_test="阴性"),
                              diagnoses=ANTIBIOTIC_DX)),
    "RX-REC-001": (make_case(item("苯磺酸氨氯地平片"), record={"主诉": "头晕3天", "诊断": "原发性高血压"}),
                   Severity.WARN,
                   make_case(item("苯磺酸氨氯地平片"), record={
                       "主诉": "头晕3天", "现病史": "血压控制欠佳", "既往史": "无", "过敏史": "否认",
                       "体格检查": "BP 150/95mmHg", "诊断": "原发性高血压", "处理": "氨氯地平5 mg qd"})),
    "RX-REC-002": (make_case(item("苯磺酸氨氯地平片"), record={"主诉": "患者三天前无明显诱因出现头晕伴视物模糊，"
                                                                    "休息后无缓解，今日来诊"}), Severity.INFO,
                   make_case(item("苯磺酸氨氯地平片"), record={"主诉": "头晕3天"})),
    "RX-REC-003": (make_case(item("苯磺酸氨氯地平片"), record={"诊断": "冠心病"}), Severity.INFO,
                   make_case(item("苯磺酸氨氯地平片"), record={"诊断": "原发性高血压 2级"})),
    "RX-REC-004": (make_case(item("苯磺酸氨氯地平片", days=56), record={"处理": "继续服药"}), Severity.INFO,
                   make_case(item("苯磺酸氨氯地平片", days=56), record={"处理": "病情稳定，开具长期处方8周，已评估并签字确认"})),
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


def test_every_check_has_cases(kb: Any) -> None:
    assert set(CASES) == set(kb.checks)
