"""Latency of ``POST /v1/audit`` against a bare FastAPI endpoint on the same server, same run.

Both apps run in their own uvicorn process (1 worker, same options) on 127.0.0.1; a small asyncio
HTTP/1.1 keep-alive client sends the same JSON body (example case RX-2: two block findings, stored in
a fresh SQLite file and queued) for a bounded time per scenario, at 1 and 16 concurrent connections.
Prints p50/p99/throughput and the service/bare ratio; ``--out FILE`` also writes JSON.

    python eval/bench/bench_service.py            # 10 s per scenario, 4 scenarios
    python eval/bench/bench_service.py --seconds 3 --concurrency 1 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

SERVER_OPTS: dict[str, Any] = {"host": "127.0.0.1", "access_log": False, "log_level": "warning",
                               "server_header": False}


def _bare_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/v1/audit")
    async def bare() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve(kind: str, port: int, db: str) -> None:
    """Child process: run one app under uvicorn."""
    import uvicorn

    if kind == "bare":
        app = _bare_app()
    else:
        from toolkit.service import ServiceConfig, create_app

        app = create_app(ServiceConfig(db_url=db, port=port))
    uvicorn.run(app, port=port, **SERVER_OPTS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


async def _connection(port: int, request: bytes, until: float, record_from: float, lat: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= until:
                break
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            t1 = time.perf_counter()
            if status != 200:
                errors += 1
            elif t0 >= record_from:
                lat.append(t1 - t0)
    finally:
        writer.close()
    return errors


async def load(port: int, body: bytes, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
    request = (b"POST /v1/audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    start = time.perf_counter()
    record_from, until = start + warmup, start + warmup + seconds
    lat: list[float] = []
    errors = sum(await asyncio.gather(*(_connection(port, request, until, record_from, lat)
                                        for _ in range(concurrency))))
    lat.sort()
    n = len(lat)
    return {"requests": n, "errors": errors, "rps": n / seconds,
            "p50_ms": 1000 * lat[n // 2] if n else None,
            "p99_ms": 1000 * lat[min(n - 1, int(n * 0.99))] if n else None,
            "mean_ms": 1000 * statistics.fmean(lat) if n else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario (max 30)")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--out", type=Path, help="also write the results as JSON")
    ap.add_argument("--serve", choices=["bare", "service"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.db)
        return
    seconds = min(args.seconds, 30.0)
    concurrency = [c for c in args.concurrency if 1 <= c <= 64]
    lines = (resources.files("toolkit") / "examples" / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    body = lines[1].encode()  # RX-2: flagged with block findings, so the store path is exercised

    tmp = tempfile.mkdtemp(prefix="bench_service_")
    db = f"sqlite:///{tmp}/bench.db"
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for kind in ("bare", "service"):
            port = free_port()
            procs[kind] = (subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port),
                                             "--db", db]), port)
        for _, port in procs.values():
            wait_ready(port)
        results: list[dict[str, Any]] = []
        for c in concurrency:
            for kind in ("bare", "service"):
                r = asyncio.run(load(procs[kind][1], body, c, seconds, args.warmup))
                r.update(kind=kind, concurrency=c)
                results.append(r)
    finally:
        for proc, _ in procs.values():
            proc.terminate()
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    print(f"POST /v1/audit, {seconds:g} s per scenario, uvicorn 1 worker on loopback, "
          f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}, python {platform.python_version()}")
    print(f"{'app':8} {'conc':>4} {'requests':>9} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(f"{r['kind']:8} {r['concurrency']:>4} {r['requests']:>9} {r['errors']:>4} {r['rps']:>8.0f} "
              f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")
    ratios = {}
    for c in concurrency:
        bare = next(r for r in results if r["kind"] == "bare" and r["concurrency"] == c)
        svc = next(r for r in results if r["kind"] == "service" and r["concurrency"] == c)
        ratios[c] = {"p50": svc["p50_ms"] / bare["p50_ms"], "p99": svc["p99_ms"] / bare["p99_ms"],
                     "rps": svc["rps"] / bare["rps"]}
        verdict = "meets" if ratios[c]["p99"] <= 2 else "misses"
        print(f"concurrency {c}: service/bare p50 x{ratios[c]['p50']:.2f}, p99 x{ratios[c]['p99']:.2f} "
              f"({verdict} the 2x goal), throughput x{ratios[c]['rps']:.2f}")
    if args.out:
        args.out.write_text(json.dumps({"seconds": seconds, "results": results,
                                        "ratios": {str(k): v for k, v in ratios.items()},
                                        "load_avg": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
