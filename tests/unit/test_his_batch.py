"""Batch files as HIS vendors write them (issue 14): ages with units, column synonyms, unmapped columns,
frequencies and routes with notes, unknown labs and extra fields kept as notes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from toolkit.batch import BatchOptions, iter_cases, run_batch
from toolkit.batch.readers import (
    DEFAULT_COLUMNS,
    HIS_COLUMN_SYNONYMS,
    patient_age,
    split_usage,
    unmapped_columns,
)
from toolkit.units import parse_age, parse_frequency, parse_route


def opts(**kw: Any) -> BatchOptions:  # the shipped knowledge base: coverage needs real tiers
    return BatchOptions(workers=1, **kw)


def journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def csv_file(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- ages


@pytest.mark.parametrize(
    ("text", "years", "infant"),
    [
        ("76", 76, False),
        ("76岁", 76, False),
        ("65 岁", 65, False),
        ("76Y", 76, False),
        ("8月", 8 * 30.4375 / 365.25, True),
        ("8个月", 8 * 30.4375 / 365.25, True),
        ("3天", 3 / 365.25, True),
        ("2周", 14 / 365.25, True),
        ("1岁3个月", 1.25, True),
        ("3月15天", (3 * 30.4375 + 15) / 365.25, True),
    ],
)
def test_ages_with_units(text: str, years: float, infant: bool) -> None:
    age = parse_age(text)
    assert age is not None and age.years == pytest.approx(years) and age.infant is infant and age.text


@pytest.mark.parametrize("text", ["", "abc", "-3", "200岁", "1岁3", "3月1岁", "1岁1岁", "岁", "七十六"])
def test_unreadable_ages_are_refused(text: str) -> None:
    assert parse_age(text) is None


def test_age_from_birth_date_and_infant_age_kept_as_written() -> None:
    remarks: list[str] = []
    assert patient_age(None, "1950-03-01", "2026-12-07", remarks) == pytest.approx(76.77, abs=0.01)
    assert remarks == []
    assert patient_age(None, "2026/10/01", "2026年12月7日", remarks) == pytest.approx(67 / 365.25)
    assert remarks and "月" in remarks[0] and "天" in remarks[0]
    remarks.clear()
    assert patient_age("8月", "2026-01-01", "2026-12-07", remarks) == pytest.approx(8 * 30.4375 / 365.25)
    assert "8月" in remarks[0] and "第六条" in remarks[0]  # 处方管理办法 第六条: 日/月龄 as written
    remarks.clear()
    assert patient_age(None, "1950-03-01", None, remarks) is None and "开方日期" in remarks[0]
    with pytest.raises(ValueError, match="年龄"):
        patient_age("老年", None, None, [])
    with pytest.raises(ValueError, match="出生日期"):
        patient_age(None, "2027-01-01", "2026-12-07", [])


# --------------------------------------------------------------------------- frequencies and routes


@pytest.mark.parametrize(
    ("text", "code", "per_day", "note"),
    [
        ("qd(晨服)", "qd", 1, "晨服"),
        ("qd（晨服）", "qd", 1, "晨服"),
        ("每晚睡前一次", "qn", 1, "睡前"),
        ("q6h prn(体温≥38.5℃)", "q6h prn", 4, "体温≥38.5℃"),
        ("tid(三餐前)", "tid", 3, "三餐前"),
        ("3次/日", "tid", 3, None),
        ("每日一次晨服", "qd", 1, "晨服"),
        ("q8h(必要时)", "q8h prn", 3, None),
        ("qd", "qd", 1, None),
        ("q6h prn", "q6h prn", 4, None),
    ],
)
def test_frequencies_as_his_systems_write_them(
    text: str, code: str, per_day: float, note: str | None
) -> None:
    f = parse_frequency(text)
    assert f is not None and f.code == code and f.per_day == per_day and f.note == note


@pytest.mark.parametrize(
    ("text", "route", "note"),
    [
        ("口服(随餐)", "口服", "随餐"),
        ("口服（与第一口饭同嚼服）", "口服", "与第一口饭同嚼服"),
        ("口服", "口服", None),
        ("口服 饭后", "口服", "饭后"),
        ("嚼服", "嚼服", None),
        ("静滴(慢)", "静脉滴注", "慢"),
        ("鼻腔喷入", "鼻喷", None),
        ("鼻腔喷雾(每侧)", "鼻喷", "每侧"),
    ],
)
def test_routes_with_notes(text: str, route: str, note: str | None) -> None:
    assert parse_route(text) == (route, note)


def test_unknown_route_and_frequency_are_still_refused() -> None:
    assert parse_route("随便(x)") == (None, None) and parse_frequency("看情况(晨服)") is None


def test_usage_column_is_split_and_kept() -> None:
    out = split_usage("一次0.5g，一日3次，口服")
    assert (
        out["dose"] == "0.5"
        and out["unit"] == "g"
        and out["frequency"] == "一日3次"
        and out["route"] == "口服"
    )
    assert out["note"] == "一次0.5g，一日3次，口服"


# --------------------------------------------------------------------------- columns

HIS_HEADER = [
    "处方编号",
    "病人ID",
    "年龄",
    "性别",
    "临床诊断",
    "药品通用名",
    "药品规格",
    "每次用量",
    "用量单位",
    "给药频率",
    "用法",
    "用药天数",
    "医生姓名",
    "科室名称",
    "出生日期",
    "医保类型",
    "药品编码",
]


def his_rows() -> list[list[str]]:
    base = [
        "P1",
        "76岁",
        "男",
        "原发性高血压(I10)",
        "苯磺酸氨氯地平片",
        "5mg",
        "5",
        "mg",
        "qd(晨服)",
        "口服(随餐)",
        "28",
        "王医生",
        "全科门诊",
        "1950-03-01",
        "职工医保",
        "X001",
    ]
    return [["0001", *base]]


def test_synonyms_map_every_common_his_column() -> None:
    for field, names in HIS_COLUMN_SYNONYMS.items():
        for name in names:
            assert DEFAULT_COLUMNS[name] == field
    for col, field in [
        ("每次用量", "dose"),
        ("单次用量", "dose"),
        ("用量", "dose"),
        ("医生姓名", "prescriber"),
        ("开单医生", "prescriber"),
        ("科室名称", "department"),
        ("就诊科室", "department"),
        ("出生日期", "birth_date"),
        ("药品编码", "code"),
        ("药品规格", "strength"),
        ("给药频率", "frequency"),
        ("用法用量", "usage"),
    ]:
        assert DEFAULT_COLUMNS[col] == field, col


def test_unmapped_columns_listed_once() -> None:
    cols = unmapped_columns(
        ["处方号", "药品名称", "医保类型", "医保类型", "单价", "剂量", "每次用量"], DEFAULT_COLUMNS
    )
    assert cols[:2] == ["医保类型", "单价"] and len(cols) == 3 and "每次用量" in cols[2]  # second dose column


def test_his_export_reads_clean_with_no_false_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's case: 76岁, 每次用量, 医生姓名, 科室名称, qd(晨服), 口服(随餐) — a clean prescription."""
    src = csv_file(tmp_path / "his.csv", HIS_HEADER, his_rows())
    out = tmp_path / "out.csv"
    with caplog.at_level(logging.WARNING):
        summary = run_batch(src, out, "csv", options=opts())
    warned = [r.getMessage() for r in caplog.records if "医保类型" in r.getMessage()]
    (case,) = list(iter_cases(src))
    assert case.case is not None and case.error is None
    assert case.case.patient.age == 76 and case.prescriber == "王医生" and case.department == "全科门诊"
    item = case.case.prescription.items[0]
    assert item.dose == 5 and item.code == "X001" and item.strength == "5mg"
    assert summary.cases_ok == 1, out.read_text(
        encoding="utf-8-sig"
    )  # no 缺少单次剂量, no unrecognised warnings
    assert len(warned) == 1 and "医保类型" in summary.notes[0]


def test_unmapped_columns_appear_in_excel_and_html_notes(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    src = csv_file(tmp_path / "his.csv", HIS_HEADER, his_rows())
    run_batch(src, tmp_path / "r.xlsx", "xlsx", options=opts())
    cells = [
        c.value for row in load_workbook(tmp_path / "r.xlsx")["统计"].iter_rows() for c in row if c.value
    ]
    assert any(isinstance(v, str) and "医保类型" in v for v in cells)
    run_batch(src, tmp_path / "r.html", "html", options=opts())
    assert "医保类型" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_infant_age_in_months_is_audited_and_kept_as_written(tmp_path: Path) -> None:
    rows = [
        [
            "0002",
            "P2",
            "8月",
            "女",
            "急性上呼吸道感染(J06.9)",
            "对乙酰氨基酚片",
            "0.5g",
            "1",
            "片",
            "q6h prn",
            "口服",
            "3",
            "李医生",
            "儿科",
            "",
            "",
            "",
        ]
    ]
    src = csv_file(tmp_path / "kid.csv", HIS_HEADER, rows)
    run_batch(src, tmp_path / "o.jsonl", "jsonl", options=opts())
    (line,) = journal(tmp_path / "o.jsonl")
    assert line["status"] != "error" and any("8月" in r for r in line["remarks"])


def test_unknown_labs_and_extra_fields_never_cost_the_case(tmp_path: Path) -> None:
    case = {
        "id": "L1",
        "patient": {
            "age": 60,
            "labs": {"egfr": 80, "ft4": 12.1, "calcium": 2.3, "eos": 0.1},
            "医保类型": "职工",
        },
        "prescription": {
            "items": [
                {
                    "drug": "苯磺酸氨氯地平片",
                    "dose": 5,
                    "unit": "mg",
                    "frequency": "qd",
                    "route": "口服",
                    "days": 28,
                    "单价": 1.2,
                }
            ],
            "科室编码": "01",
        },
        "visit_no": "123",
    }
    src = tmp_path / "cases.jsonl"
    src.write_text(json.dumps(case, ensure_ascii=False) + "\n", encoding="utf-8")
    run_batch(src, tmp_path / "o.jsonl", "jsonl", options=opts())
    (line,) = journal(tmp_path / "o.jsonl")
    assert line["status"] != "error", line["error"]
    text = " ".join(line["remarks"])
    for name in ("ft4", "calcium", "eos", "patient.医保类型", "prescription.items[0].单价", "visit_no"):
        assert name in text, name


def test_column_names_match_with_full_width_brackets_and_case(tmp_path: Path) -> None:
    header = ["处方号", "药品名称", "体重（kg）", "alt"]
    src = csv_file(tmp_path / "w.csv", header, [["1", "苯磺酸氨氯地平片", "60", "30"]])
    (case,) = list(iter_cases(src))
    assert case.case is not None and case.case.patient.weight_kg == 60 and case.case.patient.labs["alt"] == 30


def test_cells_that_carry_their_unit(tmp_path: Path) -> None:
    header = ["处方号", "药品名称", "每次用量", "给药频率", "用法", "疗程"]
    src = csv_file(tmp_path / "u.csv", header, [["1", "苯磺酸氨氯地平片", "5mg", "qd", "口服", "28天"]])
    (case,) = list(iter_cases(src))
    assert case.case is not None, case.error
    item = case.case.prescription.items[0]
    assert (item.dose, item.unit, item.days) == (5, "mg", 28)
