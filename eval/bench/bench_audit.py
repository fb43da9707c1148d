"""Audit throughput and latency benchmark.

1. Generates N drug lines (default 1,000,000) as an HIS-style CSV export
   (about 3 lines per prescription, realistic mix of chronic and acute drugs).
2. Baseline: a plain single-process loop over the same engine (read, audit,
   write JSONL), measured in the same run.
3. ``run_batch`` with all cores, file → JSONL report (and optionally → CSV report).
4. In-process latency of ``audit()`` for single prescriptions: p50 / p99.

Prints rows/s for both paths and their ratio. Usage:
    python eval/bench/bench_audit.py [--lines 1000000] [--workers 0] [--latency 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from toolkit.audit import audit
from toolkit.batch import BatchOptions, iter_cases, run_batch
from toolkit.batch.runner import audit_unit
from toolkit.evaluation.bench_data import generate
from toolkit.knowledge import get_knowledge


def baseline(src: Path, out: Path) -> tuple[float, int]:
    """A plain single-process loop over the same engine: read, audit, write JSONL."""
    kb = get_knowledge()
    from toolkit.audit import AuditOptions

    options = AuditOptions()
    rows = 0
    start = time.perf_counter()
    with out.open("w", encoding="utf-8") as fh:
        for unit in iter_cases(src):
            line = audit_unit(unit, kb, options)
            rows += len(line["rows"])
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    return time.perf_counter() - start, rows


def latency(n: int) -> tuple[float, float, float]:
    kb = get_knowledge()
    rng = random.Random(3)
    src = Path(tempfile.mkdtemp()) / "lat.csv"
    generate(src, n * 3)
    cases = [c.case for c in iter_cases(src) if c.case is not None][:n]
    for c in cases[:200]:
        audit(c, kb)  # warm caches
    rng.shuffle(cases)
    times = []
    for c in cases:
        t = time.perf_counter()
        audit(c, kb)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * len(times)) - 1], times[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--latency", type=int, default=20_000, help="prescriptions timed for p50/p99")
    ap.add_argument("--csv-report", action="store_true", help="also time file → CSV report")
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench_audit_"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "lines.csv"
    t = time.perf_counter()
    rx = generate(src, args.lines)
    print(
        f"generated {args.lines:,} drug lines / {rx:,} prescriptions in {time.perf_counter() - t:.1f}s "
        f"({src.stat().st_size / 1e6:.0f} MB)  cores={os.cpu_count()}"
    )
    get_knowledge()
    base_s, base_rows = baseline(src, work / "baseline.jsonl")
    print(
        f"baseline  single-process loop : {base_rows:,} rows in {base_s:7.1f}s = {base_rows / base_s:9,.0f} rows/s"
    )
    s = run_batch(src, work / "batch.jsonl", "jsonl", options=BatchOptions(workers=args.workers))
    print(
        f"run_batch workers={args.workers or os.cpu_count()} → JSONL : {s.rows:,} rows in {s.seconds:7.1f}s = "
        f"{s.rows_per_second:9,.0f} rows/s   ratio {s.rows_per_second / (base_rows / base_s):.2f}×"
    )
    same = (work / "baseline.jsonl").read_bytes() == (work / "batch.jsonl").read_bytes()
    print(f"outputs identical: {same}")
    if args.csv_report:
        t = time.perf_counter()
        s2 = run_batch(src, work / "batch.csv", "csv", options=BatchOptions(workers=args.workers))
        total = time.perf_counter() - t
        print(f"run_batch → CSV report (incl. render): {s2.rows / total:9,.0f} rows/s end to end")
    if args.latency:
        p50, p99, worst = latency(args.latency)
        print(
            f"audit() latency over {args.latency:,} prescriptions: p50 {p50:.3f} ms  p99 {p99:.3f} ms  "
            f"max {worst:.3f} ms"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
