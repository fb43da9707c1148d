"""The ASR corrector's vocabulary: :class:`AsrLexicon`, the terms it may snap a transcript to.

Drug generic, salt and brand names from the knowledge base's formulary, the homophone aliases it
lists, the words of ``rules/lexicon/asr_terms.yaml`` (disease, symptom, exam, record, usage,
dosage-form and unit words) and the drug names outside the formulary (``drugs_extra.yaml``), each
with its pinyin, indexed by (length, position, fuzzy syllable) for fast candidate lookup.

Not to be confused with :class:`toolkit.extract.lexicon.Lexicon` (the extractor's vocabularies):
this class was called ``Lexicon`` too, and that name stays importable from
:mod:`toolkit.asr.correct` as an alias.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from toolkit.asr.phonetic import fuzzy_syllable, pinyin_syllables
from toolkit.errors import KnowledgeError

log = logging.getLogger(__name__)
_K = TypeVar("_K")


CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
LEXICON_KINDS = ("disease", "symptom", "exam", "record", "usage", "form", "unit")


class _LexiconFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
    terms: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Term:
    """One correctable written form."""

    text: str
    kind: str  # "drug" or a LEXICON_KINDS entry
    term_id: str | None
    pinyin: tuple[str, ...]
    tones: tuple[str, ...]
    fuzzy: tuple[str, ...]


def make_term(text: str, kind: str, term_id: str | None = None) -> Term:
    """A :class:`Term` with its pinyin computed."""
    plain, tones = pinyin_syllables(text)
    return Term(text, kind, term_id, plain, tones, tuple(fuzzy_syllable(s) for s in plain))


@dataclass
class AsrLexicon:
    """Terms indexed by (length, position, fuzzy syllable) for fast candidate lookup."""

    terms: list[Term]
    misspellings: dict[str, Term] = field(default_factory=dict)  # homophone alias → its generic term
    version: str = ""
    other_drugs: frozenset[str] = frozenset()  # drug names outside the formulary: never renamed into it
    generic_names: frozenset[str] = frozenset()  # formulary generic and salt names (drug slots snap to these)
    # the knowledge base the drug names came from (its doses and strengths tell a plausible dose: toolkit.asr.sig)
    knowledge: Any = field(default=None, repr=False, compare=False)

    def rivals(self) -> tuple[dict[tuple[int, int, str], list[str]], dict[str, tuple[str, ...]]]:
        """Drug names outside the formulary (3–10 characters) by (length, position, fuzzy syllable),
        and their pinyin; built on first use and shared by lexicons with the same names (pinyin of
        ~11,000 names: 1.6 s)."""
        return _rival_tables(self.other_drugs)

    def __post_init__(self) -> None:
        self.by_text = {t.text: t for t in self.terms}
        self.drug_names = frozenset(t.text for t in self.terms if t.kind == "drug")
        self.drug_name_lengths = sorted({len(n) for n in self.drug_names}, reverse=True)
        self.slot_terms = [
            t for t in self.terms if t.kind == "drug" and t.text in self.generic_names and len(t.text) >= 3
        ]
        self.slot_term_index = frozenset(
            i
            for i, t in enumerate(self.terms)
            if t.kind == "drug" and t.text in self.generic_names and len(t.text) >= 3
        )
        # the formulary's brand names of 3+ characters (西力欣, 洛汀新: doctors prescribe by brand): a
        # drug slot snaps to one only where no generic name wins (see toolkit.asr.slots)
        self.brand_slot_terms = [
            t
            for t in self.terms
            if t.kind == "drug"
            and t.term_id is not None
            and len(t.text) >= 3
            and t.text not in self.generic_names
            and bool(self.generic_names)
        ]
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


def index_hits(index: Mapping[tuple[int, int, str], Iterable[_K]], fuzzy: Sequence[str]) -> dict[_K, int]:
    """For each name indexed by (length, position, fuzzy syllable): how many of ``fuzzy``'s syllables
    it shares at the same position, among names as long as ``fuzzy``."""
    hits: dict[_K, int] = defaultdict(int)
    for q, syllable in enumerate(fuzzy):
        for key in index.get((len(fuzzy), q, syllable), ()):
            hits[key] += 1
    return hits


@lru_cache(maxsize=2)
def _rival_tables(
    names: frozenset[str],
) -> tuple[dict[tuple[int, int, str], list[str]], dict[str, tuple[str, ...]]]:
    index: dict[tuple[int, int, str], list[str]] = defaultdict(list)
    pinyin: dict[str, tuple[str, ...]] = {}
    for name in names:
        if 3 <= len(name) <= 10:
            plain = pinyin_syllables(name)[0]
            if len(plain) == len(name):
                pinyin[name] = plain
                for q, syllable in enumerate(plain):
                    index[(len(name), q, fuzzy_syllable(syllable))].append(name)
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
        raise KnowledgeError(
            [f"{path} -> {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from exc
    problems = [
        f"{path} -> terms -> {k}: unknown kind; allowed: {', '.join(LEXICON_KINDS)}"
        for k in parsed.terms
        if k not in LEXICON_KINDS
    ]
    terms = []
    for kind, words in parsed.terms.items():
        for i, w in enumerate(words):
            if not CJK_RUN.fullmatch(w) or len(w) < 2:
                problems.append(f"{path} -> terms -> {kind}[{i}]: '{w}' must be 2+ Chinese characters")
            else:
                terms.append(make_term(w, kind))
    if problems:
        raise KnowledgeError(problems)
    return terms


def build_lexicon(knowledge: object | None = None, lexicon_path: Path | None = None) -> AsrLexicon:
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
            for form in (*forms, *_short_brand_names(d)):
                if form and CJK_RUN.fullmatch(form) and len(form) >= 2:
                    terms.setdefault(form, make_term(form, "drug", d.id))
            generic = terms.get(d.name)
            for alias in getattr(d, "aliases", ()):
                if (
                    generic
                    and CJK_RUN.fullmatch(alias)
                    and alias not in terms
                    and make_term(alias, "drug").pinyin == generic.pinyin
                ):
                    misspellings[alias] = generic
    for t in load_lexicon_terms(lexicon_path):
        terms.setdefault(t.text, t)
    # allergen names the audit reads in 过敏史 (rules/allergy.yaml: 盘尼西林, 先锋霉素): a misheard one
    # loses the allergy; true homophones of 4+ characters only (小时候打盘泥西林过敏), as other drugs
    # (a spelling of a known name, 阿斯匹林 for 阿司匹林, would only make that name ambiguous: left out)
    groups = getattr(knowledge, "allergen_groups", None) or {}
    sounds = {t.pinyin for t in terms.values()}
    for group in groups.values() if isinstance(groups, dict) else groups:
        for name in getattr(group, "names", ()):
            if isinstance(name, str) and len(name) >= 4 and CJK_RUN.fullmatch(name) and name not in terms:
                term = make_term(name, "drug")
                if term.pinyin not in sounds:
                    terms[name] = term
    # common primary-care drugs outside the formulary (no id): true homophones of 4+ characters only
    for name in load_other_drug_names(lexicon_path, part="hand"):
        if (
            len(name) >= 4 and name not in terms and not name.endswith("菌")
        ):  # 双歧杆菌: microbes are talked of
            terms[name] = make_term(name, "drug")
    others = frozenset(n for n in load_other_drug_names(lexicon_path) if n not in terms)
    return AsrLexicon(list(terms.values()), misspellings, version, others, frozenset(generics), knowledge)


def _short_brand_names(drug: object) -> list[str]:
    """The names a brand is said by when it is not all Chinese characters or has a device after it:
    the Chinese part of 诺和灵R / 诺和灵30R (诺和灵) and an alias that begins a brand (信必可 of
    信必可都保). Only names of 3+ characters: a short part would be a word of ordinary speech."""
    brands = tuple(getattr(drug, "brands", ()))
    out = []
    for brand in brands:
        if not CJK_RUN.fullmatch(brand):
            out.extend(r for r in CJK_RUN.findall(brand) if len(r) >= 3 and brand.startswith(r))
    out.extend(
        a
        for a in getattr(drug, "aliases", ())
        if len(a) >= 3 and CJK_RUN.fullmatch(a) and any(b != a and b.startswith(a) for b in brands)
    )
    return out


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
    return [n for n in names if isinstance(n, str) and CJK_RUN.fullmatch(n) and len(n) >= 2]


@lru_cache(maxsize=4)
def default_lexicon(rules_dir: str | None = None) -> AsrLexicon:
    """The lexicon of this process's knowledge base, built once.

    When the knowledge base does not load, drug names cannot be corrected: the
    lexicon falls back to the ASR vocabulary file alone, says so in its
    ``version`` (returned with every transcript) and logs a warning.
    """
    from toolkit.knowledge import get_knowledge

    try:
        knowledge = get_knowledge(rules_dir)
    except KnowledgeError as exc:
        log.warning(
            "knowledge base did not load (%d problems): drug-name correction is off", len(exc.problems)
        )
        lexicon = build_lexicon(None)
        lexicon.version = "asr_terms only (knowledge base failed to load)"
        return lexicon
    lexicon = build_lexicon(knowledge)
    lexicon.rivals()  # once per process, at load rather than under the first transcript
    return lexicon


def drug_spans(text: str, lexicon: AsrLexicon) -> list[tuple[int, str]]:
    """(offset, name) of the formulary drug names ``text`` spells (longest first, not overlapping)."""
    spans = []
    i = 0
    while i < len(text):
        step = next((n for n in lexicon.drug_name_lengths if text[i : i + n] in lexicon.drug_names), 0)
        if step:
            spans.append((i, text[i : i + step]))
        i += step or 1
    return spans


def drug_mentions(text: str, lexicon: AsrLexicon) -> int:
    """How many formulary drug names ``text`` spells (longest first, not overlapping)."""
    return len(drug_spans(text, lexicon))
