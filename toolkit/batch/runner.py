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
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.audit import AuditOptions, audit, error_report
from toolkit.errors import InputError
from toolkit.knowledge import get_knowledge
from toolkit.knowledge.loader import Knowledge
from toolkit.records import AuditReport, Severity

from .readers import CaseInput, RawUnit, build_unit, iter_units

log = logging.getLogger(__name__)

REPORT_FORMATS = ("jsonl", "csv", "xlsx", "html")


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch. ``workers=0`` uses every core; 1 runs in this process."""

    workers: int = 0
    chunk_size: int = 200
    resume: bool = False
    min_severity: Severity = Severity.INFO
    rules_dir: str | None = None
    local_rules: str | None = None
    progress: bool = False


@dataclass(frozen=True)
class BatchSummary:
    cases: int
    rows: int
    rows_ok: int
    rows_flagged: int
    rows_error: int
    resumed_cases: int
    seconds: float
    journal: Path
    report: Path

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# --------------------------------------------------------------------------- per case

def row_statuses(unit: CaseInput, report: AuditReport) -> list[dict[str, Any]]:
    """Every input row of a case with its status: error (with reason), flagged or ok."""
    hits: set[int | None] = set()
    for f in report.findings:
        if f.severity is Severity.INFO:
            continue
        if f.items:
            hits.update(f.items)
        else:
            hits.add(None)  # a prescription-level finding flags every row
    out = []
    for r in unit.rows:
        if r.error or unit.error:
            status, error = "error", r.error or unit.error
        elif None in hits or r.item in hits:
            status, error = "flagged", None
        else:
            status, error = "ok", None
        out.append({"line": r.line, "drug": r.drug, "item": r.item, "status": status, "error": error})
    return out


def audit_unit(unit: CaseInput, kb: Knowledge, options: AuditOptions) -> dict[str, Any]:
    """One journal line: the audit contract plus rows, prescriber and department."""
    if unit.case is None:
        report = error_report(unit.id, unit.error or "unreadable", kb)
    else:
        report = audit(unit.case, kb, options)
    line = report.to_json_dict()
    line["rows"] = row_statuses(unit, report)
    line["prescriber"] = unit.prescriber
    line["department"] = unit.department
    return line


# --------------------------------------------------------------------------- workers

_WORKER: dict[str, Any] = {}


def _init_worker(rules_dir: str | None, local: str | None, min_severity: str) -> None:
    _WORKER["kb"] = get_knowledge(rules_dir, local)
    _WORKER["options"] = AuditOptions(min_severity=Severity(min_severity))


def _work(chunk: list[RawUnit]) -> tuple[list[str], dict[str, int]]:
    """Audit a chunk; return its journal lines and the count of rows by status."""
    kb, options = _WORKER["kb"], _WORKER["options"]
    out = []
    counts = {"cases": 0, "rows": 0, "ok": 0, "flagged": 0, "error": 0}
    for raw in chunk:
        unit = build_unit(raw)
        try:
            line = audit_unit(unit, kb, options)
        except Exception as exc:  # an engine bug must not lose the case: report it as an error row
            log.exception("audit failed for one case")
            unit.error = f"internal error while auditing: {type(exc).__name__}: {exc}"
            line = audit_unit(CaseInput(id=unit.id, case=None, rows=unit.rows, error=unit.error,
                                        prescriber=unit.prescriber, department=unit.department), kb, options)
        out.append(json.dumps(line, ensure_ascii=False))
        counts["cases"] += 1
        for r in line["rows"]:
            counts["rows"] += 1
            counts[r["status"]] += 1
    return out, counts


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
    return n


def journal_path(output: Path, fmt: str) -> Path:
    return output if fmt == "jsonl" else output.with_name(output.name + ".journal.jsonl")


def run_batch(input_path: str | Path, output: str | Path, fmt: str = "jsonl",
              columns: dict[str, str] | None = None, options: BatchOptions | None = None) -> BatchSummary:
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
    stats = summarize_journal(journal) if done else {"cases": 0, "rows": 0, "ok": 0, "flagged": 0, "error": 0}
    units = iter_units(src, columns)
    if done:
        units = itertools.islice(units, done, None)
        log.info("resuming after %d completed cases", done)
    workers = options.workers or os.cpu_count() or 1
    start = time.perf_counter()
    total_lines = _count_lines(src)
    progress = _progress(options.progress, total_lines)
    with journal.open("a", encoding="utf-8") as out:
        if workers == 1:
            _init_worker(options.rules_dir, options.local_rules, options.min_severity.value)
            results: Iterable[tuple[list[str], dict[str, int]]] = map(_work, _chunks(units, options.chunk_size))
            pool = None
        else:
            ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
            pool = ctx.Pool(workers, initializer=_init_worker,
                            initargs=(options.rules_dir, options.local_rules, options.min_severity.value))
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

        write_report(journal, output, fmt, kb)
        journal.unlink()
    return BatchSummary(cases=stats["cases"], rows=stats["rows"], rows_ok=stats["ok"],
                        rows_flagged=stats["flagged"], rows_error=stats["error"], resumed_cases=done,
                        seconds=seconds, journal=journal, report=report)


def summarize_journal(journal: Path) -> dict[str, int]:
    counts = {"cases": 0, "rows": 0, "ok": 0, "flagged": 0, "error": 0}
    with journal.open(encoding="utf-8") as fh:
        for line in fh:
            data = json.loads(line)
            counts["cases"] += 1
            for r in data["rows"]:
                counts["rows"] += 1
                counts[r["status"]] += 1
    return counts


class _Progress:
    def __init__(self, total: int | None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(TextColumn("审方"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           transient=False)
        self._task = self._p.add_task("rows", total=total)
        self._p.start()

    def advance(self, n: int) -> None:
        self._p.advance(self._task, n)

    def stop(self) -> None:
        self._p.stop()


def _progress(enabled: bool, total: int | None) -> _Progress | None:
    return _Progress(total) if enabled else None
