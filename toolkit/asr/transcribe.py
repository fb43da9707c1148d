"""``transcribe(audio, options) -> Transcript`` and the streaming variants.

One pass: decode to 16 kHz mono → signal guards → faster-whisper (VAD on,
int8) → per segment: simplified Chinese, width normalisation, hallucination
guards → medical post-correction against the knowledge base. The model is
built once per process (:func:`toolkit.asr.model.load_model`); a caller may
pass any object with faster-whisper's ``transcribe`` signature (tests pass a
fake one).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, BinaryIO

from rapidfuzz.distance import Levenshtein

from toolkit.asr.audio import SAMPLE_RATE, describe, load_audio
from toolkit.asr.correct import (
    Lexicon,
    Match,
    apply_matches,
    default_lexicon,
    drug_mentions,
    drug_slots,
    find_corrections,
    find_uncertain,
    slot_choices,
    starts_alike,
)
from toolkit.asr.guards import GuardOptions, RawSegment, check_segment, check_signal
from toolkit.asr.normalize import normalize_text
from toolkit.asr.records import (
    SENTENCE_END,
    AsrWarning,
    Correction,
    PartialTranscript,
    Transcript,
    TranscriptSegment,
    Uncertain,
    WarningCode,
)

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


class PromptMode(StrEnum):
    """What is given to Whisper as ``initial_prompt``.

    Prompts hold no clinical facts on purpose: on unclear audio Whisper copies
    its prompt, and a copied prompt must never read like a dictation.
    """

    NONE = "none"
    SIMPLIFIED = "simplified"
    CLINIC = "clinic"


PROMPTS = {
    PromptMode.NONE: None,
    PromptMode.SIMPLIFIED: "以下是普通话的句子。",
    PromptMode.CLINIC: "以下是社区门诊医生的病历口述，使用简体中文。",
}


# Choosing a drug name by ear (see _Decoder._listen). Set on this project's synthetic dictation
# (eval/asr/README.md): the right drug was the most likely candidate in every slot asked, by 3.6–4.5
# nats over a sibling when there was one (头孢克洛/头孢克肟 at 1.8 nats was a wrong order: not taken);
# readings with the right name lost up to 9.4 nats per character changed to the mis-heard text.
LISTEN_MARGIN = 2.0  # nats the chosen drug must be more likely than the next candidate
LISTEN_DEFICIT_PER_CHAR = 10.0  # nats per character changed the reading may lose to the text as heard


@dataclass(frozen=True)
class TranscribeOptions:
    """Per-call settings; the ones used come back in ``Transcript.options``."""

    model: str | None = None  # None: packaged whisper base; else a CTranslate2 Whisper directory
    compute_type: str = "int8"
    cpu_threads: int = 0
    language: str = "zh"
    beam_size: int = 5
    vad: bool = True
    encoder_window: str = (
        "content"  # "content": encode only the audio a window holds; "full": 30 s as trained
    )
    prompt: PromptMode = PromptMode.NONE
    hotwords: bool = False  # feed drug names from the knowledge base as faster-whisper hotwords
    max_hotword_chars: int = 80
    condition_on_previous_text: bool = False  # True lets one hallucination seed the next window
    correct: bool = True  # medical post-correction
    alternatives: int = (
        5  # re-read a segment whose drug name is lost with Whisper's n best hypotheses (0: off)
    )
    listen: bool = (
        True  # drug names that sound alike on paper: pick by Whisper's likelihood of each on the audio
    )
    rules_dir: str | None = None  # knowledge base to correct against (None: the shipped rules/)
    guards: GuardOptions = field(default_factory=GuardOptions)

    def used(self) -> dict[str, object]:
        """JSON-friendly dict of these options."""
        d = asdict(self)
        d["prompt"] = str(self.prompt)
        return d


def hotword_list(lexicon: Lexicon, max_chars: int) -> tuple[str, ...]:
    """Drug generic names (then salts/brands) up to ``max_chars`` characters in all."""
    out: list[str] = []
    total = 0
    for t in sorted((t for t in lexicon.terms if t.kind == "drug"), key=lambda t: len(t.text)):
        if total + len(t.text) > max_chars:
            break
        out.append(t.text)
        total += len(t.text) + 1
    return tuple(out)


class _Decoder:
    """Runs the model on 16 kHz samples and turns its segments into guarded, corrected records."""

    def __init__(self, options: TranscribeOptions, model: Any | None, lexicon: Lexicon | None):
        self.options = options
        if model is None:
            from toolkit.asr.model import load_model

            model, spec = load_model(
                options.model, options.compute_type, options.cpu_threads, options.encoder_window
            )
            self.model_label = spec.label
        else:
            self.model_label = getattr(model, "label", type(model).__name__)
        self.model = model
        need_lexicon = options.correct or options.hotwords
        self.lexicon = (
            lexicon if lexicon is not None else (default_lexicon(options.rules_dir) if need_lexicon else None)
        )
        self.prompt = PROMPTS[PromptMode(options.prompt)]
        self.hotwords = (
            hotword_list(self.lexicon, options.max_hotword_chars) if options.hotwords and self.lexicon else ()
        )
        self.language: str | None = options.language
        self.lexicon_version = self.lexicon.version if self.lexicon is not None else None
        self.uncertain: list[Uncertain] = []  # drug names left as heard, added to by correct()

    def segments(
        self, samples: np.ndarray, offset: float = 0.0
    ) -> Iterator[tuple[TranscriptSegment | None, list[AsrWarning]]]:
        """Decoded segments one by one (lazily), ``None`` for a dropped one, with its warnings."""
        o = self.options
        kwargs: dict[str, Any] = {
            "language": o.language or None,
            "beam_size": o.beam_size,
            "vad_filter": o.vad,
            "condition_on_previous_text": o.condition_on_previous_text,
            "initial_prompt": self.prompt,
            "hotwords": " ".join(self.hotwords) or None,
        }
        self._audio = (samples, offset)  # for re-reading a segment (see correct())
        raw_segments, info = self.model.transcribe(samples, **kwargs)
        self.language = getattr(info, "language", o.language)
        last_text, repeats = "", 0
        for raw in raw_segments:
            seg = RawSegment(
                start=float(raw.start) + offset,
                end=float(raw.end) + offset,
                text=normalize_text(raw.text or ""),
                avg_logprob=float(getattr(raw, "avg_logprob", 0.0) or 0.0),
                no_speech_prob=float(getattr(raw, "no_speech_prob", 0.0) or 0.0),
                compression_ratio=float(getattr(raw, "compression_ratio", 1.0) or 1.0),
                temperature=float(getattr(raw, "temperature", 0.0) or 0.0),
            )
            text, warnings = check_segment(seg, o.guards, self.prompt, self.hotwords)
            if text and text == last_text:
                repeats += 1
                if repeats >= o.guards.max_identical_segments:
                    text = ""
                    warnings = [
                        *warnings,
                        AsrWarning(
                            code=WarningCode.REPETITION,
                            start=round(seg.start, 2),
                            end=round(seg.end, 2),
                            message="同一句话连续重复出现，疑为循环输出，已删除重复部分，请核对录音",
                        ),
                    ]
            elif text:
                last_text, repeats = text, 0
            if warnings:
                log.info("segment %.1f–%.1f s: %s", seg.start, seg.end, ",".join(w.code for w in warnings))
            if not text:
                yield None, warnings
                continue
            yield (
                TranscriptSegment(
                    start=round(seg.start, 3),
                    end=round(seg.end, 3),
                    text=text,
                    avg_logprob=round(seg.avg_logprob, 4),
                    no_speech_prob=round(seg.no_speech_prob, 4),
                ),
                warnings,
            )

    def correct(
        self, segments: list[TranscriptSegment], base_offset: int = 0, context: str = ""
    ) -> tuple[list[TranscriptSegment], list[Correction]]:
        """Apply medical corrections to ``segments`` (their joined text starts at ``base_offset``)."""
        if not self.options.correct or self.lexicon is None:
            return segments, []
        full = context + join_segments(segments)
        out, corrections = [], []
        offset = base_offset
        for i, seg in enumerate(segments):
            if i > 0:
                offset += len(_SEPARATOR) if _needs_separator(segments[i - 1].text) else 0
            matches = self._listen(seg, find_corrections(seg.text, self.lexicon, context=full))
            reread = self._reread(seg, full, matches)
            if reread is not None:
                _, fixed, n = reread
                corrections.append(
                    Correction(
                        original=seg.text,
                        corrected=fixed,
                        start=seg.start,
                        end=seg.end,
                        offset=offset,
                        kind="segment",
                        term_id=None,
                        score=0.5,
                        reason=f"drug name not recognised in Whisper's best reading; its hypothesis {n} names one here",
                    )
                )
                out.append(seg.model_copy(update={"text": fixed}))
                offset += len(fixed)
                continue
            shift = 0  # a correction may change the length (又美沙 → 右美沙芬): offsets are in the new text
            for m in matches:
                corrections.append(
                    Correction(
                        original=m.original,
                        corrected=m.corrected,
                        start=seg.start,
                        end=seg.end,
                        offset=offset + m.offset + shift,
                        kind=m.kind,
                        term_id=m.term_id,
                        reason=m.reason,
                        score=m.score,
                        alternatives=m.alternatives,
                    )
                )
                shift += len(m.corrected) - len(m.original)
            self.uncertain.extend(self._doubts(seg, matches, offset, full))
            new_text = apply_matches(seg.text, matches) if matches else seg.text
            out.append(seg.model_copy(update={"text": new_text}))
            offset += len(new_text)
        if corrections:
            log.info("%d medical correction(s) applied", len(corrections))
        return out, corrections

    def _doubts(
        self, seg: TranscriptSegment, matches: list[Match], offset: int, context: str
    ) -> list[Uncertain]:
        """Drug names left as heard in ``seg`` because two drugs fitted about equally (see
        :func:`find_uncertain`), with offsets in the corrected text (``offset``: where ``seg`` starts)."""
        assert self.lexicon is not None
        out = []
        for d in find_uncertain(seg.text, self.lexicon, matches, context=context):
            shift = sum(len(m.corrected) - len(m.original) for m in matches if m.offset < d.offset)
            out.append(
                Uncertain(
                    original=d.original,
                    start=seg.start,
                    end=seg.end,
                    offset=offset + d.offset + shift,
                    alternatives=d.alternatives,
                    score=d.score,
                    reason=d.reason,
                )
            )
        return out

    def _segment_audio(self, seg: TranscriptSegment) -> np.ndarray | None:
        audio = getattr(self, "_audio", None)
        if audio is None:
            return None
        samples, base = audio
        lo = max(0, int((seg.start - base - 0.2) * SAMPLE_RATE))
        hi = min(samples.size, int((seg.end - base + 0.2) * SAMPLE_RATE))
        return samples[lo:hi] if hi > lo else None

    def _listen(self, seg: TranscriptSegment, matches: list[Match]) -> list[Match]:
        """Settle drug slots that sound alike on paper by what Whisper heard (see :func:`slot_choices`).

        For each open slot, the segment is scored with each candidate drug in place (Whisper's
        log-likelihood of the whole reading; one encoder pass per slot). The best is taken only when it beats
        the next candidate by :data:`LISTEN_MARGIN` nats and is no more than
        :data:`LISTEN_DEFICIT_PER_CHAR` nats per character it changes (edit distance) less likely than
        the text as heard: the audio must both tell the drugs apart and leave room for that name.
        Drug names outside the formulary that sound as close (the choice's ``rivals``) are scored
        too and must lose by the same margin; a name whose first syllable was heard as something
        else must be at least as likely as the text heard.
        """
        if not self.options.listen or self.lexicon is None:
            return matches
        choices = slot_choices(seg.text, self.lexicon, [m for m in matches if m.kind == "drug"])
        samples = self._segment_audio(seg) if choices else None
        if samples is None:
            return matches
        from toolkit.asr.model import whisper_text_scores

        for choice in choices:
            extends = choice.why == "part of a longer drug name"  # may replace the name it holds
            if any(
                m.kind == "drug" and _overlaps(m, c) and not (extends and _holds(c, m))
                for m in matches
                for c in choice.candidates
            ):
                continue  # the text corrector named a drug here already
            options = [*choice.candidates, *choice.rivals]  # rivals: drugs outside the formulary, never taken
            readings = [
                sorted([m for m in matches if not _overlaps(m, c)] + [c], key=lambda m: m.offset)
                for c in options
            ]
            texts = [apply_matches(seg.text, matches)] + [apply_matches(seg.text, r) for r in readings]
            scores = whisper_text_scores(self.model, samples, texts, self.language)
            if not scores:
                return matches
            base, ranked = scores[0], sorted(((sc, i) for i, sc in enumerate(scores[1:])), reverse=True)
            best, k = ranked[0]
            runner_up = ranked[1][0] if len(ranked) > 1 else float("-inf")
            log.debug(
                "drug slot %s in %r: as heard %.1f, %s",
                choice.why,
                seg.text,
                base,
                ", ".join(f"{options[i].corrected} {sc:.1f}" for sc, i in ranked),
            )
            c = options[k]
            changed = Levenshtein.distance(c.original, c.corrected)
            if (
                k >= len(choice.candidates)
                or best - runner_up < LISTEN_MARGIN
                or best < base - LISTEN_DEFICIT_PER_CHAR * changed
                or (best < base and not starts_alike(c.original, c.corrected))
            ):
                continue  # a rival won, too close a call, no room for the name, or 西沙比例 ≠ 莫沙必利
            lead = (
                f"{best - runner_up:.1f} nats over the next drug" if len(ranked) > 1 else "the only candidate"
            )
            others = [options[i].corrected for _, i in ranked if i != k and i < len(choice.candidates)]
            c = replace(
                c,
                reason=f"{c.reason}; audio: {lead}, {best - base:+.1f} nats against the text as heard",
                alternatives=tuple(dict.fromkeys(n for n in others if n != c.corrected))[:3],
            )
            matches = sorted([m for m in matches if not _overlaps(m, c)] + [c], key=lambda m: m.offset)
        return matches

    def _reread(
        self, seg: TranscriptSegment, context: str, matches: list[Match]
    ) -> tuple[str, str, int] | None:
        """Another of Whisper's own hypotheses for ``seg`` when its best one loses a drug name.

        Only when a strength is said with no recognisable drug before it (even after correction);
        a hypothesis is taken only if, corrected, it names more formulary drugs without losing a
        strength that had its drug (a strength that merely disappears does not count), passes the
        same guards and is about as long. Returns (hypothesis, corrected hypothesis, its rank).
        """
        o = self.options
        if o.alternatives < 2 or self.lexicon is None:
            return None
        current = apply_matches(seg.text, matches)
        named, missing = drug_slots(current, self.lexicon)
        if not missing:
            return None
        mentioned = drug_mentions(current, self.lexicon)
        samples = self._segment_audio(seg)
        if samples is None:
            return None
        from toolkit.asr.model import whisper_alternatives

        for rank, alt in enumerate(
            whisper_alternatives(self.model, samples, self.language, o.alternatives)[1:], start=2
        ):
            text = normalize_text(alt)
            if not text or abs(len(text) - len(seg.text)) > max(3, len(seg.text) // 4):
                continue
            raw = RawSegment(
                start=seg.start,
                end=seg.end,
                text=text,
                avg_logprob=seg.avg_logprob,
                no_speech_prob=seg.no_speech_prob,
                compression_ratio=1.0,
                temperature=0.0,
            )
            kept, warnings = check_segment(raw, o.guards, self.prompt, self.hotwords)
            if not kept or warnings:
                continue
            fixed = apply_matches(kept, find_corrections(kept, self.lexicon, context=context))
            if (
                drug_mentions(fixed, self.lexicon) > mentioned and drug_slots(fixed, self.lexicon)[0] >= named
            ):  # a drug named, no strength lost
                log.info("segment %.1f-%.1f s re-read with hypothesis %d", seg.start, seg.end, rank)
                return kept, fixed, rank
        return None


_SEPARATOR = "，"


def _holds(a: Match, b: Match) -> bool:
    return a.offset <= b.offset and b.offset + len(b.original) <= a.offset + len(a.original)


def _overlaps(a: Match, b: Match) -> bool:
    return a.offset < b.offset + len(b.original) and b.offset < a.offset + len(a.original)


def _needs_separator(text: str) -> bool:
    return bool(text) and text[-1] not in SENTENCE_END


def join_segments(segments: Iterable[TranscriptSegment]) -> str:
    """Transcript text: segments joined with '，' where the previous one has no closing punctuation."""
    out = ""
    for seg in segments:
        if out and _needs_separator(out):
            out += _SEPARATOR
        out += seg.text
    return out


def _empty_warning(duration: float) -> AsrWarning:
    return AsrWarning(
        code=WarningCode.NO_SPEECH, start=0.0, end=round(duration, 2), message="未识别到语音，未生成文本"
    )


def transcribe(
    audio: str | os.PathLike[str] | bytes | BinaryIO | np.ndarray,
    options: TranscribeOptions | None = None,
    *,
    model: Any | None = None,
    lexicon: Lexicon | None = None,
) -> Transcript:
    """Transcribe one recording to a simplified-Chinese draft with timestamps and corrections.

    Raises :class:`~toolkit.errors.InputError` (naming the file) when the audio
    cannot be read. Silence, noise or a clip too short give an empty ``text``
    with a warning, never invented text.
    """
    final: Transcript | None = None
    for part in _stream(audio, options or TranscribeOptions(), model, lexicon):
        if isinstance(part, Transcript):
            final = part
    assert final is not None
    return final


def transcribe_stream(
    audio: str | os.PathLike[str] | bytes | BinaryIO | np.ndarray,
    options: TranscribeOptions | None = None,
    *,
    model: Any | None = None,
    lexicon: Lexicon | None = None,
) -> Iterator[PartialTranscript]:
    """Partial results of a recording as Whisper decodes it, segment by segment.

    The last item has ``final=True``. Corrections are applied to each committed
    segment as it arrives (with the text so far as context).
    """
    for part in _stream(audio, options or TranscribeOptions(), model, lexicon):
        if isinstance(part, PartialTranscript):
            yield part


def transcribe_events(
    audio: str | os.PathLike[str] | bytes | BinaryIO | np.ndarray,
    options: TranscribeOptions | None = None,
    *,
    model: Any | None = None,
    lexicon: Lexicon | None = None,
) -> Iterator[PartialTranscript | Transcript]:
    """Partial results as Whisper decodes, then the final :class:`Transcript`, from one decode
    (a UI shows text while it works and keeps the final record)."""
    return _stream(audio, options or TranscribeOptions(), model, lexicon)


def _stream(
    audio: Any, options: TranscribeOptions, model: Any | None, lexicon: Lexicon | None
) -> Iterator[PartialTranscript | Transcript]:
    name = describe(audio)
    file = None if name.startswith("<") else name
    samples = load_audio(audio)
    duration = samples.size / SAMPLE_RATE
    used = {**options.used(), "sample_rate": SAMPLE_RATE}
    ok, warnings = check_signal(samples, SAMPLE_RATE, options.guards)
    if not ok:
        yield PartialTranscript(audio_seconds=round(duration, 3), final=True, warnings=tuple(warnings))
        yield Transcript(
            file=file,
            duration=round(duration, 3),
            warnings=tuple(warnings),
            language=options.language,
            options=used,
        )
        return
    decoder = _Decoder(options, model, lexicon)
    committed: list[TranscriptSegment] = []
    corrections: list[Correction] = []
    for seg, seg_warnings in decoder.segments(samples):
        warnings.extend(seg_warnings)
        if seg is not None:
            text_so_far = join_segments(committed)
            base = len(text_so_far) + (len(_SEPARATOR) if _needs_separator(text_so_far) else 0)
            fixed, fixes = decoder.correct([seg], base_offset=base if committed else 0, context=text_so_far)
            committed.extend(fixed)
            corrections.extend(fixes)
        yield PartialTranscript(
            committed=tuple(committed),
            audio_seconds=round(committed[-1].end, 3) if committed else 0.0,
            warnings=tuple(warnings),
        )
    if not committed and not any(w.code != WarningCode.CLIPPED for w in warnings):
        warnings.append(_empty_warning(duration))
    yield PartialTranscript(
        committed=tuple(committed), audio_seconds=round(duration, 3), final=True, warnings=tuple(warnings)
    )
    yield Transcript(
        file=file,
        text=join_segments(committed),
        segments=tuple(committed),
        corrections=tuple(corrections),
        warnings=tuple(warnings),
        uncertain=tuple(decoder.uncertain),
        duration=round(duration, 3),
        language=decoder.language,
        model=decoder.model_label,
        options={**used, "lexicon": decoder.lexicon_version},
    )


class LiveTranscriber:
    """Chunked transcription of a recording in progress (microphone in a demo).

    ``feed`` 16 kHz mono chunks as they arrive; every ``step_seconds`` of new
    audio the uncommitted tail of the buffer is decoded again. Segments that
    end ``stable_margin`` seconds before the end of the buffer are committed
    (guarded and corrected) and never change again; the rest is returned as a
    tentative tail. ``finish`` decodes what is left and returns the Transcript.
    """

    def __init__(
        self,
        options: TranscribeOptions | None = None,
        *,
        model: Any | None = None,
        lexicon: Lexicon | None = None,
        step_seconds: float = 2.0,
        stable_margin: float = 1.5,
        max_window: float = 25.0,
    ):
        import numpy as np

        self._np = np
        self.options = options or TranscribeOptions()
        self._decoder = _Decoder(self.options, model, lexicon)
        self.step, self.margin, self.max_window = step_seconds, stable_margin, max_window
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0.0  # seconds of audio before the buffer (already committed)
        self._since_decode = 0.0
        self.committed: list[TranscriptSegment] = []
        self.corrections: list[Correction] = []
        self.warnings: list[AsrWarning] = []
        self._tentative = ""

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio fed so far: committed plus still buffered."""
        return self._buffer_start + self._buffer.size / SAMPLE_RATE

    def feed(self, chunk: np.ndarray, *, decode: bool = True) -> PartialTranscript | None:
        """Add audio; returns a new partial result when a decode ran, else ``None``.

        ``decode=False`` only buffers the audio (the recording has ended and :meth:`finish` comes next:
        a decode now would be thrown away)."""
        chunk = load_audio(chunk)
        self._buffer = self._np.concatenate([self._buffer, chunk])
        self._since_decode += chunk.size / SAMPLE_RATE
        if not decode or self._since_decode < self.step:
            return None
        self._since_decode = 0.0
        self._decode(final=False)
        return self.partial()

    def partial(self, final: bool = False) -> PartialTranscript:
        """The current state as a :class:`PartialTranscript`."""
        return PartialTranscript(
            committed=tuple(self.committed),
            tentative=self._tentative,
            audio_seconds=round(self.audio_seconds, 3),
            final=final,
            warnings=tuple(self.warnings),
        )

    def finish(self) -> Transcript:
        """Decode the rest of the buffer, commit everything and return the whole transcript."""
        self._decode(final=True)
        self._tentative = ""
        warnings = list(self.warnings)
        if not self.committed:
            warnings.append(_empty_warning(self.audio_seconds))
        return Transcript(
            text=join_segments(self.committed),
            segments=tuple(self.committed),
            corrections=tuple(self.corrections),
            warnings=tuple(warnings),
            uncertain=tuple(self._decoder.uncertain),
            duration=round(self.audio_seconds, 3),
            language=self._decoder.language,
            model=self._decoder.model_label,
            options={**self.options.used(), "lexicon": self._decoder.lexicon_version},
        )

    def _decode(self, final: bool) -> None:
        buf_seconds = self._buffer.size / SAMPLE_RATE
        if buf_seconds < self.options.guards.min_duration:
            return
        ok, _ = check_signal(self._buffer, SAMPLE_RATE, self.options.guards)
        if not ok:  # silence so far: nothing to decode, nothing to invent
            self._tentative = ""
            if buf_seconds > self.max_window:
                self._drop(buf_seconds - self.margin)
            return
        keep = list(self._decoder.segments(self._buffer, offset=self._buffer_start))
        end_of_buffer = self._buffer_start + buf_seconds
        commit_until = None
        to_commit: list[TranscriptSegment] = []
        n_stable = 0
        for i, (seg, warnings) in enumerate(keep):
            is_last = i == len(keep) - 1
            stable = final or (not is_last and (seg is None or seg.end < end_of_buffer - self.margin))
            if not stable and buf_seconds > self.max_window and not is_last:
                stable = True
            if not stable:
                break
            n_stable += 1
            self.warnings.extend(warnings)
            if seg is not None:
                to_commit.append(seg)
                commit_until = seg.end
        if to_commit:
            so_far = join_segments(self.committed)
            base = len(so_far) + (len(_SEPARATOR) if _needs_separator(so_far) else 0) if so_far else 0
            fixed, fixes = self._decoder.correct(to_commit, base_offset=base, context=so_far)
            self.committed.extend(fixed)
            self.corrections.extend(fixes)
        rest = [s for s, _ in keep[n_stable:] if s is not None]
        self._tentative = join_segments(rest)
        if commit_until is not None:
            self._drop(commit_until - self._buffer_start)
        elif buf_seconds > self.max_window:
            self._drop(buf_seconds - self.margin)

    def _drop(self, seconds: float) -> None:
        n = max(0, min(self._buffer.size, int(seconds * SAMPLE_RATE)))
        self._buffer = self._buffer[n:]
        self._buffer_start += n / SAMPLE_RATE


def transcribe_chunks(
    chunks: Iterable[np.ndarray],
    options: TranscribeOptions | None = None,
    *,
    model: Any | None = None,
    lexicon: Lexicon | None = None,
    step_seconds: float = 2.0,
) -> Iterator[PartialTranscript]:
    """Generator over 16 kHz mono chunks: a partial result after each decode, then a final one."""
    live = LiveTranscriber(options, model=model, lexicon=lexicon, step_seconds=step_seconds)
    for chunk in chunks:
        partial = live.feed(chunk)
        if partial is not None:
            yield partial
    result = live.finish()
    yield PartialTranscript(
        committed=result.segments, audio_seconds=result.duration or 0.0, final=True, warnings=result.warnings
    )
