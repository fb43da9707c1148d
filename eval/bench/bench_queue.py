"""The pharmacist's review queue at depth: one page of ``GET /v1/review-queue`` with 100,000 audits
waiting, alone and while audits are being posted, against a bare endpoint of the same framework.

Seeds a fresh SQLite file with ``--queued`` audits awaiting review (the real report JSON of example
RX-2, severities mixed, one per millisecond), then measures

* the store's query alone (first page, a deep keyset page, a deep offset page), in this process;
* over HTTP (uvicorn, 1 worker, as ``clinic serve``): queue pages polled by ``--pollers`` connections
  while ``--writers`` connections post audits, and the bare endpoint's latency in the same run.

    python eval/bench/bench_queue.py                       # 100,000 queued, 8 s per scenario
    python eval/bench/bench_queue.py --queued 20000 --seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from toolkit.evaluation.bench import cpu_seconds, free_port, load, wait_ready


def seed(db_url: str, n: int) -> None:
    from toolkit.audit import audit
    from toolkit.records import AuditCase
    from toolkit.service.db import AuditRow, make_engine, migrate

    lines = (resources.files("toolkit") / "examples" / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    report = audit(AuditCase.model_validate_json(lines[1]))
    doc = report.to_json_dict()
    engine = make_engine(db_url)
    migrate(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    table = AuditRow.__table__
    with engine.begin() as conn:
        for base in range(0, n, 5000):
            conn.execute(
                table.insert(),
                [
                    {
                        "id": uuid.uuid4().hex,
                        "case_id": f"Q-{i}",
                        "source": "json",
                        "status": "flagged",
                        "max_severity": "block",
                        "severity_rank": (1, 2, 2, 3)[i % 4],
                        "awaiting_review": True,
                        "risk": None,
                        "kb_version": "bench",
                        "engine_version": "bench",
                        "report": doc,
                        "created_at": start + timedelta(milliseconds=i),
                    }
                    for i in range(base, min(n, base + 5000))
                ],
            )
    engine.dispose()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, int(len(values) * q))]


def store_timings(db_url: str, rounds: int) -> dict[str, dict[str, float]]:
    from toolkit.service.db import make_engine, session_factory
    from toolkit.service.store import Store, parse_queue_cursor, queue_cursor

    engine = make_engine(db_url)
    store = Store(session_factory(engine), engine)
    out = {}
    deep = store.queue(50, 50_000)
    cursor = parse_queue_cursor(queue_cursor(deep[-1])) if deep else None
    for name, call in (
        ("first page", lambda: store.queue_page(50)),
        ("keyset page at 50,000", lambda: store.queue_page(50, 0, cursor)),
        ("offset page at 50,000", lambda: store.queue_page(50, 50_000)),
        # what the API runs on SQLite: the page built by SQLite as one row
        ("first page, 1 SQL row", lambda: store.queue_page_sql(50)[0]),
        ("keyset at 50,000, 1 row", lambda: store.queue_page_sql(50, 0, cursor)[0]),
    ):
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            rows = call()
            times.append(time.perf_counter() - t0)
            assert (
                len(rows) == 50 if isinstance(rows, list) else rows.count('"audit_id"') == 50
            ) or not name.startswith("first page")
        out[name] = {"p50_ms": pct(times, 0.5), "p99_ms": pct(times, 0.99)}
    engine.dispose()
    return out


async def _poll(port: int, until: float, record_from: float, lat: list[float], every: float = 0.0) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /v1/review-queue?limit=50 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    errors = 0
    try:
        while (t0 := time.perf_counter()) < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(x[15:]) for x in head.split(b"\r\n") if x[:15].lower() == b"content-length:")
            await reader.readexactly(length)
            if int(head[9:12]) != 200:
                errors += 1
            elif t0 >= record_from:
                lat.append(time.perf_counter() - t0)
            if every:  # a screen refreshing every `every` seconds rather than asking back at once
                await asyncio.sleep(max(0.0, t0 + every - time.perf_counter()))
    finally:
        writer.close()
    return errors


async def mixed(
    port: int, body: bytes, writers: int, pollers: int, seconds: float, warmup: float, every: float = 0.0
) -> dict[str, Any]:
    start = time.perf_counter()
    record_from, until = start + warmup, start + warmup + seconds
    lat: list[float] = []
    polls = [_poll(port, until, record_from, lat, every) for _ in range(pollers)]
    results = await asyncio.gather(
        load(port, body, writers, seconds, warmup) if writers else asyncio.sleep(0), *polls
    )
    audits = results[0] if writers else None
    return {
        "queue_pages": len(lat),
        "queue_errors": sum(results[1:]),
        "queue_p50_ms": pct(lat, 0.5),
        "queue_p99_ms": pct(lat, 0.99),
        "audits": audits,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queued", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--writers", type=int, default=8, help="connections posting audits meanwhile")
    ap.add_argument("--pollers", type=int, default=2, help="connections reading queue pages")
    ap.add_argument(
        "--poll-every",
        type=float,
        default=0.2,
        help="seconds between a paced poller's pages (the paced scenario; 0 skips it)",
    )
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_queue_")
    db = f"sqlite:///{tmp}/queue.db"
    t0 = time.perf_counter()
    seed(db, args.queued)
    seeded = time.perf_counter() - t0
    direct = store_timings(db, 200)
    lines = (resources.files("toolkit") / "examples" / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    body = lines[1].encode()
    bench_service = str(Path(__file__).resolve().parent / "bench_service.py")
    procs = {}
    try:
        for kind in ("bare", "service"):
            port = free_port()
            procs[kind] = (
                subprocess.Popen(
                    [sys.executable, bench_service, "--serve", kind, "--port", str(port), "--db", db]
                ),
                port,
            )
        for _, port in procs.values():
            wait_ready(port)
        port = procs["service"][1]
        cpu0 = cpu_seconds(procs["service"][0].pid)
        alone = asyncio.run(mixed(port, body, 0, args.pollers, args.seconds, args.warmup))
        # server CPU per page (warm-up pages included, roughly: pages/s x warm-up seconds)
        alone["cpu_ms_per_page"] = (
            1000
            * (cpu_seconds(procs["service"][0].pid) - cpu0)
            / max(1, alone["queue_pages"] * (args.seconds + args.warmup) / args.seconds)
        )
        busy = asyncio.run(mixed(port, body, args.writers, args.pollers, args.seconds, args.warmup))
        paced = (
            asyncio.run(
                mixed(port, body, args.writers, args.pollers, args.seconds, args.warmup, args.poll_every)
            )
            if args.poll_every
            else None
        )
        bare = asyncio.run(load(procs["bare"][1], body, args.writers, args.seconds, args.warmup))
        audits_alone = asyncio.run(load(port, body, args.writers, args.seconds, args.warmup))
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)  # the SQLite file (up to ~1 GB at 100,000 audits)
    print(
        f"review queue with {args.queued:,} audits waiting (seeded in {seeded:.1f} s); {os.cpu_count()} CPUs, "
        f"load avg {os.getloadavg()[0]:.1f}, python {platform.python_version()}"
    )
    for name, t in direct.items():
        print(f"  store query, {name:24} p50 {t['p50_ms']:7.2f} ms  p99 {t['p99_ms']:7.2f} ms")
    print(
        f"  HTTP page, {args.pollers} pollers alone            p50 {alone['queue_p50_ms']:7.2f} ms  "
        f"p99 {alone['queue_p99_ms']:7.2f} ms  ({alone['queue_pages']} pages, {alone['queue_errors']} errors, "
        f"server CPU {alone['cpu_ms_per_page']:.2f} ms per page)"
    )
    print(
        f"  HTTP page, {args.pollers} pollers + {args.writers} writers     p50 {busy['queue_p50_ms']:7.2f} ms  "
        f"p99 {busy['queue_p99_ms']:7.2f} ms  ({busy['queue_pages']} pages, {busy['queue_errors']} errors)"
    )
    a = busy["audits"]
    # the pollers are closed-loop (each asks again as soon as a page arrives), far more than a pharmacist's
    # screen polling every few seconds: the audit rate with them shows what such load costs the audits
    print(
        f"  POST /v1/audit with pollers: {a['rps']:.0f} req/s p50 {a['p50_ms']:.2f} ms p99 {a['p99_ms']:.2f} ms; "
        f"without: {audits_alone['rps']:.0f} req/s p99 {audits_alone['p99_ms']:.2f} ms; bare endpoint "
        f"{bare['rps']:.0f} req/s p99 {bare['p99_ms']:.2f} ms (same run, {args.writers} connections)"
    )
    if paced:
        p = paced["audits"]
        print(
            f"  HTTP page, {args.pollers} pollers every {args.poll_every:g} s + {args.writers} writers  "
            f"p50 {paced['queue_p50_ms']:7.2f} ms  p99 {paced['queue_p99_ms']:7.2f} ms  "
            f"({paced['queue_pages']} pages); POST /v1/audit meanwhile {p['rps']:.0f} req/s p99 {p['p99_ms']:.2f} ms"
        )
    goal = "meets" if busy["queue_p99_ms"] < 50 else "misses"
    print(f"  goal p99 of one page < 50 ms with audits running: {goal}")
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "queued": args.queued,
                    "direct": direct,
                    "alone": alone,
                    "busy": busy,
                    "paced": paced,
                    "audits_alone": audits_alone,
                    "bare": bare,
                    "load_avg": os.getloadavg(),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
