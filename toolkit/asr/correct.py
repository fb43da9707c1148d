"""Medical post-correction: homophones of drug and disease names snapped to the knowledge base.

Whisper base hears 氨氯地平 as 安律地平, 二甲双胍 as 二假双刮 and 阿卡波糖 as
阿卡伯糖: the toneless pinyin is the same, the characters are not. For every
window of the transcript as long as a known term (drug generic, salt and brand
names from the formulary; disease, symptom, exam, record, usage, dosage-form
and unit words from ``rules/lexicon/asr_terms.yaml``), the corrector scores
each syllable (1 equal, 0.8 equal after merging zh/z, ch/c, sh/s, n/l, -ng/-n,
0.5 same final, 0.4 same initial), counts the characters already right, and
looks for context (a dose, unit or frequency word within 12 characters of a
drug name; any medical word in the transcript for the other kinds). A window
is replaced only when

* unit (2 characters): right after a number, both syllables equal or merged (5好课 → 5毫克);
* other 2-character words: pinyin equal *with* tones, and medical context;
* disease/record words, and any window that extends text already spelling a
  known term: every syllable equal or merged (true homophones only);
* 3-character drug names: all syllables close with a character shared, or
  exact pinyin with context, or one half-heard syllable with two characters
  shared and context;
* longer drug names: mean syllable score ≥ 0.75 with no syllable lost (one
  allowed from 6 characters), a character shared or a score ≥ 0.85, and
  context unless the score is ≥ 0.9.

A drug name held in a longer one (硝酸异山梨酯 in 单硝酸异山梨酯) gives way to the
longer name when the text around it sounds like the rest. Two different drugs
within 0.1 of each other on one window are ambiguous (头包克过: 头孢克洛 or
头孢克肟?) and nothing is replaced on sound alone: a wrong drug name is worse
than a misspelt one (:func:`find_uncertain` lists such places for the doctor). A
drug correction carries the other drugs within 0.2 of it as ``alternatives``, for
the doctor to confirm with one click; they never change what is replaced. Such places are returned by :func:`slot_choices`, and the
transcriber asks the audio which candidate, if any, was said (Whisper's own
likelihood of each reading; see ``toolkit.asr.transcribe``). Drug slots (a name
before a strength or after a prescribing verb) are aligned with gaps and may
change the window's length; correction offsets follow. Two passes run, because
one correction can give another its context. Every replacement is returned as a
:class:`~toolkit.asr.records.Correction` with the original text; none is silent.

Issue 13 (the visit from audio) added: brand names in drug slots where no generic wins
(:mod:`toolkit.asr.slots`); a drug the transcript names elsewhere, heard again with one syllable
merged; polyphonic characters also read their other way (长荣片 → 肠溶片); the one-character units and
durations of a dose line (:mod:`toolkit.asr.sig`: 每次两星 → 每次两吸, 1可 → 1克, 开四中 → 开四周);
diagnosis names after 诊断 (:mod:`toolkit.asr.diagnosis`); the audit's allergen names (盘尼西林).

This module is the corrector's entry point (:func:`find_corrections`) and re-exports its public
names; the work is done, one concern each, in :mod:`toolkit.asr.phonetic` (pinyin and syllable
similarity), :mod:`toolkit.asr.lexicon` (:class:`AsrLexicon`, the terms and how they load),
:mod:`toolkit.asr.windows` (same-length windows scored against the terms) and
:mod:`toolkit.asr.slots` (drug slots aligned with gaps, and the choices left for the audio).
``Lexicon`` is kept as an alias of :class:`AsrLexicon` (``toolkit.extract.lexicon.Lexicon`` is
the extractor's, another thing).
"""

from __future__ import annotations

from toolkit.asr.diagnosis import diagnosis_candidates
from toolkit.asr.lexicon import (
    LEXICON_KINDS,
    AsrLexicon,
    Term,
    build_lexicon,
    default_lexicon,
    default_lexicon_path,
    drug_mentions,
    drug_spans,
    load_lexicon_terms,
    load_other_drug_names,
    make_term,
)
from toolkit.asr.phonetic import lazy_pinyin, syllable_similarity
from toolkit.asr.record_words import record_word_candidates
from toolkit.asr.sig import sig_candidates
from toolkit.asr.slots import SlotChoice, drug_slots, slot_candidates, slot_choices, starts_alike
from toolkit.asr.windows import (
    Match,
    Scored,
    apply_matches,
    medical_document,
    misspelling_candidates,
    protected_spans,
    record_document,
    window_candidates,
)

Lexicon = AsrLexicon  # the name this class had; toolkit.extract.lexicon.Lexicon is the extractor's

__all__ = [
    "LEXICON_KINDS",
    "AsrLexicon",
    "Lexicon",
    "Match",
    "SlotChoice",
    "Term",
    "apply_matches",
    "build_lexicon",
    "default_lexicon",
    "default_lexicon_path",
    "drug_mentions",
    "drug_slots",
    "find_corrections",
    "find_uncertain",
    "lazy_pinyin",
    "load_lexicon_terms",
    "load_other_drug_names",
    "make_term",
    "slot_choices",
    "starts_alike",
    "syllable_similarity",
]


def find_corrections(text: str, lexicon: AsrLexicon, *, context: str | None = None) -> list[Match]:
    """Every homophone of a known term in ``text``, non-overlapping, sorted by position.

    Two passes, and a third when the second corrected something: a correction can create the context
    another needs (5好课 → 5毫克 makes the drug name before it a dose line). ``context`` is the whole
    transcript (medical context for short record words); it defaults to ``text``.
    """
    first = _find_corrections(text, lexicon, context)
    if not first:
        return first
    fixed = apply_matches(text, first)
    second = _find_corrections(fixed, lexicon, context)
    done = sorted(_in_original(second, first, text, fixed), key=lambda m: m.offset)
    if not second:
        return done
    # a third pass where the second corrected something: 任输罚他天时好客 → 瑞舒伐他汀时好客 (drug) →
    # 瑞舒伐他汀十好客 (a number between the drug and its unit) → 瑞舒伐他汀十毫克 (a unit after a number)
    fixed = apply_matches(text, done)
    third = _find_corrections(fixed, lexicon, context)
    return sorted(_in_original(third, done, text, fixed), key=lambda m: m.offset)


def _in_original(second: list[Match], first: list[Match], text: str, fixed: str) -> list[Match]:
    """The first pass's matches and the second pass's (found in ``fixed``, the text the first pass
    corrected) placed back in ``text``: an offset moves by what the first-pass corrections before it changed
    in length (立法砂 → 利伐沙班 makes everything after it one character later). A second-pass match that
    starts inside a first-pass correction and ends after it is merged with it (立法砂8 → 利伐沙班8 → 利伐沙班:
    one correction of what was heard); any other overlap is dropped (it would correct a correction)."""
    import dataclasses

    ordered = sorted(first, key=lambda f: f.offset)  # the geometry of ``fixed``: never changed below
    merged: dict[int, Match] = {}  # position in ``ordered`` → the first-pass match merged with a second
    out: list[Match] = []
    for m in second:
        shift, overlap = 0, None
        start, end = m.offset, m.offset + len(m.original)
        for n, f in enumerate(ordered):
            f_start = f.offset + shift  # where f's correction sits in the corrected text
            f_end = f_start + len(f.corrected)
            if f_end <= start:
                shift += len(f.corrected) - len(f.original)
            elif f_start < end:
                overlap = (n, f, f_start, f_end)
                break
        if overlap is None:
            at = start - shift
            if text[at : at + len(m.original)] == m.original:
                out.append(m if at == m.offset else dataclasses.replace(m, offset=at))
            continue
        n, f, f_start, f_end = overlap
        if f_start <= start < f_end < end and n not in merged:
            tail = end - f_end  # heard after the first-pass correction, unchanged by it
            merged[n] = dataclasses.replace(
                f,
                original=text[f.offset : f.offset + len(f.original) + tail],
                corrected=fixed[f_start:start] + m.corrected,
                reason=f"{f.reason}; {m.reason}",
            )
    return [*(merged.get(n, f) for n, f in enumerate(ordered)), *out]


def find_uncertain(
    text: str, lexicon: AsrLexicon, matches: list[Match], *, context: str | None = None
) -> list[Match]:
    """Windows of ``text`` left alone because two formulary drugs fitted them about equally well
    (头包克过: 头孢克洛 or 头孢克肟?), for the doctor to settle: one per place, best first among
    overlapping ones, none where ``matches`` (the corrections made on ``text``) changed a character.
    Each is a :class:`Match` with ``corrected`` equal to the text as heard and the drugs in
    ``alternatives``, best first. Nothing here changes the corrector's decisions."""
    protected = protected_spans(text, lexicon)
    medical_doc = medical_document(context if context is not None else text, protected)
    refused: list[Match] = []
    record_doc = record_document(context if context is not None else text)
    window_candidates(text, lexicon, protected, medical_doc, refused, record_doc=record_doc)
    taken = [False] * len(text)
    for m in matches:
        for k in range(m.offset, min(len(text), m.offset + len(m.original))):
            taken[k] = True
    out: list[Match] = []
    for m in sorted(refused, key=lambda m: (m.score, len(m.original)), reverse=True):
        span = range(m.offset, m.offset + len(m.original))
        if not m.alternatives or any(taken[k] for k in span):
            continue
        for k in span:
            taken[k] = True
        out.append(m)
    return sorted(out, key=lambda m: m.offset)


def _find_corrections(text: str, lexicon: AsrLexicon, context: str | None) -> list[Match]:
    """One pass: candidates from the formulary's misspellings, the same-length windows and the drug
    slots, in that order (ties keep it), then the best of each overlapping group."""
    protected = protected_spans(text, lexicon)
    medical_doc = medical_document(context if context is not None else text, protected)
    record_doc = record_document(context if context is not None else text)
    named = frozenset(name for _, name in drug_spans(context if context is not None else text, lexicon))
    at = context.find(text) if context else -1
    lead = context[max(0, at - 12) : at] if at > 0 else ""  # the transcript just before this segment
    candidates = [
        *misspelling_candidates(text, lexicon),
        *window_candidates(
            text, lexicon, protected, medical_doc, record_doc=record_doc, named=named, lead=lead
        ),
        *slot_candidates(text, lexicon, protected),
        *sig_candidates(text, lexicon),
        *diagnosis_candidates(text, protected),
        *record_word_candidates(text),
    ]
    return _non_overlapping(candidates, len(text))


def _non_overlapping(candidates: list[Scored], length: int) -> list[Match]:
    """Best first, each candidate kept unless a better one already took one of its characters;
    sorted by position."""
    candidates.sort(key=lambda c: c[0], reverse=True)
    taken = [False] * length
    matches: list[Match] = []
    for _, m in candidates:
        span = range(m.offset, m.offset + len(m.original))
        if any(taken[k] for k in span):
            continue
        for k in span:
            taken[k] = True
        matches.append(m)
    return sorted(matches, key=lambda m: m.offset)
