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
from toolkit.records import (
    RECORD_SECTIONS,
    AuditCase,
    AuditReport,
    Diagnosis,
    Patient,
    Prescription,
    PrescriptionItem,
)

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.asr import PartialTranscript, TranscribeOptions, Transcript
    from toolkit.batch.report import DoctorStats
    from toolkit.care import CarePlan
    from toolkit.extract import Entity, OutpatientRecord
    from toolkit.service.store import Store

log = logging.getLogger(__name__)

SEVERITY_ZH = {"block": "拦截", "warn": "警示", "info": "提示"}
"""Severity words used on cards (the same as the batch report's)."""

SEVERITY_COLOURS = {"block": ("#b91c1c", "#fef2f2"), "warn": ("#b45309", "#fffbeb"), "info": ("#1d4ed8", "#eff6ff")}
"""Severity → (border/text colour, background): block red, warn amber, info blue."""

CATEGORY_ZH = {
    "format": "处方书写规范", "dose": "剂量", "frequency": "频次", "route": "给药途径", "days_supply": "用药天数",
    "long_prescription": "长期处方", "interaction": "相互作用", "duplicate_therapy": "重复用药",
    "contraindication": "禁忌症", "allergy": "过敏", "special_population": "特殊人群", "indication": "适应症",
    "skin_test": "皮试", "record": "病历完整性",
}
"""Finding category → the word a pharmacist uses."""

ENTITY_ZH = {
    "symptom": "症状", "disease": "疾病", "drug": "药品", "strength": "规格", "dose": "剂量", "frequency": "频次",
    "route": "途径", "duration": "疗程", "vital": "体征", "lab": "检验", "allergen": "过敏原", "body_part": "部位",
}
"""Entity label → Chinese label shown in the highlighted transcript."""

ENTITY_COLOURS = {
    "症状": "#fde68a", "疾病": "#fca5a5", "药品": "#93c5fd", "规格": "#c4b5fd", "剂量": "#c4b5fd", "频次": "#a7f3d0",
    "途径": "#a7f3d0", "疗程": "#a7f3d0", "体征": "#fdba74", "检验": "#fdba74", "过敏原": "#f9a8d4", "部位": "#d9f99d",
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

def transcript_events(audio: str | Path, options: TranscribeOptions | None = None
                      ) -> Iterator[PartialTranscript | Transcript]:
    """Partial transcripts while Whisper decodes, then the final :class:`Transcript` (with corrections)."""
    from toolkit.asr import transcribe_events

    yield from transcribe_events(str(audio), options)


def correction_choices(transcript: Transcript) -> list[tuple[str, int]]:
    """(label, index) per ASR correction, e.g. ``('二甲双呱 → 二甲双胍（3.2 秒）', 0)``."""
    return [(f"{c.original} → {c.corrected}（{c.start:.1f} 秒，{'药品' if c.kind == 'drug' else '术语'}）", i)
            for i, c in enumerate(transcript.corrections)]


def apply_corrections(transcript: Transcript, kept: Iterable[int]) -> str:
    """The transcript text with every correction *not* in ``kept`` undone (original words restored).

    Offsets point at the corrected term in ``transcript.text``; undoing runs from the end so
    earlier offsets stay valid. A correction whose text is no longer at its offset is left alone.
    """
    keep = set(kept)
    text = transcript.text
    for i in sorted(range(len(transcript.corrections)), key=lambda n: transcript.corrections[n].offset,
                    reverse=True):
        if i in keep:
            continue
        c = transcript.corrections[i]
        end = c.offset + len(c.corrected)
        if text[c.offset:end] != c.corrected:
            log.warning("correction %d does not match the transcript at offset %d; not undone", i, c.offset)
            continue
        text = text[:c.offset] + c.original + text[end:]
    return text


def warnings_markdown(transcript: Transcript) -> str:
    """The ASR warnings as a short Markdown list (empty string when there are none)."""
    return "\n".join(f"- ⚠️ {w.message}" + (f"（{w.start:.1f}–{w.end:.1f} 秒）" if w.start is not None
                                            and w.end is not None else "") for w in transcript.warnings)


# --------------------------------------------------------------------------- record

@dataclass(frozen=True)
class Draft:
    """A drafted visit: the text, its structured record, the audit case, the audit and the care plan."""

    text: str
    record: OutpatientRecord
    case: AuditCase
    report: AuditReport
    plan: CarePlan


def _check(case: AuditCase) -> tuple[AuditReport, CarePlan]:
    from toolkit.care import assess

    return audit(case, get_knowledge()), assess(case)


def draft_record(text: str, case_id: str = "门诊-1") -> Draft:
    """Structure a dictation, audit its prescription and assess chronic-disease care (one call per draft)."""
    from toolkit.extract import extract

    record = extract(text)
    case = record.to_audit_case(case_id)
    report, plan = _check(case)
    return Draft(text=text, record=record, case=case, report=report, plan=plan)


def redraft(draft: Draft, sections: Mapping[str, str], item_rows: Sequence[Sequence[Any]]) -> Draft:
    """The doctor's edits (section texts, prescription table) re-audited and re-assessed.

    Empty sections are dropped; 健康指导 and 随访 are kept out of the audit's record when they only
    repeat the care plan (they are outputs, not what the doctor found).
    """
    record_sections = {name: value.strip() for name, value in sections.items()
                       if name in RECORD_SECTIONS and value and value.strip()}
    items = items_from_rows(item_rows)
    case = draft.case.model_copy(update={
        "record": record_sections,
        "prescription": draft.case.prescription.model_copy(update={"items": items}),
    })
    case = AuditCase.model_validate(case.model_dump())  # re-run validation on the edited fields
    report, plan = _check(case)
    return Draft(text=draft.text, record=draft.record, case=case, report=report, plan=plan)


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
            out.append((text[pos:e.start], None))
        label = ENTITY_ZH.get(e.label.value, e.label.value)
        out.append((text[e.start:e.end], f"{label}(否定)" if e.negated else label))
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


def _evidence_text(evidence: Mapping[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        if isinstance(value, list | tuple):
            value = "、".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={value}")
    return "；".join(parts)


def findings_html(report: AuditReport) -> str:
    """Audit cards, most severe first: coloured by severity, with message, evidence and source."""
    if report.status == "error":
        return (f'<div class="rx-card rx-block" style="border-left:6px solid #b91c1c;background:#fef2f2;'
                f'padding:8px 12px;margin:6px 0"><b>无法审核</b>：{_e(report.error or "")}</div>')
    if not report.findings:
        return ('<div class="rx-card rx-ok" style="border-left:6px solid #15803d;background:#f0fdf4;'
                'padding:8px 12px;margin:6px 0">✅ 未发现问题</div>')
    cards = []
    order = {"block": 0, "warn": 1, "info": 2}
    for f in sorted(report.findings, key=lambda f: order[f.severity.value]):
        sev = f.severity.value
        colour, background = SEVERITY_COLOURS[sev]
        refs = "<br>".join(_e(r) for r in f.references) or "—"
        dianping = (f"<div><small>处方点评：{_e(f.dianping.cls.value)} {_e(f.dianping.item)} "
                    f"{_e(f.dianping.title)}</small></div>" if f.dianping else "")
        evidence = _evidence_text(f.evidence)
        cards.append(
            f'<div class="rx-card rx-{sev}" data-severity="{sev}" data-rule="{_e(f.rule_id)}" '
            f'style="border-left:6px solid {colour};background:{background};padding:8px 12px;margin:6px 0;'
            f'border-radius:4px">'
            f'<div><span style="color:{colour};font-weight:700">【{SEVERITY_ZH[sev]}】</span> '
            f'<b>{_e(f.message)}</b></div>'
            f'<div><small>{_e(CATEGORY_ZH.get(f.category.value, f.category.value))} · {_e(f.rule_id)} '
            f'v{f.rule_version}{" · 模型" if f.source == "model" else ""}</small></div>'
            + (f"<div><small>依据数值：{_e(evidence)}</small></div>" if evidence else "")
            + f"<div><small>来源：{refs}</small></div>{dianping}</div>")
    counts = {s: sum(1 for f in report.findings if f.severity.value == s) for s in order}
    head = "　".join(f'<span style="color:{SEVERITY_COLOURS[s][0]}">{SEVERITY_ZH[s]} {n}</span>'
                    for s, n in counts.items() if n)
    return f'<div class="rx-cards"><div><b>审核结果</b>　{head}</div>{"".join(cards)}</div>'


_CONTROL_ZH = {"controlled": "控制达标", "uncontrolled": "控制未达标", "unknown": "资料不足"}


def care_html(plan: CarePlan) -> str:
    """The care plan beside the cards: control status, follow-up, referral, screening, guidance."""
    if plan.status == "error":
        return f'<div class="care-plan"><b>无法生成管理建议</b>：{_e(plan.error or "")}</div>'
    parts = ['<div class="care-plan"><h4 style="margin:4px 0">慢病管理建议</h4>']
    if plan.conditions:
        rows = "".join(f"<li><b>{_e(c.name)}</b>：{_e(_CONTROL_ZH.get(c.control.value, c.control.value))}"
                       + (f"（{_e('；'.join(c.missing))}）" if c.missing else "") + "</li>" for c in plan.conditions)
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
        parts.append("<div><b>待完成检查</b>：" + "、".join(_e(s.label) for s in plan.screening_due) + "</div>")
    if plan.guidance:
        tips = "".join(f"<li>{_e(g.text)}</li>" for g in plan.guidance)
        parts.append(f"<div><b>健康指导</b><ol>{tips}</ol></div>")
    parts.append("</div>")
    return "".join(parts)


# --------------------------------------------------------------------------- export

def export_draft(draft: Draft, out_dir: str | Path, transcript: Transcript | None = None
                 ) -> tuple[Path, Path | None]:
    """Write ``record.json`` (transcript, record, audit, care plan) and ``record.fhir.json`` (FHIR R4B
    Bundle; ``None`` when fhir.resources is not installed) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "id": draft.case.id,
        "text": draft.text,
        "transcript": transcript.contract() if transcript is not None else None,
        "record": {**draft.record.contract_dict(), "record": dict(draft.case.record)},
        "entities": [e.contract_dict() for e in draft.record.entities],
        "prescription": draft.case.prescription.model_dump(mode="json", exclude_none=True),
        "audit": draft.report.to_json_dict(),
        "care": draft.plan.to_json_dict(),
    }
    json_path = out / "record.json"
    json_path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    fhir_path: Path | None = out / "record.fhir.json"
    try:
        bundle = draft.record.to_fhir()
    except ImportError as exc:
        log.warning("FHIR export unavailable: %s", type(exc).__name__)
        fhir_path = None
    else:
        fhir_path.write_text(json.dumps(bundle, ensure_ascii=False, indent=2), encoding="utf-8")
    return json_path, fhir_path


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
        patient = Patient(age=form.age, sex=form.sex or None, weight_kg=form.weight_kg or None,
                          pregnant=form.pregnant or None, lactating=form.lactating or None,
                          allergies=form.allergies, diagnoses=_diagnoses(form.diagnoses),
                          labs={k: v for k, v in form.labs.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "patient." + ".".join(str(p) for p in err["loc"])
        raise InputError(f"{loc}: {err['msg']}", field=loc) from exc
    items = items_from_rows(form.items)
    data: dict[str, Any] = {
        "id": form.case_id or "处方-1",
        "patient": patient.model_dump(exclude_none=True),
        "prescription": Prescription(items=items, kind=form.kind or None,  # type: ignore[arg-type]
                                     prescriber=form.prescriber or None).model_dump(exclude_none=True),
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


# --------------------------------------------------------------------------- batch

@dataclass(frozen=True)
class BatchResult:
    """A batch audit for the demo: the two reports, the totals and the per-doctor statistics."""

    excel: Path
    html: Path
    cases: int
    rows: int
    rows_flagged: int
    rows_error: int
    total: DoctorStats
    by_doctor: dict[str, DoctorStats]


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


def audit_file(path: str | Path, out_dir: str | Path, *, columns: dict[str, str] | None = None,
               on_progress: Callable[[int, int], None] | None = None, poll_seconds: float = 0.2) -> BatchResult:
    """Audit an HIS export (CSV/Excel/JSONL…) into an Excel and an HTML report.

    Runs :func:`toolkit.batch.run_batch` in one worker (the demo shares the machine) on a thread and
    reports ``on_progress(done_prescriptions, total_prescriptions)`` from the journal as it grows.
    """
    from toolkit.batch import BatchOptions, run_batch
    from toolkit.batch.report import collect_stats, write_excel, write_html

    src, out = Path(path), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    total = count_prescriptions(src, columns)
    journal = out / "审方结果.jsonl"
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["summary"] = run_batch(src, journal, "jsonl", columns,
                                           BatchOptions(workers=1, chunk_size=20, progress=False))
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="demo-batch", daemon=True)
    worker.start()
    while worker.is_alive():
        if on_progress is not None:
            on_progress(min(_journal_lines(journal), total), total)
        worker.join(poll_seconds)
    if "error" in outcome:
        raise outcome["error"]
    if on_progress is not None:
        on_progress(total, total)
    summary = outcome["summary"]
    kb = get_knowledge()
    excel, report_html = out / "审方报告.xlsx", out / "审方报告.html"
    write_excel(journal, excel, kb)
    write_html(journal, report_html, kb)
    stats, by_doctor = collect_stats(journal)
    log.info("demo batch: %d prescriptions, %d rows", summary.cases, summary.rows)
    return BatchResult(excel=excel, html=report_html, cases=summary.cases, rows=summary.rows,
                       rows_flagged=summary.rows_flagged, rows_error=summary.rows_error, total=stats,
                       by_doctor=by_doctor)


def _bars(title: str, rows: Sequence[tuple[str, float, str]], colour: str) -> str:
    top = max((v for _, v, _ in rows), default=0) or 1
    body = "".join(
        f'<div class="bar-row" style="display:flex;align-items:center;margin:2px 0">'
        f'<span style="width:9em;flex:none;overflow:hidden;text-overflow:ellipsis">{_e(label)}</span>'
        f'<span style="display:inline-block;height:14px;background:{colour};width:{max(v / top * 60, 0.5):.1f}%">'
        f'</span><span style="margin-left:6px">{_e(text)}</span></div>' for label, v, text in rows)
    return f'<div class="bar-chart"><b>{_e(title)}</b>{body or "<div>（无）</div>"}</div>'


def batch_charts_html(result: BatchResult) -> str:
    """Three bar charts as plain HTML (no chart library, nothing fetched): findings by category,
    不合理处方率 by doctor, and prescriptions by doctor."""
    t = result.total
    cats = sorted(t.categories.items(), key=lambda kv: -kv[1])
    doctors = sorted(result.by_doctor.items(), key=lambda kv: -kv[1].rate)
    summary = (f"<div><b>共 {result.cases} 张处方、{result.rows} 行</b>；不合理处方 {t.irrational} 张，"
               f"不合理处方率 {t.rate:.1%}；需干预行 {result.rows_flagged}，错误行 {result.rows_error}</div>")
    return "".join([
        '<div class="batch-charts">', summary,
        _bars("问题类别（警示及以上）", [(CATEGORY_ZH.get(c, c), n, str(n)) for c, n in cats], "#f59e0b"),
        _bars("不合理处方率（按医生）", [(d, s.rate, f"{s.rate:.1%}（{s.irrational}/{s.prescriptions - s.errors}）")
                                 for d, s in doctors], "#ef4444"),
        _bars("处方数（按医生）", [(d, s.prescriptions, str(s.prescriptions)) for d, s in doctors], "#3b82f6"),
        "</div>"])


def doctor_rows(result: BatchResult) -> list[list[Any]]:
    """Per doctor: prescriptions, irrational ones, errors, 不合理处方率 (%) — the statistics table."""
    return [[d, s.prescriptions, s.irrational, s.errors, round(s.rate * 100, 1)]
            for d, s in sorted(result.by_doctor.items(), key=lambda kv: -kv[1].rate)]


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
        top = next((f["message"] for f in findings if f["severity"] == r.max_severity), r.report.get("error") or "")
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


def decide(store: Store, audit_id: str, decision: str, pharmacist: str, reason: str = "",
           prescriber: str = "") -> str:
    """Record a pharmacist decision with the service's rules; returns a confirmation in Chinese.

    ``return`` and ``override`` need a reason; ``override`` (双签) also needs the prescriber who signs.
    Raises :class:`InputError` naming the missing field.
    """
    from toolkit.service.store import NotFound, decision_problem

    if decision not in DECISIONS:
        raise InputError(f"unknown decision '{decision}'; allowed: {', '.join(DECISIONS)}", field="decision")
    if not audit_id:
        raise InputError("请先在队列中选择一张处方", field="audit_id")
    if not pharmacist.strip():
        raise InputError("请填写审方药师", field="pharmacist")
    problem = decision_problem(decision, reason, prescriber)
    if problem:
        field, _ = problem
        raise InputError(f"「{DECISIONS[decision]}」需要填写理由" if field == "reason" else "双签放行需要开方医师签名",
                         field=field)
    try:
        row = store.get_audit(audit_id)
    except NotFound as exc:
        raise InputError("未找到该审核记录", field="audit_id") from exc
    rule_ids = list(dict.fromkeys(f["rule_id"] for f in row.report.get("findings", [])))
    store.add_decision(audit_id, decision=decision, pharmacist=pharmacist.strip(), rule_ids=rule_ids,
                       reason=reason.strip() or None, reason_code=None, prescriber=prescriber.strip() or None)
    log.info("demo decision %s on audit %s", decision, audit_id)
    return f"已记录：{DECISIONS[decision]}（处方号 {row.case_id}，{time.strftime('%H:%M:%S')}）"
