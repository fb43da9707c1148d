"""Train the default reviewer shipped in models/reviewer/ on synthetic reviewed prescriptions.

    python eval/reviewer/train_default.py [--cases 4000] [--seed 0] [-o models/reviewer]

There is no real reviewed data: see synth.py for how the prescriptions and the simulated
pharmacist decisions are made (labels derived largely from the rules). A clinic replaces
this model with ``clinic train-reviewer DECISIONS`` on its own reviewed prescriptions.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

from synth import generate  # sibling script (its own directory)

from toolkit.knowledge import get_knowledge
from toolkit.review import Decision, train_reviewer

FP32_NOTE = (
    "fp32 shipped on purpose: for this 36-weight logistic model dynamic int8 keeps the AUC "
    "(see eval/bench/bench_onnx.py and --int8) but is larger (quantise/dequantise nodes) and no faster, "
    "and fp32 keeps the feature contributions exact"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", type=Path, default=Path("models/reviewer"))
    ap.add_argument("--int8", action="store_true", help="try dynamic int8 (see FP32_NOTE for why it is off)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    kb = get_knowledge()
    t = time.perf_counter()
    examples = generate(kb, args.cases, seed=args.seed)
    decisions = [Decision(e.case, "return" if e.returned else "pass") for e in examples]
    report = train_reviewer(
        decisions,
        kb,
        args.output,
        seed=args.seed,
        source=f"eval/reviewer/train_default.py --cases {args.cases} --seed {args.seed} "
        "(synthetic decisions, see eval/reviewer/synth.py)",
        quantize="int8" if args.int8 else None,
        note=FP32_NOTE if not args.int8 else "",
    )
    print(
        json.dumps(
            {**asdict(report), "seconds": round(time.perf_counter() - t, 1)}, ensure_ascii=False, indent=2
        )
    )


if __name__ == "__main__":
    main()
