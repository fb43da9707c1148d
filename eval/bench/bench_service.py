"""Latency of ``POST /v1/audit`` against a bare FastAPI endpoint on the same server, same run.

Three apps, each in its own uvicorn process (1 worker, same options) on 127.0.0.1:

* ``bare``: a FastAPI endpoint answering a constant (the framework and HTTP alone);
* ``audit-only``: the same framework validating the body as an AuditCase, auditing it in a thread
  pool and answering the report JSON, with no storage, queue, limits or guard (what the audit engine
  alone costs through the framework: the floor for the service);
* ``service-fastapi``: the real ``create_app`` with ``fast_audit_path=False`` (every request through
  FastAPI's middleware stack and router, as before 2026-12-08), to show in the same run what the lean ASGI
  path in front of FastAPI (``toolkit.service.app.AuditFastPath``) changes;
* ``service``: the real ``create_app`` as shipped (SQLite in a fresh file, the case stored and queued).

A small asyncio HTTP/1.1 keep-alive client posts realistic cases for a bounded time per scenario, at 1
and 16 concurrent connections: by default a rotation over the packaged example cases and every case of
``eval/data/audit_cases.jsonl`` (~250 distinct prescriptions, clean and flagged, 1–6 lines), each
connection starting at its own position, so no server-side cache keyed on a repeated body can make the
numbers look better than real traffic would. ``--single`` posts one body only (example case RX-2, two
block findings: the measure used before the rotation, kept to compare with older runs). Every app gets
the same request bytes (``bare`` ignores them) and runs with the garbage-collector settings the
service sets for itself while serving (``gc.freeze()`` after loading, first threshold
``GC_YOUNG_THRESHOLD``). Prints p50/p99, throughput, the server's CPU time per
request (from /proc, robust to other load on the machine) and the ratios to ``bare`` measured in this
run; ``--out FILE`` also writes JSON.

    python eval/bench/bench_service.py            # 10 s per scenario
    python eval/bench/bench_service.py --seconds 4 --rounds 3
    python eval/bench/bench_service.py --seconds 4 --concurrency 1 16 --single
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from toolkit.evaluation.bench import cpu_seconds, free_port, load, wait_ready

KINDS = ("bare", "audit-only", "service-fastapi", "service")
SERVER_OPTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "access_log": False,
    "log_level": "warning",
    "server_header": False,
}


def _bare_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/v1/audit")
    async def bare() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _audit_only_app() -> Any:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from fastapi import FastAPI, Response

    from toolkit.audit import audit
    from toolkit.knowledge import get_knowledge
    from toolkit.records import AuditCase

    kb = get_knowledge(None, None)
    kb.names  # noqa: B018 (built before serving, as the service's lifespan does)
    pool = ThreadPoolExecutor(2)
    app = FastAPI()

    async def audit_only(case: AuditCase) -> Any:
        report = await asyncio.wrap_future(pool.submit(audit, case, kb))
        return Response(
            json.dumps(report.to_json_dict(), ensure_ascii=False, separators=(",", ":")).encode(),
            media_type="application/json",
        )

    audit_only.__annotations__ = {"case": AuditCase, "return": Any}  # real types (this module's are strings)
    app.post("/v1/audit")(audit_only)
    return app


def serve(kind: str, port: int, db: str) -> None:
    """Child process: run one app under uvicorn."""
    import uvicorn

    if kind == "bare":
        app = _bare_app()
    elif kind == "audit-only":
        app = _audit_only_app()
    else:
        from toolkit.service import ServiceConfig, create_app

        app = create_app(ServiceConfig(db_url=db, port=port, fast_audit_path=kind == "service"))
    # every app runs with the collector settings the service's lifespan sets for itself: what was loaded
    # kept out of the cyclic collector (a full collection over the knowledge base stops the loop for tens
    # of ms), and a first-generation threshold that requests in flight do not cross every few requests
    from toolkit.service.app import GC_YOUNG_THRESHOLD

    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    uvicorn.run(app, port=port, **SERVER_OPTS)


def bench_bodies(single: bool = False) -> list[bytes]:
    """The request bodies: the packaged example cases then every case of eval/data/audit_cases.jsonl (as
    the AuditCase JSON a HIS would send, with its id); with ``single`` only example RX-2 (flagged with
    block findings, so the store path is exercised)."""
    examples = [
        line.encode()
        for line in (resources.files("toolkit") / "examples" / "cases.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
        if line.strip()
    ]
    if single:
        return [examples[1]]
    labelled = Path(__file__).resolve().parents[1] / "data" / "audit_cases.jsonl"
    for line in labelled.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            examples.append(json.dumps({"id": row["id"], **row["case"]}, ensure_ascii=False).encode())
    return examples


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One scenario over several rounds: the median of every number (counts summed)."""
    out = dict(rounds[0])
    for key in ("rps", "p50_ms", "p99_ms", "mean_ms", "cpu_ms_per_request"):
        out[key] = statistics.median(r[key] for r in rounds)
    out["requests"] = sum(r["requests"] for r in rounds)
    out["errors"] = sum(r["errors"] for r in rounds)
    out["rounds"] = len(rounds)
    out["p99_ms_each"] = [round(r["p99_ms"], 2) for r in rounds]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario (max 30)")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every scenario this many times, interleaved, and report the median of each "
        "number (tail latency on a shared machine varies from run to run)",
    )
    ap.add_argument(
        "--single", action="store_true", help="post example case RX-2 only (no rotation over distinct cases)"
    )
    ap.add_argument("--out", type=Path, help="also write the results as JSON")
    ap.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.db)
        return
    seconds = min(args.seconds, 30.0)
    concurrency = [c for c in args.concurrency if 1 <= c <= 64]
    bodies = bench_bodies(single=args.single)

    tmp = tempfile.mkdtemp(prefix="bench_service_")
    db = f"sqlite:///{tmp}/bench.db"
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for kind in KINDS:
            port = free_port()
            procs[kind] = (
                subprocess.Popen(
                    [sys.executable, __file__, "--serve", kind, "--port", str(port), "--db", f"{db}.{kind}"]
                ),
                port,
            )
        for _, port in procs.values():
            wait_ready(port)
        runs: list[dict[str, Any]] = []
        for _round in range(max(1, args.rounds)):
            for c in concurrency:
                for kind in KINDS:
                    proc, port = procs[kind]
                    cpu0 = cpu_seconds(proc.pid)
                    r = asyncio.run(load(port, bodies, c, seconds, args.warmup))
                    # warm-up requests are served too: CPU per request over all requests answered
                    served = r["requests"] + r.pop("warmup_requests", 0)
                    r.update(
                        kind=kind,
                        concurrency=c,
                        cpu_ms_per_request=1000 * (cpu_seconds(proc.pid) - cpu0) / max(1, served),
                    )
                    runs.append(r)
        results = [
            median_of([r for r in runs if r["kind"] == kind and r["concurrency"] == c])
            for c in concurrency
            for kind in KINDS
        ]
    finally:
        for proc, _ in procs.values():
            proc.terminate()
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)  # the SQLite file (up to ~1 GB at 100,000 audits)

    print(
        f"POST /v1/audit, {'1 body (RX-2)' if args.single else f'{len(bodies)} distinct cases in rotation'}, "
        f"{seconds:g} s per scenario x {max(1, args.rounds)} round(s) (medians), "
        "uvicorn 1 worker on loopback, "
        f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}, python {platform.python_version()}"
    )
    print(
        f"{'app':15} {'conc':>4} {'requests':>9} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU ms/req':>10}"
    )
    for r in results:
        print(
            f"{r['kind']:15} {r['concurrency']:>4} {r['requests']:>9} {r['errors']:>4} {r['rps']:>8.0f} "
            f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['cpu_ms_per_request']:>10.3f}"
            + (f"   p99 of each round {r['p99_ms_each']}" if r["rounds"] > 1 else "")
        )
    ratios: dict[int, dict[str, dict[str, float]]] = {}
    for c in concurrency:
        got = {r["kind"]: r for r in results if r["concurrency"] == c}
        bare = got["bare"]
        ratios[c] = {
            kind: {
                "p50": got[kind]["p50_ms"] / bare["p50_ms"],
                "p99": got[kind]["p99_ms"] / bare["p99_ms"],
                "rps": got[kind]["rps"] / bare["rps"],
                "cpu": got[kind]["cpu_ms_per_request"] / max(1e-9, bare["cpu_ms_per_request"]),
            }
            for kind in KINDS
            if kind != "bare"
        }
        for kind, q in ratios[c].items():
            verdict = f" ({'meets' if q['p99'] <= 3 else 'misses'} the 3x goal)" if kind == "service" else ""
            print(
                f"concurrency {c}: {kind}/bare p50 x{q['p50']:.2f}, p99 x{q['p99']:.2f}{verdict}, "
                f"throughput x{q['rps']:.2f}, CPU per request x{q['cpu']:.1f}"
            )
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "seconds": seconds,
                    "bodies": len(bodies),
                    "rounds": max(1, args.rounds),
                    "results": results,
                    "ratios": {str(k): v for k, v in ratios.items()},
                    "load_avg": os.getloadavg(),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
