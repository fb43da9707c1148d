"""Issue 16: hostile and broken input — nothing lost, nothing passed unchecked, nothing injected."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES
from toolkit.batch import BatchOptions, run_batch
from toolkit.evaluation.hostile import (
    FORMULA_LEADS,
    HEADER,
    bomb_across_scan_boundary,
    deeply_nested_line,
    formula_rows,
    his_row,
    is_live_formula,
    lone_surrogate_id_line,
    lone_surrogate_in_record_line,
    long_number,
    long_number_line,
    many_items,
    minimal_case,
    rows_sharing_one_id,
    surrogate_text_line,
    with_dimension,
    write_his_csv,
    write_his_xlsx,
    write_xlsx_bomb,
)

KB = str(FIXTURES / "kb")


def opts(**kw: Any) -> BatchOptions:
    return BatchOptions(rules_dir=KB, workers=kw.pop("workers", 1), **kw)


def journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


# --------------------------------------------------------------------------- 1. formula injection

HOSTILE_ROWS = formula_rows()


def test_csv_report_neutralises_formula_leading_cells(tmp_path: Path) -> None:
    src = write_his_csv(tmp_path / "rx.csv", HOSTILE_ROWS)
    run_batch(src, tmp_path / "r.csv", "csv", options=opts())
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == len(HOSTILE_ROWS) + 1
    cells = [c for r in rows for c in r]
    assert not [c for c in cells if is_live_formula(c)]
    assert "'=1+1" in cells and "'@SUM(A1)" in cells and "'-2+3" in cells  # kept readable, quoted


def test_excel_report_has_no_formula_in_any_sheet_or_column(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    src = write_his_csv(tmp_path / "rx.csv", HOSTILE_ROWS)
    run_batch(src, tmp_path / "r.xlsx", "xlsx", options=opts())
    wb = load_workbook(tmp_path / "r.xlsx")
    assert len(wb.sheetnames) >= 4  # 统计, 审方明细 and the doctors' sheets
    seen = 0
    for ws in wb.worksheets:
        for r in ws.iter_rows():
            for c in r:
                seen += 1
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                assert not is_live_formula(c.value), (ws.title, c.coordinate, c.value)
    assert seen > 50
    detail = wb["审方明细"]
    assert any(c.value == "'=1+1" for r in detail.iter_rows() for c in r)


def test_neutralise_keeps_numbers_and_plain_text() -> None:
    from toolkit.batch.report import neutralise

    assert neutralise(-5) == -5 and neutralise(3.5) == 3.5 and neutralise("-5") == "-5"
    assert neutralise("-2.5") == "-2.5" and neutralise("阿司匹林") == "阿司匹林" and neutralise("") == ""
    for lead in FORMULA_LEADS:
        assert neutralise(lead + "cmd") == "'" + lead + "cmd"
    assert neutralise("-1+1") == "'-1+1"


# --------------------------------------------------------------------------- 2. honest statuses


def _case(**item: Any) -> Any:
    from toolkit.records import AuditCase

    line = {
        "drug": "苯磺酸氨氯地平片",
        "strength": "5mg",
        "dose": 5,
        "unit": "mg",
        "frequency": "qd",
        "route": "口服",
        "days": 28,
    }
    line.update(item)
    return AuditCase.model_validate(
        {
            "id": "X",
            "patient": {"age": 60, "sex": "M", "diagnoses": [{"name": "原发性高血压", "icd10": "I10"}]},
            "prescription": {"items": [line]},
        }
    )


@pytest.fixture(scope="module")
def fixture_kb() -> Any:
    from toolkit.knowledge import get_knowledge

    return get_knowledge(KB)


@pytest.mark.parametrize(
    "item",
    [
        {"drug": "某某未知药片"},
        {"dose": -5},
        {"dose": 0},
        {"days": 0},
        {"days": -3},
        {"unit": "kg"},
        {"quantity": -1},
    ],
)
def test_a_line_the_engine_could_not_check_is_needs_review(fixture_kb: Any, item: dict[str, Any]) -> None:
    from toolkit.audit import AuditOptions, audit
    from toolkit.records import Severity

    report = audit(_case(**item), fixture_kb)
    assert report.status == "needs_review", (item, report.findings)
    assert any(f.rule_id in {"RX-FMT-007", "RX-FMT-008"} for f in report.findings)  # the reason is shown
    # dropping info findings from the report does not make an unchecked line pass
    quiet = audit(_case(**item), fixture_kb, AuditOptions(min_severity=Severity.WARN))
    assert quiet.status == "needs_review"


def test_a_clean_line_is_still_ok(fixture_kb: Any) -> None:
    from toolkit.audit import audit

    assert audit(_case(), fixture_kb).status == "ok"


def test_batch_counts_needs_review_and_an_unreadable_only_line_is_not_ok(tmp_path: Path) -> None:
    rows = [
        his_row("0001"),
        his_row("0002", drug="某某未知药片"),
        his_row("0003", dose="-5"),
        his_row("0004", days="0"),
        his_row("0005", unit="kg"),
        his_row("0006", dose="abc"),
        his_row("0007"),
        his_row("0007", drug="代文", dose="x"),
    ]
    src = write_his_csv(tmp_path / "rx.csv", rows)
    summary = run_batch(src, tmp_path / "out.jsonl", "jsonl", options=opts())
    lines = {c["id"]: c for c in journal(tmp_path / "out.jsonl")}
    assert lines["0001"]["status"] == "ok"
    for rx in ("0002", "0003", "0004", "0005"):
        assert lines[rx]["status"] == "needs_review", rx
        assert [r["status"] for r in lines[rx]["rows"]] == ["needs_review"]
    assert lines["0006"]["status"] == "error"  # its only line is unreadable: nothing was audited
    assert lines["0007"]["status"] == "needs_review"  # one line audited, one unreadable
    assert [r["status"] for r in lines["0007"]["rows"]] == ["ok", "error"]
    assert summary.rows_needs_review == 4 and summary.rows_error == 2 and summary.rows_ok == 2
    assert summary.cases_needs_review == 5 and summary.cases_error == 1 and summary.cases_ok == 1


def test_reports_show_needs_review_separately(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    rows = [his_row("0001"), his_row("0002", drug="某某未知药片"), his_row("0003", dose="abc")]
    src = write_his_csv(tmp_path / "rx.csv", rows)
    run_batch(src, tmp_path / "r.html", "html", options=opts())
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "需人工审核 1 张" in html and "无法审核 1 张" in html
    run_batch(src, tmp_path / "r.xlsx", "xlsx", options=opts())
    stats = load_workbook(tmp_path / "r.xlsx")["统计"]
    header = [c.value for c in stats[1]]
    assert "需人工审核" in header
    total = next(r for r in stats.iter_rows(values_only=True) if r[0] == "合计")
    assert total[header.index("需人工审核")] == 1 and total[header.index("无法审核")] == 1
    detail = load_workbook(tmp_path / "r.xlsx")["审方明细"]
    assert "需人工审核" in [c.value for c in detail["D"]]
    run_batch(src, tmp_path / "r.csv", "csv", options=opts())
    assert "需人工审核" in (tmp_path / "r.csv").read_text(encoding="utf-8-sig")


# --------------------------------------------------------------------------- 3. decimal commas


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2.5", 2.5), ("1,000", 1000.0), ("12,345.5", 12345.5), ("-5", -5.0), ("  7 ", 7.0)],
)
def test_numbers_read_as_written(text: str, expected: float) -> None:
    from toolkit.batch.readers import _number

    assert _number(text, "dose") == expected


@pytest.mark.parametrize("text", ["2,5", "0,25", "1,00", "1,0000", "2，5", "1,000,5"])
def test_a_comma_that_is_not_a_thousands_separator_is_refused(text: str) -> None:
    from toolkit.batch.readers import _number

    with pytest.raises(ValueError, match="comma"):
        _number(text, "dose")


def test_decimal_comma_in_a_file_is_an_error_row_naming_file_row_field(tmp_path: Path) -> None:
    src = write_his_csv(tmp_path / "rx.csv", [his_row("0001", drug="华法林钠片", dose="2,5")])
    run_batch(src, tmp_path / "out.jsonl", "jsonl", options=opts())
    (case,) = journal(tmp_path / "out.jsonl")
    (r,) = case["rows"]
    assert (
        r["status"] == "error" and "rx.csv" in r["error"] and "row 2" in r["error"] and "'dose'" in r["error"]
    )
    assert "2,5" in r["error"] and case["status"] != "ok"


def test_a_huge_number_is_refused_quickly() -> None:
    import time

    from toolkit.batch.readers import _number

    start = time.perf_counter()
    with pytest.raises(ValueError, match="too long"):
        _number(long_number(), "dose")
    assert time.perf_counter() - start < 0.1


# --------------------------------------------------------------------------- 4. a 处方号 seen again


def test_a_reappearing_prescription_id_is_flagged_with_both_locations(tmp_path: Path) -> None:
    rows = [
        his_row("0001", drug="华法林钠片", dose="2.5"),
        his_row("0002"),
        his_row("0003"),
        his_row("0001", drug="阿司匹林肠溶片", dose="100"),
    ]
    src = write_his_csv(tmp_path / "rx.csv", rows)
    run_batch(src, tmp_path / "out.jsonl", "jsonl", options=opts())
    lines = journal(tmp_path / "out.jsonl")
    assert [c["id"] for c in lines] == ["0001", "0002", "0003", "0001"]  # audited as two prescriptions
    second = lines[3]
    assert second["status"] != "ok"
    (note,) = second["notes"]
    assert "第2行" in note and "第5行" in note
    run_batch(src, tmp_path / "r.csv", "csv", options=opts())
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as fh:
        report = list(csv.DictReader(fh))
    assert "第2行" in report[3]["提示"] and report[3]["状态"] != "通过"
    assert report[0]["提示"] == ""


# --------------------------------------------------------------------------- 5. no line aborts a batch


@pytest.mark.parametrize("workers", [1, 2])
def test_hostile_jsonl_lines_become_error_lines_and_the_batch_goes_on(tmp_path: Path, workers: int) -> None:
    deep = deeply_nested_line("D")
    surrogate = lone_surrogate_id_line(minimal_case("B"), "\\ud800x")
    surrogate_deep = lone_surrogate_in_record_line("C")
    many = many_items(minimal_case("M"), 150)
    src = tmp_path / "cases.jsonl"
    src.write_text(
        "\n".join(
            [
                json.dumps(minimal_case("A")),
                deep,
                surrogate,
                surrogate_deep,
                json.dumps(many),
                json.dumps(minimal_case("Z")),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    summary = run_batch(src, out, "jsonl", options=opts(workers=workers, chunk_size=2))
    lines = journal(out)
    assert [c["status"] for c in lines] == ["ok", "error", "error", "error", "error", "ok"]
    assert "nested too deeply" in lines[1]["error"]
    assert "surrogate" in lines[2]["error"] and "surrogate" in lines[3]["error"]
    assert "limit of 100" in lines[4]["error"] and "max_items" in lines[4]["error"]
    assert summary.cases == 6


def test_an_exception_inside_one_case_is_that_cases_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toolkit.batch.runner as runner

    real = runner.audit

    def exploding(case: Any, *a: Any, **k: Any) -> Any:
        if case.id == "BOOM":
            raise RecursionError("deep")
        return real(case, *a, **k)

    monkeypatch.setattr(runner, "audit", exploding)
    src = tmp_path / "cases.jsonl"
    src.write_text(
        "\n".join(json.dumps(minimal_case(i)) for i in ("A", "BOOM", "C")) + "\n", encoding="utf-8"
    )
    run_batch(src, tmp_path / "out.jsonl", "jsonl", options=opts())
    lines = journal(tmp_path / "out.jsonl")
    assert [c["status"] for c in lines] == ["ok", "error", "ok"]
    assert "RecursionError" in lines[1]["error"] and lines[1]["rows"][0]["line"] == 2


def test_too_many_lines_in_one_prescription_is_an_error_row_naming_the_limit(tmp_path: Path) -> None:
    rows = rows_sharing_one_id(150, "0002", drug="代文", after="0003")
    src = write_his_csv(tmp_path / "rx.csv", rows)
    summary = run_batch(src, tmp_path / "out.jsonl", "jsonl", options=opts(max_items=100))
    lines = journal(tmp_path / "out.jsonl")
    assert [c["status"] for c in lines] == ["ok", "error", "ok"]
    assert "limit of 100" in lines[1]["error"] and len(lines[1]["rows"]) == 150
    assert summary.rows == 152
    run_batch(src, tmp_path / "out2.jsonl", "jsonl", options=opts(max_items=200))
    assert journal(tmp_path / "out2.jsonl")[1]["status"] != "error"


def test_clinic_extract_keeps_going_past_hostile_lines(tmp_path: Path) -> None:
    import time

    from typer.testing import CliRunner

    from toolkit.cli.main import app

    src = tmp_path / "texts.jsonl"
    lines = [
        surrogate_text_line(),
        deeply_nested_line("deep", key="text"),
        long_number_line("digits"),
        json.dumps({"id": "ok", "text": "头痛三天。"}, ensure_ascii=False),
    ]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["extract", str(src), "--format", "jsonl", "-o", str(out)])
    assert result.exit_code == 0, result.output
    got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(got) == 4
    assert "surrogate" in got[0]["error"] and "nested too deeply" in got[1]["error"]
    assert "over the limit of 64" in got[2]["error"] and got[3]["error"] is None
    assert time.perf_counter() - start < 30


# --------------------------------------------------------------------------- 6. spreadsheets, bounded


def test_xlsx_bomb_cell_is_an_error_row_not_a_crash(tmp_path: Path) -> None:
    import subprocess
    import sys

    write_xlsx_bomb(tmp_path / "bomb.xlsx")
    assert (tmp_path / "bomb.xlsx").stat().st_size < 10_000
    # in a child process with a memory cap: an allocation of the whole range would kill it
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30));"
        "from toolkit.batch import run_batch, BatchOptions;"
        f"run_batch({str(tmp_path / 'bomb.xlsx')!r}, {str(tmp_path / 'out.jsonl')!r}, 'jsonl', "
        f"options=BatchOptions(workers=1, rules_dir={KB!r}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (line,) = journal(tmp_path / "out.jsonl")
    assert line["status"] == "error" and "limit" in line["error"] and "CSV" in line["error"]


def test_declared_dimension_over_the_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toolkit.batch.readers as readers

    src = write_his_xlsx(tmp_path / "rx.xlsx", [his_row("0001"), his_row("0002")])
    monkeypatch.setattr(readers, "MAX_XLSX_CELLS", 20)
    (unit,) = list(readers.iter_cases(src))
    assert unit.case is None and "over the limit of 20" in (unit.error or "") and "CSV" in (unit.error or "")


def test_large_sheets_are_streamed_and_read_like_small_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toolkit.batch.readers as readers

    src = write_his_xlsx(tmp_path / "rx.xlsx", [his_row(f"{i:04d}") for i in range(30)])
    small = [(c.id, len(c.case.prescription.items)) for c in readers.iter_cases(src) if c.case]
    assert readers._plan_xlsx(src).stream is False
    monkeypatch.setattr(readers, "XLSX_IN_MEMORY_BYTES", 100)
    assert readers._plan_xlsx(src).stream is True
    streamed = [(c.id, len(c.case.prescription.items)) for c in readers.iter_cases(src) if c.case]
    assert streamed == small and len(small) == 30


def test_other_worksheets_are_listed_as_ignored(tmp_path: Path) -> None:
    src = write_his_xlsx(
        tmp_path / "rx.xlsx", [his_row("0001")], extra={"十二月": [HEADER, his_row("0009")], "空表": []}
    )
    run_batch(src, tmp_path / "out.jsonl", "jsonl", options=opts())
    lines = journal(tmp_path / "out.jsonl")
    assert lines[0]["id"] == "0001"
    ignored = [c for c in lines if c["status"] == "error"]
    assert len(ignored) == 1 and "十二月" in ignored[0]["error"] and "not read" in ignored[0]["error"]


def test_excel_report_splits_past_the_row_limit_and_names_sheets_legally(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from toolkit.batch.report import write_excel

    rows = [his_row(f"{i:04d}", doctor="History" if i % 2 else "a/b:c*?[d]'") for i in range(25)]
    src = write_his_csv(tmp_path / "rx.csv", rows)
    run_batch(src, tmp_path / "out.jsonl", "jsonl", options=opts())
    write_excel(tmp_path / "out.jsonl", tmp_path / "r.xlsx", max_rows=10)
    wb = load_workbook(tmp_path / "r.xlsx")
    details = [n for n in wb.sheetnames if n.startswith("审方明细")]
    assert details == ["审方明细", "审方明细 (2)", "审方明细 (3)"]
    assert sum(wb[n].max_row - 1 for n in details) == 25
    for name in wb.sheetnames:
        assert len(name) <= 31 and not set(name) & set("[]:*?/\\") and not name.startswith("'")
        assert name.lower() != "history"
    assert all(ws.max_row <= 10 for ws in wb.worksheets)


def test_a_lying_dimension_loses_no_row_when_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toolkit.batch.readers as readers

    src = write_his_xlsx(tmp_path / "rx.xlsx", [his_row(f"{i:04d}") for i in range(12)])
    lying = with_dimension(src, "A1:C3", tmp_path / "lying.xlsx")
    monkeypatch.setattr(readers, "XLSX_IN_MEMORY_BYTES", 100)  # force the streaming reader
    cases = [c for c in readers.iter_cases(lying) if c.case]
    assert len(cases) == 12 and cases[-1].case.prescription.items[0].days == 28


def test_a_bomb_reference_cut_by_the_scan_block_boundary_is_still_seen(tmp_path: Path) -> None:
    import zipfile

    from toolkit.batch import readers

    for cut in (3, 11, 20):  # the reference starts this many bytes before the 1 MiB boundary
        xml = bomb_across_scan_boundary(cut)
        assert xml.index(b'<c r="XFD') == (1 << 20) - cut
        path = tmp_path / f"s{cut}.zip"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("xl/worksheets/sheet1.xml", xml)
        with zipfile.ZipFile(path) as z:
            assert readers._scan_sheet(z, "xl/worksheets/sheet1.xml")[2:] == (1_048_576, 16_384)
