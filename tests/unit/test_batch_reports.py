"""Reports as a pharmacist expects them (issue 14, issue 18 §1, issue 19): Excel layout, percentages,
Chinese labels, coverage section and a 审核覆盖 column on every line; HTML all Chinese."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from toolkit.batch import BatchOptions, run_batch
from toolkit.labels import CATEGORY_LABELS, COVERAGE_LABELS
from toolkit.records import Category

HEADER = [
    "处方号",
    "年龄",
    "性别",
    "诊断",
    "药品名称",
    "规格",
    "单次剂量",
    "剂量单位",
    "频次",
    "给药途径",
    "天数",
    "医生",
    "科室",
]
ROWS = [
    # clean, fully covered
    [
        "1",
        "60",
        "男",
        "原发性高血压(I10)",
        "苯磺酸氨氯地平片",
        "5mg",
        "5",
        "mg",
        "qd",
        "口服",
        "28",
        "王医生",
        "全科",
    ],
    # not covered twice (the most frequent uncovered drug), once beside a covered one
    [
        "2",
        "60",
        "男",
        "原发性高血压(I10)",
        "某某未知药片",
        "1片",
        "1",
        "片",
        "qd",
        "口服",
        "7",
        "王医生",
        "全科",
    ],
    [
        "3",
        "60",
        "女",
        "原发性高血压(I10)",
        "某某未知药片",
        "1片",
        "1",
        "片",
        "qd",
        "口服",
        "7",
        "李医生",
        "全科",
    ],
    [
        "3",
        "60",
        "女",
        "原发性高血压(I10)",
        "苯磺酸氨氯地平片",
        "5mg",
        "5",
        "mg",
        "qd",
        "口服",
        "28",
        "李医生",
        "全科",
    ],
    # an amoxicillin line without a skin test, 14 days: flagged
    [
        "4",
        "45",
        "女",
        "急性支气管炎(J20.9)",
        "阿莫西林胶囊",
        "0.5g",
        "1",
        "粒",
        "tid",
        "口服",
        "14",
        "李医生",
        "全科",
    ],
    # unreadable dose: an error row, not audited
    [
        "5",
        "50",
        "男",
        "原发性高血压(I10)",
        "苯磺酸氨氯地平片",
        "5mg",
        "两片",
        "mg",
        "qd",
        "口服",
        "28",
        "李医生",
        "全科",
    ],
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("reports")
    src = d / "rx.csv"
    src.write_text("\n".join(",".join(r) for r in [HEADER, *ROWS]) + "\n", encoding="utf-8")
    for suffix in ("xlsx", "html", "csv", "jsonl"):
        run_batch(src, d / f"r.{suffix}", suffix, options=BatchOptions(workers=1))
    return d


def test_excel_layout_a_pharmacist_expects(reports: Path) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(reports / "r.xlsx")
    assert wb.sheetnames[:2] == ["统计", "审方明细"] and {"王医生", "李医生"} <= set(wb.sheetnames)
    detail = wb["审方明细"]
    assert detail.freeze_panes == "A2"
    assert (
        detail.auto_filter.ref
        == f"A1:{detail.cell(row=1, column=detail.max_column).column_letter}{detail.max_row}"
    )
    assert detail.column_dimensions["H"].width >= 40  # 问题
    header = [c.value for c in detail[1]]
    assert "审核覆盖" in header
    stats = wb["统计"]
    assert stats.freeze_panes == "A2" and stats.auto_filter.ref
    assert stats["D1"].value == "不合理处方率"
    rate_cells = [r[3] for r in stats.iter_rows(min_row=2) if r[0].value == "合计"]
    assert rate_cells and rate_cells[0].number_format == "0.0%" and 0 < rate_cells[0].value <= 1
    doctor = wb["李医生"]
    assert doctor.freeze_panes and doctor.auto_filter.ref


def test_excel_labels_are_chinese(reports: Path) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(reports / "r.xlsx")
    values = [
        str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None
    ]
    codes = {c.value for c in Category} | {
        "ok",
        "flagged",
        "needs_review",
        "error",
        "block",
        "warn",
        "info",
        "full",
        "class",
        "none",
    }
    assert not codes & set(values), codes & set(values)
    assert CATEGORY_LABELS[Category.SKIN_TEST] in values or any("皮试" in v for v in values)


def test_coverage_section_and_column(reports: Path) -> None:
    from openpyxl import load_workbook

    stats = load_workbook(reports / "r.xlsx")["统计"]
    rows = [[c.value for c in r] for r in stats.iter_rows()]
    start = next(i for i, r in enumerate(rows) if r[0] and str(r[0]).startswith("审核覆盖"))
    levels = {r[0]: (r[1], r[2]) for r in rows[start + 1 : start + 4]}
    assert set(levels) == set(COVERAGE_LABELS.values())
    assert levels["未收录"][0] == 2 and levels["未收录"][1] == pytest.approx(
        2 / 5
    )  # 5 audited lines, 1 error row
    top = next(i for i, r in enumerate(rows) if r[0] and str(r[0]).startswith("最常见的未收录药品"))
    assert rows[top + 1][:2] == ["某某未知药片", 2]

    with (reports / "r.csv").open(encoding="utf-8-sig") as fh:
        lines = list(csv.DictReader(fh))
    by_drug = {(r["处方号"], r["药品"]): r["审核覆盖"] for r in lines}
    assert by_drug[("2", "某某未知药片")] == "未收录" and by_drug[("1", "苯磺酸氨氯地平片")] == "完整审核"
    assert by_drug[("5", "苯磺酸氨氯地平片")] == "未审核"  # an error row: no check ran
    assert all(r["审核覆盖"] for r in lines)


def test_html_is_all_chinese(reports: Path) -> None:
    html = (reports / "r.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>|\{[^}]*\}", " ", re.sub(r"<style>.*?</style>", " ", html, flags=re.S))
    text = re.sub(r"&#39;[A-Za-z_]+&#39;", " ", text)  # a quoted field key ('dose'（单次剂量）) is a code
    words = set(re.findall(r"[A-Za-z_]{4,}", text))
    allowed = {"YaHei"}  # none expected in the text, kept for fonts only
    # rule ids (RX-…), file names and numbers are codes a pharmacist quotes; no English words otherwise
    assert not {w for w in words if w not in allowed and not w.isupper()}, words
    assert "审核覆盖" in html and "未收录" in html and "某某未知药片" in html
    assert "分母" in html  # the rate states its denominator


def test_a_row_without_prescription_id_counts_under_its_doctor(tmp_path: Path) -> None:
    from toolkit.batch.report import collect_stats

    src = tmp_path / "rx.csv"
    rows = [ROWS[0], ["", *ROWS[0][1:-2], "李医生", "全科"]]
    src.write_text("\n".join(",".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    run_batch(src, tmp_path / "o.jsonl", "jsonl", options=BatchOptions(workers=1))
    _total, doctors = collect_stats(tmp_path / "o.jsonl")
    assert "(未填写)" not in doctors and doctors["李医生"].errors == 1
