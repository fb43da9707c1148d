"""CDS Hooks 2.0 request semantics, independent of the web framework.

* A prefetch key that is **absent** was not sent (the client chose not to, or could not): the checks
  that need it did not run, and an info card says so.
* A prefetch key sent as JSON ``null`` means the client has **no data** for it (CDS Hooks 2.0: "If the
  CDS Client has no data to populate a prefetch template key, the prefetch template key MUST have a
  value of null"): no allergies recorded is a fact, not a gap, and no card is raised.
* An ``OperationOutcome`` as a prefetch value, or inside a prefetched Bundle, reports an error the
  client met fetching it: the data is unknown, and an info card quotes the diagnostics.
* ``draftOrders`` without any MedicationRequest to audit (only ServiceRequests, say) is nothing to
  audit: the answer is ``{"cards": []}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolkit.errors import InputError

from .read import SKIPPED_MR_STATUS, validate_resource

PREFETCH_TYPES = {
    "patient": "Patient",
    "conditions": "Condition",
    "allergies": "AllergyIntolerance",
    "observations": "Observation",
    # 在用药品: what the patient already takes (active statements, and active orders other than the
    # draft ones), checked for interactions and duplicate therapy with the draft orders
    "medicationStatements": "MedicationStatement",
    "medicationRequests": "MedicationRequest",
}


@dataclass
class Prefetch:
    """The prefetched resources by type, with the keys not sent, sent as null, or sent an OperationOutcome."""

    by_type: dict[str, list[tuple[Any, str, str | None]]] = field(default_factory=dict)
    not_sent: list[str] = field(default_factory=list)
    no_data: list[str] = field(default_factory=list)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (key, diagnostics)


def _outcome_text(res: Mapping[str, Any]) -> str:
    parts = []
    for issue in res.get("issue") or ():
        if isinstance(issue, Mapping):
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code")
            if text:
                parts.append(str(text)[:200])
    return "；".join(parts[:3]) or "OperationOutcome"


def bundle_resources(
    value: Any, path: str, rtype: str, outcomes: list[tuple[str, str]] | None = None, key: str = ""
) -> list[tuple[Any, str, str | None]]:
    """Resources of ``rtype`` in a prefetched searchset Bundle (or a single resource of that type); an
    OperationOutcome (as the value or an entry) is collected into ``outcomes``; other types are passed over."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise InputError(f"expected a Bundle of {rtype} or a {rtype}", field=path)
    if value.get("resourceType") == "OperationOutcome":
        if outcomes is not None:
            outcomes.append((key, _outcome_text(value)))
        return []
    if value.get("resourceType") == rtype:
        return [(validate_resource(value, path), path, None)]
    if value.get("resourceType") != "Bundle":
        raise InputError(f"expected a Bundle of {rtype} or a {rtype}", field=f"{path}.resourceType")
    out = []
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        raise InputError("entry must be a list", field=f"{path}.entry")
    for n, e in enumerate(entries):
        res = e.get("resource") if isinstance(e, Mapping) else None
        if not isinstance(res, Mapping):
            raise InputError("each entry needs a resource object", field=f"{path}.entry[{n}]")
        p = f"{path}.entry[{n}].resource"
        if res.get("resourceType") == rtype:
            url = e.get("fullUrl") if isinstance(e.get("fullUrl"), str) else None
            out.append((validate_resource(res, p), p, url))
        elif res.get("resourceType") == "OperationOutcome" and outcomes is not None:
            outcomes.append((key, _outcome_text(res)))
    return out


def read_prefetch(prefetch: Mapping[str, Any], keys: Mapping[str, str] = PREFETCH_TYPES) -> Prefetch:
    """The prefetched resources by type, and which keys were not sent / sent as null / sent an error."""
    out = Prefetch(by_type={t: [] for t in keys.values()})
    for key, rtype in keys.items():
        if key not in prefetch:
            out.not_sent.append(key)
            continue
        value = prefetch[key]
        if value is None:
            out.no_data.append(key)
            continue
        out.by_type[rtype] += bundle_resources(value, f"prefetch.{key}", rtype, out.outcomes, key)
    return out


def draft_medication_requests(draft_orders: Any) -> list[tuple[Any, str, str | None]]:
    """MedicationRequests of ``context.draftOrders`` (a Bundle) that are to be audited; other orders
    (ServiceRequest, NutritionOrder …) are passed over. An empty list means nothing to audit."""
    if not isinstance(draft_orders, Mapping) or draft_orders.get("resourceType") != "Bundle":
        raise InputError("draftOrders must be a Bundle", field="context.draftOrders.resourceType")
    mrs = bundle_resources(draft_orders, "context.draftOrders", "MedicationRequest")
    return [m for m in mrs if m[0].status not in SKIPPED_MR_STATUS]


def _keys(resource: Any, url: str | None) -> set[str]:
    out = {url} if url else set()
    if getattr(resource, "id", None):
        out.add(f"MedicationRequest/{resource.id}")
    return out


def current_medication_requests(
    prefetched: list[tuple[Any, str, str | None]], drafts: list[tuple[Any, str, str | None]]
) -> list[tuple[Any, str, str | None]]:
    """Prefetched MedicationRequests that are not among the draft orders (by ``MedicationRequest/id`` or
    fullUrl): the orders the patient is already on. Their status is read by the case reader (active only)."""
    ordered = set().union(*(_keys(r, u) for r, _p, u in drafts)) if drafts else set()
    return [t for t in prefetched if not _keys(t[0], t[2]) & ordered]
