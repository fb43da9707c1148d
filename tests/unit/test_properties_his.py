"""Property tests of the HIS-format parsers (issue 14): ages with units, frequencies and routes with notes.

No parser crashes on arbitrary text; a generated age reads back as exactly its value; a note beside a
frequency or route never changes what is read and always comes back as the note.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.batch.readers import parse_date, patient_age
from toolkit.units import (
    _LATIN,
    _PRN_WORDS,
    _ROUTE_ALIASES,
    parse_age,
    parse_frequency,
    parse_route,
)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MONTH = 30.4375 / 365.25

noisy = st.text(
    alphabet=st.sampled_from(list("0123456789.岁个月周天日年YMDWymdw -()（）一二三半qdhbit/次每")),
    max_size=16,
)
# a note as HIS systems write it: Chinese words, signs and digits, no brackets
note = (
    st.text(
        alphabet=st.sampled_from(list("晨服随餐与第一口饭同嚼体温≥38.5℃疼痛时早晚饭后空腹慢")),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(lambda s: s and s.lower() not in _PRN_WORDS)
)  # a bracket holding only a prn word is the prn mark


@FAST
@given(noisy)
def test_parse_age_never_crashes_and_stays_in_range(text: str) -> None:
    age = parse_age(text)
    assert age is None or 0 <= age.years <= 130


@FAST
@given(st.integers(0, 130))
def test_years_read_back(years: int) -> None:
    for text in (str(years), f"{years}岁", f"{years} 岁", f"{years}Y"):
        age = parse_age(text)
        assert age is not None and age.years == years


@FAST
@given(st.integers(0, 17), st.integers(0, 11))
def test_years_and_months_read_back(years: int, months: int) -> None:
    age = parse_age(f"{years}岁{months}个月")
    assert age is not None and abs(age.years - (years + months * MONTH)) < 1e-9 and age.infant is (years < 3)


@FAST
@given(st.integers(0, 1000), st.sampled_from(["天", "日", "周", "月", "个月"]))
def test_infant_units_are_infant(n: int, unit: str) -> None:
    age = parse_age(f"{n}{unit}")
    assert age is not None and age.text == f"{n}{unit}" and age.infant is (age.years < 3)


@FAST
@given(
    st.dates(
        min_value=__import__("datetime").date(1900, 1, 1), max_value=__import__("datetime").date(2100, 1, 1)
    ),
    st.integers(0, 40000),
)
def test_age_from_birth_date_is_the_elapsed_time(born, days) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    on = born + dt.timedelta(days=days)
    if days / 365.25 > 130:
        return
    years = patient_age(None, born.isoformat(), on.isoformat(), [])
    assert years is not None and abs(years - days / 365.25) < 1e-9
    assert parse_date(on.strftime("%Y年%m月%d日")) == on == parse_date(on.strftime("%Y%m%d"))


@FAST
@given(st.text(max_size=30))
def test_frequency_and_route_never_crash(text: str) -> None:
    f = parse_frequency(text)
    assert f is None or f.per_day is None or 0 < f.per_day <= 24
    route, _note = parse_route(text)
    assert route is None or route in set(_ROUTE_ALIASES.values())


@FAST
@given(st.sampled_from(sorted(_LATIN)), note, st.sampled_from(["({})", "（{}）", " ({})"]))
def test_a_note_beside_a_frequency_is_kept_and_changes_nothing(code: str, text: str, bracket: str) -> None:
    plain = parse_frequency(code)
    noted = parse_frequency(code + bracket.format(text))
    assert plain is not None and noted is not None
    assert (noted.code, noted.per_day, noted.prn) == (plain.code, plain.per_day, plain.prn)
    assert noted.note == text


@FAST
@given(st.sampled_from(sorted(_ROUTE_ALIASES)), note)
def test_a_note_beside_a_route_is_kept_and_changes_nothing(alias: str, text: str) -> None:
    assert parse_route(f"{alias}({text})") == (_ROUTE_ALIASES[alias], text)
