"""Resolve written prescription lines into data the checks can compare with the knowledge base.

A line "代文(缬沙坦胶囊) 80mg qd 口服 28天" becomes: formulary drug, frequency per
day, canonical route, and the amount of each *ingredient* per administration in
the unit the knowledge base states limits in. Whatever cannot be resolved is
kept with the reason, so the audit reports it instead of passing silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from toolkit.knowledge.loader import Knowledge
from toolkit.knowledge.names import NameMatch
from toolkit.knowledge.schema import Drug, Form
from toolkit.records import PrescriptionItem
from toolkit.units import (
    COUNT_UNITS,
    Frequency,
    Strength,
    normalize_route,
    normalize_unit,
    parse_frequency,
    parse_strength,
    to_canonical,
)

from .index import rule_index


@dataclass(frozen=True, slots=True)
class ImplausibleDose:
    """A dose written in a mass unit that makes no sense against the strength (0.5 mg of a 0.5 g tablet)."""

    units_per_dose: float
    form_unit: str
    strength: str


@dataclass(slots=True)
class ResolvedItem:
    """One prescription line (``index``: 0-based) resolved against the knowledge base, or kept with the
    reason it could not be: ``drug`` is ``None`` when the line is not audited as a formulary drug."""

    index: int
    item: PrescriptionItem
    drug: Drug | None = None
    match: NameMatch | None = None
    frequency: Frequency | None = None
    route: str | None = None
    form: Form | None = None
    strength: Strength | None = None
    # ingredient drug id → amount per administration, in that ingredient's dose.unit
    doses: dict[str, float] = field(default_factory=dict)
    dose_problem: str | None = None
    implausible: ImplausibleDose | None = None
    keys: frozenset[str] = frozenset()  # ingredient ids + all classes: what rule targets match against
    # why a drug the reader recognised is not audited: a known drug outside the formulary (its name as
    # known), or a local product (eye drops, gel, patch …) of a drug the formulary has only in other forms
    known: str | None = None
    local_form: str | None = None
    code_unmapped: bool = False  # a 药品编码 the clinic's drug dictionary does not hold
    # a current medication (在用药品) written as a class word only (胰岛素): which product is not known,
    # so it takes part in the class's interactions but in no duplicate check (see resolve_current)
    class_word: str | None = None

    @property
    def coverage(self) -> str:
        """Which checks ran for this line: ``full``, ``class`` (class rules only) or ``none``."""
        return self.drug.tier if self.drug is not None else "none"

    @property
    def name(self) -> str:
        """The formulary name of the drug, or the name as written when the line did not resolve."""
        return self.drug.name if self.drug else self.item.drug

    def daily(self, ingredient: str) -> float | None:
        """Amount of an ingredient per day, or ``None`` (prn, unknown frequency or dose)."""
        if ingredient not in self.doses or self.frequency is None or self.frequency.per_day is None:
            return None
        return self.doses[ingredient] * self.frequency.per_day


# words of a product name (or the written route) that make it a local product, and the kind of use:
# such a line is audited as the formulary entry only when the entry declares a form of that kind
_LOCAL_WORDS = (
    ("滴眼", "眼用"),
    ("眼膏", "眼用"),
    ("眼用", "眼用"),
    ("眼液", "眼用"),
    ("滴耳", "耳用"),
    ("耳用", "耳用"),
    ("鼻喷", "鼻用"),
    ("喷鼻", "鼻用"),
    ("滴鼻", "鼻用"),
    ("鼻用", "鼻用"),
    ("鼻腔", "鼻用"),
    ("阴道", "阴道用"),
    ("栓", "直肠或阴道用"),
    ("灌肠", "直肠或阴道用"),
    ("直肠", "直肠或阴道用"),
    ("透皮", "经皮"),
    ("贴片", "经皮"),
    ("贴剂", "经皮"),
    ("贴膏", "皮肤外用"),
    ("乳膏", "皮肤外用"),
    ("软膏", "皮肤外用"),
    ("凝胶", "皮肤外用"),
    ("搽剂", "皮肤外用"),
    ("洗剂", "皮肤外用"),
    ("涂剂", "皮肤外用"),
    ("乳胶剂", "皮肤外用"),
    ("酊", "皮肤外用"),
    ("霜", "皮肤外用"),
    ("外用", "皮肤外用"),
)
_ROUTE_LOCAL = {
    "滴眼": "眼用",
    "滴耳": "耳用",
    "滴鼻": "鼻用",
    "鼻喷": "鼻用",
    "外用": "皮肤外用",
    "直肠给药": "直肠或阴道用",
    "阴道给药": "直肠或阴道用",
}


_LOCAL_FIRST_CHARS = frozenset(word[0] for word, _ in _LOCAL_WORDS)


def local_route(text: str, route: str | None) -> str | None:
    """The local use a product name or its route states (眼用, 鼻用, 皮肤外用 …), or ``None`` (systemic)."""
    if route in _ROUTE_LOCAL:
        return _ROUTE_LOCAL[route]
    if route == "口服" and "凝胶" in text and not any(w in text for w in ("眼", "鼻", "外用")):
        return None  # an oral gel (磷酸铝凝胶) is swallowed
    if _LOCAL_FIRST_CHARS.isdisjoint(text):
        return None  # no local word can be in a text without any of their first characters
    return next((kind for word, kind in _LOCAL_WORDS if word in text), None)


def _oral_of_inhaled(text: str, drug: Drug, inhaled_only: bool | None = None) -> str | None:
    """布地奈德肠溶胶囊 is swallowed: an oral product of a drug the formulary has only for inhalation.
    (``inhaled_only``: :func:`_inhaled_only` of the drug, when already known.)"""
    if inhaled_only is None:
        inhaled_only = _inhaled_only(drug)
    if not inhaled_only:
        return None
    oral = any(w in text for w in ("片", "胶囊", "颗粒", "口服")) and "吸入" not in text
    return "口服" if oral else None


def _inhaled_only(drug: Drug) -> bool:
    return all(set(form.routes) <= {"吸入"} for form in drug.forms)


_PARENTERAL = ("注射", "静脉滴注")


def _injection_of_oral(text: str, drug: Drug, injectable: bool | None = None) -> str | None:
    """双黄连注射液, 盐酸可乐定注射液: an injectable product of a drug the formulary has no injectable form of
    (its oral label's doses, ages and interactions are not the injection's). (``injectable``:
    :func:`_injectable` of the drug, when already known.)"""
    named = any(w in text for w in ("注射", "粉针", "针剂"))
    if not named:
        return None
    if injectable is None:
        injectable = _injectable(drug)
    return None if injectable else "注射"


def _injectable(drug: Drug) -> bool:
    return any(p in r for form in drug.forms for r in form.routes for p in _PARENTERAL)


@dataclass(frozen=True, slots=True)
class _DrugFacts:
    """What resolving a line needs to know of a formulary entry, worked out once per entry."""

    inhaled_only: bool
    injectable: bool
    parts: int  # the most ingredient amounts any of its strengths names (see _resolve_dose)


def _drug_facts(drug: Drug, kb: Knowledge) -> _DrugFacts:
    memo = rule_index(kb).memo
    key = ("resolve", drug.id)
    got = memo.get(key)
    if got is None or got[0] is not drug:
        got = (
            drug,
            _DrugFacts(
                inhaled_only=_inhaled_only(drug),
                injectable=_injectable(drug),
                parts=max(
                    (len(st.amounts) for f in drug.forms for t in f.strengths if (st := parse_strength(t))),
                    default=1,
                ),
            ),
        )
        memo[key] = got
    return got[1]


def _declares(drug: Drug, kind: str) -> bool:
    """True when one of the entry's forms is of that local kind (by its form name or its routes).

    ``注射``: any form with a parenteral route (one containing 注射 or 静脉滴注)."""
    if kind == "注射":
        return any(p in r for form in drug.forms for r in form.routes for p in _PARENTERAL)
    return any(
        local_route(form.form, None) == kind or any(_ROUTE_LOCAL.get(r, r) == kind for r in form.routes)
        for form in drug.forms
    )


def resolve_item(index: int, item: PrescriptionItem, kb: Knowledge) -> ResolvedItem:
    """Resolve line ``index`` (0-based) of a prescription against ``kb``: by 药品编码 first when the
    clinic's drug dictionary is loaded and the line has a code, else by name.

    A line not resolved to a formulary drug has no ``drug``; ``code_unmapped``, ``known`` (a drug known
    outside the formulary) or ``local_form`` (a local product of an entry without that form) says why,
    none of them when the name is not recognised. A dose that cannot be checked keeps the drug and sets
    ``dose_problem``.
    """
    r = ResolvedItem(index=index, item=item)
    r.frequency = parse_frequency(item.frequency)
    r.route = normalize_route(item.route)
    if item.code and kb.drug_codes is not None:
        # the clinic's drug dictionary first: a confirmed code is the drug; an unknown code is reported,
        # never guessed from the name (RX-FMT-011)
        entry = kb.drug_codes.get(item.code.strip())
        if entry is None:
            r.code_unmapped = True
            return r
        if entry.drug is None:
            r.known = entry.name or item.drug
            return r
        r.match = NameMatch(entry.drug, "code", item.code.strip(), "generic")
        if item.strength is None and entry.strength:
            item = r.item = item.model_copy(update={"strength": entry.strength})
    else:
        product = _product(item.drug, r.route, item.unit, item.strength, kb)
        r.match, r.known, r.local_form, r.drug, r.keys, r.form, r.strength = product
        if r.drug is None:
            return r
        _dose_of_product(r, kb)
        return r
    return _resolve_entry(r, kb)


_Product = tuple[
    NameMatch | None, str | None, str | None, Drug | None, frozenset[str], Form | None, Strength | None
]


def _product(name: str, route: str | None, unit: str | None, strength: str | None, kb: Knowledge) -> _Product:
    """What a line written by name is, before its dose: (match, known, local_form, drug, keys, form,
    strength) as :func:`_resolve_entry` sets them. A pure function of the written product (name, route,
    unit, strength) and the knowledge base, the same few thousand products written again and again, so
    it is worked out once per product and kept with the KB's rule index (bounded). Nothing of the patient
    or the dose is in the key or the value."""
    memo = rule_index(kb).memo
    key = ("product", name, route, unit, strength)
    got = memo.get(key)
    if got is None:
        r = ResolvedItem(
            index=0, item=PrescriptionItem.model_construct(drug=name, unit=unit, strength=strength)
        )
        r.route = route
        r.match = kb.names.resolve(name)
        if r.match is None:
            r.known = kb.names.known_outside(name)
        else:
            _resolve_entry(r, kb, dose=False)
        got = (r.match, r.known, r.local_form, r.drug, r.keys, r.form, r.strength)
        if len(memo) < 100_000:  # written products are a bounded vocabulary; never grow without end
            memo[key] = got
    return got


def _dose_of_product(r: ResolvedItem, kb: Knowledge) -> None:
    """:func:`_resolve_dose` of a line written by name, memoised like :func:`_product`: what it sets (the
    amount per ingredient, the dose problem, the strength read, an implausible dose) is a pure function of
    the written product (name, route, unit, strength: :func:`_product`'s key, which gives ``drug``, ``form``
    and ``strength``) and the dose, and the same lines (氨氯地平片 5 mg) are written again and again."""
    item = r.item
    memo = rule_index(kb).memo
    key = ("dose", item.drug, r.route, item.unit, item.strength, item.dose)
    got = memo.get(key)
    if got is None:
        _resolve_dose(r, kb)
        got = (tuple(r.doses.items()), r.dose_problem, r.strength, r.implausible)
        if len(memo) < 100_000:
            memo[key] = got
        return
    doses, r.dose_problem, r.strength, r.implausible = got
    r.doses.update(doses)


def written_product(name: str, kb: Knowledge) -> tuple[Drug | None, Form | None]:
    """The formulary drug and form a product name written on a line is (碳酸钙片 → calcium carbonate, its
    tablet), as the audit reads a line before its dose (:func:`_product`, memoised)."""
    got = _product(name, None, None, None, kb)
    return got[3], got[5]


def _resolve_entry(r: ResolvedItem, kb: Knowledge, dose: bool = True) -> ResolvedItem:
    """Resolve a line whose ``match`` is set: a local product of an entry without that form keeps the
    reason only; else the drug, its keys, form and strength and (with ``dose``) the dose."""
    assert r.match is not None
    item = r.item
    entry = kb.drugs[r.match.drug_id]
    facts = _drug_facts(entry, kb)
    local = (
        local_route(item.drug, r.route)
        or _oral_of_inhaled(item.drug, entry, facts.inhaled_only)
        or _injection_of_oral(item.drug, entry, facts.injectable)
    )
    if local and not _declares(entry, local):
        # 左氧氟沙星滴眼液 is not the oral entry: no dose, age or interaction check of that entry applies
        r.local_form, r.match = local, None
        return r
    r.drug = entry
    # the product id too, so a target may name a combination product itself (酚麻美敏: pseudoephedrine)
    r.keys = frozenset((r.drug.id, *kb.ingredients(r.drug.id))) | kb.classes_of(r.drug.id)
    unit = normalize_unit(item.unit)
    r.form, r.strength = _pick_form(r.drug, item.drug, unit if unit in COUNT_UNITS else None, item.strength)
    if dose:
        _resolve_dose(r, kb)
    return r


def _named_forms(drug: Drug, written: str) -> list[Form]:
    """Forms the written name points to: 硝苯地平控释片 → 控释片 (the longest form word), 拜新同 → its form."""
    by_brand = [f for f in drug.forms if any(b in written for b in f.brands)]
    if by_brand:
        return by_brand
    named = [f for f in drug.forms if f.form in written]
    if not named:
        return list(drug.forms)
    longest = max(len(f.form) for f in named)
    return [f for f in named if len(f.form) == longest]


def _pick_form(
    drug: Drug, written_name: str, unit: str | None, strength_text: str | None
) -> tuple[Form | None, Strength | None]:
    """The form and strength a line refers to: by its name, unit and written strength, or the only one."""
    written = parse_strength(strength_text)
    candidates = _named_forms(drug, written_name)
    forms = [f for f in candidates if unit is None or f.unit == unit] or candidates
    if written is not None:
        for f in forms:
            for s in f.strengths:
                if parse_strength(s) == written:
                    return f, written
        return (forms[0] if len(forms) == 1 else None), written
    strengths = {s for f in forms for s in f.strengths}
    if len(strengths) == 1:
        s = next(iter(strengths))
        return next(f for f in forms if s in f.strengths), parse_strength(s)
    return (forms[0] if len(forms) == 1 else None), None


def _resolve_dose(r: ResolvedItem, kb: Knowledge) -> None:
    drug, item = r.drug, r.item
    assert drug is not None
    if item.dose is None or not item.unit:
        return  # reported as a missing field by the format check
    if item.dose <= 0:
        r.dose_problem = f"剂量{item.dose:g}不是正数"
        return
    unit = normalize_unit(item.unit)
    if unit is None:
        r.dose_problem = f"剂量单位“{item.unit}”无法识别"
        return
    ingredients = [(i.drug, i.unit) for i in drug.ingredients] or (
        [(drug.id, drug.dose.unit)] if drug.dose else []
    )
    if not ingredients:
        return  # no limits to check against
    targets = [kb.drugs[i].dose.unit if kb.drugs[i].dose else u for i, u in ingredients]
    # parts per unit the product's strengths name (amoxicillin/clavulanate: 2, though only
    # amoxicillin has limits in the formulary)
    parts = _drug_facts(drug, kb).parts
    strength = r.strength
    if strength is not None and len(strength.amounts) < max(len(ingredients), parts):
        # '0.625 g' for amoxicillin/clavulanate 500/125 mg: a combination written by its total
        strength = _strength_by_total(drug, strength.amounts[0]) if len(strength.amounts) == 1 else None
        if strength is None:
            r.dose_problem = f"规格“{item.strength}”未给出每种成分的含量"
            return
        r.strength = strength

    def per_unit(k: int) -> float | None:
        """Ingredient k per countable unit (or per ml), in its target unit."""
        if strength is None:
            return None
        amount, u = strength.amounts[k]
        value = to_canonical(amount, u, targets[k])
        if value is not None and strength.per_ml:
            value /= strength.per_ml
        return value

    if unit in COUNT_UNITS or unit == "ml":
        if strength is None:
            r.dose_problem = (
                f"按“{item.unit}”开具但未写规格且有多个规格"
                if unit in COUNT_UNITS
                else "按毫升开具但规格无浓度"
            )
            return
        if unit == "ml" and not strength.per_ml:
            r.dose_problem = f"按毫升开具但规格“{item.strength or ''}”不是浓度"
            return
        if unit in COUNT_UNITS and strength.per_ml:
            r.dose_problem = f"液体制剂按“{item.unit}”开具，无法换算"
            return
        for k, (ing, _) in enumerate(ingredients):
            pu = per_unit(k)
            if pu is None:
                r.dose_problem = f"规格单位与剂量单位无法换算（{item.strength}）"
                r.doses.clear()
                return
            r.doses[ing] = item.dose * pu
        return
    # a mass (or U) amount: for combinations it is read as the amount of the first ingredient
    first = to_canonical(item.dose, unit, targets[0])
    if first is None:
        r.dose_problem = f"剂量单位“{item.unit}”不能换算为{targets[0]}"
        return
    if len(ingredients) == 1 and parts == 1:
        r.doses[ingredients[0][0]] = first
    else:
        pu0 = per_unit(0)
        by_total = _strength_by_total(drug, (item.dose, unit), multiples=True)
        if by_total is not None and (pu0 is None or not _whole_or_half(first / pu0)):
            # the written mass is a whole number of units by the product's total (0.625 g = 1 tablet)
            strength, n_total = by_total
            r.strength = strength
            for k, (ing, _) in enumerate(ingredients):
                value = to_canonical(*strength.amounts[k], targets[k])
                if value is not None:
                    r.doses[ing] = n_total * value
            return
        if pu0 is None:
            r.dose_problem = "复方制剂按质量开具但未写规格"
            return
        n_units = first / pu0
        for k, (ing, _) in enumerate(ingredients):
            pu = per_unit(k)
            if pu is not None:
                r.doses[ing] = n_units * pu
    _check_plausible(r, first, targets[0], kb)


def _whole_or_half(x: float) -> bool:
    return abs(x * 2 - round(x * 2)) < 0.02 and x > 0


def _total_mg(strength: Strength) -> float | None:
    total = 0.0
    for amount, unit in strength.amounts:
        mg = to_canonical(amount, unit, "mg")
        if mg is None:
            return None
        total += mg
    return total


def _strength_by_total(drug: Drug, written: tuple[float, str], multiples: bool = False) -> Any:
    """The formulary strength whose ingredients add up to the written mass (or, with ``multiples``,
    to a whole or half number of units of it: returns (strength, units)); None when none or several do."""
    target = to_canonical(written[0], written[1], "mg")
    if target is None or target <= 0:
        return None
    found = []
    for f in drug.forms:
        for text in f.strengths:
            st = parse_strength(text)
            total = _total_mg(st) if st else None
            if not total:
                continue
            n = target / total
            if (multiples and _whole_or_half(n)) or (not multiples and abs(n - 1) < 0.01):
                found.append((st, n))
    if len({(st, round(n, 2)) for st, n in found}) != 1:
        return None
    return found[0] if multiples else found[0][0]


def _check_plausible(r: ResolvedItem, amount: float, target: str, kb: Knowledge) -> None:
    """Flag a mass dose that no solid strength of the drug makes sense of (0.5 mg of a 0.5 g tablet).

    With a written strength only that one is compared; without, every solid strength in the
    formulary is, and the dose is implausible only when it fits none of them.
    """
    assert r.drug is not None
    if r.strength is not None and r.form is not None:
        options = [(r.form.unit, r.item.strength or "", r.strength)]
    else:
        options = [(f.unit, s, parse_strength(s)) for f in r.drug.forms for s in f.strengths]
    low, high = kb.params.unit_ratio_low, kb.params.unit_ratio_high
    worst: ImplausibleDose | None = None
    for form_unit, text, strength in options:
        if form_unit not in COUNT_UNITS or strength is None or strength.per_ml:
            return  # liquids and unknown strengths: nothing to compare with
        pu = to_canonical(*strength.amounts[0], target)
        if not pu:
            return
        ratio = amount / pu
        if low <= ratio <= high:
            return
        if worst is None or abs(ratio - 1) < abs(worst.units_per_dose - 1):
            worst = ImplausibleDose(ratio, form_unit, text)
    r.implausible = worst


# 在用药品 written as a class word only: the name resolves to one product of the class (胰岛素 →
# the porcine regular insulin), but a medication list saying 胰岛素 does not say which insulin is taken
CLASS_WORDS = {"胰岛素": "胰岛素类", "胰岛素针": "胰岛素类", "胰岛素笔": "胰岛素类", "打胰岛素": "胰岛素类"}


def resolve_current(position: int, name: str, kb: Knowledge, route: str | None = None) -> ResolvedItem:
    """A drug the patient already takes (``patient.current_medications[position]``, 在用药品) resolved by
    name through the same resolver as a written line (brand names, salts, 中成药, local products), without
    dose or frequency: it is not dispensed here, only compared with the prescribed lines.

    The entry is read as HIS and FHIR write it (:func:`~toolkit.medication_lists.current_medication_name`): its
    dose, count and frequency are dropped (``华法林钠片 2.5mg 1片 qd``) and a route said with it
    (``红霉素 外用``, ``红霉素（外用）``; or ``route``, e.g. a MedicationStatement's ``dosage.route``)
    resolves it as a line with that route would: a topical, eye, ear, nasal or vaginal use of a drug the
    formulary has only for systemic use is a local product (``local_form``), compared with nothing.
    A class word alone (``胰岛素``) sets ``class_word``.

    ``index`` is ``-1 - position`` so it can never be taken for a prescription line; ``drug`` is ``None``
    when the name is not a formulary drug (``known`` / ``local_form`` say why, as for a line)."""
    from toolkit.medication_lists import current_medication_name

    r = ResolvedItem(index=-1 - position, item=PrescriptionItem.model_construct(drug=name))
    core, said = current_medication_name(name)
    canon = normalize_route(route) or normalize_route(said)
    if canon is None and (route or said):  # 眼用, 阴道, 经皮 …: a local word, read as a written note
        core = f"{core}（{route or said}）"
    got = _product(core, canon, None, None, kb)
    if got[0] is None and got[1] is None and got[2] is None and core != name:
        whole = _product(name, canon, None, None, kb)  # a name the stripping spoilt: as written
        if whole[0] is not None or whole[1] is not None or whole[2] is not None:
            got = whole
    r.match, r.known, r.local_form, r.drug, r.keys, r.form, r.strength = got
    r.route = canon
    if r.drug is not None and core.strip() in CLASS_WORDS:
        r.class_word = CLASS_WORDS[core.strip()]
    return r
