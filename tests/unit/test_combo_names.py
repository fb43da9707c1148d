"""Combination products and premix insulins named as doctors and HIS write them.

* an 在用药品 cell ``氨氯地平/贝那普利 1片 qd`` is one product, not two drugs, when ``A/B`` (or ``A B``) names a
  combination product of the formulary; ``华法林/阿司匹林`` stays two drugs
  (:func:`toolkit.medication_lists.split_current_medications`);
* a premix insulin said with its number in words (门冬胰岛素三十, 诺和灵三十R, 门冬胰岛素3-0) is the premix, unless a
  unit follows the number (门冬胰岛素三十个单位: 30 U of 门冬胰岛素)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_case
from toolkit.audit.resolve import resolve_current
from toolkit.extract.lexicon import premix_name, prescription_name
from toolkit.medication_lists import (
    combination_name,
    current_medication_name,
    split_current_medications,
)

# --------------------------------------------------------------------------- 在用药品: A/B


@pytest.mark.parametrize(
    ("cell", "drug_id"),
    [
        ("氨氯地平/贝那普利 1片 qd", "amlodipine_benazepril"),
        ("氨氯地平/阿托伐他汀", "amlodipine_atorvastatin"),
        ("缬沙坦/氢氯噻嗪", "valsartan_hctz"),
        ("厄贝沙坦/氢氯噻嗪", "irbesartan_hctz"),
        ("二甲双胍/西格列汀", "sitagliptin_metformin"),  # by its two ingredients, in the other order
        ("沙美特罗/替卡松", "salmeterol_fluticasone"),
        ("布地奈德/福莫特罗", "budesonide_formoterol"),
        ("Amlodipine/Benazepril", "amlodipine_benazepril"),
        ("氨氯地平／贝那普利片", "amlodipine_benazepril"),
        ("苯磺酸氨氯地平/盐酸贝那普利", "amlodipine_benazepril"),
        ("缬沙坦/氢氯噻嗪80mg/12.5mg 1片 qd", "valsartan_hctz"),
        ("布地奈德/福莫特罗吸入粉雾剂 160/4.5μg 2吸 bid", "budesonide_formoterol"),
        ("氨氯地平 贝那普利", "amlodipine_benazepril"),  # a space instead of the slash
    ],
)
def test_a_combination_product_written_with_a_slash_is_one_drug(
    cell: str, drug_id: str, shipped_kb: Any
) -> None:
    (entry,) = split_current_medications(cell)
    assert entry == cell
    r = resolve_current(0, entry, shipped_kb)
    assert r.drug is not None and r.drug.id == drug_id


@pytest.mark.parametrize(
    ("cell", "drugs"),
    [
        ("华法林/阿司匹林", ["warfarin", "aspirin"]),
        ("华法林 阿司匹林", ["warfarin", "aspirin"]),
        ("华法林 2.5mg/阿司匹林 100mg", ["warfarin", "aspirin"]),
        # a run of three names by slashes is a list, even where two of them make a product
        ("华法林/氨氯地平/贝那普利", ["warfarin", "amlodipine", "benazepril"]),
        # paracetamol and aspirin are ingredients of 复方对乙酰氨基酚, whose entry lists only two of its three:
        # two drugs, not that product
        ("对乙酰氨基酚/阿司匹林", ["paracetamol", "aspirin"]),
        ("氨氯地平/贝那普利；华法林3mg qd", ["amlodipine_benazepril", "warfarin"]),
    ],
)
def test_two_drugs_by_a_slash_stay_two(cell: str, drugs: list[str], shipped_kb: Any) -> None:
    entries = split_current_medications(cell)
    got = [resolve_current(i, e, shipped_kb).drug for i, e in enumerate(entries)]
    assert [d.id if d else None for d in got] == drugs


def test_the_name_resolved_is_the_formularys_with_the_form_written() -> None:
    assert current_medication_name("氨氯地平/贝那普利 1片 qd") == ("氨氯地平贝那普利", None)
    assert combination_name("布地奈德", "福莫特罗吸入粉雾剂") == "布地奈德福莫特罗吸入粉雾剂"
    assert combination_name("华法林", "阿司匹林") is None
    assert combination_name("1片", "qd") is None
    assert current_medication_name("华法林/阿司匹林") == ("华法林/阿司匹林", None)  # never joined


def test_the_patient_field_keeps_the_product_whole() -> None:
    case = make_case(current_medications="氨氯地平/贝那普利 1片 qd；华法林/阿司匹林")
    assert case.patient.current_medications == ("氨氯地平/贝那普利 1片 qd", "华法林", "阿司匹林")


def test_a_fhir_medication_statement_text_is_one_product(shipped_kb: Any) -> None:
    pytest.importorskip("fhir.resources")
    from tests.unit.test_current_medications import _hook, _searchset, _statement
    from toolkit.service.cds import HookRequest, hook_to_case

    prefetch = {"medicationStatements": _searchset([_statement("缬沙坦/氢氯噻嗪 80mg/12.5mg qd")])}
    hc = hook_to_case(HookRequest.model_validate(_hook(prefetch)))
    assert hc.fc is not None
    (entry,) = hc.fc.case.patient.current_medications
    r = resolve_current(0, entry, shipped_kb)
    assert r.drug is not None and r.drug.id == "valsartan_hctz"


# --------------------------------------------------------------------------- premix insulins said


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("门冬胰岛素三十", "门冬胰岛素30"),
        ("门冬三十", "门冬胰岛素30"),
        ("诺和锐三十", "诺和锐30"),
        ("赖脯胰岛素二十五", "赖脯胰岛素25"),
        ("优泌乐五十", "优泌乐50"),
        ("诺和灵三十R", "诺和灵30R"),
        ("甘舒霖三十R", "甘舒霖30R"),
        ("精蛋白人胰岛素预混三十", "精蛋白人胰岛素预混30R"),
        ("门冬胰岛素3-0", "门冬胰岛素30"),
        ("门冬胰岛素30", "门冬胰岛素30"),
        ("门冬胰岛素", "门冬胰岛素"),
        ("甘精", "甘精胰岛素"),
    ],
)
def test_the_prescription_name_of_a_premix_said_in_words(said: str, name: str, shipped_kb: Any) -> None:
    assert prescription_name(said) == name
    assert shipped_kb.names.resolve(name) is not None


def test_premix_name_leaves_other_names_alone() -> None:
    assert premix_name("阿司匹林") == "阿司匹林"
    assert premix_name("诺和灵30R") == "诺和灵30R"


@pytest.fixture(scope="module")
def extract_items() -> Any:
    pytest.importorskip("spacy")
    from toolkit.extract import extract

    def run(text: str) -> list[tuple[str, float | None, str | None, str]]:
        rec = extract(text)
        return [(prescription_name(i.drug), i.dose, i.unit, i.drug) for i in rec.items]

    return run


@pytest.mark.parametrize(
    ("text", "drug", "dose"),
    [
        ("门冬胰岛素三十 早餐前十四个单位 晚餐前十个单位", "门冬胰岛素30", 14),
        ("门冬三十 早餐前十四个单位 晚餐前十个单位", "门冬胰岛素30", 14),
        ("诺和锐三十 早餐前十四个单位 晚餐前十个单位", "诺和锐30", 14),
        ("赖脯胰岛素二十五 早餐前十二个单位 晚餐前八个单位", "赖脯胰岛素25", 12),
        ("赖脯胰岛素五十 早餐前十二个单位", "赖脯胰岛素50", 12),
        ("优泌乐二十五 早餐前十二个单位 晚餐前八个单位", "优泌乐25", 12),
        ("优泌乐五十 早晚各十个单位", "优泌乐50", 10),
        ("诺和灵三十R 早餐前十四个单位 晚餐前十个单位", "诺和灵30R", 14),
        ("精蛋白人胰岛素预混三十 早餐前十四个单位", "精蛋白人胰岛素预混30R", 14),
        ("甘舒霖三十R 早餐前十二个单位", "甘舒霖30R", 12),
        ("门冬胰岛素3-0 早餐前十四个单位", "门冬胰岛素30", 14),
        ("门冬胰岛素三十，早餐前十四个单位", "门冬胰岛素30", 14),
        # a unit after the number: a dose of the rapid-acting insulin, not the premix
        ("门冬胰岛素十个单位 三餐前", "门冬胰岛素", 10),
        ("门冬胰岛素三十个单位 早餐前", "门冬胰岛素", 30),
        ("门冬胰岛素30个单位 早餐前", "门冬胰岛素", 30),
        ("优泌乐二十五个单位 早餐前", "优泌乐", 25),
        # no premix 25 of aspart: the number is not read as a product
        ("门冬胰岛素二十五 十个单位", "门冬胰岛素", 10),
        ("处理 门冬三十个单位 早餐前", "门冬胰岛素", 30),  # the short name and a dose
        ("处理 赖脯二十五 早餐前十个单位", "赖脯胰岛素25", 10),
    ],
)
def test_a_premix_said_in_words_is_extracted_as_the_premix(
    text: str, drug: str, dose: float, extract_items: Any, shipped_kb: Any
) -> None:
    (got,) = extract_items(text)
    assert got[:3] == (drug, dose, "U")
    written = shipped_kb.names.resolve(got[0])
    assert written is not None
    premix = drug[-1].isdigit() or drug.endswith("R")
    assert ("insulin_premixed" in shipped_kb.classes_of(written.drug_id)) is premix


def test_visit_reads_the_premix(shipped_kb: Any) -> None:
    pytest.importorskip("spacy")
    from toolkit.visit import visit

    v = visit(text="门冬胰岛素三十 早餐前十四个单位 晚餐前十个单位")
    (it,) = v.case.prescription.items
    assert (it.drug, it.dose, it.unit) == ("门冬胰岛素30", 14, "U")


def test_a_herb_with_a_mass_is_no_insulin() -> None:
    pytest.importorskip("spacy")
    from toolkit.extract import extract

    rec = extract("处理 天门冬三十克 麦门冬三十克 水煎服")
    assert not [e for e in rec.entities if e.normalized and "insulin" in e.normalized]


def test_a_premix_taken_at_home_is_the_premix() -> None:
    pytest.importorskip("spacy")
    from toolkit.extract import extract

    rec = extract("患者平时用诺和灵三十R，今天开二甲双胍0.5g tid")
    assert [e.normalized for e in rec.entities if e.text == "诺和灵三十R"] == ["human_insulin_30r"]
