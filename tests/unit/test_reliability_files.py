"""Malformed files (issue 7): every row comes back with a status and the run never aborts, or the
whole file is refused at once with an error that names it. Small inputs; the full-size runs are in
eval/reliability.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import FIXTURES, ROOT
from toolkit.batch import BatchOptions, run_batch
from toolkit.errors import InputError
from toolkit.evaluation.hostile import cut_in_half

KB = str(FIXTURES / "kb")
HEADER = "处方号,患者,年龄,药品名称,单次剂量,剂量单位,频次,给药途径,天数\n"
LINE = "{rx},P1,60,苯磺酸氨氯地平片,{dose},{unit},qd,口服,28\n"


def body(n: int, dose: str = "5", unit: str = "mg") -> str:
    return "".join(LINE.format(rx=f"{i:04d}", dose=dose, unit=unit) for i in range(1, n + 1))


def audit_rows(src: Path, **kw: object) -> list[dict]:
    out = src.with_suffix(".out.jsonl")
    summary = run_batch(src, out, "jsonl", options=BatchOptions(workers=1, rules_dir=KB, **kw))  # type: ignore[arg-type]
    rows = [r for line in out.open(encoding="utf-8") for r in json.loads(line)["rows"]]
    assert summary.rows == len(rows)
    return rows


def test_a_corrupt_byte_costs_one_row_not_the_file(tmp_path: Path) -> None:
    data = (HEADER + body(3000)).encode("gb18030")
    cut = data.index(b"\n2500,") + 1  # row 2500 is line 2501, well past the 64 KiB sniffed
    src = tmp_path / "gbk.csv"
    src.write_bytes(data[: cut + 8] + b"\xff" + data[cut + 8 :])
    rows = audit_rows(src)
    assert [r["line"] for r in rows] == list(range(2, 3002))
    bad = [r for r in rows if r["status"] == "error"]
    assert (
        [r["line"] for r in bad] == [2501]
        and "row 2501" in bad[0]["error"]
        and "re-export" in bad[0]["error"]
    )


def test_corrupt_bytes_in_the_sniffed_head_still_read(tmp_path: Path) -> None:
    data = (HEADER + body(5)).encode("gb18030")
    cut = data.index(b"\n0003,") + 3
    src = tmp_path / "gbk_head.csv"
    src.write_bytes(data[:cut] + b"\xff\xff" + data[cut:])
    rows = audit_rows(src)
    assert [(r["line"], r["status"]) for r in rows if r["status"] == "error"] == [(4, "error")]
    assert len(rows) == 5


@pytest.mark.parametrize(
    "data, match",
    [
        ((HEADER + body(3)).encode("utf-16"), "UTF-16"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "not a UTF-8 or GBK|neither UTF-8"),
    ],
)
def test_wrong_encoding_is_refused_naming_the_file(tmp_path: Path, data: bytes, match: str) -> None:
    src = tmp_path / "export.csv"
    src.write_bytes(data)
    with pytest.raises(InputError, match=match) as err:
        run_batch(src, tmp_path / "o.jsonl", "jsonl", options=BatchOptions(workers=1, rules_dir=KB))
    assert "export.csv" in str(err.value)


def test_empty_and_header_only_files_give_empty_reports(tmp_path: Path) -> None:
    for name, text in (("empty.csv", ""), ("header.csv", HEADER), ("blank.csv", HEADER + "\n,,,\n\n")):
        src = tmp_path / name
        src.write_text(text, encoding="utf-8")
        assert audit_rows(src) == []


def test_missing_and_renamed_columns(tmp_path: Path) -> None:
    src = tmp_path / "renamed.csv"
    src.write_text(HEADER.replace("药品名称", "品名") + body(2), encoding="utf-8")
    with pytest.raises(InputError, match=r"required column.*drug.*品名"):
        audit_rows(src)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("品名: drug\n", encoding="utf-8")
    from toolkit.batch import load_column_map

    out = tmp_path / "o.jsonl"
    run_batch(src, out, "jsonl", load_column_map(mapping), BatchOptions(workers=1, rules_dir=KB))
    assert sum(len(json.loads(line)["rows"]) for line in out.open(encoding="utf-8")) == 2


def test_duplicated_ids_short_rows_long_rows_and_absurd_values(tmp_path: Path) -> None:
    text = (
        HEADER
        + LINE.format(rx="0001", dose="5", unit="mg")
        + LINE.format(rx="0002", dose="-5", unit="mg")
        + LINE.format(rx="0001", dose="5", unit="mg")  # 0001 again, after 0002
        + LINE.format(rx="0003", dose="10000", unit="片")
        + "0004,P1\n"  # short row: no drug
        + LINE.format(rx="0005", dose="5", unit="mg").rstrip("\n")
        + ",extra,cells\n"
        + LINE.format(rx="0006", dose="1e309", unit="mg")
        + LINE.format(rx="0007", dose="5", unit="mg").replace("60", "-3")
    )
    src = tmp_path / "odd.csv"
    src.write_text(text, encoding="utf-8")
    rows = {r["line"]: r for r in audit_rows(src)}
    assert sorted(rows) == list(range(2, 10))
    assert rows[3]["status"] != "ok" and rows[5]["status"] != "ok"  # negative dose, 10,000 tablets
    assert rows[6]["status"] == "error" and "drug" in rows[6]["error"]
    assert rows[7]["status"] == "error" and "more cells" in rows[7]["error"]
    assert rows[8]["status"] == "error" and "finite" in rows[8]["error"]
    assert rows[9]["status"] != "ok"  # age -3


def test_a_cell_over_the_csv_field_limit_is_one_error_row(tmp_path: Path) -> None:
    huge = "x" * 200_000  # csv.field_size_limit() is 131,072
    src = tmp_path / "huge.csv"
    src.write_text(
        HEADER + body(2) + f'0003,P1,60,"{huge}",5,mg,qd,口服,28\n' + body(1).replace("0001", "0004"),
        encoding="utf-8",
    )
    rows = {r["line"]: r["status"] for r in audit_rows(src)}
    assert rows[4] == "error" and rows[2] != "error" and rows[5] != "error" and len(rows) == 4


def test_cr_only_line_ends(tmp_path: Path) -> None:
    src = tmp_path / "mac.csv"
    src.write_bytes((HEADER + body(3)).replace("\n", "\r").encode("utf-8"))
    assert [r["line"] for r in audit_rows(src)] == [2, 3, 4]


def test_truncated_excel_is_refused_clearly(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    for line in (HEADER + body(300)).splitlines():
        ws.append(line.split(","))
    full = tmp_path / "full.xlsx"
    wb.save(full)
    assert len(audit_rows(full)) == 300
    cut = cut_in_half(full, tmp_path / "cut.xlsx")
    with pytest.raises(InputError, match=r"cut\.xlsx.*cannot read Excel"):
        audit_rows(cut)


_RSS_PROBE = """
import sys
from pathlib import Path
from toolkit.batch.readers import iter_units
status = Path("/proc/self/status")
Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) after the imports
n = sum(1 for _ in iter_units(sys.argv[1]))
hwm = next(int(x.split()[1]) for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
print(n, hwm)
"""


def _peak_rss_kib(src: Path) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_reading_is_streamed_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    small.write_text(HEADER + body(2_000), encoding="utf-8")
    big.write_text(HEADER + body(400_000), encoding="utf-8")  # ~22 MB, 200× the rows, 400,000 distinct ids
    n_small, rss_small = _peak_rss_kib(small)
    n_big, rss_big = _peak_rss_kib(big)
    assert (n_small, n_big) == (2_000, 400_000)
    # keeping the rows, or every id seen, would grow by 40+ MB here; streaming stays within a few MB
    assert rss_big - rss_small < 12 * 1024, (rss_small, rss_big)
