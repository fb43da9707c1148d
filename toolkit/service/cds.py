"""CDS Hooks: discovery, the ``rx-preaudit`` services (``order-sign``, ``order-select``), cards and feedback.

Cards follow the CDS Hooks 2.0 card shape (``indicator`` info/warning/critical, ``overrideReasons``,
``selectionBehavior``, ``resourceId`` on delete actions), which is also what 1.x EHRs that support
feedback send and read. The service never calls the EHR's FHIR server (the toolkit is offline): what
is not prefetched is not checked, and the response says so in an ``info`` card.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolkit.errors import InputError
from toolkit.records import AuditReport, Finding, Severity

from .fhir_io import CATEGORY_DISPLAY, CODESYSTEM_CATEGORY, FhirCase, resources_to_case, validate_resource
from .store import CardRecord

CODESYSTEM_OVERRIDE = "http://clinic-toolkit.local/fhir/CodeSystem/override-reason"
OVERRIDE_REASONS: tuple[dict[str, str], ...] = (
    {"system": CODESYSTEM_OVERRIDE, "code": "benefit-outweighs-risk", "display": "已评估获益大于风险"},
    {"system": CODESYSTEM_OVERRIDE, "code": "patient-informed-consent", "display": "患者已知情同意"},
    {"system": CODESYSTEM_OVERRIDE, "code": "special-clinical-reason", "display": "有特殊临床理由"},
    {"system": CODESYSTEM_OVERRIDE, "code": "not-applicable", "display": "提示不适用于本患者"},
)
OVERRIDE_CODES = frozenset(r["code"] for r in OVERRIDE_REASONS)

INDICATOR = {Severity.BLOCK: "critical", Severity.WARN: "warning", Severity.INFO: "info"}
SEVERITY_ZH = {Severity.BLOCK: "禁止", Severity.WARN: "需干预", Severity.INFO: "提示"}
SUMMARY_MAX = 139  # the spec asks for fewer than 140 characters

LOINC_LABS = "http://loinc.org|33914-3,http://loinc.org|62238-1,http://loinc.org|98979-8," \
             "http://loinc.org|2823-3,http://loinc.org|6298-4,http://loinc.org|1742-6,http://loinc.org|29463-7"
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    "observations": f"Observation?patient={{{{context.patientId}}}}&code={LOINC_LABS}&_sort=-date&_count=50",
}
PREFETCH_ZH = {"patient": "患者基本信息(年龄/性别)", "conditions": "诊断", "allergies": "过敏史",
               "observations": "检验(eGFR/血钾/ALT/体重)"}

SERVICES: dict[str, str] = {"rx-preaudit": "order-sign", "rx-preaudit-select": "order-select"}
"""Service id → hook. Both run the same audit; order-select only returns cards about the new selections
and does not put the prescription in the pharmacist queue (it is not yet being signed)."""


def discovery() -> dict[str, Any]:
    return {"services": [
        {"hook": hook, "id": sid, "title": "处方前置审核" + ("" if hook == "order-sign" else " (选药时)"),
         "description": "Prescription pre-audit of draft MedicationRequests (剂量、相互作用、禁忌、过敏、"
                        "特殊人群、适应证、处方规范) against the offline knowledge base.",
         "prefetch": dict(PREFETCH), "usageRequirements": "prefetch patient, conditions, allergies and "
                                                          "observations; the service never queries the EHR"}
        for sid, hook in SERVICES.items()
    ]}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class HookContext(_Wire):
    userId: str | None = Field(default=None, max_length=256)
    patientId: str | None = Field(default=None, max_length=256)
    encounterId: str | None = Field(default=None, max_length=256)
    selections: list[str] | None = Field(default=None, max_length=200)
    draftOrders: dict[str, Any]


class HookRequest(_Wire):
    """A CDS Hooks call. The EHR-side fields this service does not use are accepted and ignored."""

    hook: Literal["order-sign", "order-select"]
    hookInstance: str = Field(min_length=1, max_length=128)
    context: HookContext
    prefetch: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None


class Coding(_Wire):
    system: str | None = None
    code: str = Field(min_length=1, max_length=64)
    display: str | None = Field(default=None, max_length=255)


class OverrideReason(_Wire):
    reason: Coding | None = None
    userComment: str | None = Field(default=None, max_length=2000)


class AcceptedSuggestion(_Wire):
    id: str = Field(max_length=64)


class FeedbackItem(_Wire):
    card: str = Field(min_length=1, max_length=36)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] = Field(default_factory=list, max_length=20)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: datetime


class FeedbackRequest(_Wire):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


def feedback_entries(req: FeedbackRequest) -> list[dict[str, Any]]:
    """Feedback as store rows; an override reason must be one this service offered."""
    out = []
    for n, f in enumerate(req.feedback):
        reason = f.overrideReason.reason if f.overrideReason else None
        if reason is not None and (reason.system not in {None, CODESYSTEM_OVERRIDE}
                                   or reason.code not in OVERRIDE_CODES):
            raise InputError(f"unknown override reason; allowed codes: {', '.join(sorted(OVERRIDE_CODES))} "
                             f"(system {CODESYSTEM_OVERRIDE})", field=f"feedback[{n}].overrideReason.reason")
        if f.outcome == "accepted" and f.overrideReason is not None:
            raise InputError("an accepted card has no override reason", field=f"feedback[{n}].overrideReason")
        ts = f.outcomeTimestamp
        if ts.tzinfo is None:
            raise InputError("outcomeTimestamp needs a time zone", field=f"feedback[{n}].outcomeTimestamp")
        out.append({
            "card": f.card, "outcome": f.outcome, "outcome_timestamp": ts,
            "override_system": CODESYSTEM_OVERRIDE if reason else None,
            "override_code": reason.code if reason else None,
            "override_display": next((r["display"] for r in OVERRIDE_REASONS if reason and r["code"] == reason.code),
                                     None),
            "user_comment": f.overrideReason.userComment if f.overrideReason else None,
            "accepted_suggestions": [s.id for s in f.acceptedSuggestions],
        })
    return out


def _bundle_resources(bundle: Any, path: str, rtype: str) -> list[tuple[Any, str]]:
    """Resources of ``rtype`` in a prefetched searchset Bundle (or a single resource of that type)."""
    if bundle is None:
        return []
    if bundle.get("resourceType") == rtype:
        return [(validate_resource(bundle, path), path)]
    if bundle.get("resourceType") != "Bundle":
        raise InputError(f"expected a Bundle of {rtype} or a {rtype}", field=f"{path}.resourceType")
    out = []
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise InputError("entry must be a list", field=f"{path}.entry")
    for n, e in enumerate(entries):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict):
            raise InputError("each entry needs a resource object", field=f"{path}.entry[{n}]")
        if res.get("resourceType") == rtype:  # OperationOutcome etc. in a searchset are passed over
            p = f"{path}.entry[{n}].resource"
            out.append((validate_resource(res, p), p))
    return out


def hook_to_case(req: HookRequest) -> tuple[FhirCase, list[str]]:
    """The audit case of a hook call and the prefetch keys that were missing."""
    orders = req.context.draftOrders
    if orders.get("resourceType") != "Bundle":
        raise InputError("draftOrders must be a Bundle", field="context.draftOrders.resourceType")
    mrs = [(r, p, None) for r, p in _bundle_resources(orders, "context.draftOrders", "MedicationRequest")]
    pre = req.prefetch
    missing = [k for k in PREFETCH if pre.get(k) is None]
    by_type: dict[str, list[tuple[Any, str]]] = {
        "Patient": _bundle_resources(pre.get("patient"), "prefetch.patient", "Patient"),
        "Condition": _bundle_resources(pre.get("conditions"), "prefetch.conditions", "Condition"),
        "AllergyIntolerance": _bundle_resources(pre.get("allergies"), "prefetch.allergies", "AllergyIntolerance"),
        "Observation": _bundle_resources(pre.get("observations"), "prefetch.observations", "Observation"),
    }
    pats = by_type["Patient"]
    if pats and req.context.patientId and pats[0][0].id and pats[0][0].id != req.context.patientId:
        raise InputError("the prefetched Patient is not context.patientId", field="prefetch.patient.id")
    fc = resources_to_case(mrs, by_type, bundle_id=orders.get("id") or req.hookInstance)
    return fc, missing


def _summary(f: Finding) -> str:
    text = f"[{SEVERITY_ZH[f.severity]}·{CATEGORY_DISPLAY[f.category]}] {f.message}"
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _detail(f: Finding, report: AuditReport) -> str:
    lines = [f.message, ""]
    if f.evidence:
        lines.append("**依据数据**")
        lines += [f"- {k}: {v}" for k, v in f.evidence.items()]
        lines.append("")
    if f.references:
        lines.append("**来源**: " + "；".join(f.references))
    kb = report.provenance.kb_version if report.provenance else "?"
    lines.append(f"规则 `{f.rule_id}` v{f.rule_version} · 知识库 {kb}")
    return "\n".join(lines).strip()


def _suggestions(f: Finding, fc: FhirCase) -> list[dict[str, Any]]:
    """Only a ``block`` finding tied to specific orders suggests something: removing one of them.

    Nothing is suggested for warnings (the fix is a clinical choice: another dose, a lab, a reason).
    """
    if f.severity is not Severity.BLOCK:
        return []
    out = []
    for i in f.items:
        if not 0 <= i < len(fc.item_refs):
            continue
        drug = fc.case.prescription.items[i].drug
        out.append({"label": f"删除医嘱：{drug}", "uuid": str(uuid.uuid4()), "isRecommended": False,
                    "actions": [{"type": "delete", "description": f"从待签医嘱中移除 {drug}",
                                 "resourceId": fc.item_refs[i]}]})
    return out


def build_cards(report: AuditReport, fc: FhirCase, label: str, *, missing: Iterable[str] = (),
                selections: Iterable[str] | None = None) -> tuple[list[dict[str, Any]], list[CardRecord]]:
    """Cards for the EHR and the records to keep so feedback on each card uuid can be traced."""
    chosen = set(selections) if selections is not None else None
    cards: list[dict[str, Any]] = []
    records: list[CardRecord] = []
    for f in report.findings:
        if chosen is not None:
            refs = {fc.item_refs[i] for i in f.items if 0 <= i < len(fc.item_refs)}
            if refs and not refs & chosen:
                continue
        card_id = str(uuid.uuid4())
        card: dict[str, Any] = {
            "uuid": card_id, "summary": _summary(f), "indicator": INDICATOR[f.severity],
            "detail": _detail(f, report),
            "source": {"label": label, "topic": {"system": CODESYSTEM_CATEGORY, "code": f.category.value,
                                                 "display": CATEGORY_DISPLAY[f.category]}},
        }
        if f.severity is not Severity.INFO:
            card["overrideReasons"] = [dict(r) for r in OVERRIDE_REASONS]
        if sugg := _suggestions(f, fc):
            card["suggestions"] = sugg
            card["selectionBehavior"] = "at-most-one"
        cards.append(card)
        records.append(CardRecord(uuid=card_id, rule_id=f.rule_id, rule_version=f.rule_version,
                                  severity=f.severity.value))
    missing = list(missing)
    if missing:
        cards.append({
            "uuid": str(uuid.uuid4()), "indicator": "info", "source": {"label": label},
            "summary": "未收到" + "、".join(PREFETCH_ZH[k] for k in missing) + "，相关审核未执行",
            "detail": "本服务离线运行、不访问 EHR 的 FHIR 服务器；缺少的 prefetch 数据对应的检查"
                      f"（{', '.join(missing)}）没有执行，不能视为已通过。",
        })
    return cards, records
