"""ICD-10 codes of diagnoses written by name only, from ``rules/lexicon/diagnoses.yaml``.

HIS exports often carry the 临床诊断 as text with no code (原发性高血压；2型糖尿病). Checks that key on ICD-10
(the chronic diseases that allow a 28-day supply, course lengths, ``icd_in`` conditions) would then see no
diagnosis at all. :meth:`DiagnosisCodes.icd_of` gives such a name its code: an exact name of the lexicon
(both its hand-written part and the part derived from CMeKG), else the longest hand-written name the text
contains (高血压3级极高危 → I10) unless the text denies or questions it (否认, 排除, 待排, ？) or names a
past condition (…史, 后遗症, 陈旧). A rules
directory without ``lexicon/diagnoses.yaml`` (a test fixture) codes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

_DOUBT = ("否认", "排除", "待排", "除外", "?", "？", "可疑", "疑似")
# a past or sequela condition is not the current disease a longer name contains (脑出血后遗症 is not I61,
# 胃溃疡史 not an active ulcer): such texts are coded only by an exact lexicon name
_PAST = ("史", "后遗症", "陈旧", "既往", "恢复期", "治愈", "已愈")


@dataclass(frozen=True)
class DiagnosisCodes:
    """Diagnosis name → ICD-10: ``exact`` for whole names, ``contained`` (longest first) for names inside a
    longer written diagnosis (hand-written entries only: the derived part has short generic names)."""

    exact: dict[str, str]
    contained: tuple[tuple[str, str], ...]

    def icd_of(self, name: str) -> str | None:
        """The ICD-10 code of a diagnosis written as ``name``, or None when the lexicon does not know it."""
        text = "".join((name or "").split())
        if not text:
            return None
        code = self.exact.get(text)
        if code is not None:
            return code
        if any(w in text for w in _DOUBT) or any(w in text for w in _PAST):
            return None
        return next((c for n, c in self.contained if n in text), None)


NO_CODES = DiagnosisCodes({}, ())


@lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int) -> DiagnosisCodes:
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    exact: dict[str, str] = {}
    hand: dict[str, str] = {}
    for part in ("diagnoses", "derived"):  # the hand-written part wins where both name a string
        for entry in data.get(part) or ():
            code = str(entry.get("icd10") or "").strip().upper()
            if not code:
                continue
            for n in entry.get("names") or ():
                key = "".join(str(n).split())
                if len(key) >= 2:
                    exact.setdefault(key, code)
                    if part == "diagnoses":
                        hand.setdefault(key, code)
    contained = tuple(sorted(hand.items(), key=lambda kv: (-len(kv[0]), kv[0])))
    return DiagnosisCodes(exact, contained)


def diagnosis_codes(rules_dir: Path) -> DiagnosisCodes:
    """The diagnosis codes of ``rules_dir/lexicon/diagnoses.yaml`` (:data:`NO_CODES` when absent)."""
    path = rules_dir / "lexicon" / "diagnoses.yaml"
    if not path.is_file():
        return NO_CODES
    return _read(str(path), path.stat().st_mtime_ns)


@dataclass(frozen=True)
class LexiconCodes:
    """The diagnosis codes of a rules directory, read on the first diagnosis that needs one: most cases
    carry their ICD-10 codes, so loading the knowledge base does not pay for parsing the lexicon
    (about 60 ms); the parsed lexicon is shared by every knowledge base of the process."""

    rules_dir: Path

    def icd_of(self, name: str) -> str | None:
        """:meth:`DiagnosisCodes.icd_of` of the lexicon in :attr:`rules_dir`."""
        return diagnosis_codes(self.rules_dir).icd_of(name)
