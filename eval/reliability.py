"""Reliability, measured (issue 7): malformed files, a killed batch resumed, the service under load
and restarted, and audio that is corrupt, empty, two hours long or at the wrong sample rate.

Runs each check at full size (or at the size given), prints a table and writes it to
eval/RELIABILITY.md with the date, the machine and the command. Everything is generated in a
temporary directory and removed afterwards; servers listen on 127.0.0.1 only and every load loop
is bounded in time and in requests.

Usage:
    python eval/reliability.py [--lines 1000000] [--big-gb 2] [--load-seconds 60] [--connections 16]
                               [--audio-hours 2] [--only files,kill,service,audio,hostile] [--no-write]

``--only hostile`` (issue 16: formula injection, an xlsx bomb, 20,000 rows under one 处方号, unchecked
lines, decimal commas, a reappearing 处方号, JSONL and extract lines that used to abort, and the service's
limits, decisions, Host allow-list, paging and FHIR checks) writes its own section of RELIABILITY.md.

The kill/resume and service checks and their harness are in toolkit.evaluation.reliability (the
integration tests run them small); the hostile inputs are built by toolkit.evaluation.hostile, as in
the unit tests.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolkit.evaluation import hostile
from toolkit.evaluation.bench_data import HEADER, generate
from toolkit.evaluation.reliability import (
    CASE_BLOCK,
    CASE_OK,
    CLINIC,
    Check,
    Server,
    check_service,
    free_port,
    journal_rows,
    kill_and_resume,
)

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- (b) malformed files


def _stream_big_csv(path: Path, target_bytes: int) -> int:
    """Write about ``target_bytes`` of HIS lines without holding them in memory; returns the rows."""
    rng = random.Random(11)
    rows = 0
    drugs = [
        ("苯磺酸氨氯地平片", "5mg", "5", "mg", "qd"),
        ("盐酸二甲双胍片", "0.5g", "0.5", "g", "tid"),
        ("阿托伐他汀钙片", "20mg", "20", "mg", "qn"),
        ("阿莫西林胶囊", "0.5g", "0.5", "g", "tid"),
    ]
    with path.open("w", encoding="utf-8", buffering=1 << 20) as fh:
        fh.write(HEADER)
        rx = 0
        while fh.tell() < target_bytes:
            block = []
            for _ in range(10_000):
                rx += 1
                for drug, strength, dose, unit, freq in drugs[: rng.randint(1, 4)]:
                    block.append(
                        f'{rx:09d},P{rx % 9973},{rng.randint(18, 90)},男,"原发性高血压(I10)",{drug},'
                        f"{strength},{dose},{unit},{freq},口服,28,王医生,全科\n"
                    )
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
        rows = journal_rows(work / "out.jsonl")
        lines_seen = sorted(r[1] for r in rows)
        complete = len(lines_seen) == expect_rows and len(set(lines_seen)) == expect_rows
        errors = sum(r[2] == "error" for r in rows)
        out.append(
            Check(
                "files",
                name,
                what,
                f"{len(rows):,}/{expect_rows:,} rows with a status, {errors:,} error "
                f"rows, {s.rows / (time.perf_counter() - t):,.0f} rows/s",
                complete,
                {"rows": len(rows), "errors": errors},
            )
        )

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
    for name, data in (
        ("UTF-16 export", (HEADER + "1,2\n").encode("utf-16")),
        ("empty file (0 bytes)", b""),
        ("header only", HEADER.encode()),
        ("renamed 药品名称 column", text[:2000].replace("药品名称".encode(), b"drugname")),
    ):
        p = work / "whole.csv"
        p.write_bytes(data)
        try:
            s = run_batch(p, work / "out.jsonl", "jsonl", options=BatchOptions(workers=1))
            out.append(Check("files", name, "-", f"empty report ({s.rows} rows)", s.rows == 0))
        except InputError as exc:
            out.append(
                Check(
                    "files",
                    name,
                    "-",
                    f"clear error: {str(exc).split(': ', 1)[-1][:80]}",
                    "whole.csv" in str(exc),
                )
            )
    # truncated Excel
    lines_xl = (next(csv.reader([line])) for line in text.decode("utf-8").splitlines()[:20_001])
    full = hostile.write_streamed_xlsx(work / "full.xlsx", lines_xl)
    cut = hostile.cut_in_half(full, work / "cut.xlsx")
    t = time.perf_counter()
    try:
        run_batch(cut, work / "out.jsonl", "jsonl", options=BatchOptions(workers=1))
        out.append(Check("files", "Excel cut in half", "20,000 rows", "read without error?!", False))
    except InputError as exc:
        out.append(
            Check(
                "files",
                "Excel cut in half",
                "20,000 rows",
                f"clear error in {time.perf_counter() - t:.2f}s: {str(exc).split(': ', 1)[-1][:60]}",
                True,
            )
        )
    # bounded memory: stream a big file through the reader (the main process of a batch run)
    if big_gb > 0:
        big = work / "big.csv"
        t = time.perf_counter()
        rows = _stream_big_csv(big, int(big_gb * 1e9))
        gen_s = time.perf_counter() - t
        small = work / "small.csv"
        _stream_big_csv(small, 20_000_000)
        probe = [sys.executable, "-c", _READ_PROBE]
        u_small = subprocess.run(
            [*probe, str(small)], capture_output=True, text=True, check=True, cwd=ROOT, timeout=3600
        ).stdout.split()
        u_big = subprocess.run(
            [*probe, str(big)], capture_output=True, text=True, check=True, cwd=ROOT, timeout=3600
        ).stdout.split()
        rss_small, rss_big = int(u_small[2]) / 1024, int(u_big[2]) / 1024
        base = int(u_big[4]) / 1024
        ok = int(u_big[1]) == rows and rss_big - rss_small < 64
        out.append(
            Check(
                "files",
                "big file streamed (reader + grouping, main process)",
                f"{big.stat().st_size / 1e9:.2f} GB, {rows:,} lines",
                f"peak RSS while reading {rss_big:.0f} MiB vs {rss_small:.0f} MiB for a 20 MB file "
                f"({base:.0f} MiB after imports); all {int(u_big[1]):,} rows read in {float(u_big[3]):.0f}s "
                f"(generated in {gen_s:.0f}s)",
                ok,
                {"peak_rss_mib": rss_big, "peak_rss_small_mib": rss_small, "rss_after_imports_mib": base},
            )
        )
        big.unlink()
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
    cases.append(
        (
            f"{hours:g} h of low noise (no speech: passes the silence guard, goes to VAD)",
            p,
            f"{p.stat().st_size / 1e6:.0f} MB",
        )
    )
    for name, path, size in cases:
        t = time.perf_counter()
        try:
            r = subprocess.run(
                [sys.executable, "-c", _AUDIO_PROBE, str(path)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=timeout,
            )
            wall = time.perf_counter() - t
            children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            last = (r.stdout.strip().splitlines() or ["{}"])[-1]
            res = json.loads(last) if last.startswith("{") else {"kind": "crash", "message": r.stderr[-200:]}
        except subprocess.TimeoutExpired:
            out.append(Check("audio", name, size, f"HUNG: no answer in {timeout:.0f}s", False))
            continue
        if res.get("kind") == "error":
            out.append(
                Check(
                    "audio",
                    name,
                    size,
                    f"clear error in {wall:.1f}s: {res['message'].split(': ', 1)[-1][:70]}",
                    True,
                    res,
                )
            )
        elif res.get("kind") == "result":
            out.append(
                Check(
                    "audio",
                    name,
                    size,
                    f"result in {wall:.1f}s: {res['text_chars']} chars, warnings "
                    f"{res['warnings']}; largest child process so far {children_rss:.0f} MiB RSS",
                    res["text_chars"] == 0 or "tone" in name,
                    res,
                )
            )
        else:
            out.append(Check("audio", name, size, f"crash: {res.get('message', '')[:100]}", False))
        path.unlink(missing_ok=True)
    return out


# --------------------------------------------------------------------------- (e) hostile input (issue 16)


def check_hostile(work: Path) -> list[Check]:
    """Each attack of issue 16 as a row: the input, what came back, and whether that is acceptable."""
    from toolkit.batch import BatchOptions, run_batch

    out: list[Check] = []
    opts = BatchOptions(workers=1)

    def journal(path: Path) -> list[dict[str, Any]]:
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]

    # formula injection in every report cell
    src = hostile.write_his_csv(work / "formula.csv", hostile.formula_rows_short())
    run_batch(src, work / "f.csv", "csv", options=opts)
    with (work / "f.csv").open(encoding="utf-8-sig", newline="") as fh:
        csv_cells = [c for r in csv.reader(fh) for c in r]
    run_batch(src, work / "f.xlsx", "xlsx", options=opts)
    import openpyxl

    wb = openpyxl.load_workbook(work / "f.xlsx")
    xl = [c for ws in wb.worksheets for r in ws.iter_rows() for c in r]
    live = (
        [v for v in csv_cells if hostile.is_live_formula(v)]
        + [c.value for c in xl if hostile.is_live_formula(c.value)]
        + [c for c in xl if c.data_type == "f"]
    )
    out.append(
        Check(
            "hostile",
            "formula-leading cells (= + - @) in 处方号, drug, doctor, department",
            f"CSV + Excel, {len(wb.worksheets)} sheets, {len(xl)} cells",
            f"{len(live)} live formula cells; written as text with a leading '",
            not live,
        )
    )
    # xlsx bomb: a cell at XFD1048576, in a child process capped at 2 GiB of address space
    bomb = hostile.write_xlsx_bomb(work / "bomb.xlsx")
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30));"
        "from toolkit.batch import run_batch, BatchOptions;"
        f"run_batch({str(bomb)!r}, {str(work / 'bomb.jsonl')!r}, 'jsonl', options=BatchOptions(workers=1))"
    )
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    lines = journal(work / "bomb.jsonl") if proc.returncode == 0 else []
    ok = proc.returncode == 0 and len(lines) == 1 and lines[0]["status"] == "error"
    out.append(
        Check(
            "hostile",
            "xlsx with one cell at XFD1048576 (2 GiB address-space cap)",
            f"{bomb.stat().st_size / 1024:.1f} KB",
            f"exit {proc.returncode} in {time.perf_counter() - t:.1f}s; "
            + (f"error row: {lines[0]['error'][:90]}" if ok else proc.stderr[-120:]),
            ok,
        )
    )
    # a big workbook: streamed (openpyxl read-only), memory bounded; the same sheet loaded whole for contrast
    base = work / "xl_base.csv"
    generate(base, 100_000)
    with base.open(encoding="utf-8") as fh:
        big_xlsx = hostile.write_streamed_xlsx(work / "big.xlsx", csv.reader(fh))
    probe = (
        "import sys, time; from pathlib import Path; import toolkit.batch.readers as R\n"
        "kib = lambda k: next(int(x.split()[1]) for x in Path('/proc/self/status').read_text().splitlines()"
        " if x.startswith(k))\n"
        "if sys.argv[2] == 'whole': R.XLSX_IN_MEMORY_BYTES = R._IN_MEMORY_CELLS = 1 << 40\n"
        "Path('/proc/self/clear_refs').write_text('5'); t = time.perf_counter()\n"
        "n = sum(len(u.payload[2]) if u.kind == 'rows' else 1 for u in R.iter_units(sys.argv[1]))\n"
        "print(n, kib('VmHWM:') // 1024, round(time.perf_counter() - t, 1))\n"
    )
    got = {}
    for how in ("stream", "whole"):
        res = subprocess.run(
            [sys.executable, "-c", probe, str(big_xlsx), how],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=1800,
        )
        got[how] = res.stdout.split() if res.returncode == 0 else ["0", "0", "0"]
    ok = int(got["stream"][0]) == 100_000 and int(got["stream"][1]) < int(got["whole"][1])
    out.append(
        Check(
            "hostile",
            "xlsx of 100,000 lines read as a stream (sheet XML over 16 MB)",
            f"{big_xlsx.stat().st_size / 1e6:.1f} MB",
            f"{got['stream'][0]} rows in {got['stream'][2]}s, peak RSS {got['stream'][1]} MiB; loaded whole "
            f"(calamine): {got['whole'][2]}s, {got['whole'][1]} MiB",
            ok,
        )
    )
    # 20,000 rows under one 处方号: one error row naming the limit, the batch goes on
    rows = hostile.rows_sharing_one_id(20_000, "9999", drug="阿司匹林肠溶片", dose="100", after="0002")
    src = hostile.write_his_csv(work / "one_id.csv", rows)
    t = time.perf_counter()
    s = run_batch(src, work / "one_id.jsonl", "jsonl", options=opts)
    lines = journal(work / "one_id.jsonl")
    ok = [c["status"] for c in lines] == ["ok", "error", "ok"] and "limit of 100" in (lines[1]["error"] or "")
    out.append(
        Check(
            "hostile",
            "20,000 rows sharing one 处方号",
            f"{src.stat().st_size / 1e6:.1f} MB",
            f"{s.rows:,} rows with a status in {time.perf_counter() - t:.1f}s; that case: "
            f"{(lines[1]['error'] or '')[:70] if len(lines) > 1 else '?'}",
            ok,
        )
    )
    # lines the engine could not check, and a prescription whose only line is unreadable
    src = hostile.write_his_csv(
        work / "unchecked.csv",
        [
            hostile.his_row("0001", drug="某某未知药片"),
            hostile.his_row("0002", dose="-5"),
            hostile.his_row("0003", dose="0"),
            hostile.his_row("0004", days="0"),
            hostile.his_row("0005", unit="kg"),
            hostile.his_row("0006", dose="abc"),
            hostile.his_row("0007"),
        ],
    )
    s = run_batch(src, work / "unchecked.html", "html", options=opts)
    html = (work / "unchecked.html").read_text(encoding="utf-8")
    ok = s.cases_needs_review == 5 and s.cases_error == 1 and s.cases_ok == 1 and "需人工审核 5 张" in html
    out.append(
        Check(
            "hostile",
            "drug not in the KB, dose −5 / 0, days 0, unit kg, unreadable only line",
            "7 prescriptions",
            f"ok {s.cases_ok}, needs_review {s.cases_needs_review}, error "
            f"{s.cases_error}; HTML says 需人工审核 {s.cases_needs_review} 张, 无法审核 {s.cases_error} 张",
            ok,
        )
    )
    # decimal comma and a reappearing 处方号
    src = hostile.write_his_csv(
        work / "misread.csv",
        [
            hostile.his_row("0001", drug="华法林钠片", dose="2,5"),
            hostile.his_row("0002", drug="华法林钠片", dose="2.5"),
            hostile.his_row("0003"),
            hostile.his_row("0002", drug="阿司匹林肠溶片", dose="100"),
        ],
    )
    run_batch(src, work / "misread.jsonl", "jsonl", options=opts)
    lines = journal(work / "misread.jsonl")
    comma, again = lines[0], lines[3]
    ok = (
        comma["status"] == "error"
        and "2,5" in comma["error"]
        and again["status"] != "ok"
        and "第3行" in " ".join(again.get("notes", []))
    )
    out.append(
        Check(
            "hostile",
            "warfarin dose '2,5'; 处方号 0002 again after another prescription",
            "4 rows",
            f"'2,5': {comma['status']} ({(comma['error'] or '')[-60:]}); second 0002: {again['status']}, "
            f"note: {' '.join(again.get('notes', []))[:60]}",
            ok,
        )
    )
    # JSONL lines that used to abort the batch
    good = hostile.minimal_case("A")
    src = work / "hostile.jsonl"
    src.write_text(
        "\n".join(
            [
                json.dumps(good),
                hostile.deeply_nested_line("D"),
                hostile.lone_surrogate_id_line(good),
                json.dumps({**good, "id": "Z"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [
            *CLINIC,
            "audit",
            str(src),
            "--format",
            "jsonl",
            "-o",
            str(work / "h.jsonl"),
            "--workers",
            "2",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    lines = journal(work / "h.jsonl") if (work / "h.jsonl").exists() else []
    ok = proc.returncode == 0 and [c["status"] for c in lines] == ["ok", "error", "error", "ok"]
    out.append(
        Check(
            "hostile",
            "JSONL: nesting 5,000 deep, lone surrogate in an id",
            "4 lines",
            f"exit {proc.returncode}; statuses {[c['status'] for c in lines]}",
            ok,
        )
    )
    # clinic extract: surrogate, nesting, 19,999 digits
    src = work / "texts.jsonl"
    src.write_text(
        "\n".join(
            [
                hostile.surrogate_text_line(),
                hostile.deeply_nested_line("d", key="text"),
                hostile.long_number_line("n"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    t = time.perf_counter()
    proc = subprocess.run(
        [*CLINIC, "extract", str(src), "-o", str(work / "x.jsonl")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    secs = time.perf_counter() - t
    lines = journal(work / "x.jsonl") if (work / "x.jsonl").exists() else []
    ok = proc.returncode == 0 and len(lines) == 3 and all(x["error"] for x in lines) and secs < 30
    out.append(
        Check(
            "hostile",
            "clinic extract: lone surrogate, nesting, 19,999 digits",
            "3 lines",
            f"exit {proc.returncode} in {secs:.1f}s; errors: "
            + "; ".join((x["error"] or "")[:40] for x in lines),
            ok,
        )
    )
    out += _check_hostile_service(work)
    return out


def _check_hostile_service(work: Path) -> list[Check]:
    import httpx

    out: list[Check] = []
    server = Server(work / "hostile.db", free_port())
    server.start()
    try:
        url = server.url
        big = hostile.many_items(CASE_OK, 3000, case_id="BIG")
        body = json.dumps(big).encode()
        health: list[float] = []
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                t0 = time.perf_counter()
                httpx.get(url + "/healthz", timeout=30)
                health.append(time.perf_counter() - t0)
                time.sleep(0.01)

        poller = threading.Thread(target=poll)
        poller.start()
        t = time.perf_counter()
        r = httpx.post(
            url + "/v1/audit", content=body, headers={"content-type": "application/json"}, timeout=120
        )
        secs = time.perf_counter() - t
        done.set()
        poller.join()
        worst = max(health, default=0) * 1000
        ok = r.status_code == 422 and "limit of 100" in r.text and secs < 5 and worst < 1000
        out.append(
            Check(
                "hostile",
                "POST /v1/audit with 3,000 items; /healthz polled meanwhile",
                f"{len(body) / 1024:.0f} KB",
                f"{r.status_code} in {secs:.2f}s "
                f"({r.json()['detail'][0]['msg'][:60]}); slowest /healthz {worst:.0f} ms",
                ok,
            )
        )
        # one drug name of 150,000 characters, also as a current medication (900 KB)
        huge = json.loads(json.dumps(CASE_OK))
        name = "华" * 150_000
        huge["id"] = "HUGE-NAME"
        huge["prescription"]["items"][0]["drug"] = name
        huge.setdefault("patient", {})["current_medications"] = [name]
        body = json.dumps(huge, ensure_ascii=False).encode()
        t = time.perf_counter()
        r = httpx.post(
            url + "/v1/audit", content=body, headers={"content-type": "application/json"}, timeout=120
        )
        secs = time.perf_counter() - t
        alive = httpx.get(url + "/healthz", timeout=30).status_code == 200
        status = r.json().get("status") if r.status_code == 200 else r.text[:60]
        ok = r.status_code == 200 and status == "needs_review" and secs < 5 and alive
        out.append(
            Check(
                "hostile",
                "POST /v1/audit with one 150,000-character drug name, also as 在用药品",
                f"{len(body) / 1024:.0f} KB",
                f"{r.status_code} {status} in {secs:.2f}s; service alive: {alive}",
                ok,
            )
        )
        # 20 concurrent conflicting decisions on one audit
        audit_id = httpx.post(url + "/v1/audit", json=CASE_BLOCK, timeout=30).headers["x-audit-id"]
        codes: list[int] = []
        lock = threading.Lock()

        def decide(n: int) -> None:
            body = {"decision": ("pass", "return")[n % 2], "pharmacist": f"药师{n}", "reason": "并发测试"}
            c = httpx.post(f"{url}/v1/audits/{audit_id}/decisions", json=body, timeout=60).status_code
            with lock:
                codes.append(c)

        threads = [threading.Thread(target=decide, args=(n,)) for n in range(20)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        stored = httpx.get(f"{url}/v1/audits/{audit_id}/decisions", timeout=30).json()["decisions"]
        ok = sorted(codes) == [201] + [409] * 19 and len(stored) == 1
        out.append(
            Check(
                "hostile",
                "20 concurrent conflicting decisions on one audit",
                "20 requests",
                f"{codes.count(201)} × 201, {codes.count(409)} × 409; {len(stored)} stored",
                ok,
            )
        )
        # a retry after a lost reply (same Idempotency-Key)
        audit_id = httpx.post(url + "/v1/audit", json=CASE_BLOCK, timeout=30).headers["x-audit-id"]
        body = {"decision": "return", "pharmacist": "药师甲", "reason": "请核对肾功能"}
        key = {"Idempotency-Key": "reliability-retry-1"}
        first = httpx.post(f"{url}/v1/audits/{audit_id}/decisions", json=body, headers=key, timeout=30)
        retry = httpx.post(f"{url}/v1/audits/{audit_id}/decisions", json=body, headers=key, timeout=30)
        stored = httpx.get(f"{url}/v1/audits/{audit_id}/decisions", timeout=30).json()["decisions"]
        ok = first.status_code == 201 and retry.status_code == 200 and len(stored) == 1
        out.append(
            Check(
                "hostile",
                "decision retried with the same Idempotency-Key",
                "2 requests",
                f"{first.status_code} then {retry.status_code}; {len(stored)} stored",
                ok,
            )
        )
        # a pass of a block finding without a reason; DNS rebinding; a huge offset; two patients in FHIR
        audit_id = httpx.post(url + "/v1/audit", json=CASE_BLOCK, timeout=30).headers["x-audit-id"]
        no_reason = httpx.post(
            f"{url}/v1/audits/{audit_id}/decisions",
            json={"decision": "pass", "pharmacist": "药师甲"},
            timeout=30,
        )
        rebound = httpx.get(url + "/v1/review-queue", headers={"Host": "attacker.example"}, timeout=30)
        offset = httpx.get(url + "/v1/review-queue?offset=99999999999999999999", timeout=30)

        def mr(mid: str, subject: str) -> dict[str, Any]:
            return {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": mid,
                    "status": "draft",
                    "intent": "order",
                    "subject": {"reference": subject},
                    "medicationCodeableConcept": {"text": "缬沙坦胶囊"},
                    "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 80, "unit": "mg"}}]}],
                }
            }

        fhir = httpx.post(
            url + "/v1/fhir/audit",
            json={
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [mr("a", "Patient/p1"), mr("b", "Patient/p2")],
            },
            timeout=30,
        )
        ok = (
            no_reason.status_code == 422
            and rebound.status_code == 421
            and offset.status_code == 400
            and fhir.status_code == 422
        )
        out.append(
            Check(
                "hostile",
                "pass a 拦截 without reason / Host: attacker.example / offset=10^20 / "
                "FHIR Bundle for two patients",
                "4 requests",
                f"{no_reason.status_code} / {rebound.status_code} / {offset.status_code} / {fhir.status_code}",
                ok,
            )
        )
    finally:
        server.kill()
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
        lines.append(
            f"| {c.area} | {c.check} | {c.size} | {c.result.replace('|', '/')} | {'yes' if c.ok else '**NO**'} |"
        )
    lines += ["", *[f"- {n}" for n in notes], ""]
    path.write_text("\n".join(lines), encoding="utf-8")


_SECTION_START, _SECTION_END = "<!-- hostile:start -->", "<!-- hostile:end -->"


def write_section(checks: list[Check], path: Path, command: str, seconds: float) -> None:
    """Write (or replace) the hostile-input section of RELIABILITY.md, keeping the rest of the file."""
    lines = [
        _SECTION_START,
        "",
        "## Hostile and broken input (issue 16)",
        "",
        f"Generated by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min "
        f"({os.cpu_count()} cores, shared with other jobs).",
        "",
        "| area | check | size | result | pass |",
        "|---|---|---|---|---|",
    ]
    for c in checks:
        lines.append(
            f"| {c.area} | {c.check} | {c.size} | {c.result.replace('|', '/')} | {'yes' if c.ok else '**NO**'} |"
        )
    lines += ["", _SECTION_END]
    section = "\n".join(lines)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Reliability, measured\n"
    if _SECTION_START in text and _SECTION_END in text:
        head, rest = text.split(_SECTION_START, 1)
        text = head + section + rest.split(_SECTION_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines for the kill/resume run")
    ap.add_argument("--file-lines", type=int, default=200_000, help="lines of each malformed-file run")
    ap.add_argument("--big-gb", type=float, default=2.0, help="size of the streamed file (0 = skip)")
    ap.add_argument(
        "--kill-after",
        type=float,
        default=0.0,
        help="seconds before SIGKILL (0: once a tenth of the output is written)",
    )
    ap.add_argument("--load-seconds", type=float, default=60)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--audio-hours", type=float, default=2.0)
    ap.add_argument("--only", default="files,kill,service,audio,hostile")
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
        if "hostile" in only:
            checks += check_hostile(work)
    seconds = time.perf_counter() - start
    _print(checks)
    if not args.no_write:
        cmd = "python eval/reliability.py " + " ".join(sys.argv[1:])
        if only == {"hostile"}:  # its own section: the other rows keep the run that measured them
            write_section(checks, ROOT / "eval" / "RELIABILITY.md", cmd.strip(), seconds)
        else:
            write_markdown(checks, ROOT / "eval" / "RELIABILITY.md", cmd.strip(), seconds, args.note)
    sys.exit(0 if all(c.ok for c in checks) else 1)


def _print(checks: list[Check]) -> None:
    for c in checks:
        sys.stdout.write(f"[{'ok' if c.ok else 'FAIL'}] {c.area:8} {c.check} ({c.size}): {c.result}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
