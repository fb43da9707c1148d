"""Loading the knowledge base: every file validates, and a broken file says where it is broken."""

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
from toolkit.records import Severity


def test_shipped_knowledge_base_loads_every_file(shipped_kb: Any) -> None:
    assert len(shipped_kb.drugs) >= 80
    assert len(shipped_kb.interactions) >= 60
    root = Path(__file__).resolve().parents[2] / "rules"
    audited = [
        p for p in root.rglob("*.yaml") if not {"local", "care", "lexicon"} & set(p.relative_to(root).parts)
    ]
    assert len(audited) >= 8


@pytest.fixture()
def broken_kb(tmp_path: Path) -> Path:
    dst = tmp_path / "kb"
    shutil.copytree(FIXTURES / "kb", dst, symlinks=False)
    return dst


def _edit(path: Path, fn: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _problems(root: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(root)
    return exc.value.problems


def test_unknown_operator_is_located(broken_kb: Path) -> None:
    _edit(broken_kb / "rules.yaml", lambda d: d["contraindications"][0]["when"].update(op="gte"))
    problems = _problems(broken_kb)
    assert len(problems) == 1
    p = problems[0]
    assert p.startswith("kb/rules.yaml -> contraindications[0] (RX-CI-001) -> when")
    assert "unknown 'gte'" in p and "allowed:" in p and "ge" in p


def test_every_problem_is_reported_at_once(broken_kb: Path) -> None:
    def breaks(d: dict) -> None:
        d["interactions"][0]["severity"] = "fatal"
        d["interactions"][1]["b"] = {"classes": ["no_such_class"]}
        d["indications"][0]["icd10"] = ["diabetes"]
        d["duplicate_groups"][0]["colour"] = "red"

    _edit(broken_kb / "rules.yaml", breaks)
    problems = "\n".join(_problems(broken_kb))
    assert "interactions[0] (RX-DDI-001) -> severity" in problems
    assert "interactions (RX-DDI-002) -> b: unknown class 'no_such_class'" in problems
    assert "indications[0] (RX-IND-001) -> icd10" in problems
    assert "duplicate_groups[0] (RX-DUP-002) -> colour: Extra inputs are not permitted" in problems


def test_drug_errors_are_located(broken_kb: Path) -> None:
    def breaks(d: dict) -> None:
        d["drugs"][4]["dose"]["adult"]["daily_max"] = -5
        d["drugs"][1]["aliases"] = ["氨氯地平"]  # collides with another drug's name
        d["drugs"][5]["id"] = "Spironolactone"

    _edit(broken_kb / "formulary" / "drugs.yaml", breaks)
    problems = "\n".join(_problems(broken_kb))
    assert "kb/formulary/drugs.yaml -> drugs[4] (benazepril) -> dose -> adult -> daily_max" in problems
    assert "name '氨氯地平' already names drug" in problems
    assert "drugs[5] (Spironolactone) -> id" in problems


def test_bad_yaml_and_bad_rule_id(broken_kb: Path) -> None:
    (broken_kb / "extra.yaml").write_text("interactions: [\n", encoding="utf-8")
    _edit(broken_kb / "rules.yaml", lambda d: d["interactions"][0].update(id="DDI-1"))
    problems = "\n".join(_problems(broken_kb))
    assert "kb/extra.yaml: not valid YAML" in problems
    assert "rule id 'DDI-1' must look like RX-DDI-001" in problems


def test_message_template_must_name_variables(broken_kb: Path) -> None:
    _edit(broken_kb / "rules.yaml", lambda d: d["interactions"][0].update(message="{a} 与 {0}"))
    assert any("message" in p for p in _problems(broken_kb))


def test_local_rules_override_severity_disable_and_parameters(kb: Any, tmp_path: Path) -> None:
    local = tmp_path / "local.yaml"
    local.write_text(
        yaml.safe_dump(
            {
                "institution": "示例社区卫生服务中心",
                "rules": {"RX-FREQ-001": {"severity": "block"}, "RX-LONG-002": {"enabled": False}},
                "parameters": {"max_items": 3},
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    custom = load_knowledge(FIXTURES / "kb", local)
    case = make_case(item("苯磺酸氨氯地平片", frequency="tid", days=56), *[item("苯磺酸氨氯地平片")] * 3)
    shipped = {f.rule_id: f for f in audit(case, kb).findings}
    mine = {f.rule_id: f for f in audit(case, custom).findings}
    assert shipped["RX-FREQ-001"].severity is Severity.WARN and mine["RX-FREQ-001"].severity is Severity.BLOCK
    assert "RX-LONG-002" in shipped and "RX-LONG-002" not in mine
    assert "RX-FMT-001" not in shipped and "RX-FMT-001" in mine
    assert audit(case, custom).provenance.local_rules.startswith("示例社区卫生服务中心")


def test_local_rules_unknown_rule_or_parameter_is_an_error(tmp_path: Path) -> None:
    local = tmp_path / "local.yaml"
    local.write_text(
        yaml.safe_dump(
            {"institution": "x", "rules": {"RX-NOPE-001": {"enabled": False}}, "parameters": {"max_itemz": 3}}
        ),
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(FIXTURES / "kb", local)
    text = str(exc.value)
    assert "rules -> RX-NOPE-001: unknown rule id" in text and "max_itemz" in text


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="not found"):
        load_knowledge(tmp_path / "nope")


def test_prescription_item_conditions_name_known_classes(broken_kb: Path) -> None:
    """`prescription.items` leaves name class or drug ids; unknown ids and malformed values are load errors."""

    def breaks(d: dict) -> None:
        d["contraindications"][0]["when"] = {
            "all": [
                {"fact": "labs.egfr", "op": "lt", "value": 30},
                {"fact": "prescription.items", "op": "excludes", "value": ["no_such_class"]},
            ]
        }
        d["contraindications"][1]["when"] = {
            "fact": "prescription.items",
            "op": "count_ge",
            "value": {"of": ["mra"], "n": 0},
        }
        d["interactions"][0]["escalate"][0]["when"] = {
            "any": [
                {"fact": "prescription.items", "op": "includes", "value": ["metformin", "ghost_drug"]},
                {
                    "fact": "prescription.items",
                    "op": "daily_dose_gt",
                    "value": {"drug": "ghost_statin", "gt": 20},
                },
            ]
        }

    _edit(broken_kb / "rules.yaml", breaks)
    problems = "\n".join(_problems(broken_kb))
    assert (
        "contraindications (RX-CI-001) -> when: prescription.items names unknown class or drug "
        "'no_such_class'"
    ) in problems
    assert "contraindications[1] (RX-CI-002) -> when" in problems and "count_ge" in problems
    assert (
        "interactions (RX-DDI-001) -> escalate[0] -> when: prescription.items names unknown class or "
        "drug 'ghost_drug'"
    ) in problems
    assert "unknown class or drug 'ghost_statin'" in problems
    assert "metformin" not in problems  # a drug id is a valid name


def test_name_contains_unless_needs_words_and_unless(broken_kb: Path) -> None:
    _edit(
        broken_kb / "rules.yaml",
        lambda d: d["contraindications"][0].update(
            when={"fact": "diagnosis", "op": "name_contains_unless", "value": ["脑出血"]}
        ),
    )
    problems = _problems(broken_kb)
    assert len(problems) == 1 and "name_contains_unless" in problems[0] and "unless" in problems[0]


def test_shipped_rules_with_item_conditions_load(shipped_kb: Any) -> None:
    from toolkit.knowledge.conditions import item_ids

    used = {x for r in shipped_kb.contraindications for x in item_ids(r.when)}
    assert {"ics", "lama", "ppi", "aspirin_class", "systemic_corticosteroid"} <= used
    assert used <= set(shipped_kb.classes) | set(shipped_kb.drugs)
