"""Guards against invented text: a draft is empty or warned about, never plausibly made up.

Whisper fills silence, noise and music with fluent text: subtitle credits
(字幕由Amara.org社区提供), loops (第1,第1,第1…) and, when given a medical
``initial_prompt``, the prompt itself as if the doctor had said it. These
checks run on the signal before decoding and on every decoded segment; each
dropped or cut segment leaves an :class:`~toolkit.asr.records.AsrWarning`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

from toolkit.asr.records import AsrWarning, WarningCode

if TYPE_CHECKING:
    import numpy as np

# Stock phrases whisper produces on non-speech in Chinese (from its subtitle training data).
KNOWN_HALLUCINATIONS = (
    "字幕由",
    "amara",
    "字幕组",
    "中文字幕",
    "请不吝点赞",
    "点赞订阅",
    "订阅转发",
    "打赏支持",
    "明镜与点点",
    "谢谢观看",
    "感谢观看",
    "谢谢大家观看",
    "感谢收看",
    "谢谢收看",
    "优优独播剧场",
    "yoyo television",
    "本期视频",
    "欢迎订阅",
    "我们下期再见",
    "下期再见",
    "字幕志愿者",
    "校对",
    "索兰娅",
    "作词",
    "作曲",
    "编曲",
)
# a phrase said three times in a row, or one character four times, is a decoding loop
_REPEAT_PHRASE = re.compile(r"(.{2,15}?)(?:[，,、。.\s]*\1){2,}[，,、。.]?")
_REPEAT_CHAR = re.compile(r"(.)(?:[，,、\s]*\1){3,}")


@dataclass(frozen=True)
class GuardOptions:
    """Thresholds of the guards (returned with every transcript in ``options``)."""

    min_duration: float = 0.3  # seconds; shorter clips cannot hold a dictation
    min_rms: float = 1e-3  # about -60 dBFS: below it the recording is silence
    clip_fraction: float = 0.01  # share of samples at full scale that makes a CLIPPED warning
    no_speech_prob: float = 0.6  # with avg_logprob below logprob_floor: drop the segment
    logprob_floor: float = -1.0
    very_low_logprob: float = -1.5  # drop whatever no_speech_prob says
    fallback_no_speech_prob: float = 0.5  # … and when whisper had to fall back to sampling (temperature > 0)
    max_identical_segments: int = 2  # a third identical segment in a row is a loop
    max_chars_per_second: float = 12.0  # Mandarin dictation runs 3–7 characters a second
    prompt_echo_chars: int = 6  # a run this long copied from the prompt is an echo
    prompt_echo_share: float = 0.5  # … or half the segment copied from the prompt


def check_signal(
    samples: np.ndarray, sample_rate: int, options: GuardOptions
) -> tuple[bool, list[AsrWarning]]:
    """Check the waveform before decoding: returns (worth decoding, warnings)."""
    import numpy as np

    duration = samples.size / sample_rate
    if duration < options.min_duration:
        return False, [
            AsrWarning(
                code=WarningCode.TOO_SHORT,
                start=0.0,
                end=round(duration, 2),
                message=f"录音过短（{duration:.2f} 秒），未生成文本",
            )
        ]
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms < options.min_rms:
        return False, [
            AsrWarning(
                code=WarningCode.NO_SPEECH,
                start=0.0,
                end=round(duration, 2),
                message="录音几乎无声（静音），未生成文本",
            )
        ]
    warnings = []
    clipped = float(np.mean(np.abs(samples) >= 0.999))
    if clipped >= options.clip_fraction:
        warnings.append(
            AsrWarning(
                code=WarningCode.CLIPPED,
                start=0.0,
                end=round(duration, 2),
                message=f"录音音量过大（{clipped:.1%} 采样削波），可能漏字",
            )
        )
    return True, warnings


def _stripped(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def _prompt_echo(text: str, prompt: str, options: GuardOptions) -> bool:
    a, b = _stripped(text), _stripped(prompt)
    if len(a) < 4 or not b:
        return False
    m = SequenceMatcher(None, a, b, autojunk=False)
    longest = m.find_longest_match(0, len(a), 0, len(b)).size
    copied = sum(block.size for block in m.get_matching_blocks() if block.size >= 3)
    return longest >= options.prompt_echo_chars or (
        len(a) >= 6 and copied / len(a) >= options.prompt_echo_share
    )


def _hotword_echo(text: str, hotwords: tuple[str, ...]) -> bool:
    a = _stripped(text)
    present = [h for h in hotwords if h and h in a]
    if len(present) < 3:
        return False
    rest = a
    for h in present:
        rest = rest.replace(h, "")
    return len(rest) <= 0.3 * len(a)


def cut_repetition(text: str) -> tuple[str, bool]:
    """Collapse a loop to one occurrence: (text, whether a loop was found).

    A loop is a phrase of 2+ characters repeated 3+ times in a row, or one
    character 4+ times; runs of one digit are numbers (10000), not loops.
    """
    found = False

    def one(m: re.Match[str]) -> str:
        nonlocal found
        if m.group(1).isdigit() and len(m.group(1)) == 1:
            return m.group(0)
        found = True
        return m.group(1)

    return _REPEAT_CHAR.sub(one, _REPEAT_PHRASE.sub(one, text)), found


@dataclass(frozen=True)
class RawSegment:
    """What the guards need from a decoded segment (faster-whisper's Segment has these fields)."""

    start: float
    end: float
    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    temperature: float = 0.0


def check_segment(
    seg: RawSegment, options: GuardOptions, prompt: str | None = None, hotwords: tuple[str, ...] = ()
) -> tuple[str, list[AsrWarning]]:
    """The text to keep of one segment ('' to drop it) and the warnings it raised."""
    span = {"start": round(seg.start, 2), "end": round(seg.end, 2)}
    text = seg.text.strip()
    if not text:
        return "", []
    lowered = text.lower().replace(" ", "")
    if any(p in lowered for p in KNOWN_HALLUCINATIONS):
        return "", [
            AsrWarning(
                code=WarningCode.KNOWN_HALLUCINATION,
                **span,
                message="识别出与语音无关的常见幻觉文本（如字幕致谢），已删除",
            )
        ]
    if (
        seg.avg_logprob < options.very_low_logprob
        or (seg.no_speech_prob > options.no_speech_prob and seg.avg_logprob < options.logprob_floor)
        or (seg.temperature > 0 and seg.no_speech_prob > options.fallback_no_speech_prob)
    ):
        return "", [
            AsrWarning(
                code=WarningCode.LOW_CONFIDENCE,
                **span,
                message="该段可能不是语音（置信度低），已删除，请核对录音",
            )
        ]
    cut, looped = cut_repetition(text)
    if any(
        (prompt and _prompt_echo(t, prompt, options)) or (hotwords and _hotword_echo(t, hotwords))
        for t in (text, cut)
    ):
        return "", [
            AsrWarning(
                code=WarningCode.PROMPT_ECHO,
                **span,
                message="该段与提示词雷同，疑为模型复述提示而非录音内容，已删除",
            )
        ]
    warnings: list[AsrWarning] = []
    if looped:
        if len(_stripped(cut)) < 0.5 * len(_stripped(text)) and len(_stripped(cut)) <= 4:
            return "", [
                AsrWarning(
                    code=WarningCode.REPETITION, **span, message="该段为重复循环输出，已删除，请核对录音"
                )
            ]
        warnings.append(
            AsrWarning(
                code=WarningCode.REPETITION, **span, message="该段有重复循环输出，已截去重复部分，请核对"
            )
        )
        text = cut
    duration = seg.end - seg.start
    if duration >= 1.0 and len(_stripped(text)) / duration > options.max_chars_per_second:
        warnings.append(
            AsrWarning(
                code=WarningCode.IMPLAUSIBLE_RATE,
                **span,
                message="该段字数与时长不符（语速过快），可能含虚构文本，请核对",
            )
        )
    return text, warnings
