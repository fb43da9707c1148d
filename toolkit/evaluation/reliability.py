"""What the reliability checks (issue 7) share with their tests: the killed-and-resumed batch, the
service under load and restarted, and the harness behind them.

``eval/reliability.py`` runs every row at full size and writes ``eval/RELIABILITY.md``;
``tests/integration/test_reliability_*.py`` run :func:`kill_and_resume` and :func:`check_service` small.

* :class:`Check` — one row of the table (area, check, size, result, pass, numbers).
* :func:`kill_and_resume` — ``clinic audit`` SIGKILLed mid-run, then ``--resume``, compared with an
  uninterrupted run.
* :func:`check_service` — ``clinic serve`` under load, then SIGKILLed and restarted while clients retry
  decisions; every acknowledged decision is read back.
* :class:`Server` — ``clinic serve`` on 127.0.0.1 with a SQLite file, in its own session;
  :func:`load` — a bounded keep-alive load client; :func:`free_port` (from :mod:`toolkit.evaluation.bench`),
  :func:`kill_group` (SIGKILL a process group), :func:`rss_kib`, :func:`journal_rows` (id, line, status of
  a JSONL report).
* :data:`CASE_OK`, :data:`CASE_BLOCK` — a clean case and one with blocking findings.

Subprocesses run ``python -m toolkit.cli.main`` in the source checkout; servers listen on 127.0.0.1
only and every load loop is bounded in time and in requests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.evaluation.bench import free_port  # shared with eval/bench (re-exported)
from toolkit.evaluation.bench_data import generate
from toolkit.evaluation.data import repository_root

__all__ = [
    "CASE_BLOCK",
    "CASE_OK",
    "CLINIC",
    "Check",
    "Server",
    "check_service",
    "free_port",
    "journal_rows",
    "kill_and_resume",
    "kill_group",
    "load",
    "rss_kib",
]

ROOT = repository_root()

CLINIC = [sys.executable, "-m", "toolkit.cli.main"]
"""``clinic`` as run by the checks: this interpreter, the installed package."""


@dataclass
class Check:
    """One row of the table."""

    area: str
    check: str
    size: str
    result: str
    ok: bool
    numbers: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def journal_rows(path: Path) -> list[tuple[str, int, str]]:
    """(case id, source line, status) of every row of a JSONL report."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            case = json.loads(line)
            out.extend((case["id"], r["line"], r["status"]) for r in case["rows"])
    return out


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` in KiB (0 once it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL a process we started in its own session, with the workers it forked."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


# --------------------------------------------------------------------------- kill and resume


def kill_and_resume(work: Path, lines: int, kill_after: float, workers: int = 2) -> Check:
    """Run ``clinic audit`` on ``lines`` lines, SIGKILL it mid-run, resume, compare with an uninterrupted run."""
    src = work / "big.csv"
    if not src.exists():
        generate(src, lines)
    ref, out = work / "ref.jsonl", work / "out.jsonl"
    for p in (ref, out):
        p.unlink(missing_ok=True)
    cmd = [*CLINIC, "audit", str(src), "--workers", str(workers), "--no-progress"]
    t = time.perf_counter()
    subprocess.run([*cmd, "-o", str(ref)], check=True, cwd=ROOT, capture_output=True, timeout=7200)
    ref_s = time.perf_counter() - t
    proc = subprocess.Popen(
        [*cmd, "-o", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    t_start = time.perf_counter()
    if kill_after > 0:
        time.sleep(kill_after)
    else:  # kill once about a tenth of the cases are written: surely mid-run, on a fast or a slow machine
        while (
            proc.poll() is None
            and time.perf_counter() - t_start < 600
            and (not out.exists() or out.stat().st_size < ref.stat().st_size // 10)
        ):
            time.sleep(0.05)
    kill_after = time.perf_counter() - t_start
    alive = proc.poll() is None
    kill_group(proc)
    partial = out.read_bytes()
    torn = bool(partial) and not partial.endswith(b"\n")
    done_before = partial.count(b"\n")
    t = time.perf_counter()
    subprocess.run(
        [*cmd, "-o", str(out), "--resume"], check=True, cwd=ROOT, capture_output=True, timeout=7200
    )
    resume_s = time.perf_counter() - t
    a, b = journal_rows(ref), journal_rows(out)
    identical = ref.read_bytes() == out.read_bytes()
    lines_out = [r[1] for r in b]
    no_dupes = len(lines_out) == len(set(lines_out))
    ok = alive and identical and no_dupes and len(b) == lines
    return Check(
        "kill",
        "SIGKILL mid-run, then --resume",
        f"{lines:,} lines, workers={workers}",
        f"killed after {kill_after:.1f}s with {done_before:,} cases written (torn last line: {torn}); "
        f"resumed in {resume_s:.0f}s; {len(b):,}/{lines:,} rows, duplicates: {len(lines_out) - len(set(lines_out))}"
        f", byte-identical to the uninterrupted run ({ref_s:.0f}s): {identical}",
        ok,
        {
            "cases_before_kill": done_before,
            "rows": len(b),
            "identical": identical,
            "uninterrupted_s": ref_s,
            "resume_s": resume_s,
            "ref_rows": len(a),
        },
    )


# --------------------------------------------------------------------------- service

CASE_BLOCK = {
    "id": "X",
    "patient": {
        "age": 72,
        "sex": "F",
        "allergies": ["青霉素"],
        "diagnoses": [{"name": "急性支气管炎", "icd10": "J20.9"}, {"name": "2型糖尿病", "icd10": "E11.9"}],
        "labs": {"egfr": 25},
    },
    "prescription": {
        "items": [
            {
                "drug": "阿莫西林胶囊",
                "dose": 0.5,
                "unit": "g",
                "frequency": "tid",
                "route": "口服",
                "days": 5,
            },
            {"drug": "二甲双胍片", "dose": 0.5, "unit": "g", "frequency": "tid", "route": "口服", "days": 28},
        ]
    },
}
CASE_OK = {
    "id": "Y",
    "patient": {"age": 50, "sex": "M", "diagnoses": [{"name": "原发性高血压", "icd10": "I10"}]},
    "prescription": {
        "items": [
            {"drug": "缬沙坦胶囊", "dose": 80, "unit": "mg", "frequency": "qd", "route": "口服", "days": 28}
        ]
    },
}


class Server:
    """``clinic serve`` on 127.0.0.1 with a SQLite file, started and killed by us."""

    def __init__(self, db: Path, port: int):
        self.db, self.port = db, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[Any] | None = None

    def start(self, timeout: float = 120) -> float:
        """Launch the server in its own session and wait for ``/healthz``; returns the seconds it took.

        Raises ``RuntimeError`` when the server exits or does not answer within ``timeout`` seconds."""
        import httpx

        t = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                *CLINIC,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db",
                f"sqlite:///{self.db}",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        while time.perf_counter() - t < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("clinic serve exited at start-up")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - t
            time.sleep(0.2)
        raise RuntimeError("clinic serve did not answer /healthz")

    def kill(self) -> None:
        """SIGKILL the server with its workers (no clean shutdown); does nothing when it is not running."""
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None

    @property
    def rss_kib(self) -> int:
        """Resident memory of the server's main process in KiB (0 when it is not running)."""
        return rss_kib(self.proc.pid) if self.proc else 0


def load(
    url: str,
    seconds: float,
    connections: int,
    max_requests: int,
    body: Callable[[int], tuple[str, dict[str, Any]]],
) -> dict[str, Any]:
    """``connections`` threads, each with one keep-alive connection, until the time or request budget ends."""
    import httpx

    lock = threading.Lock()
    stats: dict[str, Any] = {"ok": 0, "errors": 0, "latencies": [], "error_kinds": {}}
    counter = iter(range(max_requests))
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while time.perf_counter() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                path, payload = body(i)
                t = time.perf_counter()
                try:
                    r = client.post(path, json=payload)
                    good = r.status_code < 400
                    kind = str(r.status_code)
                except httpx.HTTPError as exc:
                    good, kind = False, type(exc).__name__
                with lock:
                    stats["latencies"].append(time.perf_counter() - t)
                    if good:
                        stats["ok"] += 1
                    else:
                        stats["errors"] += 1
                        stats["error_kinds"][kind] = stats["error_kinds"].get(kind, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=seconds + 120)
    lat = sorted(stats.pop("latencies")) or [0.0]
    stats["p50_ms"] = lat[len(lat) // 2] * 1000
    stats["p99_ms"] = lat[int(len(lat) * 0.99) - 1 if len(lat) > 1 else 0] * 1000
    return stats


def check_service(work: Path, seconds: float, connections: int, restart_seconds: float = 20) -> list[Check]:
    """``seconds`` of load on ``connections`` connections, then a SIGKILL and restart while clients post
    decisions for ``restart_seconds``: two rows (load, restart), with every acknowledged decision read back."""
    import httpx

    out: list[Check] = []
    server = Server(work / "clinic.db", free_port())
    start_s = server.start()
    try:
        for _ in range(20):  # warm up
            httpx.post(server.url + "/v1/audit", json=CASE_OK, timeout=30)
        rss0 = server.rss_kib
        cases = [CASE_OK, CASE_BLOCK]

        def audit_body(i: int) -> tuple[str, dict[str, Any]]:
            return "/v1/audit", {**cases[i % 2], "id": f"LOAD-{i}"}

        s = load(server.url, seconds, connections, 2_000_000, audit_body)
        rss1 = server.rss_kib
        total = s["ok"] + s["errors"]
        out.append(
            Check(
                "service",
                f"{seconds:.0f} s load, {connections} connections, POST /v1/audit",
                f"{total:,} requests",
                f"{s['errors']} errors ({s['error_kinds']}); {total / seconds:,.0f} req/s;"
                f" p50 {s['p50_ms']:.0f} ms p99 {s['p99_ms']:.0f} ms; server RSS {rss0 / 1024:.0f} → "
                f"{rss1 / 1024:.0f} MiB",
                s["errors"] == 0 and rss1 - rss0 < 200 * 1024,
                {**s, "rss_before_kib": rss0, "rss_after_kib": rss1, "startup_s": start_s},
            )
        )
        # decisions while the server is killed and started again; clients retry, nothing acknowledged is lost
        acked: list[tuple[str, str]] = []
        retries = {"n": 0}
        rejected = {"n": 0}
        lock = threading.Lock()
        stop = time.perf_counter() + restart_seconds

        def client_loop(k: int) -> None:
            with httpx.Client(base_url=server.url, timeout=10) as c:
                i = 0
                while time.perf_counter() < stop and i < 5000:
                    i += 1
                    for _attempt in range(60):
                        try:
                            r = c.post("/v1/audit", json={**CASE_BLOCK, "id": f"R-{k}-{i}"})
                            audit_id = r.headers["x-audit-id"]
                            d = c.post(
                                f"/v1/audits/{audit_id}/decisions",
                                json={"decision": "return", "pharmacist": f"药师{k}", "reason": "剂量需调整"},
                            )
                            with lock:
                                if d.status_code == 201:
                                    acked.append((audit_id, str(d.json().get("id", ""))))
                                else:
                                    rejected["n"] += 1
                            break
                        except (httpx.HTTPError, KeyError):
                            with lock:
                                retries["n"] += 1
                            time.sleep(0.5)

        threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(connections)]
        for th in threads:
            th.start()
        time.sleep(restart_seconds / 2)
        server.kill()
        restart_s = server.start()
        for th in threads:
            th.join(timeout=restart_seconds + 180)
        missing = 0
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for audit_id, decision_id in acked:
                got = c.get(f"/v1/audits/{audit_id}/decisions").json()["decisions"]
                missing += not any(str(d.get("id", "")) == decision_id for d in got)
        out.append(
            Check(
                "service",
                "SIGKILL + restart mid-load, clients retry; decisions read back",
                f"{len(acked):,} decisions acknowledged",
                f"{missing} lost; {rejected['n']} refused; {retries['n']} client retries while down; "
                f"restart took {restart_s:.1f}s",
                missing == 0 and rejected["n"] == 0 and len(acked) > 0,
                {"acked": len(acked), "lost": missing, "rejected": rejected["n"], "retries": retries["n"]},
            )
        )
    finally:
        server.kill()
    return out
