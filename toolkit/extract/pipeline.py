"""The spaCy pipeline on ``spacy.blank("zh")`` (character segmentation: every span aligns).

Components, in order::

    clinic_lexicon      span_ruler: formulary drugs, diagnoses (ICD-10), symptoms, body parts, allergens
    clinic_morphology   diagnoses built from parts (site + histology + head + tails), whole-mention
                        boundaries (慢性 + 胃炎 + 伴糜烂), word-boundary checks
    clinic_values       vitals and labs with their parsed values
    clinic_sections     section splitter (cues + entity events)
    clinic_learned_ner  SLOT for the phase-2 token classifier (ONNX); absent unless a model is given
    clinic_assemble     context rules, overlaps, prescription lines → doc.ents and doc.user_data

Candidates live in ``doc.spans[...]`` (``span.id_`` carries the normalised value), so a learned
model only has to write its spans into ``doc.spans["clinic_model"]`` to take part. spaCy is
imported inside functions: ``import toolkit.extract`` stays light.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from toolkit.errors import require
from toolkit.extract import assemble as A
from toolkit.extract import values as V
from toolkit.extract.lexicon import COLLOQUIAL_DRUGS, Lexicon, Morphology
from toolkit.extract.sections import SectionSpan
from toolkit.extract.values import Candidate

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc

log = logging.getLogger(__name__)

LEXICON_KEY = "clinic_lexicon"
VALUES_KEY = "clinic_values"
MODEL_KEY = "clinic_model"
SECTIONS_KEY = "clinic_sections"
ENTITIES_KEY = "clinic_entities"


class EntityModel(Protocol):
    """What the phase-2 learned NER must provide: spans with labels from :class:`EntityLabel`."""

    name: str

    def predict(self, text: str) -> list[tuple[int, int, str, str | None]]:
        """(start, end, label, normalized or None) for one text."""
        ...


_REGISTERED = False


def _register() -> None:
    global _REGISTERED
    if _REGISTERED:
        return
    from spacy.language import Language

    @Language.factory("clinic_morphology", default_config={})
    def clinic_morphology(nlp: Language, name: str) -> Any:
        return _MorphologySlot()

    @Language.component("clinic_values")
    def clinic_values(doc: Doc) -> Doc:
        text = V.fold_width(doc.text)
        cands = [*V.find_vitals(text), *V.find_labs(text)]
        doc.spans[VALUES_KEY] = [_span(doc, c) for c in cands]
        return doc

    @Language.component("clinic_sections")
    def clinic_sections(doc: Doc) -> Doc:
        from toolkit.extract.sections import split_sections

        text = V.fold_width(doc.text)
        lex = A.refine_lexicon(text, _cands(doc, LEXICON_KEY, "lexicon"))
        sections = split_sections(text, [*lex, *_cands(doc, VALUES_KEY, "rule")])
        doc.spans[SECTIONS_KEY] = [
            doc.char_span(s.start, s.end, label=s.name, alignment_mode="expand") for s in sections
        ]
        doc.user_data[SECTIONS_KEY] = sections
        return doc

    @Language.factory("clinic_learned_ner", default_config={})
    def clinic_learned_ner(nlp: Language, name: str) -> Any:
        return _LearnedSlot()

    @Language.component("clinic_assemble")
    def clinic_assemble(doc: Doc) -> Doc:
        text = V.fold_width(doc.text)
        sections: list[SectionSpan] | None = doc.user_data.get(SECTIONS_KEY)
        analysis = A.analyse(
            text,
            _cands(doc, LEXICON_KEY, "lexicon"),
            _cands(doc, VALUES_KEY, "rule"),
            _cands(doc, MODEL_KEY, "model") if MODEL_KEY in doc.spans else (),
            sections,
            raw_text=doc.text,
        )
        doc.user_data[ENTITIES_KEY] = analysis
        spans = [
            doc.char_span(e.start, e.end, label=e.label.value, alignment_mode="expand")
            for e in analysis.entities
        ]
        doc.ents = [s for s in spans if s is not None]
        return doc

    _REGISTERED = True


class _LearnedSlot:
    """Phase-2 slot: runs an :class:`EntityModel` and writes its spans to ``doc.spans["clinic_model"]``."""

    def __init__(self) -> None:
        self.model: EntityModel | None = None

    def __call__(self, doc: Doc) -> Doc:
        if self.model is None:
            return doc
        spans = []
        text = V.fold_width(doc.text)
        for start, end, label, norm in self.model.predict(doc.text):
            if not model_span_ok(text, Candidate(start, end, label, norm, "model")):
                continue
            span = doc.char_span(start, end, label=label, alignment_mode="strict")
            if span is not None:
                span.id_ = norm or ""
                spans.append(span)
        doc.spans[MODEL_KEY] = spans
        return doc


class _MorphologySlot:
    """Rewrites ``doc.spans["clinic_lexicon"]`` with :func:`refine_mentions` (set up by build_pipeline)."""

    def __init__(self) -> None:
        self.morphology: Morphology | None = None
        self.diseases: dict[str, str] = {}
        self.drugs: dict[str, str | None] = {}

    def __call__(self, doc: Doc) -> Doc:
        if self.morphology is None or LEXICON_KEY not in doc.spans:
            return doc
        text = V.fold_width(doc.text)
        cands = refine_mentions(
            text, _cands(doc, LEXICON_KEY, "lexicon"), self.morphology, self.diseases, self.drugs
        )
        doc.spans[LEXICON_KEY] = [s for s in (_span(doc, c) for c in cands) if s is not None]
        return doc


_ASCII = re.compile(r"[A-Za-z0-9]")
_NOT_DISEASE_AFTER_BING = set("灶变理人房区例情程因种菌毒")  # 结节病灶, 占位性病变: 病 starts another word
# a diagnosis name right before a procedure word names the procedure (胃癌根治术), not a diagnosis
# (X手术 is left alone: 疝气手术, 阑尾炎手术 say the patient had the disease)
_PROCEDURE_AFTER = re.compile(r"(?:根治|切除|姑息|减瘤|介入|摘除|电切|剥离)(?!术后)|(?:微波|射频)?消融")
# a diagnosis as the object of a treatment verb is not a mention of the patient's diagnosis (纠正贫血, 抗感染);
# 预防 is left out: patients ask how to prevent a disease they have (预防牛皮癣复发)
_TREATED_BEFORE = re.compile(r"(?:纠正|抗)$")
# written before a drug name and part of it: enantiomers (右氧氟沙星, 左旋氨氯地平) and formulations
# (脂质体紫杉醇, 注射用顺铂)
_DRUG_PREFIX = re.compile(r"(?:注射用|脂质体|白蛋白结合型|白蛋白|重组人)?(?:左旋|右旋|消旋|左|右)?$")
_NEG_BEFORE = re.compile(r"(?:无|否认|没有|未见|未诉|不伴)(?:[^，。；,;]{0,8}[、和及或])?$")
_LIST_SEP = "、，,及和"
_JOIN = re.compile(r"(?:伴有|伴|并)(?!发症)")


def _bad_boundary(text: str, c: Candidate) -> bool:
    """A Latin name inside a longer Latin word (CF in CFDA, DDP in DDPX)."""
    first, last = text[c.start], text[c.end - 1]
    if (
        _ASCII.match(first)
        and c.start > 0
        and text[c.start - 1].isascii()
        and text[c.start - 1].isalpha()
        # …qdpoValsartan: a capitalised name right after a lowercase code starts a word of its own
        and not (first.isupper() and text[c.start - 1].islower() and len(text[c.start : c.end]) >= 4)
    ):
        return True
    return bool(
        _ASCII.match(last)
        and c.end < len(text)
        and text[c.end].isascii()
        and (text[c.end].isalpha() or (last.isdigit() and text[c.end].isdigit()))
    )


def _extend_disease(
    text: str, s: int, e: int, morph: Morphology, others: Sequence[Candidate] = ()
) -> tuple[int, int]:
    """(start, end) of the whole mention around [s, e): prefix (side, site, modifiers) and tails."""
    m = morph.prefix.search(text, max(0, s - 16), s)
    # the prefix must not cut into another word found there (慢阻肺 + 高血压 is not 肺高血压)
    if m and m.end() == s and m.start() < s and not any(o.start < m.start() < o.end for o in others):
        s = m.start()
    for _ in range(3):
        t = morph.tail.match(text, e)
        if not t or t.end() == e:
            break
        e = t.end()
    return s, e


def _symptom_context(text: str, cands: list[Candidate]) -> list[Candidate]:
    """A word that is both a symptom and a diagnosis (胸痛, 腹泻, 失眠) is only a symptom when it is negated
    (无腹痛、腹泻) or listed next to a symptom (胸闷、胸痛): drop its diagnosis reading there."""
    labels: dict[tuple[int, int], set[str]] = {}
    for c in cands:
        labels.setdefault((c.start, c.end), set()).add(c.label)
    symptom_only = [k for k, v in labels.items() if v == {"symptom"}]
    drop: set[tuple[int, int]] = set()
    for (s, e), v in labels.items():
        if not {"symptom", "disease"} <= v:
            continue
        negated = bool(_NEG_BEFORE.search(text, max(0, s - 12), s))
        listed = any(
            (oe == s - 1 and text[oe] in _LIST_SEP) or (os_ == e + 1 and text[e] in _LIST_SEP)
            for os_, oe in symptom_only
        )
        if negated or listed:
            drop.add((s, e))
    return [c for c in cands if not (c.label == "disease" and (c.start, c.end) in drop)]


_EDGE_PUNCT = set("“”\"'‘’「」《》（）()[]【】、，,。；;：:\\/+-")


def model_span_ok(text: str, c: Candidate) -> bool:
    """The context rules the lexicon spans obey, applied to a learned model's span: no punctuation at
    either edge or unbalanced brackets, no Latin word cut, no diagnosis naming a procedure (胃癌根治术)
    or the object of a treatment verb (抗感染)."""
    word = text[c.start : c.end]
    if not word or word[0] in _EDGE_PUNCT or word[-1] in _EDGE_PUNCT:
        return False
    if word.count("（") + word.count("(") != word.count("）") + word.count(")"):
        return False
    if _bad_boundary(text, c):
        return False
    return not (
        c.label == "disease"
        and (
            _PROCEDURE_AFTER.match(text, c.end) or _TREATED_BEFORE.search(text, max(0, c.start - 2), c.start)
        )
    )


# a side said before a body part belongs to it (左肩, 双侧腹股沟, 右耳鼓膜); a bare one-character part (肩, 耳,
# 腿) is a body part only with its side
_SIDE = r"(?:左侧|右侧|双侧|两侧|左|右|双)"
_SIDED_PART = re.compile(
    _SIDE
    + r"(?:(?:肩|膝|踝|肘|腕|髋)(?:关节)?|耳(?:鼓膜)?|(?:腹股沟|前臂|上臂|大腿根|大腿|小腿|脚踝|足背|手背|下颌|额部|颞部|"
    r"眼睑|手|足|脚|腿|胸|臂|额|颞|乳)(?:部|背|根)?)(?![\u4e00-\u9fff]{0,1}(?:炎|癌|瘤|病|症|综合征))"
)
# a one-character complaint right after a body part (左肩痛, 右耳疼, 右腿麻): a symptom of its own
_PART_COMPLAINT = re.compile(r"[疼痛痒麻肿]")


def _body_parts(text: str, cands: list[Candidate]) -> list[Candidate]:
    """Body parts with their side (左肩关节, 双侧腹股沟, 右耳鼓膜) and the one-character complaint said
    right after a body part (左肩痛 → 左肩 + 痛)."""
    out: list[Candidate] = []
    for m in _SIDED_PART.finditer(text):
        out.append(Candidate(m.start(), m.end(), "body_part", None, "lexicon"))
    side = re.compile(_SIDE + "$")
    for c in cands:
        if c.label == "body_part" and not text[c.start : c.end].startswith(("左", "右", "双", "两")):
            m = side.search(text, max(0, c.start - 2), c.start)
            if m:
                out.append(replace(c, start=m.start()))
    parts = [*out, *(c for c in cands if c.label == "body_part")]
    for c in parts:
        if c.end - c.start >= 2 and _PART_COMPLAINT.match(text, c.end):
            out.append(Candidate(c.end, c.end + 1, "symptom", None, "lexicon"))
    return out


_COLLOQUIAL = re.compile(
    r"(?<![零〇一二两三四五六七八九十百千点\d])("
    + "|".join(re.escape(k) for k in sorted(COLLOQUIAL_DRUGS, key=len, reverse=True))
    + r")(?=$|[^\u4e00-\u9fff]|[零〇一二两三四五六七八九十百半几每一早中晚睡饭餐和跟与及、还再加改减打吃用照继都也各先就的停换针"
    r"皮注])"
)


# what follows 阿托 when it is atropine: a fraction of a milligram, or an injection in its clause
_ATROPINE_SIG = re.compile(r"\s*(?:零点|0\s*\.|点)|[^，。；,;]{0,8}?(?:注射|肌注|静注|静推|皮下|打针|一针)")


def _colloquial_drugs(text: str, cands: Sequence[Candidate], drugs: dict[str, str | None]) -> list[Candidate]:
    """Drug mentions by a short name (甘精二十个单位, 打甘精和优泌乐, 瑞舒十毫克): the drug of the full
    name it stands for (:data:`COLLOQUIAL_DRUGS`), where no longer name was found over it and what follows
    is a number, a sig word, a joining word or a clause end (not 阿托品, 二甲硅油, 门冬氨酸钾镁)."""
    out = []
    for m in _COLLOQUIAL.finditer(text):
        full = COLLOQUIAL_DRUGS[m.group(1)]
        drug_id = drugs.get(full.lower())
        if drug_id is None or any(
            c.start < m.end() and m.start() < c.end for c in cands if c.label == "drug"
        ):
            continue
        if (
            m.group(1) in ("门冬", "赖脯")
            and re.match(r"\s*(?:(?:25|30|50)(?!\d)|\d\s*[/／]|[二三五]十)", text[m.end() :])
            and not _PREMIX_DOSE_AFTER.match(text, m.end())
        ):
            # 门冬三十, 门冬 30: a premix (read by _premix_mentions when the formulary has it), not the
            # short name; 门冬10个单位, 门冬三十个单位 is 门冬胰岛素 and its dose
            continue
        if m.group(1) == "阿托" and _ATROPINE_SIG.match(text, m.end()):
            continue  # 阿托0.5毫克肌注: 阿托品 said short (an injection, a fraction of a milligram), not 阿托伐他汀
        out.append(Candidate(m.start(), m.end(), "drug", drug_id, "lexicon"))
    return out


# A premix insulin said with its number in words (门冬胰岛素三十, 门冬三十, 诺和锐三十, 优泌乐二十五, 诺和灵三十R,
# 精蛋白人胰岛素预混三十) or as ASR writes it (门冬胰岛素3-0): the premix, not the rapid-acting or NPH insulin
# the name before the number is. The number is the premix only when no unit follows it: 门冬胰岛素三十个单位,
# 门冬胰岛素30单位 are 30 U of 门冬胰岛素 (a dose, the name as said; the speaker who means the premix says
# the number before the dose: 门冬胰岛素三十 早餐前十四个单位).
_PREMIX_NUMBER = r"(?P<num>二十五|[二三四五七]十|\d\s*[-－—–]\s*\d|\d{2})"
_PREMIX_WORDS = {"二十五": 25, "二十": 20, "三十": 30, "四十": 40, "五十": 50, "七十": 70}
# what may not follow the premix number: more numerals (三十五), a unit of dose (三十个单位, 30U, 三十毫升) or
# of mass (天门冬三十克 is the herb)
_PREMIX_NOT_AFTER = (
    r"(?![零〇一二两三四五六七八九十百千点.\d/])"
    r"(?!\s*(?:个|单位|[uU](?![a-zA-Z])|iu|IU|毫升|ml|mL|克|毫克|微克|g(?![a-zA-Z])|mg|μg))"
)
# a premix product name as the formulary writes it: a name, the mixture word, two digits (30R, 预混30R, (25R))
_PREMIX_KEY = re.compile(
    r"^(?P<prefix>[^\d]*?[\u4e00-\u9fff])[(（]?(?:预混|混合)?(?P<n>\d{2})(?:/\d{2})?r?[)）]?$", re.I
)
# a number and a unit of dose after a short name (门冬三十个单位): the dose, not a premix number
_PREMIX_DOSE_AFTER = re.compile(
    r"\s*(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百]+)\s*个?\s*(?:单位|[uU](?![a-zA-Z])|iu|IU)"
)
_PREMIX_SAID_UNIT = re.compile(r"\s*个?\s*(?:单位|[uU](?![a-zA-Z])|iu|IU)")
_premix_cache: tuple[dict[str, str | None] | None, Any, dict[tuple[str, int], str]] = (None, None, {})


def _premix_index(drugs: dict[str, str | None]) -> tuple[Any, dict[tuple[str, int], str]]:
    """(pattern of a premix said by its name and number, (name, number) → drug id), from the premix names
    of the lexicon's drugs (门冬胰岛素30, 甘舒霖30R, 精蛋白人胰岛素混合30R) and the short names (门冬30)."""
    global _premix_cache
    if _premix_cache[0] is drugs:
        return _premix_cache[1], _premix_cache[2]
    found: dict[tuple[str, int], set[str]] = {}
    keys = [(k, v) for k, v in drugs.items()]
    keys += [(k.lower(), drugs.get(full.lower())) for k, full in COLLOQUIAL_DRUGS.items()]
    for key, drug_id in keys:
        m = _PREMIX_KEY.match(key)
        if m is None or drug_id is None or len(m.group("prefix")) < 2:
            continue
        prefix = re.sub(r"(?:预混|混合)$", "", m.group("prefix"))
        if len(prefix) >= 2:
            found.setdefault((prefix, int(m.group("n"))), set()).add(drug_id)
    index = {k: next(iter(v)) for k, v in found.items() if len(v) == 1}
    prefixes = sorted({p for p, _ in index}, key=len, reverse=True)
    pattern = (
        re.compile(
            rf"(?<![天麦])(?P<name>{'|'.join(re.escape(p) for p in prefixes)})\s*[(（]?\s*(?:预混|混合)?\s*"
            rf"{_PREMIX_NUMBER}(?:\s*(?P<r>[rRＲ](?![a-zA-Z])))?(?:\s*[)）])?{_PREMIX_NOT_AFTER}",
            re.I,
        )
        if prefixes
        else None
    )
    _premix_cache = (drugs, pattern, index)
    return pattern, index


def _premix_number(said: str) -> int | None:
    said = re.sub(r"\s+", "", said)
    if said in _PREMIX_WORDS:
        return _PREMIX_WORDS[said]
    digits = re.sub(r"[-－—–]", "", said)
    return int(digits) if digits.isdigit() else None


def _premix_mentions(text: str, cands: list[Candidate], drugs: dict[str, str | None]) -> list[Candidate]:
    """Premix insulins said by name and number (门冬胰岛素三十 → 门冬胰岛素30) added as drug mentions over the
    name and the number; a premix name the lexicon found whose number is a dose (门冬胰岛素30个单位) read as
    the name before the number."""
    pattern, index = _premix_index(drugs)
    out: list[Candidate] = []
    for c in cands:
        if c.label != "drug":
            out.append(c)
            continue
        said = text[c.start : c.end]
        tail = re.search(r"\d{2}$", said)
        prefix = said[: tail.start()].strip().lower() if tail else ""
        if tail and _PREMIX_SAID_UNIT.match(text, c.end) and drugs.get(prefix):
            # 门冬胰岛素30个单位: 30 U of 门冬胰岛素, not the premix
            out.append(replace(c, end=c.start + len(said[: tail.start()].rstrip()), normalized=drugs[prefix]))
            continue
        out.append(c)
    if pattern is None:
        return out
    for m in pattern.finditer(text):
        n = _premix_number(m.group("num"))
        drug_id = index.get((m.group("name").lower(), n)) if n is not None else None
        if drug_id is not None:
            out.append(Candidate(m.start(), m.end(), "drug", drug_id, "lexicon"))
    return out


def refine_mentions(
    text: str,
    cands: list[Candidate],
    morph: Morphology,
    diseases: dict[str, str] | None = None,
    drugs: dict[str, str | None] | None = None,
) -> list[Candidate]:
    """Lexicon candidates → candidates with whole-mention diagnoses and drugs (pure; tests call it).

    * drops Latin names inside longer Latin words and diagnoses that start or end inside a word
      (结节病 in 结节病灶 is trimmed to a listed 结节… or dropped; 胃癌 in 胃癌根治术 names a procedure);
    * adds diagnoses built from parts (:class:`Morphology.mention`);
    * adds, for each diagnosis, the whole mention: side/site/modifier prefix and tails (术后, 转移,
      stage, 伴糜烂), and a lesion joined by 伴/并 to the next diagnosis as one mention (胆囊结石伴胆囊炎;
      two diagnoses of a comorbid patient stay two: 高血压伴高尿酸血症, 慢阻肺合并高血压).
    * adds, for each drug, the name with an enantiomer or formulation prefix (右氧氟沙星, 脂质体紫杉醇).
    The original spans are kept: overlaps are resolved longest-first by the assembler."""
    diseases = diseases or {}
    kept: list[Candidate] = []
    for c in cands:
        if _bad_boundary(text, c):
            continue
        if c.label == "disease":
            word = text[c.start : c.end]
            if (
                word.endswith("病")
                and text[c.end : c.end + 1] in _NOT_DISEASE_AFTER_BING
                and c.end < len(text)
            ):
                if word[:-1] in diseases and len(word) > 2:
                    c = replace(c, end=c.end - 1, normalized=diseases[word[:-1]])
                else:
                    continue
            if _PROCEDURE_AFTER.match(text, c.end) or _TREATED_BEFORE.search(
                text, max(0, c.start - 2), c.start
            ):
                continue
            if word.endswith("炎") and text.startswith("症", c.end):
                continue  # 肺炎症: inflammation of the lung, not 肺炎
        kept.append(c)
    kept = [*kept, *_colloquial_drugs(text, kept, drugs or {})]
    kept = _premix_mentions(text, kept, drugs or {})
    kept = _symptom_context(text, kept)
    out = [*kept, *_body_parts(text, kept)]
    for c in kept:
        if c.label == "drug":
            m = _DRUG_PREFIX.search(text, max(0, c.start - 8), c.start)
            if m and m.start() < c.start and not text[c.start : c.end].startswith(("左", "右")):
                # an enantiomer is another drug (levamlodipine is not amlodipine): its own id or none
                name = text[m.start() : c.end].lower()
                norm = (
                    (drugs or {}).get(name)
                    if any(x in text[m.start() : c.start] for x in "左右旋")
                    else c.normalized
                )
                out.append(replace(c, start=m.start(), normalized=norm))
    dis = [c for c in kept if c.label == "disease"]
    for m in morph.mention.finditer(text):
        if _PROCEDURE_AFTER.match(text, m.end()):
            continue
        if any(c.start <= m.start() and m.end() <= c.end for c in dis):
            continue  # the lexicon has it (or a longer one)
        c = Candidate(m.start(), m.end(), "disease", None, "lexicon")
        dis.append(c)
        out.append(c)
    extended: list[Candidate] = []
    symptom_spans = {(c.start, c.end) for c in kept if c.label == "symptom"}
    for c in dis:
        if (c.start, c.end) in symptom_spans:
            continue  # 水肿, 胸痛: a symptom word is not made a diagnosis by its modifiers
        comp = morph.complication.match(text, c.end)
        end = comp.end() if comp else c.end  # 高血压 + 肾病: the complication named after its cause
        s, e = _extend_disease(text, c.start, end, morph, kept)
        if (s, e) != (c.start, c.end):
            extended.append(replace(c, start=s, end=e, normalized=None if comp else c.normalized))
    out.extend(extended)
    # lesion 伴/并 diagnosis: one mention
    alld = sorted([*dis, *extended], key=lambda c: (c.start, -c.end))
    starts: dict[int, Candidate] = {}
    for c in alld:
        if c.start not in starts or c.end > starts[c.start].end:
            starts[c.start] = c
    for c in alld:
        # only a lesion joins what goes with it (胆管结石伴急性胆管炎); two diagnoses of a patient with
        # comorbidities stay two mentions (高血压伴高尿酸血症, 慢阻肺合并高血压)
        j = _JOIN.match(text, c.end)
        if j and j.end() in starts and morph.lesion_end.search(text, c.start, c.end):
            nxt = starts[j.end()]
            _s, e = _extend_disease(text, c.start, nxt.end, morph, kept)
            out.append(replace(c, end=e))
    return out


def _span(doc: Doc, c: Candidate) -> Any:
    span = doc.char_span(c.start, c.end, label=c.label, alignment_mode="expand")
    span.id_ = c.normalized or ""
    return span


def _cands(doc: Doc, key: str, source: str) -> list[Candidate]:
    if key not in doc.spans:
        return []
    return [Candidate(s.start_char, s.end_char, s.label_, s.id_ or None, source) for s in doc.spans[key]]


def build_pipeline(lexicon: Lexicon, model: EntityModel | None = None) -> Language:
    """Build the pipeline once per process (the phrase patterns take a second or two)."""
    spacy = require("spacy", "nlp")
    _register()
    nlp = spacy.blank("zh")  # character segmentation by default: entity spans always align
    ruler = nlp.add_pipe(
        "span_ruler",
        name="clinic_lexicon",
        config={
            "spans_key": LEXICON_KEY,
            "phrase_matcher_attr": "LOWER",
            "validate": False,
            "overwrite": True,
        },
    )
    ruler.add_patterns(lexicon.patterns())
    if lexicon.morphology is not None:
        morph = nlp.add_pipe("clinic_morphology")
        morph.morphology = lexicon.morphology
        morph.diseases = lexicon.diseases
        morph.drugs = {k.lower(): v for k, v in lexicon.drugs.items()}
    nlp.add_pipe("clinic_values")
    nlp.add_pipe("clinic_sections")
    if model is not None:
        slot = nlp.add_pipe("clinic_learned_ner")
        slot.model = model
    nlp.add_pipe("clinic_assemble")
    log.info("extraction pipeline built: %s", nlp.pipe_names)
    return nlp
