"""ONNX on ordinary CPUs: one export path (``export``) and one runtime wrapper (``OnnxModel``).

Importing this package never imports torch; :func:`export` imports it lazily.
"""

from toolkit.onnx.exporter import ParityError, export, quantize_int8_static
from toolkit.onnx.manifest import MANIFEST_NAME, MODEL_NAME, ExportManifest
from toolkit.onnx.runtime import OnnxModel, load_model, time_threads

__all__ = [
    "MANIFEST_NAME",
    "MODEL_NAME",
    "ExportManifest",
    "OnnxModel",
    "ParityError",
    "export",
    "load_model",
    "quantize_int8_static",
    "time_threads",
]
