"""ONNX speed and memory on an ordinary CPU, measured in one run.

1. Per model (every ``models/NAME/checkpoint`` a torch checkpoint can be rebuilt from):
   latency (median ms per call) and throughput (rows/s) for torch eager, onnxruntime
   fp32 and onnxruntime int8 (dynamic), at batch 1 and 32, on the checkpoint's real
   parity inputs; onnxruntime with 1 and 2 intra-op threads.
2. The whole pipeline except ASR, in a fresh process without torch: load the knowledge
   base, the extractor and the reviewer, extract 200 records and audit 200 prescriptions
   with the reviewer; peak RSS and the reviewer's own cost per prescription.

    python eval/bench/bench_onnx.py [--repeat 300] [--cases 200] [-o bench_onnx.json]

Goals (issue 5): int8 ≥ 5× faster than torch eager at batch 1; pipeline < 500 MiB;
the model adds < 1 ms per prescription. Misses are printed as misses.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _median_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    for _ in range(min(20, repeat)):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def bench_model(ckpt: Path, repeat: int) -> dict[str, object]:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from toolkit.onnx import OnnxModel, export
    from toolkit.onnx.models import EXPORT_SPECS, load_checkpoint

    torch.set_num_threads(1)
    model, name, _ = load_checkpoint(ckpt)
    spec = EXPORT_SPECS[name]
    inputs = np.load(ckpt / "parity.npz")["inputs"]
    work = Path(tempfile.mkdtemp(prefix="bench_onnx_"))
    fp32_dir, int8_dir = work / "fp32", work / "int8"
    export(
        model,
        (inputs[:2],),
        fp32_dir,
        input_names=spec["input_names"],
        output_names=spec["output_names"],
        dynamic_axes=spec["dynamic_axes"],
        parity_inputs=(inputs,),
        tolerance=spec["tolerance"],
        quantize=None,
    )
    int8_dir.mkdir()
    quantize_dynamic(str(fp32_dir / "model.onnx"), str(int8_dir / "model.onnx"), weight_type=QuantType.QInt8)
    (int8_dir / "manifest.json").write_text(
        (fp32_dir / "manifest.json").read_text(encoding="utf-8"), encoding="utf-8"
    )
    rows: dict[str, object] = {"model": name, "checkpoint": str(ckpt)}
    for batch in (1, 32):
        x = np.ascontiguousarray(inputs[:batch])
        xt = torch.from_numpy(x)

        def eager(xt=xt) -> None:  # type: ignore[no-untyped-def]
            with torch.no_grad():
                model(xt)

        res = {"torch_eager": _median_ms(eager, repeat)}
        for label, d in (("ort_fp32", fp32_dir), ("ort_int8", int8_dir)):
            for threads in (1, 2):
                m = OnnxModel(d, intra_op_threads=threads)
                res[f"{label}_t{threads}"] = _median_ms(lambda m=m, x=x: m(x), repeat)
        rows[f"batch{batch}_ms"] = res
        rows[f"batch{batch}_rows_per_s"] = {k: batch / (v / 1000) for k, v in res.items()}
    b1 = rows["batch1_ms"]
    assert isinstance(b1, dict)
    rows["speedup_int8_vs_eager_b1"] = b1["torch_eager"] / min(b1["ort_int8_t1"], b1["ort_int8_t2"])
    rows["speedup_fp32_vs_eager_b1"] = b1["torch_eager"] / min(b1["ort_fp32_t1"], b1["ort_fp32_t2"])
    rows["size_bytes"] = {
        "fp32": (fp32_dir / "model.onnx").stat().st_size,
        "int8": (int8_dir / "model.onnx").stat().st_size,
    }
    return rows


PIPELINE = textwrap.dedent("""
    import json, sys, time
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in the inference process")
    sys.meta_path.insert(0, Block())
    n = int(sys.argv[1]); model_dir = sys.argv[2]; root = sys.argv[3]
    def rss():
        # VmHWM: this process's peak RSS (ru_maxrss would carry the forking parent's peak across exec)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    out = {"rss_start_mib": rss()}
    from toolkit.audit import audit
    from toolkit.audit.resolve import resolve_item
    from toolkit.review import load_reviewer
    from toolkit.evaluation.audit import read_labelled
    from toolkit.evaluation.data import eval_data
    from toolkit.knowledge import get_knowledge
    from toolkit.records import AuditCase
    kb = get_knowledge()
    reviewer = load_reviewer(model_dir)
    out["rss_after_kb_reviewer_mib"] = rss()
    labelled = read_labelled(eval_data("audit_cases.jsonl")) + read_labelled(eval_data("audit_holdout.jsonl"))
    cases = [AuditCase.model_validate({"id": c.id, **c.case}) for c in labelled][:n]
    texts = ["\\n".join(f"{k}：{v}" for k, v in c.record.items()) for c in cases if c.record]
    try:
        from toolkit.extract import extract, get_extractor
        get_extractor()
        out["rss_after_extractor_mib"] = rss()
        t = time.perf_counter()
        k = 0
        while k < n:
            extract(texts[k % len(texts)]); k += 1
        out["extract_ms_per_record"] = (time.perf_counter() - t) / n * 1000
    except Exception as exc:  # the [nlp] extra may be missing: say so, measure the rest
        out["extractor_error"] = repr(exc)
    t_rules = t_model = t_resolve = 0.0
    for c in cases:
        t = time.perf_counter(); rep = audit(c, kb); t_rules += time.perf_counter() - t
        # inside audit() the items are already resolved; resolving again is timed apart
        t = time.perf_counter()
        items = [resolve_item(i, it, kb) for i, it in enumerate(c.prescription.items)]
        t_resolve += time.perf_counter() - t
        t = time.perf_counter()
        reviewer.review(c, items, rep.findings)
        t_model += time.perf_counter() - t
    out["cases"] = len(cases)
    out["audit_rules_ms_per_rx"] = t_rules / len(cases) * 1000
    out["reviewer_ms_per_rx"] = t_model / len(cases) * 1000
    out["re_resolve_ms_per_rx"] = t_resolve / len(cases) * 1000
    out["peak_rss_mib"] = rss()
    out["torch_imported"] = "torch" in sys.modules
    print(json.dumps(out))
""")


def bench_pipeline(n: int, model_dir: Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", PIPELINE, str(n), str(model_dir), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=300)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("-o", "--output", type=Path, default=None)
    args = ap.parse_args()
    result: dict[str, object] = {"models": []}
    for ckpt in sorted(args.models.glob("*/checkpoint")):
        if not (ckpt / "config.json").is_file():
            continue
        r = bench_model(ckpt, args.repeat)
        result["models"].append(r)  # type: ignore[union-attr]
        print(f"\n== {r['model']} ({ckpt.parent.name}) sizes {r['size_bytes']}")
        for batch in (1, 32):
            ms = r[f"batch{batch}_ms"]
            rps = r[f"batch{batch}_rows_per_s"]
            print(
                f"  batch {batch:>2}: "
                + "  ".join(
                    f"{k} {v:.4f} ms ({rps[k]:,.0f}/s)"  # type: ignore[index]
                    for k, v in ms.items()
                )
            )  # type: ignore[union-attr]
        s8 = r["speedup_int8_vs_eager_b1"]
        print(
            f"  int8 vs torch eager at batch 1: {s8:.1f}× (goal ≥ 5×: {'met' if s8 >= 5 else 'MISSED'}); "
            f"fp32 vs eager {r['speedup_fp32_vs_eager_b1']:.1f}×"
        )
    reviewer_dir = args.models / "reviewer"
    p = bench_pipeline(args.cases, reviewer_dir)
    result["pipeline"] = p
    print(f"\n== pipeline without ASR, {args.cases} cases, fresh process, torch blocked: {json.dumps(p)}")
    if "peak_rss_mib" in p:
        peak, per = float(p["peak_rss_mib"]), float(p["reviewer_ms_per_rx"])  # type: ignore[arg-type]
        print(
            f"  peak RSS {peak:.0f} MiB (goal < 500: {'met' if peak < 500 else 'MISSED'}); reviewer "
            f"{per:.3f} ms per prescription (goal < 1 ms: {'met' if per < 1 else 'MISSED'})"
            + ("" if "extract_ms_per_record" in p else "  [extractor NOT measured: see extractor_error]")
        )
    if args.output:
        args.output.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
