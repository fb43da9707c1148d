"""The hand-annotated gold set: an inline markup for writing it and the JSONL it compiles to.

The gold dictations are written by hand in ``eval/data/extract_gold.src.txt`` with a small
markup, so that offsets are computed, never typed::

    @ id=htn-001 visit=初诊 age=65 sex=M
    <主诉>[头晕|symptom]三天<现病史>…<处理>给他开[氨氯地平|drug|amlodipine][五毫克|strength|5 mg]…

* ``@ key=value …`` starts a case (``id`` required; ``visit``, ``age``, ``sex``, ``split`` optional;
  ``split=test`` marks the held-out cases written after the rules were frozen, ``dev`` is the default);
  the following non-blank lines are joined without separator into the case text.
* ``<节名>`` marks where a record section starts (one of :data:`toolkit.records.RECORD_SECTIONS`).
* ``[text|label]``, ``[text|label|normalized]`` or ``[text|label|normalized|x]`` marks an
  entity; ``x`` on a drug means "mentioned in 处理 but not prescribed" (e.g. stopped).

:func:`compile_gold` turns that into one JSON object per case with the text, entities with
character offsets, and the expected record fields derived from the annotations (sections,
vitals, labs, diagnoses, allergies, prescription items). The gold set is for evaluation only
and must never be used to train a model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from toolkit.errors import InputError
from toolkit.records import RECORD_SECTIONS

ENTITY_LABELS = (
    "symptom",
    "disease",
    "drug",
    "strength",
    "dose",
    "frequency",
    "route",
    "duration",
    "vital",
    "lab",
    "allergen",
    "body_part",
)

DISTRIBUTIVE = re.compile(r"(都|各|均|全部|统一)[^，。；]{0,3}$")
"""Words before a duration or route that make it apply to every line (都开一个月, 均口服)."""

_TOKEN = re.compile(r"\[([^\[\]|]+)\|([a-z_]+)(?:\|([^\[\]|]*))?(?:\|(x))?\]|<([^<>]+)>")


def _parse_norm_pairs(norm: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in norm.split(";"):
        if not part.strip():
            continue
        key, _, value = part.partition("=")
        out[key.strip()] = float(value)
    return out


def parse_case(header: str, body: str, where: str) -> dict[str, Any]:
    """Compile one marked-up case into its gold record (raises :class:`InputError` on bad markup)."""
    meta: dict[str, str] = {}
    for part in header.lstrip("@").split():
        key, sep, value = part.partition("=")
        if not sep:
            raise InputError(f"header item {part!r} is not key=value", file=where)
        meta[key] = value
    if "id" not in meta:
        raise InputError("header has no id", file=where)
    text_parts: list[str] = []
    entities: list[dict[str, Any]] = []
    sections: list[dict[str, Any]] = []
    pos = 0
    length = 0
    for m in _TOKEN.finditer(body):
        plain = body[pos : m.start()]
        if any(c in plain for c in "[]|<>"):
            raise InputError(f"stray markup near {plain[:20]!r}", file=where, row=meta["id"])
        text_parts.append(plain)
        length += len(plain)
        if m.group(5) is not None:
            name = m.group(5)
            if name not in RECORD_SECTIONS:
                raise InputError(
                    f"unknown section <{name}>; allowed: {', '.join(RECORD_SECTIONS)}",
                    file=where,
                    row=meta["id"],
                )
            sections.append({"name": name, "start": length})
        else:
            span, label, norm, flag = m.group(1), m.group(2), m.group(3), m.group(4)
            if label not in ENTITY_LABELS:
                raise InputError(
                    f"unknown label {label!r}; allowed: {', '.join(ENTITY_LABELS)}",
                    file=where,
                    row=meta["id"],
                )
            ent: dict[str, Any] = {
                "label": label,
                "start": length,
                "end": length + len(span),
                "text": span,
                "normalized": norm or None,
            }
            if flag:
                ent["not_prescribed"] = True
            entities.append(ent)
            text_parts.append(span)
            length += len(span)
        pos = m.end()
    tail = body[pos:]
    if any(c in tail for c in "[]|<>"):
        raise InputError(f"stray markup near {tail[:20]!r}", file=where, row=meta["id"])
    text_parts.append(tail)
    text = "".join(text_parts)
    for e in entities:  # the invariant every consumer relies on
        if text[e["start"] : e["end"]] != e["text"]:
            raise InputError(f"offset mismatch for {e['text']!r}", file=where, row=meta["id"])
    return {
        "id": meta["id"],
        "split": meta.get("split", "dev"),
        "text": text,
        "entities": entities,
        "expected": _expected(meta, text, entities, sections),
    }


def _section_of(start: int, sections: list[dict[str, Any]]) -> str | None:
    current = None
    for s in sections:
        if s["start"] <= start:
            current = s["name"]
    return current


def _expected(
    meta: dict[str, str], text: str, entities: list[dict[str, Any]], sections: list[dict[str, Any]]
) -> dict[str, Any]:
    vitals: dict[str, float] = {}
    labs: dict[str, float] = {}
    diagnoses: list[dict[str, Any]] = []
    allergies: list[str] = []
    items: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for e in entities:
        label, norm = e["label"], e["normalized"]
        sec = _section_of(e["start"], sections)
        if label == "vital" and norm:
            vitals.update(_parse_norm_pairs(norm))
        elif label == "lab" and norm:
            labs.update(_parse_norm_pairs(norm))
        elif label == "disease" and sec == "诊断":
            diagnoses.append({"name": e["text"], "icd10": norm})
        elif label == "allergen":
            allergies.append(e["text"])
        if sec != "处理":
            continue
        if label == "drug":
            if e.get("not_prescribed"):
                current = None
                continue
            current = {
                "drug": e["text"],
                "drug_id": norm,
                "start": e["start"],
                "strength": None,
                "dose": None,
                "unit": None,
                "frequency": None,
                "route": None,
                "days": None,
            }
            items.append(current)
        elif current is not None and label in ("strength", "dose", "frequency", "route", "duration"):
            if label == "strength" and current["strength"] is None:
                current["strength"] = norm
            elif label == "dose" and current["dose"] is None and norm:
                amount, _, unit = norm.partition(" ")
                current["dose"], current["unit"] = float(amount), unit or None
            elif label == "frequency" and current["frequency"] is None:
                current["frequency"] = norm
            elif label == "route" and current["route"] is None:
                current["route"] = norm
                if DISTRIBUTIVE.search(text[max(0, e["start"] - 6) : e["start"]]):
                    for other in items:
                        other["route"] = other["route"] or norm
            elif label == "duration" and current["days"] is None and norm:
                current["days"] = float(norm)
                if DISTRIBUTIVE.search(text[max(0, e["start"] - 6) : e["start"]]):
                    for other in items:  # 都开一个月 / 各开五天: every line of the prescription
                        other["days"] = other["days"] if other["days"] is not None else float(norm)
    patient: dict[str, Any] = {}
    if "age" in meta:
        patient["age"] = float(meta["age"])
    if "sex" in meta:
        patient["sex"] = meta["sex"]
    return {
        "visit_type": meta.get("visit"),
        "patient": patient,
        "sections": [s["name"] for s in sections],
        "section_starts": {s["name"]: s["start"] for s in sections},
        "vitals": vitals,
        "labs": labs,
        "diagnoses": diagnoses,
        "allergies": allergies,
        "items": items,
    }


def _blocks(lines: Iterable[str]) -> Iterator[tuple[str, str, int]]:
    header: str | None = None
    body: list[str] = []
    line_no = 0
    for i, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n")
        if line.startswith("#") and header is None:
            continue
        if line.startswith("@"):
            if header is not None:
                yield header, "".join(body), line_no
            header, body, line_no = line, [], i
        elif line.strip() and header is not None and not line.startswith("#"):
            body.append(line.strip())
    if header is not None:
        yield header, "".join(body), line_no


def compile_gold(src: str | Path) -> list[dict[str, Any]]:
    """Compile the marked-up source file into gold cases; ids must be unique."""
    path = Path(src)
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for header, body, line_no in _blocks(fh):
            case = parse_case(header, body, f"{path.name}:{line_no}")
            if case["id"] in seen:
                raise InputError(f"duplicate case id {case['id']!r}", file=f"{path.name}:{line_no}")
            seen.add(case["id"])
            cases.append(case)
    return cases


def load_gold(path: str | Path) -> list[dict[str, Any]]:
    """Read the compiled gold JSONL, checking every entity's offsets against its text."""
    out: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON: {exc.msg}", file=str(path), row=i) from exc
            for e in case.get("entities", []):
                if case["text"][e["start"] : e["end"]] != e["text"]:
                    raise InputError(
                        f"entity {e['text']!r} does not match text at its offsets",
                        file=str(path),
                        row=i,
                        field="entities",
                    )
            out.append(case)
    return out


def write_gold(cases: list[dict[str, Any]], path: str | Path) -> None:
    """Write compiled gold cases as JSONL (UTF-8, one case per line)."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for case in cases:
            fh.write(json.dumps(case, ensure_ascii=False) + "\n")


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    import sys

    src_path = Path(sys.argv[1] if len(sys.argv) > 1 else "eval/data/extract_gold.src.txt")
    dst_path = src_path.with_name(src_path.name.replace(".src.txt", ".jsonl"))
    write_gold(compile_gold(src_path), dst_path)
