"""The engine's handling of data rules (interactions, contraindications, allergy, duplicates,
indications) on the frozen fixture knowledge base."""

from __future__ import annotations

from typing import Any

from tests.conftest import FIXTURES, item, make_case
from toolkit.audit import audit
from toolkit.records import Category, Severity


def ids(case: Any, kb: Any) -> dict[str, Any]:
    return {f.rule_id: f for f in audit(case, kb).findings}


def test_interaction_fires_either_order_and_escalates(kb: Any) -> None:
    a, b = item("贝那普利片"), item("代文", strength="80 mg")
    for items in ((a, b), (b, a)):
        f = ids(make_case(*items), kb)["RX-DDI-001"]
        assert f.severity is Severity.WARN and f.category is Category.INTERACTION
        assert f.drugs == ("贝那普利", "缬沙坦") and f.message.startswith("贝那普利与缬沙坦")
        assert f.evidence["management"] == "不联用"
    ckd = make_case(a, b, diagnoses=[("原发性高血压", "I10"), ("慢性肾脏病3期", "N18.3")])
    f = ids(ckd, kb)["RX-DDI-001"]
    assert f.severity is Severity.BLOCK
    assert f.evidence["diagnosis"] == ["原发性高血压 (I10)", "慢性肾脏病3期 (N18.3)"]


def test_interaction_silent_without_partner(kb: Any) -> None:
    assert "RX-DDI-001" not in ids(make_case(item("贝那普利片")), kb)


def test_interaction_reaches_ingredient_of_combination(kb: Any) -> None:
    # 倍博特 contains valsartan (an ARB): ACEI + 倍博特 is a dual RAAS blockade too
    assert "RX-DDI-001" in ids(make_case(item("贝那普利片"), item("倍博特")), kb)


def test_lab_contraindication_uses_threshold_and_renders_value(kb: Any) -> None:
    dm = [("2型糖尿病", "E11.9")]
    f = ids(
        make_case(item("盐酸二甲双胍片", strength="0.5 g", frequency="bid"), diagnoses=dm, labs={"egfr": 25}),
        kb,
    )["RX-CI-001"]
    assert f.severity is Severity.BLOCK and f.category is Category.SPECIAL_POPULATION
    assert "eGFR 25" in f.message and f.evidence["labs.egfr"] == 25
    assert "RX-CI-001" not in ids(
        make_case(item("盐酸二甲双胍片", strength="0.5 g"), diagnoses=dm, labs={"egfr": 30}), kb
    )
    # an unknown lab never fires a threshold rule
    assert "RX-CI-001" not in ids(make_case(item("盐酸二甲双胍片", strength="0.5 g"), diagnoses=dm), kb)


def test_cross_reactivity_warns_and_direct_allergy_blocks(kb: Any) -> None:
    dx = [("急性支气管炎", "J20.9")]
    got = ids(
        make_case(item("头孢呋辛酯片", frequency="bid", days=5), allergies=["青霉素类"], diagnoses=dx), kb
    )
    assert got["RX-ALG-X-001"].severity is Severity.WARN
    assert got["RX-ALG-X-001"].category is Category.ALLERGY
    assert "RX-ALG-001" not in got
    got = ids(
        make_case(item("头孢呋辛酯片", frequency="bid", days=5), allergies=["头孢呋辛"], diagnoses=dx), kb
    )
    assert got["RX-ALG-001"].severity is Severity.BLOCK


def test_duplicate_class_fires_and_exceptions_hold(kb: Any) -> None:
    got = ids(make_case(item("施慧达"), item("络活喜")), kb)
    assert got["RX-DUP-002"].drugs == ("左旋氨氯地平", "氨氯地平")
    cad = [("冠状动脉粥样硬化性心脏病", "I25.1")]
    assert "RX-DUP-003" not in ids(make_case(item("拜阿司匹灵"), item("氯吡格雷片"), diagnoses=cad), kb)
    # two P2Y12 inhibitors are not DAPT
    assert "RX-DUP-003" in ids(
        make_case(item("氯吡格雷片"), item("替格瑞洛片", frequency="bid"), diagnoses=cad), kb
    )
    # three antiplatelets do not fit the two-member exception
    assert "RX-DUP-003" in ids(
        make_case(item("拜阿司匹灵"), item("氯吡格雷片"), item("替格瑞洛片"), diagnoses=cad), kb
    )
    dm = [("2型糖尿病", "E11.9")]
    insulin = {"unit": "U", "route": "皮下注射", "dose": 8}
    assert "RX-DUP-004" not in ids(
        make_case(item("甘精胰岛素", **insulin), item("门冬胰岛素", **insulin), diagnoses=dm), kb
    )
    # the same insulin twice is a same-ingredient duplicate, reported once as such
    got = ids(make_case(item("门冬胰岛素", **insulin), item("门冬胰岛素注射液", **insulin), diagnoses=dm), kb)
    assert "RX-DUP-001" in got and "RX-DUP-004" not in got


def test_same_ingredient_is_not_reported_again_as_same_class(kb: Any) -> None:
    got = ids(make_case(item("倍博特"), item("苯磺酸氨氯地平片")), kb)
    assert "RX-DUP-001" in got and "RX-DUP-002" not in got


def test_same_ingredient_blocks_when_sum_exceeds_max(kb: Any) -> None:
    got = ids(make_case(item("倍博特"), item("苯磺酸氨氯地平片", dose=10, unit="mg")), kb)
    assert got["RX-DUP-001"].severity is Severity.BLOCK  # 5 + 10 mg amlodipine > 10 mg/d
    assert got["RX-DUP-001"].evidence["daily"] == 15


def test_indication_by_icd_range_or_name(kb: Any) -> None:
    met = item("盐酸二甲双胍片", strength="0.5 g", frequency="bid")
    assert "RX-IND-001" in ids(make_case(met, diagnoses=[("原发性高血压", "I10")]), kb)
    assert "RX-IND-001" not in ids(make_case(met, diagnoses=[("2型糖尿病", "E11.9")]), kb)
    assert "RX-IND-001" not in ids(make_case(met, diagnoses=[("2型糖尿病伴肾病", None)]), kb)
    # no diagnosis at all is a format finding, not an indication one
    got = ids(make_case(met, diagnoses=[]), kb)
    assert "RX-FMT-004" in got and "RX-IND-001" not in got


def test_status_ok_only_info(kb: Any) -> None:
    report = audit(make_case(item("苯磺酸氨氯地平片", days=56)), kb)
    assert report.status == "ok" and [f.rule_id for f in report.findings] == ["RX-LONG-002"]
    report = audit(make_case(item("苯磺酸氨氯地平片", frequency="tid")), kb)
    assert report.status == "flagged"


def test_findings_sorted_block_first_and_carry_dianping(kb: Any) -> None:
    report = audit(make_case(item("苯磺酸氨氯地平片", frequency="tid", days=90)), kb)
    ranks = [f.severity.rank for f in report.findings]
    assert ranks == sorted(ranks, reverse=True)
    f = next(f for f in report.findings if f.rule_id == "RX-FREQ-001")
    assert f.dianping is not None and f.dianping.cls.value == "用药不适宜处方" and f.dianping.item == "2-5"
    data = report.to_json_dict()
    assert set(data) >= {"id", "status", "findings", "error"}
    assert set(data["findings"][0]) >= {
        "rule_id",
        "category",
        "severity",
        "drugs",
        "message",
        "evidence",
        "references",
    }
    assert data["findings"][0]["dianping"]["class"]
    assert report.provenance and report.provenance.kb_version == kb.version


def test_form_named_or_branded_sets_frequency_limit(kb: Any) -> None:
    bid = {"dose": 30, "unit": "mg", "frequency": "bid"}
    assert "RX-FREQ-001" in ids(make_case(item("硝苯地平控释片", **bid)), kb)
    assert "RX-FREQ-001" in ids(make_case(item("拜新同", **bid)), kb)  # the brand names the GITS form
    assert "RX-FREQ-001" not in ids(
        make_case(item("硝苯地平缓释片", dose=20, unit="mg", frequency="bid")), kb
    )
    # an unnamed form falls back to the drug's limit
    assert "RX-FREQ-001" not in ids(make_case(item("硝苯地平", dose=20, unit="mg", frequency="bid")), kb)


def test_renal_dose_limit_tightens_the_maximum(kb: Any) -> None:
    dm = [("2型糖尿病", "E11.9")]
    line = item("西格列汀片", dose=100, unit="mg")
    assert "RX-DOSE-002" not in ids(make_case(line, diagnoses=dm, labs={"egfr": 60}), kb)
    # a dose not reduced for the kidneys is a warn (review 2026-12 Appendix A), even at 4× the renal step,
    # unless it is also ≥ 2× the unadjusted maximum
    f = ids(make_case(line, diagnoses=dm, labs={"egfr": 25}), kb)["RX-DOSE-002"]
    assert f.severity is Severity.WARN and f.evidence["limit"] == 25 and "eGFR 25" in f.message
    f = ids(make_case(line, diagnoses=dm, labs={"crcl": 40}), kb)["RX-DOSE-002"]  # CrCl when no eGFR
    assert f.severity is Severity.WARN and f.evidence["limit"] == 50
    assert "renal_note" in f.evidence  # the label's measure (eGFR) was missing: the fallback is stated
    f = ids(make_case(item("西格列汀片", dose=200, unit="mg"), diagnoses=dm, labs={"egfr": 25}), kb)[
        "RX-DOSE-002"
    ]
    assert f.severity is Severity.BLOCK  # 200 mg is also 2× the adult 100 mg


def test_prn_with_interval_is_checked_at_its_most(kb: Any) -> None:
    dx = [("急性支气管炎", "J20.9")]
    f = ids(
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", dose=2, unit="粒", frequency="q4h prn", skin_test="阴性"),
            diagnoses=dx,
        ),
        kb,
    )
    assert "RX-FREQ-002" not in f and f["RX-DOSE-002"].evidence["daily"] == 6000  # 1 g × 6


def test_stated_reason_and_standard_course_lengths(kb: Any) -> None:
    line = item("阿莫西林胶囊", strength="0.5 g", frequency="tid", days=14, skin_test="阴性")
    bronchitis = [("急性支气管炎", "J20.9")]
    assert ids(make_case(line, diagnoses=bronchitis), kb)["RX-DAYS-003"].severity is Severity.WARN
    noted = ids(make_case(line, diagnoses=bronchitis, rx={"reason": "重症肺炎出院后序贯治疗"}), kb)
    assert noted["RX-DAYS-003"].severity is Severity.INFO
    hp = [("慢性胃炎", "K29.5"), ("幽门螺杆菌感染", "B96.81")]
    assert "RX-DAYS-003" not in ids(
        make_case(line, item("克拉霉素片", frequency="bid", days=14), diagnoses=hp), kb
    )
    assert "RX-DAYS-003" in ids(make_case({**line, "days": 21}, diagnoses=hp), kb)


def test_no_skin_test_finding_when_the_drug_is_blocked_for_allergy(kb: Any) -> None:
    got = ids(
        make_case(
            item("阿莫西林胶囊", strength="0.5 g", frequency="tid"),
            allergies=["青霉素"],
            diagnoses=[("急性支气管炎", "J20.9")],
        ),
        kb,
    )
    assert "RX-ALG-001" in got and "RX-SKIN-001" not in got


def test_indication_satisfied_by_companion_drug(kb: Any, tmp_path: Any) -> None:
    """A PPI with an antiplatelet is gastroprotection: indicated without a GI diagnosis."""
    import shutil

    import yaml

    from toolkit.knowledge import load_knowledge

    root = tmp_path / "kb"
    shutil.copytree(FIXTURES / "kb", root)
    rules = yaml.safe_load((root / "rules.yaml").read_text(encoding="utf-8"))
    rules["indications"].append(
        {
            "id": "RX-IND-003",
            "severity": "warn",
            "target": {"classes": ["ppi"]},
            "icd10": ["K20-K31"],
            "with_drugs": {"classes": ["antiplatelet", "nsaid"]},
            "message": "{drug}无适应证",
            "references": ["t"],
        }
    )
    (root / "rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    custom = load_knowledge(root)
    cad = [("冠心病", "I25.1")]
    assert "RX-IND-003" in ids(make_case(item("奥美拉唑肠溶胶囊"), diagnoses=cad), custom)
    assert "RX-IND-003" not in ids(
        make_case(item("奥美拉唑肠溶胶囊"), item("拜阿司匹灵"), diagnoses=cad), custom
    )


# --------------------------------------------------------------- kb-review-2026-12: conditions on the other items


def _all(case: Any, kb: Any, rule_id: str) -> list[Any]:
    return [f for f in audit(case, kb).findings if f.rule_id == rule_id]


def test_name_contains_unless_is_read_per_diagnosis(shipped_kb: Any) -> None:
    """脑出血后遗症 is history (no RX-CI-014 block); active 脑出血 still blocks even when another
    diagnosis carries an exclusion word."""
    aspirin = item("阿司匹林肠溶片", strength="100 mg", dose=100, unit="mg", days=28)
    sequelae = make_case(aspirin, diagnoses=[("冠心病", "I25.1"), ("脑出血后遗症", None)])
    assert "RX-CI-014" not in ids(sequelae, shipped_kb)
    # prior ICH: an antiplatelet alone is a note (RESTART), an anticoagulant on the prescription a warn (review-2)
    assert ids(sequelae, shipped_kb)["RX-CI-098"].severity is Severity.INFO
    warfarin = item("华法林钠片", strength="2.5 mg", dose=2.5, unit="mg", days=28)
    with_oac = make_case(warfarin, diagnoses=[("心房颤动", "I48.9"), ("脑出血后遗症", None)])
    assert ids(with_oac, shipped_kb)["RX-CI-098"].severity is Severity.WARN
    active = make_case(aspirin, diagnoses=[("脑出血", None), ("脑梗死后遗症", None)])
    assert ids(active, shipped_kb)["RX-CI-014"].severity is Severity.BLOCK


def test_item_conditions_see_the_other_items(shipped_kb: Any) -> None:
    """LABA without ICS in asthma: blocked alone, silent with an ICS inhaler or an ICS/LABA product."""
    asthma = [("支气管哮喘", "J45.9")]
    laba = item(
        "昔萘酸沙美特罗气雾剂", strength="25 μg", dose=2, unit="揿", frequency="bid", route="吸入", days=28
    )
    ics = item(
        "布地奈德吸入粉雾剂", strength="200 μg", dose=1, unit="吸", frequency="bid", route="吸入", days=28
    )
    f = ids(make_case(laba, diagnoses=asthma), shipped_kb)["RX-CI-120"]
    assert f.severity is Severity.BLOCK and f.evidence["prescription.items"] == []
    assert "RX-CI-120" not in ids(make_case(laba, ics, diagnoses=asthma), shipped_kb)
    seretide = item(
        "沙美特罗替卡松粉吸入剂",
        strength="50 μg/250 μg",
        dose=1,
        unit="吸",
        frequency="bid",
        route="吸入",
        days=28,
    )
    assert "RX-CI-120" not in ids(make_case(seretide, diagnoses=asthma), shipped_kb)
    # COPD + asthma (overlap): still flagged, lowered to warn
    overlap = [*asthma, ("慢性阻塞性肺疾病", "J44.9")]
    assert ids(make_case(laba, diagnoses=overlap), shipped_kb)["RX-CI-120"].severity is Severity.WARN


def test_count_rule_is_one_finding_naming_every_item(shipped_kb: Any) -> None:
    lines = [
        item("盐酸舍曲林片", strength="50 mg", dose=50, unit="mg", days=7),
        item("艾司唑仑片", strength="1 mg", dose=1, unit="mg", frequency="qn", days=7),
        item("酒石酸唑吡坦片", strength="5 mg", dose=5, unit="mg", frequency="qn", days=7),
    ]
    dx = [("抑郁状态", "F32.9"), ("失眠", "G47.0")]
    found = _all(make_case(*lines, age=72, sex="F", diagnoses=dx), shipped_kb, "RX-CI-123")
    assert len(found) == 1
    assert found[0].drugs == ("舍曲林", "艾司唑仑", "唑吡坦") and found[0].items == (0, 1, 2)
    assert found[0].evidence["prescription.items"] == ["舍曲林", "艾司唑仑", "唑吡坦"]
    assert not _all(make_case(*lines[:2], age=72, sex="F", diagnoses=dx), shipped_kb, "RX-CI-123")
    assert not _all(make_case(*lines, age=60, sex="F", diagnoses=dx), shipped_kb, "RX-CI-123")


def test_a_target_may_name_a_combination_product(shipped_kb: Any) -> None:
    """酚麻美敏 contains pseudoephedrine, which is no formulary ingredient: the rule names the product."""
    line = item("酚麻美敏片", strength="325 mg/15 mg/2 mg", dose=1, unit="片", frequency="tid", days=3)
    got = ids(make_case(line, diagnoses=[("上呼吸道感染", "J06.9"), ("冠心病", "I25.1")]), shipped_kb)
    assert got["RX-CI-110"].severity is Severity.WARN


def test_domperidone_is_blocked_with_every_other_qt_prolonging_drug(shipped_kb: Any) -> None:
    """RX-DDI-056 names the qt_prolonging class: every member (and any drug that joins it) blocks once;
    two domperidone lines are a duplicate (RX-DUP-001), not an interaction with itself."""
    dom = item("多潘立酮片", strength="10 mg", dose=10, unit="mg", frequency="tid", days=3)
    dx = [("急性支气管炎", "J20.9"), ("功能性消化不良", "K30")]
    for partner in (
        item("左氧氟沙星片", strength="0.5 g", dose=0.5, unit="g", days=5),
        item("克拉霉素片", strength="0.25 g", dose=0.5, unit="g", frequency="bid", days=7),
    ):
        found = _all(make_case(dom, partner, age=70, diagnoses=dx), shipped_kb, "RX-DDI-056")
        assert len(found) == 1 and found[0].severity is Severity.BLOCK
    assert not _all(make_case(dom, dom, diagnoses=dx), shipped_kb, "RX-DDI-056")
    members = {d for d in shipped_kb.drugs if "qt_prolonging" in shipped_kb.classes_of(d)} - {"domperidone"}
    assert members and all(
        shipped_kb.matches(next(r.b for r in shipped_kb.interactions if r.id == "RX-DDI-056"), d)
        for d in members
    )


def test_a_local_rule_naming_a_retired_id_names_the_new_one(tmp_path: Any) -> None:
    import pytest
    import yaml

    from toolkit.errors import KnowledgeError
    from toolkit.knowledge import load_knowledge

    local = tmp_path / "local.yaml"
    local.write_text(
        yaml.safe_dump({"institution": "x", "rules": {"RX-DDI-057": {"severity": "warn"}}}), encoding="utf-8"
    )
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(None, local)
    assert "RX-DDI-057: this rule id was retired; its rule is now RX-DDI-056" in str(exc.value)


def test_psychotropic_2_days_ignore_the_chronic_waiver(shipped_kb: Any) -> None:
    """处方管理办法 第二十三条: 精二 ≤ 7 days unless a reason is written; a chronic diagnosis is no reason."""
    dx = [("原发性高血压", "I10"), ("失眠", "G47.0")]
    line = item("艾司唑仑片", strength="1 mg", dose=1, unit="mg", frequency="qn", days=28)
    got = ids(make_case(line, age=70, diagnoses=dx), shipped_kb)
    assert got["RX-DAYS-004"].severity is Severity.WARN and "RX-DAYS-001" not in got
    assert got["RX-DAYS-004"].dianping.item == "1-13"  # 特殊管理药品 (医院处方点评管理规范 第二十八条(十三))
    assert "RX-DAYS-004" not in ids(
        make_case(line, age=70, diagnoses=dx, rx={"reason": "慢性失眠，专科建议"}), shipped_kb
    )
    assert "RX-DAYS-004" not in ids(make_case({**line, "days": 7}, age=70, diagnoses=dx), shipped_kb)
    long_rx = ids(make_case(line, age=70, diagnoses=dx, rx={"kind": "长期"}), shipped_kb)
    # a long prescription of 精二 is one finding: the RX-LONG-004 block (点评 1-13), which names the reason
    assert "RX-DAYS-004" not in long_rx and "RX-LONG-003" not in long_rx
    assert (
        "第二类精神药品" in long_rx["RX-LONG-004"].message and long_rx["RX-LONG-004"].dianping.item == "1-13"
    )
    # an antibiotic's long prescription stays RX-LONG-003 under the antibiotic item 1-14
    amox = item(
        "阿莫西林胶囊", strength="0.5 g", dose=0.5, unit="g", frequency="tid", days=30, skin_test="阴性"
    )
    amox_long = ids(make_case(amox, diagnoses=[("慢性支气管炎急性发作", "J44.1")]), shipped_kb)
    assert "RX-LONG-004" not in amox_long and amox_long["RX-LONG-003"].dianping.item == "1-14"
    # an ordinary chronic drug keeps the chronic waiver
    amlo = item("苯磺酸氨氯地平片", strength="5 mg", dose=5, unit="mg", days=28)
    assert not {"RX-DAYS-001", "RX-DAYS-004"} & set(ids(make_case(amlo, diagnoses=dx), shipped_kb))


def test_long_prescription_over_12_weeks_is_filed_as_overquantity(shipped_kb: Any) -> None:
    f = ids(make_case(item("苯磺酸氨氯地平片", strength="5 mg", dose=5, unit="mg", days=90)), shipped_kb)[
        "RX-LONG-001"
    ]
    assert (f.dianping.cls, f.dianping.item) == ("不规范处方", "1-12")


def test_interaction_escalates_on_the_daily_dose_of_the_other_items(shipped_kb: Any) -> None:
    """Simvastatin + amlodipine: info at ≤ 20 mg/d, warn above (Zocor label cap), summed over items."""
    amlo = item("苯磺酸氨氯地平片", strength="5 mg", dose=5, unit="mg", days=28)
    dx = [("原发性高血压", "I10"), ("高脂血症", "E78.5")]

    def simva(dose: float, frequency: str = "qn") -> dict[str, Any]:
        return item("辛伐他汀片", strength="20 mg", dose=dose, unit="mg", frequency=frequency, days=28)

    low = ids(make_case(simva(20), amlo, diagnoses=dx), shipped_kb)["RX-DDI-012"]
    assert low.severity is Severity.INFO and low.evidence["daily_dose.simvastatin"] == 20
    high = ids(make_case(simva(40), amlo, diagnoses=dx), shipped_kb)["RX-DDI-012"]
    assert high.severity is Severity.WARN and high.evidence["daily_dose.simvastatin"] == 40
    assert (
        ids(make_case(simva(20, "bid"), amlo, diagnoses=dx), shipped_kb)["RX-DDI-012"].severity
        is Severity.WARN
    )
    unknown = ids(make_case(simva(20, "prn"), amlo, diagnoses=dx), shipped_kb)["RX-DDI-012"]
    assert unknown.severity is Severity.INFO


def test_daily_dose_le_lowers_only_a_known_dose(shipped_kb: Any) -> None:
    """daily_dose_le (review-2): saxagliptin + clarithromycin is info at a known ≤ 2.5 mg/d, warn above it and
    warn when the daily dose cannot be computed (an unknown dose never satisfies the lowering condition)."""
    import pytest
    from pydantic import ValidationError

    from toolkit.knowledge.conditions import Condition

    dx = [("2型糖尿病", "E11.9"), ("社区获得性肺炎", "J18.9")]
    clari = item("克拉霉素片", strength="0.25 g", dose=0.5, unit="g", frequency="bid", days=7)

    def saxa(dose: float | None, frequency: str = "qd") -> dict[str, Any]:
        return item("沙格列汀片", strength="5 mg", dose=dose, unit="mg", frequency=frequency, days=14)

    assert ids(make_case(clari, saxa(2.5), diagnoses=dx), shipped_kb)["RX-DDI-092"].severity is Severity.INFO
    assert ids(make_case(clari, saxa(5), diagnoses=dx), shipped_kb)["RX-DDI-092"].severity is Severity.WARN
    assert (
        ids(make_case(clari, saxa(2.5, "prn"), diagnoses=dx), shipped_kb)["RX-DDI-092"].severity
        is Severity.WARN
    )
    with pytest.raises(ValidationError, match="daily_dose_le"):
        Condition.model_validate(
            {"fact": "prescription.items", "op": "daily_dose_le", "value": {"drug": "saxagliptin", "gt": 2.5}}
        )
