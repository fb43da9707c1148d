"""The clinical review's name probes (kb-review-2026-12.md §0 #1, #5 and Appendix A): the audit runs on the
drug that was written, or says it could not check it — never on a near neighbour."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.audit import audit
from toolkit.records import AuditCase


def _case(
    items: list[dict[str, Any]],
    age: int = 60,
    sex: str = "M",
    allergies: tuple[str, ...] = (),
    dx: tuple[tuple[str, str], ...] = (("原发性高血压", "I10"),),
) -> AuditCase:
    return AuditCase.model_validate(
        {
            "id": "probe",
            "patient": {
                "age": age,
                "sex": sex,
                "weight_kg": 60,
                "allergies": list(allergies),
                "diagnoses": [{"name": n, "icd10": c} for n, c in dx],
                "labs": {"egfr": 85},
            },
            "prescription": {"items": items},
        }
    )


SIMVA = {
    "drug": "辛伐他汀片",
    "strength": "20 mg",
    "dose": 20,
    "unit": "mg",
    "frequency": "qn",
    "route": "口服",
    "days": 14,
}

# (probe, items, patient kwargs, a drug name no finding may name, rule ids that must not fire)
PROBES = [
    (
        "注射用青霉素钠 + 辛伐他汀",
        [
            {
                "drug": "注射用青霉素钠",
                "dose": 80,
                "unit": "万U",
                "frequency": "bid",
                "route": "肌内注射",
                "days": 3,
            },
            SIMVA,
        ],
        {},
        "红霉素",
        {"RX-ROUTE-001", "RX-DDI-010"},
    ),
    (
        "制霉素片 + 氟康唑",
        [
            {"drug": "制霉素片", "dose": 50, "unit": "万U", "frequency": "tid", "route": "口服", "days": 7},
            {
                "drug": "氟康唑胶囊",
                "strength": "150 mg",
                "dose": 150,
                "unit": "mg",
                "frequency": "qd",
                "route": "口服",
                "days": 1,
            },
        ],
        {"dx": (("口腔念珠菌病", "B37.0"),)},
        "红霉素",
        {"RX-DDI-058"},
    ),
    (
        "盐酸克林霉素胶囊 + 辛伐他汀",
        [
            {
                "drug": "盐酸克林霉素胶囊",
                "dose": 0.15,
                "unit": "g",
                "frequency": "qid",
                "route": "口服",
                "days": 7,
            },
            SIMVA,
        ],
        {},
        "克拉霉素",
        {"RX-DDI-010"},
    ),
    (
        "黛力新, 头孢过敏",
        [{"drug": "黛力新", "dose": 1, "unit": "片", "frequency": "bid", "route": "口服", "days": 28}],
        {"age": 70, "sex": "F", "allergies": ("头孢过敏",), "dx": (("焦虑状态", "F41.9"),)},
        "头孢呋辛",
        set(),
    ),
    (
        "那格列奈 120 mg tid",
        [{"drug": "那格列奈片", "dose": 120, "unit": "mg", "frequency": "tid", "route": "口服", "days": 28}],
        {"dx": (("2型糖尿病", "E11.9"),)},
        "瑞格列奈",
        {"RX-DOSE-001", "RX-DOSE-002"},
    ),
    (
        "缬沙坦氢氯噻嗪 + 缬沙坦",
        [
            {
                "drug": "缬沙坦氢氯噻嗪片",
                "dose": 1,
                "unit": "片",
                "frequency": "qd",
                "route": "口服",
                "days": 28,
            },
            {
                "drug": "缬沙坦胶囊",
                "strength": "80 mg",
                "dose": 80,
                "unit": "mg",
                "frequency": "qd",
                "route": "口服",
                "days": 28,
            },
        ],
        {},
        "氯沙坦",
        set(),
    ),
    (
        "左氧氟沙星滴眼液, 8 岁",
        [
            {
                "drug": "左氧氟沙星滴眼液",
                "dose": 1,
                "unit": "滴",
                "frequency": "qid",
                "route": "滴眼",
                "days": 7,
            }
        ],
        {"age": 8, "dx": (("细菌性结膜炎", "H10.0"),)},
        "",
        {"RX-ROUTE-001", "RX-POP-003"},
    ),
    (
        "布洛芬凝胶 + 华法林",
        [
            {"drug": "布洛芬凝胶", "dose": 1, "unit": "支", "frequency": "tid", "route": "外用", "days": 7},
            {
                "drug": "华法林钠片",
                "strength": "2.5 mg",
                "dose": 2.5,
                "unit": "mg",
                "frequency": "qd",
                "route": "口服",
                "days": 28,
            },
        ],
        {"dx": (("心房颤动", "I48.9"), ("膝骨关节炎", "M17.9"))},
        "",
        {"RX-ROUTE-001"},
    ),
]


@pytest.mark.regression
@pytest.mark.parametrize(
    ("probe", "items", "patient", "wrong_drug", "silent"), PROBES, ids=[p[0] for p in PROBES]
)
def test_probe_audits_the_written_drug(
    probe: str,
    items: list[dict[str, Any]],
    patient: dict[str, Any],
    wrong_drug: str,
    silent: set[str],
    shipped_kb: Any,
) -> None:
    report = audit(_case(items, **patient), shipped_kb)
    fired = {f.rule_id for f in report.findings}
    assert not fired & silent, (probe, fired & silent)
    if wrong_drug:
        assert not any(wrong_drug in d for f in report.findings for d in f.drugs), (
            probe,
            [(f.rule_id, f.drugs) for f in report.findings],
        )
        assert not any(wrong_drug in f.message for f in report.findings), probe
    # every line the formulary could not audit as written says so (never silently passed)
    for i, cov in enumerate(report.coverage):
        if cov == "none":
            assert any(i in f.items and f.rule_id in ("RX-FMT-007", "RX-FMT-010") for f in report.findings), (
                probe
            )


@pytest.mark.regression
def test_eye_drops_and_gels_are_not_the_oral_entry(shipped_kb: Any) -> None:
    report = audit(_case(PROBES[6][1], **PROBES[6][2]), shipped_kb)
    assert report.coverage == ("none",)
    assert [f.rule_id for f in report.findings if f.severity.value != "info"] == []
    assert any(f.rule_id == "RX-FMT-010" and "眼用" in f.message for f in report.findings)
    gel = audit(_case(PROBES[7][1], **PROBES[7][2]), shipped_kb)
    assert gel.coverage[0] == "none" and not any(f.rule_id.startswith("RX-DDI") for f in gel.findings)


@pytest.mark.regression
@pytest.mark.parametrize(
    "written",
    [
        "青霉素",
        "制霉素",
        "克林霉素",
        "黛力新",
        "那格列奈",
        "尼莫地平",
        "扎鲁司特",
        "酮康唑",
        "酮洛芬",
        "醋氯芬酸",
        "阿罗洛尔",
        "碘化钾",
        "甲氧明",
        "胃得安",
        "头孢唑肟",
        "奥硝唑",
        "氨肽素",
        "氨麻美敏",
        "泼尼松龙",
        "胃可安",
        "胃尔宁",
        "肝复乐片",
        "达立通颗粒",
        "舒神灵胶囊",
        "胆茶碱",
        "伐地那非",
        "西沙必利",
        "来优时",
    ],
)
def test_review_wrong_drug_names(written: str, shipped_kb: Any) -> None:
    """§0 #1 and §1.1: each resolved to a different formulary drug in KB 2026.11.0."""
    m = shipped_kb.names.resolve(written)
    if m is not None:  # only once the drug itself has an entry (added by the breadth work)
        d = shipped_kb.drugs[m.drug_id]
        assert m.kind in ("exact", "stripped"), (written, m)
        assert (
            written.rstrip("片胶囊颗粒") in {d.name, *d.salts, *d.aliases, *d.brands} or d.name in written
        ), (written, m)
