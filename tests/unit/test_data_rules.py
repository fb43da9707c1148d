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
    f = ids(make_case(item("盐酸二甲双胍片", strength="0.5 g", frequency="bid"), diagnoses=dm,
                      labs={"egfr": 25}), kb)["RX-CI-001"]
    assert f.severity is Severity.BLOCK and f.category is Category.SPECIAL_POPULATION
    assert "eGFR 25" in f.message and f.evidence["labs.egfr"] == 25
    assert "RX-CI-001" not in ids(make_case(item("盐酸二甲双胍片", strength="0.5 g"), diagnoses=dm,
                                            labs={"egfr": 30}), kb)
    # an unknown lab never fires a threshold rule
    assert "RX-CI-001" not in ids(make_case(item("盐酸二甲双胍片", strength="0.5 g"), diagnoses=dm), kb)


def test_cross_reactivity_warns_and_direct_allergy_blocks(kb: Any) -> None:
    dx = [("急性支气管炎", "J20.9")]
    got = ids(make_case(item("头孢呋辛酯片", frequency="bid", days=5), allergies=["青霉素类"], diagnoses=dx), kb)
    assert got["RX-ALG-X-001"].severity is Severity.WARN
    assert got["RX-ALG-X-001"].category is Category.ALLERGY
    assert "RX-ALG-001" not in got
    got = ids(make_case(item("头孢呋辛酯片", frequency="bid", days=5), allergies=["头孢呋辛"], diagnoses=dx), kb)
    assert got["RX-ALG-001"].severity is Severity.BLOCK


def test_duplicate_class_fires_and_exceptions_hold(kb: Any) -> None:
    got = ids(make_case(item("施慧达"), item("络活喜")), kb)
    assert got["RX-DUP-002"].drugs == ("左旋氨氯地平", "氨氯地平")
    cad = [("冠状动脉粥样硬化性心脏病", "I25.1")]
    assert "RX-DUP-003" not in ids(make_case(item("拜阿司匹灵"), item("氯吡格雷片"), diagnoses=cad), kb)
    # two P2Y12 inhibitors are not DAPT
    assert "RX-DUP-003" in ids(make_case(item("氯吡格雷片"), item("替格瑞洛片", frequency="bid"),
                                         diagnoses=cad), kb)
    # three antiplatelets do not fit the two-member exception
    assert "RX-DUP-003" in ids(make_case(item("拜阿司匹灵"), item("氯吡格雷片"), item("替格瑞洛片"),
                                         diagnoses=cad), kb)
    dm = [("2型糖尿病", "E11.9")]
    insulin = {"unit": "U", "route": "皮下注射", "dose": 8}
    assert "RX-DUP-004" not in ids(make_case(item("甘精胰岛素", **insulin), item("门冬胰岛素", **insulin),
                                             diagnoses=dm), kb)
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
    assert set(data["findings"][0]) >= {"rule_id", "category", "severity", "drugs", "message", "evidence",
                                        "references"}
    assert data["findings"][0]["dianping"]["class"]
    assert report.provenance and report.provenance.kb_version == kb.version


def test_form_named_or_branded_sets_frequency_limit(kb: Any) -> None:
    bid = {"dose": 30, "unit": "mg", "frequency": "bid"}
    assert "RX-FREQ-001" in ids(make_case(item("硝苯地平控释片", **bid)), kb)
    assert "RX-FREQ-001" in ids(make_case(item("拜新同", **bid)), kb)  # the brand names the GITS form
    assert "RX-FREQ-001" not in ids(make_case(item("硝苯地平缓释片", dose=20, unit="mg", frequency="bid")), kb)
    # an unnamed form falls back to the drug's limit
    assert "RX-FREQ-001" not in ids(make_case(item("硝苯地平", dose=20, unit="mg", frequency="bid")), kb)


def test_renal_dose_limit_tightens_the_maximum(kb: Any) -> None:
    dm = [("2型糖尿病", "E11.9")]
    line = item("西格列汀片", dose=100, unit="mg")
    assert "RX-DOSE-002" not in ids(make_case(line, diagnoses=dm, labs={"egfr": 60}), kb)
    f = ids(make_case(line, diagnoses=dm, labs={"egfr": 25}), kb)["RX-DOSE-002"]
    assert f.severity is Severity.BLOCK and f.evidence["limit"] == 25 and "eGFR 25" in f.message
    f = ids(make_case(line, diagnoses=dm, labs={"crcl": 40}), kb)["RX-DOSE-002"]  # CrCl when no eGFR
    assert f.severity is Severity.BLOCK and f.evidence["limit"] == 50  # 100 = 2× 50


def test_prn_with_interval_is_checked_at_its_most(kb: Any) -> None:
    dx = [("急性支气管炎", "J20.9")]
    f = ids(make_case(item("阿莫西林胶囊", strength="0.5 g", dose=2, unit="粒", frequency="q4h prn",
                           skin_test="阴性"), diagnoses=dx), kb)
    assert "RX-FREQ-002" not in f and f["RX-DOSE-002"].evidence["daily"] == 6000  # 1 g × 6


def test_stated_reason_and_standard_course_lengths(kb: Any) -> None:
    line = item("阿莫西林胶囊", strength="0.5 g", frequency="tid", days=14, skin_test="阴性")
    bronchitis = [("急性支气管炎", "J20.9")]
    assert ids(make_case(line, diagnoses=bronchitis), kb)["RX-DAYS-003"].severity is Severity.WARN
    noted = ids(make_case(line, diagnoses=bronchitis, rx={"reason": "重症肺炎出院后序贯治疗"}), kb)
    assert noted["RX-DAYS-003"].severity is Severity.INFO
    hp = [("慢性胃炎", "K29.5"), ("幽门螺杆菌感染", "B96.81")]
    assert "RX-DAYS-003" not in ids(make_case(line, item("克拉霉素片", frequency="bid", days=14), diagnoses=hp), kb)
    assert "RX-DAYS-003" in ids(make_case({**line, "days": 21}, diagnoses=hp), kb)


def test_no_skin_test_finding_when_the_drug_is_blocked_for_allergy(kb: Any) -> None:
    got = ids(make_case(item("阿莫西林胶囊", strength="0.5 g", frequency="tid"), allergies=["青霉素"],
                        diagnoses=[("急性支气管炎", "J20.9")]), kb)
    assert "RX-ALG-001" in got and "RX-SKIN-001" not in got


def test_indication_satisfied_by_companion_drug(kb: Any, tmp_path: Any) -> None:
    """A PPI with an antiplatelet is gastroprotection: indicated without a GI diagnosis."""
    import shutil

    import yaml

    from toolkit.knowledge import load_knowledge

    root = tmp_path / "kb"
    shutil.copytree(FIXTURES / "kb", root)
    rules = yaml.safe_load((root / "rules.yaml").read_text(encoding="utf-8"))
    rules["indications"].append({
        "id": "RX-IND-003", "severity": "warn", "target": {"classes": ["ppi"]}, "icd10": ["K20-K31"],
        "with_drugs": {"classes": ["antiplatelet", "nsaid"]}, "message": "{drug}无适应证", "references": ["t"]})
    (root / "rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    custom = load_knowledge(root)
    cad = [("冠心病", "I25.1")]
    assert "RX-IND-003" in ids(make_case(item("奥美拉唑肠溶胶囊"), diagnoses=cad), custom)
    assert "RX-IND-003" not in ids(make_case(item("奥美拉唑肠溶胶囊"), item("拜阿司匹灵"), diagnoses=cad), custom)
