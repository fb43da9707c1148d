"""The default reviewer on a FRESH synthetic set (another seed than training): where the model can help.

    python eval/reviewer/eval_synthetic.py [--cases 1500] [--seed 99] [--model models/reviewer]

Circular by construction (same simulator as the training data), so it shows what the
model learned from the simulator, not how real pharmacists decide. Reports:
* ranking AUC / precision of the top 10 % against the simulated decisions, model vs rules-only;
* the clinic-usual outlier check on drugs MISSING from the knowledge base: of the lines of
  such drugs whose dose was multiplied by ≥ 3 or ≤ 0.25, how many got RX-MODEL-001, and how
  many untouched lines of such drugs got it anyway (false alarms). The rules cannot see these.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synth import NOT_IN_KB, generate  # sibling script (its own directory)

from toolkit.audit import audit
from toolkit.audit.resolve import resolve_item
from toolkit.evaluation.reviewer import precision_at
from toolkit.knowledge import get_knowledge
from toolkit.review import auc, load_reviewer, rules_only_score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--model", type=Path, default=Path("models/reviewer"))
    args = ap.parse_args()
    kb = get_knowledge()
    rv = load_reviewer(args.model)
    usual = {name: dose for name, _s, dose, *_ in NOT_IN_KB}
    risk, base, labels = [], [], []
    off_hit = off_n = calm_hit = calm_n = 0
    for ex in generate(kb, args.cases, seed=args.seed):
        findings = audit(ex.case, kb).findings
        items = [resolve_item(i, it, kb) for i, it in enumerate(ex.case.prescription.items)]
        review = rv.review(ex.case, items, findings)
        risk.append(review.risk)
        base.append(rules_only_score(findings))
        labels.append(ex.returned)
        flagged = {i for f in review.findings if f.rule_id == "RX-MODEL-001" for i in f.items}
        for i, it in enumerate(ex.case.prescription.items):
            if it.drug not in usual:
                continue
            ratio = (it.dose or 0) / usual[it.drug]
            if ratio >= 3 or ratio <= 0.25:
                off_n += 1
                off_hit += i in flagged
            elif abs(ratio - 1) < 1e-9:
                calm_n += 1
                calm_hit += i in flagged
    out = {
        "cases": args.cases,
        "seed": args.seed,
        "returned": sum(labels),
        "ranking": {
            "model": {"auc": auc(risk, labels), "precision_top10": precision_at(risk, labels)},
            "rules_only": {"auc": auc(base, labels), "precision_top10": precision_at(base, labels)},
        },
        "not_in_kb_outliers": {
            "off_lines": off_n,
            "flagged": off_hit,
            "usual_lines": calm_n,
            "false_alarms": calm_hit,
        },
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
