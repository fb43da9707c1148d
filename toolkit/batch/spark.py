"""Regional-scale audit on Apache Spark: the same audit as :func:`toolkit.batch.run_batch`, on a cluster.

The input (a CSV or Parquet file, or a Hive/catalog table) is read by Spark, every row
gets its line number, rows are grouped into prescriptions by 处方号 *in Spark*, and each
prescription is validated and audited by exactly the code the local engine runs
(:func:`toolkit.batch.readers.build_unit` and :func:`toolkit.batch.runner.audit_unit`).
The result is Parquet with one row per input row, plus the same CSV/Excel/HTML/JSONL
reports, rendered by :mod:`toolkit.batch.report` from a journal rebuilt from the Parquet.

Why ``repartition(rx_id) + sortWithinPartitions + mapInPandas`` and not
``groupBy(rx_id).applyInPandas``: applyInPandas calls Python once per group, and a
regional file has hundreds of thousands of prescriptions of about three lines; building a
pandas frame per prescription costs more than auditing it. Hash-partitioning by the id
puts every line of a prescription in one partition, sorting by (id, line) makes them
adjacent, and mapInPandas hands Python whole Arrow batches (10,000 rows); a prescription
cut by a batch boundary is carried over to the next batch of the same partition.

Differences from the local engine, on purpose: the local reader groups *consecutive* rows
and audits a 处方号 that reappears later in the file as a second case with the same id;
Spark groups every row with the same 处方号 into one prescription wherever it sits (a
regional table is the union of many exports, so position means nothing there). CSV line
numbers are record numbers counted by Spark, which skips blank lines; the local reader
counts them. Quoted fields with embedded newlines need ``multiLine`` (not used: it makes
a file unsplittable).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.audit import AuditOptions
from toolkit.errors import InputError, require
from toolkit.labels import INPUT_ERRORS

from .readers import (
    DEFAULT_COLUMNS,
    RawUnit,
    _cell_text,
    _detect_encoding,
    _error_unit,
    _field_index,
    build_unit,
    detect_format,
)
from .runner import REPORT_FORMATS, BatchOptions, audit_unit

log = logging.getLogger(__name__)

SPARK_FORMATS = ("parquet", *REPORT_FORMATS)
"""``parquet`` writes only the row table; the others also render that report from it."""

RESULT_SCHEMA = (
    "line long, rx_id string, drug string, status string, max_severity string, rule_ids array<string>, "
    "findings string, error string, prescriber string, department string, case_json string"
)
"""One row per input row. ``case_json`` (the local engine's journal line for the whole
prescription) is set on the first row of each prescription and null on the others."""

_SEVERITY_ORDER = ("info", "warn", "block")
_KEY = "__rx_key"
_LINE = "__line"
_BAD = "__bad_record"  # CSV: Spark's raw text of a row whose cell count differs from the header
_ROW_PREFIX = "\x00row-"  # key of a row without a 处方号: a group of its own, reported as an error

# Per executor process (Python workers are reused across tasks): the knowledge base, keyed by
# (rules_dir, local rules), loaded at the first batch. The audit options travel in the partition
# function's closure (a learned reviewer as its model directory + loader, loaded once per process).
_EXECUTOR_CACHE: dict[tuple[str | None, str | None], Any] = {}


@dataclass(frozen=True)
class SparkSummary:
    """What a Spark run did: counts by row status, wall time, and where the results are."""

    cases: int
    rows: int
    rows_ok: int
    rows_flagged: int
    rows_error: int
    seconds: float
    parquet: Path
    report: Path | None
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase, for tuning
    rows_needs_review: int = 0  # audited rows the engine could not check (需人工审核)

    @property
    def rows_per_second(self) -> float:
        """Rows audited per second of wall time (0.0 for a run that took no measurable time)."""
        return self.rows / self.seconds if self.seconds else 0.0


def _executor_kb(rules_dir: str | None, local: str | None) -> Any:
    key = (rules_dir, local)
    if key not in _EXECUTOR_CACHE:
        from toolkit.knowledge import get_knowledge

        _EXECUTOR_CACHE[key] = get_knowledge(rules_dir, local)
    return _EXECUTOR_CACHE[key]


def _text(v: Any) -> str:
    """A cell as the local readers see it ('' for null/NaN/NA, 5.0 → '5')."""
    if type(v) is str:
        return v.strip()
    if v is None:
        return ""
    import pandas as pd

    try:
        if pd.isna(v):
            return ""
    except (TypeError, ValueError):  # list-like cells
        pass
    return _cell_text(v)


def _row_outputs(journal_line: dict[str, Any]) -> list[dict[str, Any]]:
    """Explode one journal line into result rows (the same per-row view as the CSV report)."""
    out = []
    case_json: str | None = json.dumps(journal_line, ensure_ascii=False)
    for r in sorted(journal_line["rows"], key=lambda r: r["line"]):
        if r["status"] == "error":
            fs: list[dict[str, Any]] = []
        else:
            fs = [
                f
                for f in journal_line["findings"]
                if not f["items"] or (r["item"] is not None and r["item"] in f["items"])
            ]
        top = max((f["severity"] for f in fs), key=_SEVERITY_ORDER.index, default=None)
        out.append(
            {
                "line": r["line"],
                "rx_id": journal_line["id"],
                "drug": r["drug"],
                "status": r["status"],
                "max_severity": top,
                "rule_ids": list(dict.fromkeys(f["rule_id"] for f in fs)),
                "findings": json.dumps(fs, ensure_ascii=False),
                "error": r["error"],
                "prescriber": journal_line.get("prescriber"),
                "department": journal_line.get("department"),
                "case_json": case_json,
            }
        )
        case_json = None  # on the first row of the case only
    return out


def _too_many_cells(raw: str, width: int, sep: str) -> bool:
    import csv

    return len(next(csv.reader([raw], delimiter=sep), [])) > width


def make_audit_partition(
    header: list[str],
    columns: dict[str, str],
    file_name: str,
    rules_dir: str | None,
    local: str | None,
    audit_options: AuditOptions,
    sep: str = ",",
) -> Any:
    """The mapInPandas function: batches of rows sorted by (key, line) → result rows.

    Runs on executors; everything it needs is in its closure (plain, picklable values, and the
    driver's :class:`AuditOptions`, which a learned reviewer crosses as its model directory + loader).
    """
    fields = _field_index(header, columns)
    n_cols = len(header)
    path = Path(file_name)

    def audit_error(
        line: int, values: list[str], problem: str, kb: Any, options: Any
    ) -> list[dict[str, Any]]:
        msg = str(InputError(problem, file=file_name, row=line))
        drug = values[fields["drug"]] if fields["drug"] < len(values) else ""
        rx_id = values[fields["rx_id"]] if fields["rx_id"] < len(values) else ""
        unit = build_unit(_error_unit(path, rx_id or f"row-{line}", line, drug, msg))
        return _row_outputs(audit_unit(unit, kb, options))

    def audit_group(
        key: str, group: list[tuple[int, list[str]]], kb: Any, options: Any
    ) -> list[dict[str, Any]]:
        if key.startswith(_ROW_PREFIX):
            line, values = group[0]
            msg = str(
                InputError(
                    f"{INPUT_ERRORS['empty_rx_id']}（prescription id is empty）",
                    file=file_name,
                    row=line,
                    field="rx_id",
                )
            )
            drug = values[fields["drug"]] if fields.get("drug", n_cols) < len(values) else ""
            unit = build_unit(_error_unit(path, f"row-{line}", line, drug, msg))
        else:
            rx_id = group[0][1][fields["rx_id"]]
            unit = build_unit(RawUnit("rows", file_name, (rx_id, fields, group)))
        try:
            journal_line = audit_unit(unit, kb, options)
        except Exception as exc:  # an engine bug must not lose the case (as in the local runner)
            log.exception("audit failed for one case")
            from .readers import CaseInput

            unit = CaseInput(
                id=unit.id,
                case=None,
                rows=unit.rows,
                prescriber=unit.prescriber,
                department=unit.department,
                error=f"internal error while auditing: {type(exc).__name__}: {exc}",
            )
            journal_line = audit_unit(unit, kb, options)
        return _row_outputs(journal_line)

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        kb, options = _executor_kb(rules_dir, local), audit_options
        carry_key: str | None = None
        carry: list[tuple[int, list[str]]] = []
        cols = [f"c{i}" for i in range(n_cols)]
        for pdf in batches:
            keys = pdf[_KEY].tolist()
            lines = pdf[_LINE].tolist()
            bad = pdf[_BAD].tolist()
            values = list(zip(*(map(_text, pdf[c].tolist()) for c in cols), strict=True)) if n_cols else []
            out: list[dict[str, Any]] = []
            for key, line, vals, raw in zip(keys, lines, values, bad, strict=True):
                row = list(vals)
                if not any(row):
                    continue  # an empty line in the export, skipped as the local reader does
                if isinstance(raw, str) and _too_many_cells(raw, n_cols, sep):
                    out.extend(
                        audit_error(
                            int(line),
                            row,
                            f"{INPUT_ERRORS['too_many_cells']}（more cells than the header）",
                            kb,
                            options,
                        )
                    )
                    continue
                if key != carry_key and carry:
                    out.extend(audit_group(carry_key or "", carry, kb, options))
                    carry = []
                carry_key = key
                carry.append((int(line), row))
            # the last prescription of this batch may continue in the next one: keep it
            if out:
                yield pd.DataFrame(out)
        if carry:
            yield pd.DataFrame(audit_group(carry_key or "", carry, kb, options))

    return run


PYSPARK_DEFAULT_PYTHON = "python3"
"""The interpreter PySpark's driver gives the Python workers when it was told none (neither spark-submit's
``spark.pyspark.python`` nor ``PYSPARK_PYTHON``, which PySpark itself reads): replaced by this interpreter."""


def _spark_session(
    master: str, app_name: str = "clinic-audit", driver_memory: str = "2g", python: str | None = None
) -> Any:
    """A Spark session whose Python workers run ``python``: when not given, the interpreter PySpark was
    told (spark-submit's ``spark.pyspark.python`` / ``PYSPARK_PYTHON``, read by PySpark, not here), else
    this one (``sys.executable``, the project's environment).

    ``driver_memory`` applies in local mode. Nothing is read from or written to the process environment
    here: PySpark 4 takes the workers' interpreter from its ``SparkContext.pythonExec`` (set from its own
    environment at start; a ``spark.pyspark.python`` setting made in the builder does not reach it), so
    the context this call creates is given it, and its executor environment (``spark.executorEnv.*``)
    the same ``PYSPARK_PYTHON``. A context that already runs is left as it is.
    """
    require("pyspark", "spark")
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    fresh = SparkContext._active_spark_context is None
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Spark 4 accepts only a few charsets unless told otherwise; GBK exports need GB18030
        .config("spark.sql.legacy.javaCharsets", "true")
    )
    if python:
        builder = builder.config("spark.pyspark.python", python).config("spark.pyspark.driver.python", python)
    if master.startswith("local"):
        # local mode: the executors live in the driver's JVM, so give it more than Spark's 1g default
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.memory", driver_memory)
        )
    session = builder.getOrCreate()
    if fresh:
        sc = session.sparkContext
        if python or sc.pythonExec == PYSPARK_DEFAULT_PYTHON:
            sc.pythonExec = python or sys.executable
        sc.environment.setdefault("PYSPARK_PYTHON", sc.pythonExec)
    return session


def _read(spark: Any, source: str, fmt: str | None, table: str | None) -> tuple[Any, str]:
    """The input as a DataFrame with every column kept as read, and its name for messages."""
    if table:
        return spark.table(table), table
    path = Path(source)
    fmt = fmt or detect_format(path)
    if fmt in {"csv", "tsv"}:
        encoding = "UTF-8"
        if path.is_file():
            with path.open("rb") as fh:
                encoding = {"utf-8-sig": "UTF-8", "gb18030": "GB18030"}[
                    _detect_encoding(fh.read(65536), path)
                ]
        from pyspark.sql.types import StringType, StructField, StructType

        def reader() -> Any:
            return (
                spark.read.option("header", "true")
                .option("inferSchema", "false")
                .option("encoding", encoding)
                .option("sep", "\t" if fmt == "tsv" else ",")
            )

        names = reader().csv(str(path)).columns  # reads the header line only
        schema = StructType([StructField(c, StringType()) for c in names] + [StructField(_BAD, StringType())])
        df = (
            reader()
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", _BAD)
            .option("enforceSchema", "true")
            .schema(schema)
            .csv(str(path))
        )
        return df, path.name
    if fmt == "parquet":
        return spark.read.parquet(str(path)), path.name
    raise InputError(f"the Spark engine reads CSV, Parquet or a table (--table); got '{fmt}'", file=str(path))


def _with_line_numbers(df: Any) -> Any:
    """Add the 1-based line number (header = 1) of every row, in scan order, without a Python pass.

    monotonically_increasing_id() is (partition index << 33) + position in the partition;
    one cheap job counts the rows of each partition, and the line is the rows before this
    partition + the position + 2. Scan order of a single file is file order.
    """
    from pyspark.sql import functions as F

    pid = F.spark_partition_id()
    counts = {
        r["p"]: r["n"] for r in df.select(pid.alias("p")).groupBy("p").agg(F.count("*").alias("n")).collect()
    }
    offsets: dict[int, int] = {}
    total = 0
    for p in sorted(counts):
        offsets[p] = total
        total += counts[p]
    mono = F.monotonically_increasing_id()
    offset_expr = F.lit(0)
    for p, off in offsets.items():
        offset_expr = F.when(pid == p, F.lit(off)).otherwise(offset_expr)
    position = mono - F.shiftleft(pid.cast("long"), 33)
    return df.withColumn(_LINE, (offset_expr + position + F.lit(2)).cast("long"))


def run_spark(
    input_path: str | Path | None,
    output_dir: str | Path,
    fmt: str = "parquet",
    columns: dict[str, str] | None = None,
    options: BatchOptions | None = None,
    master: str = "local[*]",
    table: str | None = None,
    partitions: int | None = None,
    spark: Any = None,
    python: str | None = None,
) -> SparkSummary:
    """Audit a file (or ``table``) on Spark; write ``output_dir/rows.parquet`` and, unless ``fmt`` is
    ``parquet``, ``output_dir/report.<fmt>`` rendered by the local engine's report code.

    ``partitions`` is the number of shuffle partitions for the grouping (default: 2 per core of
    the session). Pass a ``spark`` session to reuse one; otherwise one is created on ``master``, its
    Python workers running ``python`` (default: see :func:`_spark_session`). Executors audit with
    ``options`` as given here (shipped with the function, nothing taken from their environment).
    """
    options = options or BatchOptions()
    if fmt not in SPARK_FORMATS:
        raise InputError(f"unknown report format '{fmt}'; allowed: {', '.join(SPARK_FORMATS)}")
    if table is None and input_path is None:
        raise InputError("give an input file or --table")
    if table is None and not Path(str(input_path)).exists():
        raise InputError("file not found", file=str(input_path))
    from toolkit.knowledge import get_knowledge

    kb = get_knowledge(options.rules_dir, options.local_rules)  # fail fast on a broken KB, in the driver
    columns = columns or DEFAULT_COLUMNS
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parquet = out_dir / "rows.parquet"
    session = spark or _spark_session(master, python=python)
    from pyspark.sql import functions as F

    start = time.perf_counter()
    df, name = _read(session, str(input_path) if input_path is not None else "", None, table)
    has_bad = _BAD in df.columns
    raw_names = [c for c in df.columns if c != _BAD]
    header = [str(c).lstrip("\ufeff").strip() for c in raw_names]
    fields = _field_index(header, columns)
    missing = [f for f in ("rx_id", "drug") if f not in fields]
    if missing:
        raise InputError(
            f"required column(s) missing: {', '.join(missing)} (e.g. 处方号, 药品名称); columns found: "
            f"{', '.join(header)}; map others with --columns",
            file=name,
        )
    # positional names: Chinese, dots and BOMs in column names are safe
    df = df.select(
        *[F.col(f"`{c}`").alias(f"c{i}") for i, c in enumerate(raw_names)],
        (F.col(_BAD) if has_bad else F.lit(None).cast("string")).alias(_BAD),
    )
    df = _with_line_numbers(df)
    rx = F.regexp_replace(F.col(f"c{fields['rx_id']}").cast("string"), r"^\s+|\s+$", "")
    key = F.when(
        rx.isNull() | (rx == ""), F.concat(F.lit(_ROW_PREFIX), F.col(_LINE).cast("string"))
    ).otherwise(rx)
    n_part = partitions or max(2, 2 * session.sparkContext.defaultParallelism)
    grouped = df.withColumn(_KEY, key).repartition(n_part, _KEY).sortWithinPartitions(_KEY, _LINE)
    sep = "\t" if name.lower().endswith(".tsv") else ","
    fn = make_audit_partition(
        header, columns, name, options.rules_dir, options.local_rules, options.audit, sep
    )
    result = grouped.mapInPandas(fn, RESULT_SCHEMA)
    phases = {"read_number_lines": time.perf_counter() - start}
    result.write.mode("overwrite").parquet(str(parquet))
    phases["group_audit_write_parquet"] = time.perf_counter() - start - sum(phases.values())
    stats: dict[str, int] = {}
    cases = 0
    for r in (
        session.read.parquet(str(parquet))
        .groupBy("status")
        .agg(F.count("*").alias("n"), F.count("case_json").alias("cases"))
        .collect()
    ):
        stats[r["status"]] = r["n"]
        cases += r["cases"]
    phases["count"] = time.perf_counter() - start - sum(phases.values())
    report: Path | None = None
    if fmt != "parquet":
        report = out_dir / f"report.{fmt}"
        journal = report if fmt == "jsonl" else out_dir / "report.journal.jsonl"
        write_journal(session, parquet, journal, cases)
        phases["journal"] = time.perf_counter() - start - sum(phases.values())
        if fmt != "jsonl":
            from .report import write_report

            write_report(journal, report, fmt, kb)
            journal.unlink()
            phases["report"] = time.perf_counter() - start - sum(phases.values())
    seconds = time.perf_counter() - start
    if spark is None:
        session.stop()
    rows = sum(stats.values())
    log.info("spark audit: %d rows, %d cases in %.1fs", rows, cases, seconds)
    return SparkSummary(
        cases=cases,
        rows=rows,
        rows_ok=stats.get("ok", 0),
        rows_flagged=stats.get("flagged", 0),
        rows_error=stats.get("error", 0),
        seconds=seconds,
        parquet=parquet,
        report=report,
        phases={k: round(v, 2) for k, v in phases.items()},
        rows_needs_review=stats.get("needs_review", 0),
    )


def write_journal(spark: Any, parquet: Path, journal: Path, n_cases: int | None = None) -> int:
    """Rebuild the local engine's JSONL journal (one line per case, by first input line) from the result."""
    from pyspark.sql import functions as F

    cases = spark.read.parquet(str(parquet)).where(F.col("case_json").isNotNull()).select("line", "case_json")
    # Range partitions of ~20,000 cases, each sorted, fetched one at a time: the driver never holds more
    # than one small partition (a plain orderBy let adaptive execution coalesce everything into one
    # partition, which ran a 1 GB driver out of heap at 1M lines).
    n_part = max(2, (cases.count() if n_cases is None else n_cases) // 20_000 + 1)
    ordered = cases.repartitionByRange(n_part, "line").sortWithinPartitions("line")
    n = 0
    with journal.open("w", encoding="utf-8") as fh:
        for row in ordered.toLocalIterator(prefetchPartitions=False):
            fh.write(row["case_json"] + "\n")
            n += 1
    return n


__all__ = [
    "RESULT_SCHEMA",
    "SPARK_FORMATS",
    "SparkSummary",
    "make_audit_partition",
    "run_spark",
    "write_journal",
]
