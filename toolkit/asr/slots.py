"""Drug slots: the place a drug name is said (before a strength, after a prescribing verb, opening a
dose line), matched by aligning syllables with gaps, and the choices left for the audio to settle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from toolkit.asr.lexicon import CJK_RUN, AsrLexicon, Term, drug_spans, index_hits
from toolkit.asr.phonetic import (
    LETTERS,
    SPOKEN_AS,
    fuzzy_syllable,
    lazy_pinyin,
    pinyin_syllables,
    syllable_similarity,
)
from toolkit.asr.windows import (
    ALTERNATIVE_LIMIT,
    ALTERNATIVE_MARGIN,
    CONTEXT_SPAN,
    DRUG_CONTEXT,
    NAME_RUN,
    Match,
    Scored,
    protected_spans,
    swallows_verb,
)

# --- drug slots: the name said right before a strength ---------------------------------------------
#
# Whisper base often garbles a drug name beyond what a same-length window can match: a syllable is
# dropped or added (又美沙 for 右美沙芬, 七天力情势 for 西替利嗪) or every syllable is only half heard
# (商律分散那 for 双氯芬酸钠). Where a strength follows (75毫克, 十毫克 heard as 时好课), the words before
# it are almost always the drug, so there the corrector aligns the heard syllables with each formulary
# name, allowing one dropped or added syllable (two in names of 6+ characters), and replaces the slot
# only when one drug is clearly the closest. Text that already spells a known term, or a drug outside
# the formulary, is never touched.

_SLOT_NUMBER = "0-9.零〇一二两三四五六七八九十百千点半"
_NUMBER_HEARD = {"十": "时是事实势式世市石使", "五": "无吴武舞", "二": "而儿尔"}  # 十 heard as another shi …
_HEARD_NUMBER = {ch: n for n, chars in _NUMBER_HEARD.items() for ch in chars}
_TEN_HEARD = "".join(_HEARD_NUMBER)
_SLOT_ANCHOR = re.compile(
    rf"(?:[{_SLOT_NUMBER}]+|[{_TEN_HEARD}])个?(?:毫克|微克|克|单位|毫升|好课|好客|好克|毫课|豪克|mg|μg|ug|g\b)",
    re.IGNORECASE,
)
_SLOT_FORMS = (
    "片",
    "粒",
    "丸",
    "胶囊",
    "颗粒",
    "缓释片",
    "控释片",
    "肠溶片",
    "分散片",
    "缓释胶囊",
    "肠溶胶囊",
    "泡腾片",
    "咀嚼片",
    "软胶囊",
    "混悬液",
    "气雾剂",
    "吸入剂",
    "喷雾剂",
    "粉雾剂",
    "注射液",
    "滴丸",
    "口服液",
)
_SLOT_STOP_CHARS = re.compile(r"[次每吃的和及或]")  # words of the dose line, not of a drug name
# a dose change said between a drug and its new strength (二甲双胍减量为五百毫克): not a drug name
_SLOT_VERBS = re.compile(r"改为|改成|改用|加到|加量|减为|减到|减量|换成|换用|停用|调整|增加|减少|增至|减至")
_SLOT_THRESHOLD = 0.6  # mean syllable similarity after gap penalties
_SLOT_MARGIN = 0.1  # over the closest other drug
_GAP = 0.5


def _inside_other_drug(text: str, run_start: int, start: int, end: int, lexicon: AsrLexicon) -> bool:
    """A drug name outside the formulary overlaps ``text[start:end]`` (坦索罗辛: 罗辛 is not a drug)."""
    lo, hi = run_start, min(len(text), end + 6)
    return any(
        text[i:j] in lexicon.other_drugs
        for i in range(lo, end)
        for j in range(max(i + 2, start + 1), min(hi, i + 16) + 1)
    )


def _trailing_form_lengths(text: str, end: int, run_start: int) -> list[int]:
    """Lengths of a dosage form said between the drug and its strength (怀事片 ≈ 缓释片)."""
    out = [0]
    for form in _SLOT_FORMS:
        n = len(form)
        if end - n < run_start + 2:
            continue
        heard = text[end - n : end]
        if heard == form:
            out.append(n)
            continue
        if heard[-1] != form[-1] or n == 1:
            continue
        sims = [
            syllable_similarity(a, b) for a, b in zip(lazy_pinyin(heard), lazy_pinyin(form), strict=False)
        ]
        if len(sims) == n and sum(sims) / n >= 0.75:
            out.append(n)
    return sorted(set(out))


def _align_right(
    term: tuple[str, ...], heard: list[str], max_gaps: int, *, loose: bool = False, whole: bool = False
) -> tuple[float, int]:
    """Best alignment of all of ``term`` with a suffix of ``heard``: (score, characters used).

    Score: sum of syllable similarities minus 0.5 per dropped or added syllable; the alignment is
    anchored at the right end (the strength) and may start anywhere on the left. A syllable that
    shares nothing with the name's (西沙比利 for 莫沙必利) rules the name out, except in names of six
    or more characters (``loose``: four or more), where it counts as one of the gaps. ``whole``:
    the alignment must use all of ``heard``.
    """
    n, m = len(term), len(heard)
    neg = float("-inf")
    # d[i][j]: last i term syllables aligned with last j heard syllables; g: gaps used
    d = [[neg] * (m + 1) for _ in range(n + 1)]
    g = [[0] * (m + 1) for _ in range(n + 1)]
    d[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(0, m + 1):
            best, gaps = neg, 0
            if j and d[i - 1][j - 1] > neg:
                sim = syllable_similarity(heard[m - j], term[n - i])
                if sim > 0:
                    best, gaps = d[i - 1][j - 1] + sim, g[i - 1][j - 1]
                elif (
                    n >= (4 if loose else 6) and g[i - 1][j - 1] < max_gaps
                ):  # a long name may have one syllable misheard
                    best, gaps = d[i - 1][j - 1] - _GAP, g[i - 1][j - 1] + 1
            if d[i - 1][j] > neg and g[i - 1][j] < max_gaps and d[i - 1][j] - _GAP > best:
                best, gaps = d[i - 1][j] - _GAP, g[i - 1][j] + 1  # a term syllable not heard
            if j and d[i][j - 1] > neg and g[i][j - 1] < max_gaps and i > 0 and d[i][j - 1] - _GAP > best:
                best, gaps = d[i][j - 1] - _GAP, g[i][j - 1] + 1  # an extra syllable heard
            d[i][j], g[i][j] = best, gaps
    j_best = m if whole else max(range(1, m + 1), key=lambda j: d[n][j], default=0)
    return (d[n][j_best], j_best) if j_best else (neg, 0)


_CUE_WORDS = (
    "加用",
    "给予",
    "改为",
    "改用",
    "换成",
    "换用",
    "继续",
    "停用",
    "予以",
    "联合",
    "服用",
    "加服",
    "吸入",
    "口服",
)
_CUE_STOP = re.compile(
    r"吸入|口服|含服|皮下注射|外用|雾化|每日|每天|一天|一日|每晚|睡前|按需|必要时|[，。、；,;]|$"
)
_CUE_THRESHOLD = 0.8  # no strength to vouch for the slot: ask for a closer match


def _is_cue(text: str, i: int) -> bool:
    """``text[i:i+2]`` is a prescribing verb, or sounds like one (即与 for 给予, 夹用 for 加用)."""
    pair = text[i : i + 2]
    if len(pair) < 2 or not CJK_RUN.fullmatch(pair):
        return False
    if pair in _CUE_WORDS:
        return True
    return tuple(fuzzy_syllable(x) for x in lazy_pinyin(pair)) in _cue_pinyin()


@lru_cache(maxsize=1)
def _cue_pinyin() -> frozenset[tuple[str, ...]]:
    """Fuzzy pinyin of the cue words (computed on first use: pypinyin is imported lazily)."""
    return frozenset(tuple(fuzzy_syllable(x) for x in lazy_pinyin(w)) for w in _CUE_WORDS)


def _rank_slot(
    text: str,
    lexicon: AsrLexicon,
    protected: list[bool],
    run_start: int,
    ends: list[int],
    whole: bool,
    why: str,
    loose: bool = False,
    terms: Sequence[Term] | None = None,
) -> list[tuple[float, Match]]:
    """Best window per drug ending at one of ``ends`` (``whole``: the window must start at ``run_start``).

    ``loose`` (candidates for the audio to choose from, never replaced on sound alone): a syllable
    heard as something else counts as a gap in names of four or more characters, two gaps allowed,
    and the first syllable need not sound alike.
    """
    best_by_drug: dict[str | None, tuple[float, Match]] = {}
    for end in ends:
        lo = run_start if whole else max(run_start, end - 10)
        region = text[lo:end]
        if len(region) < 2 or any(protected[k] for k in range(max(lo, end - 2), end)):
            continue  # a known term already ends here (the drug was heard right)
        heard = list(pinyin_syllables(region.translate(SPOKEN_AS))[0])
        if len(heard) != len(region):
            continue
        for term in lexicon.slot_terms if terms is None else terms:
            n = len(term.text)
            score, used = _align_right(
                term.pinyin, heard, 2 if loose or n > 5 else 1, loose=loose, whole=whole
            )
            if used < 3 or score / n < _SLOT_THRESHOLD - _SLOT_MARGIN or (whole and used != len(region)):
                continue
            start = end - used
            window = text[start:end]
            known = (
                0  # a known name at the start may only be extended (阿莫西林 + 克拉维钾 → 阿莫西林克拉维酸钾)
            )
            while known < used and protected[start + known]:
                known += 1
            if (
                window == term.text
                or any(protected[start + known : end])
                or window[:known] != term.text[:known]
                or (
                    not loose and syllable_similarity(heard[len(heard) - used], term.pinyin[0]) == 0
                )  # starts like
                or _SLOT_STOP_CHARS.search(window)
                or _SLOT_VERBS.search(window)
                or _inside_other_drug(text, run_start, start + known, end, lexicon)
            ):
                continue
            mean = score / n
            kept = best_by_drug.get(term.term_id)
            if kept is None or mean > kept[0]:
                chars = sum(1 for x, y in zip(window, term.text, strict=False) if x == y) / n
                best_by_drug[term.term_id] = (
                    mean,
                    Match(
                        start,
                        window,
                        term.text,
                        "drug",
                        term.term_id,
                        round(0.6 * mean + 0.25 * chars + 0.15, 3),
                        f"drug slot {why}: pinyin {mean:.2f} (aligned, gaps allowed)",
                    ),
                )
    return sorted(best_by_drug.values(), key=lambda c: c[0], reverse=True)


def _clear_winner(ranked: list[tuple[float, Match]], threshold: float) -> Match | None:
    if not ranked:
        return None
    top, match = ranked[0]
    if top >= threshold and (len(ranked) == 1 or top - ranked[1][0] >= _SLOT_MARGIN):
        return match
    return None


@dataclass(frozen=True, slots=True)
class _Slot:
    """A place where a drug name is said, with the formulary drugs ranked by how they sound there."""

    anchor: int  # where the strength (or how the drug is taken) starts
    why: str
    ranked: list[tuple[float, Match]]
    threshold: float  # the best drug needs this mean syllable similarity to win on sound alone
    run_start: int
    protected_before: bool  # a known drug name ends within 8 characters of the anchor
    ends: tuple[int, ...] = ()  # where the name may end (before a dosage form said after it)
    whole: bool = False  # the name fills the slot from run_start


def _slot_winner(slot: _Slot, text: str, lexicon: AsrLexicon, protected: list[bool]) -> Match | None:
    """The drug a slot's sound settles: a generic name that clearly wins, else a brand name that
    clearly wins over every generic and brand name of another drug (其力心0.25克 → 西力欣)."""
    match = _clear_winner(slot.ranked, slot.threshold)
    if match is not None or not lexicon.brand_slot_terms or not slot.ends:
        return match
    brands = _rank_slot(
        text,
        lexicon,
        protected,
        slot.run_start,
        list(slot.ends),
        slot.whole,
        slot.why,
        terms=lexicon.brand_slot_terms,
    )
    if not brands:
        return None
    merged: dict[str | None, tuple[float, Match]] = {}
    for mean, m in [*slot.ranked, *brands]:
        if m.term_id not in merged or mean > merged[m.term_id][0]:
            merged[m.term_id] = (mean, m)
    ranked = sorted(merged.values(), key=lambda c: c[0], reverse=True)
    winner = _clear_winner(ranked, slot.threshold)
    return winner if winner is not None and winner.corrected not in lexicon.generic_names else None


def _slots(text: str, lexicon: AsrLexicon, protected: list[bool], loose: bool = False) -> Iterator[_Slot]:
    for anchor in _SLOT_ANCHOR.finditer(text):  # the name said before a strength
        a = anchor.start()
        run_start = a
        while run_start > 0 and (
            CJK_RUN.fullmatch(text[run_start - 1])
            or text[run_start - 1] in LETTERS
            or text[run_start - 1] in LETTERS.lower()
            or (
                text[run_start - 1].isascii()
                and text[run_start - 1].isdigit()
                and run_start > 1
                and CJK_RUN.fullmatch(text[run_start - 2])
            )
        ):
            run_start -= 1
        if a - run_start < 2:
            continue
        ends = [a - trail for trail in _trailing_form_lengths(text, a, run_start)]
        yield _Slot(
            a,
            "before a strength",
            _rank_slot(text, lexicon, protected, run_start, ends, False, "before a strength", loose),
            _SLOT_THRESHOLD,
            run_start,
            any(protected[max(run_start, a - 8) : a]),
            tuple(ends),
            False,
        )
    for i in range(len(text) - 1):  # the name said between a prescribing verb and how it is taken
        if not _is_cue(text, i):
            continue
        start = i + 2
        stop = _CUE_STOP.search(text, start + 2)
        if stop is None or not 3 <= stop.start() - start <= 10:
            continue
        end = stop.start()
        if (
            _SLOT_ANCHOR.search(text, start, end + 12)
            and _SLOT_ANCHOR.search(text, start, end + 12).start() <= end
        ):
            continue  # a strength inside: handled above
        ends = [end - trail for trail in _trailing_form_lengths(text, end, start)]
        yield _Slot(
            end,
            "after a prescribing verb",
            _rank_slot(text, lexicon, protected, start, ends, True, "after a prescribing verb", loose),
            _CUE_THRESHOLD,
            start,
            any(protected[start:end]),
            tuple(ends),
            True,
        )
    if not loose:
        return
    for clause in _CLAUSE_START.finditer(text):  # a dose line that opens on the drug: 噻托溴铵吸入，每日一次
        start = clause.end()
        usage = _USAGE_AFTER.search(text, start + 3, start + 11)
        if usage is None or not _SLOT_RUN.fullmatch(text, start, usage.start()):
            continue
        end = usage.start()
        ends = [end - trail for trail in _trailing_form_lengths(text, end, start)]
        yield _Slot(
            end,
            "at the start of a dose line",
            _rank_slot(text, lexicon, protected, start, ends, True, "at the start of a dose line", True),
            float("inf"),
            start,
            any(protected[start:end]),
        )


_CLAUSE_START = re.compile(r"(?:^|[，。；;,])")
_USAGE_AFTER = re.compile(
    r"吸入|口服|含服|皮下注射|外用|雾化|每日|每天|一天|一日|每晚|睡前|按需|必要时|继续服用|继续使用"
)
_SLOT_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff0-9A-Za-z]+")


def slot_candidates(text: str, lexicon: AsrLexicon, protected: list[bool]) -> list[Scored]:
    """Drug slots one formulary name wins on sound alone, and a strength's number heard as a homophone
    character (时好课 → 十毫克) when the drug before it is known or won."""
    out: list[Scored] = []
    for slot in _slots(text, lexicon, protected):
        match = _slot_winner(slot, text, lexicon, protected)
        if match is not None:
            if slot.ranked:
                match = _with_alternatives(match, slot.ranked)
            out.append(((match.score - 1.5, len(match.corrected), match.score), match))
        if slot.why != "before a strength":
            continue
        a = slot.anchor
        heard_number = _HEARD_NUMBER.get(text[a])  # the anchor's number is one homophone character
        if heard_number and (
            match is not None or slot.protected_before
        ):  # 依那普利时好课: the strength is 十毫克
            out.append(
                (
                    (0.0, 1, 0.75),
                    Match(
                        a,
                        text[a],
                        heard_number,
                        "unit",
                        None,
                        0.75,
                        f"{heard_number} heard as a homophone between a drug and its unit",
                    ),
                )
            )
    return out


def _with_alternatives(match: Match, ranked: list[tuple[float, Match]]) -> Match:
    """The winner with the other drugs of its slot within ``ALTERNATIVE_MARGIN`` of it (for the doctor
    to confirm; the winner is unchanged)."""
    top = ranked[0][0]
    names: list[str] = []
    for mean, m in ranked[1:]:
        if (
            top - mean < ALTERNATIVE_MARGIN
            and m.term_id not in (None, match.term_id)
            and m.corrected not in names
        ):
            names.append(m.corrected)
    return replace(match, alternatives=tuple(names[:ALTERNATIVE_LIMIT])) if names else match


_LISTEN_FLOOR = _SLOT_THRESHOLD - _SLOT_MARGIN  # farther from the heard syllables: not worth asking the audio
_LISTEN_LIMIT = 5


@dataclass(frozen=True, slots=True)
class SlotChoice:
    """A drug slot that no formulary name wins by sound alone: the closest drugs, best first.

    Each candidate is a :class:`Match` on ``text`` (windows may differ in length). Which one, if
    any, was said is for the audio to tell (see ``toolkit.asr.transcribe``: Whisper's own
    likelihood of each reading).
    """

    why: str
    candidates: tuple[Match, ...]
    rivals: tuple[Match, ...] = ()  # drug names outside the formulary that sound as close: must lose too


def starts_alike(original: str, corrected: str) -> bool:
    """The first syllable heard shares an initial or a final with the name's (萝 and 罗 yes, 西 and 莫 no)."""
    heard = pinyin_syllables(original[:1].translate(SPOKEN_AS))[0]
    said = pinyin_syllables(corrected[:1])[0]
    return bool(heard and said) and syllable_similarity(heard[0], said[0]) > 0


def slot_choices(text: str, lexicon: AsrLexicon, named: Sequence[Match] = ()) -> list[SlotChoice]:
    """Places in ``text`` where a drug name was probably said but :func:`find_corrections` could not
    settle which, with up to five candidates each (for the audio to choose, never replaced here).

    * a drug slot (before a strength, after a prescribing or taking verb, opening a dose line) whose
      closest drugs are within reach (mean syllable similarity ≥ 0.5, a syllable heard as another
      allowed in names of four or more characters) but not a clear winner on sound alone;
    * a window near a dose word that sounds like a formulary drug name, every syllable at least
      half heard (:func:`_near_names`);
    * a drug name heard right, or in ``named`` (corrections already made on ``text``), inside a
      longer formulary name whose other syllables were heard loosely (:func:`_longer_names`:
      布地奈德福末顿罗 → 布地奈德福莫特罗).
    """
    protected = protected_spans(text, lexicon)
    settled = {
        s.anchor for s in _slots(text, lexicon, protected) if _slot_winner(s, text, lexicon, protected)
    }
    out = []
    for slot in _slots(text, lexicon, protected, loose=True):
        if slot.anchor in settled:
            continue
        close = [m for mean, m in slot.ranked[:_LISTEN_LIMIT] if mean >= _LISTEN_FLOOR]
        if close:
            out.append(SlotChoice(slot.why, tuple(close)))
    for more in (_longer_names(text, lexicon, named), _near_names(text, lexicon, protected)):
        taken = [(m.offset, m.offset + len(m.original)) for c in out for m in c.candidates]
        out.extend(
            c
            for c in more
            if not any(
                m.offset < hi and lo < m.offset + len(m.original) for m in c.candidates for lo, hi in taken
            )
        )
    return [replace(c, rivals=_rivals(text, lexicon, c.candidates)) for c in out]


_RIVAL_FLOOR = 0.6
_RIVAL_LIMIT = 3


def _rivals(text: str, lexicon: AsrLexicon, candidates: Sequence[Match]) -> tuple[Match, ...]:
    """Known drug names outside the formulary as close in sound to a candidate's window (红梅素眼膏:
    红霉素眼膏 as well as 红霉素软膏): readings the audio must also rule out before a formulary name is
    taken, so that a drug we cannot audit is not turned into one we can."""
    out: dict[tuple[int, str], tuple[float, Match]] = {}
    index, pinyin = lexicon.rivals()
    for window in {(m.offset, m.original) for m in candidates}:
        offset, original = window
        heard = pinyin_syllables(original.translate(SPOKEN_AS))[0]
        n = len(heard)
        if n != len(original):
            continue
        for name, count in index_hits(index, [fuzzy_syllable(x) for x in heard]).items():
            if count < 0.4 * n or name == original:
                continue
            sims = [syllable_similarity(a, b) for a, b in zip(heard, pinyin[name], strict=True)]
            mean = sum(sims) / n
            if mean >= _RIVAL_FLOOR and (offset, name) not in out:
                out[(offset, name)] = (
                    mean,
                    Match(
                        offset,
                        original,
                        name,
                        "other_drug",
                        None,
                        round(mean, 3),
                        f"drug outside the formulary: pinyin {mean:.2f}",
                    ),
                )
    # ties broken by place and name: the same rivals in every process (set order follows the hash seed)
    ranked = sorted(out.values(), key=lambda r: (-r[0], r[1].offset, r[1].corrected))
    return tuple(m for _, m in ranked[:_RIVAL_LIMIT])


def _known_drug_spans(text: str, lexicon: AsrLexicon, named: Sequence[Match]) -> list[tuple[int, str]]:
    """(offset, name) of every formulary drug name spelled in ``text`` or in ``named``."""
    return [
        *((m.offset, m.corrected) for m in named if len(m.original) == len(m.corrected)),
        *drug_spans(text, lexicon),
    ]


def _longer_names(text: str, lexicon: AsrLexicon, named: Sequence[Match]) -> list[SlotChoice]:
    """Combination and salt names heard in part: a known drug name inside a longer formulary name
    (福莫特罗 in 布地奈德福莫特罗) whose other syllables sound like the text around it (mean ≥ 0.6, at most
    one syllable heard as another, none in a part of one or two syllables)."""
    out = []
    for start, name in _known_drug_spans(text, lexicon, named):
        term = lexicon.by_text.get(name)
        ti = lexicon.terms.index(term) if term is not None else -1
        for si, k in lexicon.supers.get(ti, ()):
            sup = lexicon.terms[si]
            lo, hi = start - k, start - k + len(sup.text)
            if lo < 0 or hi > len(text) or not NAME_RUN.fullmatch(text, lo, hi) or text[lo:hi] == sup.text:
                continue
            heard = pinyin_syllables(text[lo:hi].translate(SPOKEN_AS))[0]
            if len(heard) != hi - lo:
                continue
            extra = [
                syllable_similarity(heard[j], sup.pinyin[j])
                for j in range(len(sup.text))
                if not k <= j < k + len(name)
            ]
            zeros = extra.count(0.0)
            mean = sum(extra) / len(extra)
            if mean < 0.6 or zeros > (0 if len(extra) <= 2 else 1) or swallows_verb(text, hi, sup.text):
                continue
            out.append(
                SlotChoice(
                    "part of a longer drug name",
                    (
                        Match(
                            lo,
                            text[lo:hi],
                            sup.text,
                            "drug",
                            sup.term_id,
                            round(0.6 * mean + 0.4, 3),
                            f"longer drug name holding {name}: the rest heard with pinyin {mean:.2f}",
                        ),
                    ),
                )
            )
    return out


_NEAR_FLOOR = 0.7  # every syllable at least half heard (same initial or final), most of them better


_DOSE_IN_WINDOW = re.compile(r"[一二两三四五六七八九十半][片粒支袋吸丸]")


def _holds_a_dose(window: str, name: str) -> bool:
    """``window`` holds a count of tablets the name does not spell (每天早上一片: 上一片 is not 三七片)."""
    return any(name[m.start() : m.end()] != m.group() for m in _DOSE_IN_WINDOW.finditer(window))


def _near_window(
    text: str,
    lexicon: AsrLexicon,
    run_start: int,
    start: int,
    window: str,
    plain: tuple[str, ...],
    term: Term,
) -> tuple[float, Match] | None:
    n = len(window)
    if window == term.text:
        return None
    sims = [syllable_similarity(a, b) for a, b in zip(plain, term.pinyin, strict=True)]
    mean = sum(sims) / n
    if min(sims) == 0 or mean < _NEAR_FLOOR:
        return None
    near = text[max(0, start - CONTEXT_SPAN) : start + n + CONTEXT_SPAN]
    if (
        not DRUG_CONTEXT.search(near)
        or _SLOT_STOP_CHARS.search(window)
        or _holds_a_dose(window, term.text)
        or swallows_verb(text, start + n, term.text)
        or _inside_other_drug(text, run_start, start, start + n, lexicon)
    ):
        return None
    chars = sum(1 for x, y in zip(window, term.text, strict=True) if x == y) / n
    return mean, Match(
        start,
        window,
        term.text,
        "drug",
        term.term_id,
        round(0.6 * mean + 0.25 * chars + 0.15, 3),
        f"sounds like a drug name near a dose word: pinyin {mean:.2f}",
    )


def _near_names(text: str, lexicon: AsrLexicon, protected: list[bool]) -> list[SlotChoice]:
    """Windows near a dose word that sound like a formulary drug but miss :func:`find_corrections`'s
    rules on sound alone (安律笔停 for 氨氯地平: no character shared): every syllable at least half
    heard, mean ≥ 0.7. Overlapping windows form one choice, closest first."""
    found: list[tuple[float, Match]] = []
    for run in NAME_RUN.finditer(text):
        seg = run.group()
        plain = pinyin_syllables(seg.translate(SPOKEN_AS))[0]
        if len(plain) != len(seg):
            continue
        fz = [fuzzy_syllable(x) for x in plain]
        for n in lexicon.lengths:
            if not 3 <= n <= len(seg):
                continue
            for i in range(len(seg) - n + 1):
                start = run.start() + i
                if any(protected[start : start + n]):
                    continue
                # mean ≥ 0.7 needs ≥ 40 % of the syllables fuzzy-equal (the others score ≤ 0.5)
                for ti, count in index_hits(lexicon.index, fz[i : i + n]).items():
                    if ti not in lexicon.slot_term_index or count < 0.4 * n:
                        continue
                    near = _near_window(
                        text, lexicon, run.start(), start, seg[i : i + n], plain[i : i + n], lexicon.terms[ti]
                    )
                    if near is not None:
                        found.append(near)
    clusters: list[list[tuple[float, Match]]] = []
    for mean, m in sorted(found, key=lambda f: f[0], reverse=True):
        for cluster in clusters:
            best = cluster[0][1]
            if m.offset < best.offset + len(best.original) and best.offset < m.offset + len(m.original):
                cluster.append((mean, m))
                break
        else:
            clusters.append([(mean, m)])
    return [SlotChoice("sounds like a drug name", tuple(m for _, m in c[:_LISTEN_LIMIT])) for c in clusters]


_STRENGTH_UNIT = re.compile(r"毫克|微克|克|单位|mg|μg|ug", re.IGNORECASE)


def drug_slots(text: str, lexicon: AsrLexicon) -> tuple[int, int]:
    """(strengths with a known drug name said before them, strengths without one).

    A strength (10毫克) is nearly always said right after its drug; when no formulary or other known
    drug name ends within the 8 characters before it, the name was mis-heard beyond correction (a
    dosage form may sit between).
    """
    known = (lexicon.drug_names, lexicon.other_drugs)
    count = resolved = 0
    for anchor in _SLOT_ANCHOR.finditer(text):
        if not _STRENGTH_UNIT.search(anchor.group()) and not re.search(
            "好课|好客|好克|毫课|豪克", anchor.group()
        ):
            continue
        a = anchor.start()
        before = text[max(0, a - 8) : a]
        if any(
            before[i:j] in names
            for names in known
            for i in range(len(before))
            for j in range(i + 2, len(before) + 1)
        ):
            resolved += 1
        else:
            count += 1
    return resolved, count
