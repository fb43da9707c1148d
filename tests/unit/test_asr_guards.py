"""No invented text: silence, noise, short clips, loops, prompt echo and stock phrases (fake model)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.test_asr_fakes import FakeModel, FakeSegment, fake_lexicon
from toolkit.asr import PromptMode, TranscribeOptions, WarningCode, transcribe
from toolkit.asr.guards import GuardOptions, RawSegment, check_segment, check_signal, cut_repetition
from toolkit.asr.transcribe import PROMPTS

pytest.importorskip("opencc")
SR = 16_000
RNG = np.random.default_rng(7)


def _codes(t):
    return {w.code for w in t.warnings}


def _tone(seconds=3.0, freq=440.0, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_silence_gives_empty_draft_and_never_calls_the_model():
    model = FakeModel([FakeSegment(0, 2, "患者头晕三天")])
    t = transcribe(np.zeros(3 * SR, np.float32), model=model, lexicon=fake_lexicon())
    assert t.text == "" and t.segments == () and WarningCode.NO_SPEECH in _codes(t)
    assert model.calls == []


def test_very_short_clip_is_refused_with_a_warning():
    model = FakeModel([FakeSegment(0, 0.2, "好")])
    t = transcribe(_tone(0.2), model=model, lexicon=fake_lexicon())
    assert t.text == "" and WarningCode.TOO_SHORT in _codes(t) and model.calls == []


@pytest.mark.parametrize(
    "invented", ["字幕由Amara.org社区提供", "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", "谢谢观看"]
)
def test_noise_with_stock_hallucination_gives_empty_draft(invented):
    noise = RNG.normal(0, 0.05, 3 * SR).astype(np.float32)
    t = transcribe(noise, model=FakeModel([FakeSegment(0, 3, invented)]), lexicon=fake_lexicon())
    assert t.text == "" and WarningCode.KNOWN_HALLUCINATION in _codes(t)


def test_music_like_tone_with_unsure_model_gives_empty_draft():
    seg = FakeSegment(0, 3, "患者男六十五岁", avg_logprob=-1.2, no_speech_prob=0.8)
    t = transcribe(_tone(3.0), model=FakeModel([seg]), lexicon=fake_lexicon())
    assert t.text == "" and WarningCode.LOW_CONFIDENCE in _codes(t)


def test_prompt_echo_is_dropped():
    prompt = PROMPTS[PromptMode.CLINIC]
    model = FakeModel([FakeSegment(0, 3, prompt)])
    t = transcribe(
        _tone(3.0), TranscribeOptions(prompt=PromptMode.CLINIC), model=model, lexicon=fake_lexicon()
    )
    assert t.text == "" and WarningCode.PROMPT_ECHO in _codes(t)
    assert model.calls[0]["initial_prompt"] == prompt


def test_hotword_echo_is_dropped():
    lex = fake_lexicon()
    model = FakeModel([FakeSegment(0, 3, "氨氯地平 二甲双胍 阿卡波糖 阿司匹林")])
    t = transcribe(_tone(3.0), TranscribeOptions(hotwords=True), model=model, lexicon=lex)
    assert t.text == "" and WarningCode.PROMPT_ECHO in _codes(t)
    assert "二甲双胍" in model.calls[0]["hotwords"]


def test_a_real_sentence_sharing_words_with_the_prompt_is_kept():
    opts = GuardOptions()
    text, warnings = check_segment(
        RawSegment(0, 3, "门诊复查血压，病历已写"), opts, PROMPTS[PromptMode.CLINIC]
    )
    assert text and not warnings


def test_repetition_loop_dropped_or_cut():
    opts = GuardOptions()
    text, w = check_segment(RawSegment(0, 5, "第1,第1,第1,第1,第1,第1"), opts)
    assert text == "" and w[0].code == WarningCode.REPETITION
    text, w = check_segment(RawSegment(0, 5, "患者头晕三天此言此言此言此言此言"), opts)
    assert text == "患者头晕三天此言" and w[0].code == WarningCode.REPETITION


def test_numbers_are_not_taken_for_loops():
    assert cut_repetition("费用10000元") == ("费用10000元", False)
    text, w = check_segment(RawSegment(0, 3, "白细胞11110"), GuardOptions())
    assert text == "白细胞11110" and not w


def test_implausible_speaking_rate_is_warned():
    text, w = check_segment(RawSegment(0, 1.0, "患者男六十五岁头晕三天血压一百六十比一百"), GuardOptions())
    assert text and w[0].code == WarningCode.IMPLAUSIBLE_RATE


def test_signal_checks():
    ok, w = check_signal(np.zeros(SR, np.float32), SR, GuardOptions())
    assert not ok and w[0].code == WarningCode.NO_SPEECH
    ok, w = check_signal(RNG.normal(0, 0.05, SR).astype(np.float32), SR, GuardOptions())
    assert ok and w == []
    loud = np.clip(_tone(1.0, amp=3.0), -1, 1)
    ok, w = check_signal(loud, SR, GuardOptions())
    assert ok and w[0].code == WarningCode.CLIPPED


def test_three_times_the_same_phrase_is_a_loop_but_twice_is_speech():
    opts = GuardOptions()
    text, w = check_segment(RawSegment(0, 8, "诺邦，诺邦，诺邦"), opts)  # seen on a pure tone with hotwords
    assert text == "" and w[0].code == WarningCode.REPETITION
    text, w = check_segment(RawSegment(0, 4, "每日三次，每日三次"), opts)
    assert text == "每日三次，每日三次" and not w


def test_repeated_prompt_fragment_is_an_echo():
    # seen on amplitude-modulated noise with VAD off, clinic prompt and hotwords
    text, w = check_segment(
        RawSegment(0, 8, "作词，使用简体中文。作词，使用简体中文。"),
        GuardOptions(),
        PROMPTS[PromptMode.CLINIC],
    )
    assert text == "" and w[0].code in (WarningCode.PROMPT_ECHO, WarningCode.KNOWN_HALLUCINATION)
    text, w = check_segment(
        RawSegment(0, 8, "使用简体中文。使用简体中文。"), GuardOptions(), PROMPTS[PromptMode.CLINIC]
    )
    assert text == "" and w[0].code == WarningCode.PROMPT_ECHO


def test_identical_segments_in_a_row_are_a_loop():
    seg = [FakeSegment(2.0 * i, 2.0 * i + 2, "那些人在哪里") for i in range(4)]  # seen on noise, VAD off
    t = transcribe(_tone(8.0), model=FakeModel(seg), lexicon=fake_lexicon())
    assert t.text == "那些人在哪里，那些人在哪里" and WarningCode.REPETITION in _codes(t)


def test_fallback_decoding_on_probable_non_speech_is_dropped():
    seg = FakeSegment(0, 2, "那些人在哪里", avg_logprob=-0.83, no_speech_prob=0.81, temperature=0.2)
    t = transcribe(_tone(2.0), model=FakeModel([seg]), lexicon=fake_lexicon())
    assert t.text == "" and WarningCode.LOW_CONFIDENCE in _codes(t)
