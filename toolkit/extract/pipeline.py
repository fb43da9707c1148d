"""The spaCy pipeline on ``spacy.blank("zh")`` (character segmentation: every span aligns).

Components, in order::

    clinic_lexicon      span_ruler: formulary drugs, diagnoses (ICD-10), symptoms, body parts, allergens
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
from typing import TYPE_CHECKING, Any, Protocol

from toolkit.errors import require
from toolkit.extract import assemble as A
from toolkit.extract import values as V
from toolkit.extract.lexicon import Lexicon
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
        doc.spans[SECTIONS_KEY] = [doc.char_span(s.start, s.end, label=s.name, alignment_mode="expand")
                                   for s in sections]
        doc.user_data[SECTIONS_KEY] = sections
        return doc

    @Language.factory("clinic_learned_ner", default_config={})
    def clinic_learned_ner(nlp: Language, name: str) -> Any:
        return _LearnedSlot()

    @Language.component("clinic_assemble")
    def clinic_assemble(doc: Doc) -> Doc:
        text = V.fold_width(doc.text)
        sections: list[SectionSpan] | None = doc.user_data.get(SECTIONS_KEY)
        analysis = A.analyse(text, _cands(doc, LEXICON_KEY, "lexicon"), _cands(doc, VALUES_KEY, "rule"),
                             _cands(doc, MODEL_KEY, "model") if MODEL_KEY in doc.spans else (), sections,
                             raw_text=doc.text)
        doc.user_data[ENTITIES_KEY] = analysis
        spans = [doc.char_span(e.start, e.end, label=e.label.value, alignment_mode="expand")
                 for e in analysis.entities]
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
        for start, end, label, norm in self.model.predict(doc.text):
            span = doc.char_span(start, end, label=label, alignment_mode="strict")
            if span is not None:
                span.id_ = norm or ""
                spans.append(span)
        doc.spans[MODEL_KEY] = spans
        return doc


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
    ruler = nlp.add_pipe("span_ruler", name="clinic_lexicon",
                         config={"spans_key": LEXICON_KEY, "phrase_matcher_attr": "LOWER", "validate": False,
                                 "overwrite": True})
    ruler.add_patterns(lexicon.patterns())
    nlp.add_pipe("clinic_values")
    nlp.add_pipe("clinic_sections")
    if model is not None:
        slot = nlp.add_pipe("clinic_learned_ner")
        slot.model = model
    nlp.add_pipe("clinic_assemble")
    log.info("extraction pipeline built: %s", nlp.pipe_names)
    return nlp
