"""Live dictation (issue 13): microphone chunks → partial text while speaking → Transcript → audited visit.

A fake Whisper stands in for the model: it "hears" one phrase per 2 s block of the buffer it is given,
the phrase chosen by the block's DC offset, so what it hears depends on the audio fed (and a phrase is
heard once whatever the buffer's offset), like a real decoder re-reading the uncommitted tail.
"""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.unit.test_asr_fakes import FakeSegment, fake_lexicon
from toolkit import demo_api as api
from toolkit.asr import TranscribeOptions, Transcript, transcribe
from toolkit.asr.live import LiveSession
from toolkit.demo_app import views
from toolkit.errors import InputError

pytest.importorskip("opencc")
SR = 16_000
BLOCK = 2.0
SCRIPT = [
    "患者头晕一周",
    "诊断原发性高血压",
    "给予苯磺酸氨氯地平片5毫克",
    "每日一次口服",
]
OPTIONS = TranscribeOptions(listen=False, alternatives=0)  # no extra model passes for the fake


def _dictation(phrases: int = len(SCRIPT)) -> np.ndarray:
    """``phrases`` blocks of speech-like noise, block k offset by 0.02·(k+1) (what the fake decodes)."""
    rng = np.random.default_rng(7)
    blocks = [rng.normal(0.02 * (k + 1), 0.1, int(BLOCK * SR)) for k in range(phrases)]
    return np.concatenate(blocks).astype(np.float32)


class ScriptModel:
    """One segment per whole 2 s block of the buffer, its text the SCRIPT phrase the block encodes."""

    label = "script-fake"

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls: list[int] = []
        self.busy = threading.Event()

    def transcribe(self, audio, **kwargs):
        self.busy.set()
        self.calls.append(len(audio))
        time.sleep(self.delay)  # a slow decoder: chunks must not wait for it
        n = int(len(audio) / SR // BLOCK)
        segs = []
        for i in range(n):
            block = audio[int(i * BLOCK * SR) : int((i + 1) * BLOCK * SR)]
            k = round(float(np.mean(block)) / 0.02) - 1
            if 0 <= k < len(SCRIPT):
                segs.append(FakeSegment(BLOCK * i, BLOCK * (i + 1), SCRIPT[k]))
        self.busy.clear()
        return iter(segs), SimpleNamespace(language="zh")


def _chunks(samples: np.ndarray, seconds: float = 0.5) -> list[np.ndarray]:
    n = int(seconds * SR)
    return [samples[i : i + n] for i in range(0, samples.size, n)]


def test_chunks_return_at_once_while_a_slow_decoder_works_and_the_text_grows():
    model = ScriptModel(delay=0.3)
    session = LiveSession(OPTIONS, model=model, lexicon=fake_lexicon())
    shown: list[str] = []
    slowest = 0.0
    for chunk in _chunks(_dictation()):
        t0 = time.perf_counter()
        session, text = api.live_feed(session, chunk)
        slowest = max(slowest, time.perf_counter() - t0)
        shown.append(text)
        time.sleep(0.05)
    assert slowest < 0.1  # the decoder (0.3 s a pass) never holds a chunk up
    assert session.wait(120)
    assert model.calls, "the background thread decoded nothing"
    assert len(model.calls) <= 8  # chunks that arrived during a decode were decoded together
    texts = [t for t in [*shown, api.live_text(session)] if t]
    assert texts, "no partial text was shown while recording"
    final = session.finish()
    assert final.text == "患者头晕一周，诊断原发性高血压，给予苯磺酸氨氯地平片5毫克，每日一次口服"
    # every partial shown is the start of the final text (committed text never changes), maybe with a tail
    for t in texts:
        assert final.text.startswith(t.removesuffix(" …"))


def test_partial_text_shows_committed_text_and_a_marked_tentative_tail():
    session = LiveSession(
        OPTIONS, model=ScriptModel(), lexicon=fake_lexicon(), step_seconds=2.0, stable_margin=1.5
    )
    audio = _dictation()
    for chunk in _chunks(audio[: int(6.5 * SR)]):
        api.live_feed(session, chunk)
    assert session.wait(120)
    partial = session.partial()
    assert [s.text for s in partial.committed] == SCRIPT[:2]  # ended ≥ 1.5 s before the buffer's end
    assert partial.tentative == SCRIPT[2]
    assert api.live_text(session) == "患者头晕一周，诊断原发性高血压，给予苯磺酸氨氯地平片5毫克 …"
    for chunk in _chunks(audio[int(6.5 * SR) :]):
        api.live_feed(session, chunk)
    transcript, _ = api.live_finish(session)
    assert api.live_text(session) == transcript.text  # final: no tentative marker
    assert [s.text for s in transcript.segments] == SCRIPT
    assert [(s.start, s.end) for s in transcript.segments] == [(0, 2), (2, 4), (4, 6), (6, 8)]


def test_live_transcript_matches_the_whole_file_and_drafts_the_same_visit(tmp_path: Path):
    """chunks in → partial text out → finish → the visit, through demo_api like the demo's handlers,
    with the default lexicon; the same record as transcribing the recording after it ends."""
    model = ScriptModel()
    audio = _dictation()
    session, shown = None, []
    for chunk in _chunks(audio):
        session, text = api.live_feed(session, chunk, OPTIONS, model=model)
        shown.append(text)
    assert session is not None and session.wait(120)
    assert any(shown) or api.live_text(session)
    transcript, wav = api.live_finish(session, tmp_path)
    assert isinstance(transcript, Transcript) and transcript.duration == 8.0
    batch = transcribe(audio, OPTIONS, model=ScriptModel())
    assert transcript.text == batch.text
    assert [c.corrected for c in transcript.corrections] == [c.corrected for c in batch.corrections]
    # the recording is kept whole (16 kHz WAV) for playback or to transcribe again
    assert wav is not None
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnframes()) == (SR, audio.size)
    visit = api.draft_record(transcript.text, transcript=transcript)
    assert "氨氯地平" in " ".join(i.drug for i in visit.case.prescription.items)
    assert visit.provenance.source == "audio"
    assert visit.segments and visit.segments[-1].end_s == 8.0  # seconds kept from the live transcript


def test_browser_wav_chunks_at_48_khz_are_resampled(tmp_path: Path):
    """A browser sends 0.5 s WAV files at its own rate; the session reads them as 16 kHz audio."""
    audio = _dictation(2)
    paths = []
    for i, chunk in enumerate(_chunks(audio)):
        up = np.repeat(chunk, 3)  # 48 kHz
        path = tmp_path / f"chunk{i}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(48_000)
            w.writeframes((np.clip(up, -1, 1) * 32767).astype("<i2").tobytes())
        paths.append(str(path))
    session = LiveSession(OPTIONS, model=ScriptModel(), lexicon=fake_lexicon())
    for p in paths:
        session.feed(p)
    transcript = session.finish()
    assert abs(session.recording().size - audio.size) <= 8 * len(paths)  # resampler edges
    assert transcript.text == "患者头晕一周，诊断原发性高血压"


def test_an_unreadable_chunk_is_skipped_and_the_recording_goes_on(tmp_path: Path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a sound file at all")
    session = LiveSession(OPTIONS, model=ScriptModel(), lexicon=fake_lexicon())
    chunks = _chunks(_dictation(2))
    session.feed(chunks[0])
    session.feed(str(junk))
    for c in chunks[1:]:
        session.feed(c)
    transcript = session.finish()
    assert session.skipped == 1
    assert transcript.segments  # what was heard is still there


def test_no_audio_is_refused_and_a_chunk_after_finish_is_ignored():
    with pytest.raises(InputError):
        api.live_finish(None)
    with pytest.raises(InputError):
        api.live_finish(LiveSession(OPTIONS, model=ScriptModel(), lexicon=fake_lexicon()))
    session = LiveSession(OPTIONS, model=ScriptModel(), lexicon=fake_lexicon())
    for c in _chunks(_dictation(1)):
        session.feed(c)
    first = session.finish()
    session.feed(np.ones(SR, np.float32))  # a late chunk: no error, no change
    assert session.finish() is first and session.recording().size == int(BLOCK * SR)
    # a finished session is never reused: the next recording gets a fresh one
    nxt, text = api.live_feed(session, None, OPTIONS, model=ScriptModel())
    assert nxt is not session and text == ""


def test_silence_invents_nothing():
    session = LiveSession(OPTIONS, model=ScriptModel(), lexicon=fake_lexicon())
    for _ in range(8):
        session.feed(np.zeros(SR // 2, np.float32))
    transcript = session.finish()
    assert transcript.text == "" and any(w.code == "no_speech" for w in transcript.warnings)


def test_a_decoder_failure_reaches_the_caller_at_finish():
    class Broken(ScriptModel):
        def transcribe(self, audio, **kwargs):
            raise RuntimeError("decoder crashed")

    session = LiveSession(OPTIONS, model=Broken(), lexicon=fake_lexicon())
    for c in _chunks(_dictation(2)):
        session.feed(c)
    assert session.wait(120)
    with pytest.raises(RuntimeError, match="decoder crashed"):
        session.finish()


def test_the_end_of_the_recording_is_decoded_once():
    """After the last chunk only finish() decodes: the thread buffers what arrives with the end."""
    model = ScriptModel()
    session = LiveSession(OPTIONS, model=model, lexicon=fake_lexicon(), step_seconds=100.0)
    for c in _chunks(_dictation()):
        session.feed(c)
    session.finish()
    assert len(model.calls) == 1 and model.calls[0] == int(len(SCRIPT) * BLOCK * SR)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_audio_that_never_arrived_is_reported_not_hidden():
    """A browser sends a 0.5 s chunk every 0.5 s; when some are lost on the way (a busy computer), the
    transcript says so instead of passing for the whole dictation."""
    clock = Clock()
    chunks = _chunks(_dictation())  # 16 chunks = 8 s
    lossy = LiveSession(OPTIONS, model=ScriptModel(), lexicon=fake_lexicon(), clock=clock)
    whole = LiveSession(OPTIONS, model=ScriptModel(), lexicon=fake_lexicon(), clock=clock)
    start = clock.now
    for i, c in enumerate(chunks):
        clock.now = start + 0.5 * (i + 1)  # each chunk arrives when its half second has been recorded
        whole.feed(c)
        if not 4 <= i < 10:  # 3 s lost in the middle
            lossy.feed(c)
    kept = whole.finish()
    assert not [w for w in kept.warnings if w.code == "audio_lost"] and whole.lost_seconds == 0
    hurt = lossy.finish()
    lost = [w for w in hurt.warnings if w.code == "audio_lost"]
    assert len(lost) == 1 and lossy.lost_seconds == 3.0
    assert "约 3 秒录音" in lost[0].message and "核对" in lost[0].message
    assert "约 3 秒录音" in views.warnings_markdown(hurt)  # the voice tab shows it


def test_a_short_delay_at_the_end_is_not_called_a_loss():
    clock = Clock()
    session = LiveSession(OPTIONS, model=ScriptModel(), lexicon=fake_lexicon(), clock=clock)
    start = clock.now
    for i, c in enumerate(_chunks(_dictation())):
        clock.now = start + 0.5 * (i + 1)
        session.feed(c)
    clock.now += 1.2  # the stop click arrives a little after the last chunk
    assert not [w for w in session.finish().warnings if w.code == "audio_lost"]


def test_audio_lost_before_the_first_chunk_counts_from_the_start_of_the_recording():
    clock = Clock()
    session = api.live_begin(None, OPTIONS, model=ScriptModel())  # start_recording: marks the time
    start = clock.now = 100.0
    session._clock = clock  # the start was marked with the real clock: mark it again
    session.mark_start(start)
    chunks = _chunks(_dictation())
    for i, c in enumerate(chunks):
        clock.now = start + 0.5 * (i + 1)
        if i >= 6:  # the first 3 s never arrived
            session.feed(c)
    assert api.live_begin(session) is session  # a start after the first chunk keeps the session
    transcript = session.finish()
    assert [w.code for w in transcript.warnings if w.code == "audio_lost"] == ["audio_lost"]
    assert session.lost_seconds == 3.0


def test_an_abandoned_recording_frees_its_thread():
    session = LiveSession(OPTIONS, model=ScriptModel(), lexicon=fake_lexicon(), idle_timeout=0.2)
    session.feed(_chunks(_dictation(1))[0])
    session._thread.join(5)
    assert not session._thread.is_alive() and session.closed
