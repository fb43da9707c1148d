"""One export path for every model: export → parity on real inputs → (maybe) int8 → manifest.

The four steps are visible and each leaves a number in ``manifest.json``:

1. export the torch model with the dynamic axes declared as data;
2. run the fp32 ONNX graph in onnxruntime on *real* inputs and compare with torch
   at an explicit tolerance (max absolute difference); a miss is an error;
3. if asked, quantise to int8 with ``onnxruntime.quantization.quantize_dynamic`` and
   ship it only when the task metric stays within ``metric_tolerance`` of fp32
   (without a metric, when its outputs stay within ``tolerance``); otherwise keep
   fp32 and say why in the manifest;
4. write ``manifest.json`` beside ``model.onnx``.

torch is imported here only, lazily, through :func:`toolkit.errors.require`.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from toolkit.errors import ToolkitError, require

from .manifest import MODEL_NAME, ExportManifest

log = logging.getLogger(__name__)

MetricFn = Callable[[Sequence[np.ndarray]], Mapping[str, float]]
"""Task metric on a model's outputs for ``parity_inputs`` (higher is better), e.g. AUC or accuracy."""


class ParityError(ToolkitError):
    """The exported graph does not reproduce the torch model within the tolerance."""


def source_revision(cwd: str | Path | None = None) -> str | None:
    """``git rev-parse HEAD`` (with ``+dirty`` when the tree has changes), or ``None`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def _session(path: Path) -> Any:
    ort = require("onnxruntime", "export")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _run_onnx(path: Path, input_names: Sequence[str], inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    sess = _session(path)
    return list(sess.run(None, dict(zip(input_names, inputs, strict=True))))


def _run_torch(model: Any, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    torch = require("torch", "train")
    with torch.no_grad():
        out = model(*(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs))
    outs = out if isinstance(out, tuple | list) else (out,)
    return [o.detach().cpu().numpy() for o in outs]


def _max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0
               for x, y in zip(a, b, strict=True))


def export(
    model: Any,
    sample_inputs: Sequence[np.ndarray],
    out_dir: str | Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
    parity_inputs: Sequence[np.ndarray],
    tolerance: float,
    opset: int = 17,
    quantize: Literal["int8"] | None = "int8",
    metric_fn: MetricFn | None = None,
    metric_tolerance: float = 0.005,
    source: str = "",
    name: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ExportManifest:
    """Export ``model`` to ``out_dir/model.onnx`` and write ``out_dir/manifest.json``.

    ``sample_inputs`` trace the graph; ``parity_inputs`` (real inputs, one array per
    input name, batch on axis 0) are used for the parity check and the task metric.
    ``tolerance`` is the largest accepted max-abs difference between torch and fp32
    ONNX outputs; ``metric_tolerance`` the largest accepted drop of any task metric
    from fp32 to int8. Raises :class:`ParityError` when fp32 parity fails.
    """
    torch = require("torch", "train")
    ort = require("onnxruntime", "export")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    axes = {k: dict(v) for k, v in dynamic_axes.items()}
    work = Path(tempfile.mkdtemp(prefix="clinic_export_"))
    try:
        fp32 = work / "model.fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(model, tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in sample_inputs),
                              str(fp32), input_names=list(input_names), output_names=list(output_names),
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
        reference = _run_torch(model, parity_inputs)
        got = _run_onnx(fp32, input_names, parity_inputs)
        diff32 = _max_abs_diff(reference, got)
        log.info("fp32 parity on %d samples: max abs diff %.3g (tolerance %.3g)",
                 len(parity_inputs[0]), diff32, tolerance)
        if not diff32 <= tolerance:
            raise ParityError(f"fp32 ONNX differs from torch by {diff32:.3g} > tolerance {tolerance:.3g} "
                              f"on {len(parity_inputs[0])} parity samples; nothing was written to {out}")
        m_torch = dict(metric_fn(reference)) if metric_fn else {}
        m_fp32 = dict(metric_fn(got)) if metric_fn else {}
        shipped, chosen, note, diff8, m_int8 = fp32, None, "not requested", None, {}
        if quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            int8 = work / "model.int8.onnx"
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
            got8 = _run_onnx(int8, input_names, parity_inputs)
            diff8 = _max_abs_diff(reference, got8)
            if metric_fn:
                m_int8 = dict(metric_fn(got8))
                drops = {k: m_fp32[k] - m_int8.get(k, float("-inf")) for k in m_fp32}
                worst = max(drops.values(), default=0.0)
                ok = worst <= metric_tolerance
                note = (f"int8 task metrics within {metric_tolerance} of fp32 (largest drop {worst:.4g})" if ok
                        else f"int8 rejected: task metric dropped {worst:.4g} > {metric_tolerance}; fp32 kept")
            else:
                ok = diff8 <= tolerance
                note = (f"int8 outputs within tolerance ({diff8:.3g} <= {tolerance:.3g})" if ok
                        else f"int8 rejected: outputs differ by {diff8:.3g} > {tolerance:.3g}; fp32 kept")
            if ok:
                shipped, chosen = int8, "int8"
            log.info(note)
        elif quantize is not None:
            raise ToolkitError(f"unknown quantisation preset {quantize!r}; allowed: 'int8', None")
        shutil.copyfile(shipped, out / MODEL_NAME)
        manifest = ExportManifest(
            name=name or out.name, source=source, source_revision=source_revision(), opset=opset,
            input_names=tuple(input_names), output_names=tuple(output_names), dynamic_axes=axes,
            quantization=chosen, quantization_requested=quantize, quantization_note=note, tolerance=tolerance,
            max_abs_diff_fp32=diff32, max_abs_diff_int8=diff8, parity_samples=len(parity_inputs[0]),
            metrics_torch=m_torch, metrics_fp32=m_fp32, metrics_int8=m_int8,
            size_bytes=(out / MODEL_NAME).stat().st_size, size_bytes_fp32=fp32.stat().st_size,
            created=datetime.now(UTC).isoformat(timespec="seconds"), torch_version=str(torch.__version__),
            onnxruntime_version=str(ort.__version__), extra=dict(extra or {}),
        )
        manifest.write(out)
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)
