"""The knowledge base: load + validate ``rules/``, name and unit normalisation."""

from __future__ import annotations

from functools import lru_cache

from toolkit.knowledge.loader import Knowledge, apply_local_rules, default_rules_dir, load_knowledge


@lru_cache(maxsize=8)
def get_knowledge(rules_dir: str | None = None, local: str | None = None) -> Knowledge:
    """The knowledge base for this process: loaded once per (rules_dir, local) and shared."""
    return load_knowledge(rules_dir, local)


__all__ = ["Knowledge", "apply_local_rules", "default_rules_dir", "get_knowledge", "load_knowledge"]
