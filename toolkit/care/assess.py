"""``assess(case) -> CarePlan``: chronic-disease control, follow-up, referral, screening and guidance.

The engine is pure: what it says comes from the rules in ``rules/care/`` and the
values of the visit. Data that is missing or out of date is named in the plan
(``missing`` / ``notes``), never filled in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from toolkit.care.facts import (
    CareFacts,
    Control,
    Disease,
    care_evidence,
    describe,
    evaluate_care,
    fmt,
    label_of,
)
from toolkit.care.knowledge import CareKnowledge, get_care_rules
from toolkit.care.plan import (
    CarePlan,
    ConditionStatus,
    FollowUp,
    Guidance,
    Referral,
    Reminder,
    ScreeningDue,
    Statement,
    TargetCheck,
)
from toolkit.care.schema import Measure, TargetRule
from toolkit.errors import InputError, ToolkitError
from toolkit.records import AuditCase

log = logging.getLogger(__name__)

_OP_TEXT = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}

# Facts that decide which population's targets apply; when unknown, the plan says so.
_POPULATION_FACTS = ("age", "ascvd_risk_factors")


def to_case(data: Any, *, case_id: str | None = None) -> AuditCase:
    """An :class:`AuditCase` from what the toolkit passes around.

    Accepted: an AuditCase; an extracted ``OutpatientRecord`` (anything with ``to_audit_case``);
    a case dict; an eval line ``{"id", "case": {...}}``; or an extraction output line
    ``{"id", "record": {OutpatientRecord fields + "record": sections}, "visit_date"?}``.
    """
    if isinstance(data, AuditCase):
        return data
    if hasattr(data, "to_audit_case"):
        return data.to_audit_case(case_id or "record")  # type: ignore[no-any-return]
    if not isinstance(data, Mapping):
        raise InputError(f"expected a case or an outpatient record, got {type(data).__name__}")
    raw = dict(data)
    ident = raw.get("id", case_id)
    if isinstance(raw.get("case"), Mapping):
        raw = {"id": ident, **dict(raw["case"])} if "id" not in raw["case"] else dict(raw["case"])
    elif isinstance(raw.get("record"), Mapping) and "text_length" in raw["record"]:
        return _record_line(raw, ident)
    try:
        return AuditCase.model_validate(raw)
    except ValidationError as exc:
        raise _input_error(exc, raw.get("id")) from exc


def _input_error(exc: ValidationError, ident: Any) -> InputError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return InputError(f"{first['msg']} ({exc.error_count()} problem(s))", row=ident, field=where or None)


def _record_line(raw: dict[str, Any], ident: Any) -> AuditCase:
    """An extraction output line: the OutpatientRecord (its 'record' key holds the section texts)."""
    from toolkit.extract.records import OutpatientRecord  # light: pydantic only, no NLP stack

    fields = {k: v for k, v in raw["record"].items() if k != "record"}
    try:
        record = OutpatientRecord.model_validate(fields)
        overrides = {k: raw[k] for k in ("visit_date", "visit_type") if raw.get(k)}
        return record.to_audit_case(str(ident or "record"), **overrides)
    except ValidationError as exc:
        raise _input_error(exc, ident) from exc


def assess(data: Any, rules: CareKnowledge | None = None, *, case_id: str | None = None) -> CarePlan:
    """The care plan of one visit (a case, an extracted record, or a dict of either; see :func:`to_case`).

    ``case_id`` names a record that has no id of its own. Raises :class:`InputError` when ``data``
    is not readable.
    """
    kb = rules or get_care_rules()
    case = to_case(data, case_id=case_id)
    facts = CareFacts.of(case)
    facts.counts = kb.count_rules()
    notes: list[str] = []
    if facts.visit is None:
        notes.append(
            "未记录就诊日期，无法核对检验结果时效和检查是否到期"
            if not case.visit_date
            else f"就诊日期“{case.visit_date}”无法识别，无法核对检验结果时效和检查是否到期"
        )
    references: list[str] = []

    def cite(refs: Iterable[str]) -> None:
        references.extend(r for r in refs if r not in references)

    for d in kb.diseases:
        if evaluate_care(d.when, facts):
            facts.diseases.add(d.disease.value)
    conditions = []
    # Output in the fixed order of the Disease enum, whatever the order of the rule files.
    order = {d.value: i for i, d in enumerate(Disease)}
    for d in sorted(kb.diseases, key=lambda x: order[x.disease.value]):
        if d.disease.value in facts.diseases:
            cite(d.references)
            status = _assess_disease(d.disease.value, d.name, kb, facts, cite)
            facts.control[d.disease.value] = status.control.value
            conditions.append(status)

    referrals = []
    for r in kb.referrals:
        if evaluate_care(r.when, facts):
            ev = care_evidence(r.when, facts)
            referrals.append(
                Referral(
                    rule_id=r.id,
                    urgency=r.urgency,
                    reason=_with(r.reason, ev),
                    evidence=ev,
                    references=r.references,
                )
            )
            facts.referrals.add(r.urgency)
            cite(r.references)

    reminders = []
    for m in kb.reminders:
        if evaluate_care(m.when, facts):
            ev = care_evidence(m.when, facts)
            reminders.append(
                Reminder(rule_id=m.id, text=_with(m.text, ev), evidence=ev, references=m.references)
            )
            cite(m.references)
    unrecognised = (
        [d.written for d in facts.rx if d.drug_id is None] if facts.diseases and _reads_drugs(kb) else []
    )
    if unrecognised:
        why = f"（{facts.rx_error}）" if facts.rx_error else "未能按名称确认"
        notes.append(
            f"处方中以下药品{why}，未计入用药相关的判断（降压药种数、他汀/抗血小板等）："
            + "、".join(unrecognised)
        )

    plan = CarePlan(
        id=case.id,
        conditions=tuple(conditions),
        follow_up=_follow_up(kb, facts, cite),
        referral=tuple(referrals),
        screening_due=tuple(_screening(kb, facts, cite, notes)),
        guidance=tuple(_guidance(kb, facts, cite)),
        reminders=tuple(reminders),
        references=(),
        notes=tuple(notes),
        kb_version=kb.version,
    )
    return plan.model_copy(update={"references": tuple(references)})


_DRUG_FACTS = ("drug_class", "antihypertensive_count")


def _reads_drugs(kb: CareKnowledge) -> bool:
    """True when some rule reads what was prescribed (then unrecognised lines are worth naming)."""
    for section in ("targets", "status", "referrals", "follow_up", "reminders", "counts"):
        for r in getattr(kb, section):
            trees = [i.when for i in r.items] if section == "counts" else [r.when] if r.when else []
            if any(f in _DRUG_FACTS for t in trees for f in t.facts()):
                return True
    return False


def _with(text: str, evidence: Mapping[str, Any]) -> str:
    said = describe(dict(evidence))
    return f"{text}（{said}）" if said else text


def _target_text(m: Measure, unit: str) -> str:
    if isinstance(m.value, tuple):
        return f"{fmt(m.value[0])}–{fmt(m.value[1])} {unit}".strip()
    return f"{_OP_TEXT[m.op]} {fmt(m.value)} {unit}".strip()


def _check(
    rule: TargetRule, m: Measure, facts: CareFacts
) -> tuple[TargetCheck, str | None, Statement | None]:
    """Compare one target with the visit; returns the check, a 'missing' note, and an evidence statement."""
    label, unit = label_of(m.fact)
    target = _target_text(m, unit)
    actual = facts.get(m.fact)
    lab = m.fact[5:] if m.fact.startswith("labs.") else None
    measured = facts.case.patient.lab_dates.get(lab) if lab else None
    base = dict(
        rule_id=rule.id, fact=m.fact, label=label, target=target, measured=measured, controls=m.controls
    )
    if actual is None:
        window = f"近{_months(m.max_age_days)}未记录" if m.max_age_days else "本次未记录"
        return TargetCheck(**base), f"{window}{label}", None
    if lab and m.max_age_days is not None:
        age = facts.lab_age_days(lab)
        if age is None:
            return (
                TargetCheck(**base, actual=actual),
                f"{label}（{fmt(actual)} {unit}）的检测日期无法与就诊日期核对，未用于判断",
                None,
            )
        if age > m.max_age_days:
            return (
                TargetCheck(**base, actual=actual),
                f"近{_months(m.max_age_days)}未记录{label}（最近一次{measured}，{fmt(actual)} {unit}）",
                None,
            )
    met = m.met(actual)
    text = f"{label} {fmt(actual)} {unit}，目标 {target}：{'达标' if met else '未达标'}"
    if measured:
        text += f"（{measured}）"
    return (
        TargetCheck(**base, actual=actual, met=met),
        None,
        Statement(rule_id=rule.id, text=text, values={m.fact: actual}),
    )


def _months(days: int | None) -> str:
    if days in (360, 365):
        return "1年"
    if days and days % 30 == 0:
        return f"{days // 30}个月"
    if days and days >= 360 and days % 365 == 0:
        return f"{days // 365}年"
    return f"{days}天"


def _every(days: int) -> str:
    return "年" if days in (360, 365) else _months(days)


def _assess_disease(
    disease: str, name: str, kb: CareKnowledge, facts: CareFacts, cite: Any
) -> ConditionStatus:
    evidence: list[Statement] = []
    checks: list[TargetCheck] = []
    missing: list[str] = []
    population = ""
    skipped: list[TargetRule] = []
    rule = None
    for t in kb.targets:
        if t.disease.value != disease:
            continue
        if t.when is None or evaluate_care(t.when, facts):
            rule = t
            break
        skipped.append(t)
    if rule is not None:
        cite(rule.references)
        population = rule.population
        evidence.append(
            Statement(
                rule_id=rule.id,
                text=f"目标人群：{rule.population}" + (f"（{rule.note}）" if rule.note else ""),
                values=care_evidence(rule.when, facts) if rule.when else {},
            )
        )
        for m in rule.measures:
            check, gap, statement = _check(rule, m, facts)
            checks.append(check)
            if gap and m.controls:
                missing.append(gap)
            if statement:
                evidence.append(statement)
        missing.extend(_population_gaps(skipped, facts, rule.population))
    evidence.extend(_count_statements([*skipped, *([rule] if rule else [])], kb, facts, cite))
    controlling = [c for c in checks if c.controls]
    if any(c.met is False for c in controlling):
        control = Control.UNCONTROLLED
    elif any(c.met for c in controlling):
        control = Control.CONTROLLED
    else:
        control = Control.UNKNOWN
    # Status rules: 'uncontrolled' (an exacerbation, a hypoglycaemia) overrides the targets;
    # 'controlled' only decides a disease the targets left unknown (e.g. a stable COPD).
    for wanted in (Control.UNCONTROLLED, Control.CONTROLLED):
        for s in kb.status:
            if s.disease.value != disease or s.control != wanted or not evaluate_care(s.when, facts):
                continue
            if wanted == Control.CONTROLLED and control != Control.UNKNOWN:
                continue
            ev = care_evidence(s.when, facts)
            evidence.append(Statement(rule_id=s.id, text=_with(s.message, ev), values=ev))
            control = wanted
            cite(s.references)
    if control == Control.UNKNOWN and not missing:
        missing.append("本次记录中没有可用于判断控制情况的数据")
    return ConditionStatus(
        disease=disease,
        name=name,
        control=control,
        population=population,  # type: ignore[arg-type]
        evidence=tuple(evidence),
        targets=tuple(checks),
        missing=tuple(missing),
    )


def _count_statements(
    rules: list[TargetRule], kb: CareKnowledge, facts: CareFacts, cite: Any
) -> list[Statement]:
    """What the counted criteria the population rules read found (e.g. 严重ASCVD事件2项：…)."""
    names: list[str] = []
    for t in rules:
        for f in t.when.facts() if t.when else ():
            if f.startswith("count.") and f[6:] not in names:
                names.append(f[6:])
    out = []
    defs = kb.count_rules()
    for name in names:
        held, _ = facts.count_items(name)
        if held and name in defs:
            cite(defs[name].references)
            out.append(
                Statement(
                    rule_id=defs[name].id,
                    text=f"{label_of('count.' + name)[0]}{len(held)}项：{'、'.join(held)}",
                    values={f"count.{name}": held},
                )
            )
    return out


def _population_gaps(skipped: list[TargetRule], facts: CareFacts, population: str) -> list[str]:
    """Name the facts that could have put the patient in a stricter or looser population but are unknown."""
    gaps: list[str] = []
    read: set[str] = set()
    for t in skipped:
        read.update(t.when.facts() if t.when else ())
    if "age" in read and facts.case.patient.age is None:
        gaps.append(f"未记录年龄，按“{population}”的目标判断")
    if "ascvd_risk_factors" in read:
        _, unknown = facts.risk_factors()
        if unknown:
            gaps.append(f"未记录{'、'.join(unknown)}，危险因素可能计数不全，按“{population}”的目标判断")
    # Missing data is named only when it could have put the patient in a skipped population:
    # no prescription (drug facts), and items of counted criteria (e.g. 超高危) that cannot be assessed.
    if read & set(_DRUG_FACTS) and not facts.case.prescription.items:
        facts.optimistic = True
        try:
            could = any(
                t.when is not None
                and any(f in _DRUG_FACTS for f in t.when.facts())
                and evaluate_care(t.when, facts)
                for t in skipped
            )
        finally:
            facts.optimistic = False
        if could:
            gaps.append(
                f"本次未提供处方，无法判断用药（如胰岛素、磺脲类）是否改变目标人群，按“{population}”的目标判断"
            )
    for name in sorted({f[6:] for f in read if f.startswith("count.")}):
        _, unknown = facts.count_items(name)
        if not unknown:
            continue
        facts.optimistic = True
        try:
            could = any(t.when is not None and evaluate_care(t.when, facts) for t in skipped)
        finally:
            facts.optimistic = False
        if could:
            gaps.append(
                f"{label_of('count.' + name)[0]}中“{'、'.join(unknown)}”无法判断（未记录相关数据），"
                f"按“{population}”的目标判断"
            )
    return gaps


def _follow_up(kb: CareKnowledge, facts: CareFacts, cite: Any) -> FollowUp:
    matched = [r for r in kb.follow_up if evaluate_care(r.when, facts)]
    if not matched:
        reason = (
            "本次资料不足以确定随访间隔，请先补齐各病缺失的检查结果"
            if facts.diseases
            else "未识别到纳入管理的慢性病（高血压、2型糖尿病、慢阻肺、血脂异常、冠心病）"
        )
        return FollowUp(reason=reason)
    shortest = min(r.interval_days for r in matched)
    chosen = [r for r in matched if r.interval_days == shortest]
    for r in chosen:
        cite(r.references)
    reasons = []
    for r in chosen:
        text = _with(r.reason, care_evidence(r.when, facts))
        if text not in reasons:
            reasons.append(text)
    return FollowUp(interval_days=shortest, reason="；".join(reasons), rule_ids=tuple(r.id for r in chosen))


def _screening(kb: CareKnowledge, facts: CareFacts, cite: Any, notes: list[str]) -> Iterator[ScreeningDue]:
    by_item: dict[str, Any] = {}
    for r in kb.screening:
        if evaluate_care(r.when, facts) and (
            r.item not in by_item or r.interval_days < by_item[r.item].interval_days
        ):
            by_item[r.item] = r
    for item, r in by_item.items():
        last = facts.case.patient.lab_dates.get(item)
        age = facts.lab_age_days(item)
        label = label_of(item)[0]
        if last is None and age == 0:  # a lab value of this visit without a date: done today
            continue
        if last is not None and age is None:
            notes.append(f"{label}日期“{last}”或就诊日期无法识别，未判断是否到期")
            continue
        if age is not None and age <= r.interval_days:
            continue
        when = f"上次{last}，距今{age}天" if last else "未见记录"
        cite(r.references)
        yield ScreeningDue(
            rule_id=r.id,
            item=item,
            label=label,
            interval_days=r.interval_days,
            last_date=last,
            days_since=age,
            reason=f"{r.reason}（{when}；建议每{_every(r.interval_days)}一次）",
            references=r.references,
        )


def _guidance(kb: CareKnowledge, facts: CareFacts, cite: Any) -> Iterator[Guidance]:
    v = facts.case.vitals
    values = {
        "bmi": facts.bmi(),
        "age": facts.case.patient.age,
        "weight_kg": facts.case.patient.weight_kg,
        "waist_cm": v.waist_cm if v else None,
        "sbp": v.sbp if v else None,
        "dbp": v.dbp if v else None,
    }
    shown = {k: ("未记录" if x is None else fmt(x)) for k, x in values.items()}
    topics: set[str] = set()
    for g in kb.guidance:
        if g.topic in topics or not evaluate_care(g.when, facts):
            continue
        topics.add(g.topic)
        cite(g.references)
        yield Guidance(rule_id=g.id, topic=g.topic, text=g.text.format_map(shown), references=g.references)


# --------------------------------------------------------------------------- rows and files


def error_plan(ident: str, message: str) -> CarePlan:
    """The output line of a row that could not be assessed: status 'error' and the reason."""
    return CarePlan(id=ident, status="error", error=message)


def assess_row(raw: Any, row: int, rules: CareKnowledge | None = None) -> CarePlan:
    """Assess one parsed input row; a row that cannot be read becomes an error plan, never an exception."""
    ident = str(raw.get("id")) if isinstance(raw, Mapping) and raw.get("id") is not None else f"row-{row}"
    try:
        return assess(raw, rules)
    except ToolkitError as exc:
        log.warning("row %d: cannot assess: %s", row, getattr(exc, "reason", exc))
        return error_plan(
            ident,
            f"row {row}: {getattr(exc, 'reason', exc)}"
            + (f" (field '{exc.field}')" if getattr(exc, "field", None) else ""),
        )


def assess_lines(lines: Iterable[str], rules: CareKnowledge | None = None) -> Iterator[CarePlan]:
    """Assess JSONL text: one case (or eval line with ``case``) per line; blank lines are skipped."""
    for row, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            yield error_plan(f"row-{row}", f"row {row}: not valid JSON: {exc.msg} (column {exc.colno})")
            continue
        yield assess_row(raw, row, rules)
