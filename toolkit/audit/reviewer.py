"""The model half of the audit: a learned reviewer that ranks prescriptions and explains why.

Two learned parts, both from a clinic's own history:

* :class:`ClinicProfile` — robust statistics of this clinic's usual dose, frequency
  and duration per drug (median and scaled MAD on a log scale) and how often drug
  classes occur with each diagnosis and with each other. Drugs missing from the
  knowledge base are keyed by their written name, so they still get an outlier check.
* a logistic model (trained with torch, exported through :mod:`toolkit.onnx`, run
  with onnxruntime) that turns :data:`FEATURES` into the probability that a
  pharmacist would return the prescription. Being linear, it explains itself
  exactly: the graph also outputs each feature's contribution to the logit.

:meth:`Reviewer.review` gives the risk, the contributions and ``model``-sourced
findings (severity ``info`` or ``warn``, never ``block``). Importing this module
never imports torch; :func:`train_reviewer` imports it lazily.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import InputError
from toolkit.knowledge.loader import Knowledge
from toolkit.knowledge.units import MASS_TO_MG, normalize_unit
from toolkit.records import AuditCase, Category, Finding, Severity

from .resolve import ResolvedItem, resolve_item

log = logging.getLogger(__name__)

PROFILE_NAME = "profile.json"
CONFIG_NAME = "reviewer.json"
ENV_MODEL = "CLINIC_REVIEWER_MODEL"
"""Environment variable naming a reviewer model directory; when set, the audit uses it by default."""

_CATEGORIES = tuple(c.value for c in Category)
FEATURES: tuple[str, ...] = (
    "n_items",
    "age_child",
    "age_elderly",
    "age_unknown",
    "no_diagnosis",
    "dose_over_z",
    "dose_under_z",
    "days_over_z",
    "days_under_z",
    "freq_over_z",
    "freq_under_z",
    "unknown_drugs",
    "no_usual_items",
    "class_dx_rarity",
    "class_pair_rarity",
    "rule_block",
    "rule_warn",
    "rule_info",
    "rule_max_severity",
    *(f"rule_{c}" for c in _CATEGORIES),
)
"""Model inputs, in order. ``*_z`` are robust z-scores against this clinic's usual (0 when at or
below usual in that direction, clipped at :data:`Z_CLIP`); ``rule_*`` count warn/block rule findings."""

FEATURE_LABELS: dict[str, str] = {
    "n_items": "药品数",
    "age_child": "儿童",
    "age_elderly": "老年",
    "age_unknown": "年龄缺失",
    "no_diagnosis": "无诊断",
    "dose_over_z": "单次剂量高于本机构常用量",
    "dose_under_z": "单次剂量低于本机构常用量",
    "days_over_z": "用药天数长于本机构常用",
    "days_under_z": "用药天数短于本机构常用",
    "freq_over_z": "频次高于本机构常用",
    "freq_under_z": "频次低于本机构常用",
    "unknown_drugs": "知识库未收录药品数",
    "no_usual_items": "本机构无用量统计的药品数",
    "class_dx_rarity": "药物类别与诊断组合少见",
    "class_pair_rarity": "药物类别组合少见",
    "rule_block": "规则 block 数",
    "rule_warn": "规则 warn 数",
    "rule_info": "规则 info 数",
    "rule_max_severity": "规则最高级别",
    **{f"rule_{c}": f"规则{c}问题数" for c in _CATEGORIES},
}

Z_CLIP = 8.0
MIN_LOG_SPREAD = 0.25
"""Floor of the robust spread (log scale): most clinics write one dose per drug, so MAD is often 0."""
MIN_HISTORY = 5
"""A drug needs this many prescriptions before its usual dose is trusted."""
_SMOOTH = 0.5


# --------------------------------------------------------------------------- per-item quantities


def item_key(r: ResolvedItem) -> tuple[str, float | None]:
    """The key a drug's usual dose is kept under, and this line's amount per administration.

    Formulary drugs: the drug id and the first ingredient's amount in the KB's unit.
    Anything else (a drug missing from the KB, a count unit without strength): the
    drug id or written name plus the written unit (mass units in mg).
    """
    item = r.item
    if r.drug is not None and r.doses:
        return r.drug.id, next(iter(r.doses.values()))
    name = r.drug.id if r.drug is not None else "?" + "".join(item.drug.split())
    unit = normalize_unit(item.unit) or (item.unit or "")
    amount = item.dose
    if amount is not None and unit in MASS_TO_MG:
        amount, unit = amount * MASS_TO_MG[unit], "mg"
    return f"{name}|{unit}", (amount if amount is not None and amount > 0 else None)


def item_class(r: ResolvedItem) -> str:
    """The drug's first (most specific) class, its id when it has none, or ``?name`` outside the KB."""
    if r.drug is None:
        return "?" + "".join(r.item.drug.split())
    return r.drug.classes[0] if r.drug.classes else r.drug.id


def diagnosis_keys(case: AuditCase) -> tuple[str, ...]:
    """ICD-10 categories (3 characters) of the diagnoses, or their names when uncoded."""
    keys = []
    for d in case.patient.diagnoses:
        code = (d.icd10 or "").strip().upper()
        keys.append(code[:3] if code else d.name)
    return tuple(dict.fromkeys(k for k in keys if k))


# --------------------------------------------------------------------------- the clinic profile


@dataclass(frozen=True, slots=True)
class Usual:
    """Robust statistics of one drug in one clinic, on a log scale (median, 1.4826 × MAD)."""

    n: int
    dose_median: float | None = None
    dose_spread: float | None = None
    freq_median: float | None = None
    freq_spread: float | None = None
    days_median: float | None = None
    days_spread: float | None = None


def _robust(values: Sequence[float]) -> tuple[float | None, float | None]:
    vals = np.log(np.asarray([v for v in values if v and v > 0], dtype=np.float64))
    if len(vals) < MIN_HISTORY:
        return None, None
    med = float(np.median(vals))
    mad = float(np.median(np.abs(vals - med))) * 1.4826
    return med, max(mad, MIN_LOG_SPREAD)


@dataclass
class ClinicProfile:
    """What is usual in one clinic: dose/frequency/days per drug, and class co-occurrence."""

    usual: dict[str, Usual] = field(default_factory=dict)
    dx_class: dict[str, dict[str, int]] = field(default_factory=dict)
    dx_count: dict[str, int] = field(default_factory=dict)
    class_count: dict[str, int] = field(default_factory=dict)
    pair_count: dict[str, int] = field(default_factory=dict)
    cases: int = 0

    @classmethod
    def learn(cls, cases: Iterable[AuditCase], kb: Knowledge) -> ClinicProfile:
        """Learn the profile from a clinic's past prescriptions (no labels needed)."""
        doses: dict[str, list[float]] = defaultdict(list)
        freqs: dict[str, list[float]] = defaultdict(list)
        days: dict[str, list[float]] = defaultdict(list)
        counts: Counter[str] = Counter()
        dx_class: dict[str, Counter[str]] = defaultdict(Counter)
        dx_count: Counter[str] = Counter()
        class_count: Counter[str] = Counter()
        pair_count: Counter[str] = Counter()
        n = 0
        for case in cases:
            n += 1
            items = [resolve_item(i, it, kb) for i, it in enumerate(case.prescription.items)]
            for r in items:
                key, amount = item_key(r)
                counts[key] += 1
                if amount:
                    doses[key].append(amount)
                if r.frequency is not None and r.frequency.per_day:
                    freqs[key].append(r.frequency.per_day)
                if r.item.days:
                    days[key].append(r.item.days)
            classes = sorted({item_class(r) for r in items})
            dxs = diagnosis_keys(case)
            for dx in dxs:
                dx_count[dx] += 1
                for c in classes:
                    dx_class[dx][c] += 1
            for c in classes:
                class_count[c] += 1
            for i, a in enumerate(classes):
                for b in classes[i + 1:]:
                    pair_count[f"{a}+{b}"] += 1
        usual = {}
        for key, count in counts.items():
            dm, ds = _robust(doses[key])
            fm, fs = _robust(freqs[key])
            ym, ys = _robust(days[key])
            usual[key] = Usual(n=count, dose_median=dm, dose_spread=ds, freq_median=fm, freq_spread=fs,
                               days_median=ym, days_spread=ys)
        return cls(usual=usual, dx_class={k: dict(v) for k, v in dx_class.items()}, dx_count=dict(dx_count),
                   class_count=dict(class_count), pair_count=dict(pair_count), cases=n)

    def to_json(self) -> dict[str, Any]:
        return {"cases": self.cases, "usual": {k: asdict(v) for k, v in sorted(self.usual.items())},
                "dx_class": self.dx_class, "dx_count": self.dx_count, "class_count": self.class_count,
                "pair_count": self.pair_count}

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = PROFILE_NAME) -> ClinicProfile:
        try:
            return cls(usual={k: Usual(**v) for k, v in data["usual"].items()}, dx_class=data["dx_class"],
                       dx_count=data["dx_count"], class_count=data["class_count"],
                       pair_count=data["pair_count"], cases=int(data["cases"]))
        except (KeyError, TypeError) as exc:
            raise InputError(f"not a clinic profile: {exc}", file=source) from exc

    # ---- queries

    def z(self, key: str, kind: str, value: float | None) -> tuple[float | None, Usual | None]:
        """Robust z-score of ``value`` against the clinic's usual ``kind`` (dose/freq/days) of ``key``."""
        u = self.usual.get(key)
        if u is None or value is None or value <= 0:
            return None, u
        med, spread = getattr(u, f"{kind}_median"), getattr(u, f"{kind}_spread")
        if med is None or spread is None:
            return None, u
        return float(np.clip((math.log(value) - med) / spread, -Z_CLIP, Z_CLIP)), u

    def class_rarity(self, cls_id: str, dxs: Sequence[str]) -> float:
        """−log P(class | diagnosis) for the diagnosis that best explains the class (smoothed)."""
        k = max(len(self.class_count), 1)
        best = None
        for dx in dxs:
            p = (self.dx_class.get(dx, {}).get(cls_id, 0) + _SMOOTH) / (self.dx_count.get(dx, 0) + _SMOOTH * k)
            best = p if best is None else max(best, p)
        return -math.log(best) if best is not None else 0.0

    def pair_rarity(self, a: str, b: str) -> float:
        """−log of how often the rarer class of a pair is prescribed with the other (smoothed)."""
        a, b = sorted((a, b))
        both = self.pair_count.get(f"{a}+{b}", 0)
        base = min(self.class_count.get(a, 0), self.class_count.get(b, 0))
        return -math.log((both + _SMOOTH) / (base + 2 * _SMOOTH))


# --------------------------------------------------------------------------- features


@dataclass(frozen=True, slots=True)
class ItemOutlier:
    """One line's distance from the clinic's usual: kind (dose/freq/days), z, ratio to the median."""

    index: int
    drug: str
    kind: str
    z: float
    value: float
    usual: float
    unit: str
    n: int
    in_kb: bool


@dataclass(frozen=True, slots=True)
class CaseFeatures:
    vector: np.ndarray
    outliers: tuple[ItemOutlier, ...]
    rare_classes: tuple[tuple[int, str, float], ...]


def case_features(case: AuditCase, items: Sequence[ResolvedItem], rule_findings: Sequence[Finding],
                  profile: ClinicProfile) -> CaseFeatures:
    """The :data:`FEATURES` vector of one case, plus the per-item facts behind it."""
    f = dict.fromkeys(FEATURES, 0.0)
    f["n_items"] = float(len(items))
    age = case.patient.age
    f["age_unknown"] = float(age is None)
    f["age_child"] = float(age is not None and age < 18)
    f["age_elderly"] = float(age is not None and age >= 65)
    dxs = diagnosis_keys(case)
    f["no_diagnosis"] = float(not dxs)
    outliers: list[ItemOutlier] = []
    rare: list[tuple[int, str, float]] = []
    classes: list[str] = []
    for r in items:
        key, amount = item_key(r)
        f["unknown_drugs"] += float(r.drug is None)
        per_day = r.frequency.per_day if r.frequency is not None else None
        found = False
        for kind, value in (("dose", amount), ("freq", per_day), ("days", r.item.days)):
            z, u = profile.z(key, kind, value)
            if z is None or u is None:
                continue
            found = True
            f[f"{kind}_over_z"] = max(f[f"{kind}_over_z"], max(z, 0.0))
            f[f"{kind}_under_z"] = max(f[f"{kind}_under_z"], max(-z, 0.0))
            usual = math.exp(getattr(u, f"{kind}_median"))
            unit = key.split("|", 1)[1] if "|" in key else (r.drug.dose.unit if r.drug and r.drug.dose else "")
            outliers.append(ItemOutlier(index=r.index, drug=r.name, kind=kind, z=z, value=float(value or 0),
                                        usual=usual, unit=unit, n=u.n, in_kb=r.drug is not None))
        f["no_usual_items"] += float(not found)
        c = item_class(r)
        classes.append(c)
        if dxs:
            rarity = profile.class_rarity(c, dxs)
            f["class_dx_rarity"] = max(f["class_dx_rarity"], rarity)
            rare.append((r.index, c, rarity))
    uniq = sorted(set(classes))
    for i, a in enumerate(uniq):
        for b in uniq[i + 1:]:
            f["class_pair_rarity"] = max(f["class_pair_rarity"], profile.pair_rarity(a, b))
    for fd in rule_findings:
        if fd.source != "rule":
            continue
        f[f"rule_{fd.severity.value}"] += 1.0
        # 0 none, 1 info, 2 warn, 3 block: a linear model cannot turn counts into "any block" by itself
        f["rule_max_severity"] = max(f["rule_max_severity"], fd.severity.rank + 1.0)
        if fd.severity is not Severity.INFO:
            f[f"rule_{fd.category.value}"] += 1.0
    vector = np.fromiter((f[name] for name in FEATURES), dtype=np.float32, count=len(FEATURES))
    return CaseFeatures(vector=vector, outliers=tuple(outliers), rare_classes=tuple(rare))


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
            raise InputError("the model was trained on other features; retrain it with `clinic train-reviewer`",
                             file=str(path), field="features")
        return cls(**data)

    def write(self, model_dir: Path) -> None:
        (model_dir / CONFIG_NAME).write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n",
                                             encoding="utf-8")


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
    "dose_over_z": Category.DOSE, "dose_under_z": Category.DOSE, "freq_over_z": Category.FREQUENCY,
    "freq_under_z": Category.FREQUENCY, "days_over_z": Category.DAYS_SUPPLY,
    "days_under_z": Category.DAYS_SUPPLY, "class_dx_rarity": Category.INDICATION,
    "class_pair_rarity": Category.DUPLICATE_THERAPY, "no_diagnosis": Category.INDICATION,
    "age_child": Category.SPECIAL_POPULATION, "age_elderly": Category.SPECIAL_POPULATION,
    **{f"rule_{c.value}": c for c in Category},
}
_REFERENCE = "本机构历史处方统计（clinic reviewer 模型，非说明书限量）"


class Reviewer:
    """A loaded reviewer: the ONNX model (session built once), the clinic profile and thresholds."""

    def __init__(self, model_dir: str | Path, intra_op_threads: int = 1):
        from toolkit.onnx import OnnxModel

        self.model_dir = Path(model_dir)
        self.model = OnnxModel(self.model_dir, intra_op_threads=intra_op_threads)
        self.config = ReviewerConfig.read(self.model_dir)
        path = self.model_dir / PROFILE_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the clinic profile: {exc}", file=str(path)) from exc
        self.profile = ClinicProfile.from_json(data, str(path))
        self.revision = self.model.revision

    def score(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Risk (N,) and per-feature logit contributions (N, F) for a batch of feature vectors."""
        out = self.model.run({"features": np.ascontiguousarray(vectors, dtype=np.float32)})
        return out["risk"].reshape(-1), out["contributions"]

    def review(self, case: AuditCase, items: Sequence[ResolvedItem], rule_findings: Sequence[Finding]) -> Review:
        """Score one case and raise ``model`` findings (never ``block``)."""
        feats = case_features(case, items, rule_findings, self.profile)
        risk, contrib = self.score(feats.vector[None, :])
        contributions = {name: float(c) for name, c in zip(FEATURES, contrib[0], strict=True)}
        values = {name: float(v) for name, v in zip(FEATURES, feats.vector, strict=True)}
        findings = self._findings(float(risk[0]), contributions, values, feats, rule_findings)
        return Review(risk=float(risk[0]), contributions=contributions, features=values, findings=findings)

    def _top(self, contributions: dict[str, float], values: dict[str, float]) -> list[dict[str, Any]]:
        top = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))[: self.config.top_k]
        return [{"feature": k, "label": FEATURE_LABELS[k], "value": round(values[k], 3),
                 "contribution": round(v, 3)} for k, v in top if abs(v) > 1e-6]

    def _findings(self, risk: float, contributions: dict[str, float], values: dict[str, float],
                  feats: CaseFeatures, rule_findings: Sequence[Finding]) -> tuple[Finding, ...]:
        cfg = self.config
        top = self._top(contributions, values)
        covered = {(fd.category, i) for fd in rule_findings if fd.severity is not Severity.INFO for i in fd.items}
        out: list[Finding] = []
        for o in feats.outliers:
            ratio = o.value / o.usual if o.usual else float("inf")
            if (abs(o.z) < cfg.outlier_z or o.n < cfg.min_history
                    or cfg.outlier_ratio > ratio > 1 / cfg.outlier_ratio):
                continue
            category, rule_id, what = _KIND[o.kind]
            if (category, o.index) in covered:
                continue  # the rules already said it; the model does not repeat them
            high = o.z > 0
            # above usual is actionable (warn); below usual is a note (under-dosing is often deliberate)
            severity = Severity.WARN if high else Severity.INFO
            unit = {"freq": "次/日", "days": "天"}.get(o.kind, o.unit)
            message = (f"{o.drug}{what}{o.value:g}{unit}为本机构常用量（中位数{o.usual:.3g}{unit}，"
                       f"{o.n}张处方）的{ratio:.2g}倍，{'明显偏高' if high else '明显偏低'}，请核对"
                       + ("" if o.in_kb else "（该药未收录于知识库，仅按本机构用药习惯判断）"))
            out.append(Finding(
                rule_id=rule_id, category=category, severity=severity, drugs=(o.drug,), message=message,
                evidence={"value": o.value, "unit": unit, "clinic_median": round(o.usual, 4),
                          "ratio_to_median": round(ratio, 3), "robust_z": round(o.z, 2), "history_n": o.n,
                          "in_knowledge_base": o.in_kb, "risk": round(risk, 4), "contributions": top},
                references=(_REFERENCE,), source="model", items=(o.index,)))
        flagged_ind = {i for fd in rule_findings if fd.category is Category.INDICATION for i in fd.items}
        for index, cls_id, rarity in feats.rare_classes:
            if rarity < cfg.rarity or index in flagged_ind:
                continue
            out.append(Finding(
                rule_id="RX-MODEL-004", category=Category.INDICATION, severity=Severity.INFO,
                message=f"第{index + 1}项药品类别（{cls_id}）在本机构很少用于本次诊断，建议核对适应证",
                evidence={"class": cls_id, "rarity": round(rarity, 2), "risk": round(risk, 4),
                          "contributions": top},
                references=(_REFERENCE,), source="model", items=(index,)))
        if risk >= cfg.risk_note and top:
            lead = next((t["feature"] for t in top if t["contribution"] > 0), top[0]["feature"])
            category = _FEATURE_CATEGORY.get(lead, Category.RECORD)
            reasons = "、".join(t["label"] for t in top if t["contribution"] > 0) or "—"
            out.append(Finding(
                rule_id="RX-MODEL-010", category=category, severity=Severity.INFO,
                message=f"模型评估退方可能性{risk:.0%}，建议优先审核（主要因素：{reasons}）",
                evidence={"risk": round(risk, 4), "threshold": cfg.risk_note, "contributions": top},
                references=(_REFERENCE,), source="model"))
        return tuple(out)


_REVIEWERS: dict[tuple[str, int], Reviewer] = {}


def default_model_dir() -> Path | None:
    """The configured reviewer: ``$CLINIC_REVIEWER_MODEL``, else the shipped ``models/reviewer``."""
    env = os.environ.get(ENV_MODEL)
    if env:
        return Path(env)
    from importlib import resources

    here = Path(str(resources.files("toolkit") / "models" / "reviewer"))  # models/ ships in the package
    return here if (here / "model.onnx").is_file() else None


def get_reviewer(model_dir: str | Path | None = None, intra_op_threads: int = 1) -> Reviewer:
    """The reviewer for ``model_dir`` (default: :func:`default_model_dir`), loaded once per process."""
    path = Path(model_dir) if model_dir else default_model_dir()
    if path is None:
        raise InputError(f"no reviewer model configured: set {ENV_MODEL} or train one with `clinic train-reviewer`")
    key = (str(path.resolve()), intra_op_threads)
    if key not in _REVIEWERS:
        _REVIEWERS[key] = Reviewer(path, intra_op_threads)
    return _REVIEWERS[key]


def review_case(case: AuditCase, kb: Knowledge, reviewer: Reviewer,
                rule_findings: Sequence[Finding] | None = None) -> Review:
    """Resolve, (run the rules when ``rule_findings`` is None) and review one case."""
    items = [resolve_item(i, it, kb) for i, it in enumerate(case.prescription.items)]
    if rule_findings is None:
        from .engine import audit

        rule_findings = audit(case, kb).findings
    return reviewer.review(case, items, rule_findings)


# --------------------------------------------------------------------------- training


@dataclass(frozen=True, slots=True)
class Decision:
    """One reviewed prescription: the case and what the pharmacist did (pass / return / override)."""

    case: AuditCase
    decision: str

    @property
    def returned(self) -> bool:
        return self.decision == "return"


DECISIONS = ("pass", "return", "override")


def read_decisions(path: str | Path) -> list[Decision]:
    """Reviewed prescriptions from JSONL (``{"case": {...}, "decision": ...}``) or CSV (columns case, decision).

    ``override`` (the prescriber kept the prescription with a reason, 双签) counts as not returned.
    """
    import csv

    path = Path(path)
    rows: list[tuple[int, Any, Any]] = []
    try:
        if path.suffix.lower() == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as fh:
                for n, row in enumerate(csv.DictReader(fh), start=2):
                    rows.append((n, row.get("case"), row.get("decision")))
        else:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    obj = json.loads(line)
                    rows.append((n, obj.get("case"), obj.get("decision")))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read reviewed prescriptions: {exc}", file=str(path)) from exc
    out = []
    for n, case, decision in rows:
        if decision not in DECISIONS:
            raise InputError(f"decision {decision!r} is not one of {list(DECISIONS)}", file=str(path), row=n,
                             field="decision")
        try:
            data = json.loads(case) if isinstance(case, str) else case
            if isinstance(data, dict) and "id" not in data:
                data = {"id": f"row-{n}", **data}
            out.append(Decision(case=AuditCase.model_validate(data), decision=decision))
        except (ValueError, TypeError) as exc:
            raise InputError(f"invalid case: {exc}", file=str(path), row=n, field="case") from exc
    return out


@dataclass(frozen=True, slots=True)
class TrainReport:
    """What :func:`train_reviewer` did: sizes, held-out AUC and the export manifest's path."""

    cases: int
    returned: int
    train_cases: int
    test_cases: int
    auc_test: float | None
    auc_rules_only_test: float | None
    model_dir: str
    quantization: str | None


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
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def rules_only_score(rule_findings: Sequence[Finding]) -> float:
    """The queue order without the model: worst severity first, then the number of warn/block findings."""
    worst = max((fd.severity.rank for fd in rule_findings), default=-1)
    return worst * 100 + sum(fd.severity is not Severity.INFO for fd in rule_findings)


def train_reviewer(decisions: Sequence[Decision], kb: Knowledge, out_dir: str | Path, *,
                   profile_cases: Sequence[AuditCase] | None = None, test_fraction: float = 0.2,
                   seed: int = 0, epochs: int = 300, weight_decay: float = 1e-3,
                   config: ReviewerConfig | None = None, source: str = "",
                   quantize: str | None = "int8", note: str = "") -> TrainReport:
    """Learn the clinic profile and the logistic reviewer from reviewed prescriptions; export to ONNX.

    The profile is learned from ``profile_cases`` (all of the clinic's prescriptions,
    reviewed or not) or, when absent, from the reviewed cases themselves. A random
    ``test_fraction`` of the decisions is held out and the AUC on it is reported
    next to the rules-only queue order. ``quantize`` is passed to the export (int8 is kept
    only when the held-out AUC holds); ``note`` goes into the manifest. Needs the
    ``train`` and ``export`` extras.
    """
    from toolkit.onnx.models import fit_logistic

    from .engine import audit

    if len(decisions) < 20:
        raise InputError(f"only {len(decisions)} reviewed prescriptions; at least 20 are needed to train")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    profile = ClinicProfile.learn(profile_cases if profile_cases is not None else [d.case for d in decisions], kb)
    x = np.zeros((len(decisions), len(FEATURES)), dtype=np.float32)
    y = np.zeros(len(decisions), dtype=np.float32)
    base = np.zeros(len(decisions), dtype=np.float64)
    for n, d in enumerate(decisions):
        items = [resolve_item(i, it, kb) for i, it in enumerate(d.case.prescription.items)]
        findings = audit(d.case, kb).findings
        x[n] = case_features(d.case, items, findings, profile).vector
        y[n] = float(d.returned)
        base[n] = rules_only_score(findings)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(decisions))
    n_test = max(1, int(len(decisions) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    fitted = fit_logistic(x[train], y[train], feature_names=FEATURES, epochs=epochs, weight_decay=weight_decay,
                          seed=seed)
    p_test = fitted.predict(x[test])
    auc_test = auc(p_test.tolist(), (y[test] > 0.5).tolist())
    auc_base = auc(base[test].tolist(), (y[test] > 0.5).tolist())
    # the shipped model is refitted on every reviewed case; the held-out numbers describe the procedure
    final = fit_logistic(x, y, feature_names=FEATURES, epochs=epochs, weight_decay=weight_decay, seed=seed)
    manifest = final.export(out, parity=x[test], labels=y[test] > 0.5, source=source or "clinic train-reviewer",
                            extra={"train_cases": len(train), "test_cases": len(test),
                                   "returned": int(y.sum()), "auc_test_holdout_fit": auc_test,
                                   "auc_rules_only_test": auc_base, **({"note": note} if note else {})},
                            quantize=quantize)
    (out / PROFILE_NAME).write_text(json.dumps(profile.to_json(), ensure_ascii=False) + "\n", encoding="utf-8")
    (config or ReviewerConfig()).write(out)
    _REVIEWERS.clear()
    return TrainReport(cases=len(decisions), returned=int(y.sum()), train_cases=len(train), test_cases=len(test),
                       auc_test=auc_test, auc_rules_only_test=auc_base, model_dir=str(out),
                       quantization=manifest.quantization)
