"""One export path for every model: export → parity on real inputs → (maybe) int8 → manifest.

The four steps are visible and each leaves a number in ``manifest.json``:

1. export the torch model with the dynamic axes declared as data;
2. run the fp32 ONNX graph in onnxruntime on *real* inputs and compare with torch
   at an explicit tolerance (max absolute difference); a miss is an error;
3. if asked, quantise to int8 and ship it only when the task metric stays within
   ``metric_tolerance`` of fp32 (without a metric, when its outputs stay within
   ``tolerance``); otherwise keep fp32 and say why in the manifest. Two presets:

   * ``"int8"``: ``quantize_dynamic`` (int8 weights, activations quantised at run time;
     cheap, but Conv becomes ``ConvInteger``, which is slow on CPU);
   * ``"int8-static"``: ``quantize_static`` in QDQ format, int8 weights per output channel
     and uint8 activations whose ranges come from ``calibration_inputs`` (real inputs
     the caller names in ``calibration_source``; never the test data), for the op types in
     ``static_op_types``; op types with no static int8 kernel (``LSTM``, ``GRU``) are then
     quantised dynamically (``dynamic_op_types``). The manifest's ``quantization_detail``
     records all of it;
4. write ``manifest.json`` beside ``model.onnx``.

``session_options`` (e.g. ``{"disabled_optimizers": ["SkipLayerNormFusion"]}``) are used for
the metric runs here and written to the manifest, so the runtime builds the same session.

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

MetricFn = Callable[[Sequence[Any]], Mapping[str, float]]
"""Task metric (higher is better, e.g. AUC or F1) on a model's outputs for ``parity_inputs`` (one array per
output), or, when ``metric_inputs`` is given, on the list of per-call outputs (one list of arrays per call)."""


class ParityError(ToolkitError):
    """The exported graph does not reproduce the torch model within the tolerance."""


def source_revision(cwd: str | Path | None = None) -> str | None:
    """``git rev-parse HEAD`` (with ``+dirty`` when the tree has changes), or ``None`` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


QUANTIZE_PRESETS = ("int8", "int8-static")
SESSION_OPTIONS = ("disabled_optimizers",)


def _session(path: Path, session_options: Mapping[str, Any] | None = None) -> Any:
    ort = require("onnxruntime", "export")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    disabled = list((session_options or {}).get("disabled_optimizers", ()))
    return ort.InferenceSession(
        str(path), so, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
    )


def _run_onnx(
    path: Path,
    input_names: Sequence[str],
    inputs: Sequence[np.ndarray],
    session_options: Mapping[str, Any] | None = None,
) -> list[np.ndarray]:
    sess = _session(path, session_options)
    return list(sess.run(None, dict(zip(input_names, inputs, strict=True))))


class _Calibration:
    """``onnxruntime.quantization.CalibrationDataReader``: one real sample (batch 1) per call."""

    def __init__(self, input_names: Sequence[str], samples: Sequence[Sequence[np.ndarray]]):
        self._items = iter([dict(zip(input_names, s, strict=True)) for s in samples])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def _nodes(path: Path) -> dict[str, str]:
    """Node name → op type."""
    onnx = require("onnx", "export")
    return {n.name: n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}


def quantize_int8_static(
    fp32: str | Path,
    out: str | Path,
    input_names: Sequence[str],
    samples: Sequence[Sequence[np.ndarray]],
    static_op_types: Sequence[str] = ("Conv", "MatMul", "Gemm"),
    dynamic_op_types: Sequence[str] = ("LSTM", "GRU"),
    nodes_to_exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """Static QDQ int8 of ``fp32`` into ``out`` (per-channel int8 weights, uint8 activations with MinMax ranges
    from ``samples``, one tuple of arrays per input name and call), then dynamic int8 (per-channel weights)
    for ``dynamic_op_types`` present in the graph; returns what was done, for the manifest. ``export`` calls
    this for ``quantize="int8-static"``; benches call it to rebuild the same variant."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    fp32, out = Path(fp32), Path(out)
    nodes = _nodes(fp32)
    present = set(nodes.values())
    missing = [n for n in nodes_to_exclude if n not in nodes]
    if missing:
        raise ToolkitError(f"nodes_to_exclude {missing} are not in the exported graph")
    static = [t for t in static_op_types if t in present]
    dynamic = [t for t in dynamic_op_types if t in present]
    staged = out.with_suffix(".static.onnx") if dynamic else out
    quantize_static(
        str(fp32),
        str(staged),
        _Calibration(input_names, samples),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=static,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=list(nodes_to_exclude),
    )
    if dynamic:
        quantize_dynamic(
            str(staged),
            str(out),
            op_types_to_quantize=dynamic,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=list(nodes_to_exclude),
        )
    return {
        "method": "onnxruntime.quantization.quantize_static, QDQ format",
        "static_op_types": static,
        "weights": "int8, symmetric, per output channel",
        "activations": "uint8, asymmetric, ranges calibrated (MinMax)",
        "dynamic_op_types": dynamic,
        "dynamic_note": (
            "no static int8 kernel for these op types: int8 weights per output channel, "
            "activations quantised at run time (quantize_dynamic)"
        )
        if dynamic
        else "",
        "nodes_excluded": list(nodes_to_exclude),
        "left_fp32": sorted(present - set(static) - set(dynamic) - {"QuantizeLinear", "DequantizeLinear"}),
    }


def _run_torch(model: Any, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    torch = require("torch", "train")
    with torch.no_grad():
        out = model(*(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs))
    outs = out if isinstance(out, tuple | list) else (out,)
    return [o.detach().cpu().numpy() for o in outs]


def _max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return max(
        float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0
        for x, y in zip(a, b, strict=True)
    )


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
    quantize: Literal["int8", "int8-static"] | None = "int8",
    metric_fn: MetricFn | None = None,
    metric_tolerance: float | Mapping[str, float] = 0.005,
    metric_inputs: Sequence[Sequence[np.ndarray]] | None = None,
    source: str = "",
    name: str | None = None,
    extra: Mapping[str, Any] | None = None,
    calibration_inputs: Sequence[Sequence[np.ndarray]] | None = None,
    calibration_source: str = "",
    static_op_types: Sequence[str] = ("Conv", "MatMul", "Gemm"),
    dynamic_op_types: Sequence[str] = ("LSTM", "GRU"),
    nodes_to_exclude: Sequence[str] = (),
    session_options: Mapping[str, Any] | None = None,
) -> ExportManifest:
    """Export ``model`` to ``out_dir/model.onnx`` and write ``out_dir/manifest.json``.

    ``sample_inputs`` trace the graph; ``parity_inputs`` (real inputs, one array per
    input name, batch on axis 0) are used for the parity check and the task metric.
    ``tolerance`` is the largest accepted max-abs difference between torch and fp32
    ONNX outputs; ``metric_tolerance`` the largest accepted drop of any task metric
    from fp32 to int8 (a mapping gives one tolerance per metric name and gates only the
    metrics it names; the others are recorded). Raises :class:`ParityError` when fp32 parity fails.

    ``metric_inputs`` (one tuple of arrays per call, e.g. real texts at batch 1 when a padded batch is
    not how the model runs) makes the task metric run call by call; ``metric_fn`` then receives the
    list of per-call outputs. Parity still uses ``parity_inputs``.
    """
    torch = require("torch", "train")
    ort = require("onnxruntime", "export")
    if quantize is not None and quantize not in QUANTIZE_PRESETS:
        raise ToolkitError(
            f"unknown quantisation preset {quantize!r}; allowed: {list(QUANTIZE_PRESETS)}, None"
        )
    if quantize == "int8-static" and (not calibration_inputs or not calibration_source):
        raise ToolkitError(
            "int8-static needs calibration_inputs (real samples) and calibration_source (what they are)"
        )
    session_options = dict(session_options or {})
    unknown = sorted(set(session_options) - set(SESSION_OPTIONS))
    if unknown:
        raise ToolkitError(f"unknown session options {unknown}; allowed: {list(SESSION_OPTIONS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    axes = {k: dict(v) for k, v in dynamic_axes.items()}
    work = Path(tempfile.mkdtemp(prefix="clinic_export_"))
    try:
        fp32 = work / "model.fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(
                model,
                tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in sample_inputs),
                str(fp32),
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
        reference = _run_torch(model, parity_inputs)
        got = _run_onnx(fp32, input_names, parity_inputs, session_options)
        diff32 = _max_abs_diff(reference, got)
        log.info(
            "fp32 parity on %d samples: max abs diff %.3g (tolerance %.3g)",
            len(parity_inputs[0]),
            diff32,
            tolerance,
        )
        if not diff32 <= tolerance:
            raise ParityError(
                f"fp32 ONNX differs from torch by {diff32:.3g} > tolerance {tolerance:.3g} "
                f"on {len(parity_inputs[0])} parity samples; nothing was written to {out}"
            )

        def task_metric(
            run: Callable[[Sequence[np.ndarray]], list[np.ndarray]], batch_out: list[np.ndarray]
        ) -> dict[str, float]:
            if metric_fn is None:
                return {}
            if metric_inputs is None:
                return dict(metric_fn(batch_out))
            return dict(metric_fn([run(x) for x in metric_inputs]))

        m_torch = task_metric(lambda x: _run_torch(model, x), reference)
        sess32 = _session(fp32, session_options)
        m_fp32 = task_metric(lambda x: list(sess32.run(None, dict(zip(input_names, x, strict=True)))), got)
        shipped, chosen, note, diff8, m_int8 = fp32, None, "not requested", None, {}
        detail: dict[str, Any] = {}
        if quantize is not None:
            int8 = work / "model.int8.onnx"
            if quantize == "int8":
                from onnxruntime.quantization import QuantType, quantize_dynamic

                quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
                detail = {
                    "method": "onnxruntime.quantization.quantize_dynamic",
                    "weights": "int8",
                    "activations": "quantised at run time",
                    "dynamic_op_types": "all supported",
                }
            else:
                assert calibration_inputs is not None
                detail = quantize_int8_static(
                    fp32,
                    int8,
                    input_names,
                    calibration_inputs,
                    static_op_types,
                    dynamic_op_types,
                    nodes_to_exclude,
                )
                detail["calibration"] = {"samples": len(calibration_inputs), "source": calibration_source}
            got8 = _run_onnx(int8, input_names, parity_inputs, session_options)
            diff8 = _max_abs_diff(reference, got8)
            if metric_fn:
                sess8 = _session(int8, session_options)
                m_int8 = task_metric(
                    lambda x: list(sess8.run(None, dict(zip(input_names, x, strict=True)))), got8
                )
                tol = (
                    dict(metric_tolerance)
                    if isinstance(metric_tolerance, Mapping)
                    else dict.fromkeys(m_fp32, float(metric_tolerance))
                )
                drops = {k: m_fp32[k] - m_int8.get(k, float("-inf")) for k in m_fp32 if k in tol}
                over = {k: round(d, 4) for k, d in drops.items() if not d <= tol[k]}
                worst = max(drops.values(), default=0.0)
                ok = not over
                note = (
                    f"{quantize} task metrics within tolerance of fp32 (largest drop {worst:.4g}; "
                    f"tolerances {tol})"
                    if ok
                    else f"{quantize} rejected: task metrics dropped {over} > tolerances {tol}; fp32 kept"
                )
            else:
                ok = diff8 <= tolerance
                note = (
                    f"{quantize} outputs within tolerance ({diff8:.3g} <= {tolerance:.3g})"
                    if ok
                    else f"{quantize} rejected: outputs differ by {diff8:.3g} > {tolerance:.3g}; fp32 kept"
                )
            if ok:
                shipped, chosen = int8, quantize
            log.info(note)
        shutil.copyfile(shipped, out / MODEL_NAME)
        manifest = ExportManifest(
            name=name or out.name,
            source=source,
            source_revision=source_revision(),
            opset=opset,
            input_names=tuple(input_names),
            output_names=tuple(output_names),
            dynamic_axes=axes,
            quantization=chosen,
            quantization_requested=quantize,
            quantization_note=note,
            quantization_detail=detail,
            session_options=session_options,
            tolerance=tolerance,
            max_abs_diff_fp32=diff32,
            max_abs_diff_int8=diff8,
            parity_samples=len(parity_inputs[0]),
            metrics_torch=m_torch,
            metrics_fp32=m_fp32,
            metrics_int8=m_int8,
            size_bytes=(out / MODEL_NAME).stat().st_size,
            size_bytes_fp32=fp32.stat().st_size,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            torch_version=str(torch.__version__),
            onnxruntime_version=str(ort.__version__),
            extra=dict(extra or {}),
        )
        manifest.write(out)
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)
