"""The reviewer's inputs: the :data:`FEATURES` vector of one case, and the per-item facts behind it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from toolkit.audit.resolve import ResolvedItem
from toolkit.records import AuditCase, Category, Finding, Severity

from .profile import ClinicProfile, diagnosis_keys, item_class, item_key

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
    """One case's feature vector, its unusual lines and its rare (item index, class, −log P) classes."""

    vector: np.ndarray
    outliers: tuple[ItemOutlier, ...]
    rare_classes: tuple[tuple[int, str, float], ...]


def case_features(
    case: AuditCase, items: Sequence[ResolvedItem], rule_findings: Sequence[Finding], profile: ClinicProfile
) -> CaseFeatures:
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
            unit = (
                key.split("|", 1)[1] if "|" in key else (r.drug.dose.unit if r.drug and r.drug.dose else "")
            )
            outliers.append(
                ItemOutlier(
                    index=r.index,
                    drug=r.name,
                    kind=kind,
                    z=z,
                    value=float(value or 0),
                    usual=usual,
                    unit=unit,
                    n=u.n,
                    in_kb=r.drug is not None,
                )
            )
        f["no_usual_items"] += float(not found)
        c = item_class(r)
        classes.append(c)
        if dxs:
            rarity = profile.class_rarity(c, dxs)
            f["class_dx_rarity"] = max(f["class_dx_rarity"], rarity)
            rare.append((r.index, c, rarity))
    uniq = sorted(set(classes))
    for i, a in enumerate(uniq):
        for b in uniq[i + 1 :]:
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
