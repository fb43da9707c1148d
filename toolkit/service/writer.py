"""Group commit for audit rows: one writer thread, one transaction for whatever is waiting.

Under concurrent load every request used to open its own transaction, and SQLite serialises writers
(the losers sleep in the busy handler), so tail latency grew with the number of connections. Here a
request hands its rows to the writer and waits for the commit of the batch that carries them: the
answer still goes out only after the audit is durably stored.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)

_STOP = object()


class GroupWriter:
    """Run ``write(batch)`` on a dedicated thread for up to ``max_batch`` submitted jobs at a time."""

    def __init__(self, write: Callable[[Sequence[Any]], None], max_batch: int = 256):
        self._write = write
        self._max = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Any) -> Future[None]:
        """Queue ``job``; the future completes when the batch holding it is committed (or fails)."""
        fut: Future[None] = Future()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._thread.start()
        self._queue.put((job, fut))
        return fut

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            try:
                self._write([job for job, _ in batch])
            except Exception as exc:  # each waiting request gets the error; the thread keeps serving
                log.error("audit write failed for %d job(s): %s", len(batch), type(exc).__name__)
                for _, fut in batch:
                    fut.set_exception(exc)
            else:
                for _, fut in batch:
                    fut.set_result(None)
            if stop:
                return


class LoopBatcher:
    """Group commit on the event loop itself, for SQLite.

    A writer thread has to win the GIL back from the busy event loop for every SQLite call (each call
    releases it), which under load made a commit wait many switch intervals (5 ms each). A local
    SQLite commit is short, so here the loop writes the batch itself: requests queue their rows, and
    one callback, scheduled after the callbacks already ready to run, writes whatever has queued.
    """

    def __init__(self, write: Callable[[Sequence[Any]], None]):
        self._write = write
        self._pending: list[tuple[Any, Any]] = []
        self._scheduled = False

    async def submit(self, job: Any) -> None:
        """Queue ``job`` and return once the batch holding it is written (raises what the write raised)."""
        import asyncio

        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append((job, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        await fut

    def _flush(self) -> None:
        batch, self._pending, self._scheduled = self._pending, [], False
        try:
            self._write([job for job, _ in batch])
        except Exception as exc:
            log.error("audit write failed for %d job(s): %s", len(batch), type(exc).__name__)
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
        else:
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
