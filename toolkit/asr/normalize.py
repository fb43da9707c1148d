"""Text normalisation: simplified Chinese always, one width convention, numbers kept as said.

Whisper base writes about half of Mandarin clips in Traditional characters and
separates clauses with ASCII spaces or commas. The draft a doctor edits is
written the Chinese way: simplified characters (OpenCC t2s), half-width
letters, digits and measurement symbols (``160/100mmHg``, ``7.8``, ``%``),
full-width sentence punctuation (，。？！：；). Numbers are not rewritten: 一二线
stays 一二线 and 28天 stays 28天.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from toolkit.errors import require

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
# ASCII sentence punctuation → full-width, only when it touches a CJK character
_PUNCT = {",": "，", "?": "？", "!": "！", ";": "；", ":": "："}
_PUNCT_RE = re.compile(rf"(?<=[{_CJK}])\s*([,?!;:])\s*|\s*([,?!;:])\s*(?=[{_CJK}])")
_PERIOD_RE = re.compile(rf"(?<=[{_CJK}])\.(?!\d)")
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}，。？！；：、])\s+(?=[{_CJK}])")
# full-width characters whose half-width form is the written convention (digits, letters, symbols)
_KEEP_FULL = set("，。？！；：、（）【】《》“”‘’…—～·")


@lru_cache(maxsize=1)
def _t2s():
    opencc = require("opencc", "asr")
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC t2s; characters only, no phrase rewriting)."""
    return _t2s().convert(text) if _CJK_RE.search(text) else text


def normalize_width(text: str) -> str:
    """Half-width letters, digits and symbols; full-width Chinese sentence punctuation."""
    out = []
    for ch in text:
        if ch in _KEEP_FULL:
            out.append(ch)
        elif ch == "\u3000":
            out.append(" ")
        elif "\uff01" <= ch <= "\uff5e":
            out.append(chr(ord(ch) - 0xFEE0))
        else:
            out.append(ch)
    s = "".join(out)
    s = _PUNCT_RE.sub(lambda m: _PUNCT[m.group(1) or m.group(2)], s)
    s = _PERIOD_RE.sub("。", s)
    s = _SPACE_BETWEEN_CJK.sub("，", s)
    s = re.sub(r"，{2,}", "，", s)
    return s.strip()


def normalize_text(text: str) -> str:
    """The draft form of one segment: simplified characters, one width convention, trimmed."""
    return normalize_width(to_simplified(text))


def cer_normalize(text: str) -> str:
    """Form compared by the character error rate: NFKC, t2s, lower case, only CJK, letters, digits."""
    s = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return "".join(ch for ch in s if ch.isalnum())


def is_cjk(ch: str) -> bool:
    """True for a CJK ideograph."""
    return bool(_CJK_RE.fullmatch(ch))
