"""Batch audit of files: encodings, formats, bad rows, grouping, resume, reports, parallel == serial."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES
from toolkit.batch import BatchOptions, iter_cases, load_column_map, run_batch
from toolkit.batch.runner import _complete_lines
from toolkit.errors import InputError

KB = str(FIXTURES / "kb")
HEADER = [
    "处方号",
    "患者",
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
    [
        "0001",
        "P1",
        "68",
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
    [
        "0001",
        "P1",
        "68",
        "男",
        "原发性高血压(I10)",
        "代文",
        "80mg",
        "80",
        "mg",
        "qd",
        "口服",
        "28",
        "王医生",
        "全科",
    ],
    [
        "0002",
        "P2",
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
    [
        "0003",
        "P3",
        "50",
        "男",
        "原发性高血压(I10)",
        "苯磺酸氨氯地平片",
        "5mg",
        "abc",
        "mg",
        "qd",
        "口服",
        "28",
        "李医生",
        "全科",
    ],
    [
        "0003",
        "P3",
        "50",
        "男",
        "原发性高血压(I10)",
        "苯磺酸氨氯地平片",
        "5mg",
        "5",
        "mg",
        "tid",
        "口服",
        "28",
        "李医生",
        "全科",
    ],
    [
        "",
        "P4",
        "50",
        "男",
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
]


def write_csv(path: Path, encoding: str, rows: list[list[str]] = ROWS) -> Path:
    text = "\n".join(",".join(r) for r in [HEADER, *rows]) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def opts(**kw: Any) -> BatchOptions:
    return BatchOptions(rules_dir=KB, workers=kw.pop("workers", 1), **kw)


def journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_and_every_row_has_a_status(tmp_path: Path, encoding: str) -> None:
    src = write_csv(tmp_path / "rx.csv", encoding)
    out = tmp_path / "out.jsonl"
    summary = run_batch(src, out, "jsonl", options=opts())
    lines = journal(out)
    rows = [r for case in lines for r in case["rows"]]
    assert sorted(r["line"] for r in rows) == list(range(2, 2 + len(ROWS)))  # nothing dropped
    assert summary.rows == len(ROWS) and summary.rows_ok + summary.rows_flagged + summary.rows_error == len(
        ROWS
    )
    by_line = {r["line"]: r for r in rows}
    assert by_line[2]["status"] == by_line[3]["status"] == "ok"  # a clean two-drug prescription
    assert by_line[4]["status"] == "flagged"  # amoxicillin 14 days, no skin test
    assert (
        by_line[5]["status"] == "error" and "rx.csv" in by_line[5]["error"] and "row 5" in by_line[5]["error"]
    )
    assert "'dose'" in by_line[5]["error"] and "abc" in by_line[5]["error"]
    assert by_line[6]["status"] == "flagged"  # the good row of that prescription is still audited (tid)
    assert by_line[7]["status"] == "error" and "处方号" in by_line[7]["error"]
    ids = [c["id"] for c in lines]
    assert ids[:3] == ["0001", "0002", "0003"]  # codes read as text: leading zeros kept


def test_prescription_rows_are_grouped_and_patient_read(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "rx.csv", "utf-8")
    cases = [c for c in iter_cases(src) if c.case is not None]
    first = cases[0].case
    assert first.id == "0001" and len(first.prescription.items) == 2
    assert first.patient.age == 68 and first.patient.sex == "M"
    assert first.patient.diagnoses[0].icd10 == "I10" and first.patient.diagnoses[0].name == "原发性高血压"
    assert cases[0].prescriber == "王医生"


def test_missing_required_column_is_a_file_error(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("编号,名字\n1,阿莫西林\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"required column\(s\) missing: rx_id, drug"):
        list(iter_cases(src))


def test_column_map_renames_columns(tmp_path: Path) -> None:
    src = tmp_path / "his.csv"
    src.write_text(
        "RXNO,ITEM,SPEC,QTY,UNIT,FREQ,WAY,DAYS,AGE,DX\n9,苯磺酸氨氯地平片,5mg,5,mg,qd,口服,28,60,I10\n",
        encoding="utf-8",
    )
    cmap = tmp_path / "map.yaml"
    cmap.write_text(
        "RXNO: rx_id\nITEM: drug\nSPEC: strength\nQTY: dose\nUNIT: unit\nFREQ: frequency\n"
        "WAY: route\nDAYS: days\nAGE: age\nDX: icd10\n",
        encoding="utf-8",
    )
    (case,) = list(iter_cases(src, load_column_map(cmap)))
    assert case.case is not None and case.case.prescription.items[0].dose == 5
    assert case.case.patient.diagnoses[0].icd10 == "I10"
    bad = tmp_path / "bad.yaml"
    bad.write_text("RXNO: rx_number\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown field 'rx_number'"):
        load_column_map(bad)


def test_excel_and_parquet_read_like_csv(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")  # Parquet input is the [parquet] extra
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(ROWS[:3], columns=HEADER)
    df.to_excel(tmp_path / "rx.xlsx", index=False)
    df.to_parquet(tmp_path / "rx.parquet", index=False)
    for name in ("rx.xlsx", "rx.parquet"):
        cases = list(iter_cases(tmp_path / name))
        assert [c.id for c in cases] == ["0001", "0002"], name
        assert cases[0].case is not None and len(cases[0].case.prescription.items) == 2


def test_nested_jsonl_bad_lines_come_back_as_errors(tmp_path: Path) -> None:
    src = tmp_path / "cases.jsonl"
    good = {
        "id": "A",
        "patient": {"age": 60, "diagnoses": [{"name": "高血压", "icd10": "I10"}]},
        "prescription": {
            "items": [
                {
                    "drug": "苯磺酸氨氯地平片",
                    "dose": 5,
                    "unit": "mg",
                    "frequency": "qd",
                    "route": "口服",
                    "days": 28,
                }
            ]
        },
    }
    src.write_text(
        "\n".join(
            [
                json.dumps(good, ensure_ascii=False),
                "{not json",
                json.dumps({**good, "id": "B", "patient": {"age": -3}}),
                json.dumps({**good, "id": "C", "colour": "red"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    run_batch(src, out, "jsonl", options=opts())
    lines = journal(out)
    # an extra field never costs the case (issue 14): it is set aside and named in the remarks
    assert [x["status"] for x in lines] == ["ok", "error", "error", "ok"]
    assert "row 2" in lines[1]["error"] and "JSON" in lines[1]["error"]
    assert "patient.age" in lines[2]["error"]
    assert "colour" in " ".join(lines[3]["remarks"]) and lines[3]["error"] is None


def test_empty_file_gives_empty_report(tmp_path: Path) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_text("", encoding="utf-8")
    summary = run_batch(src, tmp_path / "out.jsonl", "jsonl", options=opts())
    assert summary.cases == 0 and (tmp_path / "out.jsonl").read_text() == ""


def test_wrong_encoding_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "latin.csv"
    src.write_bytes(b"\xff\xfe\x00\x00" * 10)
    with pytest.raises(InputError, match=r"latin\.csv"):
        list(iter_cases(src))


def test_resume_after_interruption_has_no_duplicates(tmp_path: Path) -> None:
    rows = [
        [
            f"{i:05d}",
            "P",
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
        ]
        for i in range(50)
    ]
    src = write_csv(tmp_path / "rx.csv", "utf-8", rows)
    full = tmp_path / "full.jsonl"
    run_batch(src, full, "jsonl", options=opts())
    part = tmp_path / "part.jsonl"
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    part.write_text("".join(lines[:20]) + lines[20][:37], encoding="utf-8")  # killed mid-line
    assert _complete_lines(part) == 20
    summary = run_batch(src, part, "jsonl", options=opts(resume=True))
    assert summary.resumed_cases == 20 and summary.cases == 50
    assert part.read_text(encoding="utf-8") == full.read_text(encoding="utf-8")


def test_parallel_output_equals_serial(tmp_path: Path) -> None:
    rows = ROWS * 30
    rows = [[f"{i:04d}", *r[1:]] if r[0] else r for i, r in enumerate(rows)]
    src = write_csv(tmp_path / "rx.csv", "utf-8", rows)
    run_batch(src, tmp_path / "a.jsonl", "jsonl", options=opts(workers=1))
    run_batch(src, tmp_path / "b.jsonl", "jsonl", options=opts(workers=2, chunk_size=7))
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


def test_reports_excel_html_csv(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    src = write_csv(tmp_path / "rx.csv", "utf-8")
    run_batch(src, tmp_path / "r.xlsx", "xlsx", options=opts())
    wb = load_workbook(tmp_path / "r.xlsx")
    assert wb.sheetnames[:2] == ["统计", "审方明细"] and "王医生" in wb.sheetnames
    detail = wb["审方明细"]
    header = [c.value for c in detail[1]]
    assert header[:4] == ["行号", "处方号", "药品", "状态"]
    assert detail.max_row == len(ROWS) + 1
    colours = {detail.cell(row=r, column=1).fill.fgColor.rgb for r in range(2, detail.max_row + 1)}
    assert any(c and c.endswith("FFEB9C") for c in colours)  # a warn row is yellow
    stats = wb["统计"]
    assert stats["A1"].value == "医生" and stats["D1"].value == "不合理处方率"
    assert not (tmp_path / "r.xlsx.journal.jsonl").exists()
    run_batch(src, tmp_path / "r.html", "html", options=opts())
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "不合理处方率" in html and "王医生" in html and "<script" not in html
    run_batch(src, tmp_path / "r.csv", "csv", options=opts())
    text = (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()
    assert text[0].startswith("行号,处方号,药品,状态") and len(text) == len(ROWS) + 1


def test_flat_jsonl_drug_lines_are_grouped_and_bad_lines_kept(tmp_path: Path) -> None:
    src = tmp_path / "lines.jsonl"
    line = {
        "处方号": "7",
        "年龄": 60,
        "诊断": "原发性高血压(I10)",
        "药品名称": "苯磺酸氨氯地平片",
        "单次剂量": 5,
        "剂量单位": "mg",
        "频次": "qd",
        "给药途径": "口服",
        "天数": 28,
    }
    src.write_text(
        "\n".join(
            [
                json.dumps(line, ensure_ascii=False),
                json.dumps({**line, "药品名称": "代文", "规格": "80mg", "单次剂量": 80}, ensure_ascii=False),
                "[1, 2",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    cases = list(iter_cases(src))
    assert cases[0].id == "7" and cases[0].case is not None and len(cases[0].case.prescription.items) == 2
    assert cases[1].case is None and "not valid JSON" in (cases[1].error or "")
