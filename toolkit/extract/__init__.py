"""Structuring dictated outpatient notes: ``extract(text, options) -> OutpatientRecord``.

Rule-based core (phase 1): a spaCy pipeline on ``spacy.blank("zh")`` with a lexicon span
ruler (formulary + ``rules/lexicon``), value parsers for vitals, labs and prescription lines,
and a section splitter for unpunctuated spoken text. A learned token classifier (phase 2)
plugs into the ``clinic_learned_ner`` slot of :func:`toolkit.extract.pipeline.build_pipeline`.
"""

from __future__ import annotations

from toolkit.extract.extract import ExtractOptions, Extractor, extract, get_extractor
from toolkit.extract.records import Entity, EntityLabel, ExtractedItem, OutpatientRecord, Section

__all__ = [
    "Entity",
    "EntityLabel",
    "ExtractOptions",
    "ExtractedItem",
    "Extractor",
    "OutpatientRecord",
    "Section",
    "extract",
    "get_extractor",
]
