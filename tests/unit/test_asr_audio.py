"""Decoding any browser/phone recording to 16 kHz mono, and clear errors for bad files."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from toolkit.asr.audio import SAMPLE_RATE, load_audio
from toolkit.errors import InputError

pytest.importorskip("faster_whisper")  # PyAV comes with it
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"


def _dominant_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE)[spectrum.argmax()])


def _write_wav(path: Path, rate: int, channels: int, seconds: float, freq: float = 440.0) -> None:
    t = np.arange(int(rate * seconds)) / rate
    mono = (0.5 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
    frames = np.repeat(mono[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames.tobytes())


@pytest.mark.parametrize(("rate", "channels"), [(44_100, 2), (48_000, 2), (8_000, 1), (16_000, 1)])
def test_wav_any_rate_and_channels_becomes_16k_mono(tmp_path, rate, channels):
    path = tmp_path / f"t{rate}_{channels}.wav"
    _write_wav(path, rate, channels, 2.0)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size / SAMPLE_RATE - 2.0) < 0.02
    assert abs(_dominant_hz(x) - 440) < 5
    assert 0.3 < np.abs(x).max() <= 1.0


@pytest.mark.parametrize(
    "name", ["tone440_48k_stereo.webm", "tone440_44k_stereo.mp3", "tone440_48k_mono.m4a", "tone440_8k.ogg"]
)
def test_compressed_browser_and_phone_formats(name):
    x = load_audio(FIXTURES / name)
    assert x.ndim == 1 and abs(x.size / SAMPLE_RATE - 1.5) < 0.1
    assert abs(_dominant_hz(x) - 440) < 5


def test_bytes_input(tmp_path):
    path = tmp_path / "a.wav"
    _write_wav(path, 48_000, 2, 1.0)
    assert abs(load_audio(path.read_bytes()).size - SAMPLE_RATE) < 50


def test_stereo_array_is_averaged():
    x = np.stack([np.ones(1000), -np.ones(1000)], axis=1).astype(np.float32)
    assert np.allclose(load_audio(x), 0)


@pytest.mark.parametrize(
    ("name", "message"), [("corrupt.wav", "cannot decode"), ("truncated_header.wav", "cannot decode")]
)
def test_corrupt_files_raise_input_error_naming_the_file(name, message):
    with pytest.raises(InputError, match=message) as err:
        load_audio(FIXTURES / name)
    assert err.value.file == str(FIXTURES / name) and name in str(err.value)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty") as err:
        load_audio(empty)
    assert "empty.wav" in str(err.value)
    with pytest.raises(InputError, match="not found"):
        load_audio(tmp_path / "nope.mp3")
    with pytest.raises(InputError, match="NaN"):
        load_audio(np.array([0.0, np.nan], np.float32))


def test_header_only_wav_has_no_samples(tmp_path):
    path = tmp_path / "header_only.wav"
    _write_wav(path, 16_000, 1, 0.0)
    with pytest.raises(InputError) as err:
        load_audio(path)
    assert "header_only.wav" in str(err.value)
