"""Spark engine (issue 7) against the local engine, row for row, on local[2].

Slow: starts a JVM (~15 s). Needs the [spark] extra and Java 17; skipped without pyspark.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import ROOT
from toolkit.audit import AuditOptions
from toolkit.batch import BatchOptions, run_batch
from toolkit.batch.report import iter_rows
from toolkit.errors import InputError
from toolkit.labels import error_text

pytest.importorskip("pyspark")

from toolkit.batch.spark import _spark_session, make_audit_partition, run_spark
from toolkit.evaluation.bench_data import HEADER, generate

pytestmark = [pytest.mark.slow, pytest.mark.integration]

BAD_LINES = [
    ",P9,50,男,急性支气管炎(J20.9),阿莫西林胶囊,0.5g,1,g,tid,口服,5,王医生,全科",  # no 处方号
    "99999999,P9,abc,男,急性支气管炎(J20.9),阿莫西林胶囊,0.5g,-1,g,tid,口服,5,王医生,全科",  # age not a number
    "99999998,P9,50,男,急性支气管炎(J20.9),阿莫西林胶囊,0.5g,10000,片,tid,口服,5,王医生,全科,extra",  # extra cell
    "99999997,P9,50,男,急性支气管炎(J20.9),,0.5g,1,g,tid,口服,5,王医生,全科",  # no drug
    "99999996,P9,50,男,急性支气管炎(J20.9),阿莫西林胶囊,0.5g,-2,g,tid,口服,5,王医生,全科",  # negative dose
    "99999995,P9,50,男,急性支气管炎(J20.9),阿莫西林胶囊,0.5g,10000,片,tid,口服,5,王医生,全科",  # absurd dose
    "99999995,P9,50,男,急性支气管炎(J20.9),阿莫西林胶囊,0.5g,1,g,tid,口服,NaN,王医生,全科",  # NaN days
]
DUPLICATE = "00000003,P3,50,男,原发性高血压(I10),苯磺酸氨氯地平片,5mg,5,mg,qd,口服,28,王医生,全科"


_PYSPARK_PYTHON_PRESET = "PYSPARK_PYTHON" in os.environ  # before the session below is created


@pytest.fixture(scope="module")
def spark() -> Any:
    session = _spark_session("local[2]", "clinic-audit-test")
    yield session
    session.stop()


def _input(tmp: Path, duplicate: bool, encoding: str = "utf-8") -> Path:
    src = tmp / "his.csv"
    generate(src, 200)
    lines = src.read_text(encoding="utf-8").splitlines()
    lines += BAD_LINES + ([DUPLICATE] if duplicate else [])
    src.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return src


def _local_rows(src: Path, out: Path) -> dict[int, tuple[str, str, str]]:
    run_batch(src, out, "jsonl", options=BatchOptions(workers=1))
    return {r["行号"]: (r["_status"], r["规则"], r["错误"]) for r in iter_rows(out)}


def _spark_rows(parquet: Path) -> dict[int, tuple[str, str, str]]:
    df = pd.read_parquet(parquet)
    # rows.parquet keeps the machine-readable error; the report's 错误 column is the same text in Chinese
    return {
        int(r.line): (r.status, ";".join(r.rule_ids), error_text(r.error) if isinstance(r.error, str) else "")
        for r in df.itertuples()
    }


def test_spark_matches_local_row_for_row(tmp_path: Path, spark: Any) -> None:
    src = _input(tmp_path, duplicate=False)
    local = _local_rows(src, tmp_path / "local.jsonl")
    summary = run_spark(src, tmp_path / "spark", "jsonl", spark=spark, partitions=3)
    got = _spark_rows(summary.parquet)
    assert len(local) == 207 and set(got) == set(local)
    assert {k: v for k, v in got.items() if v != local[k]} == {}
    statuses = {v[0] for v in got.values()}
    assert statuses == {"ok", "flagged", "error"}  # the input exercises every status
    assert summary.rows == 207 and summary.rows_error == sum(v[0] == "error" for v in local.values())
    # the rebuilt journal is the local engine's journal, case for case
    spark_cases = {c["id"]: c for c in map(json.loads, (tmp_path / "spark" / "report.jsonl").open())}
    local_cases = {c["id"]: c for c in map(json.loads, (tmp_path / "local.jsonl").open())}
    assert spark_cases.keys() ^ local_cases.keys() == set()
    for cid, case in local_cases.items():
        assert spark_cases[cid]["status"] == case["status"], cid
        assert [f["rule_id"] for f in spark_cases[cid]["findings"]] == [
            f["rule_id"] for f in case["findings"]
        ]


def test_spark_gbk_csv_parquet_and_reports(tmp_path: Path, spark: Any) -> None:
    gbk = _input(tmp_path, duplicate=False, encoding="gb18030")
    local = _local_rows(gbk, tmp_path / "local.jsonl")
    got = _spark_rows(run_spark(gbk, tmp_path / "gbk", "parquet", spark=spark).parquet)
    assert got == local
    # Parquet input with every column as text: same rows (the extra-cell line cannot exist in Parquet)
    table = pd.read_csv(
        tmp_path / "his.csv", encoding="gb18030", dtype=str, keep_default_na=False, on_bad_lines="skip"
    )
    pq = tmp_path / "his.parquet"
    table.to_parquet(pq, index=False)
    local_pq = _local_rows(pq, tmp_path / "local_pq.jsonl")
    summary = run_spark(pq, tmp_path / "pq", "xlsx", spark=spark)
    assert _spark_rows(summary.parquet) == local_pq
    assert summary.report is not None and summary.report.stat().st_size > 0
    csv_report = run_spark(pq, tmp_path / "pq_csv", "csv", spark=spark).report
    assert csv_report is not None
    assert len(csv_report.read_text(encoding="utf-8-sig").splitlines()) == len(local_pq) + 1


def test_spark_groups_a_reappearing_id_into_one_prescription(tmp_path: Path, spark: Any) -> None:
    src = _input(tmp_path, duplicate=True)
    local = _local_rows(src, tmp_path / "local.jsonl")
    summary = run_spark(src, tmp_path / "spark", "jsonl", spark=spark)
    got = _spark_rows(summary.parquet)
    assert set(got) == set(local)  # every row still comes back with a status
    df = pd.read_parquet(summary.parquet)
    rx3 = df[df.rx_id == "00000003"]
    assert len(rx3) == 3 and rx3.case_json.notna().sum() == 1  # one case, not two as the local engine does
    local_ids = [c["id"] for c in map(json.loads, (tmp_path / "local.jsonl").open())]
    assert local_ids.count("00000003") == 2
    # the documented difference: the merged prescription sees a duplicate therapy the split one cannot
    assert "RX-DUP-001" in got[int(rx3.line.max())][1]


def test_spark_missing_column_is_a_clear_error(tmp_path: Path, spark: Any) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(
        HEADER.replace("药品名称", "品名") + "1,P1,50,男,x,阿司匹林,100mg,1,片,qd,口服,7,王,全科\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="required column"):
        run_spark(src, tmp_path / "o", "parquet", spark=spark)


def _with_reviewer() -> BatchOptions:
    pytest.importorskip("onnxruntime")
    from toolkit.records import Severity
    from toolkit.review import load_reviewer

    reviewer = load_reviewer(ROOT / "models" / "reviewer")
    return BatchOptions(workers=1, audit=AuditOptions(min_severity=Severity.INFO, reviewer=reviewer))


def test_executor_function_carries_the_drivers_audit_options(tmp_path: Path) -> None:
    """The mapInPandas function, pickled as Spark ships it and opened in another process with no
    configuration in its environment, audits with the driver's options (the reviewer loaded there)."""
    import os
    import subprocess

    from pyspark import cloudpickle

    options = _with_reviewer().audit
    fn = make_audit_partition(HEADER.strip().split(","), {}, "his.csv", None, None, options)
    code = (
        "import os, pickle, sys\n"
        "before = dict(os.environ)\n"
        "fn = pickle.loads(sys.stdin.buffer.read())\n"
        "cells = {c.cell_contents for c in fn.__closure__ if type(c.cell_contents).__name__ == 'AuditOptions'}\n"
        "(options,) = cells\n"
        "assert dict(os.environ) == before\n"
        "print(options.min_severity.value, options.reviewer.model_dir, options.reviewer.revision, sep='|')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_")}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=cloudpickle.dumps(fn),
        capture_output=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip().split("|") == [
        "info",
        str(options.reviewer.model_dir),
        options.reviewer.revision,
    ]


def test_spark_with_the_reviewer_matches_local_row_for_row(tmp_path: Path, spark: Any) -> None:
    options = _with_reviewer()
    src = _input(tmp_path, duplicate=False)
    run_batch(src, tmp_path / "local.jsonl", "jsonl", options=options)
    summary = run_spark(src, tmp_path / "spark", "jsonl", options=options, spark=spark, partitions=3)
    spark_cases = {c["id"]: c for c in map(json.loads, (tmp_path / "spark" / "report.jsonl").open())}
    local_cases = {c["id"]: c for c in map(json.loads, (tmp_path / "local.jsonl").open())}
    assert spark_cases.keys() == local_cases.keys()
    model_findings = 0
    for cid, case in local_cases.items():
        assert spark_cases[cid]["status"] == case["status"], cid
        assert [f["rule_id"] for f in spark_cases[cid]["findings"]] == [
            f["rule_id"] for f in case["findings"]
        ]
        assert spark_cases[cid].get("risk") == case.get("risk"), cid
        assert spark_cases[cid]["provenance"]["model"] == case["provenance"]["model"], cid
        model_findings += sum(f["source"] == "model" for f in case["findings"])
    assert model_findings > 0  # the executors ran the reviewer, not only the rules
    assert summary.rows == 207


def test_python_workers_run_this_interpreter_set_without_the_environment(spark: Any) -> None:
    """The workers' interpreter is given to the SparkContext, not written to os.environ (issue 15)."""
    if _PYSPARK_PYTHON_PRESET:
        pytest.skip("PYSPARK_PYTHON is set for this run: PySpark uses it, as documented")
    assert "PYSPARK_PYTHON" not in os.environ and "PYSPARK_DRIVER_PYTHON" not in os.environ
    ran = spark.sparkContext.parallelize([0], 1).map(lambda _: sys.executable).collect()
    assert ran == [sys.executable]
