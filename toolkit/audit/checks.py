"""The checks. Each reads the shared :class:`AuditContext` and adds findings.

Logic lives here; thresholds, wording, severity and sources live in ``rules/``.
Checks that work from data rules (interactions, contraindications, …) take the
rule id from the rule; the others use the ids of ``rules/checks.yaml``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable

from toolkit.knowledge.conditions import evidence_for, icd_matches
from toolkit.knowledge.schema import DoseLimit, Drug, PopulationNote
from toolkit.records import Severity

from .context import AuditContext, fmt
from .resolve import ResolvedItem

_ROUTE_EQUIVALENT = {"含服": {"舌下含服"}, "舌下含服": {"含服"}, "嚼服": {"口服"}}
_LEVEL_SEVERITY = {"contraindicated": Severity.BLOCK, "avoid": Severity.WARN, "caution": Severity.INFO}
_LEVEL_TEXT = {"contraindicated": "禁用", "avoid": "不推荐使用", "caution": "慎用"}
_MATCH_TEXT = {"homophone": "同音字", "typo": "错别字", "exact": "别名或常见错写", "stripped": "别名或常见错写",
               "contained": "别名或常见错写"}


# --------------------------------------------------------------------------- format

def check_format(ctx: AuditContext) -> None:
    kb, p = ctx.kb, ctx.kb.params
    rx, patient = ctx.case.prescription, ctx.case.patient
    if len(rx.items) > p.max_items:
        ctx.add(kb.check("RX-FMT-001"), evidence={"count": len(rx.items), "limit": p.max_items},
                items=[r.index for r in ctx.items])
    if not patient.diagnoses:
        ctx.add(kb.check("RX-FMT-004"))
    if patient.age is None:
        ctx.add(kb.check("RX-FMT-005"))
    elif patient.age < 12 and patient.weight_kg is None:
        ctx.add(kb.check("RX-FMT-009"), evidence={"age": patient.age})
    for r in ctx.items:
        item, name = r.item, r.name
        vague_field = next((f for f in ("frequency", "note", "route") if getattr(item, f)
                            and any(w in getattr(item, f) for w in p.vague_usage)), None)
        if vague_field:
            ctx.add(kb.check("RX-FMT-002"), drugs=[name], items=[r.index],
                    evidence={"field": vague_field, "text": getattr(item, vague_field)}, drug=name)
        missing = [label for f, label in (("dose", "单次剂量"), ("unit", "剂量单位"), ("frequency", "给药频次"),
                                          ("route", "给药途径"), ("days", "用药天数"))
                   if getattr(item, f) in (None, "") and f != vague_field
                   and not (f == "days" and r.frequency is not None and r.frequency.code == "st")]
        if missing:
            ctx.add(kb.check("RX-FMT-003"), drugs=[name], items=[r.index],
                    evidence={"missing": missing}, drug=name)
        if r.drug is None:
            ctx.add(kb.check("RX-FMT-007"), drugs=[item.drug], items=[r.index], evidence={"written": item.drug})
            continue
        assert r.match is not None
        if not r.match.standard:
            how = _MATCH_TEXT[r.match.kind] if r.match.source != "brand" else "商品名"
            ctx.add(kb.check("RX-FMT-006"), drugs=[name], items=[r.index],
                    evidence={"written": item.drug, "matched": r.match.matched, "how": how}, drug=name)
        if r.dose_problem:
            ctx.add(kb.check("RX-FMT-008"), drugs=[name], items=[r.index],
                    evidence={"reason": r.dose_problem, "strength": item.strength, "unit": item.unit},
                    drug=name)


# --------------------------------------------------------------------------- dose and frequency

def _limits(drug: Drug, ctx: AuditContext) -> tuple[DoseLimit | None, str]:
    """The dose limits for this patient: child, elderly or adult (an adult maximum still caps a child),
    tightened by any renal limit that applies to the patient's eGFR (or CrCl when eGFR is missing)."""
    dose, age, p = drug.dose, ctx.age, ctx.kb.params
    if dose is None:
        return None, ""
    if age is not None and age < p.adult_age and dose.child is not None:
        base, population = dose.child, "儿童"
    elif age is not None and age >= p.elderly_age and dose.elderly is not None:
        base, population = dose.elderly, "老年人"
    else:
        base, population = dose.adult, "成人"
    labs = ctx.case.patient.labs
    renal_value, measure = (labs["egfr"], "eGFR") if "egfr" in labs else (labs.get("crcl"), "CrCl")
    if renal_value is None or not dose.renal:
        return base, population
    applicable = [r for r in dose.renal if renal_value < r.below]
    if not applicable:
        return base, population
    strictest = min(applicable, key=lambda r: r.below)

    def tighter(a: float | None, b: float | None) -> float | None:
        return min(x for x in (a, b) if x is not None) if a is not None or b is not None else None

    merged = DoseLimit(
        single_max=tighter(base.single_max if base else None, strictest.single_max),
        daily_max=tighter(base.daily_max if base else None, strictest.daily_max),
        single_min=base.single_min if base else None,
        per_kg_daily_max=base.per_kg_daily_max if base else None,
        note=strictest.note,
    )
    return merged, f"{measure} {fmt(renal_value)}（<{fmt(strictest.below)}）时"


def check_dose(ctx: AuditContext) -> None:
    kb, p = ctx.kb, ctx.kb.params
    daily: dict[str, list[tuple[ResolvedItem, float]]] = defaultdict(list)
    for r in ctx.drug_items:
        if r.implausible is not None:
            im = r.implausible
            ctx.add(kb.check("RX-DOSE-003"), drugs=[r.name], items=[r.index], drug=r.name,
                    evidence={"dose": r.item.dose, "unit": r.item.unit, "strength": im.strength,
                              "ratio": round(im.units_per_dose, 4), "form_unit": im.form_unit})
            continue  # a wrong unit makes every limit comparison meaningless
        for ing, amount in r.doses.items():
            drug = kb.drugs[ing]
            limits, population = _limits(drug, ctx)
            unit = drug.dose.unit if drug.dose else ""
            if limits and limits.single_max and amount > limits.single_max * 1.0001:
                ratio = amount / limits.single_max
                ctx.add(kb.check("RX-DOSE-001"), drugs=[drug.name], items=[r.index],
                        severity=Severity.BLOCK if ratio >= p.overdose_block_ratio else None,
                        evidence={"single": round(amount, 4), "unit": unit, "limit": limits.single_max,
                                  "population": population, "ratio": round(ratio, 2),
                                  "reason": ctx.case.prescription.reason},
                        drug=drug.name)
            if limits and limits.single_min and amount < limits.single_min * 0.9999:
                ctx.add(kb.check("RX-DOSE-004"), drugs=[drug.name], items=[r.index], drug=drug.name,
                        evidence={"single": round(amount, 4), "unit": unit, "limit": limits.single_min})
            per_day = r.daily(ing)
            if per_day is not None:
                daily[ing].append((r, per_day))
    for ing, parts in daily.items():
        drug = kb.drugs[ing]
        limits, population = _limits(drug, ctx)
        total = sum(v for _, v in parts)
        unit = drug.dose.unit if drug.dose else ""
        idx = [r.index for r, _ in parts]
        if limits and limits.daily_max and total > limits.daily_max * 1.0001:
            ratio = total / limits.daily_max
            ctx.add(kb.check("RX-DOSE-002"), drugs=[drug.name], items=idx,
                    severity=Severity.BLOCK if ratio >= p.overdose_block_ratio else None,
                    evidence={"daily": round(total, 4), "unit": unit, "limit": limits.daily_max,
                              "population": population, "ratio": round(ratio, 2),
                              "products": [r.name for r, _ in parts]},
                    drug=drug.name)
        weight = ctx.case.patient.weight_kg
        if limits and limits.per_kg_daily_max and weight:
            per_kg = total / weight
            if per_kg > limits.per_kg_daily_max * 1.0001:
                ctx.add(kb.check("RX-DOSE-005"), drugs=[drug.name], items=idx, drug=drug.name,
                        evidence={"daily": round(total, 4), "unit": unit, "weight_kg": weight,
                                  "per_kg": round(per_kg, 2), "limit": limits.per_kg_daily_max})


def check_frequency(ctx: AuditContext) -> None:
    kb, vague = ctx.kb, ctx.kb.params.vague_usage
    for r in ctx.items:
        text = r.item.frequency
        if text and r.frequency is None and not any(w in text for w in vague):
            ctx.add(kb.check("RX-FREQ-002"), drugs=[r.name], items=[r.index], evidence={"frequency": text},
                    drug=r.name)
            continue
        if r.drug is None or r.frequency is None or r.frequency.per_day is None:
            continue
        drug_freq = r.drug.frequency
        form = r.form
        high = (form.max_per_day if form and form.max_per_day else None) or (drug_freq and drug_freq.max_per_day)
        low = (form.min_per_day if form and form.min_per_day else None) or (drug_freq and drug_freq.min_per_day)
        ev = {"frequency": text, "per_day": r.frequency.per_day, "form": form.form if form else None}
        if high and r.frequency.per_day > high + 1e-9:
            ctx.add(kb.check("RX-FREQ-001"), drugs=[r.name], items=[r.index], drug=r.name,
                    evidence={**ev, "limit": high})
        elif low and not r.frequency.prn and r.frequency.per_day < low - 1e-9:
            ctx.add(kb.check("RX-FREQ-003"), drugs=[r.name], items=[r.index], drug=r.name,
                    evidence={**ev, "limit": low})


def check_route(ctx: AuditContext) -> None:
    kb = ctx.kb
    for r in ctx.items:
        text = r.item.route
        if not text or any(w in text for w in kb.params.vague_usage):
            continue
        if r.route is None:
            ctx.add(kb.check("RX-ROUTE-002"), drugs=[r.name], items=[r.index], evidence={"route": text},
                    drug=r.name)
            continue
        if r.drug is None:
            continue
        allowed = {rt for f in r.drug.forms for rt in f.routes}
        if r.route not in allowed and not (_ROUTE_EQUIVALENT.get(r.route, set()) & allowed):
            ctx.add(kb.check("RX-ROUTE-001"), drugs=[r.name], items=[r.index], drug=r.name,
                    evidence={"route": text, "allowed": sorted(allowed)})


# --------------------------------------------------------------------------- days supply

def _chronic(ctx: AuditContext) -> bool:
    specs = ctx.kb.params.chronic_icd10
    return any(icd_matches(d.icd10, s) for d in ctx.case.patient.diagnoses for s in specs)


def _course_limit(ctx: AuditContext) -> float:
    """Days a short-course drug may be given: 7, or longer for a diagnosis whose standard course is
    longer (e.g. 14-day H. pylori eradication), per ``course_days`` in the parameters."""
    p = ctx.kb.params
    limit = p.max_days
    for course in p.course_days:
        if any(icd_matches(d.icd10, s) for d in ctx.case.patient.diagnoses for s in course.icd10) or \
                any(w in d.name for d in ctx.case.patient.diagnoses for w in course.names):
            limit = max(limit, course.days)
    return limit


def check_days(ctx: AuditContext) -> None:
    kb, p = ctx.kb, ctx.kb.params
    rx = ctx.case.prescription
    chronic = _chronic(ctx)
    course_limit = _course_limit(ctx)
    for r in ctx.items:
        days = r.item.days
        if days is None or days <= 0:
            continue
        name = r.name
        ev = {"days": days}
        if days > p.long_rx_max_days:
            ctx.add(kb.check("RX-LONG-001"), drugs=[name], items=[r.index], drug=name,
                    evidence={**ev, "limit": p.long_rx_max_days})
            continue
        drug = r.drug
        excluded = drug is not None and drug.long_rx_excluded
        if excluded and (rx.kind == "长期" or days > p.long_rx_usual_days):
            # not a long-prescription drug at all; the short-course check below still applies
            ctx.add(kb.check("RX-LONG-003"), drugs=[name], items=[r.index], drug=name,
                    evidence={**ev, "why": "抗微生物药物等"})
        if rx.kind == "急诊" and days > p.max_days_emergency:
            ctx.add(kb.check("RX-DAYS-002"), drugs=[name], items=[r.index], drug=name,
                    evidence={**ev, "limit": p.max_days_emergency})
            continue
        if drug is not None and drug.acute_course and days > course_limit:
            # 处方管理办法 第十九条: a longer supply is allowed when the prescriber states why
            ctx.add(kb.check("RX-DAYS-003"), drugs=[name], items=[r.index], drug=name,
                    severity=Severity.INFO if rx.reason else None,
                    evidence={**ev, "limit": course_limit, "reason": rx.reason})
            continue
        if days > p.max_days and not chronic and not rx.reason and rx.kind != "长期":
            ctx.add(kb.check("RX-DAYS-001"), drugs=[name], items=[r.index], drug=name,
                    evidence={**ev, "limit": p.max_days})
            continue
        if days > p.long_rx_usual_days:
            ctx.add(kb.check("RX-LONG-002"), drugs=[name], items=[r.index], drug=name, evidence=ev)


# --------------------------------------------------------------------------- interactions

def check_interactions(ctx: AuditContext) -> None:
    rules, idx = ctx.kb.interactions, ctx.index
    for x, y in itertools.combinations(ctx.drug_items, 2):
        xa, xb = idx.rules("ddi_a", x.drug.id), idx.rules("ddi_b", x.drug.id)  # type: ignore[union-attr]
        ya, yb = idx.rules("ddi_a", y.drug.id), idx.rules("ddi_b", y.drug.id)  # type: ignore[union-attr]
        forward, backward = xa & yb, ya & xb
        for i in sorted(forward | backward):
            rule = rules[i]
            a, b = (x, y) if i in forward else (y, x)
            ctx.add(rule, drugs=[a.name, b.name], items=[a.index, b.index],
                    evidence={"mechanism": rule.mechanism, "effect": rule.effect,
                              "management": rule.management},
                    a=a.name, b=b.name)


# --------------------------------------------------------------------------- duplicates

def _covers(members: tuple, group: list[ResolvedItem], ctx: AuditContext) -> bool:
    """True when the items can be matched one-to-one to distinct exception members."""
    if len(group) > len(members):
        return False
    return any(all(ctx.matches(m, it) for m, it in zip(perm, group, strict=False))
               for perm in itertools.permutations(members, len(group)))


def check_duplicates(ctx: AuditContext) -> None:
    kb = ctx.kb
    items = ctx.drug_items
    by_ingredient: dict[str, list[ResolvedItem]] = defaultdict(list)
    for r in items:
        for ing in kb.ingredients(r.drug.id):  # type: ignore[union-attr]
            by_ingredient[ing].append(r)
    rule = kb.check("RX-DUP-001")
    for ing, group in by_ingredient.items():
        if len(group) < 2:
            continue
        drug = kb.drugs[ing]
        daily = [g.daily(ing) for g in group]
        total = sum(d for d in daily if d is not None) if all(d is not None for d in daily) else None
        limits, _ = _limits(drug, ctx)
        over = total is not None and limits is not None and limits.daily_max is not None \
            and total > limits.daily_max * 1.0001
        ctx.add(rule, drugs=[drug.name], items=[g.index for g in group],
                severity=Severity.BLOCK if over else None,
                evidence={"ingredient": drug.name, "count": len(group), "products": [g.name for g in group],
                          "daily": round(total, 4) if total is not None else None,
                          "unit": drug.dose.unit if drug.dose else None,
                          "limit": limits.daily_max if limits else None})
    in_group = {r.index: ctx.index.rules("dup", r.drug.id) for r in items}  # type: ignore[union-attr]
    for g in sorted(set().union(*in_group.values())) if items else ():
        grp = kb.duplicate_groups[g]
        members = [r for r in items if g in in_group[r.index]]
        if len(members) < 2:
            continue
        # pairs already reported as the same ingredient are not reported again as the same class
        if all(not set(kb.ingredients(a.drug.id)).isdisjoint(kb.ingredients(b.drug.id))  # type: ignore[union-attr]
               for a, b in itertools.combinations(members, 2)):
            continue
        if any(_covers(exc.members, members, ctx) for exc in kb.duplicate_exceptions):
            continue
        ctx.add(grp, drugs=[m.name for m in members], items=[m.index for m in members],
                evidence={"group": grp.name, "products": [m.name for m in members]},
                group=grp.name, products=[m.name for m in members], count=len(members),
                drug="、".join(m.name for m in members))


# --------------------------------------------------------------------------- contraindications

def check_contraindications(ctx: AuditContext) -> None:
    rules, idx = ctx.kb.contraindications, ctx.index
    candidates = {r.index: idx.rules("ci", r.drug.id) for r in ctx.drug_items}  # type: ignore[union-attr]
    for i in sorted(set().union(*candidates.values())):
        rule = rules[i]
        for r in ctx.drug_items:
            if i not in candidates[r.index] or not ctx.holds(rule.when):
                continue
            ev = evidence_for(rule.when, ctx.facts)
            if rule.population:
                ev["population"] = rule.population
            ctx.add(rule, drugs=[r.name], items=[r.index], evidence=ev, drug=r.name)


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


def check_allergy(ctx: AuditContext) -> None:
    kb = ctx.kb
    allergies = [a for a in ctx.case.patient.allergies if a and a not in {"无", "否认", "不详"}]
    if not allergies:
        return
    hit: set[int] = set()
    for allergen in allergies:
        groups = [g for g in kb.allergen_groups.values() if any(n in allergen or allergen in n for n in g.names)]
        allergic_ids = _allergic_drugs(allergen, ctx)
        for r in ctx.drug_items:
            direct = not r.keys.isdisjoint(allergic_ids) or any(ctx.matches(g.target, r) for g in groups)
            if direct:
                hit.add(r.index)
                ctx.add(kb.check("RX-ALG-001"), drugs=[r.name], items=[r.index], drug=r.name,
                        evidence={"allergen": allergen}, allergen=allergen)
        group_ids = {g.id for g in groups}
        for i, rule in enumerate(kb.cross_reactivity):
            if rule.allergen not in group_ids:
                continue
            for r in ctx.drug_items:
                if r.index not in hit and i in ctx.index.rules("xr", r.drug.id):  # type: ignore[union-attr]
                    ctx.add(rule, drugs=[r.name], items=[r.index], drug=r.name,
                            evidence={"allergen": allergen}, allergen=allergen)


# --------------------------------------------------------------------------- special populations

def _population_notes(ctx: AuditContext, r: ResolvedItem, attr: str) -> PopulationNote | None:
    """The strictest note of the product or any of its ingredients."""
    assert r.drug is not None
    notes = [getattr(ctx.kb.drugs[d], attr) for d in (r.drug.id, *ctx.kb.ingredients(r.drug.id))]
    notes = [n for n in notes if n is not None and n.level in _LEVEL_SEVERITY]
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
            ctx.add(rule, drugs=[r.name], items=[r.index], severity=_LEVEL_SEVERITY[note.level],
                    evidence={"population": attr, "level": note.level, "age": age,
                              "min_age": note.min_age or (p.adult_age if attr == "children" else None),
                              "note": note.note},
                    drug=r.name, level_text=_LEVEL_TEXT[note.level])


# --------------------------------------------------------------------------- indication

def check_indications(ctx: AuditContext) -> None:
    diagnoses = ctx.case.patient.diagnoses
    if not diagnoses:
        return  # reported once as RX-FMT-004
    for r in ctx.drug_items:
        rules = [ctx.kb.indications[i] for i in sorted(ctx.index.rules("ind", r.drug.id))]  # type: ignore[union-attr]
        if not rules:
            continue
        specs = {s for rule in rules for s in rule.icd10}
        words = {w for rule in rules for w in rule.names}
        ok = any(icd_matches(d.icd10, s) for d in diagnoses for s in specs) or \
            any(w in d.name for d in diagnoses for w in words) or \
            any(ctx.matches(rule.with_drugs, other) for rule in rules if rule.with_drugs
                for other in ctx.drug_items if other is not r)
        if ok:
            continue
        rule = rules[0]
        cls = next((ctx.kb.classes[c].name for c in rule.target.classes if c in r.keys), r.drug.name)
        shown = [f"{d.name}({d.icd10})" if d.icd10 else d.name for d in diagnoses]
        ctx.add(rule, drugs=[r.name], items=[r.index], drug=r.name,
                evidence={"diagnoses": shown, "accepted_icd10": sorted(specs)}, drug_class=cls)


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
            ctx.add(kb.check("RX-SKIN-002"), drugs=[r.name], items=[r.index], drug=r.name,
                    evidence={"skin_test": result})


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
        ctx.add(kb.check("RX-REC-002"),
                evidence={"length": len(complaint), "limit": p.chief_complaint_max_chars})
    written = record.get("诊断") or ""
    if written.strip():
        for d in ctx.case.patient.diagnoses:
            if d.name and d.name not in written and not (d.icd10 and d.icd10 in written):
                ctx.add(kb.check("RX-REC-003"), evidence={"diagnosis": d.name})
    long_items = [r for r in ctx.items if (r.item.days or 0) > p.long_rx_usual_days]
    if long_items and not any(w in (record.get("处理") or "") for w in _LONG_RX_WORDS):
        ctx.add(kb.check("RX-REC-004"), items=[r.index for r in long_items],
                evidence={"days": max(r.item.days or 0 for r in long_items)})


CHECKS: tuple[Callable[[AuditContext], None], ...] = (
    check_format, check_dose, check_frequency, check_route, check_days, check_interactions,
    check_duplicates, check_contraindications, check_allergy, check_special_populations,
    check_indications, check_skin_test, check_record,
)
"""Every check, in the order findings are listed (then sorted by severity)."""

__all__ = ["CHECKS", "fmt"]
