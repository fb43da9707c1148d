"""Batch audit of a whole file: streaming, parallel, resumable, nothing dropped.

The main process reads and groups rows (cheap); worker processes validate,
audit and serialise (the expensive part), each loading the knowledge base once.
Results are written in input order to a JSONL journal, one line per case with
the status of each of its input rows. An interrupted run resumes from the last
complete journal line; the requested report (CSV/Excel/HTML) is rendered from
the journal at the end.
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing as mp
import os
import pickle
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.audit import AuditOptions, audit, error_report
from toolkit.errors import InputError
from toolkit.knowledge import get_knowledge
from toolkit.knowledge.loader import Knowledge
from toolkit.records import AuditReport, Severity

from .readers import MAX_ITEMS, CaseInput, RawUnit, RowRef, build_unit, iter_units

log = logging.getLogger(__name__)

REPORT_FORMATS = ("jsonl", "csv", "xlsx", "html")

MAX_FINDINGS = 500
"""Findings one case may produce; past it the case is an error row naming the limit (``max_findings``)."""


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch. ``workers=0`` uses every core; 1 runs in this process.

    ``audit`` is what every case is audited with (minimum severity, learned reviewer); worker
    processes and Spark executors receive these same options.
    """

    workers: int = 0
    chunk_size: int = 200
    resume: bool = False
    audit: AuditOptions = field(default_factory=AuditOptions)
    rules_dir: str | None = None
    local_rules: str | None = None
    progress: bool = False
    max_items: int = MAX_ITEMS
    max_findings: int = MAX_FINDINGS


STATUSES = ("ok", "flagged", "needs_review", "error")
"""Case and row statuses; ``needs_review`` (需人工审核) is a line the engine could not check."""

UNCHECKED_RULES = frozenset({"RX-FMT-007", "RX-FMT-008"})
"""Findings that say a line was not (fully) checked: drug not covered, dose/days/unit impossible."""


def new_counts() -> dict[str, int]:
    """Rows by status and cases by status (``case_<status>``)."""
    return {
        "cases": 0,
        "rows": 0,
        **dict.fromkeys(STATUSES, 0),
        **{f"case_{s}": 0 for s in STATUSES},
        "max_block": 0,
        "max_warn": 0,
    }


@dataclass(frozen=True)
class BatchSummary:
    """What :func:`run_batch` did: cases and rows by status, cases resumed, wall time and output paths."""

    cases: int
    rows: int
    rows_ok: int
    rows_flagged: int
    rows_error: int
    resumed_cases: int
    seconds: float
    journal: Path
    report: Path
    rows_needs_review: int = 0
    cases_ok: int = 0
    cases_flagged: int = 0
    cases_needs_review: int = 0
    cases_error: int = 0
    notes: tuple[str, ...] = ()  # about the file as a whole, e.g. columns no field is mapped to
    cases_max_block: int = 0  # cases whose most severe finding is block (for ``clinic audit --fail-on``)
    cases_max_warn: int = 0

    @property
    def rows_per_second(self) -> float:
        """Rows audited per second of wall time (0.0 for a run that took no measurable time)."""
        return self.rows / self.seconds if self.seconds else 0.0


# --------------------------------------------------------------------------- per case


def row_statuses(unit: CaseInput, report: AuditReport) -> list[dict[str, Any]]:
    """Every input row of a case with its status: error (with reason), flagged, needs_review or ok."""
    hits: set[int | None] = set()
    unchecked: set[int] = set()
    for f in report.findings:
        if f.rule_id in UNCHECKED_RULES:
            unchecked.update(f.items)
        if f.severity is Severity.INFO:
            continue
        if f.items:
            hits.update(f.items)
        else:
            hits.add(None)  # a prescription-level finding flags every row
    # the report may not name the line (its info findings filtered out): then every row needs review
    # and a reappearing 处方号 (notes) leaves every row of this part unchecked against the other part
    anywhere = report.status == "needs_review" and (
        bool(unit.notes) or not (unchecked or any(r.error for r in unit.rows))
    )
    out = []
    for r in unit.rows:
        if r.error or unit.error:
            status, error = "error", r.error or unit.error
        elif None in hits or r.item in hits:
            status, error = "flagged", None
        elif r.item in unchecked or anywhere:
            status, error = "needs_review", None
        else:
            status, error = "ok", None
        out.append({"line": r.line, "drug": r.drug, "item": r.item, "status": status, "error": error})
    return out


def _with_unread_rows(unit: CaseInput, report: AuditReport) -> AuditReport:
    """A case some of whose rows could not be read is never ``ok``: ``needs_review`` when some lines
    were audited, ``error`` when none was (nothing of the prescription was checked)."""
    bad = [r for r in unit.rows if r.error]
    if not bad or report.status == "error":
        return report
    if all(r.error for r in unit.rows):
        return report.model_copy(update={"status": "error", "error": bad[0].error})
    if report.status == "ok":
        return report.model_copy(update={"status": "needs_review"})
    return report


def audit_unit(
    unit: CaseInput, kb: Knowledge, options: AuditOptions, max_findings: int = MAX_FINDINGS
) -> dict[str, Any]:
    """One journal line: the audit contract plus rows, prescriber, department and notes."""
    if unit.case is None:
        report = error_report(unit.id, unit.error or "unreadable", kb)
    else:
        report = _with_unread_rows(unit, audit(unit.case, kb, options))
        if len(report.findings) > max_findings:
            unit.error = (
                f"{len(report.findings)} findings: over the limit of {max_findings} per prescription "
                "(max_findings); review this prescription by hand"
            )
            unit.case = None
            report = error_report(unit.id, unit.error, kb)
        elif unit.notes and report.status == "ok":
            report = report.model_copy(update={"status": "needs_review"})
    line = report.to_json_dict()
    line["rows"] = row_statuses(unit, report)
    line["prescriber"] = unit.prescriber
    line["department"] = unit.department
    if unit.notes:
        line["notes"] = unit.notes
    if unit.remarks:
        line["remarks"] = unit.remarks
    return line


def audit_raw(
    raw: RawUnit,
    kb: Knowledge,
    options: AuditOptions,
    max_items: int = MAX_ITEMS,
    max_findings: int = MAX_FINDINGS,
) -> tuple[dict[str, Any], str]:
    """Build, audit and serialise one unit; never raises: any failure becomes that case's error line.

    Returns the journal line and its JSON text (checked to be writable as UTF-8).
    """
    unit: CaseInput | None = None
    try:
        unit = build_unit(raw, max_items)
        line = audit_unit(unit, kb, options, max_findings)
        text = json.dumps(line, ensure_ascii=False)
        text.encode("utf-8")  # a lone surrogate would only fail when written, and take the batch with it
        return line, text
    except Exception as exc:  # an engine or input bug must not lose the case: report it as an error row
        log.error("audit failed for one case: %s", type(exc).__name__)
        line = _failure_line(raw, unit, exc, kb)
        return line, json.dumps(line, ensure_ascii=False)


def _safe_text(value: Any, limit: int = 200) -> str:
    return str(value)[:limit].encode("utf-8", "replace").decode("utf-8")


def _failure_line(raw: RawUnit, unit: CaseInput | None, exc: Exception, kb: Knowledge) -> dict[str, Any]:
    reason = f"internal error while auditing: {type(exc).__name__}"
    if isinstance(exc, UnicodeEncodeError):
        reason = "text holds a lone surrogate (not valid Unicode)"
    if raw.kind == "rows":
        rx_id, _fields, rows, *_ = raw.payload
        refs = [RowRef(line=n) for n, _values in rows]
    elif raw.kind == "nested":
        n, value = raw.payload
        rx_id = value.get("id") if isinstance(value, dict) else None
        refs = [RowRef(line=n)]
    else:
        rx_id, refs = raw.payload.id, [RowRef(line=r.line) for r in raw.payload.rows]
    case_id = _safe_text(rx_id or (unit.id if unit else "") or f"row-{refs[0].line if refs else 0}", 128)
    msg = f"{raw.file}: {reason}"
    failed = CaseInput(
        id=case_id,
        case=None,
        rows=[RowRef(line=r.line, error=msg) for r in refs] or [RowRef(line=0, error=msg)],
        error=msg,
        prescriber=_safe_text(unit.prescriber) if unit and unit.prescriber else None,
        department=_safe_text(unit.department) if unit and unit.department else None,
    )
    return audit_unit(failed, kb, AuditOptions())


# --------------------------------------------------------------------------- workers

_WORKER: dict[str, Any] = {}


def _init_worker(
    rules_dir: str | None,
    local: str | None,
    options: AuditOptions | bytes,
    max_items: int = MAX_ITEMS,
    max_findings: int = MAX_FINDINGS,
) -> None:
    """Load the knowledge base and the audit options once per worker process.

    A pool worker gets the options pickled (bytes), so it loads a learned reviewer itself (its model
    directory and loader travel, not the parent's ONNX session), forked or spawned alike.
    """
    _WORKER["kb"] = get_knowledge(rules_dir, local)
    _WORKER["options"] = pickle.loads(options) if isinstance(options, bytes) else options
    _WORKER["limits"] = (max_items, max_findings)


def _work(chunk: list[RawUnit]) -> tuple[list[str], dict[str, int]]:
    """Audit a chunk; return its journal lines and the count of rows by status."""
    kb, options = _WORKER["kb"], _WORKER["options"]
    max_items, max_findings = _WORKER.get("limits", (MAX_ITEMS, MAX_FINDINGS))
    out = []
    counts = new_counts()
    for raw in chunk:
        line, text = audit_raw(raw, kb, options, max_items, max_findings)
        out.append(text)
        _count(counts, line)
    return out, counts


def _count(counts: dict[str, int], line: dict[str, Any]) -> None:
    counts["cases"] += 1
    counts[f"case_{line['status']}"] += 1
    if line.get("max_severity") in ("block", "warn"):
        counts[f"max_{line['max_severity']}"] += 1
    for r in line["rows"]:
        counts["rows"] += 1
        counts[r["status"]] += 1


def _chunks(units: Iterable[RawUnit], size: int) -> Iterator[list[RawUnit]]:
    it = iter(units)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


# --------------------------------------------------------------------------- journal and resume


def _complete_lines(journal: Path) -> int:
    """Count complete journal lines and cut a torn last line left by a killed run."""
    if not journal.exists():
        return 0
    good_bytes = 0
    count = 0
    with journal.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                json.loads(raw)
            except ValueError:
                break
            good_bytes += len(raw)
            count += 1
    if good_bytes != journal.stat().st_size:
        with journal.open("r+b") as fh:
            fh.truncate(good_bytes)
    return count


def _count_lines(path: Path) -> int | None:
    if path.suffix.lower() not in {".csv", ".tsv", ".jsonl", ".ndjson"}:
        return None
    n = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
    return max(n - 1, 0) if path.suffix.lower() in {".csv", ".tsv"} else n  # a table's header is no row


def journal_path(output: Path, fmt: str) -> Path:
    """The journal of an output: the output itself for jsonl, else ``<output>.journal.jsonl`` beside it."""
    return output if fmt == "jsonl" else output.with_name(output.name + ".journal.jsonl")


def run_batch(
    input_path: str | Path,
    output: str | Path,
    fmt: str = "jsonl",
    columns: dict[str, str] | None = None,
    options: BatchOptions | None = None,
) -> BatchSummary:
    """Audit every case of ``input_path`` and write the report ``output`` in ``fmt``.

    Every input row comes back with a status. With ``options.resume`` an interrupted run
    continues after the last complete journal line, without duplicating output.
    """
    options = options or BatchOptions()
    if fmt not in REPORT_FORMATS:
        raise InputError(f"unknown report format '{fmt}'; allowed: {', '.join(REPORT_FORMATS)}")
    src, output = Path(input_path), Path(output)
    if not src.is_file():
        raise InputError("file not found", file=str(src))
    kb = get_knowledge(options.rules_dir, options.local_rules)  # fail fast on a broken KB
    journal = journal_path(output, fmt)
    done = _complete_lines(journal) if options.resume else 0
    if not options.resume and journal.exists():
        journal.unlink()
    stats = summarize_journal(journal) if done else new_counts()
    file_notes: list[str] = []
    units = iter_units(src, columns, max_items=options.max_items, notes=file_notes)
    if done:
        units = itertools.islice(units, done, None)
        log.info("resuming after %d completed cases", done)
    workers = options.workers or os.cpu_count() or 1
    start = time.perf_counter()
    total_lines = _count_lines(src)
    progress = _progress(options.progress, total_lines, "审方")
    with journal.open("a", encoding="utf-8") as out:
        if workers == 1:
            _init_worker(
                options.rules_dir, options.local_rules, options.audit, options.max_items, options.max_findings
            )
            results: Iterable[tuple[list[str], dict[str, int]]] = map(
                _work, _chunks(units, options.chunk_size)
            )
            pool = None
        else:
            ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
            pool = ctx.Pool(
                workers,
                initializer=_init_worker,
                initargs=(
                    options.rules_dir,
                    options.local_rules,
                    pickle.dumps(options.audit),
                    options.max_items,
                    options.max_findings,
                ),
            )
            # ordered imap keeps the journal in input order, which is what makes resume exact
            results = pool.imap(_work, _chunks(units, options.chunk_size))
        try:
            for lines, counts in results:
                out.write("\n".join(lines) + "\n")
                for k, v in counts.items():
                    stats[k] += v
                if progress:
                    progress.advance(counts["rows"])
        finally:
            if pool is not None:
                pool.terminate()
            if progress:
                progress.stop()
    seconds = time.perf_counter() - start
    report = output
    if fmt != "jsonl":
        from .report import write_report

        writing = _progress(options.progress, stats["rows"], "写报告")
        try:
            write_report(
                journal, output, fmt, kb, notes=file_notes, progress=writing.advance if writing else None
            )
        finally:
            if writing:
                writing.stop()
        journal.unlink()
    return BatchSummary(
        cases=stats["cases"],
        rows=stats["rows"],
        rows_ok=stats["ok"],
        rows_flagged=stats["flagged"],
        rows_error=stats["error"],
        resumed_cases=done,
        seconds=seconds,
        journal=journal,
        report=report,
        rows_needs_review=stats["needs_review"],
        cases_ok=stats["case_ok"],
        cases_flagged=stats["case_flagged"],
        cases_needs_review=stats["case_needs_review"],
        cases_error=stats["case_error"],
        notes=tuple(file_notes),
        cases_max_block=stats["max_block"],
        cases_max_warn=stats["max_warn"],
    )


def summarize_journal(journal: Path) -> dict[str, int]:
    """Row and case counts by status (:func:`new_counts`) over a journal file."""
    counts = new_counts()
    with journal.open(encoding="utf-8") as fh:
        for line in fh:
            _count(counts, json.loads(line))
    return counts


class _Progress:
    """A progress bar on stderr (never on stdout, which may carry the report)."""

    def __init__(self, total: int | None, label: str = "审方"):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=False,
            console=Console(stderr=True),
        )
        self._task = self._p.add_task("rows", total=total)
        self._p.start()

    def advance(self, n: int) -> None:
        self._p.advance(self._task, n)

    def stop(self) -> None:
        # the line count was an estimate (header, blank lines, quoted line breaks): end at 100 % of what was done
        task = self._p.tasks[0]
        self._p.update(self._task, total=task.completed)
        self._p.stop()


def _progress(enabled: bool, total: int | None, label: str = "审方") -> _Progress | None:
    return _Progress(total, label) if enabled else None
