"""Every official generic of the 2024 reimbursement list resolves to its own drug or to "not covered" —
never to a different drug (issue 17: 青霉素 was audited as 红霉素, 那格列奈 as 瑞格列奈)."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.audit.resolve import resolve_item
from toolkit.knowledge.known import name_variants, nrdl_names
from toolkit.knowledge.loader import default_rules_dir
from toolkit.knowledge.names import clean_name, strip_form, strip_salt
from toolkit.records import PrescriptionItem

# the list's dosage-form class → a word a prescription writes for it
FORM_WORD = {
    "口服常释剂型": "片",
    "缓释控释剂型": "缓释片",
    "软膏剂": "软膏",
    "口服液体剂": "口服溶液",
    "滴眼剂": "滴眼液",
    "颗粒剂": "颗粒",
    "吸入剂": "吸入剂",
    "栓剂": "栓",
    "外用液体剂": "外用溶液",
    "凝胶剂": "凝胶",
    "眼膏剂": "眼膏",
    "眼用凝胶剂": "眼用凝胶",
    "灌肠剂": "灌肠剂",
    "乳膏剂": "乳膏",
    "滴鼻剂": "滴鼻液",
    "滴耳剂": "滴耳液",
    "贴剂": "贴剂",
    "阴道泡腾片": "阴道泡腾片",
    "阴道胶囊": "阴道胶囊",
    "贴膏剂": "贴膏",
    "透皮贴剂": "透皮贴剂",
}


def _rows() -> list[tuple[str, str, str]]:
    import csv

    path = default_rules_dir() / "lexicon" / "nrdl2024_western.csv"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [(r["class_code"], r["name"], r["form"]) for r in csv.DictReader(fh)]


def _own(kb: Any, drug_id: str, written: str) -> bool:
    """The resolved entry is the drug written: one of its names, up to dosage-form and salt words."""
    d = kb.drugs[drug_id]
    names = {strip_salt(strip_form(clean_name(n))) for n in (d.name, *d.salts, *d.aliases, *d.brands)}
    for variant in name_variants(written):
        w = clean_name(variant)
        if any(v in names for v in (w, strip_form(w), strip_salt(strip_form(w)), strip_form(strip_salt(w)))):
            return True
    return False


@pytest.mark.regression
def test_every_listed_generic_is_its_own_drug_or_not_covered(shipped_kb: Any) -> None:
    names = nrdl_names(default_rules_dir())
    assert len(names) > 2000
    wrong = []
    for code, name in names:
        m = shipped_kb.names.resolve(name)
        if m is not None and (m.kind not in ("exact", "stripped") or not _own(shipped_kb, m.drug_id, name)):
            wrong.append((code, name, m.drug_id, m.kind, m.matched))
    assert wrong == [], f"{len(wrong)} listed generics resolve to another drug: {wrong[:20]}"


@pytest.mark.regression
def test_listed_products_with_their_form_are_never_another_drug(shipped_kb: Any) -> None:
    """Name + dosage form as a prescription writes it (双氯芬酸钠滴眼液): its own entry in a form the entry
    declares, or not covered; an eye drop or gel is never audited as the oral entry."""
    wrong = []
    for code, name, form in _rows():
        if form not in FORM_WORD:
            continue
        written = name + FORM_WORD[form]
        r = resolve_item(0, PrescriptionItem(drug=written), shipped_kb)
        if r.drug is None:
            continue
        if r.match.kind not in ("exact", "stripped", "contained") or not _own(shipped_kb, r.drug.id, name):
            wrong.append((code, written, r.drug.id, r.match.kind))
    assert wrong == [], f"{len(wrong)} products resolve to another drug: {wrong[:20]}"
