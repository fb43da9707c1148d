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
# a count said after a daily time with nothing after it but the line's end or route (思力华每天早上一例，吸入)
_DAILY_COUNT = re.compile(
    rf"(?:每天|每日|每晚|早上|晚上|睡前)([一二两三半])([{_CJK}])(?=[，。；,;]|吸入|口服|$)"
)
# 十 heard as another shi between 一次/每次 and a unit (一次时毫升 → 一次十毫升)
_TEN_BEFORE_UNIT = re.compile(r"(?:每次|一次)([时是事实使世])(?=个?(?:毫升|毫克|微克|克|单位|片|粒))")
# 晚饭时一次 heard as 晚饭11次 (时一 → 十一): eleven times a day is no frequency
_MEAL_ELEVEN = re.compile(r"(?<=早饭|午饭|晚饭|早餐|午餐|晚餐|吃饭|饭前|饭后)(11)(?=次)")
# 必要时用 heard as 必要使用 (时 → 使, the homophone), 睡前 after a dose heard as 事前
_PRN_HEARD = re.compile(r"必要(使)用")
# 不过敏 said as a clause of its own, 过敏 heard as 顾米/顾名/过米 (以前有高血压，不顾名，查体…)
_NOT_ALLERGIC = re.compile(rf"(?:^|(?<=[，。；,;]))(?:也|都|药物|药)?不([{_CJK}]{{2}})(?=[，。；,;]|$)")
_BEDTIME_AFTER_DOSE = re.compile(r"(?:(?<=单位)|(?<=[克片粒吸喷]))([事是世时水税])(?=前)")
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


# dosage-form words said right after a drug name (the formulary lists names without their release form)
_FORMS_AFTER_DRUG = ("缓释片", "控释片", "肠溶片", "分散片", "咀嚼片", "缓释胶囊", "肠溶胶囊")
_AFTER_FORM = re.compile(rf"[{_NUM}]|[，,。；;]|$")
_FORM_FLOOR = 0.7  # mean syllable similarity; 0.8 when no character is shared
_FORM_MARGIN = 0.1


def _form_candidates(text: str, lexicon: AsrLexicon) -> list[Scored]:
    """A release form right after a drug name and before its strength, heard as other characters
    (倍他乐克管事片四十七点五毫克, 单硝酸异山梨酯怀世偏60毫克, 奥美拉唑常用胶脑二十毫克): the place leaves no other
    reading, so a form whose syllables are clearly the closest is restored."""
    out: list[Scored] = []
    for start, name in drug_spans(text, lexicon):
        end = start + len(name)
        ranked = []
        for form in _FORMS_AFTER_DRUG:
            heard = text[end : end + len(form)]
            if len(heard) < len(form) or not re.fullmatch(f"[{_CJK}]+", heard):
                continue
            if heard == form or not _AFTER_FORM.match(text, end + len(form)):
                continue
            a, _ = pinyin_syllables(heard)
            b, _ = pinyin_syllables(form)
            score = sum(syllable_similarity(x, y) for x, y in zip(a, b, strict=True)) / len(form)
            shared = any(x == y for x, y in zip(heard, form, strict=True))
            ranked.append((score, form, heard, shared))
        if not ranked or any(text.startswith(f, end) for f in _FORMS_AFTER_DRUG):
            continue
        ranked.sort(reverse=True)
        score, form, heard, shared = ranked[0]
        rival = max((r[0] for r in ranked[1:] if r[1] != form and len(r[1]) == len(form)), default=0.0)
        if score + 1e-9 < (_FORM_FLOOR if shared else 0.8) or score - rival < _FORM_MARGIN:
            continue
        why = f"dosage form after a drug name, before its strength: {heard} heard for {form}"
        out.append(((0.9, len(heard), 0.9), Match(end, heard, form, "unit", None, 0.9, why)))
    return out


def _in_drug_line(text: str, at: int) -> bool:
    """A drug line's words (a dose, a sig, a prescribing verb) in the 30 characters before ``at``."""
    return DRUG_CONTEXT.search(text[max(0, at - 30) : at]) is not None


def _units_heard(
    text: str, pattern: re.Pattern[str], units: str, floor: float, in_line: bool, said: str
) -> list[Scored]:
    """The character of group 2 of each ``pattern`` match heard for the closest of ``units`` (with
    ``in_line``, only inside a drug line); ``said`` tells where, for the correction's reason."""
    out: list[Scored] = []
    for m in pattern.finditer(text):
        ch = m.group(2)
        if ch in _NOT_HEARD or (in_line and not _in_drug_line(text, m.start())):
            continue
        unit = _closest(ch, units, floor)
        if unit is not None:
            out.append(_match(m.start(2), ch, unit, f"{said}: {ch} heard for {unit}"))
    return out


def sig_candidates(text: str, lexicon: AsrLexicon) -> list[Scored]:
    """Units and durations of dose lines heard as other characters (see the module docstring)."""
    out: list[Scored] = _form_candidates(text, lexicon)
    out += _units_heard(text, _COUNT, COUNT_UNITS, 0.6, False, "count unit after 每次/一次 and a number")
    out += _units_heard(
        text, _DAILY_COUNT, COUNT_UNITS, 0.6, True, "count after a daily time, at the line's end"
    )
    for m in _TEN_BEFORE_UNIT.finditer(text):
        out.append(_match(m.start(1), m.group(1), "十", f"十 between 一次 and a unit, heard as {m.group(1)}"))
    for m in _MEAL_ELEVEN.finditer(text):
        out.append(_match(m.start(1), "11", "时1", "晚饭时一次 heard as 晚饭11次 (时一 → 十一)"))
    for m in _PRN_HEARD.finditer(text):
        out.append(_match(m.start(1), "使用", "时用", "必要时用 heard as 必要使用"))
    for m in _NOT_ALLERGIC.finditer(text):
        heard = m.group(1)
        if heard == "过敏":
            continue
        a, _ = pinyin_syllables(heard)
        first, second = syllable_similarity(a[0], "guo"), syllable_similarity(a[1], "min")
        if first >= 0.4 and second >= 0.6 and first + second >= 1.0:
            out.append(_match(m.start(1), heard, "过敏", f"不过敏 said as a clause, 过敏 heard as {heard}"))
    for m in _BEDTIME_AFTER_DOSE.finditer(text):
        if _in_drug_line(text, m.start()):
            out.append(_match(m.start(1), m.group(1), "睡", f"睡前 after a dose heard as {m.group(1)}前"))
    spans = drug_spans(text, lexicon)
    ends = {s + len(n) for s, n in spans}
    for m in _GRAM.finditer(text):
        word = m.group(2)
        inside_word = m.start() > 0 and re.match(f"[{_CJK}]", text[m.start() - 1]) is not None
        if not m.group(1)[0].isdigit() and inside_word and m.start() not in ends:
            continue  # a numeral inside a word (统一可以), not after a drug name
        whole = "." not in m.group(1) and "点" not in m.group(1)
        if word == "颗" and whole:
            continue
        if whole and (
            re.search(r"(?:每次|一次|每回|一回)\s*$", text[max(0, m.start() - 3) : m.start()])
            or re.search(r"克[，,、\s]*$", text[max(0, m.start() - 12) : m.start()])
        ):
            continue  # 每次1可, 0.5克，1可: a count said where 颗 is as likely as 克 (1克 would double the dose)
        after = text[m.end(2) :]
        if not _FREQ_AFTER.match(after):
            continue
        before = text[max(0, m.start() - 16) : m.start()]
        drug_before = any(m.start() - 16 <= s < m.start() for s, _ in spans)
        if not drug_before and not DRUG_CONTEXT.search(before):
            continue
        out.append(_match(m.start(2), word, "克", f"克 after a number in a drug line, heard as {word}"))
    out += _units_heard(text, _DURATION, _DURATION_UNITS, 0.4, True, "duration after 开/吃/用 and a number")
    return out
