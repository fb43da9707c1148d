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

* a count right after a drug name (its form or strength between), heard as a homophone where the
  line goes on with a frequency or route (连花清瘟胶囊四立一天三次 → 四粒, 三金片三骗 → 三片, 思力华医西一天一次
  → 一吸, the numeral 一 heard too): the unit must be one the drug is counted in (its forms in the
  knowledge base: 胶囊 粒, 颗粒 袋/包, inhalers 吸/喷) and sound the same (at least merged);
* the first character of a number heard with another tone before 点 or 十 and a unit, in a drug line
  (领点二毫克 → 零点二毫克, 舞十毫克 → 五十毫克), never a character of a drug name;
* the drug name's last syllable written as a digit before the dose (利伐沙班820毫克 → 利伐沙班20毫克,
  利伐沙820毫克 → 利伐沙班20毫克), only where the knowledge base makes the number as heard implausible (at
  least 3 times the largest single dose) and the number without that digit plausible (at most the
  largest single dose, a multiple of a listed strength), and the digit sounds like the syllable
  (班/八, 尔/二, 因/一, 林/零): 美托洛尔25, 可待因15 (no dose limit known) stay.

Each is returned as a :class:`~toolkit.asr.windows.Match` of kind ``unit`` with the text as heard
(kind ``drug`` where a name's lost syllable is restored).
"""

from __future__ import annotations

import re
from functools import lru_cache

from toolkit.asr.lexicon import AsrLexicon, drug_spans
from toolkit.asr.phonetic import SPOKEN_AS, pinyin_syllables, syllable_similarity
from toolkit.asr.windows import DRUG_CONTEXT, Match, Scored, protected_spans

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


_FORM_AFTER_NAME = re.compile(r"(?:缓释|控释|肠溶|分散|咀嚼|泡腾)?(?:软胶囊|胶囊|颗粒|滴丸|片|丸)")
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
        if any(text.startswith(f, end) for f in (*_FORMS_AFTER_DRUG, "胶囊")):
            continue
        kb_forms = {str(getattr(f, "form", "")) for f in getattr(_drug(lexicon, name), "forms", ()) or ()}
        capsule = _capsule_heard(text, end, kb_forms)
        if capsule is not None:
            out.append(capsule)
            continue
        if not ranked:
            continue
        ranked.sort(reverse=True)
        score, form, heard, shared = ranked[0]
        rival = max((r[0] for r in ranked[1:] if r[1] != form and len(r[1]) == len(form)), default=0.0)
        # a form the knowledge base lists for this drug, a character of it heard: every syllable at least
        # half heard is enough (奥美拉唑常用胶脑 → 肠溶胶囊)
        floor = _FORM_FLOOR if shared else 0.8
        if shared and form in kb_forms and len(form) >= 4:
            floor = 0.65
        if score + 1e-9 < floor or score - rival < _FORM_MARGIN:
            continue
        why = f"dosage form after a drug name, before its strength: {heard} heard for {form}"
        out.append(((0.9, len(heard), 0.9), Match(end, heard, form, "unit", None, 0.9, why)))
    return out


# a count or a strength right after the form (连花清瘟胶囊四粒, 阿莫西林胶囊0.5克)
_AFTER_CAPSULE = re.compile(r"[0-9一两二三四五六七八九十半零]")


def _capsule_heard(text: str, end: int, kb_forms: set[str]) -> Scored | None:
    """胶囊 right after the name of a drug the knowledge base lists as a capsule, before a count or a
    strength, heard as two characters with its initials (将能 jiang neng, 胶脑 jiao nao)."""
    heard = text[end : end + 2]
    if "胶囊" not in kb_forms or len(heard) < 2 or not re.fullmatch(f"[{_CJK}]{{2}}", heard):
        return None
    if not _AFTER_CAPSULE.match(text, end + 2):
        return None
    a, _ = pinyin_syllables(heard)
    if not (a[0].startswith("j") and a[1].startswith("n")) or heard[0] in _NUM or heard[1] in _NUM:
        return None
    why = f"胶囊 after the name of a drug made as capsules, before its count or strength: {heard} heard"
    return (0.9, 2, 0.9), Match(end, heard, "胶囊", "unit", None, 0.9, why)


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
    form_ends = {
        m.end() for e in ends if (m := _FORM_AFTER_NAME.match(text, e)) and m.end() > e
    }  # 碳酸钙片零点六可
    ends |= form_ends
    for m in _GRAM.finditer(text):
        word = m.group(2)
        inside_word = m.start() > 0 and re.match(f"[{_CJK}]", text[m.start() - 1]) is not None
        if not m.group(1)[0].isdigit() and inside_word and m.start() not in ends:
            continue  # a numeral inside a word (统一可以), not after a drug name
        whole = "." not in m.group(1) and "点" not in m.group(1)
        if word == "颗" and whole:
            continue
        if whole and m.start() in form_ends and m.start() not in {s + len(n) for s, n in spans}:
            continue  # 硝苯地平控释片一可: after the form word a count (一颗) is as likely: decimals only
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
    out += _counts_after_drug(text, lexicon, spans)
    out += _line_words_heard(text, lexicon, spans)
    out += _numerals_heard(text, lexicon, spans)
    out += _name_syllable_as_digit(text, lexicon, spans)
    return out


# --------------------------------------------------------------------------- doses after a drug name

# what may stand between a drug name and the count said for it: its form, its strength, a route
_AFTER_NAME = re.compile(
    r"(?:(?:缓释|控释|肠溶|分散|咀嚼|泡腾)?(?:软胶囊|胶囊|颗粒|滴丸|片|丸|散|口服液|贴剂|(?:吸入)?(?:粉雾剂|气雾剂|喷雾剂)|吸入剂))?"
    r"(?:(?:[0-9.]+|[零〇一二两三四五六七八九十百点]+)\s*(?:毫克|微克|克|mg|μg|ug|g))?"
    r"[，,、\s]?(?:口服|吸入|含服|舌下含服)?"
)
# a count: a numeral and the character heard for its unit, or (思力华医西) 一/两 heard too
_COUNT_HEARD = re.compile(rf"([1-9]|[一二两三四五六七八九十半]{{1,2}})([{_CJK}])")
_NUMERAL_HEARD_AS = {"一": "衣医依伊壹揖", "两": "俩"}
_BOTH_HEARD = re.compile(rf"([{''.join(_NUMERAL_HEARD_AS.values())}])([{_CJK}])")
# the line goes on with how often or how the drug is taken: a dose was said
_SIG_AFTER = re.compile(
    r"[，,、\s]?(?:[一二两三四1-4][天日次]|每[天日晚]|一日|早晚|早上|晚上|睡前|饭[前后]|餐[前后]|口服|吸入|含服|外用|必要时|需要时|按需)"
)
# numeral words whose second character sounds like a unit (一直 支, 一例 粒, 一代 袋), and 万/晚 (八十万单位,
# 每晚): never read as a count
_COUNT_WORDS = frozenset(
    {"一直", "一致", "一只", "一起", "一律", "一代", "一带", "一例", "一系", "一席", "一批", "一线"}
)
_NEVER_UNIT = set("万晚") | set(_NUM)


def _drug(lexicon: AsrLexicon, name: str) -> object | None:
    """The knowledge base's entry for a drug name of the lexicon, if the lexicon has the KB."""
    term = lexicon.by_text.get(name)
    drugs = getattr(getattr(lexicon, "knowledge", None), "drugs", None) or {}
    return drugs.get(term.term_id) if term is not None and term.term_id else None


def _count_units(drug: object | None) -> str:
    """The count units a drug is taken in, from its forms (胶囊 粒, 颗粒 袋/包, inhalers 吸/喷 …); every
    count unit when the knowledge base has no forms for it."""
    units: set[str] = set()
    for form in getattr(drug, "forms", ()) or ():
        units.add(str(getattr(form, "unit", "")))
        kind = str(getattr(form, "form", ""))
        if "吸入" in kind or "雾" in kind:
            units.update("吸喷")
        if "颗粒" in kind or kind.endswith("散"):
            units.update("袋包")
        if "胶囊" in kind:
            units.add("粒")
        if "丸" in kind:
            units.update("丸粒")
    found = "".join(u for u in COUNT_UNITS if u in units)
    return found or COUNT_UNITS


def _counts_after_drug(text: str, lexicon: AsrLexicon, spans: list[tuple[int, str]]) -> list[Scored]:
    """A count said right after a drug name (its form, strength or route between), its unit heard as
    a homophone, where a frequency or route follows (see the module docstring)."""
    out: list[Scored] = []
    for start, name in spans:
        at = _AFTER_NAME.match(text, start + len(name)).end()
        units = _count_units(_drug(lexicon, name))
        m = _COUNT_HEARD.match(text, at)
        if m and m.group(2) not in _NEVER_UNIT and m.group(2) not in _NOT_HEARD:
            if m.group(0) not in _COUNT_WORDS and _SIG_AFTER.match(text, m.end()):
                unit = _closest(m.group(2), units, 0.8)
                if unit is not None:
                    why = f"count after a drug name, before its frequency: {m.group(2)} heard for {unit}"
                    out.append(_match(m.start(2), m.group(2), unit, why))
            continue
        m = _BOTH_HEARD.match(text, at)
        if not m or m.group(2) in _NEVER_UNIT or not _SIG_AFTER.match(text, m.end()):
            continue
        said = m.group(2) in units  # 医吸: only the numeral heard as another word
        if m.group(2) in _NOT_HEARD and not said:
            continue
        unit = m.group(2) if said else _closest(m.group(2), units, 0.8)
        numeral = next(n for n, heard in _NUMERAL_HEARD_AS.items() if m.group(1) in heard)
        if unit is not None:
            why = f"count after a drug name, before its frequency: {m.group(0)} heard for {numeral}{unit}"
            out.append(_match(m.start(), m.group(0), numeral + unit, why))
    return out


# a number's first syllable heard with another tone (领点二 for 零点二, 舞十 for 五十), before a unit
_NUMERAL_SYLLABLES = {
    "ling": "零", "yi": "一", "er": "二", "liang": "两", "san": "三", "si": "四",
    "wu": "五", "liu": "六", "qi": "七", "ba": "八", "jiu": "九",
}  # fmt: skip
_DOSE_UNIT = r"\s*(毫克|微克|克|毫升|单位|mg|μg|ug|g|ml)"
_DECIMAL_HEARD = re.compile(
    rf"(?<![{_NUM}])([{_CJK}])(?=(点[零〇一二两三四五六七八九0-9]{{1,3}}){_DOSE_UNIT})"
)
_TENS_HEARD = re.compile(rf"(?<![{_NUM}])([{_CJK}])(?=(十[一二三四五六七八九]?){_DOSE_UNIT})")
# where a number begins: right after a drug name (its form or route between) or these words
_BEFORE_NUMBER = re.compile(r"(?:每次|一次|每回|改为|加到|加至|加量至|增至|减到|减至|减为|减量至)$")
_FORM_OR_ROUTE = re.compile(
    r"(?:(?:缓释|控释|肠溶|分散|咀嚼|泡腾)?(?:软胶囊|胶囊|颗粒|滴丸|片|丸|散|口服液|(?:吸入)?(?:粉雾剂|气雾剂|喷雾剂))|"
    r"口服|吸入|含服|舌下含服|[，,、\s])*"
)
# words of speech that sound like a numeral (那就十毫克吧, 把十毫克改成五毫克): never read as one
_NOT_NUMERAL = set("就把吧爸而儿其起期似以已")


def _spoken_number(text: str) -> float | None:
    """零点二 → 0.2, 五十 → 50 (a small number said in Chinese, with a decimal part after 点)."""
    from toolkit.units import CN_DIGITS, cn_small_number

    whole, dot, decimals = text.partition("点")
    value = cn_small_number(whole)
    digits = [str(CN_DIGITS.get(c, c)) for c in decimals]
    if value is None or not all(d.isdigit() for d in digits):
        return None
    return value + float(f"0.{''.join(digits)}") if dot and digits else value


def _over_limit(lexicon: AsrLexicon, name: str, amount: float | None, unit_text: str) -> bool:
    """``amount unit_text`` is more than the drug's largest single dose (as far as the KB tells)."""
    from toolkit.units import normalize_unit, to_canonical

    drug = _drug(lexicon, name)
    facts = _single_dose_limit(drug) if drug is not None else None
    unit = normalize_unit(unit_text)
    if facts is None or unit is None or amount is None:
        return False
    value = to_canonical(amount, unit, facts[0])
    return value is not None and value > facts[1] + 1e-9


def _numerals_heard(text: str, lexicon: AsrLexicon, spans: list[tuple[int, str]]) -> list[Scored]:
    """The first character of a number heard with another tone, before 点 or 十 and a unit, in a drug
    line; never a character of a drug name or other known term (美托洛尔十毫克 stays)."""
    out: list[Scored] = []
    protected: list[bool] = []
    for pattern, where in ((_DECIMAL_HEARD, "点"), (_TENS_HEARD, "十")):
        for m in pattern.finditer(text):
            ch, at = m.group(1), m.start(1)
            if ch in _NUM or ch in _NOT_NUMERAL or any(s <= at < s + len(n) for s, n in spans):
                continue
            after_name = [n for s, n in spans if _FORM_OR_ROUTE.fullmatch(text, s + len(n), at)]
            if not after_name and not _BEFORE_NUMBER.search(text, 0, at):
                continue  # not where a number begins
            protected = protected or protected_spans(text, lexicon)
            if protected[at]:
                continue
            (syllable,), _ = pinyin_syllables(ch)
            numeral = _NUMERAL_SYLLABLES.get(syllable)
            if numeral is None or (where == "十" and numeral in "零一"):
                continue
            before = after_name or [n for s, n in spans if at - 16 <= s + len(n) <= at]
            if not before and not _in_drug_line(text, at):
                continue
            if before and _over_limit(lexicon, before[-1], _spoken_number(numeral + m.group(2)), m.group(3)):
                continue  # 舞十毫克 after a drug taken 10 mg at most: not 五十
            why = f"a number's first syllable heard as {ch}{where} (said {numeral})"
            out.append(_match(at, ch, numeral, why))
    return out


# a drug name's last syllable written as a digit before the dose (利伐沙班820毫克: 班 said, 8 written)
_DIGITS_UNIT = re.compile(
    r"(?<![0-9.])([0-9])([1-9][0-9]*(?:\.[0-9]+)?)\s*(毫克|微克|克|mg|μg|ug|mcg|g)(?![a-z])"
)
_IMPLAUSIBLE = 3.0  # times the largest single dose
_COUNTS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # counts of a strength one dose may be
_SENSIBLE_COUNT = 4.0  # units per dose, where the knowledge base gives no single maximum


def _single_dose_limit(drug: object) -> tuple[str, float, tuple[float, ...]] | None:
    """(mass unit, largest single dose, listed strengths in that unit) of a drug of the knowledge base:
    the label's single maximum (adult, elderly, per form), else the largest strength times the most
    units a dose may be; ``None`` when neither is known."""
    from toolkit.units import MASS_TO_MG, parse_strength, to_canonical

    dose = getattr(drug, "dose", None)
    unit = getattr(dose, "unit", None)
    forms = tuple(getattr(drug, "forms", ()) or ())
    amounts: list[tuple[float, str, float]] = []  # (amount, unit, units per dose)
    for form in forms:
        count = getattr(form, "units_single_max", None) or _SENSIBLE_COUNT
        for text in getattr(form, "strengths", ()) or ():
            parsed = parse_strength(text)
            if parsed is not None:
                amounts.extend((a, u, count) for a, u in parsed.amounts if u in MASS_TO_MG)
    unit = unit or (amounts[0][1] if amounts else None)
    if unit not in MASS_TO_MG:
        return None
    per_unit = [(to_canonical(a, u, unit) or 0.0, count) for a, u, count in amounts]
    strengths = tuple(v for v, _ in per_unit if v)
    maxes = [
        getattr(limit, "single_max", None)
        for limit in (getattr(dose, "adult", None), getattr(dose, "elderly", None))
    ]
    maxes += [getattr(getattr(form, "dose", None), "single_max", None) for form in forms]
    known = [float(m) for m in maxes if m]
    if not known:
        known = [v * count for v, count in per_unit if v]
    return (unit, max(known), strengths) if known else None


def _daily_dose_limit(drug: object) -> float | None:
    """The largest daily maximum of a drug (adult, elderly, per form) in its dose unit, or ``None``."""
    dose = getattr(drug, "dose", None)
    limits = [getattr(dose, "adult", None), getattr(dose, "elderly", None)]
    limits += [getattr(form, "dose", None) for form in getattr(drug, "forms", ()) or ()]
    known = [float(m) for m in (getattr(x, "daily_max", None) for x in limits) if m]
    return max(known) if known else None


def _syllable(ch: str) -> str:
    (s,), _ = pinyin_syllables(ch.translate(SPOKEN_AS))
    return s


def _heard_as(text: str, start: int, end: int, said: str) -> bool:
    """``text[start:end]`` is ``said`` heard as other characters of the same toneless syllables (滑法 for
    华法, at least two characters, none a digit)."""
    heard = text[start:end]
    if len(said) < 2 or len(heard) != len(said) or not re.fullmatch(f"[{_CJK}]+", heard):
        return False
    return _toneless(heard) == _toneless(said)


@lru_cache(maxsize=8192)
def _toneless(text: str) -> tuple[str, ...]:
    return pinyin_syllables(text)[0]


def _name_syllable_as_digit(text: str, lexicon: AsrLexicon, spans: list[tuple[int, str]]) -> list[Scored]:
    """利伐沙班820毫克 → 利伐沙班20毫克, 利伐沙820毫克 → 利伐沙班20毫克: the first digit of an implausible
    dose is the drug name's last syllable (see the module docstring)."""
    from toolkit.units import normalize_unit, to_canonical

    out: list[Scored] = []
    ends = {s + len(n): n for s, n in spans}
    for m in _DIGITS_UNIT.finditer(text):
        at, digit, rest = m.start(), m.group(1), m.group(2)
        said = _syllable(digit)
        whole = ends.get(at)
        if whole is not None:  # the name complete before the digit: the digit is its last syllable again
            candidates = [(whole, at - 1, whole[-1] + digit, whole[-1])]
        else:  # the digit stands for the name's last syllable
            candidates = [
                (n, at - len(n) + 1, text[at - len(n) + 1 : at] + digit, n)
                for n in sorted(lexicon.drug_names)
                if len(n) >= 3
                and at - len(n) + 1 >= 0
                and (text.startswith(n[:-1], at - len(n) + 1) or _heard_as(text, at - len(n) + 1, at, n[:-1]))
            ]
        for name, offset, original, corrected in candidates:
            if syllable_similarity(said, _syllable(name[-1])) < 0.6:
                continue
            drug = _drug(lexicon, name)
            facts = _single_dose_limit(drug) if drug is not None else None
            unit = normalize_unit(m.group(3))
            if facts is None or unit is None:
                continue
            dose_unit, limit, strengths = facts
            heard = to_canonical(float(digit + rest), unit, dose_unit)
            meant = to_canonical(float(rest), unit, dose_unit)
            # implausible even as a daily amount (普萘洛尔240毫克每天 is a label daily dose: 尔 is no 2 there)
            ceiling = max(limit, _daily_dose_limit(drug) or 0.0)
            # 03毫克 is no number anyone writes: a leading zero is a syllable (华法林3毫克 heard 滑法03好可)
            implausible = heard is not None and (digit == "0" or heard >= _IMPLAUSIBLE * ceiling)
            if heard is None or meant is None or not implausible or meant > limit + 1e-9:
                continue
            if strengths and not any(abs(meant - k * v) < 1e-6 * v for v in strengths for k in _COUNTS):
                continue  # not a count of a listed strength
            said_as = f"{digit}{rest}{m.group(3)}"
            why = (
                f"{name}'s last syllable written as the digit {digit} before the dose: {said_as} is at least "
                f"{_IMPLAUSIBLE:g} times its largest single dose ({limit:g} {dose_unit}), {rest}{m.group(3)} is not"
            )
            term = lexicon.by_text.get(name)
            drug_id = term.term_id if term is not None and whole is None else None
            kind = "unit" if whole is not None else "drug"  # the name completed: a drug correction
            match = Match(offset, original, corrected, kind, drug_id, 0.9, why)
            out.append(((0.9, len(original), 0.9), match))
            break
    return out


# --------------------------------------------------------------------------- words of a dose line

# 每周一次 said of a weekly drug, heard as 美中一次 (mei zhong / mei zhou)
_WEEKLY_HEARD = re.compile(r"([美没每妹媒梅煤])([中钟终忠州舟粥洲周])(?=一次|1次)")
# 一次一粒 heard as 以此伊力: 一次 heard as 以此 right before a count (the numeral heard too)
_ONCE_BEFORE_COUNT = re.compile(
    rf"(以此|一此|以次)(?=([一两二{''.join(_NUMERAL_HEARD_AS['一'])}])([{_CJK}]))"
)
# a two-character name (a brand: 可定) right before its strength (高血压肯定十毫克); never words of a dose line
_NOT_SHORT_NAME = re.compile(r"[次每吃的和及或为到至量服用加减改换成是从先再各共了片粒支袋]")
# what may come right before a drug name opening its line: a pause, or a prescribing verb
_OPENS_NAME = re.compile(r"(?:^|[，。；、,;:：\s]|开|用|加|予|成|为|吃|服|换|改)$")
_SHORT_NAME_SIG = re.compile(r"\s*(?:[一二两三1-3][天日]|每[天日晚早周]|睡前|早上|晚上|一次)")
_SHORT_NAME_UNIT = re.compile(r"毫克|微克|mg|好课|好客|好克|毫课|豪克")  # the unit of its strength, as heard
_SHORT_NAME_SLOT = re.compile(
    rf"([{_CJK}]{{2}})(?=(?:[0-9]+(?:\.[0-9]+)?|[零一二两三四五六七八九十百点]+|[时是事使世])"
    rf"(?:{_SHORT_NAME_UNIT.pattern}))"
)
# 一天一次 heard as 一天一字: 次 of a frequency at the end of a line
_TIMES_HEARD = re.compile(r"(?<=[一每][天日])([一两二三四])([字自子此词刺])(?=[，。；,;]|$|口服|饭[前后]|开)")
# 一次吃三片 heard as 以此吃三片
_ONCE_BEFORE_TAKING = re.compile(r"(以此|一此|以次)(?=(?:吃|服|用)[一两二三四半1-4])")
# 一天两次 heard as 一贴两次 (tian / tie): a day before a count of times
_DAY_HEARD = re.compile(r"(?<![0-9零一二两三四五六七八九十])一([贴铁帖])(?=[一两二三四1-4]次)")
# 开四周 heard as 开始中 at the end of a clause (始 si/shi, 中 zhong/zhou)
_WEEKS_HEARD = re.compile(r"(?<=开)(始|是|事|使|世)(中|钟|终|州|舟)(?=[，。；！,;!]|$)")

# (开始二周 → 开十二周 was tried and removed after review: 开始五天 / 开始一周 are said as meant, the first days)


def _freq_usual(drug: object | None) -> tuple[str, ...]:
    return tuple(getattr(getattr(drug, "frequency", None), "usual", ()) or ())


def _line_words_heard(text: str, lexicon: AsrLexicon, spans: list[tuple[int, str]]) -> list[Scored]:
    """Words of a dose line heard as others where the line leaves no other reading: 每周 of a weekly
    drug (阿仑膦酸钠七十毫克美中一次), 一次 before a count (以此伊力 → 一次一粒), 一天 before a count of
    times (一贴两次), 四周 after 开 at a clause end (都开始中). Each only after a drug named in the line."""
    out: list[Scored] = []

    def drug_before(at: int, span: int = 30) -> str | None:
        names = [n for s, n in spans if at - span <= s and s + len(n) <= at]
        return names[-1] if names else None

    for m in _WEEKLY_HEARD.finditer(text):
        name = drug_before(m.start(), 16)
        if m.group(0) != "每周" and name is not None and "qw" in _freq_usual(_drug(lexicon, name)):
            why = f"每周 of a drug taken weekly ({name}), heard as {m.group(0)}"
            out.append(_match(m.start(), m.group(0), "每周", why))
    for m in _ONCE_BEFORE_COUNT.finditer(text):
        name = drug_before(m.start())
        if name is None:
            continue
        unit = m.group(3) if m.group(3) in _count_units(_drug(lexicon, name)) else None
        unit = unit or (
            None
            if m.group(3) in _NEVER_UNIT | _NOT_HEARD
            else _closest(m.group(3), _count_units(_drug(lexicon, name)), 0.8)
        )
        if unit is None:
            continue
        numeral = "两" if m.group(2) in "两二" else "一"
        heard = m.group(1) + m.group(2) + m.group(3)
        why = f"一次 and a count of {name} heard as {heard}"
        out.append(_match(m.start(), heard, f"一次{numeral}{unit}", why))
    for m in _DAY_HEARD.finditer(text):
        name = drug_before(m.start())
        drug = _drug(lexicon, name) if name else None
        if name is None or ("贴" in _count_units(drug) and _count_units(drug) != COUNT_UNITS):
            continue  # a patch is counted in 贴
        out.append(
            _match(m.start(1), m.group(1), "天", f"一天 before a count of times, heard as 一{m.group(1)}")
        )
    for m in _SHORT_NAME_SLOT.finditer(text):
        heard = m.group(1)
        if (
            heard in lexicon.drug_names
            or _NOT_SHORT_NAME.search(heard)
            or any(s <= m.start(1) < s + len(n) for s, n in spans)
            or not (
                _OPENS_NAME.search(text[max(0, m.start(1) - 2) : m.start(1)])
                or ((u := _SHORT_NAME_UNIT.search(text, m.end(1))) and _SHORT_NAME_SIG.match(text, u.end()))
            )
        ):
            continue  # …血脂肯定二十毫克够了: a word inside a sentence, not a name (a pause or verb before it,
            # or a frequency after its strength: 高血压肯定十毫克每晚一次)
        a, tones = pinyin_syllables(heard)
        close = []
        for name in lexicon.drug_names:
            term = lexicon.by_text.get(name)
            if len(name) != 2 or term is None or term.term_id is None:
                continue
            if [t[-1] for t in tones] != [t[-1] for t in term.tones]:
                continue
            sims = [syllable_similarity(x, y) for x, y in zip(a, term.pinyin, strict=True)]
            if min(sims) >= 0.6 and max(sims) == 1.0:
                close.append(name)
        if len(close) == 1:
            why = f"a two-character drug name opening a clause before its strength, heard as {heard}"
            term = lexicon.by_text[close[0]]
            match = Match(m.start(1), heard, close[0], "drug", term.term_id, 0.9, why)
            out.append(((0.9, 2, 0.9), match))
    for m in _TIMES_HEARD.finditer(text):
        if drug_before(m.start(), 40) is not None:
            out.append(_match(m.start(2), m.group(2), "次", f"次 of a frequency, heard as {m.group(2)}"))
    for m in _ONCE_BEFORE_TAKING.finditer(text):
        if drug_before(m.start(), 40) is not None:
            out.append(
                _match(m.start(), m.group(1), "一次", f"一次 before a count taken, heard as {m.group(1)}")
            )
    for m in _WEEKS_HEARD.finditer(text):
        if drug_before(m.start(), 80) is None:
            continue
        heard = m.group(0)
        out.append(_match(m.start(), heard, "四周", f"开四周 at a clause end, heard as 开{heard}"))
    return out
