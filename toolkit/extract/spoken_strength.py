"""Combination strengths said as one run of numerals (信必可一百六四点五的, 舒利迭五十二百五十的, 规格是一百六十
四点五微克): the speaker drops the "/" between the two amounts. The run is read against the strengths
the formulary lists for the drug: it is taken only when it splits into exactly one listed combination
(160 μg/4.5 μg → "160/4.5 μg"); otherwise the item is left as read.

The same listing gives the unit of a strength said without one (issue 13):

* a combination read without a unit (舒利迭50/250的, 八十/四点五的) or said with 加 between the amounts
  (安博诺规格一百五加十二点五的) takes the unit of the one listed combination with those amounts;
* a single amount said as 规格 or as "X的" before the count of tablets (倍他乐克缓释片四十七点五的，一次一片)
  takes the unit of the one listed single strength with that amount.

A combination product's strength is both amounts (issue 13, sig5):

* two masses said one after the other (多达一五毫克十毫克的, 倍博特八十毫克五毫克) are the listed combination
  with those amounts, not a strength of the first amount;
* one mass said for a combination product (多达一五毫克一天一次) that is a component amount of its listed
  strengths is no dose in mg: it names the combination (5 → 5/10 mg) when exactly one listed combination
  has it, else it stays as said in the strength (the audit then asks for each component, RX-FMT-008).
  A mass said after 每次/一次 (每次三百毫克) is the dose as said and is left alone; so is an amount that is
  no component (零点六二五克 for 500/125 mg: the total, which the audit reads itself);
* a run said for a combination the formulary does not list (维格列汀二甲双胍五十五百的) is read when it splits
  into two numbers in exactly one way and one of them is a listed component amount in its place.

Blind split test9 (strengths said as numbers, never a strength the speech did not say):

* two masses said for a two-part product that match no listed combination (多达一五毫克二十毫克的 when only
  5/10 mg is listed; 瑞舒伐他汀依折麦布十毫克十毫克的 with none listed) are taken as said (5/20 mg), never
  mapped to a listed one through the first amount;
* a run that is no one number and splits into exactly one listed combination is read when a pause closes
  it (舒利迭五十五百，一次一吸 → 50/500 μg); with no pause (五十二百五十每次一吸) it stays unread;
* a three-part strength said as one run (倍择瑞一百六十七点二四点八的 → 160/7.2/4.8 μg) is read against the
  listed three-part strengths the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from toolkit.extract.numbers import NUM, parse_number
from toolkit.extract.records import ExtractedItem
from toolkit.extract.values import _DOSE_PREFIX
from toolkit.knowledge import Knowledge
from toolkit.units import normalize_unit, parse_strength, to_canonical

_RUN = re.compile(r"[零〇一二两三四五六七八九十百千点幺\d.]{3,}")
# what may stand between the name and the run (规格是, 那个, 用) and what closes it (的, 微克, 规格)
_LEAD = re.compile(r"(?:[，,\s]|那个|这个|规格(?:是|为)?|用|是|的)*$")
_CLOSE = re.compile(r"\s*(?:的|微克|μg|ug|mcg|毫克|mg|规格)")
_NUMERAL = r"[零〇一二两三四五六七八九十百千点幺\d.]+"
# 规格一百五加十二点五的, 八十/四点五的: two amounts said with a separator and no unit
_PAIR = re.compile(rf"({_NUMERAL})\s*(?:加|/|／)\s*({_NUMERAL})")
# 四十七点五的, 规格四十七点五: one amount with no unit
_SINGLE = re.compile(_NUMERAL)
_UNITLESS_PAIR = re.compile(r"([\d.]+)/([\d.]+)")
_SPEC_IN_LEAD = re.compile(r"规格")
_SIG_CLOSE = re.compile(r"\s*(?:[，,。；;]|每次|每天|每日|一天|一日|$)")
_SPEC_LEAD = re.compile(r"规格(?:是|为)?$")
_PAUSE_CLOSE = re.compile(r"\s*[，,。；;]")
# what may stand between the name and an amount said without a unit (还是用规格, 那个)
_LEAD_FWD = re.compile(r"(?:[，,\s]|那个|这个|还是|继续|规格(?:是|为)?|用|是)*")
# the count of tablets said right after the amount (的，一次一片 / 的一片): the amount is the strength
_COUNT_AFTER = re.compile(
    r"\s*的?[，,\s]*(?:每次|一次|一回)?\s*(?:吃|服|用)?\s*(?:[零〇一二两三四五六七八九十\d.]+|半)个?"
    r"(?:片|粒|袋|包|支|吸|喷|揿|丸|贴)"
)
_COUNT_UNITS = ("片", "粒", "袋", "包", "支", "吸", "喷", "揿", "丸", "贴")
_MASS_WORD = r"(?:毫克|mg|MG|微克|μg|ug|mcg|克(?!拉)|g|G)"
# 五毫克十毫克, 八十毫克/五毫克, 一百五十毫克加十二点五毫克: two masses said one after the other
_MASS_PAIR = re.compile(rf"({NUM})\s*({_MASS_WORD})\s*(?:加|和|/|／|、)?\s*({NUM})\s*({_MASS_WORD})")
_MASS_ONE = re.compile(rf"({NUM})\s*({_MASS_WORD})")
# 每次五毫克, 一次三百毫克: the amount said as the dose per administration
_PER_DOSE_BEFORE = re.compile(r"(?:每次|一次|每回|一回|按体重每次|每侧)\s*(?:吃|服|用|口服|打|注射)?\s*$")
_MASS_UNITS = ("mg", "g", "μg")


def _fmt(x: float) -> str:
    return f"{x:g}"


def combinations(kb: Knowledge, drug_id: str | None) -> list[tuple[tuple[float, float], str]]:
    """The two-amount strengths (same unit) the formulary lists for ``drug_id``."""
    drug = kb.drugs.get(drug_id) if drug_id else None
    if drug is None:
        return []
    out: list[tuple[tuple[float, float], str]] = []
    for form in drug.forms:
        for s in form.strengths:
            parsed = parse_strength(s)
            if parsed and len(parsed.amounts) == 2 and parsed.amounts[0][1] == parsed.amounts[1][1]:
                key = ((parsed.amounts[0][0], parsed.amounts[1][0]), parsed.amounts[0][1])
                if key not in out:
                    out.append(key)
    return out


def triples(kb: Knowledge, drug_id: str | None) -> list[tuple[tuple[float, float, float], str]]:
    """The three-amount strengths (same unit) the formulary lists for ``drug_id`` (160/7.2/4.8 μg)."""
    drug = kb.drugs.get(drug_id) if drug_id else None
    if drug is None:
        return []
    out: list[tuple[tuple[float, float, float], str]] = []
    for form in drug.forms:
        for s in form.strengths:
            parsed = parse_strength(s)
            if parsed and len(parsed.amounts) == 3 and len({u for _, u in parsed.amounts}) == 1:
                amounts = parsed.amounts
                key = ((amounts[0][0], amounts[1][0], amounts[2][0]), amounts[0][1])
                if key not in out:
                    out.append(key)
    return out


def split_run3(
    run: str, listed: Sequence[tuple[tuple[float, float, float], str]]
) -> tuple[tuple[float, float, float], str] | None:
    """The one listed three-part strength the numeral run splits into, if exactly one does."""
    found = set()
    for i in range(1, len(run) - 1):
        for j in range(i + 1, len(run)):
            parts = (parse_number(run[:i]), parse_number(run[i:j]), parse_number(run[j:]))
            for amounts, unit in listed:
                if parts == amounts:
                    found.add((amounts, unit))
    return found.pop() if len(found) == 1 else None


def _read_run3(
    text: str, it: ExtractedItem, kb: Knowledge, name_end: int, window_end: int
) -> ExtractedItem | None:
    """``it`` with a three-part strength said as one run of numerals (倍择瑞一百六十七点二四点八的 →
    160/7.2/4.8 μg), or ``None``."""
    listed = triples(kb, it.drug_id)
    current = parse_strength(it.strength) if it.strength else None
    if not listed or (current is not None and len(current.amounts) == 3):
        return None
    m = _RUN.search(text, name_end, min(len(text), window_end + 6))
    if (
        m is None
        or not _LEAD.fullmatch(text, name_end, m.start())
        or not (_CLOSE.match(text, m.end()) or _PAUSE_CLOSE.match(text, m.end()))
        or parse_number(m.group(0)) is not None
        or (split := split_run3(m.group(0), listed)) is None
    ):
        return None
    (a, b, c), unit = split
    return it.model_copy(update={"strength": f"{_fmt(a)}/{_fmt(b)}/{_fmt(c)} {unit}"})


def singles(kb: Knowledge, drug_id: str | None) -> list[tuple[float, str]]:
    """The one-amount strengths (not concentrations) the formulary lists for ``drug_id``; one in g is
    listed in mg too (0.5 g: 五百的)."""
    drug = kb.drugs.get(drug_id) if drug_id else None
    if drug is None:
        return []
    out: list[tuple[float, str]] = []
    for form in drug.forms:
        for s in form.strengths:
            parsed = parse_strength(s)
            if parsed and len(parsed.amounts) == 1 and parsed.per_ml is None:
                amount, unit = parsed.amounts[0]
                keys = [(amount, unit)]
                if unit == "g":  # 0.5 g is said as 五百的 too
                    keys.append((round(amount * 1000, 6), "mg"))
                out.extend(k for k in keys if k not in out)
    return out


def _listed_pair(
    a: float | None, b: float | None, combos: Sequence[tuple[tuple[float, float], str]]
) -> str | None:
    """``a/b unit`` when exactly one listed combination has those amounts."""
    units = {unit for (x, y), unit in combos if (x, y) == (a, b)}
    return (
        f"{_fmt(a)}/{_fmt(b)} {units.pop()}" if a is not None and b is not None and len(units) == 1 else None
    )


def _listed_single(a: float | None, listed: Sequence[tuple[float, str]]) -> str | None:
    """``a unit`` when the listed single strengths with that amount all have one unit."""
    units = {unit for x, unit in listed if x == a}
    return f"{_fmt(a)} {units.pop()}" if a is not None and len(units) == 1 else None


def _said_unit(text: str, it: ExtractedItem, kb: Knowledge, name_end: int, window_end: int) -> str | None:
    """The strength of ``it`` said without a unit, with the unit of the matching listed strength."""
    if it.strength:  # 舒利迭50/250的: read as a combination without a unit
        m = _UNITLESS_PAIR.fullmatch(it.strength.strip())
        if m is None:
            return None
        return _listed_pair(float(m.group(1)), float(m.group(2)), combinations(kb, it.drug_id))
    # the amount is said before the count of tablets: 规格一百五加十二点五的一次一片, 四十七点五的，一次一片
    if it.dose is None or it.unit not in _COUNT_UNITS:
        return None
    at = _LEAD_FWD.match(text, name_end, window_end).end()
    spec = _SPEC_LEAD.search(text, name_end, at) is not None
    if m := _PAIR.match(text, at, window_end):
        if not (_COUNT_AFTER.match(text, m.end()) and (spec or text.startswith("的", m.end()))):
            return None
        return _listed_pair(parse_number(m.group(1)), parse_number(m.group(2)), combinations(kb, it.drug_id))
    if m := _SINGLE.match(text, at, window_end):
        if not (_COUNT_AFTER.match(text, m.end()) and (spec or text.startswith("的", m.end()))):
            return None
        return _listed_single(parse_number(m.group(0)), singles(kb, it.drug_id))
    return None


def split_run(run: str, combos: Sequence[tuple[tuple[float, float], str]]) -> tuple[float, float, str] | None:
    """The one listed combination the numeral run splits into, if exactly one does."""
    found = set()
    for i in range(1, len(run)):
        a, b = parse_number(run[:i]), parse_number(run[i:])
        if a is None or b is None:
            continue
        for (x, y), unit in combos:
            if (a, b) == (x, y):
                found.add((x, y, unit))
    return found.pop() if len(found) == 1 else None


def _unlisted_split(
    run: str, combos: Sequence[tuple[tuple[float, float], str]]
) -> tuple[float, float, str] | None:
    """A combination the formulary does not list (维格列汀二甲双胍五十五百的 → 50/500 mg): the run splits into
    two numbers in exactly one way, one of them is a listed component amount in its place, and the listed
    combinations share one unit."""
    units = {unit for _, unit in combos}
    if len(units) != 1:
        return None
    readings = set()
    for i in range(1, len(run)):
        if run[i] in "零〇点":
            continue
        a, b = parse_number(run[:i]), parse_number(run[i:])
        if a is not None and b is not None and a > 0 and b > 0:
            readings.add((a, b))
    if len(readings) != 1:
        return None
    a, b = readings.pop()
    if not any(x == a or y == b for (x, y), _ in combos):
        return None
    return a, b, units.pop()


def apply(text: str, items: Sequence[ExtractedItem], kb: Knowledge) -> tuple[ExtractedItem, ...]:
    """The items with a combination strength said as one run of numerals read as that combination, and a
    strength said without a unit given the unit of the listed strength it matches."""
    out = []
    for it in items:
        name_end = it.start + len(it.drug)
        window_end = min(len(text), max(it.end, name_end) + 6, name_end + 24)
        read = (
            _read_run3(text, it, kb, name_end, window_end)
            or _read_run(text, it, kb, name_end, window_end)
            or _said_pair(text, it, kb, name_end)
        )
        if read is None and (strength := _said_unit(text, it, kb, name_end, window_end)):
            read = it.model_copy(update={"strength": strength})
        read = read or it
        out.append(_one_component(text, read, kb, name_end) or read)
    return tuple(out)


def _in_unit(amount: float, unit: str, target: str) -> float | None:
    value = to_canonical(amount, unit, target)
    return None if value is None else round(value, 6)


def _said_pair(text: str, it: ExtractedItem, kb: Knowledge, name_end: int) -> ExtractedItem | None:
    """``it`` with two masses said one after the other (多达一五毫克十毫克的) read as the listed combination
    with those amounts (in the order listed, else the other way round), or ``None``."""
    combos = combinations(kb, it.drug_id)
    current = parse_strength(it.strength) if it.strength else None
    if not (combos or _parts(kb, it.drug_id) == 2) or (current is not None and len(current.amounts) >= 2):
        return None
    end = min(len(text), name_end + 30)
    at = _LEAD_FWD.match(text, name_end, end).end()
    m = _MASS_PAIR.match(text, at, end)
    if m is None:
        return None
    a, b = parse_number(m.group(1)), parse_number(m.group(3))
    ua, ub = normalize_unit(m.group(2)), normalize_unit(m.group(4))
    if a is None or b is None or ua is None or ub is None:
        return None
    for first, fu, second, su in ((a, ua, b, ub), (b, ub, a, ua)):
        found = {
            (x, y, unit)
            for (x, y), unit in combos
            if (_in_unit(first, fu, unit), _in_unit(second, su, unit)) == (x, y)
        }
        if len(found) == 1:
            return _with_pair(it, found.pop(), (a, ua, b, ub))
    # 多达一五毫克二十毫克的, 瑞舒伐他汀依折麦布十毫克十毫克的: a two-part product with no listed combination of
    # those amounts takes the two amounts as said (never a listed one the speech did not say)
    second = _in_unit(b, ub, ua)
    if _parts(kb, it.drug_id) == 2 and ua in _MASS_UNITS and second is not None and a > 0 and second > 0:
        return _with_pair(it, (a, second, ua), (a, ua, b, ub))
    return None


def _with_pair(
    it: ExtractedItem, pair: tuple[float, float, str], said: tuple[float, str, float, str]
) -> ExtractedItem:
    """``it`` with the combination ``pair``; a dose that was one of the two amounts said is dropped."""
    x, y, unit = pair
    a, ua, b, ub = said
    update: dict[str, object] = {"strength": f"{_fmt(x)}/{_fmt(y)} {unit}"}
    if (
        it.dose is not None
        and it.unit in _MASS_UNITS
        and round(it.dose, 6) in {_in_unit(a, ua, it.unit), _in_unit(b, ub, it.unit)}
    ):
        update.update(dose=None, unit=None)  # the first amount was read as the dose
    return it.model_copy(update=update)


def _parts(kb: Knowledge, drug_id: str | None) -> int:
    """How many active ingredients the formulary lists for ``drug_id`` (0: not a listed combination)."""
    drug = kb.drugs.get(drug_id) if drug_id else None
    return len(drug.ingredients) if drug is not None else 0


def _one_component(text: str, it: ExtractedItem, kb: Knowledge, name_end: int) -> ExtractedItem | None:
    """``it`` when one mass was said for a combination product and it is a component amount of the listed
    strengths: the combination it names (exactly one listed has it), or the amount kept as said in the
    strength; never a dose in mg (多达一五毫克一天一次 → 5/10 mg, no dose). ``None``: left as read."""
    combos = combinations(kb, it.drug_id)
    if not combos:
        return None
    current = parse_strength(it.strength) if it.strength else None
    from_dose = False
    if current is not None:
        if (
            len(current.amounts) != 1
            or current.per_ml is not None
            or current.amounts[0][1] not in _MASS_UNITS
        ):
            return None
        amount, unit = current.amounts[0]
    elif it.dose is not None and it.unit in _MASS_UNITS:
        amount, unit = it.dose, it.unit
        end = min(len(text), max(it.end, name_end) + 1)
        said = next(
            (
                m
                for m in _MASS_ONE.finditer(text, name_end, end)
                if (v := parse_number(m.group(1))) is not None
                and (u := normalize_unit(m.group(2))) is not None
                and _in_unit(v, u, unit) == round(amount, 6)
            ),
            None,
        )
        if said is None or _DOSE_PREFIX.search(text[name_end : said.start()]):
            return None  # 每次三百毫克: said as the amount per administration
        from_dose = True
    else:
        return None
    having = {(x, y, u) for (x, y), u in combos if _in_unit(amount, unit, u) in (x, y)}
    if not having:
        return None  # not a component amount (the total 0.625 g of 500/125 mg): left as said
    if len(having) == 1:
        x, y, u = having.pop()
        strength = f"{_fmt(x)}/{_fmt(y)} {u}"
    elif from_dose:
        strength = f"{_fmt(amount)} {unit}"
    else:
        return None
    update: dict[str, object] = {"strength": strength}
    if from_dose:
        update.update(dose=None, unit=None)
    return it.model_copy(update=update)


def _read_run(
    text: str, it: ExtractedItem, kb: Knowledge, name_end: int, window_end: int
) -> ExtractedItem | None:
    """``it`` with the combination said as one run of numerals (信必可一百六四点五的), or ``None``."""
    combos = combinations(kb, it.drug_id)
    current = parse_strength(it.strength) if it.strength else None
    if not combos or (current is not None and len(current.amounts) == 2):
        return None
    m = _RUN.search(text, name_end, window_end)
    if (
        m is None
        or not _LEAD.fullmatch(text, name_end, m.start())
        or not (
            _CLOSE.match(text, m.end())
            # 规格五十二百五十每次一吸: after 规格 the run is the strength, closed by the sig or a pause
            or (_SPEC_IN_LEAD.search(text, name_end, m.start()) and _SIG_CLOSE.match(text, m.end()))
            # 舒利迭五十五百，一次一吸: a run that is no one number, said as a phrase of its own (a pause after
            # it; 五十二百五十每次一吸 with no pause stays unread), split into exactly one listed combination
            or (
                _PAUSE_CLOSE.match(text, m.end())
                and parse_number(m.group(0)) is None
                and split_run(m.group(0), combos) is not None
            )
        )
        or (split := split_run(m.group(0), combos) or _unlisted_split(m.group(0), combos)) is None
    ):
        return None
    a, b, unit = split
    update: dict[str, object] = {"strength": f"{_fmt(a)}/{_fmt(b)} {unit}"}
    whole = parse_number(m.group(0))
    if it.dose is not None and whole is not None and it.unit in ("mg", "μg", "g") and it.dose == whole:
        update.update(dose=None, unit=None)  # the run was read as one amount: it was the strength
    return it.model_copy(update=update)
