"""Drug-name normalisation: brand, alias, salt, typo and homophone → formulary drug.

Real prescriptions write 代文(缬沙坦胶囊), 二甲双呱, 阿斯匹林肠溶片 or 颉沙坦. The
resolver tries, in order: exact name, the same after stripping dosage form and
salt words, names found inside the text (longest first), then the same pinyin
(homophones) and finally one edit away. Every non-exact match says how it was
made, so the audit can show the prescriber what was assumed.

The guesses never change the drug. A written name that is itself a known drug
outside the formulary (``known``: the lexicon's drug names and every generic of
the national reimbursement list) is "not covered", never matched onto its
neighbour (青霉素 is not a typo of 红霉素). Homophone and typo matches aim only at
generic and salt names (never at a brand or a listed alias: 黛力新 is not 达力新),
only when one drug wins clearly (a known drug as close as the formulary's is a
tie), and never onto a drug of a class where a swap is dangerous (``guarded``:
anti-infectives, antidiabetics and insulins, antithrombotics, antiarrhythmics,
psychotropics …) — those need the exact name or a misspelling the KB lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pypinyin import lazy_pinyin

MatchKind = Literal["exact", "stripped", "contained", "homophone", "typo", "code"]

DOSAGE_FORMS = tuple(
    sorted(
        (
            "片",
            "普通片",
            "薄膜衣片",
            "肠溶片",
            "缓释片",
            "控释片",
            "分散片",
            "咀嚼片",
            "泡腾片",
            "口崩片",
            "含片",
            "舌下片",
            "胶囊",
            "肠溶胶囊",
            "缓释胶囊",
            "软胶囊",
            "颗粒",
            "干混悬剂",
            "混悬液",
            "口服液",
            "口服溶液",
            "糖浆",
            "滴剂",
            "注射液",
            "注射剂",
            "注射用",
            "粉针",
            "预充笔",
            "笔芯",
            "特充",
            "吸入粉雾剂",
            "粉吸入剂",
            "吸入气雾剂",
            "气雾剂",
            "吸入剂",
            "喷雾剂",
            "吸入溶液",
            "雾化溶液",
            "鼻喷雾剂",
            "乳膏",
            "软膏",
            "凝胶",
            "贴剂",
            "滴眼液",
            "栓",
            "贴片",
            "眼膏",
            "滴耳液",
            "滴鼻液",
            "喷鼻剂",
            "搽剂",
            "洗剂",
            "涂剂",
            "乳胶剂",
            "栓剂",
            "阴道片",
            "阴道栓",
            "滴眼剂",
            "眼用凝胶",
            "透皮贴剂",
            "贴膏",
            "酊",
            "凝胶剂",
            "口溶膜",
            "粉雾剂",
            "吸入用混悬液",
            "口服溶液剂",
            "口服混悬液",
            "口服乳剂",
            "口服散",
            "干糖浆",
            "糖浆剂",
            "滴丸",
            "缓释颗粒",
            "肠溶微丸胶囊",
            "控释",
            "缓释",
            "肠溶",
            "(控释)",
            "(缓释)",
            "片剂",
            "丸",
            "散",
        ),
        key=len,
        reverse=True,
    )
)

# "左旋" is not here: levamlodipine is another drug at half the dose, not a salt of amlodipine
SALT_WORDS = (
    "苯磺酸",
    "马来酸",
    "甲磺酸",
    "盐酸",
    "硫酸氢",
    "硫酸",
    "酒石酸",
    "琥珀酸",
    "富马酸",
    "磷酸",
    "枸橼酸",
    "叔丁胺",
    "精氨酸",
    "钠",
    "钾",
    "钙",
    "镁",
    "水合物",
)

_SALT_CHARS = set("钠钾钙镁酯盐")
# strength or pack text with its unit (0.25g, 80mg/5mg, *24粒); a bare number is part of a name (诺和锐30)
_UNIT = r"(mg|g|μg|ug|mcg|iu|u|ml|万u|毫克|克|微克|单位|毫升|片|粒|支|袋|s)"
_STRENGTH_TEXT = re.compile(rf"[*×x/:：]?[\d.]+\s*{_UNIT}(?![a-z])", re.IGNORECASE)
_STRENGTH_BRACKET = re.compile(rf"\([^()]*\d\s*{_UNIT}[^()]*\)", re.IGNORECASE)


NameSource = Literal["generic", "salt", "en", "brand", "alias"]
_SOURCE_RANK = {"generic": 0, "salt": 1, "en": 2, "brand": 3, "alias": 4}


@dataclass(frozen=True, slots=True)
class NameMatch:
    """A drug name resolved to a formulary id: how it matched and which name of the entry it matched."""

    drug_id: str
    kind: MatchKind
    matched: str  # the formulary name that matched
    source: NameSource = "generic"  # which list of the drug entry it came from

    @property
    def standard(self) -> bool:
        """Written as a generic (or salt) name, as 处方管理办法 第十七条 asks."""
        return self.kind in ("exact", "stripped", "contained", "code") and self.source in (
            "generic",
            "salt",
            "en",
        )


_ROMAN = re.compile(r"\((?:[ⅰⅱⅲⅳⅠⅡⅢⅣ]|i{1,3}|iv)\)|[ⅠⅡⅢⅣⅰⅱⅲⅳ]$")
_MIX = re.compile(r"^\d{2}r$|^\d{2}/\d{2}$|预混|^u\d{3}$|^\d{2}$|混合")


def _clean(text: str) -> str:
    t = text.strip().replace("（", "(").replace("）", ")").replace("【", "(").replace("】", ")")
    return re.sub(r"\s+", "", t)


def clean_name(text: str) -> str:
    """The key names are compared by: full-width brackets folded, white space removed, lower case."""
    return _clean(text).lower()


def strip_form(name: str) -> str:
    """Remove a trailing dosage-form word (缬沙坦胶囊 → 缬沙坦), once or twice (…缓释片)."""
    for _ in range(2):
        for form in DOSAGE_FORMS:
            if name.endswith(form) and len(name) > len(form) + 1:
                name = name[: -len(form)]
                break
        if name.startswith("注射用"):
            name = name[3:]
    return name


def strip_salt(name: str) -> str:
    """Remove a leading or trailing salt word (苯磺酸氨氯地平 → 氨氯地平), keeping at least two characters."""
    for salt in SALT_WORDS:
        if name.startswith(salt) and len(name) > len(salt) + 1:
            name = name[len(salt) :]
        if name.endswith(salt) and len(name) > len(salt) + 1:
            name = name[: -len(salt)]
    return name


def _all_cjk(text: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in text)


def _only_packaging_left(text: str, name: str) -> bool:
    """A name found inside a longer text counts only when what is left is dosage form, salt,
    strength or bracketed notes: 阿莫西林胶囊0.25g yes, 左西替利嗪 (another drug) no."""
    rest = re.sub(
        r"\(([^()]*)\)", lambda m: m.group(0) if _MIX.search(m.group(1)) else "", text.replace(name, "", 1)
    )  # a mixture bracket (30R) is not packaging
    rest = _STRENGTH_TEXT.sub("", rest).strip()
    for _ in range(3):
        rest = strip_salt(strip_form("药" + rest))[1:] if rest else rest
        for word in (*DOSAGE_FORMS, *SALT_WORDS):
            if rest == word:
                return True
    return rest == ""


def pinyin_key(text: str) -> str:
    """Toneless pinyin of ``text``, syllables separated by spaces (the key homophones are matched on)."""
    return " ".join(lazy_pinyin(text))


MAX_NAME_CHARS = 200
"""A written drug name longer than this is resolved to nothing (the line is then not covered: 需人工审核).
The longest real product names (精蛋白生物合成人胰岛素注射液(预混30R)(3ml:300单位*1支/盒)) are well under
it, and the fuzzy match's work grows with the square of the length: a 300,000-character name sent in
one request used to take all the memory of the machine."""


class NameIndex:
    """Lookup from every written form of a drug name to its formulary id."""

    def __init__(
        self,
        names: dict[str, tuple[str, NameSource]],
        known: frozenset[str] = frozenset(),
        guarded: frozenset[str] = frozenset(),
    ):
        # names: written form → (drug id, source); ambiguity is rejected by the loader
        # known: cleaned names of drugs outside the formulary; guarded: drug ids never reached by a guess
        self._exact = {clean_name(k): v[0] for k, v in names.items()}
        self._source = {clean_name(k): v[1] for k, v in names.items()}
        self._known = frozenset(k for k in known if k not in self._exact)
        self._guarded = guarded
        self._by_length = sorted(
            ((k, v) for k, v in self._exact.items() if len(k) >= 2 and not k.isascii()),
            key=lambda kv: len(kv[0]),
            reverse=True,
        )
        # guesses (homophone, typo) aim only at standard names: a brand or a listed misspelling one
        # character from another real product (达力新/黛力新, 怡可安/胃可安) is no target
        self._fuzzy_targets = [
            (k, v) for k, v in self._by_length if self._source[k] in ("generic", "salt") and v not in guarded
        ]
        self._pinyin: dict[str, set[str]] = {}
        for k, v in self._exact.items():
            if not k.isascii() and len(k) >= 3 and self._source[k] in ("generic", "salt"):
                self._pinyin.setdefault(pinyin_key(k), set()).add(v)
        self._known_pinyin: set[str] | None = None
        self._known_masks: set[str] | None = None
        self._cache: dict[str, NameMatch | None] = {}

    def resolve(self, text: str) -> NameMatch | None:
        """Resolve a written drug name, or ``None`` when nothing in the formulary is close enough."""
        key = text
        if key in self._cache:
            return self._cache[key]
        if len(text) > MAX_NAME_CHARS:
            return None
        match = self._resolve(clean_name(text))
        if len(self._cache) < 100_000:
            self._cache[key] = match
        return match

    def known_outside(self, text: str) -> str | None:
        """The known drug name a written name is (or is a form/salt of) when the formulary does not cover
        it: ``注射用青霉素钠`` → ``青霉素钠``; ``None`` for a formulary drug or an unknown name."""
        if len(text) > MAX_NAME_CHARS:
            return None
        t = clean_name(text)
        candidates = self._candidates(t)
        if any(c in self._exact for c in candidates):
            return None
        return next((c for c in candidates if c in self._known), None)

    def _candidates(self, t: str) -> list[str]:
        out = [t]
        bare = _STRENGTH_TEXT.sub("", _STRENGTH_BRACKET.sub("", t))  # 阿莫西林胶囊0.25g, (0.25g*24粒)
        if bare and bare != t:
            out.append(bare)
        # (Ⅱ)-style product numbers and a trailing Ⅰ–Ⅳ name the same drug's product variant
        numbered = _ROMAN.sub("", t)
        if numbered != t and numbered:
            out.append(numbered)
            t = numbered
        # a bracket that names a mixture or concentration (30R, 70/30, 预混, U300) is part of the name:
        # 精蛋白生物合成人胰岛素(30R) is the premix, not the NPH named outside the bracket
        mixes = [m for m in re.findall(r"\(([^()]*)\)", t) if _MIX.search(m)]
        if mixes:
            joined = re.sub(r"\(([^()]*)\)", lambda m: m.group(1) if _MIX.search(m.group(1)) else "", t)
            # 精蛋白生物合成人胰岛素注射液(30R) → …人胰岛素30r: the form word before the mixture goes too
            bare_form = strip_form(re.sub(r"\([^()]*\)", "", t)) + "".join(mixes)
            for part in (joined, strip_form(joined), bare_form):
                if part not in out:
                    out.append(part)
            return out
        # 代文(缬沙坦胶囊): try the part outside and each part inside the brackets
        inner = re.findall(r"\(([^()]*)\)", t)
        outer = re.sub(r"\([^()]*\)", "", t)
        for part in (outer, *inner):
            if part and part not in out:
                out.append(part)
        for part in list(out):
            for variant in (strip_form(part), strip_salt(strip_form(part)), strip_form(strip_salt(part))):
                if variant and variant not in out:
                    out.append(variant)
        return out

    def _resolve(self, t: str) -> NameMatch | None:
        candidates = self._candidates(t)
        exact = [(self._source[c], i, c) for i, c in enumerate(candidates) if c in self._exact]
        if exact:
            # 代文(缬沙坦胶囊): the generic name inside the brackets wins over the brand outside
            # the most standard source first, then the most specific (门冬胰岛素30 over 门冬胰岛素)
            source, i, c = min(exact, key=lambda e: (_SOURCE_RANK[e[0]], -len(e[2]), e[1]))
            ids = {self._exact[e[2]] for e in exact}
            if len(ids) > 1:
                # 胰岛素注射液(诺和灵R): the parts name different drugs; a product whose name holds the other
                # part's (人胰岛素 ⊃ 胰岛素) is the more specific reading, otherwise refuse to guess
                specific = [
                    e
                    for e in exact
                    if all(
                        strip_form(o[2]) in self._generic_of(self._exact[e[2]])
                        for o in exact
                        if self._exact[o[2]] != self._exact[e[2]]
                    )
                ]
                if not specific:
                    return None
                source, i, c = min(specific, key=lambda e: (_SOURCE_RANK[e[0]], -len(e[2]), e[1]))
            return NameMatch(self._exact[c], "exact" if i == 0 else "stripped", c, source)  # type: ignore[arg-type]
        if any(c in self._known for c in candidates):
            return None  # a real drug the formulary does not cover: never another drug's near neighbour
        for name, drug_id in self._by_length:
            if len(name) >= 3 and name in t and _only_packaging_left(t, name):
                return NameMatch(drug_id, "contained", name, self._source[name])  # type: ignore[arg-type]
        for c in candidates:
            if len(c) >= 3 and not c.isascii():
                key = pinyin_key(c)
                ids = self._pinyin.get(key)
                if ids and len(ids) == 1 and not ids & self._guarded and key not in self._known_pinyins():
                    return NameMatch(next(iter(ids)), "homophone", c, "alias")
        hits: dict[str, tuple[int, str]] = {}
        rivals = False
        for c in candidates:
            # one wrong character (二甲双呱, 阿斯匹林) in an all-Chinese name of the same length; an
            # added or missing character (头孢呋辛 vs 头孢呋辛酯) or a different letter (诺和灵N vs
            # 诺和灵R) is another product, not a typo
            if len(c) < 3 or not _all_cjk(c):
                continue
            for name, drug_id in self._fuzzy_targets:
                if len(name) != len(c) or not _all_cjk(name):
                    continue
                diff = [(x, y) for x, y in zip(c, name, strict=True) if x != y]
                if len(diff) != 1 or set(diff[0]) & _SALT_CHARS:
                    continue  # 头孢呋辛钠 vs 头孢呋辛酯: another salt or ester is another product
                at = next(i for i, (x, y) in enumerate(zip(c, name, strict=True)) if x != y)
                if c[at + 1 : at + 2] == "酸" or "酸" in c[max(0, at - 1) : at]:
                    continue  # 糠酸氟替卡松 vs 丙酸氟替卡松: another acid salt or ester
                if drug_id not in hits:
                    hits[drug_id] = (1, name)
            rivals = rivals or bool(_masks(c) & self._known_mask_set())
        if not hits or rivals:
            return None  # nothing close, or a known drug outside the formulary is as close: no guess
        if len(hits) > 1:
            return None  # two drugs equally close: refuse to guess
        drug_id, (_, name) = next(iter(hits.items()))
        return NameMatch(drug_id, "typo", name, "alias")

    def _generic_of(self, drug_id: str) -> str:
        return next((k for k, v in self._exact.items() if v == drug_id and self._source[k] == "generic"), "")

    def prepare(self) -> None:
        """Build now what the first guess at an unknown name would build (the pinyin and one-character-
        wildcard sets of every known name, ~35 ms): a service calls it before serving, so that cost is
        not paid inside one request."""
        self._known_pinyins()
        self._known_mask_set()

    def _known_pinyins(self) -> set[str]:
        if self._known_pinyin is None:  # built on the first guess only: most lines resolve exactly
            self._known_pinyin = {pinyin_key(k) for k in self._known if len(k) >= 3 and _all_cjk(k)}
        return self._known_pinyin

    def _known_mask_set(self) -> set[str]:
        if self._known_masks is None:  # built whole, then set: an interrupted build leaves None
            masks: set[str] = set()
            for k in self._known:
                if len(k) >= 3 and _all_cjk(k):
                    masks |= _masks(k)
            self._known_masks = masks
        return self._known_masks


def _masks(name: str) -> set[str]:
    """The name with each character in turn replaced by a wildcard: two names of one length share a
    mask exactly when they differ in at most one character."""
    return {name[:i] + "?" + name[i + 1 :] for i in range(len(name))}


def one_edit_apart(a: str, b: str) -> bool:
    """Same length, all Chinese, exactly one character different (the matcher's typo distance)."""
    return (
        len(a) == len(b)
        and len(a) >= 3
        and _all_cjk(a)
        and _all_cjk(b)
        and sum(x != y for x, y in zip(a, b, strict=True)) == 1
    )
