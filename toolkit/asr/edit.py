"""Editing a :class:`~toolkit.asr.records.Transcript` after recognition: the doctor's choices on its text.

Undoing the corrections a doctor unticked (:func:`apply_corrections`), replacing a term at its offset
with the offsets after it kept valid (:func:`replace_at`), and putting the doctor's pick among close drug
names into the transcript (:func:`choose_drug`, the 药名待确认 of the voice tab). Pure functions of the
transcript: nothing is decoded again, nothing here knows about records or widgets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from toolkit.asr.records import SENTENCE_END, Correction, Transcript
from toolkit.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["apply_corrections", "choose_drug", "replace_at"]


def apply_corrections(transcript: Transcript, kept: Iterable[int]) -> str:
    """The transcript text with every correction *not* in ``kept`` undone (original words restored).

    Offsets point at the corrected term in ``transcript.text``; undoing runs from the end so
    earlier offsets stay valid. A correction whose text is no longer at its offset is left alone.
    """
    keep = set(kept)
    text = transcript.text
    for i in sorted(
        range(len(transcript.corrections)), key=lambda n: transcript.corrections[n].offset, reverse=True
    ):
        if i in keep:
            continue
        c = transcript.corrections[i]
        end = c.offset + len(c.corrected)
        if text[c.offset : end] != c.corrected:
            log.warning("correction %d does not match the transcript at offset %d; not undone", i, c.offset)
            continue
        text = text[: c.offset] + c.original + text[end:]
    return text


def replace_at(transcript: Transcript, offset: int, old: str, new: str) -> Transcript:
    """``transcript`` with ``old`` at ``offset`` of its text replaced by ``new`` (in the segment too), and
    the offsets of the corrections and uncertain names after it moved by the change in length.

    Raises :class:`InputError` when ``old`` is not at ``offset``."""
    text = transcript.text
    if text[offset : offset + len(old)] != old:
        raise InputError(f"转写文本已变化，找不到“{old}”，请重新识别")
    delta = len(new) - len(old)
    segments = list(transcript.segments)
    at = 0
    for k, seg in enumerate(segments):
        if k > 0 and segments[k - 1].text and segments[k - 1].text[-1] not in SENTENCE_END:
            at += 1  # the '，' the segments were joined with (toolkit.asr.transcribe.join_segments)
        if at <= offset and offset + len(old) <= at + len(seg.text):
            i = offset - at
            segments[k] = seg.model_copy(update={"text": seg.text[:i] + new + seg.text[i + len(old) :]})
            break
        at += len(seg.text)

    def moved(x: Any) -> Any:
        return x.model_copy(update={"offset": x.offset + delta}) if x.offset > offset else x

    return transcript.model_copy(
        update={
            "text": text[:offset] + new + text[offset + len(old) :],
            "segments": tuple(segments),
            "corrections": tuple(moved(c) for c in transcript.corrections),
            "uncertain": tuple(moved(u) for u in transcript.uncertain),
        }
    )


def choose_drug(
    transcript: Transcript, kept: Iterable[int], key: str, choice: str
) -> tuple[Transcript, list[int]]:
    """The doctor's pick for one drug name: ``key`` is ``c<n>`` (``transcript.corrections[n]``) or ``u<n>``
    (``transcript.uncertain[n]``), ``choice`` one of the names offered (or the text as heard).

    The chosen name replaces the one in the text at its offset (kept as a correction of what was heard,
    marked as the doctor's choice, the other names as its alternatives; a near tie becomes a correction
    appended after the others, so ticked indices stay valid); choosing the text as heard unticks the
    correction. Returns the new transcript and the ticked corrections (sorted).

    Raises :class:`InputError` for an unknown ``key`` or a name that was not offered."""
    keep = sorted(set(kept))
    if not key or key[0] not in "cu" or not key[1:].isdigit():
        raise InputError(f"unknown drug name to confirm: {key!r}")
    n = int(key[1:])
    if key[0] == "c":
        if n >= len(transcript.corrections):
            raise InputError(f"unknown drug name to confirm: {key!r}")
        c = transcript.corrections[n]
        if choice not in (c.original, c.corrected, *c.alternatives):
            raise InputError(f"“{choice}”不在可选药名中")
        if choice == c.original:
            keep = [i for i in keep if i != n]
        else:
            others = tuple(x for x in dict.fromkeys([c.corrected, *c.alternatives]) if x != choice)
            note = (
                f"；医师确认（原为{c.corrected}，{c.score:.2f}）" if choice != c.corrected else "；医师确认"
            )
            transcript = replace_at(transcript, c.offset, c.corrected, choice)
            fixed = transcript.corrections[n].model_copy(
                update={
                    "corrected": choice,
                    "term_id": c.term_id if choice == c.corrected else None,
                    "alternatives": others,
                    "score": 1.0,
                    "reason": c.reason if c.reason.endswith(note) else c.reason + note,
                }
            )
            transcript = transcript.model_copy(
                update={
                    "corrections": tuple(fixed if i == n else x for i, x in enumerate(transcript.corrections))
                }
            )
            keep = sorted({*keep, n})
    else:
        if n >= len(transcript.uncertain):
            raise InputError(f"unknown drug name to confirm: {key!r}")
        u = transcript.uncertain[n]
        if choice not in (u.original, *u.alternatives):
            raise InputError(f"“{choice}”不在可选药名中")
        if choice != u.original:
            transcript = replace_at(transcript, u.offset, u.original, choice)
            u = transcript.uncertain[n]
            added = Correction(
                original=u.original,
                corrected=choice,
                start=u.start,
                end=u.end,
                offset=u.offset,
                kind="drug",
                reason=f"{u.reason}；医师确认",
                score=1.0,
                alternatives=tuple(x for x in u.alternatives if x != choice),
            )
            transcript = transcript.model_copy(
                update={
                    "corrections": (
                        *transcript.corrections,
                        added,
                    ),  # appended: the ticked indices stay valid
                    "uncertain": tuple(x for i, x in enumerate(transcript.uncertain) if i != n),
                }
            )
            keep = sorted({*keep, len(transcript.corrections) - 1})
    return transcript, keep
