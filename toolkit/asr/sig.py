"""Sig words: the one-character units and durations of a dose line, heard as another character.

A same-length window cannot correct a single character (any character sounds like some unit), so
these are corrected only where the dose line's grammar leaves no other reading:

* a count unit after 每次/一次 and a number (每次两星 → 每次两吸, 一次一心 → 一次一吸): the heard
  character is not a unit, and one unit (片 粒 吸 喷 支 袋 滴 丸 贴 包) sounds clearly closest —
  the same syllable, a merged confusion, or a nasal ending lost or added (星 xing / 吸 xi);
* 克 after a number in a drug line, heard as its homophone 可 (二甲双胍1可1天3次, 0.5可以一天两次:
  可以 before a frequency is 克 heard with the next syllable), or as 颗 after a decimal number
  (0.5颗 is not a count of tablets);
* the unit of a duration after 开/吃/用 and a number at the end of a clause (都开四中 → 都开四周):
  天 周 月, the one whose syllable is closest (at least its initial).

Each is returned as a :class:`~toolkit.asr.windows.Match` of kind ``unit`` with the text as heard.
"""

from __future__ import annotations

import re

from toolkit.asr.lexicon import AsrLexicon, drug_spans
from toolkit.asr.phonetic import pinyin_syllables, syllable_similarity
from toolkit.asr.windows import DRUG_CONTEXT, Match, Scored

_NUM = "0-9.零〇一二两三四五六七八九十百半点"
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
COUNT_UNITS = "片粒吸喷支袋滴丸贴包"
_NOT_HEARD = set(COUNT_UNITS) | set("克毫微单个颗枚瓶盒下口次天周月日年岁度")
_COUNT = re.compile(rf"(?:每次|一次)([0-9零〇一二两三四五六七八九十半][{_NUM}]{{0,2}})([{_CJK}])")
_GRAM = re.compile(r"((?<![0-9.])[0-9][0-9.]*|[零〇一二两三四五六七八九十百点]+)(可以|可|颗)")
_FREQ_AFTER = re.compile(r"[一二两三1-3][天日]|每[天日晚]|[，。；,;]|$")
_DURATION = re.compile(rf"(?:开|吃|用)([一二两三四五六七八九十0-9]{{1,3}})([{_CJK}])(?=[，。；！,;!]|$)")
_DURATION_UNITS = "天周月"
_MARGIN = 0.1


def _closest(heard: str, units: str, floor: float) -> str | None:
    """The unit whose syllable is closest to ``heard``'s (at least ``floor``, :data:`_MARGIN` ahead
    of the next), else ``None``."""
    (h,), _ = pinyin_syllables(heard)
    ranked = sorted(((syllable_similarity(h, pinyin_syllables(u)[0][0]), u) for u in units), reverse=True)
    best, unit = ranked[0]
    if best < floor or (len(ranked) > 1 and best - ranked[1][0] < _MARGIN):
        return None
    return unit


def _match(offset: int, original: str, corrected: str, reason: str) -> Scored:
    return (0.9, len(original), 0.9), Match(offset, original, corrected, "unit", None, 0.9, reason)


def sig_candidates(text: str, lexicon: AsrLexicon) -> list[Scored]:
    """Units and durations of dose lines heard as other characters (see the module docstring)."""
    out: list[Scored] = []
    for m in _COUNT.finditer(text):
        ch = m.group(2)
        if ch in _NOT_HEARD:
            continue
        unit = _closest(ch, COUNT_UNITS, 0.6)
        if unit is not None:
            why = f"count unit after 每次/一次 and a number: {ch} heard for {unit}"
            out.append(_match(m.start(2), ch, unit, why))
    spans = drug_spans(text, lexicon)
    for m in _GRAM.finditer(text):
        word = m.group(2)
        ends = {s + len(n) for s, n in spans}
        inside_word = m.start() > 0 and re.match(f"[{_CJK}]", text[m.start() - 1]) is not None
        if not m.group(1)[0].isdigit() and inside_word and m.start() not in ends:
            continue  # a numeral inside a word (统一可以), not after a drug name
        if word == "颗" and "." not in m.group(1) and "点" not in m.group(1):
            continue
        after = text[m.end(2) :]
        if not _FREQ_AFTER.match(after):
            continue
        before = text[max(0, m.start() - 16) : m.start()]
        drug_before = any(m.start() - 16 <= s < m.start() for s, _ in spans)
        if not drug_before and not DRUG_CONTEXT.search(before):
            continue
        out.append(_match(m.start(2), word, "克", f"克 after a number in a drug line, heard as {word}"))
    for m in _DURATION.finditer(text):
        ch = m.group(2)
        if ch in _NOT_HEARD or not DRUG_CONTEXT.search(text[max(0, m.start() - 30) : m.start()]):
            continue
        unit = _closest(ch, _DURATION_UNITS, 0.4)
        if unit is not None:
            why = f"duration after 开/吃/用 and a number: {ch} heard for {unit}"
            out.append(_match(m.start(2), ch, unit, why))
    return out
