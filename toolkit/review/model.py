"""The loaded reviewer: a logistic model run with onnxruntime, the clinic profile and its thresholds.

The model (trained with torch by :mod:`toolkit.review.train`, exported through
:mod:`toolkit.onnx`) turns :data:`~toolkit.review.features.FEATURES` into the probability that a
pharmacist would return the prescription. Being linear, it explains itself exactly: the graph also
outputs each feature's contribution to the logit. :meth:`Reviewer.review` gives the risk, the
contributions and ``model``-sourced findings (severity ``info`` or ``warn``, never ``block``); it is
what the audit engine calls through :class:`toolkit.audit.CaseReviewer` when
``AuditOptions(reviewer=load_reviewer(model_dir))``.

A :class:`Reviewer` pickles as its model directory and a loader, never as its ONNX session: a batch
worker process or a Spark executor that receives the audit options loads the model itself, once per
process (:func:`load_reviewer`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.audit import audit
from toolkit.audit.resolve import ResolvedItem, resolve_item
from toolkit.errors import InputError
from toolkit.knowledge.loader import Knowledge
from toolkit.onnx import OnnxModel
from toolkit.records import AuditCase, Category, Finding, Severity

from .features import FEATURE_LABELS, FEATURES, CaseFeatures, case_features
from .profile import PROFILE_NAME, ClinicProfile

CONFIG_NAME = "reviewer.json"

# --------------------------------------------------------------------------- the reviewer


@dataclass(frozen=True, slots=True)
class ReviewerConfig:
    """Thresholds the reviewer uses to raise findings (saved as ``reviewer.json`` beside the model)."""

    features: tuple[str, ...] = FEATURES
    risk_note: float = 0.5
    """Risk at or above which an ``info`` finding with the top contributions is raised."""
    outlier_z: float = 3.5
    """Robust z beyond which a dose/frequency/duration is unusual for this clinic …"""
    outlier_ratio: float = 2.0
    """… and at least this many times (or 1/this) the clinic's median."""
    min_history: int = 20
    """A drug needs this many past prescriptions in the profile before outliers are raised for it."""
    rarity: float = 6.0
    """−log P(class | diagnosis) above which a class is unusual for the diagnoses (``info``)."""
    top_k: int = 5

    @classmethod
    def read(cls, model_dir: Path) -> ReviewerConfig:
        """Read ``reviewer.json`` from ``model_dir``; InputError if unreadable or not for these features."""
        path = model_dir / CONFIG_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the reviewer config: {exc}", file=str(path)) from exc
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError(f"unknown reviewer config fields {unknown}", file=str(path))
        data["features"] = tuple(data.get("features", FEATURES))
        if data["features"] != FEATURES:
            raise InputError(
                "the model was trained on other features; retrain it with `clinic train-reviewer`",
                file=str(path),
                field="features",
            )
        return cls(**data)

    def write(self, model_dir: Path) -> None:
        """Write the config as ``reviewer.json`` into ``model_dir``."""
        (model_dir / CONFIG_NAME).write_text(
            json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )


@dataclass(frozen=True, slots=True)
class Review:
    """The reviewer's view of one case: risk of return, feature contributions, model findings."""

    risk: float
    contributions: dict[str, float]
    features: dict[str, float]
    findings: tuple[Finding, ...]


_KIND = {
    "dose": (Category.DOSE, "RX-MODEL-001", "单次剂量"),
    "freq": (Category.FREQUENCY, "RX-MODEL-002", "每日频次"),
    "days": (Category.DAYS_SUPPLY, "RX-MODEL-003", "用药天数"),
}
_FEATURE_CATEGORY = {
    "dose_over_z": Category.DOSE,
    "dose_under_z": Category.DOSE,
    "freq_over_z": Category.FREQUENCY,
    "freq_under_z": Category.FREQUENCY,
    "days_over_z": Category.DAYS_SUPPLY,
    "days_under_z": Category.DAYS_SUPPLY,
    "class_dx_rarity": Category.INDICATION,
    "class_pair_rarity": Category.DUPLICATE_THERAPY,
    "no_diagnosis": Category.INDICATION,
    "age_child": Category.SPECIAL_POPULATION,
    "age_elderly": Category.SPECIAL_POPULATION,
    **{f"rule_{c.value}": c for c in Category},
}
_REFERENCE = "本机构历史处方统计（clinic reviewer 模型，非说明书限量）"


class Reviewer:
    """A loaded reviewer: the ONNX model (session built once), the clinic profile and thresholds."""

    def __init__(self, model_dir: str | Path, intra_op_threads: int = 1):
        self.model_dir = Path(model_dir)
        self.intra_op_threads = intra_op_threads
        self.model = OnnxModel(self.model_dir, intra_op_threads=intra_op_threads)
        self.config = ReviewerConfig.read(self.model_dir)
        path = self.model_dir / PROFILE_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the clinic profile: {exc}", file=str(path)) from exc
        self.profile = ClinicProfile.from_json(data, str(path))
        self.revision = self.model.revision

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        # the model directory and the loader, not the ONNX session: the receiving process loads it once
        return load_reviewer, (str(self.model_dir), self.intra_op_threads)

    def score(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Risk (N,) and per-feature logit contributions (N, F) for a batch of feature vectors."""
        out = self.model.run({"features": np.ascontiguousarray(vectors, dtype=np.float32)})
        return out["risk"].reshape(-1), out["contributions"]

    def review(
        self, case: AuditCase, items: Sequence[ResolvedItem], rule_findings: Sequence[Finding]
    ) -> Review:
        """Score one case and raise ``model`` findings (never ``block``)."""
        feats = case_features(case, items, rule_findings, self.profile)
        risk, contrib = self.score(feats.vector[None, :])
        contributions = {name: float(c) for name, c in zip(FEATURES, contrib[0], strict=True)}
        values = {name: float(v) for name, v in zip(FEATURES, feats.vector, strict=True)}
        findings = self._findings(float(risk[0]), contributions, values, feats, rule_findings)
        return Review(risk=float(risk[0]), contributions=contributions, features=values, findings=findings)

    def _top(self, contributions: dict[str, float], values: dict[str, float]) -> list[dict[str, Any]]:
        top = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))[: self.config.top_k]
        return [
            {
                "feature": k,
                "label": FEATURE_LABELS[k],
                "value": round(values[k], 3),
                "contribution": round(v, 3),
            }
            for k, v in top
            if abs(v) > 1e-6
        ]

    def _findings(
        self,
        risk: float,
        contributions: dict[str, float],
        values: dict[str, float],
        feats: CaseFeatures,
        rule_findings: Sequence[Finding],
    ) -> tuple[Finding, ...]:
        cfg = self.config
        top = self._top(contributions, values)
        covered = {
            (fd.category, i) for fd in rule_findings if fd.severity is not Severity.INFO for i in fd.items
        }
        out: list[Finding] = []
        for o in feats.outliers:
            ratio = o.value / o.usual if o.usual else float("inf")
            if (
                abs(o.z) < cfg.outlier_z
                or o.n < cfg.min_history
                or cfg.outlier_ratio > ratio > 1 / cfg.outlier_ratio
            ):
                continue
            category, rule_id, what = _KIND[o.kind]
            if (category, o.index) in covered:
                continue  # the rules already said it; the model does not repeat them
            high = o.z > 0
            # above usual is actionable (warn); below usual is a note (under-dosing is often deliberate)
            severity = Severity.WARN if high else Severity.INFO
            unit = {"freq": "次/日", "days": "天"}.get(o.kind, o.unit)
            message = (
                f"{o.drug}{what}{o.value:g}{unit}为本机构常用量（中位数{o.usual:.3g}{unit}，"
                f"{o.n}张处方）的{ratio:.2g}倍，{'明显偏高' if high else '明显偏低'}，请核对"
                + ("" if o.in_kb else "（该药未收录于知识库，仅按本机构用药习惯判断）")
            )
            out.append(
                Finding(
                    rule_id=rule_id,
                    category=category,
                    severity=severity,
                    drugs=(o.drug,),
                    message=message,
                    evidence={
                        "value": o.value,
                        "unit": unit,
                        "clinic_median": round(o.usual, 4),
                        "ratio_to_median": round(ratio, 3),
                        "robust_z": round(o.z, 2),
                        "history_n": o.n,
                        "in_knowledge_base": o.in_kb,
                        "risk": round(risk, 4),
                        "contributions": top,
                    },
                    references=(_REFERENCE,),
                    source="model",
                    items=(o.index,),
                )
            )
        flagged_ind = {i for fd in rule_findings if fd.category is Category.INDICATION for i in fd.items}
        for index, cls_id, rarity in feats.rare_classes:
            if rarity < cfg.rarity or index in flagged_ind:
                continue
            out.append(
                Finding(
                    rule_id="RX-MODEL-004",
                    category=Category.INDICATION,
                    severity=Severity.INFO,
                    message=f"第{index + 1}项药品类别（{cls_id}）在本机构很少用于本次诊断，建议核对适应证",
                    evidence={
                        "class": cls_id,
                        "rarity": round(rarity, 2),
                        "risk": round(risk, 4),
                        "contributions": top,
                    },
                    references=(_REFERENCE,),
                    source="model",
                    items=(index,),
                )
            )
        if risk >= cfg.risk_note and top:
            lead = next((t["feature"] for t in top if t["contribution"] > 0), top[0]["feature"])
            category = _FEATURE_CATEGORY.get(lead, Category.RECORD)
            reasons = "、".join(t["label"] for t in top if t["contribution"] > 0) or "—"
            out.append(
                Finding(
                    rule_id="RX-MODEL-010",
                    category=category,
                    severity=Severity.INFO,
                    message=f"模型评估退方可能性{risk:.0%}，建议优先审核（主要因素：{reasons}）",
                    evidence={"risk": round(risk, 4), "threshold": cfg.risk_note, "contributions": top},
                    references=(_REFERENCE,),
                    source="model",
                )
            )
        return tuple(out)


_LOADED: dict[tuple[int, str, int], Reviewer] = {}


def default_model_dir() -> Path | None:
    """The shipped reviewer (``models/reviewer``, which ships in the package), if it is there."""
    here = Path(str(resources.files("toolkit") / "models" / "reviewer"))
    return here if (here / "model.onnx").is_file() else None


def load_reviewer(model_dir: str | Path | None = None, intra_op_threads: int = 1) -> Reviewer:
    """The reviewer in ``model_dir`` (default: :func:`default_model_dir`), loaded once per process.

    Keyed by process id too: a forked worker builds its own ONNX session rather than using the
    parent's. Pass the result as ``AuditOptions(reviewer=...)``.
    """
    path = Path(model_dir) if model_dir else default_model_dir()
    if path is None:
        raise InputError(
            "no reviewer model: give its directory (--model) or train one with `clinic train-reviewer`"
        )
    key = (os.getpid(), str(path.resolve()), intra_op_threads)
    if key not in _LOADED:
        _LOADED[key] = Reviewer(path, intra_op_threads)
    return _LOADED[key]


def clear_loaded() -> None:
    """Forget the loaded reviewers (after a model directory was rewritten by training)."""
    _LOADED.clear()


def review_case(
    case: AuditCase, kb: Knowledge, reviewer: Reviewer, rule_findings: Sequence[Finding] | None = None
) -> Review:
    """Resolve, (run the rules when ``rule_findings`` is None) and review one case."""
    items = [resolve_item(i, it, kb) for i, it in enumerate(case.prescription.items)]
    if rule_findings is None:
        rule_findings = audit(case, kb).findings
    return reviewer.review(case, items, rule_findings)
