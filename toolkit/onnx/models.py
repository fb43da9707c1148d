"""Torch model classes that the toolkit trains and exports, and the checkpoint format ``clinic export`` reads.

A checkpoint directory holds ``config.json`` (``{"model_class": ..., "kwargs": {...}}``),
``model.pt`` (a ``state_dict``) and ``parity.npz`` (real inputs, and labels when the
task has a metric), so an export can always be checked against real data.
torch is imported lazily inside every function: this module imports without it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import InputError, require

from .manifest import ExportManifest

log = logging.getLogger(__name__)

CHECKPOINT_CONFIG = "config.json"
CHECKPOINT_WEIGHTS = "model.pt"
CHECKPOINT_PARITY = "parity.npz"


def _logistic_class() -> type:
    torch = require("torch", "train")
    nn = torch.nn

    class LogisticReviewer(nn.Module):
        """Standardise → linear → sigmoid; also outputs each feature's contribution to the logit."""

        def __init__(self, n_features: int, feature_names: Sequence[str] = ()):
            super().__init__()
            self.feature_names = tuple(feature_names)
            self.register_buffer("mean", torch.zeros(n_features))
            self.register_buffer("scale", torch.ones(n_features))
            self.linear = nn.Linear(n_features, 1)

        def forward(self, features: Any) -> tuple[Any, Any]:
            z = (features - self.mean) / self.scale
            risk = torch.sigmoid(self.linear(z)).squeeze(-1)
            contributions = z * self.linear.weight[0]
            return risk, contributions

    return LogisticReviewer


MODEL_CLASSES: dict[str, Callable[[], type]] = {"logistic_reviewer": _logistic_class}
"""Model classes by the name a checkpoint's ``config.json`` gives."""

EXPORT_SPECS: dict[str, dict[str, Any]] = {
    "logistic_reviewer": {
        "input_names": ("features",),
        "output_names": ("risk", "contributions"),
        "dynamic_axes": {"features": {0: "batch"}, "risk": {0: "batch"}, "contributions": {0: "batch"}},
        "tolerance": 1e-5,
    },
}


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve (ties count half); ``None`` without both classes."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order), dtype=np.float64)
    allv = np.concatenate([pos, neg])[order]
    i = 0
    while i < len(allv):  # average ranks over ties
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def auc_metric(labels: np.ndarray) -> Callable[[Sequence[np.ndarray]], dict[str, float]]:
    """Task metric for a risk model: ROC AUC of the first output against ``labels``."""

    def metric(outputs: Sequence[np.ndarray]) -> dict[str, float]:
        value = auc(outputs[0].reshape(-1).tolist(), labels.astype(bool).tolist())
        return {"auc": float("nan") if value is None else value}

    return metric


@dataclass
class FittedModel:
    """A trained torch model with what its export needs."""

    model: Any
    model_class: str
    kwargs: dict[str, Any]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The model's first output for ``x`` (float32), with gradients off."""
        torch = require("torch", "train")
        with torch.no_grad():
            return self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))[0].numpy()

    def save_checkpoint(self, ckpt_dir: str | Path, parity: np.ndarray, labels: np.ndarray | None) -> Path:
        """Save weights, config and parity inputs (and labels) under ``ckpt_dir``; return the directory."""
        torch = require("torch", "train")
        path = Path(ckpt_dir)
        path.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), path / CHECKPOINT_WEIGHTS)
        (path / CHECKPOINT_CONFIG).write_text(
            json.dumps({"model_class": self.model_class, "kwargs": self.kwargs}, ensure_ascii=False, indent=2)
            + "\n",
            encoding="utf-8",
        )
        arrays = {"inputs": parity.astype(np.float32)}
        if labels is not None:
            arrays["labels"] = labels.astype(np.int8)
        np.savez_compressed(path / CHECKPOINT_PARITY, **arrays)
        return path

    def export(
        self,
        out_dir: str | Path,
        parity: np.ndarray,
        labels: np.ndarray | None = None,
        *,
        source: str = "",
        extra: Mapping[str, Any] | None = None,
        quantize: str | None = "int8",
    ) -> ExportManifest:
        """Save the checkpoint under ``out_dir/checkpoint`` and export it to ``out_dir``."""
        ckpt = self.save_checkpoint(Path(out_dir) / "checkpoint", parity, labels)
        return export_checkpoint(
            ckpt, out_dir, source=source, extra=extra, model=self.model, quantize=quantize
        )


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    feature_names: Sequence[str],
    epochs: int = 300,
    weight_decay: float = 1e-3,
    seed: int = 0,
    lr: float = 0.05,
) -> FittedModel:
    """Train :class:`LogisticReviewer` (full-batch Adam, L2 on the weights) on standardised features."""
    torch = require("torch", "train")
    torch.manual_seed(seed)
    cls = _logistic_class()
    model = cls(x.shape[1], feature_names)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-3] = 1.0  # a constant feature stays at 0 after centring
    model.mean.copy_(torch.from_numpy(mean.astype(np.float32)))
    model.scale.copy_(torch.from_numpy(scale.astype(np.float32)))
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for epoch in range(epochs):
        opt.zero_grad()
        z = (xt - model.mean) / model.scale
        loss = loss_fn(model.linear(z).squeeze(-1), yt) + weight_decay * (model.linear.weight**2).sum()
        loss.backward()
        opt.step()
        if epoch % 100 == 0:
            log.info("epoch %d loss %.4f", epoch, float(loss.detach()))
    model.eval()
    return FittedModel(
        model=model,
        model_class="logistic_reviewer",
        kwargs={"n_features": int(x.shape[1]), "feature_names": list(feature_names)},
    )


def load_checkpoint(ckpt_dir: str | Path) -> tuple[Any, str, dict[str, Any]]:
    """Build the model a checkpoint directory describes and load its weights."""
    torch = require("torch", "train")
    path = Path(ckpt_dir)
    try:
        config = json.loads((path / CHECKPOINT_CONFIG).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"not a model checkpoint: {exc}", file=str(path / CHECKPOINT_CONFIG)) from exc
    name = config.get("model_class")
    if name not in MODEL_CLASSES:
        raise InputError(
            f"unknown model_class {name!r}; allowed: {sorted(MODEL_CLASSES)}",
            file=str(path / CHECKPOINT_CONFIG),
            field="model_class",
        )
    model = MODEL_CLASSES[name]()(**config.get("kwargs", {}))
    model.load_state_dict(torch.load(path / CHECKPOINT_WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval(), name, config


def export_checkpoint(
    ckpt_dir: str | Path,
    out_dir: str | Path,
    *,
    quantize: str | None = "int8",
    source: str = "",
    extra: Mapping[str, Any] | None = None,
    model: Any = None,
) -> ExportManifest:
    """``clinic export``: load a checkpoint and export it with its class's declared axes and tolerance."""
    from .exporter import export

    loaded, name, _config = load_checkpoint(ckpt_dir)
    model = model if model is not None else loaded
    spec = EXPORT_SPECS[name]
    try:
        parity = np.load(Path(ckpt_dir) / CHECKPOINT_PARITY)
    except OSError as exc:
        raise InputError(
            f"no real parity inputs: {exc}", file=str(Path(ckpt_dir) / CHECKPOINT_PARITY)
        ) from exc
    inputs = parity["inputs"]
    metric = auc_metric(parity["labels"]) if "labels" in parity.files else None
    return export(
        model,
        (inputs[:2],),
        out_dir,
        input_names=spec["input_names"],
        output_names=spec["output_names"],
        dynamic_axes=spec["dynamic_axes"],
        parity_inputs=(inputs,),
        tolerance=spec["tolerance"],
        quantize=quantize,  # type: ignore[arg-type]
        metric_fn=metric,
        source=source or f"{name} checkpoint {Path(ckpt_dir).name}",
        name=Path(out_dir).name,
        extra=extra,
    )
