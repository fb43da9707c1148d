"""Typed records of the speech-to-text stage.

The JSON form of :class:`Transcript` is a stable contract (one line per file in
``clinic transcribe --format jsonl``): ``file``, ``text``, ``segments`` (each
``start``, ``end``, ``text``), ``corrections``, ``warnings`` and ``error``.
Fields are only ever added, never renamed. Each drug correction carries ``alternatives`` (the other
formulary names the corrector found about as close; empty when the match was clear).
:attr:`Transcript.uncertain` (drug names left as heard: two drugs fitted equally) is in the full
model dump, not in the jsonl line, whose keys stay as listed.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from toolkit.records import Record

SENTENCE_END = "，。？！；：、,.?!;:"
"""Characters after which segments are joined without an added '，'."""


class WarningCode(StrEnum):
    """Closed set of reasons a transcript (or part of it) should not be trusted as is."""

    NO_SPEECH = "no_speech"  # silence, noise, music: nothing was transcribed
    TOO_SHORT = "too_short"  # the clip is too short to hold a dictation
    LOW_CONFIDENCE = "low_confidence"  # a segment was dropped: the model was unsure there was speech
    REPETITION = "repetition"  # a repetition loop was cut or dropped
    PROMPT_ECHO = "prompt_echo"  # a segment repeated the prompt / hotwords and was dropped
    KNOWN_HALLUCINATION = "known_hallucination"  # a stock phrase whisper invents (subtitle credits …)
    IMPLAUSIBLE_RATE = "implausible_rate"  # more characters per second than anyone speaks
    CLIPPED = "clipped"  # the recording is clipped (too loud); words may be lost
    AUDIO_LOST = "audio_lost"  # part of a live recording never reached the recogniser (busy computer)


class AsrWarning(Record):
    """One warning: what happened, where (seconds) and a short Chinese message for the user."""

    code: WarningCode
    message: str
    start: float | None = None
    end: float | None = None


class Correction(Record):
    """A medical term snapped to the knowledge base. Never silent: the original text is kept."""

    original: str
    corrected: str
    start: float = Field(description="start (s) of the segment holding the term")
    end: float = Field(description="end (s) of the segment holding the term")
    offset: int = Field(ge=0, description="character offset of the corrected term in Transcript.text")
    kind: str = Field(description="drug or term (disease, symptom, unit, record word)")
    term_id: str | None = Field(default=None, description="formulary drug id when kind is drug")
    reason: str = Field(description="how the match was made, e.g. 'pinyin 1.00, chars 0.50'")
    score: float = Field(ge=0, le=1)
    alternatives: tuple[str, ...] = Field(
        default=(),
        description="other formulary drug names the corrector found about as close, best first (drug only)",
    )


class Uncertain(Record):
    """A place where a drug name was heard but two or more formulary drugs fitted it about equally
    well, so nothing was replaced: the text stays as heard and the doctor picks one (or none)."""

    original: str = Field(description="the text as heard (unchanged in Transcript.text)")
    start: float = Field(description="start (s) of the segment holding it")
    end: float = Field(description="end (s) of the segment holding it")
    offset: int = Field(ge=0, description="character offset of the heard text in Transcript.text")
    kind: str = "drug"
    alternatives: tuple[str, ...] = Field(description="the drug names it could be, best first")
    score: float = Field(ge=0, le=1, description="the best candidate's score")
    reason: str = ""


class TranscriptSegment(Record):
    """A stretch of speech with its timestamps (seconds from the start of the audio)."""

    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


class Transcript(Record):
    """The result of :func:`toolkit.asr.transcribe` for one recording."""

    file: str | None = None
    text: str = ""
    segments: tuple[TranscriptSegment, ...] = ()
    corrections: tuple[Correction, ...] = ()
    warnings: tuple[AsrWarning, ...] = ()
    error: str | None = None
    uncertain: tuple[Uncertain, ...] = Field(
        default=(), description="drug names left as heard: two formulary drugs about equally close"
    )
    duration: float | None = Field(default=None, description="seconds of audio")
    language: str | None = None
    model: str | None = Field(default=None, description="model directory name and compute type")
    options: dict[str, object] = Field(default_factory=dict, description="options actually used")

    def __hash__(self) -> int:  # by content (``options`` is a dict): a UI state holding it can tell a change
        return hash(self.model_dump_json())

    def contract(self) -> dict[str, object]:
        """The stable JSON contract of one transcribed file (the jsonl line)."""
        return {
            "file": self.file,
            "text": self.text,
            "segments": [
                {"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text} for s in self.segments
            ],
            "corrections": [c.model_dump(mode="json") for c in self.corrections],
            "warnings": [w.model_dump(mode="json") for w in self.warnings],
            "error": self.error,
        }


class PartialTranscript(Record):
    """A partial result of the streaming API: text committed so far plus a tentative tail."""

    committed: tuple[TranscriptSegment, ...] = ()
    tentative: str = ""
    audio_seconds: float = 0.0
    final: bool = False
    warnings: tuple[AsrWarning, ...] = ()

    @property
    def text(self) -> str:
        """Committed text followed by the tentative tail, joined as in :class:`Transcript`."""
        out = ""
        for piece in [s.text for s in self.committed] + ([self.tentative] if self.tentative else []):
            if out and out[-1] not in SENTENCE_END:
                out += "，"
            out += piece
        return out
