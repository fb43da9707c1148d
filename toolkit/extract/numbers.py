"""Spoken and written numbers as dictated: 一百六十, 一百五 (=150), 三十七度八, 七点八, 一三二, 0.5, 半.

ASR writes numbers either as digits or as Chinese numerals, and doctors speak them in
colloquial shapes: 一百五 means 150, 五百二 means 520, 一三二 (digit by digit) means 132.
Every parser returns ``None`` for text it cannot read rather than guessing.
"""

from __future__ import annotations

import math

from toolkit.units import CN_DIGITS as _WRITTEN_DIGITS

CN_DIGITS = {**_WRITTEN_DIGITS, "幺": 1}  # 幺: 1 as said in numbers read digit by digit (幺三二)
_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_NUMERAL_CHARS = "零〇一二两三四五六七八九十百千点幺"

# A number as it appears in dictation: Arabic (with a decimal point) or a run of Chinese numerals.
NUM = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千幺](?:[零〇一二两三四五六七八九十百千幺]|点(?=[零〇一二三四五六七八九]))*)"

_FULLWIDTH = str.maketrans({chr(0xFF01 + i): chr(0x21 + i) for i in range(94)} | {"\u3000": " "})


def fold_width(text: str) -> str:
    """Full-width ASCII (１６０／１００ｍｍＨｇ) to half-width; keeps the length, so offsets stay valid."""
    return text.translate(_FULLWIDTH)


def _cn_integer(text: str) -> int | None:
    """Chinese integer with 十/百/千, including colloquial tails (一百五 = 150, 五百二 = 520, 一千二 = 1200)."""
    if not text:
        return None
    if not any(c in _UNITS for c in text):
        if all(c in CN_DIGITS for c in text) and not (len(text) > 1 and text[0] in "零〇"):
            return int("".join(str(CN_DIGITS[c]) for c in text))  # digit by digit: 一三二 = 132
        return None
    total, current, last_unit, zero_seen = 0, None, 0, False
    for c in text:
        if c in CN_DIGITS:
            d = CN_DIGITS[c]
            if d == 0:
                zero_seen = True
            elif current is not None:
                return None  # two digits in a row inside a unit number (一百二三)
            else:
                current = d
            continue
        if c not in _UNITS:
            return None
        u = _UNITS[c]
        if last_unit and u >= last_unit:
            return None  # 十百, 百百
        if current is None:
            if c != "十" or total:
                return None
            current = 1  # leading 十 (十二 = 12)
        total += current * u
        current, last_unit, zero_seen = None, u, False
    if current is not None:
        # colloquial tail: 一百五 = 150, 一千二 = 1200; after 零 it is a unit digit (一百零五 = 105)
        total += current * (last_unit // 10) if last_unit >= 100 and not zero_seen else current
    return total


def parse_number(text: str | None) -> float | None:
    """Read a number written in digits or spoken in Chinese: '160', '7.8', '一百六十', '七点八', '一百五', '半'."""
    if text is None:
        return None
    t = fold_width(text).strip().replace(" ", "")
    if not t:
        return None
    try:
        value = float(t)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) else None  # 'nan' and 'inf' are not amounts
    if t == "半":
        return 0.5
    if "点" in t:
        whole, _, frac = t.partition("点")
        w = _cn_integer(whole) if whole else 0
        if w is None or not frac or not all(c in CN_DIGITS for c in frac):
            return None
        return float(f"{w}.{''.join(str(CN_DIGITS[c]) for c in frac)}")
    n = _cn_integer(t)
    return None if n is None else float(n)


def parse_amount(text: str) -> float | None:
    """A dose amount: a number, 半, 一片半 style 'X半', or 一个半 (the counter 个 is optional)."""
    t = text.strip().removesuffix("个")
    if t.endswith("半") and len(t) > 1:
        base = parse_number(t[:-1].removesuffix("个"))
        return None if base is None else base + 0.5
    return parse_number(t)


def split_pair(
    text: str, first: tuple[float, float], second: tuple[float, float], first_greater: bool = True
) -> tuple[float, float] | None:
    """Split a run of spoken numerals into two numbers (一百六十九十五 → 160, 95; 一三二七八 → 132, 78).

    Tries every split point and keeps the readings where both halves are valid numbers inside
    their plausible ranges (and the first is greater when ``first_greater``). When several readings
    remain the one with the fewest characters in the second half wins only if it is unique;
    otherwise ``None`` (refuse to guess).
    """
    t = text.replace(" ", "")
    whole = parse_number(t)
    if whole is not None and first[0] <= whole <= first[1]:
        return None  # 一百六十 alone: 160, or 100/60? refuse to guess
    readings: list[tuple[float, float]] = []
    for i in range(1, len(t)):
        a, b = t[:i], t[i:]
        if b[0] in "零〇" or (b[0] in _UNITS and b[0] != "十"):
            continue
        x, y = parse_number(a), parse_number(b)
        if x is None or y is None:
            continue
        if not (first[0] <= x <= first[1] and second[0] <= y <= second[1]):
            continue
        if first_greater and x <= y:
            continue
        readings.append((x, y))
    if not readings:
        return None
    if len(set(readings)) == 1:
        return readings[0]
    # Prefer readings where each half is a 'whole' spoken number (一百六十|九十五 over 一百六|十九十五)
    whole = [r for r in set(readings) if r[0] % 1 == 0 and r[1] % 1 == 0]
    return whole[0] if len(whole) == 1 else None


_DURATION_UNIT_DAYS = {
    "天": 1,
    "日": 1,
    "d": 1,
    "周": 7,
    "星期": 7,
    "礼拜": 7,
    "w": 7,
    "月": 30,
    "个月": 30,
    "年": 365,
}


def duration_days(amount: str, unit: str) -> float | None:
    """'一个月' → 30, '两周' → 14, '28天' → 28, '半个月' → 15 (a month counts 30 days)."""
    n = parse_amount(amount)
    u = unit.lower()
    days = _DURATION_UNIT_DAYS.get(u) or _DURATION_UNIT_DAYS.get(u.removeprefix("个"))
    if n is None or days is None:
        return None
    return n * days


def is_numeral_run(text: str) -> bool:
    """True when ``text`` is made only of Chinese numeral characters."""
    return bool(text) and all(c in CN_NUMERAL_CHARS for c in text)


__all__ = [
    "CN_NUMERAL_CHARS",
    "NUM",
    "duration_days",
    "fold_width",
    "is_numeral_run",
    "parse_amount",
    "parse_number",
    "split_pair",
]
