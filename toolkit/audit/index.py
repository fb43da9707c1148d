"""Which rules can apply to a drug, computed once per drug and knowledge base.

Rule targets name drugs and classes; a drug's keys (its ingredients and all
their classes) decide which rules can ever match it. Looking that up once per
drug instead of testing every rule on every line is what makes the batch fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolkit.knowledge.loader import Knowledge
from toolkit.knowledge.schema import Target


def _hits(target: Target, keys: frozenset[str]) -> bool:
    return not keys.isdisjoint(target.drugs) or not keys.isdisjoint(target.classes)


class RuleIndex:
    """Per-drug rule candidates for each rule family, filled lazily and kept for the process."""

    def __init__(self, kb: Knowledge):
        self.kb = kb
        self._families: dict[str, tuple[Sequence[Any], Any]] = {
            "ddi_a": (kb.interactions, lambda r: r.a),
            "ddi_b": (kb.interactions, lambda r: r.b),
            "ci": (kb.contraindications, lambda r: r.target),
            "ind": (kb.indications, lambda r: r.target),
            "xr": (kb.cross_reactivity, lambda r: r.target),
            "dup": (kb.duplicate_groups, lambda g: Target(classes=g.classes)),
        }
        self._cache: dict[tuple[str, str], frozenset[int]] = {}
        # other per-drug (or per-word) facts of this knowledge base that the checks derive once, by key
        self.memo: dict[Any, Any] = {}

    def keys(self, drug_id: str) -> frozenset[str]:
        """What rule targets are matched against for ``drug_id``: the id, its ingredients and all their
        classes."""
        return frozenset((drug_id, *self.kb.ingredients(drug_id))) | self.kb.classes_of(drug_id)

    def rules(self, family: str, drug_id: str) -> frozenset[int]:
        """Positions (in the KB's order) of the rules of ``family`` whose target matches ``drug_id``."""
        key = (family, drug_id)
        found = self._cache.get(key)
        if found is None:
            rules, target_of = self._families[family]
            keys = self.keys(drug_id)
            found = frozenset(i for i, r in enumerate(rules) if _hits(target_of(r), keys))
            self._cache[key] = found
        return found


_INDEXES: dict[int, tuple[Knowledge, RuleIndex]] = {}


def rule_index(kb: Knowledge) -> RuleIndex:
    """The index of a knowledge base (kept alive with it; one per KB object)."""
    entry = _INDEXES.get(id(kb))
    if entry is None or entry[0] is not kb:
        entry = (kb, RuleIndex(kb))
        _INDEXES[id(kb)] = entry
    return entry[1]
