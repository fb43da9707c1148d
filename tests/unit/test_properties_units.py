"""Property-based tests of the prescription parsers in toolkit/units.py (issue 7).

No parser may crash on arbitrary text, and none may return a silently wrong number or unit:
a generated "<number><unit>" must come back as exactly that number and unit, and every
frequency it reads must be a per-day rate in (0, 24].
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.units import (
    _UNIT_ALIASES,
    ROUTES,
    Frequency,
    Strength,
    cn_small_number,
    normalize_route,
    normalize_unit,
    parse_frequency,
    parse_strength,
)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CN = "零一二三四五六七八九"

# text that looks like what prescribers type: digits, units, Chinese, separators, noise
TOKENS = [
    *"0123456789.,/:*x×mgMGuμlL片粒次日天每周小时隔半十一二两三四五六七八九qdbitnhrp ()（）",
    "mg",
    "g",
    "ml",
    "μg",
    "IU",
    "万U",
    "毫克",
    "prn",
    "必要时",
]
prescription_text = st.lists(st.sampled_from(TOKENS), max_size=12).map("".join)
any_text = st.one_of(st.text(max_size=30), prescription_text)


def to_chinese(n: int) -> str:
    """0..99 written the way a prescriber writes it (十二, 二十, 二十四, 五)."""
    if n < 10:
        return CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN[tens]) + "十" + (CN[ones] if ones else "")


# --------------------------------------------------------------------------- no crash


@FAST
@given(any_text)
def test_parsers_never_crash_and_return_their_types(text: str) -> None:
    s = parse_strength(text)
    assert s is None or isinstance(s, Strength)
    f = parse_frequency(text)
    assert f is None or isinstance(f, Frequency)
    u = normalize_unit(text)
    assert u is None or u in set(_UNIT_ALIASES.values())
    r = normalize_route(text)
    assert r is None or r in ROUTES
    n = cn_small_number(text)
    assert n is None or (isinstance(n, float) and not math.isnan(n))


# --------------------------------------------------------------------------- strengths

MASS_UNITS = {
    "mg": "mg",
    "g": "g",
    "μg": "μg",
    "ug": "μg",
    "mcg": "μg",
    "毫克": "mg",
    "克": "g",
    "微克": "μg",
    "IU": "U",
    "单位": "U",
    "万单位": "万U",
}
amount = st.one_of(
    st.integers(min_value=0, max_value=100_000).map(float),
    st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False).map(float),
)


def _fmt(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


@FAST
@given(amount, st.sampled_from(sorted(MASS_UNITS)), st.sampled_from(["", " "]))
def test_strength_returns_exactly_the_number_and_unit_written(x: float, unit: str, space: str) -> None:
    text = f"{_fmt(x)}{space}{unit}"
    s = parse_strength(text)
    assert s is not None, text
    assert s.amounts == ((float(_fmt(x)), MASS_UNITS[unit]),)
    assert s.per_ml is None


@FAST
@given(amount, amount, st.sampled_from(["mg", "g", "μg"]), st.integers(min_value=1, max_value=100))
def test_combination_strength_and_pack_size(a: float, b: float, unit: str, pack: int) -> None:
    # '160/4.5μg*20片': the unit written once applies to both parts; the pack size is ignored
    s = parse_strength(f"{_fmt(a)}/{_fmt(b)}{unit}*{pack}片")
    assert s is not None
    assert s.amounts == ((float(_fmt(a)), unit), (float(_fmt(b)), unit))


@FAST
@given(amount, st.integers(min_value=1, max_value=500))
def test_liquid_strength_per_ml(a: float, ml: int) -> None:
    s = parse_strength(f"{_fmt(a)}mg/{ml}ml")
    assert s is not None and s.amounts == ((float(_fmt(a)), "mg"),) and s.per_ml == float(ml)


@FAST
@given(amount)
def test_strength_without_any_unit_is_refused(x: float) -> None:
    assert parse_strength(_fmt(x)) is None  # a bare number never gets a guessed unit


# --------------------------------------------------------------------------- frequencies

frequency_text = st.tuples(
    st.sampled_from(["每", "一", "1", "q", "", "隔"]),
    st.one_of(
        st.integers(min_value=0, max_value=120).map(str),
        st.integers(min_value=0, max_value=99).map(lambda n: to_chinese(n)),
        st.sampled_from(["0.5", "1.5", "半", "两"]),
    ),
    st.sampled_from(["日", "天", "周", "星期", "月", "小时", "h", "d"]),
    st.sampled_from(["次", "一次", "1次", ""]),
    st.sampled_from(["", " prn", "必要时", "(prn)"]),
).map(lambda p: p[0] + p[1] + p[2] + p[3] + p[4] if p[0] != "q" else f"q{p[1]}{p[2]}{p[4]}")


@FAST
@given(st.one_of(any_text, frequency_text))
def test_every_frequency_read_is_a_rate_in_0_24_per_day(text: str) -> None:
    f = parse_frequency(text)
    if f is not None and f.per_day is not None:
        assert 0 < f.per_day <= 24, (text, f)
    if f is not None and f.per_day is None:
        assert f.prn, (text, f)  # only a bare prn has no rate


@FAST
@given(
    st.integers(min_value=1, max_value=24),
    st.sampled_from(["日", "天"]),
    st.sampled_from(["每", "一"]),
    st.booleans(),
)
def test_chinese_times_per_day(n: int, day: str, lead: str, chinese: bool) -> None:
    count = to_chinese(n) if chinese else str(n)
    f = parse_frequency(f"{lead}{day}{count}次")
    assert f is not None and f.per_day == n


@FAST
@given(st.sampled_from([1, 2, 3, 4, 6, 8, 12, 24]), st.booleans())
def test_every_n_hours(hours: int, prn: bool) -> None:
    f = (
        parse_frequency(f"q{hours}h" + (" prn" if prn else ""))
        if hours in (4, 6, 8, 12, 24)
        else parse_frequency(f"每{hours}小时一次")
    )
    assert f is not None and f.per_day == 24 / hours and f.prn == (prn and hours in (4, 6, 8, 12, 24))


@FAST
@given(
    st.sampled_from(["qd", "bid", "tid", "qid", "q8h", "qn", "qod", "qw"]),
    st.sampled_from([str.upper, str.lower, str.title]),
    st.sampled_from(["", " ", "."]),
)
def test_latin_codes_ignore_case_spaces_and_dots(code: str, case, junk: str) -> None:
    expected = parse_frequency(code)
    assert expected is not None
    assert parse_frequency(junk + case(code) + junk) == expected


# --------------------------------------------------------------------------- Chinese numbers, units, routes


@FAST
@given(st.integers(min_value=0, max_value=99))
def test_cn_small_number_matches_int_to_chinese(n: int) -> None:
    assert cn_small_number(to_chinese(n)) == float(n)
    assert cn_small_number(to_chinese(n) + "半") == n + 0.5
    assert cn_small_number(str(n)) == float(n)


@FAST
@given(
    st.sampled_from(sorted(_UNIT_ALIASES)),
    st.sampled_from([str.upper, str.lower, lambda s: s]),
    st.sampled_from(["", " ", "  "]),
)
def test_unit_aliases_round_trip(alias: str, case, pad: str) -> None:
    canonical = _UNIT_ALIASES[alias]
    assert normalize_unit(pad + case(alias) + pad) == canonical
    assert normalize_unit(alias) == canonical
    assert normalize_unit(canonical) == canonical  # canonical forms are fixed points


@FAST
@given(st.sampled_from(ROUTES))
def test_canonical_routes_are_fixed_points(route: str) -> None:
    assert normalize_route(route) == route
    assert normalize_route(f" {route} ") == route


# --------------------------------------------------------------------------- bugs these properties found (fixed)
# parse_frequency dropped every '.' (meant for 'q.d.', 'b.i.d.'), reading a decimal count or interval ten
# times off, and accepted more than 24 administrations a day.


@FAST
@given(st.sampled_from(["0.5", "1.5", "2.5", "0.25"]))
def test_decimal_interval_is_read_or_refused_never_misread(hours: str) -> None:
    for text, expected in ((f"每{hours}小时一次", 24 / float(hours)), (f"每日{hours}次", float(hours))):
        f = parse_frequency(text)
        if f is not None and not (f.per_day is not None and math.isclose(f.per_day, expected)):
            raise AssertionError(f"{text!r} read as {f}")


@FAST
@given(st.integers(min_value=25, max_value=500))
def test_more_than_24_administrations_a_day_is_refused(n: int) -> None:
    f = parse_frequency(f"一日{n}次")
    assert f is None or (f.per_day is not None and f.per_day <= 24), f
