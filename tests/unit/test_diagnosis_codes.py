"""Diagnoses written by name only (HIS exports' 临床诊断 text) get their ICD-10 code from the diagnosis
lexicon, so the checks keyed on codes see them: a 28-day amlodipine for 原发性高血压 is a chronic supply,
not "超过7日用量且无慢性病诊断"; denied, questioned and past conditions are not coded by a longer name."""

from __future__ import annotations

import pytest

from tests.conftest import item, make_case
from toolkit.audit import audit
from toolkit.knowledge import get_knowledge


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("原发性高血压", "I10"),
        ("高血压3级 极高危", "I10"),
        ("2型糖尿病", "E11.9"),
        ("慢性阻塞性肺疾病稳定期", "J44.9"),
        ("否认高血压", None),
        ("高血压？", None),
        ("脑出血后遗症", "I69.1"),  # the lexicon's own name of the sequela
        ("急性心肌梗死病史", None),
        ("胃溃疡史", None),
        ("", None),
    ],
)
def test_icd_of(written: str, code: str | None) -> None:
    got = get_knowledge().diagnosis_codes.icd_of(written)
    assert got == code or (code is not None and got is not None and got.startswith(code[:3])), (written, got)


def _days_findings(*diagnoses: tuple[str, str | None]) -> set[str]:
    case = make_case(item("苯磺酸氨氯地平片", days=28), diagnoses=list(diagnoses))
    return {f.rule_id for f in audit(case, get_knowledge()).findings if f.rule_id.startswith("RX-DAYS")}


def test_a_chronic_diagnosis_written_by_name_allows_a_28_day_supply() -> None:
    assert _days_findings(("原发性高血压", None)) == set()
    assert _days_findings(("原发性高血压", "I10")) == set()


def test_an_acute_or_unknown_diagnosis_by_name_still_gets_the_7_day_warning() -> None:
    assert "RX-DAYS-001" in _days_findings(("急性上呼吸道感染", None))
    assert "RX-DAYS-001" in _days_findings(("否认高血压", None))


def test_a_fixture_kb_without_the_lexicon_codes_nothing() -> None:
    from tests.conftest import FIXTURES
    from toolkit.knowledge.loader import load_knowledge

    assert load_knowledge(FIXTURES / "kb").diagnosis_codes.icd_of("原发性高血压") is None
