"""Property-based tests of the batch readers (toolkit/batch/readers.py): diagnoses, column maps,
encodings, and whole files of arbitrary cells — every row comes back with a status, nothing aborts.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES
from toolkit.batch import BatchOptions, load_column_map, run_batch
from toolkit.batch.readers import DEFAULT_COLUMNS, parse_diagnoses, read_text_lines
from toolkit.errors import InputError

FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
KB = str(FIXTURES / "kb")
FIELDS = sorted(set(DEFAULT_COLUMNS.values()))

cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
diag_name = st.text(alphabet=st.one_of(cjk, st.sampled_from(list("型性急慢"))), min_size=1, max_size=10)
icd = st.from_regex(r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,3})?", fullmatch=True)


@FAST
@given(
    st.lists(st.tuples(diag_name, st.one_of(st.none(), icd)), min_size=1, max_size=5),
    st.sampled_from([";", "；", ",", "，", "、", "|"]),
    st.sampled_from([("(", ")"), ("（", "）")]),
)
def test_diagnoses_round_trip(
    diagnoses: list[tuple[str, str | None]], sep: str, parens: tuple[str, str]
) -> None:
    text = sep.join(f"{name}{parens[0]}{code}{parens[1]}" if code else name for name, code in diagnoses)
    assert parse_diagnoses(text) == [{"name": name, "icd10": code} for name, code in diagnoses]


@FAST
@given(st.lists(st.tuples(diag_name, icd), min_size=1, max_size=5))
def test_diagnoses_with_a_parallel_code_column(diagnoses: list[tuple[str, str]]) -> None:
    names = ";".join(n for n, _ in diagnoses)
    codes = " ".join(c.lower() for _, c in diagnoses)  # codes are upper-cased when read
    assert parse_diagnoses(names, codes) == [{"name": n, "icd10": c} for n, c in diagnoses]


@FAST
@given(st.text(max_size=60), st.text(max_size=20))
def test_diagnoses_never_crash(text: str, codes: str) -> None:
    for d in parse_diagnoses(text, codes):
        assert set(d) == {"name", "icd10"} and isinstance(d["name"], str)


@FAST
@given(
    st.dictionaries(
        st.text(alphabet=st.one_of(cjk, st.sampled_from("abcXYZ_ 0123")), min_size=1, max_size=8)
        .map(str.strip)
        .filter(bool),
        st.sampled_from(FIELDS),
        max_size=6,
    )
)
def test_column_map_round_trip(user: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "map.yaml"
        p.write_text(yaml.safe_dump(user, allow_unicode=True), encoding="utf-8")
        mapping = load_column_map(p)
    assert {k: mapping[k] for k in user} == user
    assert {k: v for k, v in mapping.items() if k not in user} == {
        k: v for k, v in DEFAULT_COLUMNS.items() if k not in user
    }


@FAST
@given(
    st.text(min_size=1, max_size=8).filter(lambda s: s not in FIELDS and s.strip() == s and s.isprintable())
)
def test_column_map_rejects_an_unknown_field_naming_the_allowed_ones(bad: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "map.json"
        p.write_text(json.dumps({"药名": bad}, ensure_ascii=False), encoding="utf-8")
        with pytest.raises(InputError, match=r"allowed: .*rx_id"):
            load_column_map(p)


chinese_text = st.text(alphabet=st.one_of(cjk, st.sampled_from(list("，。；：（）abc123 ,\n"))), max_size=200)


@FAST
@given(chinese_text, st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "gbk"]))
def test_text_reads_back_in_every_supported_encoding(text: str, encoding: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.csv"
        p.write_bytes(text.encode(encoding))
        assert "".join(read_text_lines(p)) == text


# NUL is left out of the generated cells: a file with NUL bytes is judged by how many it holds (a few
# are cell text, many mean UTF-16 or binary and refuse the file), which the deterministic test below
# checks on both sides, so this property never depends on how many NULs hypothesis happens to draw.
no_nul = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
cell = st.one_of(
    st.text(alphabet=no_nul, max_size=12),
    st.sampled_from(
        ["", " ", "0001", "-5", "10000", "abc", "NaN", "inf", "苯磺酸氨氯地平片", "qd", "mg", "口服", "是"]
    ),
)
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
    "妊娠",
    "医生",
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(cell, min_size=0, max_size=len(HEADER) + 2), min_size=0, max_size=12),
    st.sampled_from(["utf-8", "gb18030"]),
)
def test_any_table_every_row_gets_a_status(rows: list[list[str]], encoding: str) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a bare CR is a line break
    writer.writerow(HEADER)
    writer.writerows(rows)
    text = buf.getvalue()
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "his.csv", Path(d) / "out.jsonl"
        src.write_bytes(data)
        summary = run_batch(src, out, "jsonl", options=BatchOptions(workers=1, rules_dir=KB))
        got = [r for line in out.open(encoding="utf-8") for r in json.loads(line)["rows"]]
    expected = [n for n, r in enumerate(rows, start=2) if any(c.strip() for c in r)]
    assert sorted(r["line"] for r in got) == expected
    assert summary.rows == len(expected)
    for r in got:
        assert r["status"] in {"ok", "flagged", "needs_review", "error"}
        assert (r["status"] == "error") == bool(r["error"])


@pytest.mark.parametrize("nuls", [1, 4, 400])
def test_nul_bytes_are_cell_text_when_few_and_refuse_the_file_when_many(nuls: int) -> None:
    rows = [
        [
            "0001",
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
            "否",
            "王医生",
        ],
        ["0002", "P", "60", "男", "I10", "x" + "\x00" * nuls, "", "", "", "", "", "", "", ""],
    ]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows([HEADER, *rows])
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "his.csv", Path(d) / "out.jsonl"
        src.write_bytes(buf.getvalue().encode("utf-8"))
        if nuls > 4:
            with pytest.raises(InputError, match=r"NUL bytes.*his\.csv|his\.csv.*NUL bytes"):
                run_batch(src, out, "jsonl", options=BatchOptions(workers=1, rules_dir=KB))
            return
        summary = run_batch(src, out, "jsonl", options=BatchOptions(workers=1, rules_dir=KB))
    assert summary.rows == 2
