"""The stage's one verb: :func:`extract` (text → :class:`OutpatientRecord`), built once and reused."""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from toolkit.errors import InputError
from toolkit.extract import spoken_strength
from toolkit.extract.assemble import record_fields, to_sections
from toolkit.extract.current_meds import current_medications, without_continued_home_drugs
from toolkit.extract.lexicon import Lexicon, load_lexicon
from toolkit.extract.numbers import fold_width
from toolkit.extract.pipeline import ENTITIES_KEY, EntityModel, build_pipeline
from toolkit.extract.records import ExtractProvenance, OutpatientRecord
from toolkit.knowledge import get_knowledge

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language

log = logging.getLogger(__name__)

MAX_CHARS = 20_000
"""One dictated visit is a few hundred characters; far longer input is almost certainly not one note."""


@dataclass(frozen=True)
class ExtractOptions:
    """Per-call settings.

    ``rules_dir`` / ``local_rules``: knowledge base to normalise drug names against (default: shipped).
    ``lexicon_dir``: extraction vocabularies (default: ``rules/lexicon``).
    ``max_chars``: longer input is refused with an :class:`InputError` (split it into visits first).
    ``ner_model``: ``None`` (rules only), ``"default"`` (the shipped ``models/ner``) or a model directory:
    add the learned NER model; ``ner_min_confidence``: drop model spans with a character below this
    probability; ``ner_policy``: ``"fill"`` (model spans only where the rules found no entity; measured
    best on the gold set) or ``"merge"`` (model spans compete with lexicon spans).
    """

    rules_dir: str | None = None
    local_rules: str | None = None
    lexicon_dir: str | None = None
    max_chars: int = MAX_CHARS
    ner_model: str | None = None
    ner_min_confidence: float = 0.9
    ner_policy: str = "fill"


class Extractor:
    """The loaded lexicon and spaCy pipeline; call :meth:`extract` many times."""

    def __init__(self, options: ExtractOptions | None = None, model: EntityModel | None = None):
        self.options = options or ExtractOptions()
        kb = get_knowledge(self.options.rules_dir, self.options.local_rules)
        self._kb = kb
        self.lexicon: Lexicon = load_lexicon(kb, self.options.lexicon_dir)
        if model is None and self.options.ner_model:
            model = _learned_model(self.options)
        self.nlp: Language = build_pipeline(self.lexicon, model)
        self._lock = threading.Lock()  # spaCy pipelines are not documented as thread-safe
        self._provenance = ExtractProvenance(
            kb_version=self.lexicon.kb_version,
            pipeline=tuple(self.nlp.pipe_names),
            lexicons=dict(self.lexicon.counts),
            options={k: v for k, v in asdict(self.options).items() if v is not None},
        )

    @property
    def provenance(self) -> ExtractProvenance:
        """KB version, pipeline components, lexicon sizes and options of this extractor."""
        return self._provenance

    def extract(self, text: str) -> OutpatientRecord:
        """Structure one dictation. Raises :class:`InputError` for empty, non-text or over-long input."""
        if not isinstance(text, str):
            raise InputError(f"text must be a string, got {type(text).__name__}", field="text")
        if not text.strip():
            raise InputError("text is empty: nothing to extract", field="text")
        if len(text) > self.options.max_chars:
            raise InputError(
                f"text has {len(text)} characters; one outpatient note is expected "
                f"(limit {self.options.max_chars}); split the input into visits",
                field="text",
            )
        with self._lock:
            doc = self.nlp(text)
        analysis = doc.user_data[ENTITIES_KEY]
        fields = record_fields(text, analysis)
        log.debug(
            "extracted %d entities, %d sections, %d items",
            len(analysis.entities),
            len(analysis.sections),
            len(analysis.items),
        )
        sections = to_sections(text, analysis.sections)
        items = spoken_strength.apply(text, analysis.items, self._kb)
        # 氨氯地平接着吃 (家里一直吃氨氯地平): a home drug continued, a current medication, not a line
        items = without_continued_home_drugs(fold_width(text), analysis.entities, sections, items, self._kb)
        return OutpatientRecord(
            text_length=len(text),
            sections=sections,
            entities=analysis.entities,
            items=items,
            current_medications=current_medications(
                fold_width(text), analysis.entities, sections, items, self._kb
            ),
            provenance=self._provenance,
            **fields,
        )


def _learned_model(options: ExtractOptions) -> EntityModel:
    """The ONNX NER model for ``options`` (see :mod:`toolkit.extract.model`), wrapped for the policy."""
    from toolkit.extract.model import GapFillModel, load_ner_model

    if options.ner_policy not in ("fill", "merge"):
        raise InputError(
            f"unknown ner_policy {options.ner_policy!r}; allowed: fill, merge", field="ner_policy"
        )
    ner = load_ner_model(
        None if options.ner_model == "default" else options.ner_model,
        min_confidence=options.ner_min_confidence,
    )
    if options.ner_policy == "merge":
        return ner
    rules = get_extractor(replace(options, ner_model=None))
    return GapFillModel(ner, lambda text: [(e.start, e.end) for e in rules.extract(text).entities])


@lru_cache(maxsize=4)
def get_extractor(options: ExtractOptions | None = None) -> Extractor:
    """The extractor for these options, built once per process."""
    return Extractor(options)


def extract(text: str, options: ExtractOptions | None = None) -> OutpatientRecord:
    """Structure a dictated outpatient note into an :class:`OutpatientRecord` (entities with offsets,
    sections, vitals, labs, diagnoses with ICD-10, allergies, prescription items)."""
    return get_extractor(options or ExtractOptions()).extract(text)
