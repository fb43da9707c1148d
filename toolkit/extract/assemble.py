"""From candidate spans to entities, prescription items and the record (pure functions, no spaCy).

The spaCy components in :mod:`toolkit.extract.pipeline` call these; tests call them directly.
Steps: refine lexicon spans (drug dosage forms, diagnosis grades), split sections, read the
prescription lines inside 处理, decide labels from context (allergy statements, 失眠 as a
symptom or a diagnosis), resolve overlaps (longest first), flag negation, build the items.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from toolkit.extract import values as V
from toolkit.extract.records import Entity, EntityLabel, ExtractedItem, Section
from toolkit.extract.sections import SectionSpan, split_sections
from toolkit.extract.values import Candidate
from toolkit.knowledge.names import DOSAGE_FORMS
from toolkit.records import LAB_NAMES, Diagnosis

_EXTRA_FORMS = ("粉雾剂", "吸入粉雾剂", "鼻喷雾剂", "混悬滴剂", "乳胶剂", "口服溶液", "滴丸", "胶丸", "散", "贴", "含片",
                "干混悬剂", "缓释胶囊", "咀嚼片", "注射液", "口服液", "颗粒", "混悬液")
_FORMS = tuple(sorted(set(DOSAGE_FORMS) | set(_EXTRA_FORMS), key=len, reverse=True))
_SALT_SUFFIX = ("钙", "钠", "钾", "镁", "酯")
_SALT_PREFIX = ("苯磺酸", "马来酸", "甲磺酸", "盐酸", "硫酸氢", "硫酸", "酒石酸", "琥珀酸", "富马酸", "枸橼酸", "门冬氨酸")
_GRADE = re.compile(r"(?:病)?(?:\s*([1-3一二三])\s*级|\s*([1-5一二三四五])\s*([abAB])?\s*期)")
_CN_SMALL = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}

_PRIORITY = {"vital": 0, "lab": 0, "drug": 1, "disease": 2, "allergen": 3, "symptom": 4, "body_part": 5,
             "strength": 6, "dose": 6, "frequency": 6, "route": 6, "duration": 6}

_NEGATION = re.compile(r"(否认|没有|无|不伴|未见|未闻及|未触及|未及|没)([^，。；,;!！?？]{0,8})$")
_NEGATION_BREAK = re.compile(r"出现|但|伴有|偶有|有时|还有")
_STOPPED_AFTER = re.compile(r"\s*(?:先|暂时|暂)?(?:停(?:用|掉|药|服)?|不用了|不吃了|减停)")  # used with match(pos)
_STOPPED_BEFORE = re.compile(r"(?:停用|停掉|停)\s*$")
_ALLERGY_AFTER = re.compile(r"^(?:类|等)?(?:药物|药)?(?:过敏|皮试(?:呈)?阳性)")
_ALLERGY_NEG = re.compile(r"(否认|没有|无)对?$")
_DISTRIBUTIVE = re.compile(r"(都|各|均|全部|统一)[^，。；]{0,3}$")
_DOSE_AFTER = re.compile(rf"\s*(?:{V.NUM}|半)\s*个?(?:片|粒|袋|包|支|吸|喷|丸|单位)")
_HISTORY_SECTIONS = {"主诉", "现病史", "既往史"}


@dataclass(frozen=True)
class Analysis:
    """Everything the record is built from."""

    sections: tuple[SectionSpan, ...]
    entities: tuple[Entity, ...]
    items: tuple[ExtractedItem, ...]


def refine_lexicon(text: str, cands: Iterable[Candidate]) -> list[Candidate]:
    """Extend drug names over salts and dosage forms (阿托伐他汀钙片, 苯磺酸左旋氨氯地平片) and
    diagnoses over grades and stages (高血压3级, 慢性肾脏病3b期 → N18.3)."""
    out: list[Candidate] = []
    for c in cands:
        if c.label == "drug":
            start, end = c.start, c.end
            for prefix in _SALT_PREFIX:
                if text[max(0, start - len(prefix)):start] == prefix:
                    start -= len(prefix)
                    break
            for _ in range(2):
                moved = False
                if end < len(text) and text[end] in _SALT_SUFFIX and not text[c.start:end].endswith(text[end]):
                    end += 1
                    moved = True
                for form in _FORMS:
                    if text.startswith(form, end):
                        end += len(form)
                        moved = True
                        break
                if not moved:
                    break
            if end < len(text) and text[end] in "ⅠⅡⅢⅣ":
                end += 1
            out.append(replace(c, start=start, end=end))
        elif c.label == "disease":
            if text[c.end - 1] == "病" and text.startswith("史", c.end) and c.length > 3:
                c = replace(c, end=c.end - 1)  # 高血压病史 → 高血压 + 病史
            m = _GRADE.match(text, c.end)
            if m and not (m.group(1) and c.normalized and not c.normalized.startswith("I1")):
                norm = c.normalized
                if m.group(2) and norm == "N18.9":
                    stage = _CN_SMALL.get(m.group(2)) or int(m.group(2))
                    norm = f"N18.{stage}"
                out.append(replace(c, end=m.end(), normalized=norm))
            else:
                out.append(c)
        else:
            out.append(c)
    return out


def _section_at(pos: int, sections: Sequence[SectionSpan]) -> str | None:
    current = None
    for s in sections:
        if s.start <= pos:
            current = s.name
        else:
            break
    return current


_BODY_EXCLUDE = re.compile(r"^科")
_DISEASE_EXCLUDE = re.compile(r"^(?:疫苗|抗原|抗体|筛查|病毒核酸)")


def _excluded(text: str, c: Candidate) -> bool:
    """Lexicon words that are something else in context: 空腹 (not 腹), 吞咽, 口腔科, 流感疫苗, 多饮水."""
    before = text[c.start - 1] if c.start else ""
    after = text[c.end:c.end + 4]
    if c.label == "body_part":
        return (text[c.start:c.end].startswith("腹") and before == "空") or (text[c.start:c.end] == "咽" and before == "吞") \
            or bool(_BODY_EXCLUDE.match(after))
    if c.label == "disease":
        return bool(_DISEASE_EXCLUDE.match(after))
    if c.label == "symptom":
        word = text[c.start:c.end]
        return (word == "多饮" and after.startswith("水")) or (word.startswith("腹") and before == "空")
    return False


def _section_start(pos: int, sections: Sequence[SectionSpan]) -> int:
    start = 0
    for s in sections:
        if s.start <= pos:
            start = s.start
    return start


def _resolve_overlaps(cands: list[Candidate]) -> list[Candidate]:
    ordered = sorted(cands, key=lambda c: (-c.length, c.start, _PRIORITY.get(c.label, 9)))
    taken: list[Candidate] = []
    occupied: list[tuple[int, int]] = []
    for c in ordered:
        if any(c.start < e and s < c.end for s, e in occupied):
            continue
        taken.append(c)
        occupied.append((c.start, c.end))
    return sorted(taken, key=lambda c: c.start)


def _negated(text: str, start: int, section_start: int = 0) -> bool:
    m = _NEGATION.search(text[max(0, section_start, start - 12):start])
    return bool(m) and not _NEGATION_BREAK.search(m.group(2))


def _sig_for_window(text: str, start: int, end: int) -> dict[str, Any]:
    explicit, timing = V.find_frequencies(text, start, end)
    timing = [t for t in timing if not (text[t.start:t.end] in ("早上", "晚上") and _DOSE_AFTER.match(text, t.end))]
    return {
        "strength": V.find_strengths(text, start, end),
        "dose": V.find_doses(text, start, end),
        "frequency": explicit or timing[:1],
        "route": V.find_routes(text, start, end),
        "duration": V.find_durations(text, start, end),
        "note": V.find_notes(text, start, end),
    }


def analyse(text: str, lexicon_cands: Iterable[Candidate], value_cands: Iterable[Candidate] = (),
            model_cands: Iterable[Candidate] = (), sections: Sequence[SectionSpan] | None = None,
            raw_text: str | None = None) -> Analysis:
    """Resolve candidates into entities, sections and prescription items.

    ``text`` is what rules match on (width-folded); ``raw_text`` (same length) is the caller's input,
    used for the entity text so that ``raw_text[start:end] == entity.text``."""
    raw = raw_text if raw_text is not None else text
    if len(raw) != len(text):
        raise ValueError("raw_text and text must have the same length")
    lex = refine_lexicon(text, lexicon_cands)
    vals = list(value_cands)
    if sections is None:
        sections = split_sections(text, [*lex, *vals])
    sections = tuple(sections)

    # context: allergy statements, and strings that are both a symptom and a diagnosis
    by_span: dict[tuple[int, int], list[Candidate]] = {}
    for c in [*lex, *model_cands]:
        by_span.setdefault((c.start, c.end), []).append(c)
    cands: list[Candidate] = []
    for (s, e), group in by_span.items():
        labels = {c.label for c in group}
        allergy = bool(_ALLERGY_AFTER.match(text[e:e + 6]))
        if allergy and labels & {"drug", "allergen"}:
            if _ALLERGY_NEG.search(text[max(0, s - 5):s]):
                continue
            cands.append(Candidate(s, e, "allergen", None, "lexicon"))
            continue
        group = [c for c in group if c.label != "allergen"]  # an allergen word outside an allergy statement
        group = [c for c in group if not _excluded(text, c)]
        if not group:
            continue
        if {"symptom", "disease"} <= labels:
            want = "disease" if _section_at(s, sections) == "诊断" else "symptom"
            group = [c for c in group if c.label == want]
        cands.append(min(group, key=lambda c: _PRIORITY.get(c.label, 9)))
    cands.extend(vals)
    cands = _resolve_overlaps(cands)

    # prescription lines: drugs inside 处理, each with the text up to the next drug
    plan_sections = [sec for sec in sections if sec.name == "处理"]
    drugs = [c for c in cands if c.label == "drug"]
    sig_cands: list[Candidate] = []
    items: list[tuple[Candidate, dict[str, Any], int]] = []
    for sec in plan_sections:
        sec_drugs = [d for d in drugs if sec.start <= d.start < sec.end]
        for k, d in enumerate(sec_drugs):
            win_end = sec_drugs[k + 1].start if k + 1 < len(sec_drugs) else sec.end
            sig = _sig_for_window(text, d.end, win_end)
            for key in ("strength", "dose", "frequency", "route", "duration"):
                sig_cands.extend(sig[key])
            stopped = bool(_STOPPED_AFTER.match(text, d.end) or _STOPPED_BEFORE.search(text[max(0, d.start - 3):d.start]))
            if not stopped:
                items.append((d, sig, win_end))
    if sig_cands:
        freq_spans = [(c.start, c.end) for c in sig_cands if c.label in ("frequency", "route")]
        cands = [c for c in cands if not (c.label in ("symptom", "body_part", "disease")
                                          and any(c.start < e and s < c.end for s, e in freq_spans))]
        occupied = [(c.start, c.end) for c in cands]
        sig_kept = [c for c in _resolve_overlaps(sig_cands)
                    if not any(c.start < e and s < c.end for s, e in occupied)]
        cands = sorted([*cands, *sig_kept], key=lambda c: c.start)
        kept_ids = {(c.start, c.end, c.label) for c in sig_kept}
    else:
        kept_ids = set()

    entities = tuple(
        Entity(label=EntityLabel(c.label), start=c.start, end=c.end, text=raw[c.start:c.end],
               normalized=c.normalized or None,
               negated=c.label in ("symptom", "disease") and _negated(text, c.start, _section_start(c.start, sections)),
               source=c.source if c.source in ("lexicon", "rule", "model") else "rule",  # type: ignore[arg-type]
               section=_section_at(c.start, sections))
        for c in cands)

    built: list[ExtractedItem] = []
    for d, sig, _win_end in items:
        def first(key: str, _sig: dict[str, Any] = sig) -> Candidate | None:
            return next((c for c in _sig[key] if (c.start, c.end, c.label) in kept_ids), None)
        strength, dose, freq, route, dur = (first(k) for k in ("strength", "dose", "frequency", "route", "duration"))
        amount, unit = (None, None)
        if dose and dose.normalized:
            a, _, u = dose.normalized.partition(" ")
            amount, unit = float(a), u or None
        last_end = max([d.end, *(c.end for c in (strength, dose, freq, route, dur) if c)])
        built.append(ExtractedItem(
            drug=raw[d.start:d.end], drug_id=d.normalized or None,
            strength=strength.normalized if strength else None, dose=amount, unit=unit,
            frequency=freq.normalized if freq else None, route=route.normalized if route else None,
            days=float(dur.normalized) if dur and dur.normalized else None,
            note="，".join(sig["note"]) or None, start=d.start, end=last_end))
    # 都开一个月 / 均口服: a duration or route said for all lines applies to every line of the plan
    for _drug, sig, _ in items:
        for key, fieldname in (("duration", "days"), ("route", "route")):
            for c in sig[key]:
                if (c.start, c.end, c.label) in kept_ids and _DISTRIBUTIVE.search(text[max(0, c.start - 6):c.start]):
                    value: Any = float(c.normalized) if fieldname == "days" and c.normalized else c.normalized
                    built = [it if getattr(it, fieldname) is not None else it.model_copy(update={fieldname: value})
                             for it in built]
    return Analysis(sections=sections, entities=entities, items=tuple(built))


def to_sections(text: str, spans: Iterable[SectionSpan]) -> tuple[Section, ...]:
    return tuple(Section(name=s.name, start=s.start, end=s.end, text=text[s.start:s.end], cue=s.cue) for s in spans)


def parse_pairs(norm: str | None) -> dict[str, float]:
    """'sbp=160;dbp=95' → {'sbp': 160.0, 'dbp': 95.0}."""
    out: dict[str, float] = {}
    for part in (norm or "").split(";"):
        key, sep, value = part.partition("=")
        if sep:
            try:
                out[key.strip()] = float(value)
            except ValueError:
                continue
    return out


def record_fields(text: str, analysis: Analysis) -> dict[str, Any]:
    """Vitals, labs, diagnoses, history, allergies and demographics for :class:`OutpatientRecord`."""
    vitals: dict[str, float] = {}
    exam_vitals: dict[str, float] = {}
    labs: dict[str, float] = {}
    diagnoses: list[Diagnosis] = []
    history: list[Diagnosis] = []
    allergies: list[str] = []
    for e in analysis.entities:
        data = parse_pairs(e.normalized)
        if e.label is EntityLabel.VITAL:
            target = exam_vitals if e.section == "体格检查" else vitals
            for k, v in data.items():
                target.setdefault(k, v)
        elif e.label is EntityLabel.LAB:
            for k, v in data.items():
                if k in LAB_NAMES:
                    labs.setdefault(k, v)
        elif e.label is EntityLabel.DISEASE and not e.negated:
            dx = Diagnosis(name=e.text, icd10=e.normalized)
            if e.section == "诊断":
                if dx not in diagnoses:
                    diagnoses.append(dx)
            elif e.section in _HISTORY_SECTIONS and dx not in history:
                history.append(dx)
        elif e.label is EntityLabel.ALLERGEN and e.text not in allergies:
            allergies.append(e.text)
    vitals.update(exam_vitals)
    demo = V.find_demographics(text)
    weight = vitals.pop("weight_kg", None)
    height = vitals.pop("height_cm", None)
    return {"vitals": vitals, "labs": labs, "diagnoses": tuple(diagnoses), "history": tuple(history),
            "allergies": tuple(allergies), "weight_kg": weight, "height_cm": height, **demo}
