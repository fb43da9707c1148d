"""Rule conditions that look at other drugs (``prescription.items`` in ``when`` / ``escalate``, indications'
``with_drugs``) also see the drugs the patient already takes (在用药品, ``patient.current_medications``): an
"absent" condition is met by a home drug (no false alarm), a "present" one too (the safer severity). A current
medication that could not be identified meets nothing, and current medications alone never make a finding."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit
from toolkit.audit.context import CURRENT_MARK, AuditContext
from toolkit.audit.resolve import resolve_current, resolve_item
from toolkit.knowledge.conditions import Condition, FactView, evaluate
from toolkit.records import AuditCase, Severity

CHD = [("冠心病", "I25.1")]
CLOPIDOGREL = item("硫酸氢氯吡格雷片", dose=75, unit="mg", strength="75 mg")
ASPIRIN = item("阿司匹林肠溶片", dose=100, unit="mg", strength="100 mg")
AMLODIPINE = item("苯磺酸氨氯地平片", dose=5, unit="mg", strength="5 mg")


def _hits(case: AuditCase, kb: Any, rule: str) -> list[Any]:
    return [f for f in audit(case, kb).findings if f.rule_id == rule]


def _context(case: AuditCase, kb: Any) -> AuditContext:
    items = [resolve_item(i, it, kb) for i, it in enumerate(case.prescription.items)]
    current = [resolve_current(i, n, kb) for i, n in enumerate(case.patient.current_medications)]
    return AuditContext(case=case, kb=kb, items=items, current=current)


# --------------------------------------------------------------------------- the facts conditions read


def _leaf(op: str, value: Any) -> Condition:
    return Condition.model_validate({"fact": "prescription.items", "op": op, "value": value})


def test_facts_see_current_medications_for_includes_excludes_and_counts(shipped_kb: Any) -> None:
    case = make_case(CLOPIDOGREL, diagnoses=CHD, current_medications=["阿司匹林肠溶片", "泮托拉唑钠肠溶片"])
    ctx = _context(case, shipped_kb)
    assert [c.drug.id for c in ctx.condition_current] == ["aspirin", "pantoprazole"]
    assert evaluate(_leaf("includes", ["aspirin_class"]), ctx.facts)
    assert not evaluate(_leaf("includes", ["aspirin_class"]), ctx.line_facts)
    assert not evaluate(_leaf("excludes", ["ppi"]), ctx.facts)
    assert evaluate(_leaf("excludes", ["ppi"]), ctx.line_facts)
    assert evaluate(_leaf("count_ge", {"of": ["antiplatelet"], "n": 2}), ctx.facts)
    assert not evaluate(_leaf("count_ge", {"of": ["antiplatelet"], "n": 2}), ctx.line_facts)
    assert ctx.facts.matching(["antiplatelet"]) == ["氯吡格雷", "阿司匹林" + CURRENT_MARK]


def test_without_current_medications_the_facts_are_the_lines(shipped_kb: Any) -> None:
    ctx = _context(make_case(CLOPIDOGREL, ASPIRIN, diagnoses=CHD), shipped_kb)
    assert ctx.facts is ctx.line_facts and ctx.facts.current == ()


def test_a_home_drug_with_the_ingredient_makes_a_daily_amount_unknown_for_le_only(shipped_kb: Any) -> None:
    """``daily_dose_le`` lowers a severity only for a total known to be within the limit: a home product with
    the ingredient (dose not known) makes the total unknown. ``daily_dose_gt`` reads the lines, whose amount
    alone is a lower bound of the day's total."""
    para = item("对乙酰氨基酚片", dose=0.5, unit="g", strength="0.5 g", frequency="tid")
    ctx = _context(make_case(para, current_medications=["氨酚曲马多片"]), shipped_kb)
    assert ctx.facts.daily_dose("paracetamol") == pytest.approx(1500)
    assert evaluate(_leaf("daily_dose_le", {"drug": "paracetamol", "le": 2000}), ctx.line_facts)
    assert not evaluate(_leaf("daily_dose_le", {"drug": "paracetamol", "le": 2000}), ctx.facts)
    assert evaluate(_leaf("daily_dose_gt", {"drug": "paracetamol", "gt": 1000}), ctx.facts)


def test_unidentified_local_and_class_word_current_medications_meet_nothing(shipped_kb: Any) -> None:
    case = make_case(
        CLOPIDOGREL,
        ASPIRIN,
        current_medications=["某某拉唑胶囊", "布地奈德鼻喷雾剂", "胰岛素", "苯磺酸氨氯地平片"],
    )
    ctx = _context(case, shipped_kb)
    # the unknown name, the nasal spray (a local product) and the class word are not seen; amlodipine is
    assert [c.drug.id for c in ctx.condition_current] == ["amlodipine"]
    assert evaluate(_leaf("excludes", ["ppi", "ics", "insulin"]), ctx.facts)


def test_a_home_drug_that_a_line_continues_is_not_counted_twice(shipped_kb: Any) -> None:
    ctx = _context(make_case(CLOPIDOGREL, current_medications=["波立维"]), shipped_kb)
    assert ctx.condition_current == []
    assert not evaluate(_leaf("count_ge", {"of": ["antiplatelet"], "n": 2}), ctx.facts)


def test_facts_view_default_has_no_current_medications() -> None:
    case = make_case(AMLODIPINE)
    assert FactView(case).current == () and not FactView(case).current_has("paracetamol")


# --------------------------------------------------------------------------- contraindications


def test_home_ppi_silences_dapt_without_ppi(shipped_kb: Any) -> None:
    base = dict(age=68, diagnoses=CHD)
    assert _hits(make_case(CLOPIDOGREL, ASPIRIN, **base), shipped_kb, "RX-CI-122")
    case = make_case(CLOPIDOGREL, ASPIRIN, current_medications=["泮托拉唑钠肠溶片 40mg qd"], **base)
    assert not _hits(case, shipped_kb, "RX-CI-122")


def test_an_unidentified_home_ppi_does_not_silence_it(shipped_kb: Any) -> None:
    case = make_case(CLOPIDOGREL, ASPIRIN, age=68, diagnoses=CHD, current_medications=["某某拉唑胶囊"])
    (f,) = _hits(case, shipped_kb, "RX-CI-122")
    assert "current_medication" not in f.evidence and "在用药品" not in f.message


def test_home_aspirin_makes_dapt_and_the_finding_says_so(shipped_kb: Any) -> None:
    case = make_case(CLOPIDOGREL, age=68, diagnoses=CHD, current_medications=["阿司匹林肠溶片 100mg qd"])
    (f,) = _hits(case, shipped_kb, "RX-CI-122")
    assert f.severity is Severity.INFO and f.items == (0,)
    assert f.evidence["current_medication"] == "阿司匹林肠溶片 100mg qd"
    assert f.evidence["prescription.items"] == ["阿司匹林" + CURRENT_MARK]
    assert f.message.endswith("（依据在用药品：阿司匹林）")


def test_current_medications_alone_never_make_a_finding(shipped_kb: Any) -> None:
    """Home clopidogrel + home aspirin (no PPI), three home CNS drugs at 80: the prescription (amlodipine)
    is not what makes them, so no condition-based finding."""
    case = make_case(
        AMLODIPINE,
        age=80,
        diagnoses=[*CHD, ("失眠", "G47.0")],
        current_medications=[
            "硫酸氢氯吡格雷片",
            "阿司匹林肠溶片",
            "艾司唑仑片",
            "盐酸舍曲林片",
            "加巴喷丁胶囊",
        ],
    )
    rules = {f.rule_id for f in audit(case, shipped_kb).findings}
    assert not rules & {"RX-CI-122", "RX-CI-123"}


def test_three_cns_drugs_with_two_at_home_names_them_all(shipped_kb: Any) -> None:
    gabapentin = item("加巴喷丁胶囊", dose=0.1, unit="g", strength="0.1 g", frequency="tid")
    case = make_case(gabapentin, age=72, sex="F", current_medications=["盐酸舍曲林片", "艾司唑仑片"])
    (f,) = _hits(case, shipped_kb, "RX-CI-123")
    assert f.items == (0,)
    assert "加巴喷丁、舍曲林（在用药品）、艾司唑仑（在用药品）" in f.message
    assert "依据在用药品" not in f.message  # both are marked in the message already
    assert f.evidence["current_medication"] == "盐酸舍曲林片、艾司唑仑片"
    two = make_case(gabapentin, age=72, sex="F", current_medications=["盐酸舍曲林片"])
    assert not _hits(two, shipped_kb, "RX-CI-123")


def test_home_ics_answers_laba_in_asthma_but_a_nasal_steroid_does_not(shipped_kb: Any) -> None:
    formoterol = item(
        "富马酸福莫特罗吸入粉雾剂", dose=9, unit="μg", strength="4.5 μg", frequency="bid", route="吸入"
    )
    asthma = [("支气管哮喘", "J45.9")]
    ok = make_case(formoterol, diagnoses=asthma, current_medications=["布地奈德吸入气雾剂"])
    assert not _hits(ok, shipped_kb, "RX-CI-120")
    nasal = make_case(formoterol, diagnoses=asthma, current_medications=["布地奈德鼻喷雾剂"])
    (f,) = _hits(nasal, shipped_kb, "RX-CI-120")
    assert f.severity is Severity.BLOCK


def test_a_finding_the_lines_decide_does_not_name_a_current_medication(shipped_kb: Any) -> None:
    case = make_case(CLOPIDOGREL, ASPIRIN, age=68, diagnoses=CHD, current_medications=["苯磺酸氨氯地平片"])
    (f,) = _hits(case, shipped_kb, "RX-CI-122")
    assert "current_medication" not in f.evidence and "在用药品" not in f.message


# --------------------------------------------------------------------------- escalations


def test_home_anticoagulant_escalates_antiplatelet_after_ich(shipped_kb: Any) -> None:
    ich = [("脑出血后遗症", "I69.1"), ("心房颤动", "I48")]
    (alone,) = _hits(make_case(ASPIRIN, age=70, diagnoses=ich), shipped_kb, "RX-CI-098")
    assert alone.severity is Severity.INFO
    case = make_case(ASPIRIN, age=70, diagnoses=ich, current_medications=["华法林钠片 2.5mg qd"])
    (f,) = _hits(case, shipped_kb, "RX-CI-098")
    assert f.severity is Severity.WARN
    assert f.evidence["current_medication"] == "华法林钠片 2.5mg qd"
    assert "（依据在用药品：华法林）" in f.message


def test_home_paracetamol_product_keeps_the_liver_rule_at_warn(shipped_kb: Any) -> None:
    para = item("对乙酰氨基酚片", dose=0.5, unit="g", strength="0.5 g", frequency="tid")
    liver = [("酒精性肝病", "K70.3")]
    (alone,) = _hits(make_case(para, diagnoses=liver), shipped_kb, "RX-CI-116")
    assert alone.severity is Severity.INFO  # 1.5 g/d known: within 2 g
    (f,) = _hits(
        make_case(para, diagnoses=liver, current_medications=["氨酚曲马多片"]), shipped_kb, "RX-CI-116"
    )
    assert f.severity is Severity.WARN and f.evidence["current_medication"] == "氨酚曲马多片"


def test_escalation_through_the_pair_partner_names_it_once(shipped_kb: Any) -> None:
    """Simvastatin prescribed, gemfibrozil at home: the pair's own partner escalates it to block; the message
    marks it once and the evidence names it once."""
    simva = item("辛伐他汀片", dose=20, unit="mg", strength="20 mg", frequency="qn")
    (f,) = _hits(
        make_case(simva, diagnoses=CHD, current_medications=["吉非罗齐胶囊"]), shipped_kb, "RX-DDI-015"
    )
    assert f.severity is Severity.BLOCK
    assert f.evidence["current_medication"] == "吉非罗齐胶囊"
    assert f.message.count("吉非罗齐（在用药品）") == 1 and "依据在用药品" not in f.message


def test_escalation_through_a_third_home_drug(shipped_kb: Any) -> None:
    herb = item("复方丹参滴丸", dose=270, unit="mg", strength="27 mg", frequency="tid")
    rivaroxaban = item("利伐沙班片", dose=20, unit="mg", strength="20 mg")
    dx = [("心房颤动", "I48"), ("冠心病", "I25.1")]
    (alone,) = _hits(make_case(rivaroxaban, herb, diagnoses=dx), shipped_kb, "RX-DDI-202")
    assert alone.severity is Severity.INFO
    case = make_case(rivaroxaban, herb, diagnoses=dx, current_medications=["阿司匹林肠溶片"])
    (f,) = _hits(case, shipped_kb, "RX-DDI-202")
    assert f.severity is Severity.WARN and sorted(f.items) == [0, 1]
    assert f.evidence["current_medication"] == "阿司匹林肠溶片" and "（依据在用药品：阿司匹林）" in f.message


def test_a_home_drug_can_lower_an_escalated_rule_as_a_line_would(shipped_kb: Any) -> None:
    """Alprazolam + erythromycin (moderate inhibitor) is info by the rule's own escalation, whether the
    erythromycin is prescribed or taken at home (it was block when at home)."""
    alprazolam = item("阿普唑仑片", dose=0.4, unit="mg", strength="0.4 mg", frequency="qn")
    anx = [("焦虑状态", "F41.9")]
    ery = item("红霉素肠溶片", dose=0.25, unit="g", strength="0.25 g", frequency="tid")
    (lines,) = _hits(make_case(alprazolam, ery, diagnoses=anx), shipped_kb, "RX-DDI-328")
    case = make_case(alprazolam, diagnoses=anx, current_medications=["红霉素肠溶片"])
    (home,) = _hits(case, shipped_kb, "RX-DDI-328")
    assert lines.severity is home.severity is Severity.INFO


# --------------------------------------------------------------------------- indications


def test_home_antiplatelet_is_gastroprotection_context_for_a_ppi(shipped_kb: Any) -> None:
    ome = item("奥美拉唑肠溶胶囊", dose=20, unit="mg", strength="20 mg")
    assert _hits(
        make_case(ome, diagnoses=CHD, current_medications=["苯磺酸氨氯地平片"]), shipped_kb, "RX-IND-027"
    )
    assert not _hits(
        make_case(ome, diagnoses=CHD, current_medications=["阿司匹林肠溶片"]), shipped_kb, "RX-IND-027"
    )
    assert _hits(
        make_case(ome, diagnoses=CHD, current_medications=["某某抗血小板片"]), shipped_kb, "RX-IND-027"
    )


def test_potassium_chloride_is_not_indicated_by_a_home_diuretic(shipped_kb: Any) -> None:
    """RX-IND-017 ``with_current: false``: a home diuretic does not stand in for 低钾血症 (V5P-11)."""
    kcl = item("氯化钾缓释片", dose=1, unit="g", strength="0.5 g", frequency="bid")
    furosemide = item("呋塞米片", dose=20, unit="mg", strength="20 mg")
    hf = [("慢性心力衰竭", "I50.9")]
    assert not _hits(make_case(kcl, furosemide, diagnoses=hf), shipped_kb, "RX-IND-017")
    assert _hits(make_case(kcl, diagnoses=hf, current_medications=["呋塞米片"]), shipped_kb, "RX-IND-017")
    rule = next(r for r in shipped_kb.indications if r.id == "RX-IND-017")
    assert rule.with_current is False
    assert all(r.with_current for r in shipped_kb.indications if r.id != "RX-IND-017")


# --------------------------------------------------------------------------- review of 2026-12-08


@pytest.mark.parametrize(
    ("home", "silenced"),
    [
        ("泮托拉唑钠肠溶片", True),  # the product named: gastroprotection
        ("奥美拉唑肠溶胶囊 20mg qd", True),
        ("潘妥洛克", True),  # a brand names the product
        ("泮托拉唑", False),  # a bare name: which product and whether taken is not said
        ("泮托拉唑（偶尔胃痛时吃）", False),  # as needed: no gastroprotection
        ("奥美拉唑肠溶胶囊 prn", False),
        ("雷贝拉唑钠肠溶片 偶服", False),
        ("泮托拉唑钠肠溶片 停", False),  # a bare 停 after the name: stopped (was split off as an entry)
        ("泮托拉唑钠肠溶片，停了", False),
    ],
)
def test_only_a_regular_named_home_ppi_silences_dapt_without_ppi(
    shipped_kb: Any, home: str, silenced: bool
) -> None:
    case = make_case(CLOPIDOGREL, ASPIRIN, diagnoses=CHD, age=78, current_medications=[home])
    assert (not _hits(case, shipped_kb, "RX-CI-122")) is silenced


@pytest.mark.parametrize(
    ("home", "silenced"),
    [
        ("丙酸氟替卡松吸入气雾剂", True),
        ("辅舒酮", True),
        ("普米克令舒", True),
        ("氟替卡松", False),
        ("布地奈德", False),
    ],
)
def test_a_bare_steroid_name_does_not_silence_laba_without_ics(
    shipped_kb: Any, home: str, silenced: bool
) -> None:
    """氟替卡松 / 布地奈德 on a list may be the nasal spray: only a named inhaled product answers RX-CI-120."""
    laba = item("沙美特罗", dose=50, unit="μg", frequency="bid", route="吸入")
    case = make_case(laba, diagnoses=[("支气管哮喘", "J45.9")], age=40, current_medications=[home])
    assert (not _hits(case, shipped_kb, "RX-CI-120")) is silenced


def test_an_as_needed_home_drug_still_escalates(shipped_kb: Any) -> None:
    """Where a home drug raises a finding (includes), an as-needed or bare entry counts as before."""
    case = make_case(CLOPIDOGREL, diagnoses=CHD, age=78, current_medications=["阿司匹林 必要时"])
    assert _hits(case, shipped_kb, "RX-CI-122")
