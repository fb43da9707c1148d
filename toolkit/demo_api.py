"""What the Gradio demo (``demo/``, shipped as :mod:`toolkit.demo_app`) calls to act: library verbs.

The speech and record steps (:func:`toolkit.visit.visit` and its revisions, Whisper's transcripts and the
doctor's edits of them in :mod:`toolkit.asr.edit`), one
audit (:func:`toolkit.audit.audit`), a batch over :mod:`toolkit.batch`, and the pharmacist's queue and
decisions over the service's store and its one decision workflow
(:func:`toolkit.service.decisions.record_decision`, the same as ``POST /v1/audits/{id}/decisions``).
How any of it is shown (cards, tables, charts, the print view, the voice tab's corrections, highlights and
facts, the header and 处方审核 forms and their examples) lives with the views in ``demo/`` (:mod:`toolkit.demo_app.views`, :mod:`toolkit.demo_app.forms`). Everything
here is tested without a browser; nothing here imports gradio.
"""

from __future__ import annotations

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
    from toolkit.service.store import Store

log = logging.getLogger(__name__)

ITEM_COLUMNS = ("药品", "规格", "单次剂量", "单位", "频次", "途径", "天数", "备注")
"""Columns of the editable prescription table, in order."""

ITEM_FIELDS = ("drug", "strength", "dose", "unit", "frequency", "route", "days", "note")
"""The :class:`~toolkit.records.PrescriptionItem` field of each of :data:`ITEM_COLUMNS`."""
_NUMERIC_FIELDS = {"dose", "days"}

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


# --------------------------------------------------------------------------- record
# (how a draft is shown: toolkit.demo_app.views; the header form: toolkit.demo_app.forms)

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
    facts (过敏史 → allergies, 诊断 → diagnoses, 主诉 → age/sex, 现病史/既往史 → current medications 在用药品),
    the table is the prescription."""
    return _with_edits(draft, sections, item_rows, header)


def _with_edits(
    draft: Visit,
    sections: Mapping[str, str] | None,
    item_rows: Sequence[Sequence[Any]] | None,
    header: Header | Mapping[str, Any] | None = None,
) -> Visit:
    """``draft`` with the doctor's edits as the widgets hold them now (the record's section boxes, the
    table's rows, the header), re-read by :func:`toolkit.visit.revise`; ``draft`` itself when none given."""
    if sections is None and item_rows is None and header is None:
        return draft
    return revise(
        draft,
        sections=None if sections is None else {k: v for k, v in sections.items() if k in RECORD_SECTIONS},
        items=None if item_rows is None else items_from_rows(item_rows),
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
    current = _with_edits(draft, sections, item_rows)
    from toolkit.asr.edit import apply_corrections

    return redictate(current, apply_corrections(transcript, kept))


def confirm_drug(
    draft: Visit | None,
    transcript: Transcript,
    kept: Iterable[int],
    key: str,
    choice: str,
    sections: Mapping[str, str] | None = None,
    item_rows: Sequence[Sequence[Any]] | None = None,
) -> tuple[Transcript, list[int], Visit | None]:
    """One click in 药名待确认 (``key`` from :func:`toolkit.demo_app.views.drug_confirmations`, ``choice``
    one of its values): the transcript edited by :func:`toolkit.asr.edit.choose_drug` (the chosen name put
    in at its offset, marked as the doctor's choice; 保留原文 unticks the correction). Returns the new transcript, the ticked corrections and, when a record was drafted, the
    visit re-read like :func:`toggle_corrections`: the doctor's edits (boxes and table as they are now)
    are put back on top, never dropped."""
    from toolkit.asr.edit import apply_corrections, choose_drug

    transcript, keep = choose_drug(transcript, kept, key, choice)
    if draft is None:
        return transcript, keep, None
    current = _with_edits(draft, sections, item_rows)
    if current.transcript is not None:
        current = current.model_copy(update={"transcript": transcript})
    return transcript, keep, redictate(current, apply_corrections(transcript, keep))


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


def items_from_rows(rows: Sequence[Sequence[Any]]) -> tuple[PrescriptionItem, ...]:
    """Rows of the edited table → prescription items. Blank rows are skipped; a bad cell raises
    :class:`InputError` naming the row (1-based) and column."""
    items: list[PrescriptionItem] = []
    for n, row in enumerate(rows, 1):
        cells = list(row) + [None] * (len(ITEM_FIELDS) - len(row))
        data: dict[str, Any] = {}
        for f, column, value in zip(ITEM_FIELDS, ITEM_COLUMNS, cells, strict=False):
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
