"""The visit: one verb from a doctor's dictation (audio or text) to the audited record.

``visit(source) -> Visit`` runs speech recognition (audio only), extraction, the prescription
pre-audit and the care plan, and returns one record of the visit: the transcript with its segments,
the structured record, the prescription items, the audit report with every finding pointing back to
the words (text offsets) and, from audio, the seconds they were said, the care plan and provenance.

While the doctor edits, :func:`revise` keeps one source of truth: text typed into a section
(过敏史, 主诉, 诊断 …) is re-read into the structured facts the audit uses (allergies, current
medications said in the history, diagnoses, age, sex, labs, vitals), the prescription table wins over
the dictation, and the case, report, care plan and exports are all of the record as edited. :func:`redictate` re-reads a changed transcript (an ASR
correction undone or re-applied) and puts the doctor's edits back on top of it.

Nothing here imports gradio; the demo (``toolkit/demo_api.py``) and ``clinic visit`` call these.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolkit.errors import InputError
from toolkit.records import (
    RECORD_SECTIONS,
    AuditCase,
    AuditReport,
    Diagnosis,
    Finding,
    Prescription,
    PrescriptionItem,
    Record,
    Vitals,
)

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.asr import TranscribeOptions, Transcript
    from toolkit.care import CarePlan
    from toolkit.extract import OutpatientRecord
    from toolkit.knowledge import Knowledge

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset(
    {".wav", ".mp3", ".m4a", ".webm", ".ogg", ".flac", ".aac", ".opus", ".mp4", ".amr"}
)
TEXT_SUFFIXES = frozenset({".txt", ".text", ".md"})
FACT_SECTIONS = ("主诉", "现病史", "既往史", "过敏史", "个人史", "家族史", "体格检查", "辅助检查", "诊断")
"""Sections whose text is re-read into the structured facts when the doctor edits it."""
_HISTORY = {"主诉", "现病史", "既往史"}
ITEM_FIELDS = ("drug", "strength", "dose", "unit", "frequency", "route", "days", "note")


class Header(Record):
    """The patient header of the 门诊病历 and 处方笺 (病历书写基本规范, 处方管理办法 第五条)."""

    name: str | None = None
    sex: Literal["M", "F"] | None = None
    age: float | None = Field(default=None, ge=0, le=130)
    department: str | None = None
    date: str | None = Field(default=None, description="visit date, ISO")
    doctor: str | None = None


class Segment(Record):
    """A stretch of speech: seconds in the audio and the characters of the visit text it became."""

    start_s: float
    end_s: float
    text: str
    start: int = Field(ge=0, description="offset in Visit.text")
    end: int = Field(ge=0)


class VisitItem(Record):
    """One prescription line of the visit, with where it was said."""

    line: int = Field(ge=1)
    drug: str
    drug_id: str | None = None
    strength: str | None = None
    dose: float | None = None
    unit: str | None = None
    frequency: str | None = None
    route: str | None = None
    days: float | None = None
    note: str | None = None
    skin_test: str | None = Field(default=None, description="皮试结果 said with the line (阴性/阳性/免试)")
    origin: Literal["dictation", "edited", "added"] = "dictation"
    defaults: tuple[str, ...] = Field(
        default=(),
        description="fields filled, not said for the line: route from the formulary when the product has only "
        "one; days from the course said once for the prescription after it (…开一个月)",
    )
    start: int | None = Field(default=None, description="offset of the words in Visit.text (None: typed)")
    end: int | None = None
    start_s: float | None = Field(default=None, description="seconds in the audio (audio input only)")
    end_s: float | None = None

    def to_prescription_item(self) -> PrescriptionItem:
        """The audit's item for this line: its prescription fields, ``line`` and ``skin_test``."""
        return PrescriptionItem(
            line=self.line, skin_test=self.skin_test, **{f: getattr(self, f) for f in ITEM_FIELDS}
        )


class Span(Record):
    """Characters of ``Visit.text`` a finding is about, with their seconds in the audio when known."""

    start: int
    end: int
    text: str
    start_s: float | None = None
    end_s: float | None = None


class VisitFinding(Record):
    """An audit finding with the words it is about: its items' spans, or the fact it rests on."""

    finding: Finding
    lines: tuple[int, ...] = Field(default=(), description="1-based prescription lines")
    spans: tuple[Span, ...] = ()


class UncertainName(Record):
    """A drug name the speech corrector changed with low confidence: shown for one-click confirmation, with
    the other formulary names the corrector found about as close (``Correction.alternatives``), else those
    that sound closest to what was heard (ranked here by syllable similarity)."""

    heard: str
    chosen: str
    score: float
    start: int = Field(description="offset of the chosen name in Visit.text")
    start_s: float | None = None
    end_s: float | None = None
    alternatives: tuple[str, ...] = ()


class VisitProvenance(Record):
    """Where a visit came from: typed text or a recording (its file), and the knowledge-base, engine and
    speech-model versions that read it."""

    source: Literal["text", "audio"]
    file: str | None = None
    kb_version: str | None = None
    engine_version: str | None = None
    asr_model: str | None = None
    extract_pipeline: tuple[str, ...] = ()
    seconds: dict[str, float] = Field(default_factory=dict, description="wall time per stage")
    edited_sections: tuple[str, ...] = ()
    edited_lines: tuple[int, ...] = ()


class Visit(BaseModel):
    """One visit: dictation → record → prescription → audit → care plan, as edited so far."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    id: str
    text: str = Field(description="the dictation the record was read from (corrected transcript or text)")
    header: Header = Field(
        default_factory=Header, description="as shown: typed values, else read from the record"
    )
    typed_header: Header = Field(
        default_factory=Header, description="what the doctor typed (wins over the record)"
    )
    transcript: Any | None = Field(default=None, description="toolkit.asr.Transcript (audio input)")
    segments: tuple[Segment, ...] = ()
    dictated: Any = Field(description="OutpatientRecord read from the dictation")
    record: Any = Field(description="OutpatientRecord as edited (facts re-read from edited sections)")
    sections: dict[str, str] = Field(default_factory=dict, description="section texts as edited")
    items: tuple[VisitItem, ...] = ()
    dictated_items: tuple[VisitItem, ...] = ()
    case: AuditCase
    report: AuditReport
    findings: tuple[VisitFinding, ...] = ()
    uncertain: tuple[UncertainName, ...] = Field(default=(), description="low-confidence drug names (audio)")
    care: Any = Field(description="toolkit.care.CarePlan")
    provenance: VisitProvenance

    @property
    def plan(self) -> CarePlan:
        """The care plan, typed (the ``care`` field is declared ``Any``)."""
        return self.care

    def prescription(self) -> Prescription:
        """The prescription that was audited (``case.prescription``), as edited."""
        return self.case.prescription

    def contract(self) -> dict[str, Any]:
        """The stable JSON shape (the `visit` object of ``clinic visit``'s JSONL line)."""
        return {
            "id": self.id,
            "header": self.header.model_dump(mode="json"),
            "text": self.text,
            "transcript": self.transcript.contract() if self.transcript is not None else None,
            "segments": [s.model_dump(mode="json") for s in self.segments],
            "record": {**self.record.contract_dict(), "record": dict(self.sections)},
            "entities": [e.contract_dict() for e in self.dictated.entities],
            "items": [it.model_dump(mode="json") for it in self.items],
            "prescription": self.case.prescription.model_dump(mode="json", exclude_none=True),
            "patient": self.case.patient.model_dump(mode="json", exclude_none=True),
            "audit": self.report.to_json_dict(),
            "findings": [
                {
                    "index": i,
                    "rule_id": f.finding.rule_id,
                    "severity": f.finding.severity.value,
                    "lines": list(f.lines),
                    "spans": [s.model_dump(mode="json") for s in f.spans],
                }
                for i, f in enumerate(self.findings)
            ],
            "uncertain": [u.model_dump(mode="json") for u in self.uncertain],
            "care": self.care.to_json_dict(),
            "provenance": self.provenance.model_dump(mode="json"),
        }

    def to_fhir(self) -> dict[str, Any]:
        """FHIR R4B Bundle of the record as edited (the same prescription as the audit's)."""
        return self.record.to_fhir(patient_id=_fhir_id(self.id), encounter_id=_fhir_id(self.id))


# --------------------------------------------------------------------------- helpers

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _fhir_id(ident: str) -> str:
    """A FHIR resource id ([A-Za-z0-9-.], ≤ 64): the visit id when it is one, else a digest of it."""
    return ident if _FHIR_ID.match(ident) else "v-" + hashlib.sha1(ident.encode("utf-8")).hexdigest()[:16]


def _kb() -> Knowledge:
    from toolkit.knowledge import get_knowledge

    return get_knowledge()


def _segments(transcript: Transcript | None, text: str) -> tuple[Segment, ...]:
    """Each segment's characters in ``text`` (the transcript's text, or an edited version of it)."""
    if transcript is None or not transcript.segments:
        return ()
    base = transcript.text
    spans: list[tuple[int, int]] = []
    pos = 0
    for seg in transcript.segments:
        at = base.find(seg.text, pos) if seg.text else -1
        if at < 0:
            at = pos
        spans.append((at, at + len(seg.text)))
        pos = at + len(seg.text)
    mapper = _offset_map(base, text)
    out = []
    for seg, (s, e) in zip(transcript.segments, spans, strict=True):
        ms, me = mapper(s), mapper(e)
        out.append(
            Segment(
                start_s=round(seg.start, 2),
                end_s=round(seg.end, 2),
                text=text[ms:me],
                start=ms,
                end=max(ms, me),
            )
        )
    return tuple(out)


def _offset_map(old: str, new: str) -> Any:
    """old offset → new offset, through the edits between the two texts (an undone correction)."""
    if old == new:
        return lambda i: i
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()

    def f(i: int) -> int:
        for _tag, i1, i2, j1, j2 in ops:
            if i1 <= i < i2 or (i == i2 == len(old)):
                return min(j2, j1 + (i - i1)) if i2 > i1 else j1
        return len(new)

    return f


def _seconds(
    segments: Sequence[Segment], start: int | None, end: int | None
) -> tuple[float | None, float | None]:
    if start is None or end is None or not segments:
        return None, None
    hit = [s for s in segments if s.start < max(end, start + 1) and start < max(s.end, s.start + 1)]
    if not hit:
        return None, None
    return min(s.start_s for s in hit), max(s.end_s for s in hit)


def _default_route(kb: Knowledge, name: str, unit: str | None = None) -> str | None:
    """The route of the product when it can have only one, what the HIS fills in for the doctor: the
    route of the form the name says (碳酸钙片, 曲马多缓释片 → 口服) when that form has one; otherwise the one
    route every form of the drug shares (a plain and a chewable tablet: 口服), among the forms dosed in the
    unit said when there are such (叶酸 一次一片: the tablet, not the injection). None when the forms
    differ (叶酸 5 mg: tablet or injection) — the route is then the doctor's to say."""
    from toolkit.audit.resolve import written_product

    drug, form = written_product(name, kb)  # the product as written, as the audit reads a line
    if drug is None:
        return None
    if form is not None and len(form.routes) == 1:
        return form.routes[0]
    forms = [f for f in drug.forms if unit and f.unit == unit] or list(drug.forms)
    common = set(forms[0].routes).intersection(*(f.routes for f in forms[1:]))
    return next(iter(common)) if len(common) == 1 else None


def _item_from_extracted(line: int, it: Any, segments: Sequence[Segment], kb: Knowledge) -> VisitItem:
    from toolkit.extract.lexicon import prescription_name

    data = {f: getattr(it, f) for f in ITEM_FIELDS}
    data["drug"] = prescription_name(it.drug)  # 甘精 said, 甘精胰岛素 on the prescription
    defaults: tuple[str, ...] = ()
    if data["route"] is None:
        route = _default_route(kb, data["drug"], data["unit"])
        if route:
            data["route"], defaults = route, ("route",)
    s, e = _seconds(segments, it.start, it.end)
    return VisitItem(
        line=line,
        drug_id=it.drug_id,
        origin="dictation",
        defaults=defaults,
        start=it.start,
        end=it.end,
        start_s=s,
        end_s=e,
        skin_test=getattr(it, "skin_test", None),
        **data,
    )


def _dictated_sections(dictated: OutpatientRecord) -> dict[str, str]:
    """The record's sections as dictated; when no 诊断 was said as such but diagnoses were read (王师傅
    高血压糖尿病来复查), the 诊断 section lists them, so the draft shows them and no 诊断 is reported missing."""
    sections = dictated.section_texts()
    if "诊断" not in sections and dictated.diagnoses:
        names = "、".join(dict.fromkeys(d.name for d in dictated.diagnoses))
        sections = {
            k: sections[k] if k != "诊断" else names for k in RECORD_SECTIONS if k in sections or k == "诊断"
        }
    return sections


# 开一个月, 带两周, 续开28天, 一个月的量: a course said as what is dispensed, for the prescription
_DISPENSED_BEFORE = re.compile(r"(?:开|带|拿|取|续开|共|再开|先开)(?:了|上)?\s*$")
_DISPENSED_AFTER = re.compile(r"\s*(?:的)?量")


def _plan_days(items: Sequence[VisitItem], dictated: OutpatientRecord, text: str) -> tuple[VisitItem, ...]:
    """A line with no days, said before a line whose course is said as what is dispensed (…二甲双胍…开
    一个月): the course is the prescription's, so the line gets those days, marked as a default for the
    doctor to confirm. The extraction itself keeps the days where they were said."""
    courses: dict[int, bool] = {}  # item index → its days were said as dispensed
    for k, it in enumerate(items):
        if it.days is None or it.start is None or it.end is None:
            continue
        courses[k] = any(
            e.label.value == "duration"
            and it.start <= e.start < it.end + 1
            and (
                _DISPENSED_BEFORE.search(text, max(0, e.start - 3), e.start)
                or _DISPENSED_AFTER.match(text, e.end)
            )
            for e in dictated.entities
        )
    out = list(items)
    for k, it in enumerate(items):
        if it.days is not None or it.frequency == "st" or it.origin != "dictation":
            continue
        nxt = next((j for j in range(k + 1, len(items)) if items[j].days is not None), None)
        if nxt is None or not courses.get(nxt):
            continue
        out[k] = it.model_copy(update={"days": items[nxt].days, "defaults": (*it.defaults, "days")})
    return tuple(out)


def _same_row(a: VisitItem | PrescriptionItem, b: VisitItem | PrescriptionItem) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in ITEM_FIELDS)


def _find_spans(
    visit_text: str,
    finding: Finding,
    items: Sequence[VisitItem],
    record: OutpatientRecord,
    segments: Sequence[Segment],
) -> tuple[tuple[int, ...], tuple[Span, ...]]:
    lines: list[int] = []
    spans: list[Span] = []
    for idx in finding.items:
        if 0 <= idx < len(items):
            it = items[idx]
            lines.append(it.line)
            if it.start is not None and it.end is not None:
                spans.append(
                    Span(
                        start=it.start,
                        end=it.end,
                        text=visit_text[it.start : it.end],
                        start_s=it.start_s,
                        end_s=it.end_s,
                    )
                )
    if finding.category.value == "allergy":  # the allergy statement the finding rests on
        for e in record.entities:
            if (
                e.label.value == "allergen"
                and e.end <= len(visit_text)
                and visit_text[e.start : e.end] == e.text
            ):
                s, t = _seconds(segments, e.start, e.end)
                spans.append(Span(start=e.start, end=e.end, text=e.text, start_s=s, end_s=t))
    current = finding.evidence.get("current_medication") if finding.evidence else None
    if current:  # the drug the patient already takes (在用药品), where the dictation said it
        from toolkit.extract.current_meds import medication_name

        names = {current} if isinstance(current, str) else set(current)
        kb = _kb()
        said = {it.start for it in items if it.start is not None}
        for e in record.entities:
            if (
                e.label.value == "drug"
                and e.start not in said
                and e.end <= len(visit_text)
                and visit_text[e.start : e.end] == e.text
                and medication_name(e, kb) in names
            ):
                s, t = _seconds(segments, e.start, e.end)
                spans.append(Span(start=e.start, end=e.end, text=e.text, start_s=s, end_s=t))
    return tuple(lines), tuple(spans)


LOW_CONFIDENCE = 0.9
"""A drug correction scored below this is shown for confirmation with alternatives."""


def _alternatives(heard: str, chosen: str, kb: Knowledge, n: int = 3) -> tuple[str, ...]:
    """Formulary generic names that sound closest to ``heard`` (same number of syllables or one more/less)."""
    from toolkit.asr.correct import lazy_pinyin, syllable_similarity

    said = lazy_pinyin(heard)
    scored: list[tuple[float, str]] = []
    for drug in kb.drugs.values():
        name = drug.name
        if name == chosen or abs(len(name) - len(said)) > 1:
            continue
        other = lazy_pinyin(name)
        pairs = list(zip(said, other, strict=False))
        sim = sum(syllable_similarity(a, b) for a, b in pairs) / max(len(said), len(other))
        if sim >= 0.6:
            scored.append((sim, name))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return tuple(name for _, name in scored[:n])


def _uncertain(transcript: Transcript | None, text: str, kb: Knowledge) -> tuple[UncertainName, ...]:
    if transcript is None:
        return ()
    out = []
    mapper = _offset_map(transcript.text, text)
    for c in transcript.corrections:
        if c.kind != "drug" or c.score >= LOW_CONFIDENCE:
            continue
        at = mapper(c.offset)
        if text[at : at + len(c.corrected)] != c.corrected:
            continue  # undone by the doctor
        alts = tuple(getattr(c, "alternatives", ()))  # the drugs the corrector found about as close
        try:
            alts = alts or _alternatives(c.original, c.corrected, kb)
        except Exception:  # pypinyin missing ([asr] extra): no alternatives, still shown
            alts = ()
        out.append(
            UncertainName(
                heard=c.original,
                chosen=c.corrected,
                score=c.score,
                start=at,
                start_s=c.start,
                end_s=c.end,
                alternatives=alts,
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------- facts


def _reread_text(name: str, text: str) -> str:
    return f"{name}：{text.strip()}"


def _reread(name: str, text: str) -> OutpatientRecord | None:
    """A section's text as the doctor typed it, read with its heading so it lands in that section."""
    from toolkit.extract import extract

    if not text.strip():
        return None
    return extract(_reread_text(name, text))


def _kept_current(dictated: OutpatientRecord, edited: set[str], text: str | None = None) -> tuple[str, ...]:
    """The dictation's current medications (在用药品) read from a section the doctor did not edit: a drug
    is kept when a mention it is read from (平时吃着华法林) stands in an untouched section — not when the
    drug is only named there (既往史 房颤，华法林抗凝) and the section it was read from was edited. ``text``
    is the text the record was read from; without it (or when the record's mentions do not read from it)
    a drug is kept when any mention of it stands in an untouched section."""
    if not dictated.current_medications:
        return ()
    if not edited:
        return tuple(dictated.current_medications)
    from toolkit.extract.current_meds import find_current_medications, medication_name
    from toolkit.extract.numbers import fold_width

    kb = _kb()
    read: dict[str, set[str | None]] = {}
    if text is not None and len(text) == dictated.text_length:
        for m in find_current_medications(
            fold_width(text), dictated.entities, dictated.sections, dictated.items, kb, every_mention=True
        ):
            read.setdefault(m.name, set()).add(m.section)
    named = {
        medication_name(e, kb)
        for e in dictated.entities
        if e.label.value == "drug" and e.section not in edited
    }
    return tuple(m for m in dictated.current_medications if (read[m] - edited if m in read else m in named))


def _said_away_in(name: str, text: str, rec: OutpatientRecord) -> set[str]:
    """Names and formulary ids of the drugs the doctor's text of a section says are stopped, switched from,
    avoided or an allergy."""
    from toolkit.extract.current_meds import said_away
    from toolkit.extract.numbers import fold_width

    return said_away(fold_width(_reread_text(name, text)), rec.entities, rec.sections, _kb())


def _facts(
    dictated: OutpatientRecord, sections: Mapping[str, str], header: Header, text: str | None = None
) -> dict[str, Any]:
    """The structured facts of the record as edited: what the dictation said in sections the doctor did
    not touch, re-read from the text of those the doctor edited, the header's age and sex over both.
    ``text`` is the text the record was read from (where each 在用药品 was read)."""
    dictated_texts = _dictated_sections(dictated)
    edited = {
        n for n in FACT_SECTIONS if n in sections and sections[n].strip() != dictated_texts.get(n, "").strip()
    }
    allergies: list[str] = []
    diagnoses: list[Diagnosis] = []
    history: list[Diagnosis] = []
    vitals: dict[str, float] = {}
    labs: dict[str, float] = {}
    for e in dictated.entities:  # facts of untouched sections, as dictated
        if e.section in edited:
            continue
        if e.label.value == "allergen" and e.text not in allergies:
            allergies.append(e.text)
    for d in dictated.diagnoses:
        if "诊断" not in edited:
            diagnoses.append(d)
    kept_history = {
        e.text for e in dictated.entities if e.label.value == "disease" and e.section not in edited
    }
    history.extend(d for d in dictated.history if d.name in kept_history)
    # 在用药品 said in sections the doctor did not touch, as dictated; those of edited sections are re-read
    current: list[str] = list(_kept_current(dictated, edited, text))
    away: set[str] = set()  # drugs the doctor's text says are stopped (华法林上个月已停用)
    if not ({"体格检查", "辅助检查"} & edited):
        vitals.update({k: v for k, v in dictated.vitals.model_dump().items() if v is not None})
        labs.update(dictated.labs)
    age, sex, pregnant = dictated.age, dictated.sex, dictated.pregnant
    weight, height = dictated.weight_kg, dictated.height_cm
    for name in sorted(edited, key=RECORD_SECTIONS.index):
        rec = _reread(name, sections[name])
        if rec is None:
            continue
        for a in rec.allergies:
            if a not in allergies:
                allergies.append(a)
        away |= _said_away_in(name, sections[name], rec)
        for m in rec.current_medications:
            if m not in current:
                current.append(m)
        target = diagnoses if name == "诊断" else history
        for d in (*rec.diagnoses, *rec.history):
            if d not in target:
                target.append(d)
        if name in ("体格检查", "辅助检查"):
            vitals.update({k: v for k, v in rec.vitals.model_dump().items() if v is not None})
            labs.update(rec.labs)
        if name in _HISTORY:
            age = rec.age if rec.age is not None else age
            sex = rec.sex or sex
            pregnant = rec.pregnant if rec.pregnant is not None else pregnant
        weight = rec.weight_kg if rec.weight_kg is not None else weight
        height = rec.height_cm if rec.height_cm is not None else height
    if away:  # the doctor's text says it is stopped: no current medication, whatever else was dictated
        names = _kb().names
        current = [
            m
            for m in current
            if m not in away and not ((r := names.resolve(m)) is not None and r.drug_id in away)
        ]
    if header.age is not None:
        age = header.age
    if header.sex is not None:
        sex = header.sex
    return {
        "allergies": tuple(allergies),
        "current_medications": tuple(current),
        "diagnoses": tuple(diagnoses),
        "history": tuple(history),
        "vitals": Vitals(**vitals),
        "labs": labs,
        "age": age,
        "sex": sex,
        "pregnant": pregnant,
        "weight_kg": weight,
        "height_cm": height,
        "edited": tuple(sorted(edited, key=RECORD_SECTIONS.index)),
    }


# --------------------------------------------------------------------------- build


def _assemble(
    vid: str,
    text: str,
    dictated: OutpatientRecord,
    transcript: Transcript | None,
    segments: tuple[Segment, ...],
    header: Header,
    sections: Mapping[str, str],
    items: Sequence[VisitItem],
    dictated_items: Sequence[VisitItem],
    source: Literal["text", "audio"],
    file: str | None,
    seconds: dict[str, float],
    visit_date: str | None,
) -> Visit:
    from toolkit.audit import audit
    from toolkit.care import assess
    from toolkit.extract.records import ExtractedItem

    kb = _kb()
    t0 = time.perf_counter()
    facts = _facts(dictated, sections, header, text)
    edited_sections = facts.pop("edited")
    record_sections = {n: v.strip() for n, v in sections.items() if n in RECORD_SECTIONS and v and v.strip()}
    ex_items = tuple(
        ExtractedItem(
            drug=it.drug,
            drug_id=it.drug_id,
            strength=it.strength,
            dose=it.dose,
            unit=it.unit,
            frequency=it.frequency,
            route=it.route,
            days=it.days,
            note=it.note,
            start=it.start or 0,
            end=it.end or 0,
        )
        for it in items
    )
    record = dictated.model_copy(update={**facts, "items": ex_items})
    overrides: dict[str, Any] = {"record": record_sections}
    if visit_date:
        overrides["visit_date"] = visit_date
    case = record.to_audit_case(vid, **overrides)
    case = case.model_copy(
        update={"prescription": Prescription(items=tuple(it.to_prescription_item() for it in items))}
    )
    case = AuditCase.model_validate(case.model_dump())
    report = audit(case, kb)
    seconds = {**seconds, "audit": round(time.perf_counter() - t0, 4)}
    t1 = time.perf_counter()
    care = assess(case)
    seconds["care"] = round(time.perf_counter() - t1, 4)
    findings = tuple(
        VisitFinding(
            finding=f,
            **dict(zip(("lines", "spans"), _find_spans(text, f, items, record, segments), strict=True)),
        )
        for f in report.findings
    )
    edited_lines = tuple(it.line for it in items if it.origin != "dictation")
    prov = VisitProvenance(
        source=source,
        file=file,
        kb_version=report.provenance.kb_version if report.provenance else kb.version,
        engine_version=report.provenance.engine_version if report.provenance else None,
        asr_model=transcript.model if transcript is not None else None,
        extract_pipeline=tuple(dictated.provenance.pipeline) if dictated.provenance else (),
        seconds=seconds,
        edited_sections=tuple(edited_sections),
        edited_lines=edited_lines,
    )
    hdr = header.model_copy(
        update={
            "age": header.age if header.age is not None else facts["age"],
            "sex": header.sex or facts["sex"],
            "date": header.date or visit_date,
        }
    )
    return Visit(
        id=vid,
        text=text,
        header=hdr,
        typed_header=header,
        transcript=transcript,
        segments=segments,
        dictated=dictated,
        record=record,
        sections=dict(sections),
        items=tuple(items),
        dictated_items=tuple(dictated_items),
        case=case,
        report=report,
        findings=findings,
        uncertain=_uncertain(transcript, text, kb),
        care=care,
        provenance=prov,
    )


def _from_text(
    text: str,
    *,
    vid: str,
    header: Header,
    transcript: Transcript | None,
    source: Literal["text", "audio"],
    file: str | None,
    seconds: dict[str, float],
) -> Visit:
    from toolkit.extract import extract

    t0 = time.perf_counter()
    dictated = extract(text)
    seconds = {**seconds, "extract": round(time.perf_counter() - t0, 4)}
    segments = _segments(transcript, text)
    kb = _kb()
    items = tuple(_item_from_extracted(i + 1, it, segments, kb) for i, it in enumerate(dictated.items))
    items = _plan_days(items, dictated, text)
    sections = _dictated_sections(dictated)
    return _assemble(
        vid,
        text,
        dictated,
        transcript,
        segments,
        header,
        sections,
        items,
        items,
        source,
        file,
        seconds,
        header.date,
    )


def from_record(
    record: OutpatientRecord,
    text: str,
    *,
    id: str = "visit-1",
    header: Header | Mapping[str, Any] | None = None,
    transcript: Transcript | None = None,
) -> Visit:
    """A visit from a record already read (by :func:`toolkit.extract.extract` or built by hand)."""
    hdr = header if isinstance(header, Header) else Header(**dict(header or {}))
    segments = _segments(transcript, text)
    kb = _kb()
    items = tuple(_item_from_extracted(i + 1, it, segments, kb) for i, it in enumerate(record.items))
    items = _plan_days(items, record, text)
    return _assemble(
        id,
        text,
        record,
        transcript,
        segments,
        hdr,
        _dictated_sections(record),
        items,
        items,
        "audio" if transcript is not None else "text",
        None,
        {},
        hdr.date,
    )


def visit(
    source: str | Path | None = None,
    *,
    text: str | None = None,
    audio: str | Path | None = None,
    id: str | None = None,
    header: Header | Mapping[str, Any] | None = None,
    asr_options: TranscribeOptions | None = None,
    transcript: Transcript | None = None,
    asr_model: Any | None = None,
) -> Visit:
    """A dictated visit → :class:`Visit` (record, prescription, audit, care plan, provenance).

    ``source`` is an audio file (wav, mp3, m4a …), a text file (.txt) or the dictation text itself;
    ``text=`` / ``audio=`` say which explicitly. ``transcript``: an already transcribed recording;
    ``asr_model``: a loaded Whisper model (default: the packaged one, loaded once per process).
    Raises :class:`InputError` for empty text or an unreadable file.
    """
    hdr = header if isinstance(header, Header) else Header(**dict(header or {}))
    seconds: dict[str, float] = {}
    file: str | None = None
    if transcript is None and audio is None and text is None:
        if source is None:
            raise InputError("nothing to read: give a dictation text or an audio/text file", field="source")
        path = Path(source) if isinstance(source, Path) or _looks_like_file(str(source)) else None
        if path is None:
            text = str(source)
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            audio = path
        else:
            file = str(path)
            text = _read_text(path)
    src: Literal["text", "audio"] = "text"
    if audio is not None or transcript is not None:
        src = "audio"
        if transcript is None:
            from toolkit.asr import transcribe

            t0 = time.perf_counter()
            transcript = transcribe(str(audio), asr_options, model=asr_model)
            seconds["asr"] = round(time.perf_counter() - t0, 4)
        if transcript.error:
            raise InputError(transcript.error, file=str(audio or transcript.file))
        file = str(audio) if audio is not None else transcript.file
        text = transcript.text if text is None else text  # text: the transcript with corrections undone
        if not text.strip():
            raise InputError(
                "no speech recognised: " + "；".join(w.message for w in transcript.warnings), file=file
            )
    assert text is not None
    if not text.strip():
        raise InputError("text is empty: nothing to read", field="text")
    vid = id or (Path(file).stem if file else "visit-1")
    return _from_text(
        text, vid=vid, header=hdr, transcript=transcript, source=src, file=file, seconds=seconds
    )


def _looks_like_file(s: str) -> bool:
    if len(s) > 4096 or "\n" in s:
        return False
    p = Path(s)
    return p.suffix.lower() in AUDIO_SUFFIXES | TEXT_SUFFIXES and (p.exists() or "/" in s or "\\" in s)


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError("not UTF-8 or GBK text", file=str(path))  # pragma: no cover


# --------------------------------------------------------------------------- edits


def _visit_items(
    rows: Sequence[PrescriptionItem | VisitItem | Mapping[str, Any]], base: Sequence[VisitItem], kb: Knowledge
) -> tuple[VisitItem, ...]:
    """The table as the doctor left it; a row equal to a dictated one keeps its words and seconds."""
    out: list[VisitItem] = []
    used: set[int] = set()
    for n, row in enumerate(rows, 1):
        data = dict(row) if isinstance(row, Mapping) else {f: getattr(row, f) for f in ITEM_FIELDS}
        data = {f: data.get(f) for f in ITEM_FIELDS}
        if not data["drug"]:
            raise InputError(f"第{n}行缺少药品名称", row=n, field="药品")
        same = next(
            (b for k, b in enumerate(base) if k not in used and _same_row(b, PrescriptionItem(**data))), None
        )
        if same is not None:
            used.add(base.index(same))
            out.append(same.model_copy(update={"line": n}))
            continue
        match = kb.names.resolve(data["drug"])
        drug_id = match.drug_id if match else None
        # the same drug (name or formulary id) as a dictated line: an edit of that line, which keeps its words
        near = next(
            (
                b
                for k, b in enumerate(base)
                if k not in used
                and (b.drug == data["drug"] or (drug_id is not None and b.drug_id == drug_id))
            ),
            None,
        )
        defaults = (
            tuple(f for f in near.defaults if data.get(f) == getattr(near, f)) if near is not None else ()
        )
        if data["route"] is None:
            route = _default_route(kb, data["drug"], data.get("unit"))
            if route:
                data["route"], defaults = route, (*defaults, "route")
        if near is not None:
            used.add(base.index(near))
            out.append(
                VisitItem(
                    line=n,
                    drug_id=drug_id,
                    origin="edited",
                    defaults=defaults,
                    start=near.start,
                    end=near.end,
                    start_s=near.start_s,
                    end_s=near.end_s,
                    **data,
                )
            )
        else:
            out.append(VisitItem(line=n, drug_id=drug_id, origin="added", defaults=defaults, **data))
    return tuple(out)


def revise(
    v: Visit,
    *,
    sections: Mapping[str, str] | None = None,
    items: Sequence[PrescriptionItem | VisitItem | Mapping[str, Any]] | None = None,
    header: Header | Mapping[str, Any] | None = None,
) -> Visit:
    """The doctor's edits, re-read and re-audited: ``sections`` (name → text; a section left out keeps its
    text), ``items`` (the whole table: it wins over the dictation), ``header`` (fields given replace)."""
    new_sections = dict(v.sections)
    if sections is not None:
        for name, value in sections.items():
            if name not in RECORD_SECTIONS:
                raise InputError(f"unknown section '{name}'", field=name)
            new_sections[name] = value or ""
    hdr = v.typed_header  # age/sex shown but read from the record are not "typed": a re-read may change them
    if header is not None:
        upd = header.model_dump(exclude_unset=True) if isinstance(header, Header) else dict(header)
        hdr = Header(**{**v.typed_header.model_dump(), **upd})
    kb = _kb()
    new_items = v.items if items is None else _visit_items(items, v.dictated_items, kb)
    return _assemble(
        v.id,
        v.text,
        v.dictated,
        v.transcript,
        v.segments,
        hdr,
        new_sections,
        new_items,
        v.dictated_items,
        v.provenance.source,
        v.provenance.file,
        {k: s for k, s in v.provenance.seconds.items() if k in ("asr", "extract")},
        hdr.date,
    )


def redictate(v: Visit, text: str) -> Visit:
    """The visit re-read from a changed transcript (an ASR correction undone or re-applied), with the
    doctor's edits put back on top: an edited section keeps the doctor's text, an edited or added table
    row stays as the doctor left it, a row the doctor did not touch takes the new reading."""
    fresh = _from_text(
        text,
        vid=v.id,
        header=v.typed_header,
        transcript=v.transcript,
        source=v.provenance.source,
        file=v.provenance.file,
        seconds={},
    )
    old_dictated = _dictated_sections(v.dictated)
    edited_sections = {n: t for n, t in v.sections.items() if t.strip() != old_dictated.get(n, "").strip()}
    sections = {**fresh.sections, **edited_sections}
    rows: list[VisitItem] = []
    touched = any(it.origin != "dictation" for it in v.items) or len(v.items) != len(v.dictated_items)
    if not touched:
        rows = list(fresh.items)
    else:
        moved = _offset_map(v.text, text)
        used: set[int] = set()

        def counterpart(old: VisitItem, k: int) -> int | None:
            """The new reading's line for a dictated line: said at the same place, else the same drug."""
            fresh_items = fresh.dictated_items
            at = moved(old.start) if old.start is not None else None
            for test in (
                lambda f: f.start == at,
                lambda f: old.drug_id is not None and f.drug_id == old.drug_id,
            ):
                hit = next((j for j, f in enumerate(fresh_items) if j not in used and test(f)), None)
                if hit is not None:
                    return hit
            same_count = len(fresh_items) == len(v.dictated_items)
            return k if same_count and k not in used else None

        for it in v.items:
            k = (
                next(
                    (
                        k
                        for k, old in enumerate(v.dictated_items)
                        if old.start == it.start and _same_row(old, it)
                    ),
                    None,
                )
                if it.origin == "dictation"
                else None
            )
            j = counterpart(v.dictated_items[k], k) if k is not None else None
            if j is not None:
                used.add(j)
                rows.append(fresh.dictated_items[j])
            elif k is None:
                rows.append(it)  # the doctor's row
        # lines the new reading adds that match no earlier dictated line (a drug name the correction restored)
        olds = {moved(o.start) for o in v.dictated_items if o.start is not None}
        rows += [
            f
            for j, f in enumerate(fresh.dictated_items)
            if j not in used
            and f.start not in olds
            and not any(r.drug_id is not None and r.drug_id == f.drug_id for r in rows)
        ]
    rows = [r.model_copy(update={"line": n}) for n, r in enumerate(rows, 1)]
    return _assemble(
        v.id,
        text,
        fresh.dictated,
        v.transcript,
        fresh.segments,
        v.typed_header,
        sections,
        rows,
        fresh.dictated_items,
        v.provenance.source,
        v.provenance.file,
        {k: s for k, s in fresh.provenance.seconds.items() if k in ("extract",)},
        v.typed_header.date,
    )


def today() -> str:
    return date.today().isoformat()


__all__ = [
    "Header",
    "Segment",
    "Span",
    "UncertainName",
    "Visit",
    "VisitFinding",
    "VisitItem",
    "from_record",
    "redictate",
    "revise",
    "visit",
]
