"""What is usual in one clinic: :class:`ClinicProfile`, learned from its own past prescriptions.

Robust statistics of the clinic's usual dose, frequency and duration per drug (median and
scaled MAD on a log scale) and how often drug classes occur with each diagnosis and with
each other. Drugs missing from the knowledge base are keyed by their written name, so they
still get an outlier check.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from toolkit.audit.resolve import ResolvedItem, resolve_item
from toolkit.errors import InputError
from toolkit.knowledge.loader import Knowledge
from toolkit.records import AuditCase
from toolkit.units import MASS_TO_MG, normalize_unit

PROFILE_NAME = "profile.json"

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
                for b in classes[i + 1 :]:
                    pair_count[f"{a}+{b}"] += 1
        usual = {}
        for key, count in counts.items():
            dm, ds = _robust(doses[key])
            fm, fs = _robust(freqs[key])
            ym, ys = _robust(days[key])
            usual[key] = Usual(
                n=count,
                dose_median=dm,
                dose_spread=ds,
                freq_median=fm,
                freq_spread=fs,
                days_median=ym,
                days_spread=ys,
            )
        return cls(
            usual=usual,
            dx_class={k: dict(v) for k, v in dx_class.items()},
            dx_count=dict(dx_count),
            class_count=dict(class_count),
            pair_count=dict(pair_count),
            cases=n,
        )

    def to_json(self) -> dict[str, Any]:
        """The profile as a JSON-ready dict (read back by :meth:`from_json`)."""
        return {
            "cases": self.cases,
            "usual": {k: asdict(v) for k, v in sorted(self.usual.items())},
            "dx_class": self.dx_class,
            "dx_count": self.dx_count,
            "class_count": self.class_count,
            "pair_count": self.pair_count,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = PROFILE_NAME) -> ClinicProfile:
        """A profile from :meth:`to_json` output; InputError (naming ``source``) when a key is missing."""
        try:
            return cls(
                usual={k: Usual(**v) for k, v in data["usual"].items()},
                dx_class=data["dx_class"],
                dx_count=data["dx_count"],
                class_count=data["class_count"],
                pair_count=data["pair_count"],
                cases=int(data["cases"]),
            )
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
            p = (self.dx_class.get(dx, {}).get(cls_id, 0) + _SMOOTH) / (
                self.dx_count.get(dx, 0) + _SMOOTH * k
            )
            best = p if best is None else max(best, p)
        return -math.log(best) if best is not None else 0.0

    def pair_rarity(self, a: str, b: str) -> float:
        """−log of how often the rarer class of a pair is prescribed with the other (smoothed)."""
        a, b = sorted((a, b))
        both = self.pair_count.get(f"{a}+{b}", 0)
        base = min(self.class_count.get(a, 0), self.class_count.get(b, 0))
        return -math.log((both + _SMOOTH) / (base + 2 * _SMOOTH))
