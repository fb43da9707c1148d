"""Checks of the FHIR invariants the toolkit's output relies on, written out explicitly (the R4 JSON
schema checks structure and required-binding codes, ``fhir.resources`` checks types; neither
evaluates the FHIRPath invariants). :func:`problems` returns every violation found, each named by the
invariant id of the specification:

* ``dom-2/3/4/5`` contained resources; ``txt-1/2`` narrative ``div``
* ``ait-1/2`` AllergyIntolerance clinicalStatus vs verificationStatus
* ``con-3/5`` Condition clinicalStatus vs verificationStatus
* ``cmp-1/2`` Composition sections
* ``bdl-1/2/3/4/5/7/8/9/10/11`` Bundle rules, plus reference resolution inside a ``document``
  Bundle (a document is self-contained: every reference resolves to an entry's ``fullUrl``)
* ``urn:uuid`` fullUrls are well-formed UUIDs
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

_UUID_URN = re.compile(r"urn:uuid:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
XHTML_DIV = re.compile(r'^<div xmlns="http://www\.w3\.org/1999/xhtml"(?:\s+[^>]*)?>.*</div>$', re.S)


def _codes(cc: Any) -> set[str]:
    if not isinstance(cc, dict):
        return set()
    return {c.get("code") for c in cc.get("coding") or () if isinstance(c, dict) and c.get("code")}


def _references(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``Reference.reference`` under ``node`` as (path, reference)."""
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}" if path else k
            if k == "reference" and isinstance(v, str):
                yield path, v
            else:
                yield from _references(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _references(v, f"{path}[{i}]")


def _narratives(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}" if path else k
            if k == "text" and isinstance(v, dict) and "div" in v:
                yield p, v
            else:
                yield from _narratives(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _narratives(v, f"{path}[{i}]")


def resource_problems(r: dict[str, Any], where: str = "") -> list[str]:
    """Invariant violations of one resource (its contained resources, narratives, statuses, sections).

    A Bundle is also checked with :func:`bundle_problems`; each message starts with ``where``.
    """
    out: list[str] = []
    at = f"{where}: " if where else ""
    rtype = r.get("resourceType")
    contained = r.get("contained") or []
    for n, c in enumerate(contained):
        if c.get("contained"):
            out.append(f"{at}dom-2: contained[{n}] contains resources")
        if c.get("meta", {}).get("versionId") or c.get("meta", {}).get("lastUpdated"):
            out.append(f"{at}dom-4: contained[{n}] has meta.versionId/lastUpdated")
        if c.get("meta", {}).get("security"):
            out.append(f"{at}dom-5: contained[{n}] has meta.security")
        cid = c.get("id")
        if not cid or not any(
            ref == f"#{cid}" for _, ref in _references({k: v for k, v in r.items() if k != "contained"})
        ):
            out.append(f"{at}dom-3: contained[{n}] is not referenced from the resource")
    if contained and r.get("text") is None:
        pass  # dom-6 is a best-practice warning only
    for p, text in _narratives(r):
        div = text.get("div", "")
        if not XHTML_DIV.match(div.strip()):
            out.append(f"{at}txt-1: {p}.div is not an XHTML div in the XHTML namespace")
        if not re.sub(r"<[^>]+>", "", div).strip():
            out.append(f"{at}txt-2: {p}.div has no non-whitespace content")
        if re.search(r"<script|\son\w+=", div, re.I):
            out.append(f"{at}txt-1: {p}.div contains active content")
    if rtype == "AllergyIntolerance":
        ver = _codes(r.get("verificationStatus"))
        if "entered-in-error" not in ver and not r.get("clinicalStatus"):
            out.append(
                f"{at}ait-1: clinicalStatus missing although verificationStatus is not entered-in-error"
            )
        if "entered-in-error" in ver and r.get("clinicalStatus"):
            out.append(f"{at}ait-2: clinicalStatus present although verificationStatus is entered-in-error")
    if rtype == "Condition":
        ver = _codes(r.get("verificationStatus"))
        cats = set().union(*[_codes(c) for c in r.get("category") or ()]) if r.get("category") else set()
        if "problem-list-item" in cats and "entered-in-error" not in ver and not r.get("clinicalStatus"):
            out.append(f"{at}con-3: problem-list-item without clinicalStatus")
        if "entered-in-error" in ver and r.get("clinicalStatus"):
            out.append(f"{at}con-5: clinicalStatus present although verificationStatus is entered-in-error")
    if rtype == "Composition":

        def walk(sections: list[dict[str, Any]], p: str) -> None:
            for i, s in enumerate(sections):
                sp = f"{p}[{i}]"
                if not (s.get("text") or s.get("entry") or s.get("section")):
                    out.append(f"{at}cmp-1: {sp} has neither text, entries nor sub-sections")
                if s.get("emptyReason") and s.get("entry"):
                    out.append(f"{at}cmp-2: {sp} has an emptyReason and entries")
                walk(s.get("section") or [], f"{sp}.section")

        walk(r.get("section") or [], "section")
    if rtype == "Bundle":
        out += bundle_problems(r, at)
    return out


def bundle_problems(b: dict[str, Any], at: str = "") -> list[str]:
    """Violations of the Bundle invariants (bdl-*, fullUrls, document references) and of its entries.

    ``at`` prefixes each message.
    """
    out: list[str] = []
    btype = b.get("type")
    entries = b.get("entry") or []
    if b.get("total") is not None and btype not in {"searchset", "history"}:
        out.append(f"{at}bdl-1: total only in a searchset or history")
    urls: dict[str, int] = {}
    for n, e in enumerate(entries):
        if e.get("search") and btype != "searchset":
            out.append(f"{at}bdl-2: entry[{n}].search only in a searchset")
        if e.get("request") and btype not in {"batch", "transaction", "history"}:
            out.append(f"{at}bdl-3: entry[{n}].request only in batch/transaction/history")
        if e.get("response") and btype not in {"batch-response", "transaction-response", "history"}:
            out.append(f"{at}bdl-4: entry[{n}].response only in batch-/transaction-response/history")
        if not (e.get("resource") or e.get("request") or e.get("response")):
            out.append(f"{at}bdl-5: entry[{n}] has no resource, request or response")
        url = e.get("fullUrl")
        if url:
            if "/_history/" in url:
                out.append(f"{at}bdl-8: entry[{n}].fullUrl is version-specific")
            if url.startswith("urn:uuid:"):
                m = _UUID_URN.fullmatch(url)
                if not m:
                    out.append(f"{at}entry[{n}].fullUrl {url!r} is not a lower-case urn:uuid")
                else:
                    uuid.UUID(m.group(1))
            elif not re.match(r"^(https?://|urn:oid:)", url):
                out.append(f"{at}entry[{n}].fullUrl {url!r} is neither absolute nor a urn")
            if url in urls:
                out.append(f"{at}bdl-7: entry[{n}].fullUrl duplicates entry[{urls[url]}]")
            urls.setdefault(url, n)
        if isinstance(e.get("resource"), dict):
            out += resource_problems(e["resource"], f"{at}entry[{n}].resource")
    if btype == "document":
        ident = b.get("identifier") or {}
        if not (ident.get("system") and ident.get("value")):
            out.append(f"{at}bdl-9: a document has an identifier with system and value")
        if not b.get("timestamp"):
            out.append(f"{at}bdl-10: a document has a timestamp")
        if not entries or (entries[0].get("resource") or {}).get("resourceType") != "Composition":
            out.append(f"{at}bdl-11: the first resource of a document is a Composition")
        known = set(urls)
        for e in entries:
            r = e.get("resource") or {}
            if r.get("id"):
                known.add(f"{r.get('resourceType')}/{r['id']}")
        for n, e in enumerate(entries):
            for p, ref in _references(e.get("resource") or {}):
                if ref.startswith("#"):
                    continue
                if ref not in known:
                    out.append(
                        f"{at}entry[{n}].resource.{p}: reference {ref!r} does not resolve in the document"
                    )
    return out


def problems(resource: dict[str, Any]) -> list[str]:
    """Every invariant violation in a resource (a Bundle is checked entry by entry)."""
    return resource_problems(resource)
