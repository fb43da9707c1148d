"""Benchmark: from the end of a ~60 s dictation to the audited record (toolkit.visit), on this machine.

Measured in one run, after one untimed warm-up (knowledge base, spaCy pipeline, Whisper loaded):

* ``extract``  (baseline): :func:`toolkit.extract.extract` alone on the dictation text;
* ``visit-text``: :func:`toolkit.visit.visit` on the same text: extraction + audit + care plan + offsets;
* ``revise``: one doctor's edit re-read and re-audited (typed 过敏史 + one table row changed);
* ``transcribe alone`` (audio baseline) and ``visit-audio`` (when the Whisper model is available and ``--no-audio`` is not given): a ~60 s WAV
  made by joining the synthetic dictation clips of ``eval/data/asr_medical`` (a synthetic voice) →
  :func:`toolkit.visit.visit`. This is the whole recording decoded after it ends (the batch path: an
  uploaded file, or the demo's microphone before issue 13).
* ``visit-live`` (issue 13; unless ``--no-live``): the same recording fed to
  :class:`toolkit.asr.live.LiveSession` (the demo's microphone path) in ``--chunk`` second chunks **at
  wall-clock pace** (a chunk is fed when its audio has been spoken, as a browser sends it), decoded in
  the session's background thread meanwhile; timed from the end of the audio (the last chunk fed) to
  the audited record: ``finish()`` (the uncommitted tail decoded) + :func:`toolkit.visit.visit` on the
  transcript (extraction, audit, care plan). Interleaved with ``visit-audio`` (same run, same load);
  the ratio live / batch is printed, with how much of the audio was still undecoded at the end and the
  character difference between the live and the batch transcripts.

Prints median and max wall seconds per configuration and the ratio to the baseline. Goal: ≤ 10 s from
the end of the dictation to the audited record. The machine is shared: the load average is printed.

    python eval/bench/bench_visit.py [--repeat 20] [--no-audio] [--no-live] [--audio-repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the synthetic clips live in the checkout (eval/data)

# ~60 s of dictation (about 280 characters at a speaking pace of 4–5 characters a second); fictitious
DICTATION = (
    "患者男性，七十二岁，因头晕一周来复诊。一周前无明显诱因出现头晕，以晨起明显，无胸闷胸痛，无恶心呕吐，"
    "无肢体麻木。既往高血压十五年，2型糖尿病八年，平时吃二甲双胍零点五克一天两次，血糖控制一般。"
    "否认药物过敏史。吸烟三十年，每天十支。查体血压一百六十八九十二，心率七十六次每分，双肺呼吸音清，"
    "心律齐，双下肢不肿。辅助检查空腹血糖八点二，糖化血红蛋白七点六，血肌酐九十八，估算肾小球滤过率七十二。"
    "诊断高血压2级，很高危，2型糖尿病。处理：氨氯地平五毫克，每天一次；二甲双胍零点五克，一天三次，饭后吃；"
    "加用阿托伐他汀二十毫克，每晚一次；阿司匹林肠溶片一百毫克，每天一次。以上都开四周。"
    "嘱低盐低脂饮食，戒烟，每天监测血压，四周后复诊，复查肝功能和血脂。"
)


def _timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _stats(name: str, xs: list[float], base: float | None) -> dict[str, float | str | None]:
    med = statistics.median(xs)
    return {
        "config": name,
        "runs": len(xs),
        "median_s": round(med, 4),
        "max_s": round(max(xs), 4),
        "ratio_to_extract": round(med / base, 2) if base else None,
    }


def _reference(clips: list[Path]) -> str:
    """The reference texts of the joined clips (each folder's refs.tsv), in order; '' when one is missing."""
    refs: dict[Path, str] = {}
    for tsv in {c.parent / "refs.tsv" for c in clips}:
        if tsv.is_file():
            for line in tsv.read_text(encoding="utf-8").splitlines()[1:]:
                cols = line.split("\t")
                if len(cols) >= 2:
                    refs[tsv.parent / cols[0]] = cols[1]
    return "".join(refs[c] for c in clips) if all(c in refs for c in clips) else ""


def _cer(hyp: str, ref: str) -> float:
    """Character error rate, punctuation and spaces ignored (numbers as written: both paths alike)."""
    from rapidfuzz.distance import Levenshtein

    keep = lambda t: "".join(ch for ch in t if ch.isalnum())  # noqa: E731
    return round(Levenshtein.distance(keep(hyp), keep(ref)) / max(1, len(keep(ref))), 4)


JOINED: list[Path] = []  # the clips _sixty_seconds_wav joined, in order


def _sixty_seconds_wav(target: float = 60.0) -> Path | None:
    """Join synthetic dictation clips (16-bit mono WAV of one rate) into one ~60 s file in /tmp."""
    clips = sorted((ROOT / "eval" / "data" / "asr_medical").glob("holdout*/*.wav"))
    frames, params, total = [], None, 0.0
    JOINED.clear()
    for c in clips:
        with wave.open(str(c), "rb") as w:
            p = (w.getnchannels(), w.getsampwidth(), w.getframerate())
            if params is None:
                params = p
            if p != params:
                continue
            frames.append(w.readframes(w.getnframes()))
            JOINED.append(c)
            total += w.getnframes() / w.getframerate()
        if total >= target:
            break
    if params is None or total < target * 0.8:
        return None
    out = Path(tempfile.mkdtemp(prefix="bench-visit-")) / "dictation60.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(params[0])
        w.setsampwidth(params[1])
        w.setframerate(params[2])
        for f in frames:
            w.writeframes(f)
    return out


def _live_once(samples, chunk_seconds: float) -> dict[str, float]:
    """One live dictation: chunks fed at wall-clock pace, then finish + visit timed from the end of the audio."""
    from toolkit.asr.audio import SAMPLE_RATE
    from toolkit.asr.live import LiveSession
    from toolkit.visit import visit

    session = LiveSession()  # the demo's defaults (packaged model, shipped lexicon)
    n = max(1, int(chunk_seconds * SAMPLE_RATE))
    t0 = time.perf_counter()
    for i in range(0, samples.size, n):
        due = t0 + min(i + n, samples.size) / SAMPLE_RATE  # this chunk has been spoken by then
        time.sleep(max(0.0, due - time.perf_counter()))
        session.feed(samples[i : i + n])
    end = time.perf_counter()  # the end of the dictation
    decoded_at_end = session.partial().audio_seconds  # audio the thread had decoded and committed by then
    transcript = session.finish()
    t_finish = time.perf_counter()
    v = visit(transcript=transcript)
    t_visit = time.perf_counter()
    return {
        "after_end_s": t_visit - end,
        "finish_s": t_finish - end,
        "visit_s": t_visit - t_finish,
        "committed_at_end_s": decoded_at_end,
        "decodes": session.decodes,
        "lost_s": session.lost_seconds,
        "findings": len(v.findings),
        "text": transcript.text,  # type: ignore[dict-item]
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--audio-repeat", type=int, default=2)
    ap.add_argument("--no-audio", action="store_true")
    ap.add_argument("--no-live", action="store_true", help="skip the live (streamed microphone) scenario")
    ap.add_argument("--chunk", type=float, default=1.0, help="live chunk seconds (the demo streams 1 s)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from toolkit.extract import extract
    from toolkit.visit import revise, visit

    t0 = time.perf_counter()
    v = visit(text=DICTATION)  # warm-up: knowledge base, spaCy pipeline, audit and care indexes
    cold = time.perf_counter() - t0
    print(
        f"dictation: {len(DICTATION)} characters; first call (cold: loads KB and pipeline) {cold:.2f} s; "
        f"{len(v.items)} items, {len(v.findings)} findings",
        flush=True,
    )
    rows_edit = [i.to_prescription_item() for i in v.items]
    configs = {
        "extract (baseline)": lambda: extract(DICTATION),
        "visit-text": lambda: visit(text=DICTATION),
        "revise (edit → re-audit)": lambda: revise(v, sections={"过敏史": "青霉素过敏"}, items=rows_edit),
    }
    runs: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(args.repeat):  # interleaved, so load changes on the shared machine hit every configuration
        for name, fn in configs.items():
            runs[name].extend(_timed(fn, 1))
    base = statistics.median(runs["extract (baseline)"])
    rows = [_stats(name, xs, base) for name, xs in runs.items()]
    audio_note = "skipped (--no-audio)"
    if not args.no_audio:
        try:
            from toolkit.asr.model import load_model

            t0 = time.perf_counter()
            load_model()
            load_s = time.perf_counter() - t0
            wav = _sixty_seconds_wav()
            if wav is None:
                audio_note = "skipped: no synthetic clips to join"
            else:
                with wave.open(str(wav), "rb") as w:
                    seconds = w.getnframes() / w.getframerate()
                from toolkit.asr import transcribe

                batch = visit(audio=wav)  # warm-up
                from toolkit.asr.audio import load_audio

                samples = load_audio(wav)
                asr_runs: list[float] = []
                visit_runs: list[float] = []
                live: list[dict[str, float]] = []
                for _ in range(
                    args.audio_repeat
                ):  # interleaved with its own baseline: speech recognition alone
                    asr_runs.extend(_timed(lambda: transcribe(str(wav)), 1))
                    visit_runs.extend(_timed(lambda: visit(audio=wav), 1))
                    if not args.no_live:
                        live.append(_live_once(samples, args.chunk))
                        print(
                            f"  live run {len(live)}: {live[-1]['after_end_s']:.2f} s after the end "
                            f"(finish {live[-1]['finish_s']:.2f} + visit {live[-1]['visit_s']:.2f}); "
                            f"batch visit-audio {visit_runs[-1]:.2f} s; load {os.getloadavg()[0]:.2f}",
                            flush=True,
                        )
                rows.append(_stats(f"transcribe alone ({seconds:.0f} s)", asr_runs, base))
                row = _stats(f"visit-audio ({seconds:.0f} s WAV)", visit_runs, base)
                row["ratio_to_transcribe"] = round(float(row["median_s"]) / statistics.median(asr_runs), 3)
                rows.append(row)
                if live:
                    from rapidfuzz.distance import Levenshtein

                    lrow = _stats(
                        f"visit-live ({args.chunk:g} s chunks)", [r["after_end_s"] for r in live], base
                    )
                    lrow["ratio_to_visit_audio"] = round(float(lrow["median_s"]) / float(row["median_s"]), 3)
                    lrow["finish_median_s"] = round(statistics.median(r["finish_s"] for r in live), 3)
                    lrow["visit_median_s"] = round(statistics.median(r["visit_s"] for r in live), 3)
                    lrow["committed_at_end_s"] = [round(r["committed_at_end_s"], 1) for r in live]
                    lrow["decodes"] = [int(r["decodes"]) for r in live]
                    lrow["lost_s"] = [r["lost_s"] for r in live]
                    lrow["char_diff_to_batch"] = [
                        Levenshtein.distance(str(r["text"]), batch.text) for r in live
                    ]
                    lrow["batch_chars"] = len(batch.text)
                    lrow["audio_s"] = round(seconds, 1)
                    ref = _reference(JOINED)
                    if ref:  # accuracy of each path against what was said (synthetic voice)
                        lrow["cer_live"] = [_cer(str(r["text"]), ref) for r in live]
                        lrow["cer_batch"] = _cer(batch.text, ref)
                    rows.append(lrow)
                audio_note = f"model loaded in {load_s:.1f} s (once per process); audio {seconds:.1f} s"
        except Exception as exc:  # no model, no [asr] extra
            audio_note = f"skipped: {type(exc).__name__}: {exc}"[:200]
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cpus {os.cpu_count()}")
    print(f"{'configuration':<28}{'runs':>6}{'median s':>11}{'max s':>9}{'× extract':>11}")
    for r in rows:
        print(
            f"{r['config']:<28}{r['runs']:>6}{r['median_s']:>11.3f}{r['max_s']:>9.3f}"
            f"{(r['ratio_to_extract'] or 0):>11.2f}"
        )
    print(f"audio: {audio_note}")
    for r in rows:
        if "ratio_to_transcribe" in r:
            print(
                f"visit-audio / transcribe alone = {r['ratio_to_transcribe']:.3f} (the visit adds "
                f"extraction, audit, care plan and offsets to speech recognition)"
            )
        if "ratio_to_visit_audio" in r:
            print(
                f"visit-live / visit-audio = {r['ratio_to_visit_audio']:.3f} (from the end of the dictation to "
                f"the audited record: live {r['median_s']:.2f} s = finish {r['finish_median_s']:.2f} + visit "
                f"{r['visit_median_s']:.2f} (medians); audio committed by the end of {r['audio_s']:.0f} s: "
                f"{r['committed_at_end_s']}; decodes while speaking {r['decodes']}; audio lost {r['lost_s']} s; "
                f"live vs batch transcript: {r['char_diff_to_batch']} characters differ of {r['batch_chars']})"
            )
            if "cer_live" in r:
                print(
                    f"character error rate against the clips' reference texts: live {r['cer_live']}, "
                    f"batch {r['cer_batch']} (synthetic voice; punctuation ignored)"
                )
    worst = max(r["median_s"] for r in rows if str(r["config"]).startswith("visit"))
    print(
        f"goal ≤ 10 s from the end of the dictation to the audited record: "
        f"{'met' if worst <= 10 else 'NOT met'} (slowest visit median {worst:.2f} s)"
    )
    for r in rows:  # the demo's microphone path (issue 13): the median and the worst run
        if str(r["config"]).startswith("visit-live"):
            print(
                f"live microphone path: {'met' if float(r['median_s']) <= 10 else 'NOT met'} "
                f"(median {r['median_s']:.2f} s, worst {r['max_s']:.2f} s over {r['runs']} runs)"
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"rows": rows, "audio": audio_note, "cold_s": round(cold, 3), "load": load},
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
