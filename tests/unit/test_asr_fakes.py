"""Fakes shared by the ASR unit tests: a faster-whisper stand-in (no weights) and a tiny formulary."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from toolkit.asr.correct import build_lexicon


@dataclass
class FakeSegment:
    start: float
    end: float
    text: str
    avg_logprob: float = -0.2
    no_speech_prob: float = 0.05
    compression_ratio: float = 1.2
    temperature: float = 0.0


@dataclass
class FakeModel:
    """Returns the same segments for every call and records the keyword arguments."""

    segments: list[FakeSegment]
    language: str = "zh"
    calls: list[dict] = field(default_factory=list)
    label: str = "fake"

    def transcribe(self, audio, **kwargs):
        self.calls.append({"samples": len(audio), **kwargs})
        return iter(list(self.segments)), SimpleNamespace(language=self.language, duration=len(audio) / 16000)


def fake_drug(drug_id, name, aliases=(), brands=(), salts=()):
    return SimpleNamespace(
        id=drug_id, name=name, aliases=tuple(aliases), brands=tuple(brands), salts=tuple(salts)
    )


def fake_knowledge():
    drugs = [
        fake_drug(
            "amlodipine", "氨氯地平", aliases=("氨录地平",), brands=("络活喜",), salts=("苯磺酸氨氯地平",)
        ),
        fake_drug("metformin", "二甲双胍", aliases=("二甲双瓜",), salts=("盐酸二甲双胍",)),
        fake_drug("acarbose", "阿卡波糖"),
        fake_drug("atorvastatin", "阿托伐他汀"),
        fake_drug("aspirin", "阿司匹林"),
    ]
    return SimpleNamespace(version="test+0", drugs={d.id: d for d in drugs})


def fake_lexicon():
    return build_lexicon(fake_knowledge())
