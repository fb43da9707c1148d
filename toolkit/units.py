"""Parsers for what prescribers write: units, strengths, frequencies and routes.

Each parser returns ``None`` for text it cannot read rather than guessing; the
audit turns that into a finding so nothing passes silently.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

# --------------------------------------------------------------------------- numbers

CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
"""The Chinese digits, written and spoken (两 = 2); the one table of them (the dictation reader adds 幺)."""


def cn_small_number(text: str) -> float | None:
    """Read a small number written in digits or Chinese (一, 两, 十二, 二十四, 半, 1.5)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:  # float() also reads "nan", "inf", "1e3": only plain decimals are numbers here
        return value if math.isfinite(value) and not any(c.isalpha() for c in text) else None
    if text == "半":
        return 0.5
    if text.endswith("半"):
        base = cn_small_number(text[:-1].removesuffix("个"))
        return None if base is None else base + 0.5
    if all(ch in CN_DIGITS or ch == "十" for ch in text):
        if "十" not in text:
            return float(int("".join(str(CN_DIGITS[c]) for c in text))) if len(text) <= 3 else None
        tens, _, ones = text.partition("十")
        if "十" in ones:
            return None
        t = CN_DIGITS.get(tens) if tens else 1
        o = CN_DIGITS.get(ones) if ones else 0
        return None if t is None or o is None else float(t * 10 + o)
    return None


# --------------------------------------------------------------------------- units

MASS_TO_MG = {"g": 1000.0, "mg": 1.0, "μg": 0.001, "ng": 0.000001}
COUNT_UNITS = frozenset(["片", "粒", "丸", "袋", "支", "吸", "喷", "揿", "瓶", "贴", "滴", "包", "枚"])

_UNIT_ALIASES = {
    "g": "g",
    "克": "g",
    "gm": "g",
    "mg": "mg",
    "毫克": "mg",
    "μg": "μg",
    "µg": "μg",
    "ug": "μg",
    "mcg": "μg",
    "微克": "μg",
    "ng": "ng",
    "纳克": "ng",
    "u": "U",
    "iu": "U",
    "单位": "U",
    "国际单位": "U",
    "万u": "万U",
    "万单位": "万U",
    "ml": "ml",
    "毫升": "ml",
    "l": "L",
    "升": "L",
    "片": "片",
    "粒": "粒",
    "丸": "丸",
    "袋": "袋",
    "支": "支",
    "吸": "吸",
    "喷": "喷",
    "揿": "揿",
    "瓶": "瓶",
    "贴": "贴",
    "滴": "滴",
    "包": "包",
    "枚": "枚",
    "胶囊": "粒",
    "s": "片",
    "t": "片",
    "puff": "吸",
    "puffs": "吸",
    "tab": "片",
    "tabs": "片",
    "cap": "粒",
    "caps": "粒",
}


def normalize_unit(unit: str | None) -> str | None:
    """Canonical unit (g, mg, μg, U, ml, 片, 粒, 吸 …) or ``None`` when unknown."""
    if unit is None:
        return None
    u = unit.strip().replace(" ", "")
    return _UNIT_ALIASES.get(u.lower(), _UNIT_ALIASES.get(u))


def to_canonical(amount: float, unit: str, target: str) -> float | None:
    """Convert ``amount unit`` to ``target`` (mass units among themselves; U and ml only to themselves)."""
    if unit == target:
        return amount
    if unit in MASS_TO_MG and target in MASS_TO_MG:
        return amount * MASS_TO_MG[unit] / MASS_TO_MG[target]
    if unit == "万U" and target == "U":
        return amount * 10000
    if unit == "L" and target == "ml":
        return amount * 1000
    return None


# --------------------------------------------------------------------------- strengths


@dataclass(frozen=True, slots=True)
class Strength:
    """Amount of each ingredient per countable unit (or per ``per_ml`` ml for liquids)."""

    amounts: tuple[tuple[float, str], ...]
    per_ml: float | None = None


_NUM_UNIT = re.compile(
    r"(\d+(?:\.\d+)?)\s*(mg|g|μg|µg|ug|mcg|ng|iu|u|万u|ml|毫克|克|微克|单位|万单位|毫升)?", re.IGNORECASE
)


@lru_cache(maxsize=4096)
def parse_strength(text: str | None) -> Strength | None:
    """Parse '80 mg', '0.5g*20片', '80mg/5mg', '160/4.5 μg', '300U/3ml', '100 mg/5 ml'."""
    if not text:
        return None
    t = text.strip().replace("：", ":").replace("×", "*").replace("x", "*").replace("Ｘ", "*")
    t = re.split(r"[*＊]", t)[0]  # '0.5g*20片': pack size after the star
    parts = [p.strip() for p in re.split(r"[/:]", t) if p.strip()]
    if not parts:
        return None
    parsed: list[tuple[float, str | None]] = []
    for part in parts:
        m = _NUM_UNIT.fullmatch(part.replace(" ", "")) or _NUM_UNIT.match(part.replace(" ", ""))
        if not m:
            return None
        unit = normalize_unit(m.group(2)) if m.group(2) else None
        parsed.append((float(m.group(1)), unit))
    per_ml = None
    if len(parsed) >= 2 and parsed[-1][1] == "ml" and parsed[0][1] != "ml":
        per_ml = parsed[-1][0]
        parsed = parsed[:-1]
    # '160/4.5 μg': a unit written once at the end applies to every part
    last_unit = next((u for _, u in reversed(parsed) if u), None)
    if last_unit is None:
        return None
    amounts = tuple((a, u or last_unit) for a, u in parsed)
    if any(u == "ml" for _, u in amounts):
        return None
    return Strength(amounts=amounts, per_ml=per_ml)


# --------------------------------------------------------------------------- frequencies


@dataclass(frozen=True, slots=True)
class Frequency:
    """A parsed administration frequency (qd, bid, q8h, prn …): administrations per day and any note."""

    code: str  # qd, bid, tid, qid, qn, q8h, qod, qw, prn, st, "q6h prn" …
    per_day: float | None  # None for a bare prn; st counts as a single administration
    prn: bool = False  # as needed: per_day is then the most allowed ("q6h prn" → 4)
    note: str | None = None  # what the prescriber wrote beside it: "qd(晨服)" → 晨服, "q6h prn(体温≥38.5℃)"


_LATIN = {
    "qd": 1,
    "od": 1,
    "qm": 1,
    "qam": 1,
    "qn": 1,
    "qhs": 1,
    "hs": 1,
    "qpm": 1,
    "bid": 2,
    "tid": 3,
    "qid": 4,
    "q4h": 6,
    "q6h": 4,
    "q8h": 3,
    "q12h": 2,
    "q24h": 1,
    "q48h": 0.5,
    "q72h": 1 / 3,
    "qod": 0.5,
    "qw": 1 / 7,
    "biw": 2 / 7,
    "tiw": 3 / 7,
    "q2w": 1 / 14,
    "qow": 1 / 14,
    "q4w": 1 / 28,
    "st": 1,
    "stat": 1,
    "once": 1,
}
_CODE_FOR_PER_DAY = {1: "qd", 2: "bid", 3: "tid", 4: "qid", 6: "q4h", 0.5: "qod"}


_PRN = re.compile(r"\(?(prn|必要时|需要时|疼痛时|发热时|喘息时)\)?")


_PAREN = re.compile(r"[(（\[【]([^()（）\[\]【】]*)[)）\]】]")
_PRN_WORDS = ("prn", "sos", "必要时", "需要时", "疼痛时", "发热时", "喘息时")
# timing words HIS systems write into the frequency ("每晚睡前一次", "每日一次晨服"): kept as the note
_TIMING_WORDS = (
    "睡前",
    "晨服",
    "晨起",
    "早晨",
    "空腹",
    "早餐前",
    "早餐后",
    "餐前",
    "餐后",
    "饭前",
    "饭后",
    "随餐",
    "餐中",
    "三餐前",
    "三餐后",
    "顿服",
)


@lru_cache(maxsize=2048)
def parse_frequency(text: str | None) -> Frequency | None:
    """Latin (qd, Bid, q8h, prn, q6h prn) or Chinese (每日两次, 一日3次, 3次/日, 每晚一次, 隔日一次, 每周一次).

    What HIS systems write beside the frequency is kept as ``note``: a bracket (``qd(晨服)``,
    ``q6h prn(体温≥38.5℃)``) or a timing word (``每晚睡前一次`` → qn + 睡前). A bracket holding only
    "prn"/"必要时" is the as-needed mark, not a note.
    """
    if not text:
        return None
    t = text.strip().replace("（", "(").replace("）", ")")
    notes: list[str] = []

    def keep(m: re.Match[str]) -> str:
        inner = m.group(1).strip()
        if inner.lower().replace(" ", "") in _PRN_WORDS:
            return f"({inner})"
        if inner:
            notes.append(inner)
        return " "

    t = _PAREN.sub(keep, t)
    found = _parse_bare(t)
    if found is None:
        bare = t.lower().replace(" ", "")
        for word in _TIMING_WORDS:
            if word in bare and bare != word:
                found = _parse_bare(bare.replace(word, "", 1)) or (
                    _parse_bare("每晚一次")
                    if word == "睡前" and bare.replace(word, "", 1) in {"一次", "1次"}
                    else None
                )
                if found is not None:
                    notes.insert(0, word)
                    break
    if found is None:
        return None
    return Frequency(found.code, found.per_day, found.prn, "；".join(notes)) if notes else found


def _parse_bare(text: str) -> Frequency | None:
    # dots only between letters (q.d., b.i.d.): a decimal point in 每0.5小时 or 每日1.5次 stays
    t = re.sub(r"(?<=[a-z])\.|\.(?=[a-z])", "", text.strip().lower().replace(" ", ""))
    t = t.replace("（", "(").replace("）", ")")
    if not t:
        return None
    rest = _PRN.sub("", t)
    if rest != t and not rest:
        return Frequency("prn", None, prn=True)
    if rest != t:  # "q6h prn", "必要时每8小时一次": as needed, at most this often
        inner = _parse_plain(rest)
        found = (
            None
            if inner is None or inner.per_day is None
            else Frequency(f"{inner.code} prn", inner.per_day, prn=True)
        )
    else:
        found = _parse_plain(t)
    # more than 24 administrations a day is not a frequency anyone prescribes: refuse, never guess
    return None if found is not None and found.per_day is not None and found.per_day > 24 else found


def _parse_plain(t: str) -> Frequency | None:
    if t in _LATIN:
        code = {"od": "qd", "stat": "st", "once": "st", "qhs": "qn", "hs": "qn"}.get(t, t)
        return Frequency(code, float(_LATIN[t]))
    if t in {"prn", "sos", "必要时", "需要时", "临时"}:
        return Frequency("prn", None, prn=True)
    if t in {"立即", "立即使用", "一次", "单次", "顿服"}:
        return Frequency("st", 1.0)
    if t in {"每晚", "睡前", "每晚睡前", "每晚一次", "睡前一次", "每晚1次", "睡前1次"}:
        return Frequency("qn", 1.0)
    if t in {"每早", "晨起", "每早一次", "早上一次", "每早1次"}:
        return Frequency("qd", 1.0)
    if re.fullmatch(r"(隔日|隔天)(一|1)次", t) or t in {"隔日", "隔天"}:
        return Frequency("qod", 0.5)
    # "3次/日", "1次/周" (HIS frequency dictionaries); "3/周", "5/日": the codes this function gives
    m = re.fullmatch(r"(.+?)次?/(日|天|周|星期|月)", t)
    if m:
        t = f"每{m.group(2)}{m.group(1)}次"
    m = re.fullmatch(r"(?:每|一|1)(日|天|周|星期|月)(.+?)次", t)
    if m:
        n = cn_small_number(m.group(2))
        if n is None or n <= 0:
            return None
        period = {"日": 1, "天": 1, "周": 7, "星期": 7, "月": 30}[m.group(1)]
        per_day = n / period
        code = (
            _CODE_FOR_PER_DAY.get(per_day)
            if period == 1
            else ("qw" if n == 1 and period == 7 else f"{int(n)}/{m.group(1)}")
        )
        return Frequency(code or f"{n:g}/日", per_day)
    m = re.fullmatch(r"每(.+?)(小时|h)(一|1)?次?", t)
    if m:
        hours = cn_small_number(m.group(1))
        if hours and hours > 0:
            return Frequency(f"q{hours:g}h", 24 / hours)
    return None


# --------------------------------------------------------------------------- routes

ROUTES = (
    "口服",
    "舌下含服",
    "含服",
    "吸入",
    "皮下注射",
    "肌内注射",
    "静脉注射",
    "静脉滴注",
    "外用",
    "滴眼",
    "滴鼻",
    "滴耳",
    "直肠给药",
    "阴道给药",
    "鼻喷",
    "嚼服",
)

_ROUTE_ALIASES = {
    "po": "口服",
    "口服": "口服",
    "餐后口服": "口服",
    "饭后口服": "口服",
    "餐前口服": "口服",
    "饭前口服": "口服",
    "内服": "口服",
    "整片吞服": "口服",
    "吞服": "口服",
    "冲服": "口服",  # granules/powders dissolved in water and swallowed (颗粒剂、散剂说明书【用法用量】)
    "开水冲服": "口服",
    "温水冲服": "口服",
    "嚼服": "嚼服",
    "咀嚼": "嚼服",
    "sl": "舌下含服",
    "舌下": "舌下含服",
    "舌下含服": "舌下含服",
    "舌下含化": "舌下含服",
    "含化": "含服",
    "含服": "含服",
    "inh": "吸入",
    "吸入": "吸入",
    "雾化吸入": "吸入",
    "经口吸入": "吸入",
    "气雾吸入": "吸入",
    "干粉吸入": "吸入",
    "ih": "皮下注射",
    "h": "皮下注射",
    "sc": "皮下注射",
    "皮下": "皮下注射",
    "皮下注射": "皮下注射",
    "im": "肌内注射",
    "肌注": "肌内注射",
    "肌内注射": "肌内注射",
    "肌肉注射": "肌内注射",
    "iv": "静脉注射",
    "静推": "静脉注射",
    "静脉注射": "静脉注射",
    "静注": "静脉注射",
    "ivgtt": "静脉滴注",
    "ivdrip": "静脉滴注",
    "静滴": "静脉滴注",
    "静脉滴注": "静脉滴注",
    "静脉点滴": "静脉滴注",
    "外用": "外用",
    "局部外用": "外用",
    "涂患处": "外用",
    "外敷": "外用",
    "贴敷": "外用",
    "滴眼": "滴眼",
    "滴鼻": "滴鼻",
    "滴耳": "滴耳",
    "鼻喷": "鼻喷",
    "喷鼻": "鼻喷",
    "鼻腔喷入": "鼻喷",
    "鼻腔喷雾": "鼻喷",
    "喷鼻腔": "鼻喷",
    "鼻腔喷": "鼻喷",
    "pr": "直肠给药",
    "塞肛": "直肠给药",
    "直肠给药": "直肠给药",
    "阴道给药": "阴道给药",
}


def normalize_route(text: str | None) -> str | None:
    """Canonical route (口服, 吸入, 皮下注射 …) or ``None`` when unknown (see :func:`parse_route`)."""
    return parse_route(text)[0]


@lru_cache(maxsize=1024)
def parse_route(text: str | None) -> tuple[str | None, str | None]:
    """(canonical route, note) of a route as HIS systems write it.

    A bracket is the note: ``口服(随餐)`` → (口服, 随餐); ``口服(与第一口饭同嚼服)`` → (口服, 与第一口饭同嚼服):
    the written route word decides the route, what is in the bracket is kept for the pharmacist to read.
    A route word followed by a timing word (``口服 饭后``) is read the same way. Unknown text → (None, None).
    """
    if not text:
        return None, None
    t = text.strip().replace("（", "(").replace("）", ")")
    notes = [m.group(1).strip() for m in _PAREN.finditer(t) if m.group(1).strip()]
    bare = _PAREN.sub(" ", t).lower().replace(" ", "")
    route = _ROUTE_ALIASES.get(bare)
    if route is None and bare:
        for word in sorted(_TIMING_WORDS, key=len, reverse=True):
            if word in bare and bare != word and (route := _ROUTE_ALIASES.get(bare.replace(word, "", 1))):
                notes.insert(0, word)
                break
    if route is None:
        return None, None
    return route, "；".join(notes) or None


# --------------------------------------------------------------------------- ages


@dataclass(frozen=True, slots=True)
class Age:
    """An age as written: ``years`` for the checks, ``text`` as written (日/月龄 of infants, 处方管理办法 第六条)."""

    years: float
    text: str
    infant: bool = False  # under one year, or under three written in months, weeks or days


_AGE_UNITS = {
    "岁": 365.25,
    "y": 365.25,
    "年": 365.25,
    "个月": 30.4375,
    "月": 30.4375,
    "m": 30.4375,
    "周": 7.0,
    "w": 7.0,
    "天": 1.0,
    "日": 1.0,
    "d": 1.0,
}
_AGE_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(岁|个月|月|周|天|日|年|y|m|w|d)?", re.IGNORECASE)
MAX_AGE_YEARS = 130


@lru_cache(maxsize=4096)
def parse_age(text: str | None) -> Age | None:
    """'76', '76岁', '8月', '8个月', '3天', '2周', '1岁3个月', '3月15天', '76Y' → :class:`Age`; else ``None``.

    A bare number is years. Each unit may appear once, larger units first; a result over 130 years,
    a negative or an empty text is refused (``None``): never a guess.
    """
    if text is None:
        return None
    t = str(text).strip().replace(" ", "").replace("個", "个")
    if not t or len(t) > 24:
        return None
    pos, days, seen, last = 0, 0.0, [], float("inf")
    while pos < len(t):
        m = _AGE_PART.match(t, pos)
        if not m or m.end() == pos:
            return None
        unit = (m.group(2) or "").lower()
        if not unit:
            if seen or m.end() != len(t):  # a bare number only alone ('76'), never '1岁3'
                return None
            unit = "岁"
        size = _AGE_UNITS[unit]
        if size >= last:  # '3月1岁', '1岁1岁': not an age
            return None
        last = size
        seen.append(unit)
        days += float(m.group(1)) * size
        pos = m.end()
    years = days / 365.25
    if not math.isfinite(years) or years > MAX_AGE_YEARS:
        return None
    # 新生儿、婴幼儿 (under 3) written in 日/月龄: kept as written; a bare '8月' is always an infant's age
    infant = years < 1 or (years < 3 and any(u not in {"岁", "年", "y"} for u in seen))
    return Age(years=years, text=t, infant=infant)
