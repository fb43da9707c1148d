"""Names that are known to be drugs, whether or not the formulary covers them.

A written name that *is* a real drug must never be "corrected" into another one (青霉素 is not a typo of
红霉素, 克林霉素 not of 克拉霉素). The name matcher therefore asks this list before any contained, homophone
or typo match. Two sources, both in ``rules/lexicon/``:

- ``drugs_extra.yaml``: the drug names the extractor and speech corrector know outside the formulary
  (hand-written common primary-care drugs and brands, oncology, and names derived from the CMeKG lexicon);
- ``nrdl2024_western.csv``: every generic of the 2024 national reimbursement list's Western drugs
  (see ``nrdl2024_western.md`` for its source).

A rules directory without a ``lexicon/`` folder (a test fixture, an institution's own KB) has no known
names: the matcher then relies on the formulary alone and its class guards.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

import yaml

from toolkit.knowledge.names import clean_name

try:  # the C loader reads the 11,000-line drugs_extra.yaml in a fraction of the time
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_ROMAN = re.compile(r"[(（][ⅠⅡⅢⅣⅤⅥIVX]+[)）]|[ⅠⅡⅢⅣ]$")
_BRACKETS = re.compile(r"[(（\[【]([^()（）\[\]【】]*)[)）\]】]")


def name_variants(name: str) -> list[str]:
    """A listed name and the names inside and outside its brackets: 美沙拉秦(美沙拉嗪) → both; a fragment
    broken by a line wrap (``胰岛素)``) loses its stray bracket; (Ⅱ)-style product numbers are dropped."""
    name = _ROMAN.sub("", name.strip())
    out = [name]
    inner = _BRACKETS.findall(name)
    outer = _BRACKETS.sub("", name)
    out.extend([outer, *inner])
    out = [re.sub(r"[()（）\[\]【】]", "", v).strip() for v in out]
    return [v for v in dict.fromkeys(out) if len(v) >= 2 and not re.fullmatch(r"[\d/.R]+", v)]


@lru_cache(maxsize=8)
def _read_extra(path: str, mtime_ns: int) -> frozenset[str]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_Loader)  # CSafeLoader: the safe loader in C
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of name lists")
    names: set[str] = set()
    for key, value in data.items():
        if key == "version" or not isinstance(value, list):
            continue
        names.update(clean_name(str(v)) for v in value if v)
    return frozenset(names)


@lru_cache(maxsize=8)
def _read_nrdl(path: str, mtime_ns: int) -> frozenset[str]:
    names: set[str] = set()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            for v in name_variants(row.get("name") or ""):
                names.add(clean_name(v))
    return frozenset(names)


def nrdl_names(rules_dir: Path) -> list[tuple[str, str]]:
    """(class_code, name) of every generic on the reimbursement list, for coverage tests and reports."""
    path = rules_dir / "lexicon" / "nrdl2024_western.csv"
    if not path.is_file():
        return []
    out: list[tuple[str, str]] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            out.extend((row.get("class_code") or "", v) for v in name_variants(row.get("name") or ""))
    return out


def known_drug_names(rules_dir: Path) -> frozenset[str]:
    """Every name known to be a drug in ``rules_dir/lexicon`` (cleaned with :func:`clean_name`)."""
    lexicon = rules_dir / "lexicon"
    out: set[str] = set()
    extra = lexicon / "drugs_extra.yaml"
    if extra.is_file():
        out |= _read_extra(str(extra), extra.stat().st_mtime_ns)
    nrdl = lexicon / "nrdl2024_western.csv"
    if nrdl.is_file():
        out |= _read_nrdl(str(nrdl), nrdl.stat().st_mtime_ns)
    return frozenset(n for n in out if len(n) >= 2)
