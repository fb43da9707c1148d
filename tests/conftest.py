"""Shared fixtures. Unit tests run the engine on a small frozen knowledge base
(tests/fixtures/kb) so that they test logic, not the shipped KB's content; the
regression tests run the shipped KB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from toolkit.knowledge import load_knowledge
from toolkit.knowledge.loader import Knowledge
from toolkit.records import AuditCase

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def kb() -> Knowledge:
    return load_knowledge(FIXTURES / "kb")


@pytest.fixture(scope="session")
def shipped_kb() -> Knowledge:
    return load_knowledge()


def item(
    drug: str,
    dose: float | None = 1,
    unit: str | None = "片",
    frequency: str | None = "qd",
    route: str | None = "口服",
    days: float | None = 7,
    **extra: Any,
) -> dict[str, Any]:
    """A complete, plain prescription line; override what a test is about."""
    out: dict[str, Any] = {
        "drug": drug,
        "dose": dose,
        "unit": unit,
        "frequency": frequency,
        "route": route,
        "days": days,
    }
    out.update(extra)
    return out


def make_case(
    *items: dict[str, Any],
    age: float | None = 50,
    sex: str = "M",
    diagnoses: list[tuple[str, str | None]] | None = None,
    rx: dict[str, Any] | None = None,
    record: dict[str, str] | None = None,
    case_id: str = "T-1",
    **patient: Any,
) -> AuditCase:
    diagnoses = [("原发性高血压", "I10")] if diagnoses is None else diagnoses
    return AuditCase.model_validate(
        {
            "id": case_id,
            "patient": {
                "age": age,
                "sex": sex,
                "diagnoses": [{"name": n, "icd10": c} for n, c in diagnoses],
                **patient,
            },
            "prescription": {"items": list(items), **(rx or {})},
            "record": record or {},
        }
    )
