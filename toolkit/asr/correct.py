"""Medical post-correction: homophones of drug and disease names snapped to the knowledge base.

Whisper base hears 氨氯地平 as 安律地平, 二甲双胍 as 二假双刮 and 阿卡波糖 as
阿卡伯糖: the toneless pinyin is the same, the characters are not. For every
window of the transcript as long as a known term (drug generic, salt and brand
names from the formulary; disease, symptom, exam, record, usage, dosage-form
and unit words from ``rules/lexicon/asr_terms.yaml``), the corrector scores
each syllable (1 equal, 0.8 equal after merging zh/z, ch/c, sh/s, n/l, -ng/-n,
0.5 same final, 0.4 same initial), counts the characters already right, and
looks for context (a dose, unit or frequency word within 12 characters of a
drug name; any medical word in the transcript for the other kinds). A window
is replaced only when

* unit (2 characters): right after a number, both syllables equal or merged (5好课 → 5毫克);
* other 2-character words: pinyin equal *with* tones, and medical context;
* disease/record words, and any window that extends text already spelling a
  known term: every syllable equal or merged (true homophones only);
* 3-character drug names: all syllables close with a character shared, or
  exact pinyin with context, or one half-heard syllable with two characters
  shared and context;
* longer drug names: mean syllable score ≥ 0.75 with no syllable lost (one
  allowed from 6 characters), a character shared or a score ≥ 0.85, and
  context unless the score is ≥ 0.9.

A drug name held in a longer one (硝酸异山梨酯 in 单硝酸异山梨酯) gives way to the
longer name when the text around it sounds like the rest. Two different drugs
within 0.1 of each other on one window are ambiguous (头包克过: 头孢克洛 or
头孢克肟?) and nothing is replaced on sound alone: a wrong drug name is worse
than a misspelt one. Such places are returned by :func:`slot_choices`, and the
transcriber asks the audio which candidate, if any, was said (Whisper's own
likelihood of each reading; see ``toolkit.asr.transcribe``). Drug slots (a name
before a strength or after a prescribing verb) are aligned with gaps and may
change the window's length; correction offsets follow. Two passes run, because
one correction can give another its context. Every replacement is returned as a
:class:`~toolkit.asr.records.Correction` with the original text; none is silent.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from toolkit.errors import KnowledgeError

log = logging.getLogger(__name__)
_K = TypeVar("_K")

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
# Chinese text with a lone digit inside or at its start (每通落2减量, 在2假伤刮): Whisper writes a syllable
# of a name it cannot place as a digit, read below as the numeral (see _SPOKEN_AS)
_NAME_RUN = re.compile(rf"(?:(?<![0-9.])[0-9](?=[{_CJK}]))?[{_CJK}]+(?:(?<![0-9.])[0-9](?![0-9.])[{_CJK}]*)*")
_DRUG_CONTEXT = re.compile(
    r"毫克|克|mg|g\b|片|粒|支|单位|口服|每日|一日|每天|每晚|一次|两次|三次|服用|予以|给予|继续|停用|加用|换用|改为|"
    r"联合|用药|注射|吸入|含服|控释|缓释|肠溶|胶囊|qd|bid|tid", re.IGNORECASE)
_MEDICAL_CONTEXT = re.compile(
    r"患者|主诉|诊断|既往|病史|血压|血糖|口服|每日|毫克|复诊|随访|体检|查体|检查|症状|治疗|用药|处方|mmhg", re.IGNORECASE)
_CONTEXT_SPAN = 12
_VERB_AFTER_NAME = re.compile(r"改为|改成|改用|加到|加量|减为|减到|减量|换成|换用|停用|每日|每天|一天|口服")
LEXICON_KINDS = ("disease", "symptom", "exam", "record", "usage", "form", "unit")


class _LexiconFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
    terms: dict[str, list[str]]


def _fuzzy(syllable: str) -> str:
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


@dataclass(frozen=True, slots=True)
class Term:
    """One correctable written form."""

    text: str
    kind: str  # "drug" or a LEXICON_KINDS entry
    term_id: str | None
    pinyin: tuple[str, ...]
    tones: tuple[str, ...]
    fuzzy: tuple[str, ...]


@lru_cache(maxsize=1)
def _pinyin() -> tuple[Any, Any]:
    """pypinyin, imported on first use: its phrase dictionary takes ~55 MiB, and importing it only
    after the Whisper model has loaded keeps it out of the model's load-time peak."""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin, Style.TONE3


def lazy_pinyin(text: str, **kwargs: Any) -> list[str]:
    return _pinyin()[0](text, **kwargs)


def _syllables(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    tone3 = _pinyin()[1]
    plain = lazy_pinyin(text)
    tones = lazy_pinyin(text, style=tone3, neutral_tone_with_five=True)
    if len(plain) != len(text) or len(tones) != len(text):  # a character pypinyin cannot split
        plain = [lazy_pinyin(ch)[0] for ch in text]
        tones = [lazy_pinyin(ch, style=tone3, neutral_tone_with_five=True)[0] for ch in text]
    return tuple(plain), tuple(tones)


def make_term(text: str, kind: str, term_id: str | None = None) -> Term:
    """A :class:`Term` with its pinyin computed."""
    plain, tones = _syllables(text)
    return Term(text, kind, term_id, plain, tones, tuple(_fuzzy(s) for s in plain))


@dataclass
class Lexicon:
    """Terms indexed by (length, position, fuzzy syllable) for fast candidate lookup."""

    terms: list[Term]
    misspellings: dict[str, Term] = field(default_factory=dict)  # homophone alias → its generic term
    version: str = ""
    other_drugs: frozenset[str] = frozenset()  # drug names outside the formulary: never renamed into it
    generic_names: frozenset[str] = frozenset()  # formulary generic and salt names (drug slots snap to these)

    def rivals(self) -> tuple[dict[tuple[int, int, str], list[str]], dict[str, tuple[str, ...]]]:
        """Drug names outside the formulary (3–10 characters) by (length, position, fuzzy syllable),
        and their pinyin; built on first use and shared by lexicons with the same names (pinyin of
        ~11,000 names: 1.6 s)."""
        return _rival_tables(self.other_drugs)

    def __post_init__(self) -> None:
        self.by_text = {t.text: t for t in self.terms}
        self.drug_names = frozenset(t.text for t in self.terms if t.kind == "drug")
        self.drug_name_lengths = sorted({len(n) for n in self.drug_names}, reverse=True)
        self.slot_terms = [t for t in self.terms
                           if t.kind == "drug" and t.text in self.generic_names and len(t.text) >= 3]
        self.slot_term_index = frozenset(i for i, t in enumerate(self.terms)
                                         if t.kind == "drug" and t.text in self.generic_names and len(t.text) >= 3)
        self.form_terms = [t for t in self.terms if t.kind == "form"]
        self.lengths = sorted({len(t.text) for t in self.terms}, reverse=True)
        self.index: dict[tuple[int, int, str], list[int]] = defaultdict(list)
        for i, t in enumerate(self.terms):
            for p, s in enumerate(t.fuzzy):
                self.index[(len(t.text), p, s)].append(i)
        # exact forms, longest first, to protect text that is already right
        self.protected = sorted(self.by_text, key=len, reverse=True)
        # drug names held inside longer drug names (硝酸异山梨酯 in 单硝酸异山梨酯): term → (longer, offset)
        self.supers: dict[int, list[tuple[int, int]]] = defaultdict(list)
        drugs = [(i, t) for i, t in enumerate(self.terms) if t.kind == "drug"]
        for i, t in drugs:
            for j, u in drugs:
                if len(u.text) > len(t.text) and t.text in u.text:
                    self.supers[i].append((j, u.text.index(t.text)))


def _index_hits(index: Mapping[tuple[int, int, str], Iterable[_K]], fuzzy: Sequence[str]) -> dict[_K, int]:
    """For each name indexed by (length, position, fuzzy syllable): how many of ``fuzzy``'s syllables
    it shares at the same position, among names as long as ``fuzzy``."""
    hits: dict[_K, int] = defaultdict(int)
    for q, syllable in enumerate(fuzzy):
        for key in index.get((len(fuzzy), q, syllable), ()):
            hits[key] += 1
    return hits


@lru_cache(maxsize=2)
def _rival_tables(names: frozenset[str]) -> tuple[dict[tuple[int, int, str], list[str]], dict[str, tuple[str, ...]]]:
    index: dict[tuple[int, int, str], list[str]] = defaultdict(list)
    pinyin: dict[str, tuple[str, ...]] = {}
    for name in names:
        if 3 <= len(name) <= 10:
            plain = _syllables(name)[0]
            if len(plain) == len(name):
                pinyin[name] = plain
                for q, syllable in enumerate(plain):
                    index[(len(name), q, _fuzzy(syllable))].append(name)
    return dict(index), pinyin


def default_lexicon_path() -> Path:
    """``rules/lexicon/asr_terms.yaml`` inside the installed package."""
    return Path(str(resources.files("toolkit") / "rules" / "lexicon" / "asr_terms.yaml"))


def load_lexicon_terms(path: Path | None = None) -> list[Term]:
    """Read and validate the ASR vocabulary file; errors name the file and the bad key."""
    path = path or default_lexicon_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _LexiconFile.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError([f"{path}: cannot read ({exc})"]) from exc
    except ValidationError as exc:
        raise KnowledgeError([f"{path} -> {'.'.join(map(str, e['loc']))}: {e['msg']}"
                              for e in exc.errors()]) from exc
    problems = [f"{path} -> terms -> {k}: unknown kind; allowed: {', '.join(LEXICON_KINDS)}"
                for k in parsed.terms if k not in LEXICON_KINDS]
    terms = []
    for kind, words in parsed.terms.items():
        for i, w in enumerate(words):
            if not _CJK_RUN.fullmatch(w) or len(w) < 2:
                problems.append(f"{path} -> terms -> {kind}[{i}]: '{w}' must be 2+ Chinese characters")
            else:
                terms.append(make_term(w, kind))
    if problems:
        raise KnowledgeError(problems)
    return terms


def build_lexicon(knowledge: object | None = None, lexicon_path: Path | None = None) -> Lexicon:
    """Drug names (generic, salt, brand) from the knowledge base plus the ASR vocabulary file."""
    terms: dict[str, Term] = {}
    misspellings: dict[str, Term] = {}
    generics: set[str] = set()
    version = ""
    if knowledge is not None:
        version = str(getattr(knowledge, "version", ""))
        for d in getattr(knowledge, "drugs", {}).values():
            forms = (d.name, *getattr(d, "salts", ()), *getattr(d, "brands", ()))
            generics.update((d.name, *getattr(d, "salts", ())))
            for form in forms:
                if form and _CJK_RUN.fullmatch(form) and len(form) >= 2:
                    terms.setdefault(form, make_term(form, "drug", d.id))
            generic = terms.get(d.name)
            for alias in getattr(d, "aliases", ()):
                if (generic and _CJK_RUN.fullmatch(alias) and alias not in terms
                        and make_term(alias, "drug").pinyin == generic.pinyin):
                    misspellings[alias] = generic
    for t in load_lexicon_terms(lexicon_path):
        terms.setdefault(t.text, t)
    # common primary-care drugs outside the formulary (no id): true homophones of 4+ characters only
    for name in load_other_drug_names(lexicon_path, part="hand"):
        if len(name) >= 4 and name not in terms and not name.endswith("菌"):  # 双歧杆菌: microbes are talked of
            terms[name] = make_term(name, "drug")
    others = frozenset(n for n in load_other_drug_names(lexicon_path) if n not in terms)
    return Lexicon(list(terms.values()), misspellings, version, others, frozenset(generics))


@lru_cache(maxsize=4)
def _read_drugs_extra(path: str, mtime_ns: int) -> dict[str, Any]:
    """The parsed file, once per path and modification time (11,000 names: ~1 s of YAML)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError([f"{path}: cannot read ({exc})"]) from exc
    if not isinstance(data, dict):
        raise KnowledgeError([f"{path}: expected a mapping of name lists (hand, derived, …)"])
    return data


def load_other_drug_names(lexicon_path: Path | None = None, part: str | None = None) -> list[str]:
    """Drug names outside the formulary (``drugs_extra.yaml`` beside the ASR vocabulary), if present.

    They are never corrected into a formulary drug: 呋喃唑酮 100毫克 stays 呋喃唑酮. ``part="hand"``:
    only the common primary-care drugs written by hand for this project, which the corrector also
    snaps true homophones to (no formulary id; 绿碳酸美 → 铝碳酸镁); the 11,000 names derived from
    CMeKG are too many to guess between.
    """
    path = (lexicon_path or default_lexicon_path()).with_name("drugs_extra.yaml")
    if not path.is_file():
        return []
    data = _read_drugs_extra(str(path), path.stat().st_mtime_ns)
    parts = [data.get(part)] if part else list(data.values())  # hand, oncology, derived, stems
    names = [n for names in parts if isinstance(names, list) for n in names]
    return [n for n in names if isinstance(n, str) and _CJK_RUN.fullmatch(n) and len(n) >= 2]


@lru_cache(maxsize=4)
def default_lexicon(rules_dir: str | None = None) -> Lexicon:
    """The lexicon of this process's knowledge base, built once.

    When the knowledge base does not load, drug names cannot be corrected: the
    lexicon falls back to the ASR vocabulary file alone, says so in its
    ``version`` (returned with every transcript) and logs a warning.
    """
    from toolkit.knowledge import get_knowledge

    try:
        knowledge = get_knowledge(rules_dir)
    except KnowledgeError as exc:
        log.warning("knowledge base did not load (%d problems): drug-name correction is off",
                    len(exc.problems))
        lexicon = build_lexicon(None)
        lexicon.version = "asr_terms only (knowledge base failed to load)"
        return lexicon
    lexicon = build_lexicon(knowledge)
    lexicon.rivals()  # once per process, at load rather than under the first transcript
    return lexicon


@dataclass(frozen=True, slots=True)
class Match:
    """A replacement inside one text: ``text[offset:offset+len(original)]`` → ``corrected``."""

    offset: int
    original: str
    corrected: str
    kind: str
    term_id: str | None
    score: float
    reason: str


def _protected_spans(text: str, lexicon: Lexicon) -> list[bool]:
    mask = [False] * len(text)
    for form in lexicon.protected:
        start = text.find(form)
        while start >= 0:
            for k in range(start, start + len(form)):
                mask[k] = True
            start = text.find(form, start + 1)
    return mask


def find_corrections(text: str, lexicon: Lexicon, *, context: str | None = None) -> list[Match]:
    """Every homophone of a known term in ``text``, non-overlapping, sorted by position.

    Two passes: a correction can create the context another needs (5好课 → 5毫克
    makes the drug name before it a dose line). ``context`` is the whole
    transcript (medical context for short record words); it defaults to ``text``.
    """
    first = _find_corrections(text, lexicon, context)
    if not first:
        return first
    second = _find_corrections(apply_matches(text, first), lexicon, context)
    return sorted([*first, *(m for m in second if m.original == text[m.offset:m.offset + len(m.original)])],
                  key=lambda m: m.offset)


_AMBIGUITY_MARGIN = 0.1  # a second drug this close in pinyin makes the window ambiguous


def _find_corrections(text: str, lexicon: Lexicon, context: str | None) -> list[Match]:
    protected = _protected_spans(text, lexicon)
    medical_doc = bool(_MEDICAL_CONTEXT.search(context if context is not None else text)) or any(protected)
    candidates: list[tuple[tuple[float, int, float], Match]] = []
    for alias, target in lexicon.misspellings.items():
        start = text.find(alias)
        while start >= 0:
            candidates.append(((1.0, len(alias), 1.0), Match(
                start, alias, target.text, target.kind, target.term_id, 1.0,
                "known misspelling in the formulary (same pinyin)")))
            start = text.find(alias, start + 1)
    for run in _NAME_RUN.finditer(text):
        seg = run.group()
        plain, tones = _syllables(seg.translate(_SPOKEN_AS))
        fz = [_fuzzy(s) for s in plain]
        for length in lexicon.lengths:
            if length > len(seg) or length < 2:
                continue
            allowed = 1 if length <= 4 else (2 if length < 8 else 3)
            for i in range(len(seg) - length + 1):
                start = run.start() + i
                if all(protected[start:start + length]):
                    continue
                counts = _index_hits(lexicon.index, fz[i:i + length])
                best: list[tuple[tuple[float, int, float], Match]] = []
                has_digit = any(ch.isdigit() for ch in seg[i:i + length])
                for ti, hits in counts.items():
                    if hits < length - allowed:
                        continue
                    term = lexicon.terms[ti]
                    if has_digit and term.kind != "drug":
                        continue  # 2型糖尿病 is written as said: only a drug name may hold a misheard digit
                    # text that already spells a known term may only be extended, never changed
                    if any(protected[start + k] and seg[i + k] != term.text[k] for k in range(length)):
                        continue
                    m = _score(text, start, seg[i:i + length], plain[i:i + length], tones[i:i + length],
                               term, medical_doc, protected[start:start + length])
                    if m is not None:
                        best.append(_prefer_longer(m, lexicon, ti, seg, plain, i, run.start(), protected))
                if not best:
                    continue
                best.sort(key=lambda c: c[0], reverse=True)
                if len(best) > 1 and _ambiguous(best[0], best[1]):
                    log.debug("ambiguous window at %d: %d terms close", start, len(best))
                    continue
                candidates.append(best[0])
    candidates.extend(_slot_candidates(text, lexicon, protected))
    candidates.sort(key=lambda c: c[0], reverse=True)
    taken = [False] * len(text)
    matches: list[Match] = []
    for _, m in candidates:
        span = range(m.offset, m.offset + len(m.original))
        if any(taken[k] for k in span):
            continue
        for k in span:
            taken[k] = True
        matches.append(m)
    return sorted(matches, key=lambda m: m.offset)


def _ambiguous(first: tuple[tuple[float, int, float], Match], second: tuple[tuple[float, int, float], Match]) -> bool:
    """Two different terms about equally close: 头包克过 could be 头孢克洛 or 头孢克肟."""
    (py1, _, score1), m1 = first
    (py2, _, score2), m2 = second
    if m1.kind == "drug" and m2.kind == "drug" and m1.term_id != m2.term_id:
        return py1 - py2 < _AMBIGUITY_MARGIN
    return py1 == py2 and score1 == score2


def _prefer_longer(found: tuple[tuple[float, int, float], Match], lexicon: Lexicon, ti: int, seg: str,
                   plain: tuple[str, ...], i: int, run_start: int, protected: list[bool]
                   ) -> tuple[tuple[float, int, float], Match]:
    """A longer drug name holding this one when the text around it sounds like the rest of it.

    三小三一山离职 must become 单硝酸异山梨酯 (isosorbide mononitrate), not 三 + 硝酸异山梨酯
    (the dinitrate, another drug): every extra syllable must be at least half heard.
    """
    (_, length, _), m = found
    best = found
    for si, k in lexicon.supers.get(ti, ()):
        sup = lexicon.terms[si]
        lo = i - k
        hi = lo + len(sup.text)
        if lo < 0 or hi > len(seg) or all(protected[run_start + lo:run_start + hi]):
            continue
        if _swallows_verb(seg, hi, sup.text):
            continue
        sims = [syllable_similarity(a, b) for a, b in zip(plain[lo:hi], sup.pinyin, strict=True)]
        extra = sims[:k] + sims[k + length:]
        total = sum(sims) / len(sims)
        if min(extra) >= 0.4 and total >= 0.75 and len(sup.text) > best[0][1]:
            window = seg[lo:hi]
            chars = sum(1 for a, b in zip(window, sup.text, strict=True) if a == b) / len(window)
            score = round(0.6 * total + 0.25 * chars + 0.15, 3)
            reason = f"pinyin {total:.2f}, chars {chars:.2f}, longer name holding {m.corrected}"
            best = ((round(total, 3), len(sup.text), score),
                    Match(run_start + lo, window, sup.text, sup.kind, sup.term_id, score, reason))
    return best


def _swallows_verb(text: str, end: int, name: str) -> bool:
    """Replacing ``text[:end]``'s tail with ``name`` would change the first character of a verb said
    after it: 阿托把他听改为 — the 改 of 改为 is not the 钙 of 阿托伐他汀钙."""
    return text[end - 1] != name[-1] and bool(_VERB_AFTER_NAME.match(text, end - 1))


_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z",
             "c", "s", "y", "w")
_NUMERAL_BEFORE = re.compile(r"[0-9零〇一二两三四五六七八九十百千半]$")


_SEMIVOWEL_FINALS = {"yi": "i", "yin": "in", "ying": "ing", "yu": "v", "yue": "ve", "yuan": "van", "yun": "vn",
                     "wu": "u", "ya": "ia", "yan": "ian", "yang": "iang", "yao": "iao", "ye": "ie", "you": "iu",
                     "yong": "iong", "wa": "ua", "wo": "uo", "wai": "uai", "wei": "ui", "wan": "uan", "wen": "un",
                     "wang": "uang", "weng": "ong"}


def _split(syllable: str) -> tuple[str, str]:
    """(initial, final); y-/w- syllables are finals alone (肟 wo has the final of 过 guo)."""
    if syllable in _SEMIVOWEL_FINALS:
        return "", _SEMIVOWEL_FINALS[syllable]
    for ini in _INITIALS:
        if syllable.startswith(ini) and len(syllable) > len(ini):
            return ini, syllable[len(ini):]
    return "", syllable


def syllable_similarity(a: str, b: str) -> float:
    """1 same syllable, 0.8 same after merging common confusions, 0.5 same final, 0.4 same initial,
    0.3 same final but for the glide (uai/ai), else 0."""
    if a == b:
        return 1.0
    fa, fb = _fuzzy(a), _fuzzy(b)
    if fa == fb:
        return 0.8
    (ia, ra), (ib, rb) = _split(fa), _split(fb)
    if ra == rb:
        return 0.5
    if ia and ia == ib:
        return 0.4
    if len(ra) > 1 and len(rb) > 1 and ra.lstrip("uiv") == rb.lstrip("uiv") != "":
        return 0.3  # same vowel and coda, another glide (外 wai / 麦 mai)
    return 0.0


def _score(text: str, start: int, window: str, plain: tuple[str, ...], tones: tuple[str, ...], term: Term,
           medical_doc: bool, protected: list[bool]) -> tuple[tuple[float, int, float], Match] | None:
    length = len(window)
    if window == term.text:
        return None
    sims = [syllable_similarity(a, b) for a, b in zip(plain, term.pinyin, strict=True)]
    py = sum(sims) / length
    exact = sum(1 for x in sims if x == 1.0)
    close = sum(1 for x in sims if x >= 0.8)
    same_tones = sum(1 for a, b in zip(tones, term.tones, strict=True) if a == b)
    shared = sum(1 for a, b in zip(window, term.text, strict=True) if a == b)
    chars = shared / length
    if term.kind == "drug" and _swallows_verb(text, start + length, term.text):
        return None
    near = text[max(0, start - _CONTEXT_SPAN): start + length + _CONTEXT_SPAN]
    ctx = bool(_DRUG_CONTEXT.search(near)) if term.kind in ("drug", "form") else medical_doc
    if length == 2:
        if term.kind == "unit":  # 5好课 → 5毫克: a unit right after a number
            ctx = bool(_NUMERAL_BEFORE.search(text[:start]))
            ok = close == 2 and ctx
        else:
            ok = tones == term.tones and ctx and term.kind != "drug"
    elif term.kind != "drug" or any(protected) or term.term_id is None:
        # disease, symptom and record words, drugs outside the formulary, and any window extending
        # text that is already a known term: true homophones only (every syllable equal or a common
        # confusion)
        ok = close == length and (length > 3 or same_tones >= 2) and (shared >= 1 or ctx) and (py >= 0.9 or ctx)
    elif length == 3:
        ok = ((close == 3 and exact >= 2 and shared >= 1 and (py == 1.0 or ctx))
              or (exact == 3 and shared == 0 and same_tones >= 2 and ctx)
              or (exact == 2 and min(sims) >= 0.4 and shared >= 2 and ctx))
    else:
        # drug names: a syllable may be half-heard (same initial or final), one may be lost only
        # in long names; a drug missing from the formulary must not turn into one that is in it
        zeros = sum(1 for x in sims if x == 0.0)
        ok = (py >= 0.75 and zeros <= (0 if length <= 5 else 1)
              and ((shared >= 1 and (py >= 0.9 or ctx)) or (py >= 0.85 and ctx)))
    if not ok:
        return None
    score = round(0.6 * py + 0.25 * chars + 0.15 * ctx, 3)
    reason = f"pinyin {py:.2f}, chars {chars:.2f}, context {'yes' if ctx else 'no'}"
    return (round(py, 3), length, score), Match(start, window, term.text, term.kind, term.term_id, score, reason)


def apply_matches(text: str, matches: list[Match]) -> str:
    """``text`` with every match replaced (matches keep length, so offsets stay valid)."""
    chars = list(text)
    for m in matches:
        if len(m.corrected) == len(m.original):
            chars[m.offset:m.offset + len(m.original)] = list(m.corrected)
    out = "".join(chars)
    # misspellings may change length: apply them last, right to left
    for m in sorted((m for m in matches if len(m.corrected) != len(m.original)),
                    key=lambda m: m.offset, reverse=True):
        out = out[:m.offset] + m.corrected + out[m.offset + len(m.original):]
    return out


# --- drug slots: the name said right before a strength ---------------------------------------------
#
# Whisper base often garbles a drug name beyond what a same-length window can match: a syllable is
# dropped or added (又美沙 for 右美沙芬, 七天力情势 for 西替利嗪) or every syllable is only half heard
# (商律分散那 for 双氯芬酸钠). Where a strength follows (75毫克, 十毫克 heard as 时好课), the words before
# it are almost always the drug, so there the corrector aligns the heard syllables with each formulary
# name, allowing one dropped or added syllable (two in names of 6+ characters), and replaces the slot
# only when one drug is clearly the closest. Text that already spells a known term, or a drug outside
# the formulary, is never touched.

_SLOT_NUMBER = "0-9.零〇一二两三四五六七八九十百千点半"
_NUMBER_HEARD = {"十": "时是事实势式世市石使", "五": "无吴武舞", "二": "而儿尔"}  # 十 heard as another shi …
_HEARD_NUMBER = {ch: n for n, chars in _NUMBER_HEARD.items() for ch in chars}
_TEN_HEARD = "".join(_HEARD_NUMBER)
_SLOT_ANCHOR = re.compile(
    rf"(?:[{_SLOT_NUMBER}]+|[{_TEN_HEARD}])个?(?:毫克|微克|克|单位|毫升|好课|好客|好克|毫课|豪克|mg|μg|ug|g\b)",
    re.IGNORECASE)
_SLOT_FORMS = ("片", "粒", "丸", "胶囊", "颗粒", "缓释片", "控释片", "肠溶片", "分散片", "缓释胶囊", "肠溶胶囊",
               "泡腾片", "咀嚼片", "软胶囊", "混悬液", "气雾剂", "吸入剂", "喷雾剂", "粉雾剂",
               "注射液", "滴丸", "口服液")
_SLOT_STOP_CHARS = re.compile(r"[次每吃的和及或]")  # words of the dose line, not of a drug name
_SLOT_THRESHOLD = 0.6  # mean syllable similarity after gap penalties
_SLOT_MARGIN = 0.1  # over the closest other drug
_GAP = 0.5


def _inside_other_drug(text: str, run_start: int, start: int, end: int, lexicon: Lexicon) -> bool:
    """A drug name outside the formulary overlaps ``text[start:end]`` (坦索罗辛: 罗辛 is not a drug)."""
    lo, hi = run_start, min(len(text), end + 6)
    return any(text[i:j] in lexicon.other_drugs
               for i in range(lo, end) for j in range(max(i + 2, start + 1), min(hi, i + 16) + 1))


def _trailing_form_lengths(text: str, end: int, run_start: int) -> list[int]:
    """Lengths of a dosage form said between the drug and its strength (怀事片 ≈ 缓释片)."""
    out = [0]
    for form in _SLOT_FORMS:
        n = len(form)
        if end - n < run_start + 2:
            continue
        heard = text[end - n:end]
        if heard == form:
            out.append(n)
            continue
        if heard[-1] != form[-1] or n == 1:
            continue
        sims = [syllable_similarity(a, b) for a, b in zip(lazy_pinyin(heard), lazy_pinyin(form), strict=False)]
        if len(sims) == n and sum(sims) / n >= 0.75:
            out.append(n)
    return sorted(set(out))


def _align_right(term: tuple[str, ...], heard: list[str], max_gaps: int, *, loose: bool = False,
                 whole: bool = False) -> tuple[float, int]:
    """Best alignment of all of ``term`` with a suffix of ``heard``: (score, characters used).

    Score: sum of syllable similarities minus 0.5 per dropped or added syllable; the alignment is
    anchored at the right end (the strength) and may start anywhere on the left. A syllable that
    shares nothing with the name's (西沙比利 for 莫沙必利) rules the name out, except in names of six
    or more characters (``loose``: four or more), where it counts as one of the gaps. ``whole``:
    the alignment must use all of ``heard``.
    """
    n, m = len(term), len(heard)
    neg = float("-inf")
    # d[i][j]: last i term syllables aligned with last j heard syllables; g: gaps used
    d = [[neg] * (m + 1) for _ in range(n + 1)]
    g = [[0] * (m + 1) for _ in range(n + 1)]
    d[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(0, m + 1):
            best, gaps = neg, 0
            if j and d[i - 1][j - 1] > neg:
                sim = syllable_similarity(heard[m - j], term[n - i])
                if sim > 0:
                    best, gaps = d[i - 1][j - 1] + sim, g[i - 1][j - 1]
                elif n >= (4 if loose else 6) and g[i - 1][j - 1] < max_gaps:  # a long name may have one syllable misheard
                    best, gaps = d[i - 1][j - 1] - _GAP, g[i - 1][j - 1] + 1
            if d[i - 1][j] > neg and g[i - 1][j] < max_gaps and d[i - 1][j] - _GAP > best:
                best, gaps = d[i - 1][j] - _GAP, g[i - 1][j] + 1  # a term syllable not heard
            if j and d[i][j - 1] > neg and g[i][j - 1] < max_gaps and i > 0 and d[i][j - 1] - _GAP > best:
                best, gaps = d[i][j - 1] - _GAP, g[i][j - 1] + 1  # an extra syllable heard
            d[i][j], g[i][j] = best, gaps
    j_best = m if whole else max(range(1, m + 1), key=lambda j: d[n][j], default=0)
    return (d[n][j_best], j_best) if j_best else (neg, 0)


# Whisper writes a syllable it cannot place as a digit or a Latin letter (脱拉3米 for 托拉塞米, AT落 for
# 阿替洛尔): read each as the syllable it stands for (letters said in one syllable only)
_LETTERS = "ABCDEGJKNOPQTUVYZ"
_SPOKEN_AS = str.maketrans("0123456789" + _LETTERS + _LETTERS.lower(),
                           "零一二三四五六七八九" + "阿比西迪伊吉杰开恩欧皮丘替优维歪贼" * 2)
_CUE_WORDS = ("加用", "给予", "改为", "改用", "换成", "换用", "继续", "停用", "予以", "联合", "服用", "加服", "吸入", "口服")
_CUE_STOP = re.compile(r"吸入|口服|含服|皮下注射|外用|雾化|每日|每天|一天|一日|每晚|睡前|按需|必要时|[，。、；,;]|$")
_CUE_THRESHOLD = 0.8  # no strength to vouch for the slot: ask for a closer match


def _is_cue(text: str, i: int) -> bool:
    """``text[i:i+2]`` is a prescribing verb, or sounds like one (即与 for 给予, 夹用 for 加用)."""
    pair = text[i:i + 2]
    if len(pair) < 2 or not _CJK_RUN.fullmatch(pair):
        return False
    if pair in _CUE_WORDS:
        return True
    return tuple(_fuzzy(x) for x in lazy_pinyin(pair)) in _cue_pinyin()


@lru_cache(maxsize=1)
def _cue_pinyin() -> frozenset[tuple[str, ...]]:
    """Fuzzy pinyin of the cue words (computed on first use: pypinyin is imported lazily)."""
    return frozenset(tuple(_fuzzy(x) for x in lazy_pinyin(w)) for w in _CUE_WORDS)


def _rank_slot(text: str, lexicon: Lexicon, protected: list[bool], run_start: int, ends: list[int],
               whole: bool, why: str, loose: bool = False) -> list[tuple[float, Match]]:
    """Best window per drug ending at one of ``ends`` (``whole``: the window must start at ``run_start``).

    ``loose`` (candidates for the audio to choose from, never replaced on sound alone): a syllable
    heard as something else counts as a gap in names of four or more characters, two gaps allowed,
    and the first syllable need not sound alike.
    """
    best_by_drug: dict[str | None, tuple[float, Match]] = {}
    for end in ends:
        lo = run_start if whole else max(run_start, end - 10)
        region = text[lo:end]
        if len(region) < 2 or any(protected[k] for k in range(max(lo, end - 2), end)):
            continue  # a known term already ends here (the drug was heard right)
        heard = list(_syllables(region.translate(_SPOKEN_AS))[0])
        if len(heard) != len(region):
            continue
        for term in lexicon.slot_terms:
            n = len(term.text)
            score, used = _align_right(term.pinyin, heard, 2 if loose or n > 5 else 1, loose=loose, whole=whole)
            if used < 3 or score / n < _SLOT_THRESHOLD - _SLOT_MARGIN or (whole and used != len(region)):
                continue
            start = end - used
            window = text[start:end]
            known = 0  # a known name at the start may only be extended (阿莫西林 + 克拉维钾 → 阿莫西林克拉维酸钾)
            while known < used and protected[start + known]:
                known += 1
            if (window == term.text or any(protected[start + known:end]) or window[:known] != term.text[:known]
                    or (not loose and syllable_similarity(heard[len(heard) - used], term.pinyin[0]) == 0)  # starts like
                    or _SLOT_STOP_CHARS.search(window)
                    or _inside_other_drug(text, run_start, start + known, end, lexicon)):
                continue
            mean = score / n
            kept = best_by_drug.get(term.term_id)
            if kept is None or mean > kept[0]:
                chars = sum(1 for x, y in zip(window, term.text, strict=False) if x == y) / n
                best_by_drug[term.term_id] = (mean, Match(
                    start, window, term.text, "drug", term.term_id, round(0.6 * mean + 0.25 * chars + 0.15, 3),
                    f"drug slot {why}: pinyin {mean:.2f} (aligned, gaps allowed)"))
    return sorted(best_by_drug.values(), key=lambda c: c[0], reverse=True)


def _clear_winner(ranked: list[tuple[float, Match]], threshold: float) -> Match | None:
    if not ranked:
        return None
    top, match = ranked[0]
    if top >= threshold and (len(ranked) == 1 or top - ranked[1][0] >= _SLOT_MARGIN):
        return match
    return None


@dataclass(frozen=True, slots=True)
class _Slot:
    """A place where a drug name is said, with the formulary drugs ranked by how they sound there."""

    anchor: int  # where the strength (or how the drug is taken) starts
    why: str
    ranked: list[tuple[float, Match]]
    threshold: float  # the best drug needs this mean syllable similarity to win on sound alone
    run_start: int
    protected_before: bool  # a known drug name ends within 8 characters of the anchor


def _slots(text: str, lexicon: Lexicon, protected: list[bool], loose: bool = False) -> Iterator[_Slot]:
    for anchor in _SLOT_ANCHOR.finditer(text):  # the name said before a strength
        a = anchor.start()
        run_start = a
        while run_start > 0 and (_CJK_RUN.fullmatch(text[run_start - 1]) or text[run_start - 1] in _LETTERS
                                 or text[run_start - 1] in _LETTERS.lower() or (
                text[run_start - 1].isascii() and text[run_start - 1].isdigit() and run_start > 1
                and _CJK_RUN.fullmatch(text[run_start - 2]))):
            run_start -= 1
        if a - run_start < 2:
            continue
        ends = [a - trail for trail in _trailing_form_lengths(text, a, run_start)]
        yield _Slot(a, "before a strength",
                    _rank_slot(text, lexicon, protected, run_start, ends, False, "before a strength", loose),
                    _SLOT_THRESHOLD, run_start, any(protected[max(run_start, a - 8):a]))
    for i in range(len(text) - 1):  # the name said between a prescribing verb and how it is taken
        if not _is_cue(text, i):
            continue
        start = i + 2
        stop = _CUE_STOP.search(text, start + 2)
        if stop is None or not 3 <= stop.start() - start <= 10:
            continue
        end = stop.start()
        if _SLOT_ANCHOR.search(text, start, end + 12) and _SLOT_ANCHOR.search(text, start, end + 12).start() <= end:
            continue  # a strength inside: handled above
        ends = [end - trail for trail in _trailing_form_lengths(text, end, start)]
        yield _Slot(end, "after a prescribing verb",
                    _rank_slot(text, lexicon, protected, start, ends, True, "after a prescribing verb", loose),
                    _CUE_THRESHOLD, start, any(protected[start:end]))
    if not loose:
        return
    for clause in _CLAUSE_START.finditer(text):  # a dose line that opens on the drug: 噻托溴铵吸入，每日一次
        start = clause.end()
        usage = _USAGE_AFTER.search(text, start + 3, start + 11)
        if usage is None or not _SLOT_RUN.fullmatch(text, start, usage.start()):
            continue
        end = usage.start()
        ends = [end - trail for trail in _trailing_form_lengths(text, end, start)]
        yield _Slot(end, "at the start of a dose line",
                    _rank_slot(text, lexicon, protected, start, ends, True, "at the start of a dose line", True),
                    float("inf"), start, any(protected[start:end]))


_CLAUSE_START = re.compile(r"(?:^|[，。；;,])")
_USAGE_AFTER = re.compile(r"吸入|口服|含服|皮下注射|外用|雾化|每日|每天|一天|一日|每晚|睡前|按需|必要时|继续服用|继续使用")
_SLOT_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff0-9A-Za-z]+")


def _slot_candidates(text: str, lexicon: Lexicon, protected: list[bool]
                     ) -> list[tuple[tuple[float, int, float], Match]]:
    out: list[tuple[tuple[float, int, float], Match]] = []
    for slot in _slots(text, lexicon, protected):
        match = _clear_winner(slot.ranked, slot.threshold)
        if match is not None:
            out.append(((match.score - 1.5, len(match.corrected), match.score), match))
        if slot.why != "before a strength":
            continue
        a = slot.anchor
        heard_number = _HEARD_NUMBER.get(text[a])  # the anchor's number is one homophone character
        if heard_number and (match is not None or slot.protected_before):  # 依那普利时好课: the strength is 十毫克
            out.append(((0.0, 1, 0.75), Match(a, text[a], heard_number, "unit", None, 0.75,
                                             f"{heard_number} heard as a homophone between a drug and its unit")))
    return out


_LISTEN_FLOOR = _SLOT_THRESHOLD - _SLOT_MARGIN  # farther from the heard syllables: not worth asking the audio
_LISTEN_LIMIT = 5


@dataclass(frozen=True, slots=True)
class SlotChoice:
    """A drug slot that no formulary name wins by sound alone: the closest drugs, best first.

    Each candidate is a :class:`Match` on ``text`` (windows may differ in length). Which one, if
    any, was said is for the audio to tell (see ``toolkit.asr.transcribe``: Whisper's own
    likelihood of each reading).
    """

    why: str
    candidates: tuple[Match, ...]
    rivals: tuple[Match, ...] = ()  # drug names outside the formulary that sound as close: must lose too


def starts_alike(original: str, corrected: str) -> bool:
    """The first syllable heard shares an initial or a final with the name's (萝 and 罗 yes, 西 and 莫 no)."""
    heard = _syllables(original[:1].translate(_SPOKEN_AS))[0]
    said = _syllables(corrected[:1])[0]
    return bool(heard and said) and syllable_similarity(heard[0], said[0]) > 0


def slot_choices(text: str, lexicon: Lexicon, named: Sequence[Match] = ()) -> list[SlotChoice]:
    """Places in ``text`` where a drug name was probably said but :func:`find_corrections` could not
    settle which, with up to five candidates each (for the audio to choose, never replaced here).

    * a drug slot (before a strength, after a prescribing or taking verb, opening a dose line) whose
      closest drugs are within reach (mean syllable similarity ≥ 0.5, a syllable heard as another
      allowed in names of four or more characters) but not a clear winner on sound alone;
    * a window near a dose word that sounds like a formulary drug name, every syllable at least
      half heard (:func:`_near_names`);
    * a drug name heard right, or in ``named`` (corrections already made on ``text``), inside a
      longer formulary name whose other syllables were heard loosely (:func:`_longer_names`:
      布地奈德福末顿罗 → 布地奈德福莫特罗).
    """
    protected = _protected_spans(text, lexicon)
    settled = {s.anchor for s in _slots(text, lexicon, protected) if _clear_winner(s.ranked, s.threshold)}
    out = []
    for slot in _slots(text, lexicon, protected, loose=True):
        if slot.anchor in settled:
            continue
        close = [m for mean, m in slot.ranked[:_LISTEN_LIMIT] if mean >= _LISTEN_FLOOR]
        if close:
            out.append(SlotChoice(slot.why, tuple(close)))
    for more in (_longer_names(text, lexicon, named), _near_names(text, lexicon, protected)):
        taken = [(m.offset, m.offset + len(m.original)) for c in out for m in c.candidates]
        out.extend(c for c in more if not any(m.offset < hi and lo < m.offset + len(m.original)
                                              for m in c.candidates for lo, hi in taken))
    return [replace(c, rivals=_rivals(text, lexicon, c.candidates)) for c in out]


_RIVAL_FLOOR = 0.6
_RIVAL_LIMIT = 3


def _rivals(text: str, lexicon: Lexicon, candidates: Sequence[Match]) -> tuple[Match, ...]:
    """Known drug names outside the formulary as close in sound to a candidate's window (红梅素眼膏:
    红霉素眼膏 as well as 红霉素软膏): readings the audio must also rule out before a formulary name is
    taken, so that a drug we cannot audit is not turned into one we can."""
    out: dict[tuple[int, str], tuple[float, Match]] = {}
    index, pinyin = lexicon.rivals()
    for window in {(m.offset, m.original) for m in candidates}:
        offset, original = window
        heard = _syllables(original.translate(_SPOKEN_AS))[0]
        n = len(heard)
        if n != len(original):
            continue
        for name, count in _index_hits(index, [_fuzzy(x) for x in heard]).items():
            if count < 0.4 * n or name == original:
                continue
            sims = [syllable_similarity(a, b) for a, b in zip(heard, pinyin[name], strict=True)]
            mean = sum(sims) / n
            if mean >= _RIVAL_FLOOR and (offset, name) not in out:
                out[(offset, name)] = (mean, Match(offset, original, name, "other_drug", None, round(mean, 3),
                                                   f"drug outside the formulary: pinyin {mean:.2f}"))
    ranked = sorted(out.values(), key=lambda r: r[0], reverse=True)
    return tuple(m for _, m in ranked[:_RIVAL_LIMIT])


def _known_drug_spans(text: str, lexicon: Lexicon, named: Sequence[Match]) -> list[tuple[int, str]]:
    """(offset, name) of every formulary drug name spelled in ``text`` or in ``named``."""
    return [*((m.offset, m.corrected) for m in named if len(m.original) == len(m.corrected)),
            *_drug_spans(text, lexicon)]


def _longer_names(text: str, lexicon: Lexicon, named: Sequence[Match]) -> list[SlotChoice]:
    """Combination and salt names heard in part: a known drug name inside a longer formulary name
    (福莫特罗 in 布地奈德福莫特罗) whose other syllables sound like the text around it (mean ≥ 0.6, at most
    one syllable heard as another, none in a part of one or two syllables)."""
    out = []
    for start, name in _known_drug_spans(text, lexicon, named):
        term = lexicon.by_text.get(name)
        ti = lexicon.terms.index(term) if term is not None else -1
        for si, k in lexicon.supers.get(ti, ()):
            sup = lexicon.terms[si]
            lo, hi = start - k, start - k + len(sup.text)
            if lo < 0 or hi > len(text) or not _NAME_RUN.fullmatch(text, lo, hi) or text[lo:hi] == sup.text:
                continue
            heard = _syllables(text[lo:hi].translate(_SPOKEN_AS))[0]
            if len(heard) != hi - lo:
                continue
            extra = [syllable_similarity(heard[j], sup.pinyin[j]) for j in range(len(sup.text))
                     if not k <= j < k + len(name)]
            zeros = extra.count(0.0)
            mean = sum(extra) / len(extra)
            if mean < 0.6 or zeros > (0 if len(extra) <= 2 else 1) or _swallows_verb(text, hi, sup.text):
                continue
            out.append(SlotChoice("part of a longer drug name", (Match(
                lo, text[lo:hi], sup.text, "drug", sup.term_id, round(0.6 * mean + 0.4, 3),
                f"longer drug name holding {name}: the rest heard with pinyin {mean:.2f}"),)))
    return out


_NEAR_FLOOR = 0.7  # every syllable at least half heard (same initial or final), most of them better


def _near_window(text: str, lexicon: Lexicon, run_start: int, start: int, window: str, plain: tuple[str, ...],
                 term: Term) -> tuple[float, Match] | None:
    n = len(window)
    if window == term.text:
        return None
    sims = [syllable_similarity(a, b) for a, b in zip(plain, term.pinyin, strict=True)]
    mean = sum(sims) / n
    if min(sims) == 0 or mean < _NEAR_FLOOR:
        return None
    near = text[max(0, start - _CONTEXT_SPAN):start + n + _CONTEXT_SPAN]
    if (not _DRUG_CONTEXT.search(near) or _SLOT_STOP_CHARS.search(window) or _swallows_verb(text, start + n, term.text)
            or _inside_other_drug(text, run_start, start, start + n, lexicon)):
        return None
    chars = sum(1 for x, y in zip(window, term.text, strict=True) if x == y) / n
    return mean, Match(start, window, term.text, "drug", term.term_id, round(0.6 * mean + 0.25 * chars + 0.15, 3),
                       f"sounds like a drug name near a dose word: pinyin {mean:.2f}")


def _near_names(text: str, lexicon: Lexicon, protected: list[bool]) -> list[SlotChoice]:
    """Windows near a dose word that sound like a formulary drug but miss :func:`find_corrections`'s
    rules on sound alone (安律笔停 for 氨氯地平: no character shared): every syllable at least half
    heard, mean ≥ 0.7. Overlapping windows form one choice, closest first."""
    found: list[tuple[float, Match]] = []
    for run in _NAME_RUN.finditer(text):
        seg = run.group()
        plain = _syllables(seg.translate(_SPOKEN_AS))[0]
        if len(plain) != len(seg):
            continue
        fz = [_fuzzy(x) for x in plain]
        for n in lexicon.lengths:
            if not 3 <= n <= len(seg):
                continue
            for i in range(len(seg) - n + 1):
                start = run.start() + i
                if any(protected[start:start + n]):
                    continue
                # mean ≥ 0.7 needs ≥ 40 % of the syllables fuzzy-equal (the others score ≤ 0.5)
                for ti, count in _index_hits(lexicon.index, fz[i:i + n]).items():
                    if ti not in lexicon.slot_term_index or count < 0.4 * n:
                        continue
                    near = _near_window(text, lexicon, run.start(), start, seg[i:i + n], plain[i:i + n],
                                        lexicon.terms[ti])
                    if near is not None:
                        found.append(near)
    clusters: list[list[tuple[float, Match]]] = []
    for mean, m in sorted(found, key=lambda f: f[0], reverse=True):
        for cluster in clusters:
            best = cluster[0][1]
            if m.offset < best.offset + len(best.original) and best.offset < m.offset + len(m.original):
                cluster.append((mean, m))
                break
        else:
            clusters.append([(mean, m)])
    return [SlotChoice("sounds like a drug name", tuple(m for _, m in c[:_LISTEN_LIMIT])) for c in clusters]


_STRENGTH_UNIT = re.compile(r"毫克|微克|克|单位|mg|μg|ug", re.IGNORECASE)


def drug_slots(text: str, lexicon: Lexicon) -> tuple[int, int]:
    """(strengths with a known drug name said before them, strengths without one).

    A strength (10毫克) is nearly always said right after its drug; when no formulary or other known
    drug name ends within the 8 characters before it, the name was mis-heard beyond correction (a
    dosage form may sit between).
    """
    known = (lexicon.drug_names, lexicon.other_drugs)
    count = resolved = 0
    for anchor in _SLOT_ANCHOR.finditer(text):
        if not _STRENGTH_UNIT.search(anchor.group()) and not re.search("好课|好客|好克|毫课|豪克", anchor.group()):
            continue
        a = anchor.start()
        before = text[max(0, a - 8):a]
        if any(before[i:j] in names for names in known
               for i in range(len(before)) for j in range(i + 2, len(before) + 1)):
            resolved += 1
        else:
            count += 1
    return resolved, count


def _drug_spans(text: str, lexicon: Lexicon) -> list[tuple[int, str]]:
    """(offset, name) of the formulary drug names ``text`` spells (longest first, not overlapping)."""
    spans = []
    i = 0
    while i < len(text):
        step = next((n for n in lexicon.drug_name_lengths if text[i:i + n] in lexicon.drug_names), 0)
        if step:
            spans.append((i, text[i:i + step]))
        i += step or 1
    return spans


def drug_mentions(text: str, lexicon: Lexicon) -> int:
    """How many formulary drug names ``text`` spells (longest first, not overlapping)."""
    return len(_drug_spans(text, lexicon))
