"""A dictation transcribed while it is being recorded: :class:`LiveSession`.

A microphone delivers audio in small chunks (a browser sends one every 0.5 s). Decoding takes
longer than that on a shared CPU, so the chunks must not wait for it: :meth:`LiveSession.feed`
only queues a chunk and returns at once, and a background thread hands what has arrived to a
:class:`~toolkit.asr.transcribe.LiveTranscriber`, which re-decodes the uncommitted tail every
``step_seconds`` of new audio (several chunks that arrived during a decode are decoded together).
:meth:`LiveSession.text` is what to show meanwhile (committed text + tentative tail);
:meth:`LiveSession.finish` waits for the thread, decodes only what is not yet committed and returns
the whole :class:`~toolkit.asr.records.Transcript`, the same record :func:`toolkit.asr.transcribe`
gives for a file. So less is left to decode when the doctor stops speaking.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolkit.asr.audio import SAMPLE_RATE, load_audio
from toolkit.asr.records import AsrWarning, PartialTranscript, Transcript, WarningCode
from toolkit.asr.transcribe import LiveTranscriber, TranscribeOptions
from toolkit.errors import InputError

if TYPE_CHECKING:
    import os

    import numpy as np

    from toolkit.asr.correct import Lexicon

log = logging.getLogger(__name__)

_END = object()


class LiveSession:
    """One recording in progress, decoded in a background thread (see the module docstring).

    ``feed`` accepts what :func:`~toolkit.asr.audio.load_audio` reads: a 16 kHz mono array, or a
    sound file / its bytes at any rate (a browser's WAV chunk). A chunk that cannot be read is
    skipped and counted in :attr:`skipped`, never fatal for the recording. The decoder (model, lexicon)
    is built in the thread, so the first chunk returns at once too. ``step_seconds`` / ``stable_margin``
    (see :class:`LiveTranscriber`): 3 s each by default, against 2 s / 1.5 s for the transcriber alone:
    on the 64 s dictation of ``eval/bench/bench_visit.py`` the error rate fell from 18.7 % to 16.8 %
    (whole file: 14.5 %) and the decoding while speaking from 28 s to 11 s of CPU, with about 0.5 s
    left to decode at the end either way.

    Lost audio is reported, never hidden: a browser's chunks can be dropped on the way when the
    computer is too busy (gradio keeps only the newest chunk of a stream while its handler runs). At
    :meth:`finish` the audio received is compared with the time between the first chunk and the end
    of the recording; when more than ``lost_tolerance`` seconds (or 10 %) are missing, the transcript
    carries an ``audio_lost`` warning asking the doctor to check it or upload the recording instead.
    """

    def __init__(
        self,
        options: TranscribeOptions | None = None,
        *,
        model: Any | None = None,
        lexicon: Lexicon | None = None,
        step_seconds: float = 3.0,
        stable_margin: float = 3.0,
        transcriber: LiveTranscriber | None = None,
        lost_tolerance: float = 1.5,
        clock: Callable[[], float] = time.monotonic,
        idle_timeout: float = 600.0,
    ):
        self.live: LiveTranscriber | None = transcriber
        self._make = lambda: LiveTranscriber(
            options, model=model, lexicon=lexicon, step_seconds=step_seconds, stable_margin=stable_margin
        )
        self._queue: queue.Queue[Any] = queue.Queue()
        self._partial = PartialTranscript()
        self.lost_tolerance = lost_tolerance
        self._clock = clock
        self._first_at: float | None = None  # clock at the first chunk
        self._started_at: float | None = None  # clock when the recording started (mark_start)
        self.idle_timeout = idle_timeout  # an abandoned recording frees its thread after this long
        self._first_seconds = 0.0  # its length
        self.lost_seconds = 0.0
        self._error: BaseException | None = None
        self._closed = False
        self._result: Transcript | None = None
        self._lock = threading.Lock()
        self.chunks = 0
        self._taken = 0  # chunks the thread has handled (decoded or buffered)
        self._idle = threading.Condition()
        self.skipped = 0
        self.decodes = 0
        self._audio: list[np.ndarray] = []
        self._thread = threading.Thread(target=self._run, name="live-asr", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ caller side

    @property
    def closed(self) -> bool:
        """True once :meth:`finish` or :meth:`close` was called (later chunks are ignored)."""
        return self._closed

    def mark_start(self, at: float | None = None) -> None:
        """The recording started now (or at ``at``): audio lost before the first chunk counts too."""
        at = self._clock() if at is None else at
        self._started_at = at if self._started_at is None else min(self._started_at, at)

    def feed(self, chunk: np.ndarray | str | os.PathLike[str] | bytes) -> None:
        """Queue one chunk of the recording; returns at once."""
        if self._closed:
            log.info("live session: a chunk arrived after the recording was finished; ignored")
            return
        if self._first_at is None:
            self._first_at = self._clock()
        self.chunks += 1
        self._queue.put(chunk)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every chunk fed so far has been handled (a benchmark or a test); False on timeout."""
        with self._idle:
            return self._idle.wait_for(
                lambda: self._taken >= self.chunks or not self._thread.is_alive(), timeout
            )

    def partial(self) -> PartialTranscript:
        """The latest partial result (committed segments + tentative tail)."""
        return self._partial

    def text(self) -> str:
        """Committed text followed by the tentative tail: what to show while the doctor speaks."""
        return self._partial.text

    def finish(self, timeout: float | None = None, *, ended_at: float | None = None) -> Transcript:
        """End of the recording: wait for the decoder thread, decode what is not committed, return the
        whole transcript. ``ended_at``: when the recording stopped (``clock`` time; default now).
        Idempotent (a second call returns the same transcript)."""
        with self._lock:
            if self._result is not None:
                return self._result
            end = self._clock() if ended_at is None else ended_at
            self.close()
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError("speech recognition did not finish in time")
            if self._error is not None:
                raise self._error
            if self.live is None:  # nothing arrived (or nothing readable)
                self.live = self._make()
            result = self.live.finish()
            lost = self._lost(end)
            if lost is not None:
                result = result.model_copy(update={"warnings": (*result.warnings, lost)})
            self._result = result
            self._partial = self.live.partial(final=True)
            return self._result

    def _lost(self, end: float) -> AsrWarning | None:
        if self._first_at is None:
            return None
        origin = self._first_at - self._first_seconds  # when the first chunk began, had it no delay
        if self._started_at is not None:
            origin = min(origin, self._started_at)
        expected = end - origin
        received = self.recording().size / SAMPLE_RATE
        missing = expected - received
        if missing <= max(self.lost_tolerance, 0.1 * expected):
            return None
        self.lost_seconds = round(missing, 1)
        log.warning("live session: %.1f s of %.1f s of audio did not arrive", missing, expected)
        return AsrWarning(
            code=WarningCode.AUDIO_LOST,
            message=(
                f"约 {missing:.0f} 秒录音（共约 {expected:.0f} 秒）未送达识别（电脑繁忙或连接中断），"
                "转写可能缺字漏句：请逐句核对，或上传完整录音文件重新识别"
            ),
        )

    def recording(self) -> np.ndarray:
        """The whole recording so far as 16 kHz mono samples (complete after :meth:`finish`)."""
        import numpy as np

        return np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        """Stop taking chunks and let the thread end (an abandoned recording: nothing is decoded)."""
        if not self._closed:
            self._closed = True
            self._queue.put(_END)

    # ------------------------------------------------------------------ decoder thread

    def _run(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=self.idle_timeout)]
            except queue.Empty:  # abandoned (the page was closed mid-recording): free the thread
                log.info("live session: no audio for %.0f s; closed", self.idle_timeout)
                self._closed = True
                return
            while batch[-1] is not _END:  # everything that arrived during the last decode, at once
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            ended = batch[-1] is _END
            chunks = [c for c in batch if c is not _END]
            if chunks and self._error is None:
                self._take(chunks, decode=not ended)
            with self._idle:
                self._taken += len(chunks)
                self._idle.notify_all()
            if ended:
                return

    def _take(self, chunks: list[Any], decode: bool) -> None:
        import numpy as np

        samples = []
        for c in chunks:
            try:
                samples.append(load_audio(c))
            except InputError as exc:
                self.skipped += 1
                log.warning("live session: chunk skipped (%s)", getattr(exc, "reason", exc))
        if not samples:
            return
        if not self._audio:
            self._first_seconds = samples[0].size / SAMPLE_RATE
        self._audio.extend(samples)
        try:
            if self.live is None:
                self.live = self._make()
            # decode=False once the recording has ended: finish() decodes the rest in one pass
            partial = self.live.feed(np.concatenate(samples), decode=decode)
        except BaseException as exc:  # reported by finish(), in the caller's thread
            log.error("live session: decoding failed: %s", type(exc).__name__, exc_info=exc)
            self._error = exc
            return
        if partial is not None:
            self.decodes += 1
            self._partial = partial
