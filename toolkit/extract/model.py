"""The phase-2 learned entity model: a character CNN tagger (BIO) run with onnxruntime.

It implements :class:`toolkit.extract.pipeline.EntityModel`. Measured best on the gold set: rules
first, confident model spans only where the rules found nothing (:class:`GapFillModel`)::

    from toolkit.extract.model import GapFillModel, load_ner_model
    rules = Extractor(options)
    fill = GapFillModel(load_ner_model(min_confidence=0.9),
                        lambda t: [(e.start, e.end) for e in rules.extract(t).entities])
    extractor = Extractor(options, model=fill)

(``Extractor(options, model=load_ner_model())`` lets model spans compete with lexicon spans; it
loses points on dictations, see ``models/ner/MODEL_CARD.md``.)

The model directory (``models/ner/``) holds ``model.onnx``, ``vocab.json`` (characters and tag
names), ``manifest.json`` (export provenance) and ``MODEL_CARD.md``. onnxruntime is imported
lazily, torch is never imported here. The session is built once per :class:`NerModel` and
:func:`load_ner_model` caches one model per directory and thread count.

:func:`normalise_text` and :func:`encode` are shared with the training script
(``eval/ner/train.py``), so training and inference see the same characters.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from toolkit.errors import InputError, require
from toolkit.extract.numbers import fold_width

log = logging.getLogger(__name__)

LABELS = ("symptom", "disease", "drug", "body_part")
"""Entity labels the shipped model predicts (a subset of :class:`EntityLabel`)."""

PAD, UNK = 0, 1
MAX_CHUNK = 512
"""Longer texts are run in windows of this many characters (with overlap) to bound memory."""
_OVERLAP = 32


def normalise_text(text: str) -> str:
    """Width-fold, lower-case ASCII and map every ASCII digit to ``0``; keeps the length."""
    folded = fold_width(text)
    return "".join("0" if "0" <= ch <= "9" else (ch.lower() if ch.isascii() else ch) for ch in folded)


def encode(text: str, char_index: dict[str, int]) -> list[int]:
    """Character ids for ``text`` (after :func:`normalise_text`); unknown characters map to ``UNK``."""
    return [char_index.get(ch, UNK) for ch in normalise_text(text)]


def decode_tags(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """BIO tags → (start, end, label) spans. An ``I-x`` that does not continue an ``x`` span opens one."""
    spans: list[tuple[int, int, str]] = []
    start, label = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        kind, _, lab = tag.partition("-")
        if kind == "I" and label == lab and start >= 0:
            continue
        if start >= 0:
            spans.append((start, i, label))
            start, label = -1, ""
        if kind in ("B", "I"):
            start, label = i, lab
    return spans


@dataclass(frozen=True)
class NerVocab:
    """``vocab.json``: character list (index = id, 0 pad, 1 unk) and tag names (index = class)."""

    chars: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def char_index(self) -> dict[str, int]:
        """Character → id (position in ``chars``)."""
        return {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def read(cls, path: Path) -> NerVocab:
        """Load ``vocab.json``.

        :class:`InputError` when it is unreadable, its keys are not exactly ``chars`` and ``tags``, or a tag
        names a label outside :data:`LABELS`."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the NER vocabulary: {exc}", file=str(path)) from exc
        unknown = sorted(set(data) - {"chars", "tags"})
        if unknown or "chars" not in data or "tags" not in data:
            raise InputError(
                f"vocab.json must have exactly the keys ['chars', 'tags'], got {sorted(data)}", file=str(path)
            )
        tags = tuple(data["tags"])
        bad = [t for t in tags if t != "O" and t.partition("-")[2] not in LABELS]
        if bad:
            raise InputError(
                f"unknown tags {bad}; allowed labels: {list(LABELS)}", file=str(path), field="tags"
            )
        return cls(chars=tuple(data["chars"]), tags=tags)

    def write(self, path: Path) -> None:
        """Write ``vocab.json`` (UTF-8, one JSON line) in the form :meth:`read` accepts."""
        path.write_text(
            json.dumps({"chars": list(self.chars), "tags": list(self.tags)}, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )


class NerModel:
    """The ONNX character tagger; ``predict(text)`` returns (start, end, label, None) spans.

    ``normalized`` is always ``None``: the assembler keeps the lexicon's normalisation where a
    lexicon span coincides, and a model-only span stays un-normalised.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        intra_op_threads: int = 1,
        file_name: str = "model.onnx",
        min_confidence: float = 0.0,
    ):
        ort = require("onnxruntime", "nlp")
        self.model_dir = Path(model_dir)
        path = self.model_dir / file_name
        if not path.is_file():
            raise InputError(
                f"NER model file not found; expected {file_name} in the model directory", file=str(path)
            )
        self.vocab = NerVocab.read(self.model_dir / "vocab.json")
        self.min_confidence = min_confidence
        self._index = self.vocab.char_index
        manifest = self.model_dir / "manifest.json"
        meta: dict[str, Any] = {}
        if manifest.is_file():
            try:
                meta = json.loads(manifest.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                log.warning("unreadable manifest.json in %s", self.model_dir)
        self.revision = str(meta.get("created", ""))
        self.quantization = str(meta.get("quantization") or "fp32")
        # dynamic int8 (all of "int8"; the LSTM of "int8-static") quantises activations with one range per session
        # call, so a text's scores would depend on the texts batched with it: such a model runs one text per call
        detail = meta.get("quantization_detail") or {}
        self.batch_invariant = meta.get("quantization") is None or (
            meta.get("quantization") == "int8-static" and not detail.get("dynamic_op_types")
        )
        from toolkit.onnx.runtime import cpu_session

        # the session options the export measured F1 with (manifest ``session_options``: optimisers to disable)
        self._session = cpu_session(
            ort, path, intra_op_threads, (meta.get("session_options") or {}).get("disabled_optimizers", ())
        )
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()
        self.name = f"ner-charcnn:{file_name}" + (f"@{self.revision}" if self.revision else "")
        log.info(
            "NER model loaded from %s (%s, %d chars, %d tags, %d threads)",
            self.model_dir,
            self.quantization,
            len(self.vocab.chars),
            len(self.vocab.tags),
            intra_op_threads,
        )

    def logits(self, ids: Sequence[Sequence[int]]) -> Any:
        """Raw scores (batch, length, tags) for a padded batch of character ids (numpy array)."""
        import numpy as np

        width = max((len(x) for x in ids), default=0) or 1
        batch = np.zeros((len(ids), width), dtype=np.int64)
        for i, x in enumerate(ids):
            batch[i, : len(x)] = x
        with self._lock:
            return self._session.run(None, {self._input: batch})[0]

    def _scores(self, text: str) -> Any:
        """(length, tags) softmax probabilities for one text, windowed when longer than ``MAX_CHUNK``."""
        import numpy as np

        ids = encode(text, self._index)
        if len(ids) <= MAX_CHUNK:
            return _softmax(self.logits([ids])[0, : len(ids)])
        parts = []
        step = MAX_CHUNK - 2 * _OVERLAP
        for pos in range(0, len(ids), step):
            lo = max(0, pos - _OVERLAP)
            window = ids[lo : pos + step + _OVERLAP]
            parts.append(_softmax(self.logits([window])[0, : len(window)])[pos - lo : pos - lo + step])
        return np.concatenate(parts)[: len(ids)]

    def _spans(self, text: str, probs: Any) -> list[tuple[int, int, str, str | None]]:
        best = probs.argmax(-1)
        tags = [self.vocab.tags[int(k)] for k in best]
        out: list[tuple[int, int, str, str | None]] = []
        for s, e, lab in decode_tags(tags):
            if not text[s:e].strip():
                continue
            if self.min_confidence and float(probs[range(s, e), best[s:e]].min()) < self.min_confidence:
                continue
            out.append((s, e, lab, None))
        return out

    def predict(self, text: str) -> list[tuple[int, int, str, str | None]]:
        """Entity spans (character offsets into ``text``) with labels from :data:`LABELS`; a span whose
        least confident character is below ``min_confidence`` is dropped."""
        if not text:
            return []
        return self._spans(text, self._scores(text))

    def predict_batch(self, texts: Sequence[str]) -> list[list[tuple[int, int, str, str | None]]]:
        """Like :meth:`predict` for many texts: texts of equal length share one session call (no padding,
        so a recurrent layer in the graph gives exactly the one-by-one result); a model with run-time
        (dynamic) int8 quantisation runs one text per call (see ``batch_invariant``)."""
        if not self.batch_invariant:
            return [self.predict(t) for t in texts]
        out: list[list[tuple[int, int, str, str | None]]] = [[] for _ in texts]
        groups: dict[int, list[int]] = {}
        for i, t in enumerate(texts):
            if t and len(t) <= MAX_CHUNK:
                groups.setdefault(len(t), []).append(i)
            elif t:
                out[i] = self.predict(t)
        for members in groups.values():
            probs = _softmax(self.logits([encode(texts[i], self._index) for i in members]))
            for row, i in enumerate(members):
                out[i] = self._spans(texts[i], probs[row])
        return out


def _softmax(x: Any) -> Any:
    import numpy as np

    z = np.exp(x - x.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def fill_gaps(
    spans: Sequence[tuple[int, int, str, str | None]],
    taken: Sequence[tuple[int, int]],
    labels: Sequence[str] = LABELS,
    min_chars: int = 1,
) -> list[tuple[int, int, str, str | None]]:
    """Model spans with a label in ``labels``, at least ``min_chars`` long, that overlap none of the
    ``taken`` (start, end) ranges."""
    return [
        sp
        for sp in spans
        if sp[2] in labels
        and sp[1] - sp[0] >= min_chars
        and not any(sp[0] < e and s < sp[1] for s, e in taken)
    ]


class GapFillModel:
    """Rules first, model for what they miss: an :class:`EntityModel` that keeps only the model's spans
    lying outside every entity the rule pipeline found in the same text.

    ``rules`` returns the rule entities' (start, end) for a text, e.g.
    ``lambda t: [(e.start, e.end) for e in rules_extractor.extract(t).entities]``. Measured on the gold
    set, letting model spans compete with lexicon spans (plain ``Extractor(model=NerModel)``) loses
    more than it gains (see models/ner/MODEL_CARD.md); this policy keeps the rules' spans intact.
    It runs the rules twice per text; the same policy inside ``toolkit.extract.assemble`` would not.
    """

    def __init__(self, model: NerModel, rules: Any, labels: Sequence[str] = LABELS, min_chars: int = 2):
        self.model = model
        self.rules = rules
        self.labels = tuple(labels)
        self.min_chars = min_chars
        self.name = f"{model.name}+fill({','.join(self.labels)};min_chars={min_chars})"

    def predict(self, text: str) -> list[tuple[int, int, str, str | None]]:
        """Model spans (labels in ``labels``, ≥ ``min_chars`` long) that do not overlap a rule entity."""
        return fill_gaps(self.model.predict(text), list(self.rules(text)), self.labels, self.min_chars)


def default_model_dir() -> Path:
    """``toolkit/models/ner`` in the installed package, else ``models/ner``.

    Another model is chosen by passing its directory (``load_ner_model(model_dir)``,
    ``ExtractOptions(ner_model=DIR)``), never through the environment.
    """
    packaged = Path(str(resources.files("toolkit") / "models" / "ner"))
    if (packaged / "model.onnx").is_file():
        return packaged
    return Path("models/ner")


@lru_cache(maxsize=4)
def _cached(model_dir: str, intra_op_threads: int, file_name: str, min_confidence: float) -> NerModel:
    return NerModel(
        model_dir, intra_op_threads=intra_op_threads, file_name=file_name, min_confidence=min_confidence
    )


def load_ner_model(
    model_dir: str | Path | None = None,
    *,
    intra_op_threads: int = 1,
    file_name: str = "model.onnx",
    min_confidence: float = 0.0,
) -> NerModel:
    """The NER model in ``model_dir`` (``None``: the shipped one), built once per process, directory and
    settings."""
    path = Path(model_dir) if model_dir is not None else default_model_dir()
    return _cached(str(path.resolve()), intra_op_threads, file_name, min_confidence)
