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
from dataclasses import dataclass, replace

from toolkit.asr.lexicon import AsrLexicon, Term, index_hits
from toolkit.asr.phonetic import (
    SPOKEN_AS,
    fuzzy_syllable,
    other_reading,
    pinyin_syllables,
    syllable_similarity,
)

log = logging.getLogger(__name__)


_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
# Chinese text with a lone digit inside or at its start (每通落2减量, 在2假伤刮): Whisper writes a syllable
# of a name it cannot place as a digit, read below as the numeral (see SPOKEN_AS)
NAME_RUN = re.compile(rf"(?:(?<![0-9.])[0-9](?=[{_CJK}]))?[{_CJK}]+(?:(?<![0-9.])[0-9](?![0-9.])[{_CJK}]*)*")
DRUG_CONTEXT = re.compile(
    r"毫克|克|mg|g\b|片|粒|支|单位|口服|每日|一日|每天|每晚|一次|两次|三次|服用|予以|给予|继续|停用|加用|换用|改为|"
    r"联合|用药|注射|吸入|含服|控释|缓释|肠溶|胶囊|qd|bid|tid|[0-9一二两三四]天[0-9一二两三四]次",
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
    alternatives: tuple[str, ...] = ()
    """Other formulary drug names about as close to the heard text, best first (drug matches only;
    shown to the doctor for one-click confirmation, never applied)."""


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


_SECTION_WORD = re.compile(r"主诉|既往|过敏|查体|体格检查|辅助检查|诊断|处理|复诊|现病")


# section headers as said at a clause start, heard with every syllable the same or merged (主宿, 宪病使, 整段)
_HEADERS_HEARD = ("主诉", "现病史", "既往史", "过敏史", "查体", "诊断", "处理")
_CLAUSE_AT = re.compile(r"(?:^|(?<=[，。；：,;:！？\s]))(?=[\u4e00-\u9fff])")


def _headers_heard(context: str) -> set[str]:
    """The section headers said at a clause start of ``context``, by sound (toneless, merged)."""
    fuzzy = {h: tuple(fuzzy_syllable(x) for x in pinyin_syllables(h)[0]) for h in _HEADERS_HEARD}
    out = set()
    for m in _CLAUSE_AT.finditer(context):
        for h, want in fuzzy.items():
            heard = context[m.start() : m.start() + len(h)]
            if (
                len(heard) == len(h)
                and re.fullmatch(r"[\u4e00-\u9fff]+", heard)
                and tuple(fuzzy_syllable(x) for x in pinyin_syllables(heard)[0]) == want
            ):
                out.add(h)
    return out


def record_document(context: str) -> bool:
    """The transcript is a dictated record: two different section words in it (主诉, 既往, 查体 …),
    spelled or heard at a clause start (主宿, 宪病使, 整段: a record whose headers were all misheard).
    Record words heard with a syllable off are corrected only there (性病是 in a health question
    stays)."""
    spelled = set(_SECTION_WORD.findall(context))
    if len(spelled) >= 2:
        return True
    full = {"现病": "现病史", "既往": "既往史", "过敏": "过敏史"}
    spelled = {full.get(w, w) for w in spelled}
    return len(spelled | _headers_heard(context)) >= 2


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
ALTERNATIVE_MARGIN = 0.2  # other drugs this close in pinyin to the chosen one are shown as alternatives
_ALTERNATIVE_FLOOR = 0.6  # … when at least this close to the heard syllables
ALTERNATIVE_LIMIT = 3


def window_candidates(
    text: str,
    lexicon: AsrLexicon,
    protected: list[bool],
    medical_doc: bool,
    refused: list[Match] | None = None,
    *,
    record_doc: bool = False,
    named: frozenset[str] = frozenset(),
    lead: str = "",
) -> list[Scored]:
    """For every window of ``text`` as long as a known term: the closest term that passes the rules,
    unless two different terms are about equally close (nothing is proposed there).

    A drug match carries the other formulary drugs about as close (:data:`ALTERNATIVE_MARGIN`) as
    ``alternatives``; they change nothing here. ``refused``, when given, collects the windows left
    alone because two drugs were about equally close: a :class:`Match` whose ``corrected`` is the
    text as heard and whose ``alternatives`` are those drugs, best first."""
    candidates: list[Scored] = []
    for run in NAME_RUN.finditer(text):
        seg = run.group()
        heard = seg.translate(SPOKEN_AS)
        readings = [pinyin_syllables(heard)]
        other = other_reading(heard)  # 长荣片 read chang rong pian, as 肠溶片 is said
        if other is not None:
            readings.append(other)
        for plain, tones in readings:
            _run_candidates(
                text,
                run.start(),
                seg,
                plain,
                tones,
                lexicon,
                protected,
                medical_doc,
                refused,
                record_doc,
                candidates,
                named,
                lead,
            )
    return candidates


def _run_candidates(
    text: str,
    run_start: int,
    seg: str,
    plain: tuple[str, ...],
    tones: tuple[str, ...],
    lexicon: AsrLexicon,
    protected: list[bool],
    medical_doc: bool,
    refused: list[Match] | None,
    record_doc: bool,
    candidates: list[Scored],
    named: frozenset[str] = frozenset(),
    lead: str = "",
) -> None:
    """:func:`window_candidates` on one run of Chinese text read one way (``plain``, ``tones``)."""

    fz = [fuzzy_syllable(s) for s in plain]
    for length in lexicon.lengths:
        if length > len(seg) or length < 2:
            continue
        allowed = 1 if length <= 4 else (2 if length < 8 else 3)
        for i in range(len(seg) - length + 1):
            start = run_start + i
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
                    record_doc,
                    named,
                    lead,
                )
                if m is not None:
                    best.append(_prefer_longer(m, lexicon, ti, seg, plain, i, run_start, protected))
            if not best:
                continue
            best.sort(key=lambda c: c[0], reverse=True)
            if len(best) > 1 and _ambiguous(best[0], best[1]):
                log.debug("ambiguous window at %d: %d terms close", start, len(best))
                if refused is not None:
                    doubt = _refused_window(best, start, seg[i : i + length])
                    if doubt is not None:
                        refused.append(doubt)
                continue
            top = best[0]
            if top[1].kind == "drug" and top[1].offset == start and len(top[1].original) == length:
                alts = _alternatives(top, best, counts, lexicon, plain[i : i + length], length - allowed)
                if alts:
                    top = (top[0], replace(top[1], alternatives=alts))
            candidates.append(top)


def _drug_names_by_closeness(ranked: list[tuple[float, Term | Match]], skip: set[str | None]) -> list[str]:
    """Names best first, one per formulary drug (the closest of its names), none of the drugs in
    ``skip``."""
    out: list[str] = []
    seen = set(skip)
    for _, t in sorted(ranked, key=lambda x: x[0], reverse=True):
        name = t.text if isinstance(t, Term) else t.corrected
        if t.term_id is None or t.term_id in seen or name in out:
            continue
        seen.add(t.term_id)
        out.append(name)
    return out


def _alternatives(
    top: Scored,
    best: list[Scored],
    counts: dict[int, int],
    lexicon: AsrLexicon,
    plain: tuple[str, ...],
    min_hits: int,
) -> tuple[str, ...]:
    """Other formulary drugs within :data:`ALTERNATIVE_MARGIN` of the chosen one on this window:
    those that passed the rules, and the others scored here (their syllables as close)."""
    (py, _, _), m = top
    floor = max(py - ALTERNATIVE_MARGIN, _ALTERNATIVE_FLOOR)
    ranked: list[tuple[float, Term | Match]] = [
        (p, c)
        for (p, n, _), c in best
        if c.kind == "drug" and c.offset == m.offset and n == len(plain) and p >= floor
    ]
    for ti, hits in counts.items():
        term = lexicon.terms[ti]
        if hits < min_hits or term.kind != "drug" or term.term_id is None or term.term_id == m.term_id:
            continue
        sims = [syllable_similarity(a, b) for a, b in zip(plain, term.pinyin, strict=True)]
        p = sum(sims) / len(sims)
        if p >= floor:
            ranked.append((p, term))
    return tuple(_drug_names_by_closeness(ranked, {m.term_id})[:ALTERNATIVE_LIMIT])


def _refused_window(best: list[Scored], start: int, window: str) -> Match | None:
    """A window two formulary drugs fit about equally well (nothing replaced): the drugs, best first,
    kept for the doctor; ``None`` when the tie is not between two drug names of this very window."""
    same = [
        (k, c) for k, c in best if c.kind == "drug" and c.offset == start and len(c.original) == len(window)
    ]
    if len(same) < 2 or same[0][1] is not best[0][1]:
        return None
    (py, _, score), _ = same[0]
    close = [(p, c) for (p, _, _), c in same if py - p < ALTERNATIVE_MARGIN]
    names = _drug_names_by_closeness(close, set())
    if len(names) < 2:
        return None
    return Match(
        start,
        window,
        window,
        "drug",
        None,
        score,
        f"ambiguous: {' or '.join(names[:2])} within {_AMBIGUITY_MARGIN} in pinyin",
        tuple(names[: ALTERNATIVE_LIMIT + 1]),
    )


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
# 五 before a unit, heard as a word of the same syllable (安律地品武豪客 for 氨氯地平五毫克): the
# numeral and the unit are corrected together, only when the unit's syllables are heard
_FIVE_HEARD_AS = "武舞误午伍"
# where a clause begins: record section names and result phrases are said there (限定是，… for 现病史)
_CLAUSE_BREAK = "，。；：、,.;:！？!? \n"
# a 2-character drug name is said at the start of a clause, after a prescribing verb or before a dose
_SHORT_DRUG_BEFORE = re.compile(r"(?:处理|加用|给予|予以|继续|改为|改成|换成|换用|停用|联用|吃|用)$")


def _clause_start(text: str, start: int) -> bool:
    return start == 0 or text[start - 1] in _CLAUSE_BREAK


def _said_as_short_drug(text: str, start: int, length: int) -> bool:
    """A 2-character window where a drug name stands: a clause start, after a prescribing verb, or
    right before a number (代文80毫克)."""
    after = text[start + length : start + length + 1]
    return _clause_start(text, start) or bool(_SHORT_DRUG_BEFORE.search(text[:start])) or after.isdigit()


def _heard_section(
    text: str, start: int, length: int, term: Term, sims: list[float], record_doc: bool, lead: str = ""
) -> bool:
    """A record word at the start of a clause with one syllable half heard (限定是 → 现病史,
    近往时 → 既往史, 提示阴性 → 皮试阴性): the other syllables equal or merged and the last one
    heard; only in a dictated record (:func:`record_document`). Section names (…史) anywhere there;
    longer record phrases (皮试阴性) only right after a drug line (a dose or frequency word just
    before)."""
    if term.kind != "record" or not record_doc or not _clause_start(text, start):
        return False
    if length >= 4 and all(x == 1.0 for x in sims[1:]) and _after_drug_line(text, start, lead):
        return True  # 于是阴性 after a drug line: all but the first syllable said as written (皮试阴性)
    if sum(1 for x in sims if x < 0.8) > 1 or min(sims) < 0.4 or sims[-1] < 0.8:
        return False
    if length == 3:
        return term.text.endswith("史")
    return length >= 4 and _after_drug_line(text, start, lead)


def _after_drug_line(text: str, start: int, lead: str = "") -> bool:
    """A dose or frequency word just before ``start`` (``lead``: the transcript's text before
    ``text``, when ``text`` is one segment of it)."""
    before = (lead + text[:start])[-CONTEXT_SPAN:]
    return bool(DRUG_CONTEXT.search(before))


def _score(
    text: str,
    start: int,
    window: str,
    plain: tuple[str, ...],
    tones: tuple[str, ...],
    term: Term,
    medical_doc: bool,
    protected: list[bool],
    record_doc: bool = False,
    named: frozenset[str] = frozenset(),
    lead: str = "",
) -> Scored | None:
    length = len(window)
    if window == term.text:
        return None
    sims = [syllable_similarity(a, b) for a, b in zip(plain, term.pinyin, strict=True)]
    py = sum(sims) / length
    exact = sum(1 for x in sims if x == 1.0)
    close = sum(1 for x in sims if x >= 0.8)
    same_tones = sum(1 for a, b in zip(tones, term.tones, strict=True) if a == b)
    tone_digits = sum(1 for a, b in zip(tones, term.tones, strict=True) if a[-1:] == b[-1:])
    shared = sum(1 for a, b in zip(window, term.text, strict=True) if a == b)
    chars = shared / length
    if term.kind == "drug" and swallows_verb(text, start + length, term.text):
        return None
    near = text[max(0, start - CONTEXT_SPAN) : start + length + CONTEXT_SPAN]
    ctx = bool(DRUG_CONTEXT.search(near)) if term.kind in ("drug", "form") else medical_doc
    if length == 2:
        if term.kind == "unit":  # 5好课 → 5毫克: a unit right after a number
            ctx = bool(_NUMERAL_BEFORE.search(text[:start]))
            five = not ctx and start > 0 and text[start - 1] in _FIVE_HEARD_AS and medical_doc
            if close == 2 and five:  # 武豪客 → 五毫克: the numeral with its unit
                return _five_with_unit(text, start, window, term, py, chars)
            ok = close == 2 and ctx
        elif term.kind == "drug":
            # a 2-character formulary name (代文): same pinyin with tones, beside a dose or frequency
            # word, where a drug name is said
            ok = (
                tones == term.tones
                and term.term_id is not None
                and ctx
                and _said_as_short_drug(text, start, length)
            )
        elif term.kind == "record" and record_doc and _clause_start(text, start):
            # a record word opening a clause (整段 → 诊断): merged syllables with the same tone numbers
            ok = close == 2 and [t[-1] for t in tones] == [t[-1] for t in term.tones] and ctx
        elif term.kind == "usage" and plain == term.pinyin:
            # how a drug is taken, heard with another tone (口腐 for 口服): only in a dose line
            ok = (tones == term.tones and ctx) or bool(DRUG_CONTEXT.search(near.replace(window, "", 1)))
        else:
            ok = tones == term.tones and ctx
    elif term.kind != "drug" or any(protected) or term.term_id is None:
        # disease, symptom and record words, drugs outside the formulary, and any window extending
        # text that is already a known term: true homophones only (every syllable equal or a common
        # confusion); record words at the start of a clause may have one syllable half heard
        ok = (
            close == length
            and (length > 3 or same_tones >= 2)
            and (shared >= 1 or ctx)
            and (py >= 0.9 or ctx)
        ) or (not any(protected) and _heard_section(text, start, length, term, sims, record_doc, lead))
    elif length == 3:
        ok = (
            (close == 3 and exact >= 2 and shared >= 1 and (py == 1.0 or ctx))
            or (exact == 3 and shared == 0 and same_tones >= 2 and ctx)
            or (exact == 2 and min(sims) >= 0.4 and shared >= 2 and ctx)
            # every syllable equal or merged with the same tone numbers, no character shared:
            # 不诺分 (bu4 nuo4 fen1) for 布洛芬 beside a dose
            or (close == 3 and exact >= 2 and tone_digits == 3 and ctx)
            # a drug the transcript names elsewhere, heard again with one syllable merged: 被零打 for
            # 倍林达 when 倍林达 was said (and heard right) in the history
            or (close == 3 and exact >= 2 and term.text in named)
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


def _five_with_unit(text: str, start: int, window: str, term: Term, py: float, chars: float) -> Scored:
    """武豪客 → 五毫克: the character before the unit is the numeral 五 heard as a word."""
    score = round(0.6 * py + 0.25 * chars + 0.15, 3)
    return (round(py, 3), len(window) + 1, score), Match(
        start - 1,
        text[start - 1] + window,
        "五" + term.text,
        term.kind,
        term.term_id,
        score,
        f"pinyin {py:.2f}, unit after 五 heard as {text[start - 1]}",
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
