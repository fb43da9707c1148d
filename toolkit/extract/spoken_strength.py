"""Combination strengths said as one run of numerals (信必可一百六四点五的, 舒利迭五十二百五十的, 规格是一百六十
四点五微克): the speaker drops the "/" between the two amounts. The run is read against the strengths
the formulary lists for the drug: it is taken only when it splits into exactly one listed combination
(160 μg/4.5 μg → "160/4.5 μg"); otherwise the item is left as read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from toolkit.extract.numbers import parse_number
from toolkit.extract.records import ExtractedItem
from toolkit.knowledge import Knowledge
from toolkit.knowledge.units import parse_strength

_RUN = re.compile(r"[零〇一二两三四五六七八九十百千点幺\d.]{3,}")
# what may stand between the name and the run (规格是, 那个, 用) and what closes it (的, 微克, 规格)
_LEAD = re.compile(r"(?:那个|这个|规格(?:是|为)?|用|是|的)*$")
_CLOSE = re.compile(r"\s*(?:的|微克|μg|ug|mcg|毫克|mg|规格)")


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


def apply(text: str, items: Sequence[ExtractedItem], kb: Knowledge) -> tuple[ExtractedItem, ...]:
    """The items with a combination strength said as one run of numerals read as that combination."""
    out = []
    for it in items:
        combos = combinations(kb, it.drug_id)
        current = parse_strength(it.strength) if it.strength else None
        if not combos or (current is not None and len(current.amounts) == 2):
            out.append(it)
            continue
        name_end = it.start + len(it.drug)
        window_end = min(len(text), max(it.end, name_end) + 6, name_end + 24)
        m = _RUN.search(text, name_end, window_end)
        if (
            m is None
            or not _LEAD.fullmatch(text, name_end, m.start())
            or not _CLOSE.match(text, m.end())
            or (split := split_run(m.group(0), combos)) is None
        ):
            out.append(it)
            continue
        a, b, unit = split
        update: dict[str, object] = {"strength": f"{_fmt(a)}/{_fmt(b)} {unit}"}
        whole = parse_number(m.group(0))
        if it.dose is not None and whole is not None and it.unit in ("mg", "μg", "g") and it.dose == whole:
            update.update(dose=None, unit=None)  # the run was read as one amount: it was the strength
        out.append(it.model_copy(update=update))
    return tuple(out)
