"""``ExportManifest``: what was exported, from which source, and how close it is to the reference model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import InputError

MANIFEST_NAME = "manifest.json"
MODEL_NAME = "model.onnx"


@dataclass(frozen=True, slots=True)
class ExportManifest:
    """Saved beside ``model.onnx``: source revision, opset, quantisation, parity and task metrics.

    ``quantization`` is the quantisation actually shipped (``"int8"`` dynamic, ``"int8-static"``
    calibrated QDQ, or ``None``); ``quantization_requested`` is what the caller asked for, and
    ``quantization_note`` says why they differ (an int8 model whose task metric fell outside the
    tolerance is not shipped). ``quantization_detail`` says what was quantised and how (op types,
    calibration data) for the int8 candidate, shipped or not. ``session_options`` are the
    onnxruntime settings the metrics were measured with and the runtime applies
    (``disabled_optimizers``).
    """

    name: str
    source: str
    source_revision: str | None
    opset: int
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]
    quantization: str | None
    quantization_requested: str | None
    quantization_note: str
    tolerance: float
    max_abs_diff_fp32: float
    max_abs_diff_int8: float | None
    parity_samples: int
    metrics_torch: dict[str, float] = field(default_factory=dict)
    metrics_fp32: dict[str, float] = field(default_factory=dict)
    metrics_int8: dict[str, float] = field(default_factory=dict)
    quantization_detail: dict[str, Any] = field(default_factory=dict)
    session_options: dict[str, Any] = field(default_factory=dict)
    size_bytes: int = 0
    size_bytes_fp32: int = 0
    created: str = ""
    torch_version: str = ""
    onnxruntime_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict (dynamic axis indexes as strings)."""
        data = asdict(self)
        data["dynamic_axes"] = {k: {str(a): n for a, n in v.items()} for k, v in self.dynamic_axes.items()}
        return data

    def write(self, out_dir: str | Path) -> Path:
        """Write ``manifest.json`` into ``out_dir``; return its path."""
        path = Path(out_dir) / MANIFEST_NAME
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, model_dir: str | Path) -> ExportManifest:
        """Read ``manifest.json`` from ``model_dir``; InputError if unreadable or with unknown fields."""
        path = Path(model_dir) / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the export manifest: {exc}", file=str(path)) from exc
        data["dynamic_axes"] = {
            k: {int(a): n for a, n in v.items()} for k, v in data.get("dynamic_axes", {}).items()
        }
        for key in ("input_names", "output_names"):
            data[key] = tuple(data.get(key, ()))
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown manifest fields {unknown}; allowed: {sorted(known)}", file=str(path))
        return cls(**data)
