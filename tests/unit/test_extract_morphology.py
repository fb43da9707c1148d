"""Whole-mention diagnoses (rules/lexicon/disease_morphology.yaml, pipeline.refine_mentions) and the
CMeKG-derived drug stems / oncology names of rules/lexicon/drugs_extra.yaml."""

from __future__ import annotations

import pytest

from toolkit.extract import extract
from toolkit.extract.records import EntityLabel


def _ents(text: str, label: EntityLabel) -> list[str]:
    return [e.text for e in extract(text).entities if e.label is label]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("术后病理示乙状结肠中分化腺癌。", ["乙状结肠中分化腺癌"]),
        ("B超示左肾囊肿。", ["左肾囊肿"]),
        ("胃镜示慢性非萎缩性胃炎伴糜烂。", ["慢性非萎缩性胃炎伴糜烂"]),
        ("诊断：直肠癌术后肝转移。", ["直肠癌术后肝转移"]),
        ("胆囊结石伴胆囊炎，予抗感染治疗。", ["胆囊结石伴胆囊炎"]),
    ],
)
def test_whole_disease_mentions_fire(text: str, want: list[str]) -> None:
    assert _ents(text, EntityLabel.DISEASE) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("高血压合并冠心病，吃倍博特。", ["高血压", "冠心病"]),  # comorbidities stay two mentions
        ("高血压伴高尿酸血症复诊。", ["高血压", "高尿酸血症"]),
        ("慢阻肺高血压老病号。", ["慢阻肺", "高血压"]),  # no 肺高血压 cut out of 慢阻肺
        ("2017年行胃癌根治术。", []),  # a procedure, not a diagnosis
        ("CT示占位性病变，结节病灶。", []),  # 性病, 结节病 inside other words
        ("予纠正贫血治疗。", []),  # object of a treatment verb
        ("双下肢轻度水肿。", []),  # a symptom stays a symptom
    ],
)
def test_disease_mentions_that_must_not_fire(text: str, want: list[str]) -> None:
    assert _ents(text, EntityLabel.DISEASE) == want


def test_drug_stems_and_oncology_abbreviations() -> None:
    got = _ents("予顺铂+5-FU化疗，后改希罗达口服，伊立替康。", EntityLabel.DRUG)
    assert got == ["顺铂", "5-FU", "希罗达", "伊立替康"]


def test_latin_drug_abbreviation_needs_a_word_boundary() -> None:
    assert _ents("经CFDA批准，DDPX阴性。", EntityLabel.DRUG) == []
    assert _ents("DDP 40mg d1", EntityLabel.DRUG) == ["DDP"]


def test_cmekg_r_coded_names_are_symptoms_outside_the_diagnosis_section() -> None:
    rec = extract("患者呃逆两天，伴胸痛。")
    assert [(e.text, e.label) for e in rec.entities] == [
        ("呃逆", EntityLabel.SYMPTOM),
        ("胸痛", EntityLabel.SYMPTOM),
    ]


def test_complication_named_after_its_cause_is_one_mention() -> None:
    assert _ents("诊断：高血压肾病。", EntityLabel.DISEASE) == ["高血压肾病"]
    assert _ents("两肺炎症改变。", EntityLabel.DISEASE) == []


def test_enantiomer_prefix_makes_another_drug() -> None:
    rec = extract("予右氧氟沙星口服，苯磺酸左旋氨氯地平片5mg。")
    drugs = [(e.text, e.normalized) for e in rec.entities if e.label is EntityLabel.DRUG]
    assert drugs == [("右氧氟沙星", None), ("苯磺酸左旋氨氯地平片", "levamlodipine")]
    # laterality is not a prefix of a drug name
    assert _ents("左侧阿司匹林", EntityLabel.DRUG) == ["阿司匹林"]
