"""Audio input: any file a browser or phone records → 16 kHz mono float32.

Decoding and resampling use PyAV (FFmpeg libraries bundled in the ``av``
wheel, which faster-whisper depends on), so wav, mp3, m4a/aac, webm/opus and
ogg at 8–48 kHz, mono or stereo, all come out the same way. Unreadable input is
an :class:`~toolkit.errors.InputError` naming the file.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from toolkit.errors import InputError, require

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


def describe(audio: object) -> str:
    """A short name for an audio input, for messages (never its content)."""
    if isinstance(audio, str | os.PathLike):
        return str(audio)
    if isinstance(audio, bytes | bytearray):
        return f"<{len(audio)} bytes>"
    name = getattr(audio, "name", None)
    if isinstance(name, str):
        return name
    return f"<{type(audio).__name__}>"


def load_audio(audio: str | os.PathLike[str] | bytes | BinaryIO | np.ndarray) -> np.ndarray:
    """Decode ``audio`` to a 16 kHz mono float32 array in [-1, 1].

    A numpy array is taken as already 16 kHz mono (a 2-D array is averaged to
    mono). Raises :class:`InputError` for a missing, empty or undecodable file.
    """
    np = require("numpy", "asr")
    name = describe(audio)
    if isinstance(audio, np.ndarray):
        arr = np.asarray(audio, dtype=np.float32)
        if arr.ndim == 2:  # (samples, channels) or (channels, samples): average the short axis
            arr = arr.mean(axis=1 if arr.shape[0] > arr.shape[1] else 0)
        if arr.ndim != 1:
            raise InputError(f"audio array must be 1-D or 2-D, got shape {arr.shape}", file=name)
        if not np.all(np.isfinite(arr)):
            raise InputError("audio array contains NaN or infinite samples", file=name)
        return arr
    source: str | BinaryIO
    if isinstance(audio, str | os.PathLike):
        path = Path(audio)
        if not path.is_file():
            raise InputError("audio file not found", file=name)
        if path.stat().st_size == 0:
            raise InputError("audio file is empty (0 bytes)", file=name)
        source = str(path)
    elif isinstance(audio, bytes | bytearray):
        if not audio:
            raise InputError("audio is empty (0 bytes)", file=name)
        source = io.BytesIO(bytes(audio))
    else:
        source = audio
    fw_audio = require("faster_whisper.audio", "asr")
    try:
        samples = fw_audio.decode_audio(source, sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises many types (InvalidDataError, ValueError, IndexError …)
        raise InputError(
            f"cannot decode audio ({type(exc).__name__}); is it a sound file?", file=name
        ) from exc
    if samples.size == 0:
        raise InputError("no audio samples could be decoded (empty or corrupt file)", file=name)
    log.debug("decoded %s: %.2f s", name, samples.size / SAMPLE_RATE)
    return samples.astype(np.float32, copy=False)
