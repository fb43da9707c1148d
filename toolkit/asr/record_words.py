"""Record words a dictated record needs, heard as other characters where the record's grammar leaves
no other reading (issue 13: a clean dictation from audio gave 门诊病历缺少：过敏史/体格检查).

* 过敏史 said as a section name at the start of a clause and answered after a pause (过泥时，否认药物过敏;
  顾密史。无): its first or middle syllable may be half heard or lost when the answer follows — a
  negative (无, heard 五 too, 没有, 否认) or a substance with 过敏;
* 过敏 at the end of a clause that opens with 对 (对磺胺顾名 → 对磺胺过敏): the words that sound like
  it there (顾名, 过米) say nothing else;
* 扁桃体 heard as its homophone (便逃体) right before its degree or size (2度肿大);
* a vital sign's name right before its value (学压122/74 → 血压, 心力76 → 心率): 血压 with the same
  toneless syllables, 心率 with 率 heard as 力/立/理/利 (li for lü); only before a number written in
  digits or two numerals (血压一直 stays).

Each is returned as a :class:`~toolkit.asr.windows.Match` of kind ``record`` (``exam`` for vitals) with
the text as heard, so it is shown and can be undone.
"""

from __future__ import annotations

import re

from toolkit.asr.phonetic import pinyin_syllables, syllable_similarity
from toolkit.asr.windows import Match, Scored

_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_CLAUSE_BREAK = "，。；：、,.;:！？!? \n"
# the answer of an allergy history said after its name and a pause
_ALLERGY_ANSWER = re.compile(r"[，。：；,:;]\s*(?:无|五|没有|没|否认|[^，。；,;]{0,8}?过敏)")
_ALLERGY_HEADER = re.compile(rf"(?:^|(?<=[{_CLAUSE_BREAK}]))([{_CJK}]{{3}})(?=[，。：；,:;])")
_ALLERGY_AT_CLAUSE_END = re.compile(
    rf"(?:^|(?<=[{_CLAUSE_BREAK}]))(?:也|还|都)?对[{_CJK}]{{1,6}}?([{_CJK}]{{2}})(?=[，。；,;]|$)"
)
_BP_HEARD = re.compile(
    r"(?<![高低])([学雪穴薛削靴])([压鸭呀押])(?=\s*(?:[0-9]|[一二三四五六七八九十百两]{2}))"
)
# 扁桃体 before its degree or size (便逃体2度肿大): the examination's words; not 扁桃体炎 (a diagnosis)
_TONSIL_HEARD = re.compile(rf"([{_CJK}]{{3}})(?=(?:[一二三1-3Ⅰ]度)?(?:肿大|种大|不大|充血|有脓))")
# …the value a rate (七十六, 76, 76次), not a span of time (心里七八天一直发慌: review of 2026-12-08)
_HR_HEARD = re.compile(
    r"(心)([力立理里利例丽])(?=\s*(?:[0-9]+|[一二三四五六七八九十百两]{2,})(?![0-9一二三四五六七八九十百两]*(?:天|年|月|周|个|岁|点|分钟)))"
)


def _match(offset: int, original: str, corrected: str, kind: str, reason: str) -> Scored:
    return (0.9, len(original), 0.9), Match(offset, original, corrected, kind, None, 0.9, reason)


def _sounds_like_allergy(heard: str) -> bool:
    """Two characters heard for 过敏 (顾名, 过米, 顾米): guo half heard at least, min nearly."""
    a, _ = pinyin_syllables(heard)
    first, second = syllable_similarity(a[0], "guo"), syllable_similarity(a[1], "min")
    return first >= 0.4 and second >= 0.6 and first + second >= 1.0


def record_word_candidates(text: str) -> list[Scored]:
    """Record words of the module docstring heard as other characters."""
    out: list[Scored] = []
    for m in _ALLERGY_HEADER.finditer(text):
        heard = m.group(1)
        if heard == "过敏史" or not _ALLERGY_ANSWER.match(text, m.end()):
            continue
        a, _ = pinyin_syllables(heard)
        sims = [syllable_similarity(x, y) for x, y in zip(a, ("guo", "min", "shi"), strict=True)]
        # the name's last syllable heard (史), and together at least two of its three syllables' worth
        if sims[-1] >= 0.8 and sims[0] >= 0.4 and sum(sims) >= 2.0 - 1e-9:
            why = f"过敏史 opening a clause and answered after a pause, heard as {heard}"
            out.append(_match(m.start(1), heard, "过敏史", "record", why))
    for m in _ALLERGY_AT_CLAUSE_END.finditer(text):
        heard = m.group(1)
        if heard != "过敏" and _sounds_like_allergy(heard):
            why = f"过敏 ending a clause that opens with 对, heard as {heard}"
            out.append(_match(m.start(1), heard, "过敏", "record", why))
    for m in _BP_HEARD.finditer(text):
        heard = m.group(1) + m.group(2)
        a, _ = pinyin_syllables(heard)
        if a == ("xue", "ya"):
            out.append(_match(m.start(1), heard, "血压", "exam", f"血压 before its value, heard as {heard}"))
    for m in _TONSIL_HEARD.finditer(text):
        heard = m.group(1)
        if heard != "扁桃体" and pinyin_syllables(heard.replace("便", "扁"))[0] == ("bian", "tao", "ti"):
            why = f"扁桃体 before its degree or size, heard as {heard}"
            out.append(_match(m.start(1), heard, "扁桃体", "exam", why))
    for m in _HR_HEARD.finditer(text):
        heard = m.group(1) + m.group(2)
        out.append(_match(m.start(1), heard, "心率", "exam", f"心率 before its value, heard as {heard}"))
    return out
