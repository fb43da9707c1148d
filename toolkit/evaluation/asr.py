"""ASR evaluation: character error rate and drug-name accuracy on labelled clips.

A data set is a directory with audio files and ``refs.tsv`` (``file`` and
``reference`` columns, optionally ``drugs`` as ``名称|名称`` and ``condition``;
a header row is optional). CER is the total edit distance over the total
reference characters after :func:`cer_normalize` and, on both sides, Chinese
numerals read as digits (一百六十 → 160), so "五毫克" and "5毫克" compare equal.
Each transcript is scored twice from one decoding: as corrected, and with its
corrections undone (the raw Whisper text), so the effect of post-correction is
measured on the same output.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from rapidfuzz.distance import Levenshtein

from toolkit.asr.normalize import cer_normalize
from toolkit.asr.records import Transcript
from toolkit.errors import InputError
from toolkit.units import CN_DIGITS as _DIGITS

log = logging.getLogger(__name__)

_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_NUMERAL_RUN = re.compile(r"[零〇一二两三四五六七八九十百千万]+(?:点[零〇一二三四五六七八九]+)?")


def _int_value(s: str) -> int | None:
    if not s:
        return None
    if all(ch in _DIGITS for ch in s):  # digit by digit: 一二 → 12, 二零二六 → 2026
        return int("".join(str(_DIGITS[ch]) for ch in s))
    total, section, digit = 0, 0, None
    for ch in s:
        if ch in _DIGITS:
            if digit is not None:
                return None
            digit = _DIGITS[ch]
        elif ch == "万":
            section = (section + (digit or 0)) * 10000
            total, section, digit = total + section, 0, None
        else:
            section += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
    return total + section + (digit or 0)


def numerals_to_digits(text: str) -> str:
    """Chinese numerals → Arabic digits (一百六十 → 160, 零点五 → 0.5, 四十七点五 → 47.5)."""

    def repl(m: re.Match[str]) -> str:
        whole, _, frac = m.group().partition("点")
        value = _int_value(whole)
        if value is None:
            return m.group()
        if frac:
            return f"{value}." + "".join(str(_DIGITS[ch]) for ch in frac)
        return str(value)

    return _NUMERAL_RUN.sub(repl, text)


def cer_form(text: str) -> str:
    """The form CER compares: :func:`cer_normalize` then numerals as digits."""
    return numerals_to_digits(cer_normalize(text))


def undo_corrections(t: Transcript) -> str:
    """The transcript text as Whisper wrote it (every correction reverted)."""
    text = t.text
    for c in sorted(t.corrections, key=lambda c: c.offset, reverse=True):  # right to left: offsets stay valid
        end = c.offset + len(c.corrected)
        if text[c.offset : end] == c.corrected:
            text = text[: c.offset] + c.original + text[end:]
    return text


class ClipScore(BaseModel):
    """Scores of one clip."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    set: str
    file: str
    condition: str = ""
    reference: str
    hypothesis: str
    raw_hypothesis: str
    ref_chars: int
    errors: int
    raw_errors: int
    drugs: list[str] = []
    drugs_found: int = 0
    raw_drugs_found: int = 0
    corrections: list[str] = []
    wrong_corrections: int = 0
    warnings: list[str] = []
    seconds_audio: float = 0.0
    seconds_wall: float = 0.0
    error: str | None = None


class SetScore(BaseModel):
    """Totals of one data set."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    set: str
    clips: int
    ref_chars: int
    cer: float
    raw_cer: float
    drug_mentions: int
    drug_accuracy: float | None
    raw_drug_accuracy: float | None
    corrections: int
    wrong_corrections: int
    audio_seconds: float
    wall_seconds: float


class AsrEvalReport(BaseModel):
    """The eval result: per-set totals, per-clip rows and the options used."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sets: list[SetScore]
    clips: list[ClipScore]
    options: dict[str, object]


def read_refs(directory: Path) -> list[dict[str, str]]:
    """Rows of ``refs.tsv`` in ``directory`` (file, reference, drugs, condition)."""
    path = directory / "refs.tsv"
    if not path.is_file():
        raise InputError("no refs.tsv in the data directory", file=str(directory))
    rows = []
    with path.open(encoding="utf-8") as f:
        for i, rec in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not rec or (i == 1 and rec[0] == "file"):
                continue
            if len(rec) < 2:
                raise InputError("expected file<TAB>reference", file=str(path), row=i)
            rows.append(
                {
                    "file": rec[0],
                    "reference": rec[1],
                    "drugs": rec[2] if len(rec) > 2 else "",
                    "condition": rec[3] if len(rec) > 3 else "",
                }
            )
    return rows


def score_clip(set_name: str, row: dict[str, str], t: Transcript, wall: float) -> ClipScore:
    """Compare one transcript with its reference."""
    ref = cer_form(row["reference"])
    hyp_text, raw_text = t.text, undo_corrections(t)
    drugs = [d for d in row.get("drugs", "").split("|") if d]
    wrong = sum(
        1 for c in t.corrections if c.kind != "segment" and cer_form(c.corrected) not in ref
    )  # 十 = 10
    for c in t.corrections:  # a re-read segment is wrong when putting the first reading back is closer
        if c.kind == "segment" and t.text[c.offset : c.offset + len(c.corrected)] == c.corrected:
            before = t.text[: c.offset] + c.original + t.text[c.offset + len(c.corrected) :]
            wrong += Levenshtein.distance(ref, cer_form(t.text)) > Levenshtein.distance(ref, cer_form(before))
    return ClipScore(
        set=set_name,
        file=row["file"],
        condition=row.get("condition", ""),
        reference=row["reference"],
        hypothesis=hyp_text,
        raw_hypothesis=raw_text,
        ref_chars=len(ref),
        errors=Levenshtein.distance(ref, cer_form(hyp_text)),
        raw_errors=Levenshtein.distance(ref, cer_form(raw_text)),
        drugs=drugs,
        drugs_found=sum(d in hyp_text for d in drugs),
        raw_drugs_found=sum(d in raw_text for d in drugs),
        corrections=[f"{c.original}→{c.corrected}" for c in t.corrections],
        wrong_corrections=wrong,
        warnings=[str(w.code) for w in t.warnings],
        seconds_audio=t.duration or 0.0,
        seconds_wall=round(wall, 3),
        error=t.error,
    )


def summarize(set_name: str, rows: list[ClipScore]) -> SetScore:
    """Totals over the clips of one set."""
    chars = sum(r.ref_chars for r in rows) or 1
    mentions = sum(len(r.drugs) for r in rows)
    return SetScore(
        set=set_name,
        clips=len(rows),
        ref_chars=sum(r.ref_chars for r in rows),
        cer=round(sum(r.errors for r in rows) / chars, 4),
        raw_cer=round(sum(r.raw_errors for r in rows) / chars, 4),
        drug_mentions=mentions,
        drug_accuracy=round(sum(r.drugs_found for r in rows) / mentions, 4) if mentions else None,
        raw_drug_accuracy=round(sum(r.raw_drugs_found for r in rows) / mentions, 4) if mentions else None,
        corrections=sum(len(r.corrections) for r in rows),
        wrong_corrections=sum(r.wrong_corrections for r in rows),
        audio_seconds=round(sum(r.seconds_audio for r in rows), 2),
        wall_seconds=round(sum(r.seconds_wall for r in rows), 2),
    )


def evaluate(
    datasets: dict[str, Path],
    transcribe_fn: Callable[[Path], Transcript],
    options: dict[str, object] | None = None,
) -> AsrEvalReport:
    """Transcribe every clip of every set with ``transcribe_fn`` and score it.

    A clip that fails to decode is scored as an empty hypothesis with its error.
    """
    from toolkit.errors import ToolkitError

    clips: list[ClipScore] = []
    sets: list[SetScore] = []
    for set_name, directory in datasets.items():
        rows = []
        for row in read_refs(directory):
            path = directory / row["file"]
            t0 = time.perf_counter()
            try:
                t = transcribe_fn(path)
            except ToolkitError as exc:
                t = Transcript(file=str(path), error=str(exc))
            rows.append(score_clip(set_name, row, t, time.perf_counter() - t0))
            log.info("%s/%s scored", set_name, row["file"])
        clips.extend(rows)
        sets.append(summarize(set_name, rows))
    return AsrEvalReport(sets=sets, clips=clips, options=options or {})
