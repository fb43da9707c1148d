"""The dose and renal corrections of the clinical review (kb-review-2026-12 §1.2, §1.3, §1.4, §2.3 and
the Appendix A probes), on the shipped knowledge base: every changed limit fires above it and stays
silent at a label-compliant dose, with the severity the review asks for."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.audit import audit
from toolkit.records import AuditCase

AF = ("心房颤动", "I48.0")
CAD = ("冠心病", "I25.1")
DM = ("2型糖尿病", "E11.9")
HTN = ("原发性高血压", "I10")
INF = ("急性支气管炎", "J20.9")
FLU = ("流行性感冒", "J11.1")
GOUT = ("痛风", "M10.9")
COPD = ("慢性阻塞性肺疾病", "J44.9")
HF = ("心力衰竭", "I50.9")
CAND = ("外阴阴道念珠菌病", "B37.3")
GERD = ("胃食管反流病", "K21.9")


def rx(
    drug: str,
    dose: float,
    *,
    unit: str = "mg",
    freq: str = "qd",
    days: float = 7,
    strength: str | None = None,
    dx: tuple[str, str | None] = HTN,
    age: float = 60,
    sex: str = "M",
    weight: float | None = None,
    labs: dict[str, float] | None = None,
    route: str = "口服",
    note: str | None = None,
    skin: str | None = None,
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "drug": drug,
        "dose": dose,
        "unit": unit,
        "frequency": freq,
        "route": route,
        "days": days,
    }
    for k, v in (("strength", strength), ("note", note), ("skin_test", skin)):
        if v is not None:
            line[k] = v
    patient: dict[str, Any] = {
        "age": age,
        "sex": sex,
        "diagnoses": [{"name": dx[0], "icd10": dx[1]}],
        "labs": labs or {},
    }
    if weight is not None:
        patient["weight_kg"] = weight
    return {"patient": patient, "prescription": {"items": [line]}}


def then(raw: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The case with a second line: a copy of its first line with ``changes`` (load, then maintain)."""
    first = raw["prescription"]["items"][0]
    return {**raw, "prescription": {"items": [first, {**first, **changes}]}}


# (name, case, rule id, expected severity of its first finding, or None: the rule must not fire)
CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    # ---- Appendix A probes
    (
        "dabigatran 150 bid, 86 F 45 kg eGFR 52 Scr 90: CG 28 → contraindicated",
        rx(
            "达比加群酯胶囊",
            150,
            freq="bid",
            days=28,
            dx=AF,
            age=86,
            sex="F",
            weight=45,
            labs={"egfr": 52, "scr": 90},
        ),
        "RX-CI-071",
        "block",
    ),
    (
        "dabigatran 150 bid at 86: ≥ 80 → 110 mg",
        rx(
            "达比加群酯胶囊",
            150,
            freq="bid",
            days=28,
            dx=AF,
            age=86,
            sex="F",
            weight=45,
            labs={"egfr": 52, "scr": 90},
        ),
        "RX-DOSE-001",
        "warn",
    ),
    (
        "canagliflozin 300 at eGFR 40",
        rx("卡格列净片", 300, days=28, dx=DM, labs={"egfr": 40}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "canagliflozin 100 at eGFR 40",
        rx("卡格列净片", 100, days=28, dx=DM, labs={"egfr": 40}),
        "RX-DOSE-002",
        None,
    ),
    (
        "canagliflozin 300 at eGFR 70",
        rx("卡格列净片", 300, days=28, dx=DM, labs={"egfr": 70}),
        "RX-DOSE-002",
        None,
    ),
    (
        "oseltamivir 75 bid at eGFR 20 (CrCl label, eGFR fallback)",
        rx("奥司他韦胶囊", 75, freq="bid", days=5, dx=FLU, labs={"egfr": 20}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "oseltamivir 30 qd at eGFR 20",
        rx("奥司他韦胶囊", 30, days=5, dx=FLU, labs={"egfr": 20}),
        "RX-DOSE-002",
        None,
    ),
    (
        "oseltamivir 75 bid at CrCl 45",
        rx("奥司他韦胶囊", 75, freq="bid", days=5, dx=FLU, labs={"crcl": 45}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "oseltamivir 30 bid at CrCl 45",
        rx("奥司他韦胶囊", 30, freq="bid", days=5, dx=FLU, labs={"crcl": 45}),
        "RX-DOSE-002",
        None,
    ),
    ("clopidogrel 300 qd × 28 d", rx("硫酸氢氯吡格雷片", 300, days=28, dx=CAD), "RX-DOSE-007", "block"),
    ("clopidogrel 75 qd × 28 d", rx("硫酸氢氯吡格雷片", 75, days=28, dx=CAD), "RX-DOSE-007", None),
    ("clopidogrel 300 × 1 d (loading)", rx("硫酸氢氯吡格雷片", 300, days=1, dx=CAD), "RX-DOSE-007", None),
    (
        "clopidogrel 300 with 负荷 written",
        rx("硫酸氢氯吡格雷片", 300, days=7, dx=CAD, note="负荷剂量"),
        "RX-DOSE-007",
        None,
    ),
    # review-1: the usual two-line order, load on day 1 then maintain, is not 375 mg every day
    (
        "clopidogrel 300 × 1 d, then 75 qd × 28 d",
        then(rx("硫酸氢氯吡格雷片", 300, days=1, dx=CAD), dose=75, days=28),
        "RX-DOSE-007",
        None,
    ),
    (
        "clopidogrel 300 × 1 d, then 150 qd × 28 d",
        then(rx("硫酸氢氯吡格雷片", 300, days=1, dx=CAD), dose=150, days=28),
        "RX-DOSE-007",
        "block",
    ),
    (
        "amiodarone 200 tid × 10 d, then 200 qd × 18 d",
        then(rx("盐酸胺碘酮片", 200, freq="tid", days=10, dx=AF), frequency="qd", days=18),
        "RX-DOSE-007",
        None,
    ),
    (
        "amiodarone 200 tid × 10 d, then 200 tid × 18 d",
        then(rx("盐酸胺碘酮片", 200, freq="tid", days=10, dx=AF), days=18),
        "RX-DOSE-007",
        "warn",
    ),
    (
        "colchicine 0.5 tid, 75 y, eGFR 40",
        rx("秋水仙碱片", 0.5, freq="tid", dx=GOUT, age=75, labs={"egfr": 40}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "colchicine 0.5 qd, 75 y, eGFR 40",
        rx("秋水仙碱片", 0.5, dx=GOUT, age=75, labs={"egfr": 40}),
        "RX-DOSE-002",
        None,
    ),
    (
        "colchicine 0.5 qd at eGFR 30 (step: 0.5 qod)",
        rx("秋水仙碱片", 0.5, dx=GOUT, labs={"egfr": 30}),
        "RX-DOSE-002",
        "warn",
    ),
    # ---- measure: the label's one wins (clarithromycin is labelled in CrCl)
    (
        "clarithromycin 500 bid, eGFR 50 but CG CrCl 22",
        rx("克拉霉素片", 500, freq="bid", dx=INF, age=85, sex="F", weight=40, labs={"egfr": 50, "scr": 100}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "clarithromycin 500 bid, CrCl 40",
        rx("克拉霉素片", 500, freq="bid", dx=INF, labs={"crcl": 40, "egfr": 25}),
        "RX-DOSE-002",
        None,
    ),
    # ---- §1.2 dose limits
    ("amiodarone 200 tid × 28 d", rx("盐酸胺碘酮片", 200, freq="tid", days=28, dx=AF), "RX-DOSE-007", "warn"),
    (
        "amiodarone 200 tid × 7 d (loading)",
        rx("盐酸胺碘酮片", 200, freq="tid", days=7, dx=AF),
        "RX-DOSE-007",
        None,
    ),
    ("amiodarone 200 qd × 28 d", rx("盐酸胺碘酮片", 200, days=28, dx=AF), "RX-DOSE-007", None),
    (
        "glargine 90 U: the 80 U 'limit' is gone",
        rx(
            "甘精胰岛素注射液",
            90,
            unit="U",
            strength="300 U/3 ml",
            route="皮下注射",
            days=28,
            dx=DM,
            weight=100,
        ),
        "RX-DOSE-001",
        None,
    ),
    (
        "glargine 90 U at 100 kg: within 1 U/kg/d",
        rx(
            "甘精胰岛素注射液",
            90,
            unit="U",
            strength="300 U/3 ml",
            route="皮下注射",
            days=28,
            dx=DM,
            weight=100,
        ),
        "RX-DOSE-008",
        None,
    ),
    (
        "glargine 70 U at 50 kg: > 1 U/kg/d (tool)",
        rx(
            "甘精胰岛素注射液",
            70,
            unit="U",
            strength="300 U/3 ml",
            route="皮下注射",
            days=28,
            dx=DM,
            weight=50,
        ),
        "RX-DOSE-008",
        "warn",
    ),
    (
        "aspart 44 U per meal (tool)",
        rx(
            "门冬胰岛素注射液",
            44,
            unit="U",
            freq="tid",
            strength="300 U/3 ml",
            route="皮下注射",
            days=28,
            dx=DM,
        ),
        "RX-DOSE-008",
        "warn",
    ),
    (
        "furosemide 40 tid: > 100 mg/d info (tool)",
        rx("呋塞米片", 40, freq="tid", dx=HF),
        "RX-DOSE-008",
        "info",
    ),
    ("furosemide 40 tid: no label finding", rx("呋塞米片", 40, freq="tid", dx=HF), "RX-DOSE-002", None),
    ("furosemide 40 bid", rx("呋塞米片", 40, freq="bid", dx=HF), "RX-DOSE-008", None),
    (
        "theophylline 400 bid: 监测血药浓度 (tool)",
        rx("茶碱缓释片", 400, freq="bid", dx=COPD),
        "RX-DOSE-008",
        "warn",
    ),
    (
        "theophylline 400 bid: within the label",
        rx("茶碱缓释片", 400, freq="bid", dx=COPD),
        "RX-DOSE-002",
        None,
    ),
    ("theophylline 200 bid", rx("茶碱缓释片", 200, freq="bid", dx=COPD), "RX-DOSE-008", None),
    # ---- form-level limits
    ("gliclazide MR 90 bid", rx("格列齐特缓释片", 90, freq="bid", days=28, dx=DM), "RX-DOSE-002", "warn"),
    ("gliclazide MR 120 qd", rx("格列齐特缓释片", 120, days=28, dx=DM), "RX-DOSE-002", None),
    ("gliclazide plain 80 bid", rx("格列齐特片", 80, freq="bid", days=28, dx=DM), "RX-DOSE-002", None),
    ("metformin XR 2500 qd", rx("二甲双胍缓释片", 2500, days=28, dx=DM), "RX-DOSE-002", "warn"),
    (
        "metformin XR 2000 qd (no plain-tablet 1 g single cap)",
        rx("二甲双胍缓释片", 2000, days=28, dx=DM),
        "RX-DOSE-001",
        None,
    ),
    ("indapamide SR 2.5 mg", rx("吲达帕胺缓释片", 2.5, days=28), "RX-DOSE-002", "warn"),
    ("indapamide SR 1.5 mg", rx("吲达帕胺缓释片", 1.5, days=28), "RX-DOSE-002", None),
    ("indapamide plain 2.5 mg", rx("吲达帕胺片", 2.5, days=28), "RX-DOSE-002", None),
    ("doxazosin GITS 12 mg", rx("甲磺酸多沙唑嗪控释片", 12, days=28), "RX-DOSE-002", "warn"),
    ("doxazosin GITS 8 mg", rx("甲磺酸多沙唑嗪控释片", 8, days=28), "RX-DOSE-002", None),
    (
        "nifedipine IR, 70 y: Beers avoid at form level",
        rx("硝苯地平片", 10, freq="tid", age=70, days=28),
        "RX-POP-004",
        "warn",
    ),
    ("nifedipine GITS, 70 y: caution only", rx("硝苯地平控释片", 30, age=70, days=28), "RX-POP-004", "info"),
    # ---- §1.4 sulfonylureas in the elderly (long-acting warn, short/intermediate info)
    ("glimepiride 75 y", rx("格列美脲片", 1, days=28, dx=DM, age=75), "RX-POP-004", "warn"),
    ("gliquidone 75 y", rx("格列喹酮片", 30, days=28, dx=DM, age=75), "RX-POP-004", "info"),
    # α1-blockers: Beers avoids them as antihypertensives, not for BPH
    (
        "terazosin 75 y, hypertension",
        rx("盐酸特拉唑嗪片", 2, freq="qn", days=28, age=75),
        "RX-POP-004",
        "warn",
    ),
    (
        "terazosin 75 y, BPH",
        rx("盐酸特拉唑嗪片", 2, freq="qn", days=28, age=75, dx=("良性前列腺增生", "N40")),
        "RX-POP-004",
        "info",
    ),
    (
        "doxazosin GITS 75 y, 前列腺增生 by name",
        rx("甲磺酸多沙唑嗪控释片", 4, days=28, age=75, dx=("前列腺增生症", None)),
        "RX-POP-004",
        "info",
    ),
    # ---- §2.3 renal limits
    ("atenolol 100 at CrCl 30", rx("阿替洛尔片", 100, days=28, labs={"crcl": 30}), "RX-DOSE-002", "warn"),
    ("atenolol 50 at CrCl 30", rx("阿替洛尔片", 50, days=28, labs={"crcl": 30}), "RX-DOSE-002", None),
    (
        "perindopril 4 at CrCl 40",
        rx("培哚普利叔丁胺片", 4, days=28, labs={"crcl": 40}),
        "RX-DOSE-002",
        "warn",
    ),
    ("perindopril 2 at CrCl 40", rx("培哚普利叔丁胺片", 2, days=28, labs={"crcl": 40}), "RX-DOSE-002", None),
    (
        "fenofibrate 200 at eGFR 45",
        rx("非诺贝特胶囊", 200, days=28, dx=("高甘油三酯血症", "E78.1"), labs={"egfr": 45}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "fenofibrate 100 at eGFR 45",
        rx("非诺贝特胶囊", 100, days=28, dx=("高甘油三酯血症", "E78.1"), labs={"egfr": 45}),
        "RX-DOSE-002",
        None,
    ),
    (
        "trimetazidine MR 35 bid at CrCl 40",
        rx("曲美他嗪缓释片", 35, freq="bid", days=28, dx=CAD, labs={"crcl": 40}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "trimetazidine MR 35 qd at CrCl 40",
        rx("曲美他嗪缓释片", 35, days=28, dx=CAD, labs={"crcl": 40}),
        "RX-DOSE-002",
        None,
    ),
    (
        "digoxin 0.25 at eGFR 25 (60 y)",
        rx("地高辛片", 0.25, days=28, dx=HF, labs={"egfr": 25}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "digoxin 0.125 at eGFR 25",
        rx("地高辛片", 0.125, days=28, dx=HF, labs={"egfr": 25}),
        "RX-DOSE-002",
        None,
    ),
    # review-1: digoxin's renal step is in CrCl (Beers 2023 Table 6, Lanoxin): CG 22 although eGFR is 33
    (
        "digoxin 0.25, 60 F 40 kg Scr 150, eGFR 33: CG CrCl 22",
        rx("地高辛片", 0.25, days=28, dx=HF, sex="F", weight=40, labs={"egfr": 33, "scr": 150}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "digoxin 0.25 at CrCl 40 although eGFR 25: the label's measure wins",
        rx("地高辛片", 0.25, days=28, dx=HF, labs={"crcl": 40, "egfr": 25}),
        "RX-DOSE-002",
        None,
    ),
    # review-1: vildagliptin's step is in CrCl too (佳维乐/EU Galvus SmPC 4.2)
    (
        "vildagliptin 50 bid, 78 F 45 kg Scr 80, eGFR 62: CG CrCl 36",
        rx(
            "维格列汀片",
            50,
            freq="bid",
            days=28,
            dx=DM,
            age=78,
            sex="F",
            weight=45,
            labs={"egfr": 62, "scr": 80},
        ),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "vildagliptin 50 bid at CrCl 60 although eGFR 45",
        rx("维格列汀片", 50, freq="bid", days=28, dx=DM, labs={"crcl": 60, "egfr": 45}),
        "RX-DOSE-002",
        None,
    ),
    (
        "rivaroxaban 20 at CrCl 40",
        rx("利伐沙班片", 20, days=28, dx=AF, labs={"crcl": 40}),
        "RX-DOSE-001",
        "warn",
    ),
    (
        "rivaroxaban 15 at CrCl 40",
        rx("利伐沙班片", 15, days=28, dx=AF, labs={"crcl": 40}),
        "RX-DOSE-001",
        None,
    ),
    (
        "dabigatran 150 bid at 78 (≥ 80 rule only)",
        rx("达比加群酯胶囊", 150, freq="bid", days=28, dx=AF, age=78, labs={"crcl": 60}),
        "RX-DOSE-001",
        None,
    ),
    (
        "dabigatran 110 bid at 86",
        rx("达比加群酯胶囊", 110, freq="bid", days=28, dx=AF, age=86, labs={"crcl": 40}),
        "RX-DOSE-001",
        None,
    ),
    (
        "amoxicillin 1 g tid at CrCl 20",
        rx("阿莫西林胶囊", 1000, freq="tid", dx=INF, labs={"crcl": 20}, skin="阴性"),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "amoxicillin 500 bid at CrCl 20",
        rx("阿莫西林胶囊", 500, freq="bid", dx=INF, labs={"crcl": 20}, skin="阴性"),
        "RX-DOSE-002",
        None,
    ),
    (
        "cefuroxime 500 bid at CrCl 20",
        rx("头孢呋辛酯片", 500, freq="bid", dx=INF, labs={"crcl": 20}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "cefuroxime 250 bid at CrCl 20",
        rx("头孢呋辛酯片", 250, freq="bid", dx=INF, labs={"crcl": 20}),
        "RX-DOSE-002",
        None,
    ),
    (
        "cefixime 200 bid at CrCl 40",
        rx("头孢克肟胶囊", 200, freq="bid", dx=INF, labs={"crcl": 40}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "cefixime 100 bid at CrCl 40",
        rx("头孢克肟胶囊", 100, freq="bid", dx=INF, labs={"crcl": 40}),
        "RX-DOSE-002",
        None,
    ),
    (
        "cefdinir 200 tid at CrCl 20",
        rx("头孢地尼胶囊", 200, freq="tid", dx=INF, labs={"crcl": 20}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "cefdinir 100 tid at CrCl 20",
        rx("头孢地尼胶囊", 100, freq="tid", dx=INF, labs={"crcl": 20}),
        "RX-DOSE-002",
        None,
    ),
    (
        "levofloxacin 500 qd at CrCl 30",
        rx("左氧氟沙星片", 500, dx=INF, labs={"crcl": 30}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "levofloxacin 250 qd at CrCl 30",
        rx("左氧氟沙星片", 250, dx=INF, labs={"crcl": 30}),
        "RX-DOSE-002",
        None,
    ),
    (
        "fluconazole 400 qd at CrCl 40",
        rx("氟康唑胶囊", 400, dx=CAND, labs={"crcl": 40}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "fluconazole 150 once at CrCl 40",
        rx("氟康唑胶囊", 150, days=1, dx=CAND, labs={"crcl": 40}),
        "RX-DOSE-002",
        None,
    ),
    (
        "famotidine 40 bid at CrCl 40",
        rx("法莫替丁片", 40, freq="bid", dx=GERD, labs={"crcl": 40}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "famotidine 20 bid at CrCl 40",
        rx("法莫替丁片", 20, freq="bid", dx=GERD, labs={"crcl": 40}),
        "RX-DOSE-002",
        None,
    ),
    (
        "allopurinol 300 at CrCl 15",
        rx("别嘌醇片", 300, days=28, dx=GOUT, labs={"crcl": 15}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "allopurinol 200 at CrCl 15",
        rx("别嘌醇片", 200, days=28, dx=GOUT, labs={"crcl": 15}),
        "RX-DOSE-002",
        None,
    ),
    (
        "febuxostat 80 at CrCl 20",
        rx("非布司他片", 80, days=28, dx=GOUT, labs={"crcl": 20}),
        "RX-DOSE-002",
        "warn",
    ),
    (
        "febuxostat 40 at CrCl 20",
        rx("非布司他片", 40, days=28, dx=GOUT, labs={"crcl": 20}),
        "RX-DOSE-002",
        None,
    ),
]


@pytest.mark.regression
@pytest.mark.parametrize(("name", "raw", "rule", "severity"), CASES, ids=[c[0] for c in CASES])
def test_review_dose_corrections(
    name: str, raw: dict[str, Any], rule: str, severity: str | None, shipped_kb: Any
) -> None:
    report = audit(AuditCase.model_validate({"id": "dose", **raw}), shipped_kb)
    hits = [f for f in report.findings if f.rule_id == rule]
    if severity is None:
        assert not hits, f"{name}: {rule} fired: {[h.message for h in hits]}"
        return
    assert hits, f"{name}: {rule} did not fire; got {[(f.rule_id, f.message) for f in report.findings]}"
    assert hits[0].severity.value == severity, f"{name}: {hits[0].severity.value} {hits[0].message}"
    assert "{" not in hits[0].message, hits[0].message


@pytest.mark.regression
def test_renal_finding_states_the_measure_and_the_formula(shipped_kb: Any) -> None:
    raw = rx("克拉霉素片", 500, freq="bid", dx=INF, age=85, sex="F", weight=40, labs={"egfr": 50, "scr": 100})
    f = next(
        f
        for f in audit(AuditCase.model_validate({"id": "cg", **raw}), shipped_kb).findings
        if f.rule_id == "RX-DOSE-002"
    )
    assert f.evidence["renal_measure"] == "CrCl" and "CrCl" in f.message
    assert "Cockcroft-Gault" in f.evidence["crcl_basis"] and "实际体重40 kg" in f.evidence["crcl_basis"]
    raw = rx("奥司他韦胶囊", 75, freq="bid", days=5, dx=FLU, labs={"egfr": 20})
    f = next(
        f
        for f in audit(AuditCase.model_validate({"id": "fb", **raw}), shipped_kb).findings
        if f.rule_id == "RX-DOSE-002"
    )
    assert f.evidence["renal_measure"] == "eGFR" and "eGFR代替" in f.evidence["renal_note"]
