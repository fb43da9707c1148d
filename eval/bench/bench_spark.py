"""Spark engine vs the local multiprocessing engine on the same generated input, in the same run.

1. Generates N HIS-style drug lines (default 1,000,000) with eval/bench/bench_audit.py's generator.
2. Local: ``run_batch(workers=W)`` file → JSONL journal.
3. Spark ``local[W]``: ``run_spark`` file → rows.parquet + the same JSONL journal rebuilt from it
   (session start-up timed separately: on a cluster it is paid once per application).
4. Checks that both engines give every row the same status, and prints rows/s and Spark's
   overhead % over the local engine (with and without session start-up).

Usage:
    python eval/bench/bench_spark.py [--lines 1000000] [--workers 2] [--input csv|parquet]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from toolkit.batch import BatchOptions, run_batch
from toolkit.batch.spark import _spark_session, run_spark
from toolkit.evaluation.bench_data import generate


def _statuses_from_journal(journal: Path) -> dict[int, str]:
    out: dict[int, str] = {}
    with journal.open(encoding="utf-8") as fh:
        for line in fh:
            for r in json.loads(line)["rows"]:
                out[r["line"]] = r["status"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--input", choices=("csv", "parquet"), default="csv")
    ap.add_argument(
        "--partitions", type=int, default=None, help="Spark shuffle partitions (default 2 per core)"
    )
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench_spark_"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "lines.csv"
    rx = generate(src, args.lines)
    if args.input == "parquet":
        pq = work / "lines.parquet"
        pd.read_csv(src, dtype=str, keep_default_na=False).to_parquet(pq, index=False)
        src = pq
    print(
        f"input: {args.lines:,} drug lines / {rx:,} prescriptions, {args.input} "
        f"({src.stat().st_size / 1e6:.0f} MB); cores={os.cpu_count()} (machine shared with other jobs)"
    )

    local = run_batch(src, work / "local.jsonl", "jsonl", options=BatchOptions(workers=args.workers))
    local_rps = local.rows / local.seconds
    print(
        f"local  run_batch workers={args.workers} → JSONL          : {local.rows:,} rows in {local.seconds:7.1f}s "
        f"= {local_rps:9,.0f} rows/s"
    )

    t = time.perf_counter()
    spark = _spark_session(f"local[{args.workers}]", "bench-spark")
    startup = time.perf_counter() - t
    s = run_spark(src, work / "spark", "jsonl", spark=spark, partitions=args.partitions)
    spark.stop()
    spark_rps = s.rows / s.seconds
    with_start = s.rows / (s.seconds + startup)
    overhead = (s.seconds - local.seconds) / local.seconds * 100
    overhead_start = (s.seconds + startup - local.seconds) / local.seconds * 100
    print(
        f"spark  local[{args.workers}] → Parquet + JSONL journal     : {s.rows:,} rows in {s.seconds:7.1f}s "
        f"= {spark_rps:9,.0f} rows/s   (+ session start {startup:.1f}s → {with_start:,.0f} rows/s)"
    )
    print(f"spark phases (s): {s.phases}")
    print(
        f"spark overhead vs local: {overhead:+.1f}% (job only), {overhead_start:+.1f}% (incl. session start); "
        f"goal ≤ 30%"
    )
    a, b = _statuses_from_journal(work / "local.jsonl"), _statuses_from_journal(s.report or work / "x")
    same = a == b
    diff = sum(a.get(k) != b.get(k) for k in a.keys() | b.keys())
    print(
        f"every row has a status in both: {len(a) == len(b) == s.rows == local.rows}; "
        f"same status row for row: {same} ({diff} differ: prescriptions whose 处方号 reappears are merged by Spark)"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "lines": args.lines,
                    "input": args.input,
                    "workers": args.workers,
                    "local_rows_per_s": local_rps,
                    "spark_rows_per_s": spark_rps,
                    "spark_startup_s": startup,
                    "overhead_pct": overhead,
                    "overhead_incl_startup_pct": overhead_start,
                    "rows_differing": diff,
                    "spark_phases_s": s.phases,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
