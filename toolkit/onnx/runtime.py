"""``OnnxModel``: one onnxruntime session per model, built once with explicit CPU threads."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import InputError, require

from .manifest import MODEL_NAME, ExportManifest

log = logging.getLogger(__name__)


def cpu_session(ort: Any, path: Path, intra_op_threads: int, disabled_optimizers: Sequence[str] = ()) -> Any:
    """An onnxruntime CPU session as every model here runs: explicit intra-op threads, one inter-op
    thread, sequential execution, all graph optimisations except ``disabled_optimizers`` (the
    manifest's ``session_options``, measured at export). ``ort`` is the imported module (the caller
    says which extra provides it)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = intra_op_threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        str(path),
        so,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=[str(x) for x in disabled_optimizers],
    )


class OnnxModel:
    """An exported model (``model_dir`` with ``model.onnx`` + ``manifest.json``) ready to run on CPU.

    The session is built once; ``intra_op_threads`` is set explicitly because one
    thread is usually fastest for small models on a shared office PC (measure with
    :func:`time_threads`). The manifest's ``session_options`` (graph optimisers to disable,
    measured at export) are applied. Never imports torch.
    """

    def __init__(self, model_dir: str | Path, intra_op_threads: int = 1):
        ort = require("onnxruntime", "export")
        self.model_dir = Path(model_dir)
        path = self.model_dir / MODEL_NAME
        if not path.is_file():
            raise InputError("no model.onnx here; export one with `clinic export`", file=str(self.model_dir))
        self.manifest = ExportManifest.read(self.model_dir)
        self.intra_op_threads = intra_op_threads
        self.session = cpu_session(
            ort, path, intra_op_threads, self.manifest.session_options.get("disabled_optimizers", ())
        )
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())

    @property
    def revision(self) -> str:
        """``name@source_revision (quantisation)`` for a report's provenance."""
        m = self.manifest
        return f"{m.name}@{m.source_revision or 'unknown'} ({m.quantization or 'fp32'})"

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph; ``inputs`` by input name, outputs by output name."""
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise InputError(f"missing model inputs {missing}; expected {list(self.input_names)}")
        outs = self.session.run(None, {n: inputs[n] for n in self.input_names})
        return dict(zip(self.output_names, outs, strict=True))

    def __call__(self, *arrays: np.ndarray) -> dict[str, np.ndarray]:
        """Run the graph with ``arrays`` given in input order; outputs by name."""
        return self.run(dict(zip(self.input_names, arrays, strict=True)))


def time_threads(
    model_dir: str | Path, inputs: Sequence[np.ndarray], candidates: Sequence[int] = (1, 2), repeat: int = 200
) -> dict[int, float]:
    """Median milliseconds per call for each intra-op thread count (to pick one, not to guess)."""
    out: dict[int, float] = {}
    for n in candidates:
        model = OnnxModel(model_dir, intra_op_threads=n)
        for _ in range(10):
            model(*inputs)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            model(*inputs)
            times.append(time.perf_counter() - t)
        out[n] = float(np.median(times) * 1000)
    return out


def load_model(model_dir: str | Path, intra_op_threads: int = 1) -> OnnxModel:
    """Build an :class:`OnnxModel` (separate for symmetry with other stages' ``load_*``)."""
    return OnnxModel(model_dir, intra_op_threads=intra_op_threads)


__all__ = ["OnnxModel", "load_model", "time_threads"]
