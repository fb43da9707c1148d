"""Training the reviewer from a clinic's reviewed prescriptions (pass / return / override).

Importing this module never imports torch; :func:`train_reviewer` needs the ``train`` and
``export`` extras.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.audit import audit
from toolkit.audit.resolve import resolve_item
from toolkit.errors import InputError
from toolkit.knowledge.loader import Knowledge
from toolkit.onnx.models import auc, fit_logistic
from toolkit.records import AuditCase

from .features import FEATURES, case_features
from .model import ReviewerConfig, clear_loaded
from .profile import PROFILE_NAME, ClinicProfile
from .queue import rules_only_score


@dataclass(frozen=True, slots=True)
class Decision:
    """One reviewed prescription: the case and what the pharmacist did (pass / return / override)."""

    case: AuditCase
    decision: str

    @property
    def returned(self) -> bool:
        """True when the pharmacist returned the prescription (an override counts as not returned)."""
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
            raise InputError(
                f"decision {decision!r} is not one of {list(DECISIONS)}",
                file=str(path),
                row=n,
                field="decision",
            )
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


def train_reviewer(
    decisions: Sequence[Decision],
    kb: Knowledge,
    out_dir: str | Path,
    *,
    profile_cases: Sequence[AuditCase] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    epochs: int = 300,
    weight_decay: float = 1e-3,
    config: ReviewerConfig | None = None,
    source: str = "",
    quantize: str | None = "int8",
    note: str = "",
) -> TrainReport:
    """Learn the clinic profile and the logistic reviewer from reviewed prescriptions; export to ONNX.

    The profile is learned from ``profile_cases`` (all of the clinic's prescriptions,
    reviewed or not) or, when absent, from the reviewed cases themselves. A random
    ``test_fraction`` of the decisions is held out and the AUC on it is reported
    next to the rules-only queue order. ``quantize`` is passed to the export (int8 is kept
    only when the held-out AUC holds); ``note`` goes into the manifest. Needs the
    ``train`` and ``export`` extras.
    """
    if len(decisions) < 20:
        raise InputError(f"only {len(decisions)} reviewed prescriptions; at least 20 are needed to train")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    profile = ClinicProfile.learn(
        profile_cases if profile_cases is not None else [d.case for d in decisions], kb
    )
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
    fitted = fit_logistic(
        x[train], y[train], feature_names=FEATURES, epochs=epochs, weight_decay=weight_decay, seed=seed
    )
    p_test = fitted.predict(x[test])
    auc_test = auc(p_test.tolist(), (y[test] > 0.5).tolist())
    auc_base = auc(base[test].tolist(), (y[test] > 0.5).tolist())
    # the shipped model is refitted on every reviewed case; the held-out numbers describe the procedure
    final = fit_logistic(x, y, feature_names=FEATURES, epochs=epochs, weight_decay=weight_decay, seed=seed)
    manifest = final.export(
        out,
        parity=x[test],
        labels=y[test] > 0.5,
        source=source or "clinic train-reviewer",
        extra={
            "train_cases": len(train),
            "test_cases": len(test),
            "returned": int(y.sum()),
            "auc_test_holdout_fit": auc_test,
            "auc_rules_only_test": auc_base,
            **({"note": note} if note else {}),
        },
        quantize=quantize,
    )
    (out / PROFILE_NAME).write_text(
        json.dumps(profile.to_json(), ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (config or ReviewerConfig()).write(out)
    clear_loaded()
    return TrainReport(
        cases=len(decisions),
        returned=int(y.sum()),
        train_cases=len(train),
        test_cases=len(test),
        auc_test=auc_test,
        auc_rules_only_test=auc_base,
        model_dir=str(out),
        quantization=manifest.quantization,
    )
