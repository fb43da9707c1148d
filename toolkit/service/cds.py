"""CDS Hooks: discovery, the ``rx-preaudit`` services (``order-sign``, ``order-select``), cards and feedback.

Cards follow the CDS Hooks 2.0 card shape (``indicator`` info/warning/critical, ``overrideReasons``,
``selectionBehavior``, ``resourceId`` on delete actions), which is also what 1.x EHRs that support
feedback send and read. The service never calls the EHR's FHIR server (the toolkit is offline): what
is not prefetched is not checked, and the response says so in an ``info`` card.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolkit.errors import InputError
from toolkit.fhir.codes import CATEGORY_DISPLAY, CODESYSTEM_CATEGORY, LisMap
from toolkit.fhir.hooks import (
    PREFETCH_TYPES,
    current_medication_requests,
    draft_medication_requests,
    read_prefetch,
)
from toolkit.fhir.read import FhirCase, resources_to_case
from toolkit.labels import SEVERITY_LABELS
from toolkit.records import AuditReport, Finding, Severity

from .store import CardRecord

MAX_COMMENT = 500
"""Longest free-text override comment stored (characters); a longer one is a 422."""
_UNSAFE_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def clean_comment(text: str | None) -> str | None:
    """A comment as stored: control characters, zero-width and bidirectional overrides removed (they can
    hide or reorder what a reviewer reads), whitespace trimmed; an empty comment is None. HTML is not
    interpreted here: every page that shows it escapes it."""
    if text is None:
        return None
    cleaned = _UNSAFE_CHARS.sub("", text).strip()
    return cleaned or None


CODESYSTEM_OVERRIDE = "http://clinic-toolkit.local/fhir/CodeSystem/override-reason"
OVERRIDE_REASONS: tuple[dict[str, str], ...] = (
    {"system": CODESYSTEM_OVERRIDE, "code": "benefit-outweighs-risk", "display": "已评估获益大于风险"},
    {"system": CODESYSTEM_OVERRIDE, "code": "patient-informed-consent", "display": "患者已知情同意"},
    {"system": CODESYSTEM_OVERRIDE, "code": "special-clinical-reason", "display": "有特殊临床理由"},
    {"system": CODESYSTEM_OVERRIDE, "code": "not-applicable", "display": "提示不适用于本患者"},
)
OVERRIDE_CODES = frozenset(r["code"] for r in OVERRIDE_REASONS)

INDICATOR = {Severity.BLOCK: "critical", Severity.WARN: "warning", Severity.INFO: "info"}
SEVERITY_ZH = SEVERITY_LABELS  # one vocabulary: toolkit/labels.py (拦截/警示/提示)
SUMMARY_MAX = 139  # the spec asks for fewer than 140 characters

LOINC_LABS = ",".join(
    f"http://loinc.org|{c}"
    for key in ("egfr", "scr", "potassium", "alt", "hba1c", "weight_kg")
    for c in __import__("toolkit.fhir.codes", fromlist=["LAB_BY_KEY"]).LAB_BY_KEY[key].loinc[:3]
)
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    "observations": f"Observation?patient={{{{context.patientId}}}}&code={LOINC_LABS}&_sort=-date&_count=50",
    # 在用药品: the drugs the patient already takes, for interactions and duplicate therapy with the draft
    # orders (the draft orders themselves, if the EHR returns them here, are left out by id/fullUrl)
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}&status=active",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&status=active",
}
PREFETCH_ZH = {
    "patient": "患者基本信息(年龄/性别)",
    "conditions": "诊断",
    "allergies": "过敏史",
    "observations": "检验(eGFR/肌酐/血钾/ALT/HbA1c/体重)",
    "medicationStatements": "在用药品(MedicationStatement)",
    "medicationRequests": "在用医嘱(MedicationRequest)",
}

SERVICES: dict[str, str] = {"rx-preaudit": "order-sign", "rx-preaudit-select": "order-select"}
"""Service id → hook. Both run the same audit; order-select only returns cards about the new selections
and does not put the prescription in the pharmacist queue (it is not yet being signed)."""


def discovery() -> dict[str, Any]:
    """The CDS Hooks discovery document (``GET /cds-services``): one entry per service with its prefetch."""
    return {
        "services": [
            {
                "hook": hook,
                "id": sid,
                "title": "处方前置审核" + ("" if hook == "order-sign" else " (选药时)"),
                "description": "Prescription pre-audit of draft MedicationRequests (剂量、相互作用、禁忌、过敏、"
                "特殊人群、适应证、处方规范) against the offline knowledge base.",
                "prefetch": dict(PREFETCH),
                "usageRequirements": "prefetch patient, conditions, allergies, observations and the "
                "patient's current medications (medicationStatements, medicationRequests: active, read as "
                "在用药品 for interactions and duplicate therapy); the service never queries the EHR",
            }
            for sid, hook in SERVICES.items()
        ]
    }


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class HookContext(BaseModel):
    """The hook's context. Fields this service does not use (CDS Hooks lets each hook and EHR add its own)
    are accepted and ignored."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
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
    prefetch: dict[str, dict[str, Any] | None] = Field(
        default_factory=dict,
        description="a key sent as null = the EHR has no data for it; a missing key = "
        "not sent (the checks that need it do not run)",
    )
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None


class Coding(_Wire):
    """A FHIR Coding as sent in CDS Hooks feedback (the override reason's code)."""

    system: str | None = None
    code: str = Field(min_length=1, max_length=64)
    display: str | None = Field(default=None, max_length=255)


class OverrideReason(_Wire):
    """Why the prescriber overrode a card: one of the card's offered reasons and an optional comment."""

    reason: Coding | None = None
    userComment: str | None = Field(default=None, max_length=MAX_COMMENT)


class AcceptedSuggestion(_Wire):
    """A suggestion the prescriber accepted, by its id."""

    id: str = Field(max_length=64)


class FeedbackItem(_Wire):
    """Feedback on one card: accepted (with suggestions) or overridden (with a reason), and when."""

    card: str = Field(min_length=1, max_length=36)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] = Field(default_factory=list, max_length=20)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: datetime


class FeedbackRequest(_Wire):
    """The body of ``POST /cds-services/{service_id}/feedback``: 1–100 feedback items."""

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


def feedback_entries(req: FeedbackRequest) -> list[dict[str, Any]]:
    """Feedback as store rows; an override reason must be one this service offered."""
    out = []
    for n, f in enumerate(req.feedback):
        reason = f.overrideReason.reason if f.overrideReason else None
        if reason is not None and (
            reason.system not in {None, CODESYSTEM_OVERRIDE} or reason.code not in OVERRIDE_CODES
        ):
            raise InputError(
                f"unknown override reason; allowed codes: {', '.join(sorted(OVERRIDE_CODES))} "
                f"(system {CODESYSTEM_OVERRIDE})",
                field=f"feedback[{n}].overrideReason.reason",
            )
        if f.outcome == "accepted" and f.overrideReason is not None:
            raise InputError("an accepted card has no override reason", field=f"feedback[{n}].overrideReason")
        ts = f.outcomeTimestamp
        if ts.tzinfo is None:
            raise InputError("outcomeTimestamp needs a time zone", field=f"feedback[{n}].outcomeTimestamp")
        out.append(
            {
                "card": f.card,
                "outcome": f.outcome,
                "outcome_timestamp": ts,
                "override_system": CODESYSTEM_OVERRIDE if reason else None,
                "override_code": reason.code if reason else None,
                "override_display": next(
                    (r["display"] for r in OVERRIDE_REASONS if reason and r["code"] == reason.code), None
                ),
                "user_comment": clean_comment(f.overrideReason.userComment) if f.overrideReason else None,
                "accepted_suggestions": [s.id for s in f.acceptedSuggestions],
            }
        )
    return out


@dataclass(frozen=True, slots=True)
class HookCase:
    """What a hook call gives to audit: the case (None when there is no MedicationRequest to audit), the
    prefetch keys not sent and the OperationOutcomes the EHR put in the prefetch."""

    fc: FhirCase | None
    missing: tuple[str, ...] = ()
    outcomes: tuple[tuple[str, str], ...] = ()


def hook_to_case(req: HookRequest, kb: Any = None, lis: LisMap | None = None) -> HookCase:
    """The audit case of a hook call (CDS Hooks 2.0 prefetch semantics: :mod:`toolkit.fhir.hooks`);
    ``lis``: the laboratory's own codes (``ServiceConfig.lis_map``, loaded once)."""
    mrs = draft_medication_requests(req.context.draftOrders)
    if not mrs:
        return HookCase(None)
    pre = read_prefetch(req.prefetch, {k: t for k, t in PREFETCH_TYPES.items() if k in PREFETCH})
    pats = pre.by_type.get("Patient", [])
    if pats and req.context.patientId and pats[0][0].id and pats[0][0].id != req.context.patientId:
        raise InputError("the prefetched Patient is not context.patientId", field="prefetch.patient.id")
    current = current_medication_requests(pre.by_type.pop("MedicationRequest", []), mrs)
    fc = resources_to_case(
        mrs,
        pre.by_type,
        bundle_id=req.context.draftOrders.get("id") or req.hookInstance,
        kb=kb,
        lis=lis,
        current_requests=current,
    )
    return HookCase(fc, tuple(pre.not_sent), tuple(pre.outcomes))


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
        out.append(
            {
                "label": f"删除医嘱：{drug}",
                "uuid": str(uuid.uuid4()),
                "isRecommended": False,
                "actions": [
                    {
                        "type": "delete",
                        "description": f"从待签医嘱中移除 {drug}",
                        "resourceId": fc.item_refs[i],
                    }
                ],
            }
        )
    return out


def build_cards(
    report: AuditReport,
    fc: FhirCase,
    label: str,
    *,
    missing: Iterable[str] = (),
    selections: Iterable[str] | None = None,
    outcomes: Iterable[tuple[str, str]] = (),
) -> tuple[list[dict[str, Any]], list[CardRecord]]:
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
            "uuid": card_id,
            "summary": _summary(f),
            "indicator": INDICATOR[f.severity],
            "detail": _detail(f, report),
            "source": {
                "label": label,
                "topic": {
                    "system": CODESYSTEM_CATEGORY,
                    "code": f.category.value,
                    "display": CATEGORY_DISPLAY[f.category],
                },
            },
        }
        if f.severity is not Severity.INFO:
            card["overrideReasons"] = [dict(r) for r in OVERRIDE_REASONS]
        if sugg := _suggestions(f, fc):
            card["suggestions"] = sugg
            card["selectionBehavior"] = "at-most-one"
        cards.append(card)
        records.append(
            CardRecord(
                uuid=card_id, rule_id=f.rule_id, rule_version=f.rule_version, severity=f.severity.value
            )
        )
    missing = list(missing)
    if missing:
        cards.append(
            {
                "uuid": str(uuid.uuid4()),
                "indicator": "info",
                "source": {"label": label},
                "summary": "未收到" + "、".join(PREFETCH_ZH[k] for k in missing) + "，相关审核未执行",
                "detail": "本服务离线运行、不访问 EHR 的 FHIR 服务器；缺少的 prefetch 数据对应的检查"
                f"（{', '.join(missing)}）没有执行，不能视为已通过。",
            }
        )
    outcomes = list(outcomes)
    if outcomes:
        keys = list(dict.fromkeys(k for k, _ in outcomes))
        cards.append(
            {
                "uuid": str(uuid.uuid4()),
                "indicator": "info",
                "source": {"label": label},
                "summary": _clip(
                    "EHR 获取" + "、".join(PREFETCH_ZH.get(k, k) for k in keys) + "时出错，相关审核未执行"
                ),
                "detail": "EHR 在 prefetch 中返回了 OperationOutcome：\n"
                + "\n".join(f"- {k}: {text}" for k, text in outcomes)
                + "\n\n这些数据对应的检查没有执行，不能视为已通过。",
            }
        )
    if fc.notes:
        cards.append(
            {
                "uuid": str(uuid.uuid4()),
                "indicator": "info",
                "source": {"label": label},
                "summary": _clip(
                    f"读取医嘱/检验时有 {len(fc.notes)} 条说明（如剂量范围按上限审核、未使用的检验项目）"
                ),
                "detail": "\n".join(f"- {n}" for n in fc.notes[:50]),
            }
        )
    return cards, records


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"
