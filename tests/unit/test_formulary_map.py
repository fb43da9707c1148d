"""clinic formulary map|apply (药品字典配对) and audits by 药品编码 (issue 18 §4)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from toolkit.audit import audit
from toolkit.batch.catalogue import apply_review_sheet, propose, read_catalogue
from toolkit.cli.main import app
from toolkit.knowledge.loader import load_knowledge
from toolkit.records import AuditCase

CATALOGUE = [
    ["药品编码", "通用名", "商品名", "规格", "剂型", "生产厂家", "单位"],
    ["Y001", "苯磺酸氨氯地平片", "", "5mg*28片", "片", "辉瑞制药", "片"],
    ["Y002", "", "拜新同", "30mg*7片", "控释片", "拜耳医药", "片"],  # brand only
    ["Y003", "阿莫西林胶囊0.25g", "", "", "胶囊", "华北制药", "粒"],  # strength inside the name
    [
        "Y004",
        "注射用紫杉醇脂质体",
        "",
        "30mg",
        "注射剂",
        "南京绿叶",
        "支",
    ],  # a real drug the KB does not cover
    ["Y005", "左氧氟沙星滴眼液", "可乐必妥", "5ml:24.4mg", "滴眼剂", "参天制药", "支"],  # local product
    ["Y006", '=HYPERLINK("http://x")', "", "", "", "", ""],  # hostile text stays text in the sheet
]


def _write_gbk(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="gbk", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_propose_reads_gbk_and_says_how(shipped_kb: Any, tmp_path: Path) -> None:
    rows = read_catalogue(_write_gbk(tmp_path / "cat.csv", CATALOGUE))
    props = {p.code: p for p in propose(rows, shipped_kb)}
    assert (props["Y001"].drug, props["Y001"].confidence, props["Y001"].coverage) == (
        "amlodipine",
        "高",
        "full",
    )
    assert props["Y001"].form_match.startswith("片 5")
    assert (props["Y002"].drug, props["Y002"].how, props["Y002"].confidence) == ("nifedipine", "商品名", "中")
    assert props["Y003"].drug == "amoxicillin"
    assert props["Y004"].drug is None and props["Y004"].how == "已知未收录"
    assert props["Y005"].drug is None and props["Y005"].how == "剂型未收录"


def test_map_apply_and_audit_by_code(shipped_kb: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    cat = _write_gbk(tmp_path / "cat.csv", CATALOGUE)
    sheet = tmp_path / "map.csv"
    res = runner.invoke(app, ["formulary", "map", str(cat), "-o", str(sheet)])
    assert res.exit_code == 0, res.output
    with open(sheet, encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh))
    head = table[0]
    assert all(not c.startswith("=") for r in table for c in r)  # formula text neutralised
    col = {h: i for i, h in enumerate(head)}
    for r in table[1:]:  # the pharmacist confirms the brand row and the not-covered penicillin
        if r[col["药品编码"]] in ("Y002", "Y004"):
            r[col["确认(是/否)"]] = "是"
    with open(sheet, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(table)
    dictionary = tmp_path / "drugs.yaml"
    res = runner.invoke(
        app, ["formulary", "apply", str(sheet), "-o", str(dictionary), "--institution", "测试中心"]
    )
    assert res.exit_code == 0, res.output
    local = tmp_path / "local.yaml"
    local.write_text(f"institution: 测试中心\ndrug_dictionary: {dictionary.name}\n", encoding="utf-8")
    kb = load_knowledge(local=local)
    assert kb.drug_codes is not None and kb.drug_codes["Y002"].drug == "nifedipine"

    def line(code: str, drug: str) -> dict[str, Any]:
        return {
            "drug": drug,
            "code": code,
            "dose": 30,
            "unit": "mg",
            "frequency": "qd",
            "route": "口服",
            "days": 7,
        }

    case = AuditCase.model_validate(
        {
            "id": "C1",
            "patient": {"age": 60, "sex": "M", "diagnoses": [{"name": "高血压", "icd10": "I10"}]},
            "prescription": {
                "items": [
                    line("Y002", "硝苯地平控释片"),
                    line("Y004", "紫杉醇脂质体"),
                    line("Y999", "氨氯地平片"),
                ]
            },
        }
    )
    report = audit(case, kb)
    assert report.coverage == ("full", "none", "none")
    ids = {(f.rule_id, f.items[0]) for f in report.findings if f.items}
    assert ("RX-FMT-007", 1) in ids  # confirmed not covered
    assert ("RX-FMT-011", 2) in ids  # a code the dictionary does not hold is reported, not guessed by name
    assert [i for r, i in ids if r == "RX-FMT-011"] == [2]  # mapped and confirmed codes stay silent
    assert not any(f.rule_id == "RX-FMT-006" and f.items == (0,) for f in report.findings)


def test_apply_rejects_unknown_ids(shipped_kb: Any, tmp_path: Path) -> None:
    sheet = tmp_path / "s.csv"
    with open(sheet, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["药品编码", "通用名", "建议药品ID", "确认(是/否)", "更正药品ID"])
        w.writerow(["Y1", "甲", "amlodipine", "是", "no_such_drug"])
    try:
        apply_review_sheet(sheet, shipped_kb)
    except Exception as exc:  # KnowledgeError naming the row and the id
        assert "no_such_drug" in str(exc) and "第2行" in str(exc)
    else:
        raise AssertionError("unknown drug id accepted")
