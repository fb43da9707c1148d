"""What the Gradio demo (``demo/``, shipped as :mod:`toolkit.demo_app`) calls to act: library verbs.

The speech and record steps (:func:`toolkit.visit.visit` and its revisions, Whisper's transcripts), one
audit (:func:`toolkit.audit.audit`), a batch over :mod:`toolkit.batch`, and the pharmacist's queue and
decisions over the service's store and its one decision workflow
(:func:`toolkit.service.decisions.record_decision`, the same as ``POST /v1/audits/{id}/decisions``).
How any of it is shown (cards, tables, charts, the print view, the 处方审核 form and its examples) lives
with the views in ``demo/`` (:mod:`toolkit.demo_app.views`, :mod:`toolkit.demo_app.forms`). Everything
here is tested without a browser; nothing here imports gradio.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.audit import audit
from toolkit.errors import InputError, ToolkitError
from toolkit.knowledge import get_knowledge
from toolkit.records import RECORD_SECTIONS, AuditCase, AuditReport, PrescriptionItem
from toolkit.visit import Header, Visit, redictate, revise, visit

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.asr import PartialTranscript, TranscribeOptions, Transcript
    from toolkit.asr.live import LiveSession
    from toolkit.batch.report import DoctorStats
    from toolkit.extract import Entity, OutpatientRecord
    from toolkit.service.store import Store

log = logging.getLogger(__name__)

ENTITY_ZH = {
    "symptom": "症状",
    "disease": "疾病",
    "drug": "药品",
    "strength": "规格",
    "dose": "剂量",
    "frequency": "频次",
    "route": "途径",
    "duration": "疗程",
    "vital": "体征",
    "lab": "检验",
    "allergen": "过敏原",
    "body_part": "部位",
}
"""Entity label → Chinese label shown in the highlighted transcript."""

ITEM_COLUMNS = ("药品", "规格", "单次剂量", "单位", "频次", "途径", "天数", "备注")
"""Columns of the editable prescription table, in order."""

_ITEM_FIELDS = ("drug", "strength", "dose", "unit", "frequency", "route", "days", "note")
_NUMERIC_FIELDS = {"dose", "days"}

DIAGNOSIS_COLUMNS = ("诊断", "ICD-10", "来源")
DECISIONS = {"pass": "审核通过", "return": "退回医师", "override": "双签放行"}
"""Pharmacist decisions (the service's values) → the words on the buttons."""


# --------------------------------------------------------------------------- start-up


def warm_up(*, asr: bool = True) -> list[str]:
    """Build the expensive objects once (knowledge base, spaCy pipeline, Whisper); returns what is ready.

    A missing extra is not fatal for the demo: the tab that needs it reports it when used.
    """
    ready = []
    get_knowledge()
    ready.append("knowledge")
    try:
        from toolkit.extract import get_extractor

        get_extractor()
        ready.append("extract")
    except ImportError as exc:
        log.warning("extraction unavailable: %s", type(exc).__name__)
    if asr:
        try:
            from toolkit.asr.model import load_model

            load_model()
            from toolkit.asr.lexicon import default_lexicon

            default_lexicon()  # built once (seconds): not under the doctor's first recording
            ready.append("asr")
        except (ImportError, ToolkitError) as exc:
            log.warning("speech recognition unavailable: %s", type(exc).__name__)
    return ready


# --------------------------------------------------------------------------- speech


def transcript_events(
    audio: str | Path, options: TranscribeOptions | None = None
) -> Iterator[PartialTranscript | Transcript]:
    """Partial transcripts while Whisper decodes, then the final :class:`Transcript` (with corrections)."""
    from toolkit.asr import transcribe_events

    yield from transcribe_events(str(audio), options)


LIVE_STATUS = "录音中，边录边识别：文末有“…”时最后一句为暂定文字，停止录音后定稿并生成病历"
"""What the voice tab says while a microphone recording is transcribed live."""


def live_start(options: TranscribeOptions | None = None, *, model: Any | None = None) -> LiveSession:
    """A new microphone recording: a :class:`toolkit.asr.live.LiveSession` decoding in the background."""
    from toolkit.asr.live import LiveSession

    return LiveSession(options, model=model)


def live_begin(
    session: LiveSession | None, options: TranscribeOptions | None = None, *, model: Any | None = None
) -> LiveSession:
    """The microphone started recording: the session for it (a new one unless its first chunk came first),
    marked with the start time so audio lost before the first chunk is reported too."""
    if session is None or session.closed:
        session = live_start(options, model=model)
    session.mark_start()
    return session


def live_feed(
    session: LiveSession | None,
    chunk: Any,
    options: TranscribeOptions | None = None,
    *,
    model: Any | None = None,
) -> tuple[LiveSession, str]:
    """One chunk of a microphone recording (a browser's WAV chunk or 16 kHz samples): returns at once with
    the session (a new one when ``session`` is absent or already finished) and the text to show now:
    committed text, then the tentative tail followed by ' …'."""
    if session is None or session.closed:
        session = live_start(options, model=model)
    if chunk is not None:
        session.feed(chunk)
    return session, live_text(session)


def live_text(session: LiveSession | None) -> str:
    """The transcript so far while recording ('' before anything is recognised)."""
    if session is None:
        return ""
    text = session.text()
    return text + " …" if text and not session.partial().final else text


def live_finish(
    session: LiveSession | None, out_dir: str | Path | None = None
) -> tuple[Transcript, Path | None]:
    """The recording has stopped: the whole :class:`Transcript` (only the uncommitted tail is decoded now)
    and, with ``out_dir``, the recording as a 16 kHz WAV there (to play back or transcribe again).

    Raises :class:`InputError` when no audio arrived."""
    if session is None or session.chunks == 0:
        raise InputError("没有收到录音：请检查麦克风后重新录音")
    transcript = session.finish()
    wav = None
    if out_dir is not None:
        samples = session.recording()
        if samples.size:
            import wave

            import numpy as np

            from toolkit.asr.audio import SAMPLE_RATE

            wav = Path(out_dir) / "recording.wav"
            with wave.open(str(wav), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(SAMPLE_RATE)
                w.writeframes((np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    return transcript, wav


CORRECTION_KINDS = {
    "drug": "药名同音",
    "disease": "疾病名",
    "symptom": "症状",
    "exam": "检查",
    "record": "病历用语",
    "usage": "用法",
    "form": "剂型",
    "unit": "单位",
    "segment": "整句重读",
    "number": "数字",
}
"""Correction kind → what sort of correction the doctor is looking at."""

_NUMBER_CHARS = set("零〇一二三四五六七八九十百千万两点0123456789.")


def correction_kind(original: str, corrected: str, kind: str) -> str:
    """The label of a correction: a change that only touches numerals (舞→五, 舞毫克→五毫克) is 数字,
    whatever lexicon kind matched it; otherwise the kind's label."""
    changed = [c for o, c in zip(original, corrected, strict=False) if o != c]
    if len(original) == len(corrected) and changed and all(c in _NUMBER_CHARS for c in changed):
        return CORRECTION_KINDS["number"]
    return CORRECTION_KINDS.get(kind, "术语")


def correction_choices(transcript: Transcript) -> list[tuple[str, int]]:
    """(label, index) per ASR correction, e.g. ``('二甲双呱 → 二甲双胍（药名同音，3.2 秒）', 0)``; the time is
    left out when the clip is one segment (every correction would read 0.0 秒)."""
    timed = len(transcript.segments) > 1
    out = []
    for i, c in enumerate(transcript.corrections):
        what = correction_kind(c.original, c.corrected, c.kind)
        when = f"，{c.start:.1f} 秒" if timed else ""
        out.append((f"{c.original} → {c.corrected}（{what}{when}）", i))
    return out


def apply_corrections(transcript: Transcript, kept: Iterable[int]) -> str:
    """The transcript text with every correction *not* in ``kept`` undone (original words restored).

    Offsets point at the corrected term in ``transcript.text``; undoing runs from the end so
    earlier offsets stay valid. A correction whose text is no longer at its offset is left alone.
    """
    keep = set(kept)
    text = transcript.text
    for i in sorted(
        range(len(transcript.corrections)), key=lambda n: transcript.corrections[n].offset, reverse=True
    ):
        if i in keep:
            continue
        c = transcript.corrections[i]
        end = c.offset + len(c.corrected)
        if text[c.offset : end] != c.corrected:
            log.warning("correction %d does not match the transcript at offset %d; not undone", i, c.offset)
            continue
        text = text[: c.offset] + c.original + text[end:]
    return text


def warnings_markdown(transcript: Transcript) -> str:
    """The ASR warnings as a short Markdown list (empty string when there are none)."""
    return "\n".join(
        f"- ⚠️ {w.message}"
        + (f"（{w.start:.1f}–{w.end:.1f} 秒）" if w.start is not None and w.end is not None else "")
        for w in transcript.warnings
    )


# --------------------------------------------------------------------------- record

Draft = Visit
"""The drafted visit the voice tab shows and edits: :class:`toolkit.visit.Visit` (one source of truth)."""


def draft_record(
    text: str,
    case_id: str = "门诊-1",
    transcript: Transcript | None = None,
    header: Header | Mapping[str, Any] | None = None,
) -> Visit:
    """The visit read from a dictation (``transcript``: the recording it came from, for the seconds)."""
    return visit(text=text, transcript=transcript, id=case_id, header=header)


def redraft(
    draft: Visit,
    sections: Mapping[str, str],
    item_rows: Sequence[Sequence[Any]],
    header: Header | Mapping[str, Any] | None = None,
) -> Visit:
    """The doctor's edits re-read and re-audited (:func:`toolkit.visit.revise`): typed section text becomes
    facts (过敏史 → allergies, 诊断 → diagnoses, 主诉 → age/sex), the table is the prescription."""
    return revise(
        draft,
        sections={k: v for k, v in sections.items() if k in RECORD_SECTIONS},
        items=items_from_rows(item_rows),
        header=header,
    )


def toggle_corrections(
    draft: Visit,
    transcript: Transcript,
    kept: Iterable[int],
    sections: Mapping[str, str] | None = None,
    item_rows: Sequence[Sequence[Any]] | None = None,
) -> Visit:
    """An ASR correction ticked or unticked: the dictation re-read with the doctor's edits (the boxes and
    the table as they are now) put back on top of it, never silently dropped."""
    current = draft
    if sections is not None or item_rows is not None:
        current = revise(
            draft,
            sections=None
            if sections is None
            else {k: v for k, v in sections.items() if k in RECORD_SECTIONS},
            items=None if item_rows is None else items_from_rows(item_rows),
        )
    return redictate(current, apply_corrections(transcript, kept))


KEEP_HEARD = "保留原文"
"""The last choice of every drug name to confirm: the text as heard, no drug name put in."""


@dataclass(frozen=True)
class DrugConfirmation:
    """One drug name for the doctor to confirm (药名待确认): a drug correction the corrector was unsure of
    (scored below :data:`toolkit.visit.LOW_CONFIDENCE`, or other drugs about as close), or a place it left
    as heard because two drugs fitted equally. ``key`` is ``c<n>`` (``Transcript.corrections[n]``) or
    ``u<n>`` (``Transcript.uncertain[n]``); ``choices`` are (label, value) pairs: the current name first,
    then the alternatives, then 保留原文 (value: the text as heard); ``value`` is what the text says now."""

    key: str
    label: str
    choices: tuple[tuple[str, str], ...]
    value: str


def drug_confirmations(transcript: Transcript | None, kept: Iterable[int] = ()) -> list[DrugConfirmation]:
    """The 药名待确认 list of the voice tab, in the order the names were said (``kept``: the ticked
    corrections; an unticked one currently reads as heard)."""
    if transcript is None:
        return []
    from toolkit.visit import LOW_CONFIDENCE

    keep = set(kept)
    timed = len(transcript.segments) > 1
    found: list[tuple[int, DrugConfirmation]] = []
    for i, c in enumerate(transcript.corrections):
        if c.kind != "drug" or not (c.alternatives or c.score < LOW_CONFIDENCE):
            continue
        names = list(dict.fromkeys([c.corrected, *c.alternatives]))
        when = f"，{c.start:.1f} 秒" if timed else ""
        how = "已确认" if "；医师确认" in c.reason else "识别为"  # see confirm_drug
        found.append(
            (
                c.offset,
                DrugConfirmation(
                    key=f"c{i}",
                    label=f"听到“{c.original}”（{how}“{c.corrected}”{when}）",
                    choices=(*((n, n) for n in names), (f"{KEEP_HEARD}“{c.original}”", c.original)),
                    value=c.corrected if i in keep else c.original,
                ),
            )
        )
    for j, u in enumerate(transcript.uncertain):
        when = f"，{u.start:.1f} 秒" if timed else ""
        found.append(
            (
                u.offset,
                DrugConfirmation(
                    key=f"u{j}",
                    label=f"听到“{u.original}”（几种药名同样接近，未更正{when}）",
                    choices=(
                        *((n, n) for n in dict.fromkeys(u.alternatives) if n != u.original),
                        (f"{KEEP_HEARD}“{u.original}”", u.original),
                    ),
                    value=u.original,
                ),
            )
        )
    return [d for _, d in sorted(found, key=lambda x: x[0])]


def _segment_replace(transcript: Transcript, offset: int, old: str, new: str) -> Transcript:
    """``transcript`` with ``old`` at ``offset`` of its text replaced by ``new`` (in the segment too), and
    the offsets of the corrections and uncertain names after it moved by the change in length."""
    text = transcript.text
    if text[offset : offset + len(old)] != old:
        raise InputError(f"转写文本已变化，找不到“{old}”，请重新识别")
    from toolkit.asr.records import SENTENCE_END

    delta = len(new) - len(old)
    segments = list(transcript.segments)
    at = 0
    for k, seg in enumerate(segments):
        if k > 0 and segments[k - 1].text and segments[k - 1].text[-1] not in SENTENCE_END:
            at += 1  # the '，' the segments were joined with (toolkit.asr.transcribe.join_segments)
        if at <= offset and offset + len(old) <= at + len(seg.text):
            i = offset - at
            segments[k] = seg.model_copy(update={"text": seg.text[:i] + new + seg.text[i + len(old) :]})
            break
        at += len(seg.text)

    def moved(x: Any) -> Any:
        return x.model_copy(update={"offset": x.offset + delta}) if x.offset > offset else x

    return transcript.model_copy(
        update={
            "text": text[:offset] + new + text[offset + len(old) :],
            "segments": tuple(segments),
            "corrections": tuple(moved(c) for c in transcript.corrections),
            "uncertain": tuple(moved(u) for u in transcript.uncertain),
        }
    )


def confirm_drug(
    draft: Visit | None,
    transcript: Transcript,
    kept: Iterable[int],
    key: str,
    choice: str,
    sections: Mapping[str, str] | None = None,
    item_rows: Sequence[Sequence[Any]] | None = None,
) -> tuple[Transcript, list[int], Visit | None]:
    """One click in 药名待确认 (``key`` from :func:`drug_confirmations`, ``choice`` one of its values).

    The chosen name replaces the one in the transcript at its offset (kept as a correction of what was
    heard, marked as the doctor's choice, the other names as its alternatives); 保留原文 unticks the
    correction. Returns the new transcript, the ticked corrections and, when a record was drafted, the
    visit re-read like :func:`toggle_corrections`: the doctor's edits (boxes and table as they are now)
    are put back on top, never dropped."""
    keep = sorted(set(kept))
    if not key or key[0] not in "cu" or not key[1:].isdigit():
        raise InputError(f"unknown drug name to confirm: {key!r}")
    n = int(key[1:])
    if key[0] == "c":
        if n >= len(transcript.corrections):
            raise InputError(f"unknown drug name to confirm: {key!r}")
        c = transcript.corrections[n]
        if choice not in (c.original, c.corrected, *c.alternatives):
            raise InputError(f"“{choice}”不在可选药名中")
        if choice == c.original:
            keep = [i for i in keep if i != n]
        else:
            others = tuple(x for x in dict.fromkeys([c.corrected, *c.alternatives]) if x != choice)
            note = (
                f"；医师确认（原为{c.corrected}，{c.score:.2f}）" if choice != c.corrected else "；医师确认"
            )
            transcript = _segment_replace(transcript, c.offset, c.corrected, choice)
            fixed = transcript.corrections[n].model_copy(
                update={
                    "corrected": choice,
                    "term_id": c.term_id if choice == c.corrected else None,
                    "alternatives": others,
                    "score": 1.0,
                    "reason": c.reason if c.reason.endswith(note) else c.reason + note,
                }
            )
            transcript = transcript.model_copy(
                update={
                    "corrections": tuple(fixed if i == n else x for i, x in enumerate(transcript.corrections))
                }
            )
            keep = sorted({*keep, n})
    else:
        if n >= len(transcript.uncertain):
            raise InputError(f"unknown drug name to confirm: {key!r}")
        u = transcript.uncertain[n]
        if choice not in (u.original, *u.alternatives):
            raise InputError(f"“{choice}”不在可选药名中")
        if choice != u.original:
            from toolkit.asr.records import Correction

            transcript = _segment_replace(transcript, u.offset, u.original, choice)
            u = transcript.uncertain[n]
            added = Correction(
                original=u.original,
                corrected=choice,
                start=u.start,
                end=u.end,
                offset=u.offset,
                kind="drug",
                reason=f"{u.reason}；医师确认",
                score=1.0,
                alternatives=tuple(x for x in u.alternatives if x != choice),
            )
            transcript = transcript.model_copy(
                update={
                    "corrections": (
                        *transcript.corrections,
                        added,
                    ),  # appended: the ticked indices stay valid
                    "uncertain": tuple(x for i, x in enumerate(transcript.uncertain) if i != n),
                }
            )
            keep = sorted({*keep, len(transcript.corrections) - 1})
    if draft is None:
        return transcript, keep, None
    current = draft
    if sections is not None or item_rows is not None:
        current = revise(
            draft,
            sections=None
            if sections is None
            else {k: v for k, v in sections.items() if k in RECORD_SECTIONS},
            items=None if item_rows is None else items_from_rows(item_rows),
        )
    if current.transcript is not None:
        current = current.model_copy(update={"transcript": transcript})
    return transcript, keep, redictate(current, apply_corrections(transcript, keep))


def header_from_form(
    name: str = "",
    sex: str = "",
    age: Any = None,
    department: str = "",
    visit_date: str = "",
    doctor: str = "",
) -> Header:
    """The header fields as typed (empty means not given)."""
    return Header(
        name=(name or "").strip() or None,
        sex=(sex or None),
        age=parse_number(age, "年龄"),  # type: ignore[arg-type]
        department=(department or "").strip() or None,
        date=(visit_date or "").strip() or None,
        doctor=(doctor or "").strip() or None,
    )


def today() -> str:
    """Today's date (ISO) for the header's 日期 box."""
    from datetime import date

    return date.today().isoformat()


def facts_markdown(draft: Visit) -> str:
    """The structured facts the audit used, as read from the record as edited (shown under the boxes)."""
    p = draft.case.patient
    sex = {"M": "男", "F": "女"}.get(p.sex or "", "未知")
    age = f"{p.age:g} 岁" if p.age is not None else "未知"
    allergies = "、".join(p.allergies) or "无记录"
    dx = "、".join(d.name for d in p.diagnoses) or "无"
    edited = draft.provenance.edited_sections
    tail = f"（已按修改重读：{'、'.join(edited)}）" if edited else ""
    lines = [f"**审核所用信息**：性别 {sex}；年龄 {age}；过敏 {_md(allergies)}；诊断/病史 {_md(dx)}{tail}"]
    for u in draft.uncertain:  # low-confidence drug names from speech: the doctor confirms or picks another
        alts = "、".join(u.alternatives) or "无"
        when = f"（{u.start_s:.1f} 秒）" if u.start_s is not None else ""
        lines.append(
            f"- ⚠️ 请确认药名：听到“{_md(u.heard)}”，识别为“{_md(u.chosen)}”{when}；相近药名：{_md(alts)}"
            "（如不对，请在“药名待确认”中选择，或取消该更正、在处方表中修改）"
        )
    return "\n".join(lines)


def _md(text: str) -> str:
    return html.escape(text).replace("*", "\\*").replace("_", "\\_")


def section_values(draft: Draft) -> dict[str, str]:
    """Text for every section box (RECORD_SECTIONS order); 健康指导/随访 come from the care plan when
    the dictation did not say them."""
    values = {name: draft.case.record.get(name, "") for name in RECORD_SECTIONS}
    for name, text in draft.plan.to_record_fields().items():
        if not values.get(name):
            values[name] = text
    return values


def highlight(text: str, entities: Sequence[Entity]) -> list[tuple[str, str | None]]:
    """(fragment, Chinese label or None) pieces covering ``text``, for a highlighted-text widget.

    Overlapping entities keep the first (by start, then the longest); negated mentions are marked.
    """
    out: list[tuple[str, str | None]] = []
    pos = 0
    for e in sorted(entities, key=lambda e: (e.start, -(e.end - e.start))):
        if e.start < pos or e.end > len(text):
            continue
        if e.start > pos:
            out.append((text[pos : e.start], None))
        label = ENTITY_ZH.get(e.label.value, e.label.value)
        out.append((text[e.start : e.end], f"{label}(否定)" if e.negated else label))
        pos = e.end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def diagnosis_rows(record: OutpatientRecord) -> list[list[str]]:
    """One row per diagnosis of the visit and per condition mentioned elsewhere, with its ICD-10 code."""
    rows = [[d.name, d.icd10 or "（未编码）", "诊断"] for d in record.diagnoses]
    rows += [[d.name, d.icd10 or "（未编码）", "病史"] for d in record.history]
    return rows


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def item_rows(items: Iterable[PrescriptionItem]) -> list[list[Any]]:
    """Prescription items as rows of :data:`ITEM_COLUMNS` (empty cells for what was not said)."""
    return [[_cell(getattr(it, f)) for f in _ITEM_FIELDS] for it in items]


def _number(value: Any, row: int, column: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InputError(f"第{row}行「{column}」应为数字", row=row, field=column)
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"第{row}行「{column}」应为数字，实际为 '{value}'", row=row, field=column) from exc
    if number != number:  # NaN from an empty pandas cell
        return None
    return number


def parse_number(value: Any, label: str) -> float | None:
    """A form field as a number; empty means *not known* (never 0: an eGFR of 0 is a finding)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(str(value).strip())
    except ValueError as exc:
        raise InputError(f"「{label}」应为数字，实际为 '{value}'", field=label) from exc
    if number != number:
        raise InputError(f"「{label}」应为数字", field=label)
    return number


def items_from_rows(rows: Sequence[Sequence[Any]]) -> tuple[PrescriptionItem, ...]:
    """Rows of the edited table → prescription items. Blank rows are skipped; a bad cell raises
    :class:`InputError` naming the row (1-based) and column."""
    items: list[PrescriptionItem] = []
    for n, row in enumerate(rows, 1):
        cells = list(row) + [None] * (len(_ITEM_FIELDS) - len(row))
        data: dict[str, Any] = {}
        for f, column, value in zip(_ITEM_FIELDS, ITEM_COLUMNS, cells, strict=False):
            if f in _NUMERIC_FIELDS:
                data[f] = _number(value, n, column)
            else:
                text = "" if value is None or value != value else str(value).strip()
                data[f] = text or None
        if not any(v is not None for v in data.values()):
            continue
        if not data["drug"]:
            raise InputError(f"第{n}行缺少药品名称", row=n, field="药品")
        items.append(PrescriptionItem(line=len(items) + 1, **data))
    return tuple(items)


# --------------------------------------------------------------------------- export


def export_draft(
    draft: Visit, out_dir: str | Path, transcript: Transcript | None = None
) -> tuple[Path, Path | None]:
    """Write ``record.json`` (the visit as edited: transcript, record, items, one prescription, audit, care
    plan) and ``record.fhir.json`` (FHIR R4B Bundle of the same record and prescription; ``None`` when
    fhir.resources is not installed) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = draft.contract()
    if transcript is not None and doc.get("transcript") is None:
        doc["transcript"] = transcript.contract()
    json_path = out / "record.json"
    json_path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    fhir_path: Path | None = out / "record.fhir.json"
    try:
        bundle = draft.to_fhir()
    except ImportError as exc:
        log.warning("FHIR export unavailable: %s", type(exc).__name__)
        fhir_path = None
    else:
        fhir_path.write_text(json.dumps(bundle, ensure_ascii=False, indent=2), encoding="utf-8")
    return json_path, fhir_path


# --------------------------------------------------------------------------- one prescription


def audit_case(case: AuditCase) -> AuditReport:
    """The audit of one case with the shipped knowledge base."""
    return audit(case, get_knowledge())


def example_cases() -> list[AuditCase]:
    """The packaged example prescriptions (``toolkit/examples/cases.jsonl``)."""
    text = resources.files("toolkit").joinpath("examples/cases.jsonl").read_text(encoding="utf-8")
    return [AuditCase.model_validate_json(line) for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- batch


@dataclass(frozen=True)
class BatchResult:
    """A batch audit for the demo: the two reports, the totals, the per-doctor statistics, and the cases a
    pharmacist acts on (``flagged``: every case not 通过, in file order, as journal dicts; ``errors``: every
    row that could not be read or audited)."""

    excel: Path
    html: Path
    cases: int
    rows: int
    rows_flagged: int
    rows_error: int
    total: DoctorStats
    by_doctor: dict[str, DoctorStats]
    flagged: tuple[dict[str, Any], ...] = ()
    errors: tuple[dict[str, Any], ...] = ()
    shown_max: int = 0


BATCH_SHOWN_MAX = 2000
"""At most this many flagged cases (and error rows) are kept for the tables; the reports hold them all."""

PROGRESS_SHARES = (("审方中", 0.7), ("写 Excel 报告", 0.2), ("写 HTML 报告", 0.1))
"""How the one progress bar is shared between auditing and writing the two reports."""


def count_prescriptions(path: str | Path, columns: dict[str, str] | None = None) -> int:
    """How many prescriptions (grouped units) ``path`` holds: the denominator of the progress bar."""
    from toolkit.batch.readers import iter_units

    return sum(1 for _ in iter_units(path, columns))


def _journal_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 16), b""))
    except FileNotFoundError:
        return 0


def audit_file(
    path: str | Path,
    out_dir: str | Path,
    *,
    columns: dict[str, str] | None = None,
    on_progress: Callable[[float, str], None] | None = None,
    poll_seconds: float = 0.2,
    shown_max: int = BATCH_SHOWN_MAX,
) -> BatchResult:
    """Audit an HIS export (CSV/Excel/JSONL…) into an Excel and an HTML report.

    Runs :func:`toolkit.batch.run_batch` in one worker (the demo shares the machine) on a thread.
    ``on_progress(fraction, stage)`` covers the whole job — auditing (from the journal as it grows), then
    writing both reports row by row (:data:`PROGRESS_SHARES`) — never goes back, and reaches 1.0 exactly
    once, when the reports are written.
    """
    from toolkit.batch import BatchOptions, run_batch
    from toolkit.batch.report import collect_stats, iter_journal, write_excel, write_html

    src, out = Path(path), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    total = count_prescriptions(src, columns)
    journal = out / "审方结果.jsonl"
    outcome: dict[str, Any] = {}
    last = [-1.0]

    def report(fraction: float, stage: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if fraction > last[0]:
            last[0] = fraction
            if on_progress is not None:
                on_progress(fraction, stage)

    def run() -> None:
        try:
            outcome["summary"] = run_batch(
                src, journal, "jsonl", columns, BatchOptions(workers=1, chunk_size=20, progress=False)
            )
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    (audit_stage, audit_share), (excel_stage, excel_share), (html_stage, html_share) = PROGRESS_SHARES
    report(0.0, audit_stage)
    worker = threading.Thread(target=run, name="demo-batch", daemon=True)
    worker.start()
    while worker.is_alive():
        report(audit_share * min(_journal_lines(journal), total) / max(total, 1), audit_stage)
        worker.join(poll_seconds)
    if "error" in outcome:
        raise outcome["error"]
    report(audit_share, audit_stage)
    summary = outcome["summary"]
    kb = get_knowledge()
    rows_total = max(summary.rows, 1)

    def writing(base: float, share: float, stage: str) -> Callable[[int], None]:
        written = [0]

        def step(n: int) -> None:
            written[0] += n
            # stop just short of the stage's end: 1.0 is said once, after the last file is closed
            report(base + share * min(written[0] / rows_total, 0.999), stage)

        return step

    excel, report_html = out / "审方报告.xlsx", out / "审方报告.html"
    write_excel(journal, excel, kb, progress=writing(audit_share, excel_share, excel_stage))
    write_html(journal, report_html, kb, progress=writing(audit_share + excel_share, html_share, html_stage))
    stats, by_doctor = collect_stats(journal)
    flagged: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for case in iter_journal(journal):
        if case["status"] != "ok" and len(flagged) < shown_max:
            flagged.append(case)
        for r in case.get("rows", ()):
            if r.get("status") == "error" and len(errors) < shown_max:
                errors.append({**r, "rx_id": written_rx_id(case)})
    report(1.0, "完成")
    log.info("demo batch: %d prescriptions, %d rows", summary.cases, summary.rows)
    return BatchResult(
        excel=excel,
        html=report_html,
        cases=summary.cases,
        rows=summary.rows,
        rows_flagged=summary.rows_flagged,
        rows_error=summary.rows_error,
        total=stats,
        by_doctor=by_doctor,
        flagged=tuple(flagged),
        errors=tuple(errors),
        shown_max=shown_max,
    )


def written_rx_id(case: Mapping[str, Any]) -> str:
    """The 处方号 as written: empty for a row whose 处方号 was empty (the batch names it ``row-N``)."""
    return "" if "'rx_id'" in (case.get("error") or "") else str(case["id"])


# --------------------------------------------------------------------------- pharmacist queue


def open_store(db_url: str) -> Store:
    """The service's decision store on ``db_url`` (migrated to the newest schema); needs ``[service]``."""
    from toolkit.errors import require

    require("sqlalchemy", "service")
    from toolkit.service.db import make_engine, migrate, session_factory
    from toolkit.service.store import Store

    engine = make_engine(db_url)
    migrate(engine)
    return Store(session_factory(engine), engine)


def submit_for_review(store: Store, report: AuditReport, source: str = "demo") -> str | None:
    """Put a flagged (or failed) audit in the pharmacist queue; returns its audit id, ``None`` when the
    prescription passed (nothing to review)."""
    if report.status == "ok":
        return None
    _ids, _docs, job = store.prepare_audits([report], source, review=True)
    store.write_jobs([job])
    return _ids[0]


def decide(
    store: Store,
    audit_id: str,
    decision: str,
    pharmacist: str,
    reason: str = "",
    prescriber: str = "",
    reason_code: str = "",
    idempotency_key: str | None = None,
) -> str:
    """Record a pharmacist decision through the service's one workflow
    (:func:`toolkit.service.decisions.record_decision`); returns a confirmation in Chinese.

    ``return`` and ``override`` need a reason (a standard ``reason_code`` or free text), and so does a
    ``pass`` of a prescription with a 拦截 finding; ``override`` (双签) also needs the prescriber who signs.
    One final decision per audit: a second one is refused (the store's conflict). Raises
    :class:`InputError` naming the problem, in Chinese.
    """
    from toolkit.service.cds import OVERRIDE_CODES
    from toolkit.service.decisions import DecisionRefused, record_decision
    from toolkit.service.store import Conflict, NotFound

    code = (reason_code or "").strip() or None
    try:
        done = record_decision(
            store,
            audit_id,
            decision=decision,
            pharmacist=(pharmacist or "").strip(),
            reason=(reason or "").strip() or None,
            reason_code=code,
            prescriber=(prescriber or "").strip() or None,
            idempotency_key=idempotency_key,
            known_codes=OVERRIDE_CODES,  # the demo offers the standard codes only ...
            code_is_reason=True,  # ... and a chosen one stands for the reason
        )
    except DecisionRefused as exc:
        raise InputError(_refusal_text(exc, decision, code), field=exc.field) from exc
    except NotFound as exc:
        raise InputError("未找到该审核记录", field="audit_id") from exc
    except Conflict as exc:
        case_id = store.get_audit(audit_id).case_id
        raise InputError(f"处方号 {case_id} 已有审核结论，不能再次提交", field="audit_id") from exc
    log.info("demo decision %s on audit %s", decision, audit_id)
    again = "（重复提交，已按第一次记录）" if done.replayed else ""
    return (
        f"已记录：{DECISIONS.get(done.decision.decision, done.decision.decision)}（处方号 {done.audit.case_id}，"
        f"{time.strftime('%H:%M:%S')}）{again}"
    )


def _refusal_text(exc: Any, decision: str, code: str | None) -> str:
    """A refused decision (:class:`toolkit.service.decisions.DecisionRefused`) in the demo's words."""
    words = {
        "unknown_decision": lambda: f"未知的审核结论「{decision}」；可选：{'、'.join(DECISIONS.values())}",
        "no_audit": lambda: "请先在队列中选择一张处方",
        "no_pharmacist": lambda: "请填写审方药师",
        "unknown_reason_code": lambda: f"未知的理由代码「{code}」",
        "block_reason_required": lambda: "该处方有拦截问题，审核通过需要填写理由",
        "reason_required": lambda: f"「{DECISIONS[decision]}」需要填写理由",
        "prescriber_required": lambda: "双签放行需要开方医师签名",
    }
    say = words.get(exc.key)
    return say() if say else exc.reason
