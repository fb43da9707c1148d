"""Reliability, measured (issue 7): malformed files, a killed batch resumed, the service under load
and restarted, and audio that is corrupt, empty, two hours long or at the wrong sample rate.

Runs each check at full size (or at the size given), prints a table and writes it to
eval/RELIABILITY.md with the date, the machine and the command. Everything is generated in a
temporary directory and removed afterwards; servers listen on 127.0.0.1 only and every load loop
is bounded in time and in requests.

Usage:
    python eval/reliability.py [--lines 1000000] [--big-gb 2] [--load-seconds 60] [--connections 16]
                               [--audio-hours 2] [--only files,kill,service,audio] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval" / "bench"))
from bench_audit import HEADER, generate  # noqa: E402

CLINIC = [sys.executable, "-m", "toolkit.cli.main"]


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

def _journal_rows(path: Path) -> list[tuple[str, int, str]]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            case = json.loads(line)
            out.extend((case["id"], r["line"], r["status"]) for r in case["rows"])
    return out


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL a process we started in its own session, with the workers it forked."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


# --------------------------------------------------------------------------- (b) malformed files

def _stream_big_csv(path: Path, target_bytes: int) -> int:
    """Write about ``target_bytes`` of HIS lines without holding them in memory; returns the rows."""
    rng = random.Random(11)
    rows = 0
    drugs = [("苯磺酸氨氯地平片", "5mg", "5", "mg", "qd"), ("盐酸二甲双胍片", "0.5g", "0.5", "g", "tid"),
             ("阿托伐他汀钙片", "20mg", "20", "mg", "qn"), ("阿莫西林胶囊", "0.5g", "0.5", "g", "tid")]
    with path.open("w", encoding="utf-8", buffering=1 << 20) as fh:
        fh.write(HEADER)
        rx = 0
        while fh.tell() < target_bytes:
            block = []
            for _ in range(10_000):
                rx += 1
                for drug, strength, dose, unit, freq in drugs[: rng.randint(1, 4)]:
                    block.append(f"{rx:09d},P{rx % 9973},{rng.randint(18, 90)},男,\"原发性高血压(I10)\",{drug},"
                                 f"{strength},{dose},{unit},{freq},口服,28,王医生,全科\n")
                    rows += 1
            fh.write("".join(block))
    return rows


_READ_PROBE = """
import sys, time
from pathlib import Path
from toolkit.batch.readers import iter_units
def kib(key):
    return next(int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(key))
base = kib("VmRSS:")
Path("/proc/self/clear_refs").write_text("5")  # reset the peak after the imports: measure the reading only
t = time.perf_counter()
units = rows = 0
for u in iter_units(sys.argv[1]):
    units += 1
    rows += len(u.payload[2]) if u.kind == "rows" else 1
print(units, rows, kib("VmHWM:"), time.perf_counter() - t, base)
"""


def check_files(work: Path, lines: int, big_gb: float) -> list[Check]:
    from toolkit.batch import BatchOptions, run_batch
    from toolkit.errors import InputError

    out: list[Check] = []
    src = work / "base.csv"
    generate(src, lines)
    text = src.read_bytes()
    n_rows = text.count(b"\n") - 1

    def audited(path: Path, expect_rows: int, name: str, what: str) -> None:
        t = time.perf_counter()
        try:
            s = run_batch(path, work / "out.jsonl", "jsonl", options=BatchOptions(workers=2))
        except InputError as exc:
            out.append(Check("files", name, what, f"refused: {str(exc)[:90]}", False))
            return
        rows = _journal_rows(work / "out.jsonl")
        lines_seen = sorted(r[1] for r in rows)
        complete = len(lines_seen) == expect_rows and len(set(lines_seen)) == expect_rows
        errors = sum(r[2] == "error" for r in rows)
        out.append(Check("files", name, what, f"{len(rows):,}/{expect_rows:,} rows with a status, {errors:,} error "
                         f"rows, {s.rows / (time.perf_counter() - t):,.0f} rows/s", complete,
                         {"rows": len(rows), "errors": errors}))

    # GBK with corrupt bytes at three places, one far past the sniffed 64 KiB
    gbk = bytearray(text.decode("utf-8").encode("gb18030"))
    for frac in (0.3, 0.6, 0.9):
        i = gbk.index(b"\n", int(len(gbk) * frac)) + 20
        gbk[i:i] = b"\xff"
    p = work / "gbk_corrupt.csv"
    p.write_bytes(bytes(gbk))
    audited(p, n_rows, "GBK file with 3 corrupt bytes", f"{n_rows:,} lines")
    # prescriptions split (non-contiguous ids): every other line moved to the end
    lines_ = text.split(b"\n")
    body = [x for x in lines_[1:] if x]
    p = work / "split_ids.csv"
    p.write_bytes(b"\n".join([lines_[0], *body[::2], *body[1::2]]) + b"\n")
    audited(p, n_rows, "duplicated non-contiguous 处方号", f"{n_rows:,} lines")
    # absurd values and broken rows sprinkled through
    rng = random.Random(5)
    bad = []
    for line in body:
        r = rng.random()
        if r < 0.01:
            cells = line.split(b",")
            cells[7] = b"-5" if r < 0.003 else b"10000" if r < 0.006 else b"abc"
            line = b",".join(cells)
        elif r < 0.012:
            line = line.split(b",")[0] + b",P1"  # short row
        elif r < 0.014:
            line = line + b",extra"  # long row
        elif r < 0.015:
            line = b"," + line.split(b",", 1)[1]  # no 处方号
        bad.append(line)
    p = work / "absurd.csv"
    p.write_bytes(b"\n".join([lines_[0], *bad]) + b"\n")
    audited(p, n_rows, "absurd values, short/long rows, empty ids", f"{n_rows:,} lines")
    # whole-file problems: refused at once with the file named, or an empty report
    for name, data in (("UTF-16 export", (HEADER + "1,2\n").encode("utf-16")), ("empty file (0 bytes)", b""),
                       ("header only", HEADER.encode()), ("renamed 药品名称 column",
                                                           text[:2000].replace("药品名称".encode(), b"drugname"))):
        p = work / "whole.csv"
        p.write_bytes(data)
        try:
            s = run_batch(p, work / "out.jsonl", "jsonl", options=BatchOptions(workers=1))
            out.append(Check("files", name, "-", f"empty report ({s.rows} rows)", s.rows == 0))
        except InputError as exc:
            out.append(Check("files", name, "-", f"clear error: {str(exc).split(': ', 1)[-1][:80]}",
                             "whole.csv" in str(exc)))
    # truncated Excel
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    for line in text.decode("utf-8").splitlines()[:20_001]:
        ws.append(next(csv.reader([line])))
    full = work / "full.xlsx"
    wb.save(full)
    cut = work / "cut.xlsx"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    t = time.perf_counter()
    try:
        run_batch(cut, work / "out.jsonl", "jsonl", options=BatchOptions(workers=1))
        out.append(Check("files", "Excel cut in half", "20,000 rows", "read without error?!", False))
    except InputError as exc:
        out.append(Check("files", "Excel cut in half", "20,000 rows",
                         f"clear error in {time.perf_counter() - t:.2f}s: {str(exc).split(': ', 1)[-1][:60]}", True))
    # bounded memory: stream a big file through the reader (the main process of a batch run)
    if big_gb > 0:
        big = work / "big.csv"
        t = time.perf_counter()
        rows = _stream_big_csv(big, int(big_gb * 1e9))
        gen_s = time.perf_counter() - t
        small = work / "small.csv"
        _stream_big_csv(small, 20_000_000)
        probe = [sys.executable, "-c", _READ_PROBE]
        u_small = subprocess.run([*probe, str(small)], capture_output=True, text=True, check=True, cwd=ROOT,
                                 timeout=3600).stdout.split()
        u_big = subprocess.run([*probe, str(big)], capture_output=True, text=True, check=True, cwd=ROOT,
                               timeout=3600).stdout.split()
        rss_small, rss_big = int(u_small[2]) / 1024, int(u_big[2]) / 1024
        base = int(u_big[4]) / 1024
        ok = int(u_big[1]) == rows and rss_big - rss_small < 64
        out.append(Check("files", "big file streamed (reader + grouping, main process)",
                         f"{big.stat().st_size / 1e9:.2f} GB, {rows:,} lines",
                         f"peak RSS while reading {rss_big:.0f} MiB vs {rss_small:.0f} MiB for a 20 MB file "
                         f"({base:.0f} MiB after imports); all {int(u_big[1]):,} rows read in {float(u_big[3]):.0f}s "
                         f"(generated in {gen_s:.0f}s)", ok,
                         {"peak_rss_mib": rss_big, "peak_rss_small_mib": rss_small, "rss_after_imports_mib": base}))
        big.unlink()
    return out


# --------------------------------------------------------------------------- (c) kill and resume

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
    proc = subprocess.Popen([*cmd, "-o", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    t_start = time.perf_counter()
    if kill_after > 0:
        time.sleep(kill_after)
    else:  # kill once about a tenth of the cases are written: surely mid-run, on a fast or a slow machine
        while (proc.poll() is None and time.perf_counter() - t_start < 600
               and (not out.exists() or out.stat().st_size < ref.stat().st_size // 10)):
            time.sleep(0.05)
    kill_after = time.perf_counter() - t_start
    alive = proc.poll() is None
    _kill_group(proc)
    partial = out.read_bytes()
    torn = bool(partial) and not partial.endswith(b"\n")
    done_before = partial.count(b"\n")
    t = time.perf_counter()
    subprocess.run([*cmd, "-o", str(out), "--resume"], check=True, cwd=ROOT, capture_output=True, timeout=7200)
    resume_s = time.perf_counter() - t
    a, b = _journal_rows(ref), _journal_rows(out)
    identical = ref.read_bytes() == out.read_bytes()
    lines_out = [r[1] for r in b]
    no_dupes = len(lines_out) == len(set(lines_out))
    ok = alive and identical and no_dupes and len(b) == lines
    return Check("kill", "SIGKILL mid-run, then --resume", f"{lines:,} lines, workers={workers}",
                 f"killed after {kill_after:.1f}s with {done_before:,} cases written (torn last line: {torn}); "
                 f"resumed in {resume_s:.0f}s; {len(b):,}/{lines:,} rows, duplicates: {len(lines_out) - len(set(lines_out))}"
                 f", byte-identical to the uninterrupted run ({ref_s:.0f}s): {identical}", ok,
                 {"cases_before_kill": done_before, "rows": len(b), "identical": identical,
                  "uninterrupted_s": ref_s, "resume_s": resume_s, "ref_rows": len(a)})


# --------------------------------------------------------------------------- (d) service

CASE_BLOCK = {"id": "X", "patient": {"age": 72, "sex": "F", "allergies": ["青霉素"],
                                     "diagnoses": [{"name": "急性支气管炎", "icd10": "J20.9"},
                                                   {"name": "2型糖尿病", "icd10": "E11.9"}], "labs": {"egfr": 25}},
              "prescription": {"items": [
                  {"drug": "阿莫西林胶囊", "dose": 0.5, "unit": "g", "frequency": "tid", "route": "口服", "days": 5},
                  {"drug": "二甲双胍片", "dose": 0.5, "unit": "g", "frequency": "tid", "route": "口服", "days": 28}]}}
CASE_OK = {"id": "Y", "patient": {"age": 50, "sex": "M", "diagnoses": [{"name": "原发性高血压", "icd10": "I10"}]},
           "prescription": {"items": [{"drug": "缬沙坦胶囊", "dose": 80, "unit": "mg", "frequency": "qd",
                                       "route": "口服", "days": 28}]}}


class Server:
    """``clinic serve`` on 127.0.0.1 with a SQLite file, started and killed by us."""

    def __init__(self, db: Path, port: int):
        self.db, self.port = db, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[Any] | None = None

    def start(self, timeout: float = 120) -> float:
        import httpx

        t = time.perf_counter()
        self.proc = subprocess.Popen([*CLINIC, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--db", f"sqlite:///{self.db}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        while time.perf_counter() - t < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("clinic serve exited at start-up")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - t
            time.sleep(0.2)
        raise RuntimeError("clinic serve did not answer /healthz")

    def kill(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            self.proc = None

    @property
    def rss_kib(self) -> int:
        return _rss_kib(self.proc.pid) if self.proc else 0


def _load(url: str, seconds: float, connections: int, max_requests: int,
          body: Callable[[int], tuple[str, dict[str, Any]]]) -> dict[str, Any]:
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
    import httpx

    out: list[Check] = []
    server = Server(work / "clinic.db", _free_port())
    start_s = server.start()
    try:
        for _ in range(20):  # warm up
            httpx.post(server.url + "/v1/audit", json=CASE_OK, timeout=30)
        rss0 = server.rss_kib
        cases = [CASE_OK, CASE_BLOCK]

        def audit_body(i: int) -> tuple[str, dict[str, Any]]:
            return "/v1/audit", {**cases[i % 2], "id": f"LOAD-{i}"}

        s = _load(server.url, seconds, connections, 2_000_000, audit_body)
        rss1 = server.rss_kib
        total = s["ok"] + s["errors"]
        out.append(Check("service", f"{seconds:.0f} s load, {connections} connections, POST /v1/audit",
                         f"{total:,} requests", f"{s['errors']} errors ({s['error_kinds']}); {total / seconds:,.0f} req/s;"
                         f" p50 {s['p50_ms']:.0f} ms p99 {s['p99_ms']:.0f} ms; server RSS {rss0 / 1024:.0f} → "
                         f"{rss1 / 1024:.0f} MiB", s["errors"] == 0 and rss1 - rss0 < 200 * 1024,
                         {**s, "rss_before_kib": rss0, "rss_after_kib": rss1, "startup_s": start_s}))
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
                            d = c.post(f"/v1/audits/{audit_id}/decisions",
                                       json={"decision": "return", "pharmacist": f"药师{k}", "reason": "剂量需调整"})
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
        out.append(Check("service", "SIGKILL + restart mid-load, clients retry; decisions read back",
                         f"{len(acked):,} decisions acknowledged",
                         f"{missing} lost; {rejected['n']} refused; {retries['n']} client retries while down; "
                         f"restart took {restart_s:.1f}s", missing == 0 and rejected["n"] == 0 and len(acked) > 0,
                         {"acked": len(acked), "lost": missing, "rejected": rejected["n"], "retries": retries["n"]}))
    finally:
        server.kill()
    return out


# --------------------------------------------------------------------------- (e) audio

_AUDIO_PROBE = """
import json, sys, time
from toolkit.asr import transcribe
from toolkit.errors import InputError
t = time.perf_counter()
try:
    tr = transcribe(sys.argv[1])
    print(json.dumps({"kind": "result", "text_chars": len(tr.text), "duration": tr.duration,
                      "warnings": [w.code.value if hasattr(w.code, "value") else str(w.code) for w in tr.warnings],
                      "seconds": time.perf_counter() - t}))
except InputError as exc:
    print(json.dumps({"kind": "error", "message": str(exc)[:120], "seconds": time.perf_counter() - t}))
"""


def _write_wav(path: Path, samples: Iterator[Any], rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        for block in samples:
            w.writeframes(block.tobytes())


def _blocks(seconds: float, rate: int, kind: str) -> Iterator[Any]:
    import numpy as np

    rng = np.random.default_rng(3)
    step = rate * 60
    total = int(seconds * rate)
    for start in range(0, total, step):
        n = min(step, total - start)
        if kind == "silence":
            x = np.zeros(n)
        elif kind == "tone":
            x = 0.3 * np.sin(2 * np.pi * 440 * (np.arange(start, start + n) / rate))
        else:  # low room noise: above the silence guard, no speech for the VAD
            x = rng.normal(0, 0.01, n)
        yield (x * 32767).astype("<i2")


def check_audio(work: Path, hours: float, timeout: float = 900) -> list[Check]:
    out: list[Check] = []
    cases: list[tuple[str, Path, str]] = []
    p = work / "corrupt.wav"
    p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(4000))
    cases.append(("corrupt wav (random bytes after the header)", p, "4 KB"))
    p = work / "zero.wav"
    p.write_bytes(b"")
    cases.append(("zero-length file", p, "0 B"))
    p = work / "header_only.wav"
    _write_wav(p, iter(()), 16000)
    cases.append(("wav header, no samples", p, "44 B"))
    p = work / "tone_8k.wav"
    _write_wav(p, _blocks(20, 8000, "tone"), 8000)
    cases.append(("8 kHz tone (wrong sample rate)", p, "20 s"))
    p = work / "tone_44k.wav"
    _write_wav(p, _blocks(20, 44100, "tone"), 44100)
    cases.append(("44.1 kHz tone (wrong sample rate)", p, "20 s"))
    p = work / "silence_long.wav"
    _write_wav(p, _blocks(hours * 3600, 16000, "silence"), 16000)
    cases.append((f"{hours:g} h of silence", p, f"{p.stat().st_size / 1e6:.0f} MB"))
    p = work / "noise_long.wav"
    _write_wav(p, _blocks(hours * 3600, 16000, "noise"), 16000)
    cases.append((f"{hours:g} h of low noise (no speech: passes the silence guard, goes to VAD)", p,
                  f"{p.stat().st_size / 1e6:.0f} MB"))
    for name, path, size in cases:
        t = time.perf_counter()
        try:
            r = subprocess.run([sys.executable, "-c", _AUDIO_PROBE, str(path)], capture_output=True, text=True,
                               cwd=ROOT, timeout=timeout)
            wall = time.perf_counter() - t
            children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            last = (r.stdout.strip().splitlines() or ["{}"])[-1]
            res = json.loads(last) if last.startswith("{") else {"kind": "crash", "message": r.stderr[-200:]}
        except subprocess.TimeoutExpired:
            out.append(Check("audio", name, size, f"HUNG: no answer in {timeout:.0f}s", False))
            continue
        if res.get("kind") == "error":
            out.append(Check("audio", name, size, f"clear error in {wall:.1f}s: {res['message'].split(': ', 1)[-1][:70]}",
                             True, res))
        elif res.get("kind") == "result":
            out.append(Check("audio", name, size, f"result in {wall:.1f}s: {res['text_chars']} chars, warnings "
                             f"{res['warnings']}; largest child process so far {children_rss:.0f} MiB RSS",
                             res["text_chars"] == 0 or "tone" in name, res))
        else:
            out.append(Check("audio", name, size, f"crash: {res.get('message', '')[:100]}", False))
        path.unlink(missing_ok=True)
    return out


# --------------------------------------------------------------------------- report

def write_markdown(checks: list[Check], path: Path, command: str, seconds: float, notes: list[str]) -> None:
    uname = platform.uname()
    lines = [
        "# Reliability, measured",
        "",
        f"Generated by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min.",
        f"Machine: {uname.system} {uname.release}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "**shared with other jobs while it ran** (times are pessimistic and noisy).",
        "",
        "| area | check | size | result | pass |",
        "|---|---|---|---|---|",
    ]
    for c in checks:
        lines.append(f"| {c.area} | {c.check} | {c.size} | {c.result.replace('|', '/')} | {'yes' if c.ok else '**NO**'} |")
    lines += ["", *[f"- {n}" for n in notes], ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines for the kill/resume run")
    ap.add_argument("--file-lines", type=int, default=200_000, help="lines of each malformed-file run")
    ap.add_argument("--big-gb", type=float, default=2.0, help="size of the streamed file (0 = skip)")
    ap.add_argument("--kill-after", type=float, default=0.0, help="seconds before SIGKILL (0: once a tenth of "
                    "the output is written)")
    ap.add_argument("--load-seconds", type=float, default=60)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--audio-hours", type=float, default=2.0)
    ap.add_argument("--only", default="files,kill,service,audio")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--note", action="append", default=[], help="a note for the table (e.g. what was scaled)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    start = time.perf_counter()
    checks: list[Check] = []
    with tempfile.TemporaryDirectory(prefix="reliability_") as d:
        work = Path(d)
        if "files" in only:
            checks += check_files(work, args.file_lines, args.big_gb)
            _print(checks[-1:])
        if "kill" in only:
            checks.append(kill_and_resume(work, args.lines, args.kill_after))
        if "service" in only:
            checks += check_service(work, args.load_seconds, args.connections)
        if "audio" in only:
            checks += check_audio(work, args.audio_hours)
    seconds = time.perf_counter() - start
    _print(checks)
    if not args.no_write:
        cmd = "python eval/reliability.py " + " ".join(sys.argv[1:])
        write_markdown(checks, ROOT / "eval" / "RELIABILITY.md", cmd.strip(), seconds, args.note)
    sys.exit(0 if all(c.ok for c in checks) else 1)


def _print(checks: list[Check]) -> None:
    for c in checks:
        sys.stdout.write(f"[{'ok' if c.ok else 'FAIL'}] {c.area:8} {c.check} ({c.size}): {c.result}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
