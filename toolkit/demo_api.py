"""What the Gradio demo (``demo/app.py``) calls: one typed function per user action.

The demo only parses widget values and calls these; everything that decides something
(which corrections to undo, how an edited table becomes prescription items, how findings
and care plans are shown, how a batch is run and summarised, how a pharmacist's decision is
checked and stored) lives here so it is tested without a browser. Nothing here imports gradio.

HTML built here escapes every value taken from a record or a finding: dictated text is
untrusted input as far as the page is concerned.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from toolkit.audit import audit
from toolkit.errors import InputError, ToolkitError
from toolkit.knowledge import get_knowledge
from toolkit.labels import (
    CATEGORY_LABELS,
    FIELD_LABELS,
    MATCH_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    category_label,
    field_label,
)
from toolkit.records import (
    RECORD_SECTIONS,
    AuditCase,
    AuditReport,
    Diagnosis,
    Patient,
    Prescription,
    PrescriptionItem,
)
from toolkit.visit import Header, Visit, redictate, revise, visit

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.asr import PartialTranscript, TranscribeOptions, Transcript
    from toolkit.batch.report import DoctorStats
    from toolkit.care import CarePlan
    from toolkit.extract import Entity, OutpatientRecord
    from toolkit.service.store import Store

log = logging.getLogger(__name__)

SEVERITY_ZH = {s.value: label for s, label in SEVERITY_LABELS.items()}
"""Severity code → 拦截/警示/提示 (from :mod:`toolkit.labels`, the one vocabulary)."""

SEVERITY_COLOURS = {
    "block": ("#b91c1c", "#fef2f2"),
    "warn": ("#b45309", "#fffbeb"),
    "info": ("#1d4ed8", "#eff6ff"),
}
"""Severity → (border/text colour, background): block red, warn amber, info blue."""

CATEGORY_ZH = {c.value: label for c, label in CATEGORY_LABELS.items()}
"""Finding category → its label (from :mod:`toolkit.labels`)."""

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

ENTITY_COLOURS = {
    "症状": "#fde68a",
    "疾病": "#fca5a5",
    "药品": "#93c5fd",
    "规格": "#c4b5fd",
    "剂量": "#c4b5fd",
    "频次": "#a7f3d0",
    "途径": "#a7f3d0",
    "疗程": "#a7f3d0",
    "体征": "#fdba74",
    "检验": "#fdba74",
    "过敏原": "#f9a8d4",
    "部位": "#d9f99d",
}

ITEM_COLUMNS = ("药品", "规格", "单次剂量", "单位", "频次", "途径", "天数", "备注")
"""Columns of the editable prescription table, in order."""

_ITEM_FIELDS = ("drug", "strength", "dose", "unit", "frequency", "route", "days", "note")
_NUMERIC_FIELDS = {"dose", "days"}

DIAGNOSIS_COLUMNS = ("诊断", "ICD-10", "来源")
QUEUE_COLUMNS = ("审核编号", "处方号", "最高级别", "问题数", "主要问题", "提交时间")
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
            "（如不对，请在上方取消该更正或在处方表中修改）"
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


# --------------------------------------------------------------------------- rendering


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


EVIDENCE_LABELS = {
    "count": "数量",
    "limit": "限值",
    "age": "年龄",
    "field": "项目",
    "text": "所写",
    "missing": "缺少",
    "written": "处方所写",
    "code": "编码",
    "local": "本地剂型",
    "matched": "匹配为",
    "how": "匹配方式",
    "reason": "原因",
    "strength": "规格",
    "unit": "单位",
    "dose": "单次剂量",
    "single": "单次量",
    "daily": "日剂量",
    "weight_kg": "体重(kg)",
    "ratio": "倍数",
    "what": "项目",
    "value": "数值",
    "egfr": "eGFR",
    "why": "依据",
    "frequency": "频次",
    "route": "途径",
    "allowed": "允许途径",
    "mechanism": "机制",
    "effect": "后果",
    "ingredient": "成分",
    "products": "品种",
    "group": "类别",
    "allergen": "过敏原",
    "population": "人群",
    "level": "级别",
    "diagnoses": "诊断",
    "accepted_icd10": "适用诊断编码",
    "skin_test": "皮试结果",
    "length": "字数",
    "diagnosis": "诊断",
    "days": "天数",
    "quantity": "数量",
    "clinic_median": "本院中位数",
    "class": "类别",
    "rarity": "少见程度",
    "risk": "风险",
    "threshold": "阈值",
    "contributions": "主要因素",
    "drug": "药品",
    "drugs": "药品",
    "management": "处理",
    "note": "说明",
    "renal_measure": "肾功能指标",
    "renal_value": "肾功能数值",
    "labs.egfr": "eGFR",
    "labs.potassium": "血钾",
    "labs.alt": "ALT",
    "labs.scr": "血肌酐",
    "labs.hba1c": "HbA1c",
    "labs.crcl": "肌酐清除率",
}
"""Evidence key (a machine name) → the word shown on a card; an unknown key shows its value only."""

EVIDENCE_VALUES = {
    "population": {
        "elderly": "老年人",
        "renal": "肾功能不全",
        "hepatic": "肝功能不全",
        "pregnancy": "妊娠期",
        "lactation": "哺乳期",
        "children": "儿童",
    },
    "level": {"contraindicated": "禁用", "avoid": "不推荐使用", "caution": "慎用"},
    "how": MATCH_LABELS,
    "field": FIELD_LABELS,
}
"""Evidence values that are codes → their words (other values are shown as they are)."""

EVIDENCE_LIST_MAX = 6
"""A list longer than this (e.g. 50 ICD-10 ranges) is shown as its first items and a count."""


def _evidence_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        shown = [str(v) for v in value[:EVIDENCE_LIST_MAX]]
        more = len(value) - len(shown)
        return "、".join(shown) + (f" 等共 {len(value)} 项" if more > 0 else "")
    if isinstance(value, dict):
        return "、".join(f"{k} {v}" for k, v in list(value.items())[:EVIDENCE_LIST_MAX])
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _evidence_text(evidence: Mapping[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        if value in (None, "", [], ()):
            continue
        label = EVIDENCE_LABELS.get(key)
        if isinstance(value, str):
            value = EVIDENCE_VALUES.get(key, {}).get(value, value)
        parts.append(f"{label}：{_evidence_value(value)}" if label else _evidence_value(value))
    return "；".join(parts)


OK_CARD = (
    '<div class="rx-card rx-ok" data-severity="ok" style="border-left:6px solid #15803d;background:#f0fdf4;'
    'padding:8px 12px;margin:6px 0"><span class="rx-mark" style="color:#15803d;font-weight:700">【通过】</span>'
    " 未发现问题</div>"
)
"""The card of a prescription without findings: a text mark (no emoji: without an emoji font it is a box)."""


def findings_html(report: AuditReport) -> str:
    """Audit cards, most severe first: coloured by severity, with message, evidence and source."""
    if report.status == "error":
        return (
            f'<div class="rx-card rx-block" data-severity="error" style="border-left:6px solid #b91c1c;'
            f'background:#fef2f2;padding:8px 12px;margin:6px 0"><b>{STATUS_LABELS["error"]}</b>：'
            f"{_e(error_text(report.error or ''))}</div>"
        )
    if not report.findings:
        return OK_CARD
    cards = []
    order = {"block": 0, "warn": 1, "info": 2}
    for f in sorted(report.findings, key=lambda f: order[f.severity.value]):
        sev = f.severity.value
        colour, background = SEVERITY_COLOURS[sev]
        refs = "<br>".join(_e(r) for r in f.references) or "—"
        dianping = (
            f"<div><small>处方点评：{_e(f.dianping.cls.value)} {_e(f.dianping.item)} "
            f"{_e(f.dianping.title)}</small></div>"
            if f.dianping
            else ""
        )
        evidence = _evidence_text(f.evidence)
        cards.append(
            f'<div class="rx-card rx-{sev}" data-severity="{sev}" data-rule="{_e(f.rule_id)}" '
            f'style="border-left:6px solid {colour};background:{background};padding:8px 12px;margin:6px 0;'
            f'border-radius:4px">'
            f'<div><span style="color:{colour};font-weight:700">【{SEVERITY_ZH[sev]}】</span> '
            f"<b>{_e(f.message)}</b></div>"
            f"<div><small>{_e(category_label(f.category))} · 规则 {_e(f.rule_id)} "
            f"第{f.rule_version}版{' · 模型提示' if f.source == 'model' else ''}</small></div>"
            + (f"<div><small>依据：{_e(evidence)}</small></div>" if evidence else "")
            + f'<div><small>来源：<span class="rx-refs">{refs}</span></small></div>{dianping}</div>'
        )
    counts = {s: sum(1 for f in report.findings if f.severity.value == s) for s in order}
    head = "　".join(
        f'<span style="color:{SEVERITY_COLOURS[s][0]}">{SEVERITY_ZH[s]} {n}</span>'
        for s, n in counts.items()
        if n
    )
    status = STATUS_LABELS.get(report.status, report.status)
    return f'<div class="rx-cards"><div><b>审核结果：{_e(status)}</b>　{head}</div>{"".join(cards)}</div>'


_ERROR_PREFIX = re.compile(r"^(?:file\s+.+?\s+)?row\s+(\d+)(?:\s*field\s+'(\w+)'(?:（[^）]*）)?)?\s*:?\s*")
_ASCII_ASIDE = re.compile(r"（[\x20-\x7e]+）")


def error_text(message: str) -> str:
    """An input error as a pharmacist reads it: ``file x.csv row 4: field 'dose'（单次剂量）: '两片' 不是数字``
    → ``第4行 单次剂量：'两片' 不是数字`` (no server path, no English aside)."""
    m = _ERROR_PREFIX.match(message)
    text = message
    if m:
        row, name = m.group(1), m.group(2)
        rest = message[m.end() :]
        inner = re.match(r"field\s+'(\w+)'(?:（[^）]*）)?\s*:?\s*", rest)
        if inner and not name:
            name, rest = inner.group(1), rest[inner.end() :]
        where = f"第{row}行"
        if name:
            label = field_label(name)
            where += " " + (label.split("（", 1)[1].rstrip("）") if "（" in label else name)
        text = f"{where}：{rest}" if rest else where
    return _ASCII_ASIDE.sub("", text).strip()


_CONTROL_ZH = {"controlled": "控制达标", "uncontrolled": "控制未达标", "unknown": "资料不足"}


def care_html(plan: CarePlan) -> str:
    """The care plan beside the cards: control status, follow-up, referral, screening, guidance."""
    if plan.status == "error":
        return f'<div class="care-plan"><b>无法生成管理建议</b>：{_e(plan.error or "")}</div>'
    parts = ['<div class="care-plan"><h4 style="margin:4px 0">慢病管理建议</h4>']
    if plan.conditions:
        rows = "".join(
            f"<li><b>{_e(c.name)}</b>：{_e(_CONTROL_ZH.get(c.control.value, c.control.value))}"
            + (f"（{_e('；'.join(c.missing))}）" if c.missing else "")
            + "</li>"
            for c in plan.conditions
        )
        parts.append(f"<div><b>控制情况</b><ul>{rows}</ul></div>")
    else:
        parts.append("<div>本次记录未涉及纳入管理的慢性病。</div>")
    if plan.follow_up.interval_days or plan.follow_up.reason:
        when = f"{plan.follow_up.interval_days} 天后" if plan.follow_up.interval_days else ""
        parts.append(f"<div><b>随访</b>：{_e(when)}{_e(plan.follow_up.reason)}</div>")
    for r in plan.referral:
        colour = "#b91c1c" if r.urgency == "urgent" else "#b45309"
        word = "紧急转诊" if r.urgency == "urgent" else "建议转诊"
        parts.append(f'<div style="color:{colour}"><b>{word}</b>：{_e(r.reason)}</div>')
    if plan.screening_due:
        parts.append(
            "<div><b>待完成检查</b>：" + "、".join(_e(s.label) for s in plan.screening_due) + "</div>"
        )
    if plan.guidance:
        tips = "".join(f"<li>{_e(g.text)}</li>" for g in plan.guidance)
        parts.append(f"<div><b>健康指导</b><ol>{tips}</ol></div>")
    parts.append("</div>")
    return "".join(parts)


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


_FREQ_ZH = {
    "qd": "每日一次",
    "bid": "每日两次",
    "tid": "每日三次",
    "qid": "每日四次",
    "qn": "每晚一次",
    "qw": "每周一次",
    "prn": "必要时",
    "st": "立即",
    "q12h": "每12小时一次",
    "q8h": "每8小时一次",
    "q6h": "每6小时一次",
}


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def print_html(draft: Visit, clinic: str = "社区卫生服务中心") -> str:
    """A printable 门诊病历 and 处方笺 of the visit as edited (one self-contained page, no outside resources).

    门诊病历 after 病历书写基本规范 第十三条 (就诊时间、科别、主诉、现病史、既往史、体征与辅助检查、诊断、
    治疗意见、医师签名); 处方笺 after 处方管理办法 第五条 and its 处方标准 (前记: 姓名、性别、年龄、科别、
    临床诊断、开具日期; 正文: Rp 药品名称、规格、用法用量; 后记: 医师、审核、调配、核对、发药药师签名)."""
    h = draft.header
    sex = {"M": "男", "F": "女"}.get(h.sex or "", "")
    age = f"{h.age:g}岁" if h.age is not None else ""
    p = draft.case.patient
    dx = (
        "；".join(d.name + (f"（{d.icd10}）" if d.icd10 else "") for d in draft.record.diagnoses)
        or "（未记录）"
    )
    head = (
        f'<table class="hdr"><tr><td>姓名：{_e(h.name or "")}</td><td>性别：{_e(sex)}</td><td>年龄：{_e(age)}</td>'
        f"<td>科别：{_e(h.department or '')}</td><td>日期：{_e(h.date or '')}</td></tr></table>"
    )
    sections = "".join(
        f"<p><b>{_e(name)}：</b>{_e(text)}</p>"
        for name, text in draft.sections.items()
        if name in RECORD_SECTIONS and text and text.strip()
    )
    said = draft.sections.get("过敏史", "")
    allergy = "、".join(p.allergies) or (
        "否认" if any(w in said for w in ("否认", "无", "没有")) else "未记录"
    )
    record = (
        f'<section class="page"><h2>{_e(clinic)}　门诊病历</h2>{head}'
        f"<p><b>药物过敏史：</b>{_e(allergy)}</p>{sections}"
        f'<p class="sign">医师签名：{_e(h.doctor or "")}</p></section>'
    )
    lines = []
    for it in draft.items:
        use = "，".join(
            x
            for x in (
                f"每次{_num(it.dose)}{it.unit or ''}" if it.dose is not None else "",
                _FREQ_ZH.get(it.frequency or "", it.frequency or ""),
                it.route or "",
                it.note or "",
                f"共{_num(it.days)}天" if it.days is not None else "",
            )
            if x
        )
        lines.append(
            f'<li><span class="drug">{_e(it.drug)}</span> {_e(it.strength or "")}<br>'
            f'<span class="sig">用法：{_e(use)}</span></li>'
        )
    rx = (
        f'<section class="page"><h2>{_e(clinic)}　处方笺</h2><div class="kind">普通</div>{head}'
        f"<p>临床诊断：{_e(dx)}　　药物过敏史：{_e(allergy)}</p>"
        f'<div class="rp">Rp</div><ol>{"".join(lines) or "<li>（无）</li>"}</ol>'
        f'<table class="hdr"><tr><td>医师：{_e(h.doctor or "")}</td><td>审核药师：</td><td>调配药师：</td>'
        f"<td>核对、发药药师：</td></tr></table></section>"
    )
    style = (
        "body{font-family:'Noto Sans CJK SC','Noto Sans SC',sans-serif;margin:0}"
        ".page{width:180mm;margin:8mm auto;padding:6mm;border:1px solid #999;page-break-after:always}"
        "h2{text-align:center;margin:2mm 0}.hdr{width:100%;border-collapse:collapse;margin:2mm 0}"
        ".hdr td{border-bottom:1px solid #999;padding:1mm}.rp{font-size:20px;font-weight:700}"
        ".kind{float:right;border:1px solid #333;padding:0 2mm}.sign{text-align:right;margin-top:6mm}"
        "li{margin:2mm 0}.sig{color:#333}@media print{.page{border:none;margin:0}}"
    )
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>门诊病历与处方笺</title>'
        f"<style>{style}</style></head><body>{record}{rx}</body></html>"
    )


def export_print(draft: Visit, out_dir: str | Path) -> Path:
    """Write the printable page (:func:`print_html`) as ``门诊病历与处方笺.html`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "门诊病历与处方笺.html"
    path.write_text(print_html(draft), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- one prescription


@dataclass(frozen=True)
class PrescriptionForm:
    """The 处方审核 form. ``diagnoses`` is free text like '原发性高血压 I10；2型糖尿病 E11.9'."""

    case_id: str = "处方-1"
    age: float | None = None
    sex: str | None = None
    weight_kg: float | None = None
    pregnant: bool = False
    lactating: bool = False
    allergies: str = ""
    diagnoses: str = ""
    labs: Mapping[str, float | None] = field(default_factory=dict)
    items: Sequence[Sequence[Any]] = ()
    kind: str | None = None
    prescriber: str = ""
    extra_json: str = ""


def case_from_json(text: str, default_id: str = "处方-1") -> AuditCase:
    """An :class:`AuditCase` from pasted JSON (``id`` optional); errors name the field path."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"JSON 格式错误：第{exc.lineno}行第{exc.colno}列 {exc.msg}", field="json") from exc
    if not isinstance(data, dict):
        raise InputError("JSON 应为一个对象 {…}（一张处方）", field="json")
    data.setdefault("id", default_id)
    try:
        return AuditCase.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{loc}: {err['msg']}（共 {exc.error_count()} 处错误）", field=loc) from exc


def _diagnoses(text: str) -> tuple[Diagnosis, ...]:
    from toolkit.batch.readers import parse_diagnoses

    return tuple(Diagnosis(**d) for d in parse_diagnoses(text))


def case_from_form(form: PrescriptionForm) -> AuditCase:
    """The form as an :class:`AuditCase`; ``extra_json`` (a JSON object of AuditCase fields, e.g.
    ``{"patient": {"labs": {"hba1c": 8.1}}, "record": {...}}``) is merged over it, patient fields one by one."""
    try:
        patient = Patient(
            age=form.age,
            sex=form.sex or None,
            weight_kg=form.weight_kg or None,
            pregnant=form.pregnant or None,
            lactating=form.lactating or None,
            allergies=form.allergies,
            diagnoses=_diagnoses(form.diagnoses),
            labs={k: v for k, v in form.labs.items() if v is not None},
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "patient." + ".".join(str(p) for p in err["loc"])
        raise InputError(f"{loc}: {err['msg']}", field=loc) from exc
    items = items_from_rows(form.items)
    data: dict[str, Any] = {
        "id": form.case_id or "处方-1",
        "patient": patient.model_dump(exclude_none=True),
        "prescription": Prescription(
            items=items,
            kind=form.kind or None,  # type: ignore[arg-type]
            prescriber=form.prescriber or None,
        ).model_dump(exclude_none=True),
    }
    if form.extra_json.strip():
        case_from_json(form.extra_json, default_id=data["id"])  # reports the field path of any error
        extra = json.loads(form.extra_json)
        for key, value in extra.items():
            if key in {"patient", "prescription"} and isinstance(value, dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
    return case_from_json(json.dumps(data, ensure_ascii=False), default_id=data["id"])


def audit_case(case: AuditCase) -> AuditReport:
    """The audit of one case with the shipped knowledge base."""
    return audit(case, get_knowledge())


def example_cases() -> list[AuditCase]:
    """The packaged example prescriptions (``toolkit/examples/cases.jsonl``)."""
    text = resources.files("toolkit").joinpath("examples/cases.jsonl").read_text(encoding="utf-8")
    return [AuditCase.model_validate_json(line) for line in text.splitlines() if line.strip()]


def _it(drug: str, strength: str, dose: float, unit: str, frequency: str, days: float) -> dict[str, Any]:
    return {
        "drug": drug,
        "strength": strength,
        "dose": dose,
        "unit": unit,
        "frequency": frequency,
        "route": "口服",
        "days": days,
    }


DEMO_EXAMPLES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "ACEI+ARB 联用",
        "示例-ACEI+ARB",
        {
            "patient": {
                "age": 63,
                "sex": "M",
                "diagnoses": [{"name": "原发性高血压", "icd10": "I10"}],
                "labs": {"egfr": 70, "potassium": 4.6},
            },
            "prescription": {
                "prescriber": "王医生",
                "items": [
                    _it("马来酸依那普利片", "10 mg", 10, "mg", "qd", 28),
                    _it("缬沙坦胶囊", "80 mg", 80, "mg", "qd", 28),
                ],
            },
        },
    ),
    (
        "肾功能不全（eGFR 25 用二甲双胍）",
        "示例-肾功能不全",
        {
            "patient": {
                "age": 70,
                "sex": "F",
                "diagnoses": [{"name": "2型糖尿病", "icd10": "E11.9"}],
                "labs": {"egfr": 25},
            },
            "prescription": {
                "prescriber": "李医生",
                "items": [_it("盐酸二甲双胍片", "0.5 g", 0.5, "g", "tid", 28)],
            },
        },
    ),
    (
        "青霉素过敏（开阿莫西林）",
        "示例-青霉素过敏",
        {
            "patient": {
                "age": 35,
                "sex": "F",
                "allergies": ["青霉素"],
                "diagnoses": [{"name": "急性扁桃体炎", "icd10": "J03.9"}],
            },
            "prescription": {
                "prescriber": "张医生",
                "items": [_it("阿莫西林胶囊", "0.25 g", 0.5, "g", "tid", 5)],
            },
        },
    ),
    (
        "华法林 + NSAID（出血风险）",
        "示例-华法林+NSAID",
        {
            "patient": {
                "age": 68,
                "sex": "M",
                "diagnoses": [{"name": "心房颤动", "icd10": "I48"}, {"name": "膝骨关节炎", "icd10": "M17.9"}],
            },
            "prescription": {
                "prescriber": "王医生",
                "items": [
                    _it("华法林钠片", "2.5 mg", 2.5, "mg", "qd", 14),
                    _it("布洛芬缓释胶囊", "0.3 g", 0.3, "g", "bid", 7),
                ],
            },
        },
    ),
    (
        "老年人多重用药（84 岁，5 种药）",
        "示例-老年多重用药",
        {
            "patient": {
                "age": 84,
                "sex": "F",
                "labs": {"egfr": 48},
                "diagnoses": [
                    {"name": "原发性高血压", "icd10": "I10"},
                    {"name": "2型糖尿病", "icd10": "E11.9"},
                    {"name": "失眠", "icd10": "G47.0"},
                ],
            },
            "prescription": {
                "prescriber": "李医生",
                "items": [
                    _it("苯磺酸氨氯地平片", "5 mg", 5, "mg", "qd", 28),
                    _it("格列本脲片", "2.5 mg", 2.5, "mg", "bid", 28),
                    _it("地西泮片", "2.5 mg", 5, "mg", "qn", 14),
                    _it("阿司匹林肠溶片", "100 mg", 100, "mg", "qd", 28),
                    _it("阿托伐他汀钙片", "20 mg", 20, "mg", "qn", 28),
                ],
            },
        },
    ),
    (
        "过敏原写法未识别（PCN）",
        "示例-过敏原未识别",
        {
            "patient": {
                "age": 40,
                "sex": "M",
                "allergies": ["PCN"],
                "diagnoses": [{"name": "急性扁桃体炎", "icd10": "J03.9"}],
            },
            "prescription": {
                "prescriber": "张医生",
                "items": [_it("阿莫西林胶囊", "0.25 g", 0.5, "g", "tid", 5)],
            },
        },
    ),
    (
        "合理处方（通过）",
        "示例-通过",
        {
            "patient": {"age": 52, "sex": "M", "diagnoses": [{"name": "原发性高血压", "icd10": "I10"}]},
            "prescription": {
                "prescriber": "张医生",
                "items": [_it("苯磺酸氨氯地平片", "5 mg", 5, "mg", "qd", 28)],
            },
        },
    ),
)
"""The 处方审核 tab's examples, each named by what it shows: (title, 处方号, case fields)."""


def demo_examples() -> list[tuple[str, AuditCase]]:
    """(title, case) of every :data:`DEMO_EXAMPLES` entry."""
    return [
        (title, AuditCase.model_validate({"id": case_id, **data})) for title, case_id, data in DEMO_EXAMPLES
    ]


FORM_LABS = ("egfr", "potassium", "alt", "hba1c")
"""The labs that have their own box on the form (others go to the 补充 JSON)."""


def form_values(case: AuditCase) -> dict[str, Any]:
    """The 处方审核 form filled from ``case``: every box, the drug table, and what the form has no box for
    (other labs, the record) as 补充 JSON."""
    p, rx = case.patient, case.prescription
    labs = dict(p.labs or {})
    extra: dict[str, Any] = {}
    other_labs = {k: v for k, v in labs.items() if k not in FORM_LABS}
    if other_labs:
        extra["patient"] = {"labs": other_labs}
    if case.record:
        extra["record"] = (
            case.record.model_dump(mode="json", exclude_none=True)
            if hasattr(case.record, "model_dump")
            else case.record
        )
    return {
        "case_id": case.id,
        "age": _cell(p.age),
        "sex": p.sex or "",
        "weight": _cell(p.weight_kg),
        "pregnant": bool(p.pregnant),
        "lactating": bool(p.lactating),
        "allergies": "；".join(p.allergies),
        "diagnoses": "；".join(f"{d.name} {d.icd10}".strip() if d.icd10 else d.name for d in p.diagnoses),
        "labs": [_cell(labs.get(k)) for k in FORM_LABS],
        "kind": rx.kind or "",
        "prescriber": rx.prescriber or "",
        "items": item_rows(rx.items) or [[""] * len(ITEM_COLUMNS)],
        "extra": json.dumps(extra, ensure_ascii=False) if extra else "",
    }


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
                errors.append({**r, "rx_id": _rx_id(case)})
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


def _rx_id(case: Mapping[str, Any]) -> str:
    """The 处方号 as written: empty for a row whose 处方号 was empty (the batch names it ``row-N``)."""
    return "" if "'rx_id'" in (case.get("error") or "") else str(case["id"])


FLAGGED_COLUMNS = ("序号", "处方号", "医生", "结论", "最高级别", "问题数", "主要问题")
ERROR_COLUMNS = ("序号", "文件行号", "处方号", "药品", "错误")


def _top_message(case: Mapping[str, Any]) -> str:
    findings = case.get("findings", [])
    order = {"block": 0, "warn": 1, "info": 2}
    top = min(findings, key=lambda f: order.get(f["severity"], 3), default=None)
    if case.get("status") == "error":
        return error_text(case.get("error") or "")
    return top["message"] if top else ""


def flagged_rows(result: BatchResult, text: str = "", level: str = "") -> list[list[Any]]:
    """The prescriptions that were not 通过 (:data:`FLAGGED_COLUMNS`), filtered by a text (处方号, 医生 or the
    message contains it) and by the top level (拦截/警示/提示/无法审核/需人工审核; empty: all). 序号 opens it."""
    out = []
    needle = (text or "").strip()
    for n, case in enumerate(result.flagged, 1):
        top = case.get("max_severity")
        lvl = STATUS_LABELS["error"] if case["status"] == "error" else SEVERITY_ZH.get(top or "", "")
        row = [
            n,
            _rx_id(case),
            case.get("prescriber") or "",
            STATUS_LABELS.get(case["status"], case["status"]),
            lvl,
            len(case.get("findings", [])),
            _top_message(case),
        ]
        if level and level not in (lvl, row[3]):
            continue
        if needle and not any(needle in str(c) for c in row[1:]):
            continue
        out.append(row)
    return out


def error_rows(result: BatchResult, text: str = "") -> list[list[Any]]:
    """Every row that could not be read or audited (:data:`ERROR_COLUMNS`); an empty 处方号 is an error row
    with an empty 处方号 cell, never a prescription called "(未填写)"."""
    out = []
    needle = (text or "").strip()
    for n, r in enumerate(result.errors, 1):
        row = [
            n,
            r.get("line", ""),
            r.get("rx_id", ""),
            r.get("drug") or "",
            error_text(r.get("error") or ""),
        ]
        if needle and not any(needle in str(c) for c in row[1:]):
            continue
        out.append(row)
    return out


def batch_case_html(result: BatchResult, number: Any) -> str:
    """The cards of flagged case ``number`` (the table's 序号), the same cards as a single audit."""
    try:
        case = result.flagged[int(number) - 1]
    except (TypeError, ValueError, IndexError):
        return ""
    keys = AuditReport.model_fields.keys()
    report = AuditReport.model_validate({k: v for k, v in case.items() if k in keys})
    name = _rx_id(case)
    doctor = f"，医生 {_e(case['prescriber'])}" if case.get("prescriber") else ""
    return f"<div><b>处方号 {_e(name or '（空）')}</b>{doctor}</div>" + findings_html(report)


def _bars(title: str, rows: Sequence[tuple[str, float, str]], colour: str) -> str:
    top = max((v for _, v, _ in rows), default=0) or 1
    body = "".join(
        f'<div class="bar-row" style="display:flex;align-items:center;margin:2px 0">'
        f'<span style="width:9em;flex:none;overflow:hidden;text-overflow:ellipsis">{_e(label)}</span>'
        f'<span style="display:inline-block;height:14px;background:{colour};width:{max(v / top * 60, 0.5):.1f}%">'
        f'</span><span style="margin-left:6px">{_e(text)}</span></div>'
        for label, v, text in rows
    )
    return f'<div class="bar-chart"><b>{_e(title)}</b>{body or "<div>（无）</div>"}</div>'


def batch_charts_html(result: BatchResult) -> str:
    """Three bar charts as plain HTML (no chart library, nothing fetched): findings by category,
    不合理处方率 by doctor, and prescriptions by doctor."""
    t = result.total
    cats = sorted(t.categories.items(), key=lambda kv: -kv[1])
    doctors = sorted(result.by_doctor.items(), key=lambda kv: -kv[1].rate)
    audited = t.audited
    summary = (
        f"<div><b>共 {result.cases} 张处方、{result.rows} 行</b>；可审核处方 {audited} 张，"
        f"无法审核 {t.errors} 张，需人工审核 {t.needs_review} 张；"
        f"不合理处方 {t.irrational} 张，<b>不合理处方率 {t.rate:.1%}（{t.irrational}/{audited} 张可审核处方）</b>；"
        f"需干预行 {result.rows_flagged}，错误行 {result.rows_error}</div>"
    )
    if result.shown_max and (
        len(result.flagged) >= result.shown_max or len(result.errors) >= result.shown_max
    ):
        summary += f"<div>下表最多列出 {result.shown_max} 条，完整结果见下载的报告。</div>"
    return "".join(
        [
            '<div class="batch-charts">',
            summary,
            _bars("问题类别（警示及以上）", [(category_label(c), n, str(n)) for c, n in cats], "#f59e0b"),
            _bars(
                "不合理处方率（按医生；不合理/可审核处方）",
                [(d, s.rate, f"{s.rate:.1%}（{s.irrational}/{s.audited}）") for d, s in doctors],
                "#ef4444",
            ),
            _bars(
                "处方数（按医生）",
                [(d, s.prescriptions, str(s.prescriptions)) for d, s in doctors],
                "#3b82f6",
            ),
            "</div>",
        ]
    )


def doctor_rows(result: BatchResult) -> list[list[Any]]:
    """Per doctor: prescriptions, irrational ones, errors, 不合理处方率 (%) — the statistics table."""
    return [
        [d, s.prescriptions, s.irrational, s.errors, round(s.rate * 100, 1)]
        for d, s in sorted(result.by_doctor.items(), key=lambda kv: -kv[1].rate)
    ]


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


def queue_rows(store: Store, limit: int = 100) -> list[list[Any]]:
    """The queue as table rows (:data:`QUEUE_COLUMNS`): error, block, warn first; oldest first within."""
    rows = []
    for r in store.queue(limit):
        findings = r.report.get("findings", [])
        top = next(
            (f["message"] for f in findings if f["severity"] == r.max_severity), r.report.get("error") or ""
        )
        level = "错误" if r.status == "error" else SEVERITY_ZH.get(r.max_severity or "", "")
        rows.append([r.id, r.case_id, level, len(findings), top, r.created_at.strftime("%Y-%m-%d %H:%M")])
    return rows


def queue_detail_html(store: Store, audit_id: str) -> str:
    """The cards of one queued audit."""
    if not audit_id:
        return ""
    from toolkit.service.store import NotFound

    try:
        row = store.get_audit(audit_id)
    except NotFound:
        return "<div>未找到该审核记录</div>"
    report = AuditReport.model_validate({k: v for k, v in row.report.items() if k != "max_severity"})
    return f"<div><b>处方号 {_e(row.case_id)}</b></div>" + findings_html(report)


def override_reason_choices() -> list[tuple[str, str]]:
    """The standard override reasons (the service's CDS Hooks ``overrideReasons``) as (label, code), with
    an empty first choice: a reason code is offered, never forced; free text goes beside it."""
    from toolkit.service.cds import OVERRIDE_REASONS

    return [("（不选）", ""), *[(r["display"], r["code"]) for r in OVERRIDE_REASONS]]


def _reason_display(code: str | None) -> str:
    return next((label for label, c in override_reason_choices() if code and c == code), code or "")


def decision_target_html(store: Store, audit_id: str) -> str:
    """What the decision form decides on: the prescription id, its top severity and its findings count."""
    if not audit_id:
        return '<div class="decide-target">未选择处方</div>'
    from toolkit.service.store import NotFound

    try:
        row = store.get_audit(audit_id)
    except NotFound:
        return '<div class="decide-target">未找到该审核记录</div>'
    findings = row.report.get("findings", [])
    level = (
        STATUS_LABELS["error"] if row.status == "error" else SEVERITY_ZH.get(row.max_severity or "", "无问题")
    )
    blocked = " · 含拦截问题，通过须填写理由" if _blocked(row.report) else ""
    return (
        f'<div class="decide-target"><b>本次决定针对：处方号 {_e(row.case_id)}</b>'
        f"（最高级别 {_e(level)}，问题 {len(findings)} 条{blocked}）</div>"
    )


def _blocked(report: Mapping[str, Any]) -> bool:
    return any(f.get("severity") == "block" for f in report.get("findings", ()))


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
    """Record a pharmacist decision with the service's rules; returns a confirmation in Chinese.

    ``return`` and ``override`` need a reason (a standard ``reason_code`` or free text), and so does a
    ``pass`` of a prescription with a 拦截 finding; ``override`` (双签) also needs the prescriber who signs.
    One final decision per audit: a second one is refused (the store's conflict). Raises
    :class:`InputError` naming the problem.
    """
    from toolkit.service.cds import OVERRIDE_CODES
    from toolkit.service.store import Conflict, NotFound, decision_problem

    if decision not in DECISIONS:
        raise InputError(
            f"未知的审核结论「{decision}」；可选：{'、'.join(DECISIONS.values())}", field="decision"
        )
    if not audit_id:
        raise InputError("请先在队列中选择一张处方", field="audit_id")
    if not pharmacist.strip():
        raise InputError("请填写审方药师", field="pharmacist")
    code = (reason_code or "").strip() or None
    if code is not None and code not in OVERRIDE_CODES:
        raise InputError(f"未知的理由代码「{code}」", field="reason_code")
    try:
        row = store.get_audit(audit_id)
    except NotFound as exc:
        raise InputError("未找到该审核记录", field="audit_id") from exc
    blocked = _blocked(row.report)
    stated = (reason or "").strip() or _reason_display(code)
    problem = decision_problem(decision, stated, prescriber, blocked=blocked)
    if problem:
        field_name, _ = problem
        if field_name == "reason":
            msg = (
                "该处方有拦截问题，审核通过需要填写理由"
                if decision == "pass"
                else f"「{DECISIONS[decision]}」需要填写理由"
            )
        else:
            msg = "双签放行需要开方医师签名"
        raise InputError(msg, field=field_name)
    rule_ids = list(dict.fromkeys(f["rule_id"] for f in row.report.get("findings", [])))
    try:
        stored, replayed = store.add_decision(
            audit_id,
            decision=decision,
            pharmacist=pharmacist.strip(),
            rule_ids=rule_ids,
            reason=(reason or "").strip() or None,
            reason_code=code,
            prescriber=prescriber.strip() or None,
            idempotency_key=idempotency_key,
        )
    except Conflict as exc:
        raise InputError(f"处方号 {row.case_id} 已有审核结论，不能再次提交", field="audit_id") from exc
    log.info("demo decision %s on audit %s", decision, audit_id)
    again = "（重复提交，已按第一次记录）" if replayed else ""
    return (
        f"已记录：{DECISIONS.get(stored.decision, stored.decision)}（处方号 {row.case_id}，"
        f"{time.strftime('%H:%M:%S')}）{again}"
    )


DECISION_COLUMNS = (
    "时间",
    "处方号",
    "审核结论",
    "审方药师",
    "理由代码",
    "理由",
    "开方医师签名",
    "涉及规则",
    "审核编号",
)


def decision_rows(
    store: Store, *, since: str = "", until: str = "", person: str = "", decision: str = "", limit: int = 1000
) -> list[list[Any]]:
    """Past decisions, newest first (:data:`DECISION_COLUMNS`), filtered by date (``YYYY-MM-DD``, both ends
    included, local to the store's UTC times), by a person (审方药师 or 开方医师签名 containing the text)
    and by decision code."""
    from datetime import UTC, date, datetime, timedelta
    from datetime import time as dtime

    from sqlalchemy import or_, select

    from toolkit.service.db import AuditRow, DecisionRow

    def day(text: str, label: str) -> date | None:
        text = (text or "").strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise InputError(f"「{label}」应为日期，如 2026-12-07，实际为 '{text}'", field=label) from exc

    start, end = day(since, "起始日期"), day(until, "截止日期")
    if decision and decision not in DECISIONS:
        raise InputError(f"未知的审核结论「{decision}」", field="decision")
    query = (
        select(DecisionRow, AuditRow.case_id)
        .join(AuditRow, AuditRow.id == DecisionRow.audit_id)
        .order_by(DecisionRow.created_at.desc(), DecisionRow.id.desc())
        .limit(limit)
    )
    if start is not None:
        query = query.where(DecisionRow.created_at >= datetime.combine(start, dtime(), UTC))
    if end is not None:
        query = query.where(DecisionRow.created_at < datetime.combine(end + timedelta(days=1), dtime(), UTC))
    if decision:
        query = query.where(DecisionRow.decision == decision)
    if person.strip():
        like = f"%{person.strip()}%"
        query = query.where(or_(DecisionRow.pharmacist.like(like), DecisionRow.prescriber.like(like)))
    with store.session() as s:
        found = s.execute(query).all()
    return [
        [
            d.created_at.strftime("%Y-%m-%d %H:%M"),
            case_id,
            DECISIONS.get(d.decision, d.decision),
            d.pharmacist,
            _reason_display(d.reason_code),
            d.reason or "",
            d.prescriber or "",
            "、".join(d.rule_ids or []),
            d.audit_id,
        ]
        for d, case_id in found
    ]


def export_decisions(rows: Sequence[Sequence[Any]], out_dir: str | Path) -> tuple[Path, Path]:
    """The decisions shown as ``审核决定.csv`` (UTF-8 with BOM, opens in Excel) and ``审核决定.xlsx``; every
    cell formula-safe (text starting with = + - @ is written as text: the OWASP CSV-injection rule)."""
    import csv

    from toolkit.batch.report import neutralise

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe = [[neutralise(c) for c in r] for r in rows]
    csv_path, xlsx_path = out / "审核决定.csv", out / "审核决定.xlsx"
    with csv_path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(DECISION_COLUMNS)
        writer.writerows(safe)
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "审核决定"
    ws.append(list(DECISION_COLUMNS))
    for r in safe:
        ws.append(list(r))
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever the text
    wb.save(xlsx_path)
    return csv_path, xlsx_path
