"""Audio that is corrupt, empty, silent or at another sample rate: a clear error or a result, fast,
never a hang and never invented text (issue 7). The 2-hour recordings are in eval/reliability.py."""

from __future__ import annotations

import os
import time
import wave
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("faster_whisper")

from toolkit.asr.audio import SAMPLE_RATE, load_audio  # noqa: E402
from toolkit.errors import InputError  # noqa: E402


def _wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "empty"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(2000), "decode|no audio"),
        (os.urandom(5000), "decode|no audio"),
    ],
)
def test_broken_files_are_clear_errors(tmp_path: Path, data: bytes, match: str) -> None:
    p = tmp_path / "clip.wav"
    p.write_bytes(data)
    t = time.perf_counter()
    with pytest.raises(InputError, match=match) as err:
        load_audio(p)
    assert "clip.wav" in str(err.value) and time.perf_counter() - t < 10


def test_header_only_wav_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no audio samples|decode"):
        load_audio(_wav(tmp_path / "h.wav", np.zeros(0), 16000))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_any_sample_rate_comes_out_16k_with_the_same_duration(tmp_path: Path, rate: int) -> None:
    t = np.arange(rate * 2) / rate
    x = load_audio(_wav(tmp_path / f"{rate}.wav", 0.3 * np.sin(2 * np.pi * 440 * t), rate))
    assert abs(x.size - 2 * SAMPLE_RATE) <= SAMPLE_RATE // 100  # 2 s, within 10 ms
    assert 0.15 < float(np.sqrt(np.mean(x**2))) < 0.3  # the tone survives resampling


def test_ten_minutes_of_silence_is_an_empty_draft_quickly(tmp_path: Path) -> None:
    from toolkit.asr import transcribe

    p = _wav(tmp_path / "silence.wav", np.zeros(SAMPLE_RATE * 600), SAMPLE_RATE)
    t = time.perf_counter()
    tr = transcribe(p)
    assert tr.text == "" and tr.warnings and abs(tr.duration - 600) < 1
    assert time.perf_counter() - t < 60


def test_nan_samples_are_refused() -> None:
    with pytest.raises(InputError, match="NaN"):
        load_audio(np.array([0.0, np.nan, 0.1], dtype=np.float32))
