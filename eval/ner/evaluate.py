"""Rules only vs rules + learned model (and the model alone), strict span F1, in one run.

Run from the repository root (no torch needed)::

    python eval/ner/evaluate.py --shared ../shared/data/ner --model models/ner --json eval/ner/results.json

Scores: the gold set (``eval/data/extract_gold.jsonl``, per split), CCKS 2019 dev (drug, disease)
and cMedQANER test (drug, disease, symptom, body_part) through
:func:`toolkit.evaluation.extract.evaluate_gold` and the same external loaders as
``clinic eval extract``; plus the model alone on the external corpora (no rules, no assembler).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from toolkit.evaluation.data import SHARED_DATA, eval_data
from toolkit.evaluation.extract import (
    GOLD_NAME,
    _external,
    evaluate_gold,
    load_ccks2019,
    load_cmedqaner,
    span_scores,
)
from toolkit.extract.extract import ExtractOptions, Extractor
from toolkit.extract.gold import ENTITY_LABELS, load_gold
from toolkit.extract.model import LABELS, GapFillModel, NerModel, load_ner_model

log = logging.getLogger("eval.ner.evaluate")

EXTERNAL = (
    ("ccks2019_dev", "ccks2019_yidu/dev.json", load_ccks2019, ("drug", "disease")),
    (
        "cmedqaner_test",
        "chineseblue/cMedQANER/test.json",
        load_cmedqaner,
        ("drug", "disease", "symptom", "body_part"),
    ),
)


def model_alone(
    model: NerModel, docs: list[tuple[str, list[tuple[int, int, str]]]], labels: tuple[str, ...]
) -> dict[str, Any]:
    """Strict span scores of the raw model output (no lexicon, no assembler)."""
    gold, pred = [], []
    for i, (text, ents) in enumerate(docs):
        gold.extend((i, s, e, lab) for s, e, lab in ents if lab in labels)
        pred.extend((i, s, e, lab) for s, e, lab, _ in model.predict(text) if lab in labels)
    return span_scores(gold, pred, labels)


SYSTEMS = ("rules", "rules+model", "rules+fill", "rules+fill:symptom,body_part")
"""``rules+model``: model spans compete with lexicon spans in the assembler (the pipeline's slot as is);
``rules+fill[:labels]``: :class:`GapFillModel`, model spans only where the rules found nothing."""


def build_systems(names: tuple[str, ...], model: NerModel) -> dict[str, Extractor]:
    options = ExtractOptions()
    rules = Extractor(options)
    out: dict[str, Extractor] = {}
    for name in names:
        if name == "rules":
            out[name] = rules
        elif name == "rules+model":
            out[name] = Extractor(options, model=model)
        elif name.startswith("rules+fill"):
            labels = tuple(name.partition(":")[2].split(",")) if ":" in name else LABELS
            fill = GapFillModel(
                model, lambda t: [(e.start, e.end) for e in rules.extract(t).entities], labels
            )
            out[name] = Extractor(options, model=fill)
        else:
            raise SystemExit(f"unknown system {name!r}; allowed: {', '.join(SYSTEMS)}")
    return out


def run(
    gold_path: Path,
    shared: Path,
    model_dir: Path,
    file_name: str,
    names: tuple[str, ...] = SYSTEMS,
    min_confidence: float = 0.0,
) -> dict[str, Any]:
    model = load_ner_model(model_dir, file_name=file_name, min_confidence=min_confidence)
    systems = build_systems(names, model)
    cases = load_gold(gold_path)
    splits = sorted({c.get("split", "dev") for c in cases})
    report: dict[str, Any] = {
        "model": model.name,
        "model_dir": str(model_dir),
        "min_confidence": min_confidence,
        "systems": list(systems),
        "gold": {},
        "external": {},
        "model_alone": {},
    }
    for name, ex in systems.items():
        report["gold"][name] = {
            s: evaluate_gold([c for c in cases if c.get("split", "dev") == s], ex.extract) for s in splits
        }
    for key, rel, loader, labels in EXTERNAL:
        path = shared / rel
        if not path.is_file():
            report["external"][key] = {"skipped": f"not found: {path}"}
            continue
        docs = loader(path)
        report["external"][key] = {
            name: _external(docs, labels, ex.extract, None) for name, ex in systems.items()
        }
        report["model_alone"][key] = model_alone(model, docs, labels)
    return report


def table(report: dict[str, Any]) -> str:
    """Plain-text F1 tables: per label and system (differences are against ``rules``)."""
    systems = report["systems"]
    lines = [f"model {report['model']}, min_confidence {report['min_confidence']}"]
    head = "".join(f"{n[:24]:>26}" for n in systems)
    for split in report["gold"][systems[0]]:
        lines.append(
            f"gold split {split}: {report['gold'][systems[0]][split]['cases']} dictations (F1, diff vs rules)"
        )
        lines.append(f"  {'label':<11}{head}{'n':>6}")
        for lab in [*ENTITY_LABELS, "micro"]:
            base = report["gold"][systems[0]][split]["entities"][lab]
            cells = []
            for n in systems:
                f = report["gold"][n][split]["entities"][lab]["f1"]
                cells.append(f"{f:.3f}" + (f" ({f - base['f1']:+.3f})" if n != systems[0] else ""))
            lines.append(f"  {lab:<11}" + "".join(f"{c:>26}" for c in cells) + f"{base['support']:>6}")
    for key, ext in report["external"].items():
        if "skipped" in ext:
            lines.append(f"{key}: skipped ({ext['skipped']})")
            continue
        lines.append(f"{key}: {ext[systems[0]]['docs']} docs  (P/R/F1)")
        lines.append(f"  {'label':<11}{head}{'model alone':>26}")
        for lab in ext[systems[0]]["scores"]:
            cells = [ext[n]["scores"][lab] for n in systems] + [report["model_alone"][key][lab]]
            prf = [f"{c['precision']:.3f}/{c['recall']:.3f}/{c['f1']:.3f}" for c in cells]
            lines.append(f"  {lab:<11}" + "".join(f"{c:>26}" for c in prf))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--gold", default=None, type=Path, help="gold JSONL (default: eval/data/extract_gold.jsonl)"
    )
    ap.add_argument("--shared", default=SHARED_DATA / "ner", type=Path)
    ap.add_argument("--model", default=Path("models/ner"), type=Path)
    ap.add_argument("--file", default="model.onnx", help="ONNX file inside --model")
    ap.add_argument("--json", type=Path, help="write the full report here")
    ap.add_argument(
        "--systems", default=";".join(SYSTEMS), help="semicolon-separated, from: " + "; ".join(SYSTEMS)
    )
    ap.add_argument("--min-confidence", default=0.0, type=float)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = run(
        args.gold or eval_data(GOLD_NAME),
        args.shared,
        args.model,
        args.file,
        tuple(args.systems.split(";")),
        args.min_confidence,
    )
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    sys.stdout.write(table(report) + "\n")


if __name__ == "__main__":
    main()
