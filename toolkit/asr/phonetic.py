"""How Mandarin syllables sound alike: pinyin of a text, merged confusions, syllable similarity.

The scoring the ASR corrector (:mod:`toolkit.asr.correct`) builds on: toneless and tone-numbered
pinyin of every character (pypinyin, imported on first use), the confusions common in Mandarin ASR
and southern accents merged (zh/z, ch/c, sh/s, n/l, -ng/-n), and a similarity of two syllables
(1 equal, 0.8 equal after merging, 0.5 same final, 0.4 same initial, 0.3 same final but for the
glide). Digits and Latin letters Whisper writes for a syllable it cannot place are read through
:data:`SPOKEN_AS`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _pinyin() -> tuple[Any, Any]:
    """pypinyin, imported on first use: its phrase dictionary takes ~55 MiB, and importing it only
    after the Whisper model has loaded keeps it out of the model's load-time peak."""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin, Style.TONE3


def lazy_pinyin(text: str, **kwargs: Any) -> list[str]:
    """``pypinyin.lazy_pinyin`` (imported on first call)."""
    return _pinyin()[0](text, **kwargs)


def pinyin_syllables(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Toneless and tone-numbered pinyin of ``text``, one syllable per character."""
    tone3 = _pinyin()[1]
    plain = lazy_pinyin(text)
    tones = lazy_pinyin(text, style=tone3, neutral_tone_with_five=True)
    if len(plain) != len(text) or len(tones) != len(text):  # a character pypinyin cannot split
        plain = [lazy_pinyin(ch)[0] for ch in text]
        tones = [lazy_pinyin(ch, style=tone3, neutral_tone_with_five=True)[0] for ch in text]
    # 得 is read dei by pypinyin inside some phrases (芬必得 fen bi dei) and de elsewhere (分毕得):
    # one reading for both, so a term and the text heard for it compare alike
    plain = [_ONE_READING.get(s, s) for s in plain]
    tones = [_ONE_READING.get(s, s) for s in tones]
    return tuple(plain), tuple(tones)


_ONE_READING = {"dei": "de", "dei3": "de2"}


def other_reading(text: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """Toneless and tone-numbered pinyin of ``text`` with every common polyphonic character read its
    other way (长 chang for zhang), or ``None`` when ``text`` has none of them.

    A transcript's characters were chosen by sound, not meaning, so the reading pypinyin picks from
    the words around a character may not be the sound heard: 长荣片 is 肠溶片 heard, said chang."""
    if not any(ch in POLYPHONES for ch in text):
        return None
    plain, tones = pinyin_syllables(text)
    alt_plain, alt_tones = list(plain), list(tones)
    for k, ch in enumerate(text):
        for reading in POLYPHONES.get(ch, ()):
            if reading.rstrip("12345") != plain[k]:
                alt_plain[k], alt_tones[k] = reading.rstrip("12345"), reading
                break
    return tuple(alt_plain), tuple(alt_tones)


# the two everyday readings of common polyphonic characters (《现代汉语词典》), tone-numbered
POLYPHONES = {
    "长": ("chang2", "zhang3"),
    "行": ("xing2", "hang2"),
    "重": ("zhong4", "chong2"),
    "还": ("hai2", "huan2"),
    "便": ("bian4", "pian2"),
    "乐": ("le4", "yue4"),
    "调": ("tiao2", "diao4"),
    "传": ("chuan2", "zhuan4"),
    "降": ("jiang4", "xiang2"),
    "和": ("he2", "huo2"),
    "朝": ("chao2", "zhao1"),
    "单": ("dan1", "shan4"),
    "参": ("can1", "shen1"),
    "都": ("dou1", "du1"),
    "会": ("hui4", "kuai4"),
    "率": ("lv4", "shuai4"),
    "给": ("gei3", "ji3"),
    "着": ("zhe5", "zhao2"),
    "没": ("mei2", "mo4"),
    "血": ("xue4", "xie3"),
    "薄": ("bo2", "bao2"),
    "似": ("si4", "shi4"),
    "地": ("di4", "de5"),
    "得": ("de2", "de5"),
    "石": ("shi2", "dan4"),
    "区": ("qu1", "ou1"),
    "解": ("jie3", "xie4"),
}


def fuzzy_syllable(syllable: str) -> str:
    """Merge the confusions common in Mandarin ASR and southern accents (zh/z, n/l, -ng/-n …)."""
    s = syllable
    for a, b in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if s.startswith(a):
            s = b + s[2:]
            break
    if s.startswith("n") and len(s) > 1:
        s = "l" + s[1:]
    if s.endswith(("ang", "eng", "ing")):
        s = s[:-1]
    return s


_INITIALS = (
    "zh",
    "ch",
    "sh",
    "b",
    "p",
    "m",
    "f",
    "d",
    "t",
    "n",
    "l",
    "g",
    "k",
    "h",
    "j",
    "q",
    "x",
    "r",
    "z",
    "c",
    "s",
    "y",
    "w",
)
_SEMIVOWEL_FINALS = {
    "yi": "i",
    "yin": "in",
    "ying": "ing",
    "yu": "v",
    "yue": "ve",
    "yuan": "van",
    "yun": "vn",
    "wu": "u",
    "ya": "ia",
    "yan": "ian",
    "yang": "iang",
    "yao": "iao",
    "ye": "ie",
    "you": "iu",
    "yong": "iong",
    "wa": "ua",
    "wo": "uo",
    "wai": "uai",
    "wei": "ui",
    "wan": "uan",
    "wen": "un",
    "wang": "uang",
    "weng": "ong",
}


def _split(syllable: str) -> tuple[str, str]:
    """(initial, final); y-/w- syllables are finals alone (肟 wo has the final of 过 guo). After b, p,
    m and f the final spelt o is the uo of other initials (默 mo and 洛 luo share their vowel)."""
    if syllable in _SEMIVOWEL_FINALS:
        return "", _SEMIVOWEL_FINALS[syllable]
    for ini in _INITIALS:
        if syllable.startswith(ini) and len(syllable) > len(ini):
            rest = syllable[len(ini) :]
            return ini, "uo" if rest == "o" and ini in _LABIALS else rest
    return "", syllable


_LABIALS = frozenset("bpmf")
# initials a southern accent or the ASR swaps (f/h: 福/胡, r/l: 瑞/类): nearly the same syllable
_NEAR_INITIALS = frozenset({("f", "h"), ("h", "f"), ("r", "l"), ("l", "r")})


def syllable_similarity(a: str, b: str) -> float:
    """1 same syllable, 0.8 same after merging common confusions, 0.7 same but for f/h or r/l, 0.6
    same but for a nasal ending (xin/xi), 0.5 same final, 0.4 same initial, 0.3 same final but for
    the glide (uai/ai), else 0."""
    if a == b:
        return 1.0
    fa, fb = fuzzy_syllable(a), fuzzy_syllable(b)
    if fa == fb:
        return 0.8
    (ia, ra), (ib, rb) = _split(fa), _split(fb)
    if ra == rb and (ia, ib) in _NEAR_INITIALS:
        return 0.7  # f/h, r/l swapped, the rest the same (芬 fen / 很 hen)
    if ia == ib and ra != rb and ra.rstrip("n") == rb.rstrip("n") != "":
        return 0.6  # a nasal ending heard or lost (欣 xin / 西 xi)
    if ra == rb:
        return 0.5
    if ia and ia == ib:
        return 0.4
    if len(ra) > 1 and len(rb) > 1 and ra.lstrip("uiv") == rb.lstrip("uiv") != "":
        return 0.3  # same vowel and coda, another glide (外 wai / 麦 mai)
    return 0.0


# Whisper writes a syllable it cannot place as a digit or a Latin letter (脱拉3米 for 托拉塞米, AT落 for
# 阿替洛尔): read each as the syllable it stands for (letters said in one syllable only)
LETTERS = "ABCDEGJKNOPQTUVYZ"
SPOKEN_AS = str.maketrans(
    "0123456789" + LETTERS + LETTERS.lower(),
    "零一二三四五六七八九" + "阿比西迪伊吉杰开恩欧皮丘替优维歪贼" * 2,
)
