"""Window correction: every stretch of a transcript as long as a known term, scored against it.

For each window the corrector scores each syllable against the term's (see
:mod:`toolkit.asr.phonetic`), counts the characters already right and looks for context, then
applies the per-kind rules described in :mod:`toolkit.asr.correct` (units after a number, tones for
2-character words, true homophones for disease and record words, the drug-name rules). Also the
pieces the drug-slot step shares: :class:`Match`, the spans of text already spelling a known term,
the context patterns and the verb guard.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from toolkit.asr.lexicon import AsrLexicon, Term, index_hits
from toolkit.asr.phonetic import SPOKEN_AS, fuzzy_syllable, pinyin_syllables, syllable_similarity

log = logging.getLogger(__name__)


_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
# Chinese text with a lone digit inside or at its start (每通落2减量, 在2假伤刮): Whisper writes a syllable
# of a name it cannot place as a digit, read below as the numeral (see SPOKEN_AS)
NAME_RUN = re.compile(rf"(?:(?<![0-9.])[0-9](?=[{_CJK}]))?[{_CJK}]+(?:(?<![0-9.])[0-9](?![0-9.])[{_CJK}]*)*")
DRUG_CONTEXT = re.compile(
    r"毫克|克|mg|g\b|片|粒|支|单位|口服|每日|一日|每天|每晚|一次|两次|三次|服用|予以|给予|继续|停用|加用|换用|改为|"
    r"联合|用药|注射|吸入|含服|控释|缓释|肠溶|胶囊|qd|bid|tid",
    re.IGNORECASE,
)
_MEDICAL_CONTEXT = re.compile(
    r"患者|主诉|诊断|既往|病史|血压|血糖|口服|每日|毫克|复诊|随访|体检|查体|检查|症状|治疗|用药|处方|mmhg",
    re.IGNORECASE,
)
CONTEXT_SPAN = 12
_VERB_AFTER_NAME = re.compile(r"改为|改成|改用|加到|加量|减为|减到|减量|换成|换用|停用|每日|每天|一天|口服")


@dataclass(frozen=True, slots=True)
class Match:
    """A replacement inside one text: ``text[offset:offset+len(original)]`` → ``corrected``."""

    offset: int
    original: str
    corrected: str
    kind: str
    term_id: str | None
    score: float
    reason: str


# (pinyin similarity, window length, score) and the match: candidates sort best first on the key
Scored = tuple[tuple[float, int, float], Match]


def protected_spans(text: str, lexicon: AsrLexicon) -> list[bool]:
    """Per character of ``text``: inside an exact known form (text that is already right)."""
    mask = [False] * len(text)
    for form in lexicon.protected:
        start = text.find(form)
        while start >= 0:
            for k in range(start, start + len(form)):
                mask[k] = True
            start = text.find(form, start + 1)
    return mask


def medical_document(context: str, protected: list[bool]) -> bool:
    """Any medical word in the transcript, or text already spelling a known term."""
    return bool(_MEDICAL_CONTEXT.search(context)) or any(protected)


def misspelling_candidates(text: str, lexicon: AsrLexicon) -> list[Scored]:
    """Every homophone alias the formulary lists for a generic name, wherever ``text`` spells it."""
    candidates: list[Scored] = []
    for alias, target in lexicon.misspellings.items():
        start = text.find(alias)
        while start >= 0:
            candidates.append(
                (
                    (1.0, len(alias), 1.0),
                    Match(
                        start,
                        alias,
                        target.text,
                        target.kind,
                        target.term_id,
                        1.0,
                        "known misspelling in the formulary (same pinyin)",
                    ),
                )
            )
            start = text.find(alias, start + 1)
    return candidates


_AMBIGUITY_MARGIN = 0.1  # a second drug this close in pinyin makes the window ambiguous


def window_candidates(
    text: str, lexicon: AsrLexicon, protected: list[bool], medical_doc: bool
) -> list[Scored]:
    """For every window of ``text`` as long as a known term: the closest term that passes the rules,
    unless two different terms are about equally close (nothing is proposed there)."""
    candidates: list[Scored] = []
    for run in NAME_RUN.finditer(text):
        seg = run.group()
        plain, tones = pinyin_syllables(seg.translate(SPOKEN_AS))
        fz = [fuzzy_syllable(s) for s in plain]
        for length in lexicon.lengths:
            if length > len(seg) or length < 2:
                continue
            allowed = 1 if length <= 4 else (2 if length < 8 else 3)
            for i in range(len(seg) - length + 1):
                start = run.start() + i
                if all(protected[start : start + length]):
                    continue
                counts = index_hits(lexicon.index, fz[i : i + length])
                best: list[Scored] = []
                has_digit = any(ch.isdigit() for ch in seg[i : i + length])
                for ti, hits in counts.items():
                    if hits < length - allowed:
                        continue
                    term = lexicon.terms[ti]
                    if has_digit and term.kind != "drug":
                        continue  # 2型糖尿病 is written as said: only a drug name may hold a misheard digit
                    # text that already spells a known term may only be extended, never changed
                    if any(protected[start + k] and seg[i + k] != term.text[k] for k in range(length)):
                        continue
                    m = _score(
                        text,
                        start,
                        seg[i : i + length],
                        plain[i : i + length],
                        tones[i : i + length],
                        term,
                        medical_doc,
                        protected[start : start + length],
                    )
                    if m is not None:
                        best.append(_prefer_longer(m, lexicon, ti, seg, plain, i, run.start(), protected))
                if not best:
                    continue
                best.sort(key=lambda c: c[0], reverse=True)
                if len(best) > 1 and _ambiguous(best[0], best[1]):
                    log.debug("ambiguous window at %d: %d terms close", start, len(best))
                    continue
                candidates.append(best[0])
    return candidates


def _ambiguous(first: Scored, second: Scored) -> bool:
    """Two different terms about equally close: 头包克过 could be 头孢克洛 or 头孢克肟."""
    (py1, _, score1), m1 = first
    (py2, _, score2), m2 = second
    if m1.kind == "drug" and m2.kind == "drug" and m1.term_id != m2.term_id:
        return py1 - py2 < _AMBIGUITY_MARGIN
    return py1 == py2 and score1 == score2


def _prefer_longer(
    found: Scored,
    lexicon: AsrLexicon,
    ti: int,
    seg: str,
    plain: tuple[str, ...],
    i: int,
    run_start: int,
    protected: list[bool],
) -> Scored:
    """A longer drug name holding this one when the text around it sounds like the rest of it.

    三小三一山离职 must become 单硝酸异山梨酯 (isosorbide mononitrate), not 三 + 硝酸异山梨酯
    (the dinitrate, another drug): every extra syllable must be at least half heard.
    """
    (_, length, _), m = found
    best = found
    for si, k in lexicon.supers.get(ti, ()):
        sup = lexicon.terms[si]
        lo = i - k
        hi = lo + len(sup.text)
        if lo < 0 or hi > len(seg) or all(protected[run_start + lo : run_start + hi]):
            continue
        if swallows_verb(seg, hi, sup.text):
            continue
        sims = [syllable_similarity(a, b) for a, b in zip(plain[lo:hi], sup.pinyin, strict=True)]
        extra = sims[:k] + sims[k + length :]
        total = sum(sims) / len(sims)
        if min(extra) >= 0.4 and total >= 0.75 and len(sup.text) > best[0][1]:
            window = seg[lo:hi]
            chars = sum(1 for a, b in zip(window, sup.text, strict=True) if a == b) / len(window)
            score = round(0.6 * total + 0.25 * chars + 0.15, 3)
            reason = f"pinyin {total:.2f}, chars {chars:.2f}, longer name holding {m.corrected}"
            best = (
                (round(total, 3), len(sup.text), score),
                Match(run_start + lo, window, sup.text, sup.kind, sup.term_id, score, reason),
            )
    return best


def swallows_verb(text: str, end: int, name: str) -> bool:
    """Replacing ``text[:end]``'s tail with ``name`` would change the first character of a verb said
    after it: 阿托把他听改为 — the 改 of 改为 is not the 钙 of 阿托伐他汀钙."""
    return text[end - 1] != name[-1] and bool(_VERB_AFTER_NAME.match(text, end - 1))


_NUMERAL_BEFORE = re.compile(r"[0-9零〇一二两三四五六七八九十百千半]$")


def _score(
    text: str,
    start: int,
    window: str,
    plain: tuple[str, ...],
    tones: tuple[str, ...],
    term: Term,
    medical_doc: bool,
    protected: list[bool],
) -> Scored | None:
    length = len(window)
    if window == term.text:
        return None
    sims = [syllable_similarity(a, b) for a, b in zip(plain, term.pinyin, strict=True)]
    py = sum(sims) / length
    exact = sum(1 for x in sims if x == 1.0)
    close = sum(1 for x in sims if x >= 0.8)
    same_tones = sum(1 for a, b in zip(tones, term.tones, strict=True) if a == b)
    shared = sum(1 for a, b in zip(window, term.text, strict=True) if a == b)
    chars = shared / length
    if term.kind == "drug" and swallows_verb(text, start + length, term.text):
        return None
    near = text[max(0, start - CONTEXT_SPAN) : start + length + CONTEXT_SPAN]
    ctx = bool(DRUG_CONTEXT.search(near)) if term.kind in ("drug", "form") else medical_doc
    if length == 2:
        if term.kind == "unit":  # 5好课 → 5毫克: a unit right after a number
            ctx = bool(_NUMERAL_BEFORE.search(text[:start]))
            ok = close == 2 and ctx
        else:
            ok = tones == term.tones and ctx and term.kind != "drug"
    elif term.kind != "drug" or any(protected) or term.term_id is None:
        # disease, symptom and record words, drugs outside the formulary, and any window extending
        # text that is already a known term: true homophones only (every syllable equal or a common
        # confusion)
        ok = (
            close == length
            and (length > 3 or same_tones >= 2)
            and (shared >= 1 or ctx)
            and (py >= 0.9 or ctx)
        )
    elif length == 3:
        ok = (
            (close == 3 and exact >= 2 and shared >= 1 and (py == 1.0 or ctx))
            or (exact == 3 and shared == 0 and same_tones >= 2 and ctx)
            or (exact == 2 and min(sims) >= 0.4 and shared >= 2 and ctx)
        )
    else:
        # drug names: a syllable may be half-heard (same initial or final), one may be lost only
        # in long names; a drug missing from the formulary must not turn into one that is in it
        zeros = sum(1 for x in sims if x == 0.0)
        ok = (
            py >= 0.75
            and zeros <= (0 if length <= 5 else 1)
            and ((shared >= 1 and (py >= 0.9 or ctx)) or (py >= 0.85 and ctx))
        )
    if not ok:
        return None
    score = round(0.6 * py + 0.25 * chars + 0.15 * ctx, 3)
    reason = f"pinyin {py:.2f}, chars {chars:.2f}, context {'yes' if ctx else 'no'}"
    return (round(py, 3), length, score), Match(
        start, window, term.text, term.kind, term.term_id, score, reason
    )


def apply_matches(text: str, matches: list[Match]) -> str:
    """``text`` with every match replaced (matches keep length, so offsets stay valid)."""
    chars = list(text)
    for m in matches:
        if len(m.corrected) == len(m.original):
            chars[m.offset : m.offset + len(m.original)] = list(m.corrected)
    out = "".join(chars)
    # misspellings may change length: apply them last, right to left
    for m in sorted(
        (m for m in matches if len(m.corrected) != len(m.original)), key=lambda m: m.offset, reverse=True
    ):
        out = out[: m.offset] + m.corrected + out[m.offset + len(m.original) :]
    return out
