"""NER latency and F1: torch eager vs ONNX fp32 vs ONNX int8, same weights, same run, one thread each.

Needs the training checkpoint (``eval/ner/train.py`` writes ``<work>/charcnn.pt``) and torch::

    python eval/bench/bench_ner.py --checkpoint /tmp/ner_work/b/charcnn.pt \\
        --model models/ner --shared ../shared/data/ner --json eval/bench/bench_ner.json

From the checkpoint it exports fp32 ONNX, quantises a dynamic int8 copy and a static int8 copy
(``toolkit.onnx.quantize_int8_static`` with ``eval/ner/train.py``'s settings and calibration
texts, cMedQANER train; temporary files), then times one record at a time (batch 1) over
cMedQANER test texts (real consumer questions) and reports strict span F1 (model alone) of each
engine on cMedQANER test. The shipped ``models/ner/model.onnx`` is timed too (with its manifest's
session options), so the numbers can be tied to what is committed. Torch eager: the same weights,
``torch.inference_mode()``, ``torch.set_num_threads(1)``, no ``torch.jit``. Every ONNX session
gets 1 intra-op thread and the shipped manifest's ``disabled_optimizers``; ``onnx_int8_static_fused``
leaves onnxruntime's SkipLayerNormalization fusion on (on the shipped graph it does not match, so the two
rows run the same kernels and differ by noise only).
Goals: ONNX ≥ 5× faster than torch eager, F1 within 0.5 points. The 1-minute load average
before and after the timing passes is recorded (the machine is shared; passes are interleaved).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.evaluation.extract import load_cmedqaner, span_scores
from toolkit.extract.model import LABELS, NerVocab, decode_tags, encode

log = logging.getLogger("eval.bench.ner")


def _session(path: Path, threads: int, disabled: list[str]) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        str(path), so, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
    )


def time_engine(
    fn: Callable[[np.ndarray], np.ndarray], batches: list[np.ndarray], repeats: int
) -> dict[str, float]:
    """Median and p90 milliseconds per record over ``repeats`` passes (first pass is warm-up)."""
    for x in batches[:20]:
        fn(x)
    per: list[float] = []
    for _ in range(repeats):
        for x in batches:
            t0 = time.perf_counter()
            fn(x)
            per.append((time.perf_counter() - t0) * 1000)
    per.sort()
    return {
        "ms_median": round(statistics.median(per), 4),
        "ms_mean": round(statistics.fmean(per), 4),
        "ms_p90": round(per[int(0.9 * (len(per) - 1))], 4),
        "records": len(batches),
        "repeats": repeats,
    }


def f1_of(
    fn: Callable[[np.ndarray], np.ndarray],
    docs: list[tuple[str, list[tuple[int, int, str]]]],
    batches: list[np.ndarray],
    tags: tuple[str, ...],
) -> dict[str, Any]:
    gold, pred = [], []
    for i, ((_text, ents), x) in enumerate(zip(docs, batches, strict=True)):
        gold.extend((i, s, e, lab) for s, e, lab in ents)
        best = fn(x)[0].argmax(-1)
        pred.extend((i, s, e, lab) for s, e, lab in decode_tags([tags[int(k)] for k in best]))
    return span_scores(gold, pred, LABELS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=Path("/tmp/ner_work/b/charcnn.pt"), type=Path)
    ap.add_argument("--model", default=Path("models/ner"), type=Path)
    ap.add_argument("--shared", default=Path("../shared/data/ner"), type=Path)
    ap.add_argument("--repeats", default=3, type=int)
    ap.add_argument("--threads", default=1, type=int)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from toolkit.evaluation.ner_charcnn import STATIC_OPS, CharCNN
    from toolkit.evaluation.ner_data import CHUNK, calibration_docs, chunk
    from toolkit.evaluation.ner_data import load_cmedqaner as load_train
    from toolkit.onnx import ExportManifest, quantize_int8_static

    torch.set_num_threads(args.threads)
    vocab = NerVocab.read(args.model / "vocab.json")
    index = vocab.char_index
    test = args.shared / "chineseblue/cMedQANER/test.json"
    if not test.is_file():
        raise SystemExit(f"cMedQANER test not found: {test}")
    docs = [d for d in load_cmedqaner(test) if d[0].strip()]
    batches = [np.asarray([encode(t, index)], dtype=np.int64) for t, _ in docs]

    ckpt = torch.load(args.checkpoint, map_location="cpu")
    cfg = dict(ckpt["config"])
    cfg["dilations"] = tuple(cfg["dilations"])
    model = CharCNN(**cfg)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    if tuple(ckpt["tags"]) != vocab.tags:
        raise SystemExit("checkpoint tags differ from the model's vocab.json: not the same model")

    work = Path(tempfile.mkdtemp(prefix="bench_ner_"))
    fp32, int8, static = work / "fp32.onnx", work / "int8.onnx", work / "int8_static.onnx"
    with torch.no_grad():
        torch.onnx.export(
            model,
            (torch.from_numpy(batches[0]),),
            str(fp32),
            input_names=["ids"],
            output_names=["scores"],
            dynamic_axes={"ids": {0: "batch", 1: "length"}, "scores": {0: "batch", 1: "length"}},
            opset_version=17,
            dynamo=False,
        )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    train_path = args.shared / "chineseblue/cMedQANER/train.json"
    calib = calibration_docs([c for d in load_train(train_path) for c in chunk(d, CHUNK)])
    quantize_int8_static(
        fp32,
        static,
        ["ids"],
        [(np.asarray([encode(t, index)], dtype=np.int64),) for t in calib["texts"]],  # type: ignore[attr-defined]
        static_op_types=STATIC_OPS,
    )
    manifest = ExportManifest.read(args.model)
    disabled = list(manifest.session_options.get("disabled_optimizers", []))

    def torch_fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    engines: dict[str, Callable[[np.ndarray], np.ndarray]] = {"torch_eager": torch_fn}
    files = {
        "onnx_fp32": fp32,
        "onnx_int8_dynamic": int8,
        "onnx_int8_static": static,
        "onnx_int8_static_fused": static,
        "shipped": args.model / "model.onnx",
    }
    for name, path in files.items():
        sess = _session(path, args.threads, [] if name.endswith("_fused") else disabled)
        engines[name] = lambda x, s=sess: s.run(None, {"ids": x})[0]

    report: dict[str, Any] = {
        "threads": args.threads,
        "records": len(docs),
        "mean_chars": round(statistics.fmean(len(t) for t, _ in docs), 1),
        "checkpoint": str(args.checkpoint),
        "shipped_quantization": manifest.quantization,
        "disabled_optimizers": disabled,
        "sizes_bytes": {k: p.stat().st_size for k, p in files.items()},
        "latency": {},
        "f1_cmedqaner_test": {},
    }
    for name, fn in engines.items():
        report["f1_cmedqaner_test"][name] = f1_of(fn, docs, batches, vocab.tags)
    # interleave the timing passes so machine load hits every engine alike
    report["load_1min_before"] = round(os.getloadavg()[0], 2)
    for _ in range(args.repeats):
        for name, fn in engines.items():
            res = time_engine(fn, batches, 1)
            report["latency"].setdefault(name, []).append(res)
    report["load_1min_after"] = round(os.getloadavg()[0], 2)
    summary = {}
    for name, runs in report["latency"].items():
        summary[name] = {
            "ms_median": round(statistics.median(r["ms_median"] for r in runs), 4),
            "ms_mean": round(statistics.fmean(r["ms_mean"] for r in runs), 4),
        }
    base = summary["torch_eager"]["ms_median"]
    for s in summary.values():
        s["speedup_vs_torch"] = round(base / s["ms_median"], 2)
    report["summary"] = summary
    f_torch = report["f1_cmedqaner_test"]["torch_eager"]["micro"]["f1"]
    lines = [
        f"cMedQANER test, {len(docs)} records (mean {report['mean_chars']} chars), batch 1, "
        f"{args.threads} thread(s), {args.repeats} passes, load {report['load_1min_before']} -> "
        f"{report['load_1min_after']} (2 cores, shared)",
        f"{'engine':<24}{'ms/record':>10}{'speedup':>9}{'micro F1':>10}{'ΔF1 pts':>9}{'bytes':>10}",
    ]
    for name, s in summary.items():
        f = report["f1_cmedqaner_test"][name]["micro"]["f1"]
        size = report["sizes_bytes"].get(name, "")
        lines.append(
            f"{name:<24}{s['ms_median']:>10.3f}{s['speedup_vs_torch']:>9.2f}{f:>10.4f}"
            f"{100 * (f - f_torch):>+9.2f}{size!s:>10}"
        )
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
