"""The checks. Each reads the shared :class:`AuditContext` and adds findings.

Logic lives here; thresholds, wording, severity and sources live in ``rules/``.
Checks that work from data rules (interactions, contraindications, …) take the
rule id from the rule; the others use the ids of ``rules/checks.yaml``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from toolkit.knowledge.conditions import IcdSpecs, evidence_for, icd_matches, word_search
from toolkit.knowledge.renal import RenalFunction, renal_function
from toolkit.knowledge.schema import DoseLimit, Drug, Form, FormDose, PopulationNote, Target
from toolkit.records import Severity
from toolkit.units import normalize_unit, parse_strength

from .context import CURRENT_MARK, AuditContext, fmt
from .resolve import ResolvedItem

PSYCHOTROPIC_2 = "psychotropic_2"
"""Class id of 第二类精神药品 (formulary/classes.yaml): their days' supply is RX-DAYS-004."""
SPECIAL_CONTROL = {
    "narcotic": "麻醉药品",
    "psychotropic_1": "第一类精神药品",
    PSYCHOTROPIC_2: "第二类精神药品",
}
"""Classes of 特殊管理药品 whose long prescription is RX-LONG-004 (点评 1-13), not RX-LONG-003 (1-14)."""
_ROUTE_EQUIVALENT = {"含服": {"舌下含服"}, "舌下含服": {"含服"}, "嚼服": {"口服"}}
_LEVEL_SEVERITY = {"contraindicated": Severity.BLOCK, "avoid": Severity.WARN, "caution": Severity.INFO}
_LEVEL_TEXT = {"contraindicated": "禁用", "avoid": "不推荐使用", "caution": "慎用"}
_MATCH_TEXT = {
    "homophone": "同音字",
    "typo": "错别字",
    "exact": "别名或常见错写",
    "stripped": "别名或常见错写",
    "contained": "别名或常见错写",
    "code": "药品编码",
}


# --------------------------------------------------------------------------- format


def _vague(ctx: AuditContext) -> Callable[[str], Any]:
    """``any(w in text for w in params.vague_usage)`` as one search, made once per knowledge base."""
    words = ctx.kb.params.vague_usage
    key = ("vague", words)
    got = ctx.index.memo.get(key)
    if got is None:
        got = ctx.index.memo[key] = word_search(words) or (lambda _text: None)
    return got


def check_format(ctx: AuditContext) -> None:
    kb, p = ctx.kb, ctx.kb.params
    vague = _vague(ctx)
    rx, patient = ctx.case.prescription, ctx.case.patient
    if len(rx.items) > p.max_items:
        ctx.add(
            kb.check("RX-FMT-001"),
            evidence={"count": len(rx.items), "limit": p.max_items},
            items=[r.index for r in ctx.items],
        )
    if not patient.diagnoses:
        ctx.add(kb.check("RX-FMT-004"))
    if patient.age is None:
        ctx.add(kb.check("RX-FMT-005"))
    elif patient.age < 12 and patient.weight_kg is None:
        ctx.add(kb.check("RX-FMT-009"), evidence={"age": patient.age})
    for r in ctx.items:
        item, name = r.item, r.name
        vague_field = next(
            (f for f in ("frequency", "note", "route") if getattr(item, f) and vague(getattr(item, f))),
            None,
        )
        if vague_field:
            ctx.add(
                kb.check("RX-FMT-002"),
                drugs=[name],
                items=[r.index],
                evidence={"field": vague_field, "text": getattr(item, vague_field)},
                drug=name,
            )
        missing = [
            label
            for f, label in (
                ("dose", "单次剂量"),
                ("unit", "剂量单位"),
                ("frequency", "给药频次"),
                ("route", "给药途径"),
                ("days", "用药天数"),
            )
            if getattr(item, f) in (None, "")
            and f != vague_field
            and not (f == "days" and r.frequency is not None and r.frequency.code == "st")
        ]
        if missing:
            ctx.add(
                kb.check("RX-FMT-003"),
                drugs=[name],
                items=[r.index],
                evidence={"missing": missing},
                drug=name,
            )
        if r.drug is None:
            if r.code_unmapped:
                ctx.add(
                    kb.check("RX-FMT-011"),
                    drugs=[item.drug],
                    items=[r.index],
                    evidence={"written": item.drug, "code": item.code},
                )
                continue
            if r.local_form:
                ctx.add(
                    kb.check("RX-FMT-010"),
                    drugs=[item.drug],
                    items=[r.index],
                    evidence={"written": item.drug, "local": r.local_form},
                )
                continue
            evidence = {"written": item.drug}
            if r.known:
                evidence["known_as"] = r.known  # a real drug the reader knows, outside the formulary
            ctx.add(kb.check("RX-FMT-007"), drugs=[item.drug], items=[r.index], evidence=evidence)
            continue
        assert r.match is not None
        if not r.match.standard:
            how = _MATCH_TEXT[r.match.kind] if r.match.source != "brand" else "商品名"
            ctx.add(
                kb.check("RX-FMT-006"),
                drugs=[name],
                items=[r.index],
                evidence={"written": item.drug, "matched": r.match.matched, "how": how},
                drug=name,
            )
        if r.dose_problem:
            ctx.add(
                kb.check("RX-FMT-008"),
                drugs=[name],
                items=[r.index],
                evidence={"reason": r.dose_problem, "strength": item.strength, "unit": item.unit},
                drug=name,
            )


# --------------------------------------------------------------------------- dose and frequency

_MEASURE_TEXT = {"egfr": "eGFR", "crcl": "CrCl"}


def _renal(ctx: AuditContext) -> RenalFunction:
    """eGFR and CrCl of the case (a CrCl lab, else Cockcroft–Gault), computed once per context."""
    cached = getattr(ctx, "_renal_function", None)
    if cached is None or cached[0] is not ctx.case:
        cached = (ctx.case, renal_function(ctx.case.patient))
        ctx._renal_function = cached  # type: ignore[attr-defined]
    return cached[1]


def _form_dose(forms: list[Form | None]) -> FormDose | None:
    """The form-level limits of the lines' forms; with several forms the strictest value of each."""
    doses = [f.dose for f in forms if f is not None and f.dose is not None]
    if not doses:
        return None
    if len(doses) == 1:
        return doses[0]

    def low(attr: str) -> float | None:
        vals = [getattr(d, attr) for d in doses if getattr(d, attr) is not None]
        return min(vals) if vals else None

    return FormDose(
        single_max=low("single_max"),
        daily_max=low("daily_max"),
        note="；".join(d.note for d in doses if d.note) or None,
    )


def _limits(
    drug: Drug, ctx: AuditContext, forms: list[Form | None] | None = None, info: dict | None = None
) -> tuple[DoseLimit | None, str]:
    """:func:`_patient_limits`, worked out once per drug and forms in one audit (the per-line and the
    daily check of a line ask for the same limits). ``info``, when given, is an empty dict to fill."""
    key = ("limits", drug.id, tuple(map(id, forms or ())))
    got = ctx.memo.get(key)
    if got is None:
        found: dict = {}
        got = (*_patient_limits(drug, ctx, forms, found), found)
        ctx.memo[key] = got
    if info is not None:
        info.update(got[2])
    return got[0], got[1]


def _patient_limits(
    drug: Drug, ctx: AuditContext, forms: list[Form | None] | None = None, info: dict | None = None
) -> tuple[DoseLimit | None, str]:
    """The dose limits for this patient: child, elderly (from ``dose.elderly_from`` or the elderly age)
    or adult (an adult maximum still caps a child), replaced by the limits of the line's form when it
    has its own (``forms``: the forms of the lines of this single-ingredient drug), and tightened by
    every renal limit that applies, each read in the measure its label uses (eGFR or CrCl, the other
    only as a fallback stated in ``info``, which collects the evidence of how the limit was chosen)."""
    dose, age, p = drug.dose, ctx.age, ctx.kb.params
    if dose is None:
        return None, ""
    elderly_age = dose.elderly_from or p.elderly_age
    if age is not None and age < p.adult_age and dose.child is not None:
        base, population = dose.child, "儿童"
    elif age is not None and age >= elderly_age and dose.elderly is not None:
        base, population = dose.elderly, f"{fmt(float(elderly_age))}岁以上" if dose.elderly_from else "老年人"
    else:
        base, population = dose.adult, "成人"
    form_dose = _form_dose(forms or [])
    if form_dose is not None and population != "儿童":
        shown = "、".join(dict.fromkeys(f.form for f in forms or [] if f is not None and f.dose is not None))
        base = DoseLimit(
            single_max=form_dose.single_max
            if form_dose.single_max is not None
            else (base.single_max if base else None),
            daily_max=form_dose.daily_max
            if form_dose.daily_max is not None
            else (base.daily_max if base else None),
            single_min=base.single_min if base else None,
            per_kg_daily_max=base.per_kg_daily_max if base else None,
            note=form_dose.note or (base.note if base else None),
        )
        population = f"{population}（{shown}）"
        if info is not None:
            info["form_limit"] = shown
    if info is not None:
        info["_unadjusted"] = base  # for the block ratio (popped before the evidence)
    if not dose.renal:
        return base, population
    rf = _renal(ctx)
    applicable = []
    for limit in dose.renal:
        value, used, note = rf.value(limit.measure)
        if value is not None and value < limit.below:
            applicable.append((limit, value, used, note))
    if not applicable:
        return base, population
    strictest, value, used, note = min(applicable, key=lambda a: a[0].below)

    def tighter(attr: str) -> float | None:
        vals = [
            v
            for v in (getattr(base, attr) if base else None, *(getattr(a[0], attr) for a in applicable))
            if v is not None
        ]
        return min(vals) if vals else None

    merged = DoseLimit(
        single_max=tighter("single_max"),
        daily_max=tighter("daily_max"),
        single_min=base.single_min if base else None,
        per_kg_daily_max=base.per_kg_daily_max if base else None,
        note=strictest.note,
    )
    if base is not None and (merged.single_max, merged.daily_max) == (base.single_max, base.daily_max):
        return base, population  # the renal step is no stricter than the age/form limit
    if info is not None:
        info["renal_measure"] = _MEASURE_TEXT[used]
        info["renal_value"] = value
        if used == "crcl" and rf.crcl_source == "cockcroft_gault":
            info["crcl_basis"] = rf.crcl_basis
        if note:
            info["renal_note"] = note
    return merged, f"{_MEASURE_TEXT[used]} {fmt(float(value))}（<{fmt(float(strictest.below))}）时"


def _overdose_severity(
    ratio: float, amount: float, unadjusted: DoseLimit | None, attr: str, block_ratio: float
) -> Severity | None:
    """Block at ``block_ratio`` times the limit, except when only a renal step is exceeded: a dose not
    reduced for the kidneys is a warn (the review's probes: oseltamivir 75 bid at CrCl 20, colchicine
    1.5 mg/d at eGFR 40) unless it is also ``block_ratio`` times the unadjusted limit."""
    if ratio < block_ratio:
        return None
    base = getattr(unadjusted, attr, None) if unadjusted is not None else None
    if base is None or amount < base * block_ratio:
        return Severity.WARN
    return Severity.BLOCK


def _ingredient_form(r: ResolvedItem, ing: Drug) -> Form | None:
    """The form of ingredient ``ing`` a line is: the line's own form for the single-ingredient drug, or for a
    combination line the ingredient's form of the same dosage form (达格列净二甲双胍缓释片 → metformin 缓释片,
    whose 2000 mg single/daily limit then applies instead of the immediate-release 1000 mg single limit)."""
    if r.drug is None or r.form is None:
        return None
    if r.drug.id == ing.id:
        return r.form
    return next((f for f in ing.forms if f.form == r.form.form), None) if r.drug.ingredients else None


def check_dose(ctx: AuditContext) -> None:
    kb, p = ctx.kb, ctx.kb.params
    daily: dict[str, list[tuple[ResolvedItem, float]]] = defaultdict(list)
    for r in ctx.drug_items:
        if r.implausible is not None:
            im = r.implausible
            ctx.add(
                kb.check("RX-DOSE-003"),
                drugs=[r.name],
                items=[r.index],
                drug=r.name,
                evidence={
                    "dose": r.item.dose,
                    "unit": r.item.unit,
                    "strength": im.strength,
                    "ratio": round(im.units_per_dose, 4),
                    "form_unit": im.form_unit,
                },
            )
            continue  # a wrong unit makes every limit comparison meaningless
        for ing, amount in r.doses.items():
            drug = kb.drugs[ing]
            info: dict = {}
            limits, population = _limits(drug, ctx, [_ingredient_form(r, drug)], info)
            unadjusted = info.pop("_unadjusted", None)
            unit = drug.dose.unit if drug.dose else ""
            if limits and limits.single_max and amount > limits.single_max * 1.0001:
                ratio = amount / limits.single_max
                ctx.add(
                    kb.check("RX-DOSE-001"),
                    drugs=[drug.name],
                    items=[r.index],
                    severity=_overdose_severity(
                        ratio, amount, unadjusted, "single_max", p.overdose_block_ratio
                    ),
                    evidence={
                        "single": round(amount, 4),
                        "unit": unit,
                        "limit": limits.single_max,
                        "population": population,
                        "ratio": round(ratio, 2),
                        "reason": ctx.case.prescription.reason,
                        **info,
                    },
                    drug=drug.name,
                )
            if limits and limits.single_min and amount < limits.single_min * 0.9999:
                ctx.add(
                    kb.check("RX-DOSE-004"),
                    drugs=[drug.name],
                    items=[r.index],
                    drug=drug.name,
                    evidence={"single": round(amount, 4), "unit": unit, "limit": limits.single_min},
                )
            per_day = r.daily(ing)
            if per_day is not None:
                daily[ing].append((r, per_day))
    for ing, parts in daily.items():
        drug = kb.drugs[ing]
        info = {}
        limits, population = _limits(drug, ctx, [_ingredient_form(r, drug) for r, _ in parts], info)
        unadjusted = info.pop("_unadjusted", None)
        total = sum(v for _, v in parts)
        unit = drug.dose.unit if drug.dose else ""
        idx = [r.index for r, _ in parts]
        if limits and limits.daily_max and total > limits.daily_max * 1.0001:
            ratio = total / limits.daily_max
            ctx.add(
                kb.check("RX-DOSE-002"),
                drugs=[drug.name],
                items=idx,
                severity=_overdose_severity(ratio, total, unadjusted, "daily_max", p.overdose_block_ratio),
                evidence={
                    "daily": round(total, 4),
                    "unit": unit,
                    "limit": limits.daily_max,
                    "population": population,
                    "ratio": round(ratio, 2),
                    "products": [r.name for r, _ in parts],
                    **info,
                },
                drug=drug.name,
            )
        _check_maintenance(ctx, drug, parts, total)
        weight = ctx.case.patient.weight_kg
        if limits and limits.per_kg_daily_max and weight:
            per_kg = total / weight
            if per_kg > limits.per_kg_daily_max * 1.0001:
                ctx.add(
                    kb.check("RX-DOSE-005"),
                    drugs=[drug.name],
                    items=idx,
                    drug=drug.name,
                    evidence={
                        "daily": round(total, 4),
                        "unit": unit,
                        "weight_kg": weight,
                        "per_kg": round(per_kg, 2),
                        "limit": limits.per_kg_daily_max,
                    },
                )
    _check_tool_limits(ctx, daily)
    _check_egfr_overstates(ctx)
    _check_unit_counts(ctx)


def _check_unit_counts(ctx: AuditContext) -> None:
    """RX-DOSE-001/002 for a line written in its form's countable unit when the form states a label
    maximum in units (中成药 without mass limits: 一次4片、一日3次 → 4 per dose, 12 per day)."""
    kb, p = ctx.kb, ctx.kb.params
    for r in ctx.drug_items:
        form, dose = r.form, r.item.dose
        if (
            form is None
            or dose is None
            or r.implausible is not None
            or normalize_unit(r.item.unit) != form.unit
        ):
            continue
        if not (form.units_single_max or form.units_daily_max):
            continue
        # a count means this form only when the line names it (浓缩丸, brand, strength) or no other form of
        # the product is counted in the same unit (补中益气丸: 8 浓缩丸 ≠ 8 大蜜丸)
        written = r.item.drug or ""
        others = [f for f in r.drug.forms if f is not form and f.unit == form.unit]  # type: ignore[union-attr]
        named = (
            form.form in written
            or any(b in written for b in form.brands)
            or (
                r.item.strength is not None
                and parse_strength(r.item.strength) is not None
                and parse_strength(r.item.strength) in {parse_strength(s) for s in form.strengths}
            )
        )
        if others and not named:
            continue
        ev = {"unit": form.unit, "population": "说明书"}
        if form.units_single_max and dose > form.units_single_max * 1.0001:
            ratio = dose / form.units_single_max
            ctx.add(
                kb.check("RX-DOSE-001"),
                drugs=[r.name],
                items=[r.index],
                drug=r.name,
                severity=Severity.BLOCK if ratio >= p.overdose_block_ratio else None,
                evidence={
                    **ev,
                    "single": dose,
                    "limit": form.units_single_max,
                    "ratio": round(ratio, 2),
                    "reason": ctx.case.prescription.reason,
                },
            )
        per_day = r.frequency.per_day if r.frequency is not None else None
        if form.units_daily_max and per_day and dose * per_day > form.units_daily_max * 1.0001:
            ratio = dose * per_day / form.units_daily_max
            ctx.add(
                kb.check("RX-DOSE-002"),
                drugs=[r.name],
                items=[r.index],
                drug=r.name,
                severity=Severity.BLOCK if ratio >= p.overdose_block_ratio else None,
                evidence={
                    **ev,
                    "daily": round(dose * per_day, 4),
                    "limit": form.units_daily_max,
                    "ratio": round(ratio, 2),
                    "products": [r.name],
                },
            )


_LOADING_WORDS = ("负荷", "首剂", "冲击")


def _check_maintenance(
    ctx: AuditContext, drug: Drug, parts: list[tuple[ResolvedItem, float]], total: float
) -> None:
    """RX-DOSE-007: a daily dose above the maintenance maximum beyond the loading days (clopidogrel
    300 mg qd × 28 d; amiodarone 600 mg/d × 28 d). A line that says 负荷/首剂, a single (st) dose, or a
    supply within ``loading_days`` is a loading dose; a line without days is left to the format check.
    Only the maintenance lines are summed, so the usual two-line order "300 mg × 1 天 + 75 mg qd × 28 天"
    (or amiodarone 200 mg tid × 10 d + 200 mg qd) is not read as 375 mg every day (review-1)."""
    m = drug.dose.maintenance if drug.dose else None
    if m is None or total <= m.daily_max * 1.0001:
        return
    if any(w in (ctx.case.prescription.reason or "") for w in _LOADING_WORDS):
        return
    loading_days = m.loading_days

    def loading(r: ResolvedItem) -> bool:
        text = f"{r.item.note or ''}{r.item.frequency or ''}"
        return (
            any(w in text for w in _LOADING_WORDS)
            or (r.frequency is not None and r.frequency.code == "st")
            or r.item.days is None
            or r.item.days <= loading_days
        )

    kept = [(r, v) for r, v in parts if not loading(r)]
    total = sum(v for _, v in kept)
    if not kept or total <= m.daily_max * 1.0001:
        return
    parts, days = kept, [r.item.days for r, _ in kept if r.item.days is not None]
    ratio = total / m.daily_max
    ctx.add(
        ctx.kb.check("RX-DOSE-007"),
        drugs=[drug.name],
        items=[r.index for r, _ in parts],
        drug=drug.name,
        severity=Severity.BLOCK if ratio >= ctx.kb.params.overdose_block_ratio else None,
        evidence={
            "daily": round(total, 4),
            "unit": drug.dose.unit if drug.dose else "",
            "limit": m.daily_max,
            "days": max(days),
            "loading_days": m.loading_days,
            "ratio": round(ratio, 2),
            "note": m.note,
        },
    )


def _check_tool_limits(ctx: AuditContext, daily: dict[str, list[tuple[ResolvedItem, float]]]) -> None:
    """RX-DOSE-008: thresholds this tool sets for a plausibility check (``dose.tool``), not label maxima:
    per dose, per day, and per kg per day summed over the ingredients sharing a ``group`` (all insulins)."""
    kb, weight = ctx.kb, ctx.case.patient.weight_kg
    rule = kb.check("RX-DOSE-008")

    def add(
        drug: Drug,
        items: list[int],
        what: str,
        value: float,
        limit: float,
        unit: str,
        names: list[str] | None = None,
    ) -> None:
        tool = drug.dose.tool  # type: ignore[union-attr]
        implausible = tool.block_ratio is not None and value >= limit * tool.block_ratio  # type: ignore[union-attr]
        ctx.add(
            rule,
            drugs=names or [drug.name],
            items=items,
            drug="、".join(names or [drug.name]),
            severity=Severity.BLOCK if implausible else Severity(tool.severity),  # type: ignore[union-attr]
            evidence={
                "what": what,
                "value": round(value, 4),
                "unit": unit,
                "limit": limit,
                "note": tool.note,
                "weight_kg": weight,
            },
        )  # type: ignore[union-attr]

    for r in ctx.drug_items:
        if r.implausible is not None:
            continue
        for ing, amount in r.doses.items():
            drug = kb.drugs[ing]
            tool = drug.dose.tool if drug.dose else None
            if tool and tool.single_max and amount > tool.single_max * 1.0001:
                add(drug, [r.index], "单次", amount, tool.single_max, drug.dose.unit)  # type: ignore[union-attr]
    per_kg: dict[str, tuple[list[str], list[int], float, float, str, Drug]] = {}
    for ing, parts in daily.items():
        drug = kb.drugs[ing]
        tool = drug.dose.tool if drug.dose else None
        if tool is None:
            continue
        total = sum(v for _, v in parts)
        idx = [r.index for r, _ in parts]
        if tool.daily_max and total > tool.daily_max * 1.0001:
            add(drug, idx, "日剂量", total, tool.daily_max, drug.dose.unit)  # type: ignore[union-attr]
        if tool.per_kg_daily_max and weight:
            key = tool.group or ing
            names, items, sum_, limit, unit, first = per_kg.get(
                key, ([], [], 0.0, tool.per_kg_daily_max, drug.dose.unit, drug)
            )  # type: ignore[union-attr]
            per_kg[key] = (
                [*names, drug.name],
                [*items, *idx],
                sum_ + total,
                min(limit, tool.per_kg_daily_max),
                unit,
                first,
            )
    for names, items, total, limit, unit, first in per_kg.values():
        if total / weight > limit * 1.0001:  # type: ignore[operator]
            add(
                first,
                sorted(set(items)),
                f"按体重{fmt(weight)}kg每日",
                total / weight,  # type: ignore[operator]
                limit,
                f"{unit}/kg",
                names,
            )


def _check_egfr_overstates(ctx: AuditContext) -> None:
    """RX-DOSE-006: only eGFR is known (no CrCl lab, no Scr/weight/sex to compute Cockcroft–Gault), the
    patient is old (≥ 75) or light (< 60 kg), and a drug's renal limit is labelled in CrCl."""
    patient, rf = ctx.case.patient, _renal(ctx)
    if rf.egfr is None or rf.crcl is not None:
        return
    old = patient.age is not None and patient.age >= 75
    light = patient.weight_kg is not None and patient.weight_kg < 60
    if not (old or light):
        return
    # only where it can matter: eGFR below twice the label's highest CrCl threshold (in the very old and
    # light, CG CrCl can be about half the eGFR: 86 y, 45 kg, eGFR 52 → CrCl 28)
    hits = [
        r
        for r in ctx.drug_items
        if any(
            lim.measure == "crcl" and rf.egfr < 2 * lim.below
            for d in ctx.kb.ingredients(r.drug.id)  # type: ignore[union-attr]
            if ctx.kb.drugs[d].dose
            for lim in ctx.kb.drugs[d].dose.renal
        )
    ]  # type: ignore[union-attr]
    if not hits:
        return
    names = list(dict.fromkeys(r.name for r in hits))
    why = "、".join(
        w for w, on in ((f"{fmt(patient.age)}岁", old), (f"体重{fmt(patient.weight_kg)}kg", light)) if on
    )
    ctx.add(
        ctx.kb.check("RX-DOSE-006"),
        drugs=names,
        items=[r.index for r in hits],
        drug="、".join(names),
        evidence={"egfr": rf.egfr, "why": why, "age": patient.age, "weight_kg": patient.weight_kg},
    )


def check_frequency(ctx: AuditContext) -> None:
    kb, vague = ctx.kb, _vague(ctx)
    for r in ctx.items:
        text = r.item.frequency
        if text and r.frequency is None and not vague(text):
            ctx.add(
                kb.check("RX-FREQ-002"),
                drugs=[r.name],
                items=[r.index],
                evidence={"frequency": text},
                drug=r.name,
            )
            continue
        if r.drug is None or r.frequency is None or r.frequency.per_day is None:
            continue
        drug_freq = r.drug.frequency
        form = r.form
        high = (form.max_per_day if form and form.max_per_day else None) or (
            drug_freq and drug_freq.max_per_day
        )
        low = (form.min_per_day if form and form.min_per_day else None) or (
            drug_freq and drug_freq.min_per_day
        )
        ev = {"frequency": text, "per_day": r.frequency.per_day, "form": form.form if form else None}
        if high and r.frequency.per_day > high + 1e-9:
            ctx.add(
                kb.check("RX-FREQ-001"),
                drugs=[r.name],
                items=[r.index],
                drug=r.name,
                evidence={**ev, "limit": high},
                rate=rate_text(r.frequency.per_day),
                limit_rate=rate_text(high),
            )
        elif low and not r.frequency.prn and r.frequency.per_day < low - 1e-9:
            ctx.add(
                kb.check("RX-FREQ-003"),
                drugs=[r.name],
                items=[r.index],
                drug=r.name,
                evidence={**ev, "limit": low},
                rate=rate_text(r.frequency.per_day),
                limit_rate=rate_text(low),
            )


def rate_text(per_day: float) -> str:
    """Administrations per day as a pharmacist says them: 每日3次, and below once a day by the week or the
    interval (0.1429 → 每周1次, 0.5 → 每2日1次), never a fraction of a time per day."""
    if per_day >= 1 - 1e-3:
        return f"每日{per_day:.3g}次"
    week = per_day * 7
    if abs(week - round(week)) < 0.02:
        return f"每周{round(week)}次"
    days = 1 / per_day
    if abs(days - round(days)) < 0.02:
        return f"每{round(days)}日1次"
    return f"每周{week:.2g}次"


def check_route(ctx: AuditContext) -> None:
    kb, vague = ctx.kb, _vague(ctx)
    for r in ctx.items:
        text = r.item.route
        if not text or vague(text):
            continue
        if r.route is None:
            ctx.add(
                kb.check("RX-ROUTE-002"),
                drugs=[r.name],
                items=[r.index],
                evidence={"route": text},
                drug=r.name,
            )
            continue
        if r.drug is None:
            continue
        allowed = {rt for f in r.drug.forms for rt in f.routes}
        if r.route not in allowed and not (_ROUTE_EQUIVALENT.get(r.route, set()) & allowed):
            ctx.add(
                kb.check("RX-ROUTE-001"),
                drugs=[r.name],
                items=[r.index],
                drug=r.name,
                evidence={"route": text, "allowed": sorted(allowed)},
            )


# --------------------------------------------------------------------------- days supply


def _chronic(ctx: AuditContext) -> bool:
    specs = _icd_specs(ctx, ("chronic",), ctx.kb.params.chronic_icd10)
    return any(specs.matches(d.icd10) for d in ctx.case.patient.diagnoses)


def _course_limit(ctx: AuditContext) -> float:
    """Days a short-course drug may be given: 7, or longer for a diagnosis whose standard course is
    longer (e.g. 14-day H. pylori eradication), per ``course_days`` in the parameters."""
    p, dx = ctx.kb.params, ctx.case.patient.diagnoses
    limit = p.max_days
    for n, course in enumerate(p.course_days):
        icd = _icd_specs(ctx, ("course", n), course.icd10)
        if any(icd.matches(d.icd10) for d in dx) or any(w in d.name for d in dx for w in course.names):
            limit = max(limit, course.days)
    return limit


def check_days(ctx: AuditContext) -> None:
    kb, p = ctx.kb, ctx.kb.params
    rx = ctx.case.prescription
    chronic = _chronic(ctx)
    course_limit = _course_limit(ctx)
    long_notes: list[ResolvedItem] = []
    for r in ctx.items:
        days = r.item.days
        if days is None or days <= 0:
            continue
        name = r.name
        ev = {"days": days}
        if days > p.long_rx_max_days:
            ctx.add(
                kb.check("RX-LONG-001"),
                drugs=[name],
                items=[r.index],
                drug=name,
                evidence={**ev, "limit": p.long_rx_max_days},
            )
            continue
        drug = r.drug
        psychotropic_2 = drug is not None and PSYCHOTROPIC_2 in kb.classes_of(drug.id)
        # 长期处方管理规范 第十二条: 精二 is never a long prescription, whether or not its entry says so
        excluded = drug is not None and (drug.long_rx_excluded or psychotropic_2)
        long_blocked = excluded and (rx.kind == "长期" or days > p.long_rx_usual_days)
        if long_blocked:
            # not a long-prescription drug at all; the short-course check below still applies. 麻醉/精神药品
            # are filed under 点评 1-13 (RX-LONG-004), antimicrobials and the rest under 1-14 (RX-LONG-003)
            classes = kb.classes_of(drug.id)  # type: ignore[union-attr]
            special = [label for cls, label in SPECIAL_CONTROL.items() if cls in classes]
            ctx.add(
                kb.check("RX-LONG-004" if special else "RX-LONG-003"),
                drugs=[name],
                items=[r.index],
                drug=name,
                evidence={**ev, "why": "、".join(special) if special else "抗微生物药物等"},
            )
        if rx.kind == "急诊" and days > p.max_days_emergency:
            ctx.add(
                kb.check("RX-DAYS-002"),
                drugs=[name],
                items=[r.index],
                drug=name,
                evidence={**ev, "limit": p.max_days_emergency},
            )
            continue
        if psychotropic_2:
            # 处方管理办法 第二十三条: ≤ 7 days' usual dose; longer only with a written reason. A chronic
            # diagnosis is no reason. A long prescription of 精二 is RX-LONG-004 already (one finding).
            if days > p.max_days and not rx.reason and not long_blocked:
                ctx.add(
                    kb.check("RX-DAYS-004"),
                    drugs=[name],
                    items=[r.index],
                    drug=name,
                    evidence={**ev, "limit": p.max_days, "reason": rx.reason},
                )
            continue
        if drug is not None and drug.acute_course and days > course_limit:
            # 处方管理办法 第十九条: a longer supply is allowed when the prescriber states why
            ctx.add(
                kb.check("RX-DAYS-003"),
                drugs=[name],
                items=[r.index],
                drug=name,
                severity=Severity.INFO if rx.reason else None,
                evidence={**ev, "limit": course_limit, "reason": rx.reason},
            )
            continue
        # a diagnosis with a standard longer course (14-day H. pylori quadruple: PPI and bismuth too) is the
        # 特殊情况 of 第十九条 for every line of that prescription, up to that course's length
        if days > course_limit and not chronic and not rx.reason and rx.kind != "长期":
            ctx.add(
                kb.check("RX-DAYS-001"),
                drugs=[name],
                items=[r.index],
                drug=name,
                evidence={**ev, "limit": p.max_days},
            )
            continue
        if days > p.long_rx_usual_days:
            long_notes.append(r)
    # one notice per prescription, naming every drug over 4 weeks; when a record was sent without the
    # evaluation, RX-REC-004 (check_record) is that notice instead
    if long_notes and not _long_rx_unrecorded(ctx):
        names = list(dict.fromkeys(r.name for r in long_notes))
        ctx.add(
            kb.check("RX-LONG-002"),
            drugs=names,
            items=[r.index for r in long_notes],
            drug="、".join(names),
            evidence={"days": max(r.item.days or 0 for r in long_notes)},
        )


def _long_rx_unrecorded(ctx: AuditContext) -> bool:
    """A record was sent, a line runs over 4 weeks, and the record's 处理 shows no evaluation (RX-REC-004)."""
    record, p = ctx.case.record, ctx.kb.params
    if not record:
        return False
    return any((r.item.days or 0) > p.long_rx_usual_days for r in ctx.items) and not any(
        w in (record.get("处理") or "") for w in _LONG_RX_WORDS
    )


# --------------------------------------------------------------------------- interactions


def _label(r: ResolvedItem) -> str:
    """The drug's name in a message: a current medication (negative index) is marked （在用药品）."""
    return r.name + CURRENT_MARK if r.index < 0 else r.name


def _interaction_pairs(ctx: AuditContext) -> Iterator[tuple[ResolvedItem, ResolvedItem]]:
    """The pairs the interaction rules are checked on: every two prescribed lines, then each line with each
    drug the patient already takes (在用药品). Two current medications are not compared with each other:
    they are not this prescription's decision (their prescriber owns them), and the audit is of what is
    prescribed now."""
    yield from itertools.combinations(ctx.drug_items, 2)
    for x in ctx.drug_items:
        for c in ctx.current_drugs:
            yield x, c


def check_interactions(ctx: AuditContext) -> None:
    """Interaction rules on each pair of :func:`_interaction_pairs`, with the rule's severity and message; a
    current medication is marked in the message (（在用药品）) and named in the evidence, and ``items`` holds
    the prescribed lines only."""
    rules, idx = ctx.kb.interactions, ctx.index
    for x, y in _interaction_pairs(ctx):
        if x.drug.id == y.drug.id:  # type: ignore[union-attr]
            continue  # the same drug twice is RX-DUP-001, not an interaction with itself
        xa, xb = idx.rules("ddi_a", x.drug.id), idx.rules("ddi_b", x.drug.id)  # type: ignore[union-attr]
        ya, yb = idx.rules("ddi_a", y.drug.id), idx.rules("ddi_b", y.drug.id)  # type: ignore[union-attr]
        forward, backward = xa & yb, ya & xb
        for i in sorted(forward | backward):
            rule = rules[i]
            a, b = (x, y) if i in forward else (y, x)
            evidence = {"mechanism": rule.mechanism, "effect": rule.effect, "management": rule.management}
            if y.index < 0:  # y is a current medication (x is always a line)
                evidence["current_medication"] = y.item.drug
            ctx.add(
                rule,
                drugs=[a.name, b.name],
                items=[r.index for r in (a, b) if r.index >= 0],
                evidence=evidence,
                a=_label(a),
                b=_label(b),
            )


def check_current_medications(ctx: AuditContext) -> None:
    """A current medication (在用药品) the knowledge base cannot identify was not compared with the lines:
    said as an info finding (RX-REC-005), never silence. It is not a line being dispensed, so it does not
    make the case needs_review; nothing else (dose, allergy, days) is checked for current medications."""
    seen: set[str] = set()
    for c in ctx.current:
        if (c.drug is not None and not c.class_word) or c.item.drug in seen:
            continue
        seen.add(c.item.drug)
        evidence: dict[str, Any] = {"written": c.item.drug}
        if c.known:
            evidence["known_as"] = c.known
        if c.local_form:
            evidence["local"] = c.local_form
        unchecked = _UNIDENTIFIED
        if c.class_word:  # 胰岛素: the class's interactions were checked, duplicates could not be
            evidence["class"] = c.class_word
            unchecked = _CLASS_ONLY.format(cls=c.class_word)
        ctx.add(ctx.kb.check("RX-REC-005"), drugs=[c.item.drug], evidence=evidence, unchecked=unchecked)


_UNIDENTIFIED = "未能在审方知识库中识别（或为未收录的剂型），未核对其与本处方药品的相互作用和重复用药"
_CLASS_ONLY = (
    "只写了类别名（{cls}），未写明具体品种：已按该类别核对相互作用，未核对其与本处方药品的重复用药"
    "（如胰岛素方案重复）"
)


def _home_comparable(ctx: AuditContext) -> list[ResolvedItem]:
    """Current medications compared with the lines for duplicate therapy: not those written as a class
    word only (胰岛素 names no insulin: it would be one product of the class, a false 胰岛素方案重复 with
    a prescribed analogue; RX-REC-005 says the duplicate check was not done)."""
    return [c for c in ctx.current_drugs if not c.class_word]


# --------------------------------------------------------------------------- duplicates


def _in_role(member: Target, item: ResolvedItem, group_classes: frozenset[str], ctx: AuditContext) -> bool:
    """The item plays this exception member *in the duplicate group*: it is a product or ingredient the
    member names, or it has a member class that is one of the group's classes or below one. A triple
    inhaler is a LAMA, but in the LABA group it is a LABA: ICS/LABA + LAMA must not excuse ICS/LABA +
    triple (two LABAs), nor a statin/ezetimibe combination plus another statin."""
    if not item.keys.isdisjoint(member.drugs):
        return True
    classes = ctx.kb.classes
    for c in member.classes:
        if c not in item.keys:
            continue
        seen: set[str] = set()
        while c is not None and c not in seen:
            if c in group_classes:
                return True
            seen.add(c)
            c = classes[c].parent if c in classes else None
    return False


def _covers(
    members: tuple, group: list[ResolvedItem], ctx: AuditContext, group_classes: frozenset[str] = frozenset()
) -> bool:
    """True when the items can be matched one-to-one to distinct exception members, each in its role
    within the group (:func:`_in_role`)."""
    if len(group) > len(members):
        return False
    return any(
        all(_in_role(m, it, group_classes, ctx) for m, it in zip(perm, group, strict=False))
        for perm in itertools.permutations(members, len(group))
    )


def _by_ingredient(kb: Any, resolved: list[ResolvedItem]) -> dict[str, list[ResolvedItem]]:
    """The resolved drugs under each single ingredient they hold (a combination under each of its)."""
    out: dict[str, list[ResolvedItem]] = defaultdict(list)
    for r in resolved:
        for ing in kb.ingredients(r.drug.id):  # type: ignore[union-attr]
            out[ing].append(r)
    return out


def check_duplicates(ctx: AuditContext) -> None:
    kb = ctx.kb
    items = ctx.drug_items
    by_ingredient = _by_ingredient(kb, items)
    # 在用药品 sharing an ingredient or a duplicate group with a line are reported with it (one finding
    # per problem); the items of a finding are the prescribed lines only
    home_drugs = _home_comparable(ctx)
    home_by_ingredient = _by_ingredient(kb, home_drugs)
    rule = kb.check("RX-DUP-001")
    for ing, group in by_ingredient.items():
        home = home_by_ingredient.get(ing, [])
        if len(group) + len(home) < 2:
            continue
        drug = kb.drugs[ing]
        daily = [g.daily(ing) for g in group]
        total = sum(d for d in daily if d is not None) if all(d is not None for d in daily) else None
        limits, _ = _limits(drug, ctx)
        limit = limits.daily_max if limits else None
        over = total is not None and limit is not None and total > limit * 1.0001
        evidence = {
            "ingredient": drug.name,
            "count": len(group) + len(home),
            "products": [_label(g) for g in (*group, *home)],
            "daily": round(total, 4) if total is not None else None,
            "unit": drug.dose.unit if drug.dose else None,
            "limit": limit,
        }
        shown: dict[str, Any] = {}
        if home:  # the current medication's dose is not known: the total is of the prescribed lines
            evidence["current_medication"] = "、".join(c.item.drug for c in home)
            shown = (
                {"unit": f"{fmt(evidence['unit'])}（不含在用药品）"}
                if total is not None
                else {"daily": "不详", "unit": "（在用药品剂量未知）"}
            )
            if not over and total is not None and limit is not None and total >= limit * 0.9999:
                # the prescribed lines alone reach the daily maximum: any dose of the home product with
                # the same ingredient takes the day's total over it (RX-DUP-001 blocks a total over the max)
                over = True
                evidence["over_with_current"] = True
                shown = {
                    "unit": f"{fmt(evidence['unit'])}（不含在用药品），仅本处方已达每日最大剂量"
                    f"{fmt(limit)}{fmt(evidence['unit'])}，加上在用药品"
                    f"{'、'.join(c.item.drug for c in home)}即超过最大剂量"
                }
        ctx.add(
            rule,
            drugs=[drug.name],
            items=[g.index for g in group],
            severity=Severity.BLOCK if over else None,
            evidence=evidence,
            **shown,
        )
    compared = (*items, *home_drugs)  # lines, then current medications (negative indices: no clash)
    in_group = {r.index: ctx.index.rules("dup", r.drug.id) for r in compared}  # type: ignore[union-attr]
    for g in sorted(set().union(*(in_group[r.index] for r in items))) if items else ():
        grp = kb.duplicate_groups[g]
        members = [r for r in compared if g in in_group[r.index]]
        if len(members) < 2:
            continue
        # pairs already reported as the same ingredient are not reported again as the same class
        if all(
            not set(kb.ingredients(a.drug.id)).isdisjoint(kb.ingredients(b.drug.id))  # type: ignore[union-attr]
            for a, b in itertools.combinations(members, 2)
        ):
            continue
        if any(_covers(exc.members, members, ctx, frozenset(grp.classes)) for exc in kb.duplicate_exceptions):
            continue
        names = [_label(m) for m in members]
        evidence = {"group": grp.name, "products": names}
        if home := [m.item.drug for m in members if m.index < 0]:
            evidence["current_medication"] = "、".join(home)
        ctx.add(
            grp,
            drugs=[m.name for m in members],
            items=[m.index for m in members if m.index >= 0],
            evidence=evidence,
            group=grp.name,
            products=names,
            count=len(members),
            drug="、".join(names),
        )


# --------------------------------------------------------------------------- contraindications


def check_contraindications(ctx: AuditContext) -> None:
    rules, idx = ctx.kb.contraindications, ctx.index
    candidates = {r.index: idx.rules("ci", r.drug.id) for r in ctx.drug_items}  # type: ignore[union-attr]
    for i in sorted(set().union(*candidates.values())):
        rule = rules[i]
        hits = [r for r in ctx.drug_items if i in candidates[r.index]]
        if not hits or not ctx.holds(rule.when):  # the condition reads case facts, not the item
            continue
        # the condition holds only with a drug the patient already takes (a home aspirin beside a
        # prescribed clopidogrel): the finding names it; the target is always a prescribed line
        behind = ctx.current_behind(rule.when)
        ev = evidence_for(rule.when, ctx.facts)
        if rule.population:
            ev["population"] = rule.population
        if rule.once:  # one finding about the prescription as a whole
            names = list(dict.fromkeys(r.name for r in hits))
            shown = names + [c.name + CURRENT_MARK for c in behind if ctx.matches(rule.target, c)]
            ctx.add(
                rule,
                drugs=names + [c.name for c in behind if ctx.matches(rule.target, c)],
                items=[r.index for r in hits],
                evidence=ev,
                behind=behind,
                drug="、".join(shown),
            )
            continue
        for r in hits:
            ctx.add(rule, drugs=[r.name], items=[r.index], evidence=dict(ev), behind=behind, drug=r.name)


# --------------------------------------------------------------------------- allergy


def _allergic_drugs(allergen: str, ctx: AuditContext) -> set[str]:
    """Ingredients an allergy names. Leaning to over-match is deliberate here: 头孢呋辛 or
    阿莫西林过敏 must reach 头孢呋辛酯 and 阿莫西林 even though they are not exact names."""
    kb = ctx.kb
    match = kb.names.resolve(allergen)
    if match:
        return set(kb.ingredients(match.drug_id))
    found: set[str] = set()
    if len(allergen) >= 3:
        for d in kb.drugs.values():
            if not d.ingredients and len(d.name) >= 3 and (d.name.startswith(allergen) or d.name in allergen):
                found.add(d.id)
    return found


NON_DRUG_ALLERGENS = (
    "花粉",
    "尘螨",
    "海鲜",
    "虾",
    "蟹",
    "鸡蛋",
    "牛奶",
    "花生",
    "坚果",
    "芒果",
    "小麦",
    "食物",
    "动物毛",
    "乳胶",
    "胶布",
    "紫外线",
    "冷空气",
)
"""Allergen words that name no medicine (food, environment, materials): no 过敏原未识别 notice for them.
A pharmacist's list, not exhaustive: any other word that names no known drug or class gets RX-ALG-002."""


def _allergen_name(allergen: str) -> str:
    """The allergen as a message names it: "青霉素过敏" and "对青霉素过敏" read 青霉素 (患者有青霉素过敏史)."""
    name = allergen.strip()
    name = name[1:] if name.startswith("对") and len(name) > 3 else name
    return name.removesuffix("过敏史").removesuffix("过敏").strip() or allergen


def _allergen_targets(allergen: str, ctx: AuditContext) -> tuple[list, set[str]]:
    """The allergen groups and the ingredients an allergy word names: a lookup in the knowledge base
    (a scan of every group and, for a word no name resolves, of every drug), kept per word."""
    key = ("allergen", allergen)
    got = ctx.index.memo.get(key)
    if got is None:
        kb = ctx.kb
        groups = [
            g for g in kb.allergen_groups.values() if any(n in allergen or allergen in n for n in g.names)
        ]
        got = (groups, frozenset(_allergic_drugs(allergen, ctx)))
        if len(ctx.index.memo) < 100_000:  # allergy words are a small vocabulary; never grow unbounded
            ctx.index.memo[key] = got
    return got[0], got[1]


def check_allergy(ctx: AuditContext) -> None:
    kb = ctx.kb
    allergies = [a for a in ctx.case.patient.allergies if a and a not in {"无", "否认", "不详"}]
    if not allergies:
        return
    hit: set[int] = set()
    for allergen in allergies:
        groups, allergic_ids = _allergen_targets(allergen, ctx)
        if (
            not groups
            and not allergic_ids
            and ctx.items
            and not any(w in allergen for w in NON_DRUG_ALLERGENS)
        ):
            # PCN, 消炎药…: nothing to check against, so say so rather than pass in silence
            ctx.add(kb.check("RX-ALG-002"), evidence={"allergen": allergen}, allergen=allergen)
            continue
        for r in ctx.drug_items:
            direct = not r.keys.isdisjoint(allergic_ids) or any(ctx.matches(g.target, r) for g in groups)
            if direct:
                hit.add(r.index)
                ctx.add(
                    kb.check("RX-ALG-001"),
                    drugs=[r.name],
                    items=[r.index],
                    drug=r.name,
                    evidence={"allergen": allergen},
                    allergen=_allergen_name(allergen),
                )
        group_ids = {g.id for g in groups}
        for i, rule in enumerate(kb.cross_reactivity):
            if rule.allergen not in group_ids:
                continue
            for r in ctx.drug_items:
                if r.index not in hit and i in ctx.index.rules("xr", r.drug.id):  # type: ignore[union-attr]
                    ctx.add(
                        rule,
                        drugs=[r.name],
                        items=[r.index],
                        drug=r.name,
                        evidence={"allergen": allergen},
                        allergen=_allergen_name(allergen),
                    )


# --------------------------------------------------------------------------- special populations


def _for_diagnoses(note: PopulationNote, ctx: AuditContext) -> PopulationNote:
    """The note, or its ``unless`` level and note when a diagnosis it names is present."""
    exc = note.unless
    if exc is None:
        return note
    dx = ctx.case.patient.diagnoses
    if any(icd_matches(d.icd10, s) for d in dx for s in exc.icd10) or any(
        w in d.name for d in dx for w in exc.names
    ):
        return note.model_copy(update={"level": exc.level, "note": exc.note or note.note, "unless": None})
    return note


def _population_notes(ctx: AuditContext, r: ResolvedItem, attr: str) -> PopulationNote | None:
    """The strictest note of the product or any of its ingredients."""
    assert r.drug is not None
    notes = [getattr(ctx.kb.drugs[d], attr) for d in (r.drug.id, *ctx.kb.ingredients(r.drug.id))]
    if attr == "elderly" and r.form is not None and r.form.elderly is not None:
        notes.append(r.form.elderly)  # a form's own note (nifedipine IR: Beers avoid)
    notes = [_for_diagnoses(n, ctx) for n in notes if n is not None]
    notes = [n for n in notes if n.level in _LEVEL_SEVERITY]
    return max(notes, key=lambda n: _LEVEL_SEVERITY[n.level].rank, default=None)


def check_special_populations(ctx: AuditContext) -> None:
    kb, p, patient = ctx.kb, ctx.kb.params, ctx.case.patient
    age = patient.age
    groups: list[tuple[str, str, Callable[[PopulationNote], bool]]] = []
    if patient.pregnant:
        groups.append(("RX-POP-001", "pregnancy", lambda n: True))
    if patient.lactating:
        groups.append(("RX-POP-002", "lactation", lambda n: True))
    if age is not None and age < p.adult_age:
        groups.append(("RX-POP-003", "children", lambda n: age < (n.min_age or p.adult_age)))
    if age is not None and age >= p.elderly_age:
        groups.append(("RX-POP-004", "elderly", lambda n: True))
    for rule_id, attr, applies in groups:
        rule = kb.check(rule_id)
        for r in ctx.drug_items:
            note = _population_notes(ctx, r, attr)
            if note is None or not applies(note):
                continue
            ctx.add(
                rule,
                drugs=[r.name],
                items=[r.index],
                severity=_LEVEL_SEVERITY[note.level],
                evidence={
                    "population": attr,
                    "level": note.level,
                    "age": age,
                    "min_age": note.min_age or (p.adult_age if attr == "children" else None),
                    "note": note.note,
                },
                drug=r.name,
                level_text=_LEVEL_TEXT[note.level],
            )


# --------------------------------------------------------------------------- indication


def _icd_specs(ctx: AuditContext, key: Any, specs: Any) -> IcdSpecs:
    """:class:`IcdSpecs` of a knowledge-base spec list, made once per KB under ``key``."""
    got = ctx.index.memo.get(key)
    if got is None:
        got = ctx.index.memo[key] = IcdSpecs.of(specs)
    return got


@dataclass(frozen=True, slots=True)
class _Indications:
    """The indication rules of one drug, with what they accept."""

    rules: list
    specs: frozenset[str]
    icd: IcdSpecs
    words: frozenset[str]
    # any word as one search (re alternation of the escaped words): ``any(w in name for w in words)``
    word_search: Callable[[str], Any] | None


def _indications(ctx: AuditContext, drug_id: str) -> _Indications:
    key = ("ind", drug_id)
    got = ctx.index.memo.get(key)
    if got is None:
        rules = [ctx.kb.indications[i] for i in sorted(ctx.index.rules("ind", drug_id))]
        specs = frozenset(s for rule in rules for s in rule.icd10)
        words = frozenset(w for rule in rules for w in rule.names)
        got = _Indications(
            rules=rules,
            specs=specs,
            icd=IcdSpecs.of(specs),
            words=words,
            word_search=word_search(words),
        )
        ctx.index.memo[key] = got
    return got


def check_indications(ctx: AuditContext) -> None:
    diagnoses = ctx.case.patient.diagnoses
    if not diagnoses:
        return  # reported once as RX-FMT-004
    for r in ctx.drug_items:
        ind = _indications(ctx, r.drug.id)  # type: ignore[union-attr]
        rules, specs, search = ind.rules, ind.specs, ind.word_search
        if not rules:
            continue
        ok = (
            any(ind.icd.matches(d.icd10) for d in diagnoses)
            or (search is not None and any(search(d.name) for d in diagnoses))
            or any(
                ctx.matches(rule.with_drugs, other)
                for rule in rules
                if rule.with_drugs
                for other in (*ctx.drug_items, *(ctx.condition_current if rule.with_current else ()))
                if other is not r
            )
        )
        if ok:
            continue
        rule = rules[0]
        cls = next((ctx.kb.classes[c].name for c in rule.target.classes if c in r.keys), r.drug.name)
        shown = [f"{d.name}({d.icd10})" if d.icd10 else d.name for d in diagnoses]
        ctx.add(
            rule,
            drugs=[r.name],
            items=[r.index],
            drug=r.name,
            evidence={"diagnoses": shown, "accepted_icd10": sorted(specs)},
            drug_class=cls,
        )


# --------------------------------------------------------------------------- skin test


def check_skin_test(ctx: AuditContext) -> None:
    kb = ctx.kb
    # an item already blocked for allergy is not to be given at all: a skin test is moot
    allergic = {i for f in ctx.findings if f.rule_id == "RX-ALG-001" for i in f.items}
    for r in ctx.drug_items:
        if r.index in allergic:
            continue
        needs = any(kb.drugs[d].skin_test for d in (r.drug.id, *kb.ingredients(r.drug.id)))  # type: ignore[union-attr]
        if not needs:
            continue
        result = (r.item.skin_test or "").strip()
        if not result:
            ctx.add(kb.check("RX-SKIN-001"), drugs=[r.name], items=[r.index], drug=r.name)
        elif "阳" in result or result in {"+", "positive"}:
            ctx.add(
                kb.check("RX-SKIN-002"),
                drugs=[r.name],
                items=[r.index],
                drug=r.name,
                evidence={"skin_test": result},
            )


# --------------------------------------------------------------------------- record completeness

_LONG_RX_WORDS = ("长期处方", "长处方", "评估", "签字", "知情", "确认")


def check_record(ctx: AuditContext) -> None:
    record, kb, p = ctx.case.record, ctx.kb, ctx.kb.params
    if not record:
        return  # no record sent with the prescription: nothing to check
    missing = [s for s in p.record_required if not (record.get(s) or "").strip()]
    if missing:
        ctx.add(kb.check("RX-REC-001"), evidence={"missing": missing})
    complaint = (record.get("主诉") or "").strip()
    if len(complaint) > p.chief_complaint_max_chars:
        ctx.add(
            kb.check("RX-REC-002"), evidence={"length": len(complaint), "limit": p.chief_complaint_max_chars}
        )
    written = record.get("诊断") or ""
    if written.strip():
        for d in ctx.case.patient.diagnoses:
            if d.name and d.name not in written and not (d.icd10 and d.icd10 in written):
                ctx.add(kb.check("RX-REC-003"), evidence={"diagnosis": d.name})
    long_items = [r for r in ctx.items if (r.item.days or 0) > p.long_rx_usual_days]
    if long_items and not any(w in (record.get("处理") or "") for w in _LONG_RX_WORDS):
        ctx.add(
            kb.check("RX-REC-004"),
            items=[r.index for r in long_items],
            evidence={"days": max(r.item.days or 0 for r in long_items)},
        )


CHECKS: tuple[Callable[[AuditContext], None], ...] = (
    check_format,
    check_dose,
    check_frequency,
    check_route,
    check_days,
    check_interactions,
    check_duplicates,
    check_current_medications,
    check_contraindications,
    check_allergy,
    check_special_populations,
    check_indications,
    check_skin_test,
    check_record,
)
"""Every check, in the order findings are listed (then sorted by severity)."""

__all__ = ["CHECKS", "fmt"]
