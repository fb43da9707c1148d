"""Benchmark: toolkit.asr.transcribe vs plain faster-whisper on the same audio, in the same run.

Each configuration runs in its own child process (so peak RSS is its own),
on the same clips, decoded to 16 kHz before timing, after one untimed warm-up:

* ``plain-default``: ``WhisperModel(dir)`` and ``model.transcribe(audio)`` with
  faster-whisper's defaults (compute type "default" = the stored float16,
  run as float32 on CPU; language detection; no VAD);
* ``plain-int8-zh``: ``WhisperModel(dir, compute_type="int8")``,
  ``transcribe(audio, language="zh")``;
* ``toolkit``: :func:`toolkit.asr.transcribe` with default options (int8,
  beam 5, VAD, guards, t2s, medical correction, encoder window trimmed to the audio);
* ``toolkit-full-window``: the same with Whisper's 30-second encoder windows;
* ``toolkit-text-only``: the toolkit with the corrector's audio steps off (no likelihood check of
  drug candidates, no n-best re-read): what those steps cost.

CER (same normalisation as ``clinic eval asr``: t2s, numerals as digits) is computed per
configuration on the same clips against their refs.tsv, so "faster at equal or better CER" is
checked in the same run.

Prints wall and CPU real-time factors (seconds per second of audio) and peak
RSS, and the toolkit/plain ratios. The machine is shared: report the load
average printed with the results. Run::

    python eval/bench/bench_asr.py [--clips DIR ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from toolkit.evaluation.data import SHARED_DATA, eval_data

DEFAULT_DIRS = (SHARED_DATA / "speech", eval_data("asr_medical", must_exist=False))
CONFIGS = ("plain-default", "plain-int8-zh", "toolkit", "toolkit-full-window", "toolkit-text-only")


def _clips(dirs: list[Path]) -> list[Path]:
    out = []
    for d in dirs:
        refs = d / "refs.tsv"
        if refs.is_file():
            for line in refs.read_text(encoding="utf-8").splitlines():
                name = line.split("\t")[0]
                if name and name != "file" and (d / name).is_file():
                    out.append(d / name)
    return out


def _references(files: list[str]) -> dict[str, str]:
    refs: dict[str, str] = {}
    for d in {Path(f).parent for f in files}:
        for line in (d / "refs.tsv").read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[0] != "file":
                refs[str(d / parts[0])] = parts[1]
    return refs


def child(config: str, files: list[str]) -> dict[str, object]:
    """Run one configuration over ``files`` in this process and measure it."""
    import numpy as np  # noqa: F401  (imported before timing)

    from toolkit.asr.audio import SAMPLE_RATE, load_audio
    from toolkit.asr.model import packaged_model_dir

    audio = [load_audio(f) for f in files]
    seconds = sum(a.size for a in audio) / SAMPLE_RATE
    model_dir = str(packaged_model_dir())
    t0 = time.perf_counter()
    if config.startswith("toolkit"):
        from toolkit.asr import TranscribeOptions, transcribe
        from toolkit.asr.correct import default_lexicon
        from toolkit.asr.model import load_model

        options = TranscribeOptions(encoder_window="full" if config == "toolkit-full-window" else "content")
        if config == "toolkit-text-only":
            options = TranscribeOptions(listen=False, alternatives=0)
        load_model(encoder_window=options.encoder_window)
        default_lexicon()

        def run(a):
            return transcribe(a, options).text
    else:
        from faster_whisper import WhisperModel

        model = (
            WhisperModel(model_dir)
            if config == "plain-default"
            else WhisperModel(model_dir, compute_type="int8")
        )
        kwargs = {} if config == "plain-default" else {"language": "zh"}

        def run(a):
            segments, _ = model.transcribe(a, **kwargs)
            return "".join(s.text for s in segments)

    load_s = time.perf_counter() - t0
    run(audio[0])  # warm-up, untimed
    cpu0 = os.times()
    t0 = time.perf_counter()
    texts = [run(a) for a in audio]
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    chars = sum(len(t) for t in texts)
    from rapidfuzz.distance import Levenshtein

    from toolkit.evaluation.asr import cer_form

    refs = _references(files)
    ref_forms = [cer_form(refs.get(f, "")) for f in files]
    errors = sum(Levenshtein.distance(r, cer_form(t)) for r, t in zip(ref_forms, texts, strict=True))
    cer = errors / max(1, sum(len(r) for r in ref_forms))
    return {
        "config": config,
        "clips": len(audio),
        "audio_s": round(seconds, 2),
        "load_s": round(load_s, 2),
        "wall_s": round(wall, 2),
        "rtf_wall": round(wall / seconds, 3),
        "rtf_cpu": round(cpu / seconds, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "chars_out": chars,
        "cer": round(cer, 4),
        "loadavg_start": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, nargs="*", default=list(DEFAULT_DIRS))
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=CONFIGS)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.files)))
        return 0
    files = [str(p) for p in _clips(args.clips)]
    if not files:
        print("no clips found (need refs.tsv in --clips dirs); nothing to benchmark", file=sys.stderr)
        return 0
    results = []
    for config in args.configs:
        out = subprocess.run(
            [sys.executable, __file__, "--child", config, "--files", *files],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print(
        f"\n{'config':<21}{'clips':>6}{'audio s':>9}{'load s':>8}{'wall s':>8}{'RTF wall':>10}{'RTF cpu':>9}"
        f"{'peak MiB':>10}{'CER':>8}{'load avg':>10}"
    )
    for r in results:
        print(
            f"{r['config']:<21}{r['clips']:>6}{r['audio_s']:>9}{r['load_s']:>8}{r['wall_s']:>8}{r['rtf_wall']:>10}"
            f"{r['rtf_cpu']:>9}{r['peak_rss_mib']:>10}{r['cer']:>8.1%}{r['loadavg_start']:>10}"
        )
    by = {r["config"]: r for r in results}
    if "toolkit" in by:
        for base in ("plain-default", "plain-int8-zh", "toolkit-full-window"):
            if base in by:
                t, b = by["toolkit"], by[base]
                print(
                    f"toolkit / {base}: RTF wall x{t['rtf_wall'] / b['rtf_wall']:.2f}, "
                    f"RTF cpu x{t['rtf_cpu'] / b['rtf_cpu']:.2f}, peak RSS x{t['peak_rss_mib'] / b['peak_rss_mib']:.2f}"
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
