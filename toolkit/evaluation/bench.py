"""What the HTTP benchmarks share: ``eval/bench/bench_service.py`` (``POST /v1/audit`` against a bare
endpoint) and ``eval/bench/bench_queue.py`` (the review queue at depth), both running their servers
with ``bench_service.py --serve`` on 127.0.0.1.

* :func:`free_port` — a TCP port free on 127.0.0.1 just now (also used by
  :mod:`toolkit.evaluation.reliability`);
* :func:`wait_ready` — wait until a server accepts connections on a port;
* :func:`cpu_seconds` — a process's user + system CPU time (Linux ``/proc``), robust to other load;
* :func:`load` — an asyncio HTTP/1.1 keep-alive client posting one body (or a rotation of bodies) to ``/v1/audit`` for a bounded
  time on ``concurrency`` connections, with a warm-up, returning latency percentiles and throughput.

:func:`load` is not :func:`toolkit.evaluation.reliability.load`: that one is a thread-per-connection
``httpx`` client with a request budget and a body per request (for correctness under load); this one
writes the raw request bytes itself so the client costs as little as possible next to the server it
measures.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import time
from pathlib import Path
from typing import Any

__all__ = ["cpu_seconds", "free_port", "load", "wait_ready"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, timeout: float = 60) -> None:
    """Return once 127.0.0.1:``port`` accepts a TCP connection; RuntimeError after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


async def _connection(
    port: int,
    requests: list[bytes],
    start: int,
    until: float,
    record_from: float,
    lat: list[float],
    warm: list[int],
) -> int:
    """One keep-alive connection sending ``requests`` in turn (from position ``start``) until ``until``;
    latencies of 200 answers sent after ``record_from`` go to ``lat``, earlier ones count in ``warm``.
    Returns the non-200 answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    n = start
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= until:
                break
            writer.write(requests[n % len(requests)])
            n += 1
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
            else:
                warm.append(1)
    finally:
        writer.close()
    return errors


async def load(
    port: int, body: bytes | list[bytes], concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    """``POST /v1/audit`` with ``body`` on ``concurrency`` keep-alive connections for ``warmup`` then
    ``seconds`` seconds. ``body`` may be a list: each connection then posts the bodies in turn, starting
    at its own position (so concurrent requests carry different cases). Returns requests measured,
    warm-up requests (plus errors), errors, requests per second and p50/p99/mean latency in ms (None
    when nothing was measured)."""
    requests = [
        b"POST /v1/audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(b)).encode() + b"\r\n\r\n" + b
        for b in ([body] if isinstance(body, bytes) else body)
    ]
    start = time.perf_counter()
    record_from, until = start + warmup, start + warmup + seconds
    lat: list[float] = []
    warm: list[int] = []
    errors = sum(
        await asyncio.gather(
            *(_connection(port, requests, i * 7, until, record_from, lat, warm) for i in range(concurrency))
        )
    )
    lat.sort()
    n = len(lat)
    return {
        "requests": n,
        "warmup_requests": len(warm) + errors,
        "errors": errors,
        "rps": n / seconds,
        "p50_ms": 1000 * lat[n // 2] if n else None,
        "p99_ms": 1000 * lat[min(n - 1, int(n * 0.99))] if n else None,
        "mean_ms": 1000 * statistics.fmean(lat) if n else None,
    }
