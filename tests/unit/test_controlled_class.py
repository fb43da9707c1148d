"""麻醉药品/精神药品 class of combination products (KB 2026.12, kbfix).

A combination product does not inherit its ingredients' controlled classes: the regulation classes compound
preparations by their own announcements (含羟考酮复方制剂 ≤ 5 mg/单位 → 第二类精神药品, 2019年第63号), so the
product states `controlled` and the loader refuses a combination with a controlled ingredient that does not.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import FIXTURES, item, make_case
from toolkit.audit import audit
from toolkit.errors import KnowledgeError
from toolkit.knowledge import load_knowledge

CONTROLLED = {"narcotic", "psychotropic_1", "psychotropic_2"}
PAIN = [("腰痛", "M54.5")]
COUGH = [("急性支气管炎", "J20.9")]


def ids(case: Any, kb: Any) -> dict[str, Any]:
    return {f.rule_id: f for f in audit(case, kb).findings}


# --------------------------------------------------------------------------- load-time validation


def _drug(did: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": did,
        "tier": "class",
        "name": name,
        "forms": [{"form": "片", "unit": "片", "routes": ["口服"]}],
        "references": ["test"],
        **extra,
    }


def _kb_with(tmp_path: Path, *drugs: dict[str, Any]) -> Path:
    root = tmp_path / "kb"
    shutil.copytree(FIXTURES / "kb", root)
    classes_file = root / "formulary" / "classes.yaml"
    have = {c["id"] for c in yaml.safe_load(classes_file.read_text("utf-8"))["classes"]}
    names = {"narcotic": "麻醉药品", "psychotropic_1": "第一类精神药品", "psychotropic_2": "第二类精神药品"}
    doc = {
        "classes": [{"id": c, "name": n} for c, n in names.items() if c not in have],
        "drugs": [_drug("opioid_x", "测试阿片", classes=["narcotic"]), *drugs],
    }
    (root / "formulary" / "controlled_test.yaml").write_text(
        yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8"
    )
    return root


def _combo(**extra: Any) -> dict[str, Any]:
    ings = [{"drug": "opioid_x", "unit": "mg"}, {"drug": "ibuprofen", "unit": "mg"}]
    return _drug("opioid_x_apap", "洛芬测试阿片", ingredients=ings, **extra)


def test_a_combination_states_its_own_class_and_does_not_inherit(tmp_path: Path) -> None:
    kb = load_knowledge(_kb_with(tmp_path, _combo(controlled="psychotropic_2")))
    assert kb.classes_of("opioid_x_apap") & CONTROLLED == {"psychotropic_2"}
    assert kb.classes_of("opioid_x") & CONTROLLED == {"narcotic"}
    # its other ingredients' classes are still inherited (ibuprofen's NSAID class in the fixture KB)
    assert kb.classes_of("ibuprofen") <= kb.classes_of("opioid_x_apap")
    none = load_knowledge(_kb_with(tmp_path / "b", _combo(controlled="none")))
    assert not none.classes_of("opioid_x_apap") & CONTROLLED


def test_a_combination_with_a_controlled_ingredient_must_say_its_class(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(_kb_with(tmp_path, _combo()))
    msg = "\n".join(exc.value.problems)
    assert "(opioid_x_apap) -> controlled" in msg and "opioid_x: narcotic" in msg


def test_controlled_is_for_combinations_and_is_stated_once(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(_kb_with(tmp_path, _combo(controlled="narcotic", classes=["psychotropic_2"])))
    assert "not in `classes`" in "\n".join(exc.value.problems)
    single = _drug("single_x", "测试单方", controlled="psychotropic_2")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(_kb_with(tmp_path / "b", single))
    assert "`controlled` is for combination products" in "\n".join(exc.value.problems)
    with pytest.raises(KnowledgeError):
        load_knowledge(_kb_with(tmp_path / "c", _combo(controlled="麻醉")))


# --------------------------------------------------------------------------- the shipped KB


@pytest.mark.parametrize(
    ("drug", "expected"),
    [
        ("oxycodone_paracetamol", {"psychotropic_2"}),  # 2019年第63号: ≤ 5 mg oxycodone base per tablet
        ("tramadol_paracetamol", {"psychotropic_2"}),
        ("paracetamol_codeine", {"narcotic"}),  # solid codeine compounds: kept (U, see the entry's comment)
        ("ibuprofen_codeine", {"narcotic"}),
        ("paracetamol_dihydrocodeine", {"narcotic"}),
        # 2024年第54号 lists dextromethorphan, not its compounds
        ("paracetamol_pseudoephedrine_combo", set()),
        ("dextromethorphan", {"psychotropic_2"}),  # 2024年第54号, from 2024-07-01
        ("oxycodone", {"narcotic"}),
    ],
)
def test_shipped_controlled_classes(shipped_kb: Any, drug: str, expected: set[str]) -> None:
    assert shipped_kb.classes_of(drug) & CONTROLLED == expected


def test_oxycodone_paracetamol_is_checked_as_psychotropic_2(shipped_kb: Any) -> None:
    line = item("氨酚羟考酮片", dose=1, unit="片", frequency="q6h", days=14)
    got = ids(make_case(line, diagnoses=PAIN), shipped_kb)
    assert "RX-DAYS-004" in got  # 精二: > 7 days without a reason
    assert "RX-DAYS-004" not in ids(make_case({**line, "days": 7}, diagnoses=PAIN), shipped_kb)
    long_rx = ids(make_case(line, diagnoses=PAIN, rx={"kind": "长期"}), shipped_kb)["RX-LONG-004"]
    assert "第二类精神药品" in long_rx.message and "麻醉药品" not in long_rx.message


def test_dextromethorphan_single_is_psychotropic_2_but_not_the_compound(shipped_kb: Any) -> None:
    dxm = item("氢溴酸右美沙芬片", strength="15 mg", dose=15, unit="mg", frequency="tid", days=10)
    got = ids(make_case(dxm, diagnoses=COUGH), shipped_kb)
    assert "RX-DAYS-004" in got and "RX-DAYS-003" not in got
    assert "RX-DAYS-004" not in ids(make_case({**dxm, "days": 5}, diagnoses=COUGH), shipped_kb)
    assert "RX-DAYS-004" not in ids(
        make_case(dxm, diagnoses=COUGH, rx={"reason": "慢性咳嗽待查，专科建议"}), shipped_kb
    )
    combo = item("酚麻美敏片", strength="325 mg/15 mg/2 mg", dose=1, unit="片", frequency="tid", days=10)
    got = ids(make_case(combo, diagnoses=COUGH), shipped_kb)
    assert "RX-DAYS-004" not in got and "RX-LONG-004" not in got
