"""``clinic visit``: dictation (audio or text) → record, prescription, audit and care plan, per file.

A thin shell over :func:`toolkit.visit.visit`. The contract, one JSON object per input (JSONL)::

    {"id": ..., "file": ..., "status": "ok" | "flagged" | "needs_review" | "error",
     "visit": {...Visit.contract()...} | null, "error": null | "message"}

Every input gets exactly one line, in input order; a bad input never aborts the run. stdout carries
only the format; messages go to stderr. spaCy, Whisper and the audit are imported inside the command.
"""

from __future__ import annotations

import functools
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer


class OutputFormat(StrEnum):
    """``--format`` of ``clinic visit``: one JSON line per input, or one indented JSON array."""

    jsonl = "jsonl"
    json = "json"


def _inputs(path: Path) -> list[tuple[str, dict[str, Any], str | None]]:
    """(id, keyword arguments of visit(), error) per input of ``path``: an audio file, a text file, or a
    .jsonl file of {"id", "text"} (one dictation a line)."""
    from toolkit.visit import AUDIO_SUFFIXES, _read_text

    suffix = path.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        if not path.is_file():
            return [(path.stem, {}, f"file not found: {path}")]
        return [(path.stem, {"audio": path}, None)]
    try:
        content = _read_text(path)
    except Exception as exc:  # InputError: unreadable
        return [(path.stem, {}, str(exc))]
    if suffix != ".jsonl":
        return [(path.stem, {"text": content}, None)]
    out: list[tuple[str, dict[str, Any], str | None]] = []
    for i, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            out.append((f"{path.stem}-{i}", {}, f"line {i}: not valid JSON"))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            out.append((f"{path.stem}-{i}", {}, f"line {i}: expected an object with a string field 'text'"))
            continue
        header = obj.get("header") if isinstance(obj.get("header"), dict) else None
        out.append((str(obj.get("id", f"{path.stem}-{i}")), {"text": obj["text"], "header": header}, None))
    return out


@functools.cache
def _asr_options(cache: Path) -> Any:
    """Speech options whose model is the packaged one joined under ``cache`` (``--cache-dir`` /
    ``CLINIC_CACHE``), passed down explicitly: the library reads no environment variable."""
    from toolkit.asr import TranscribeOptions
    from toolkit.asr.model import DEFAULT_MODEL, cache_dir, packaged_model_dir

    return TranscribeOptions(model=str(packaged_model_dir(cache_dir(cache) / DEFAULT_MODEL)))


def _result(ident: str, file: str, kwargs: dict[str, Any], error: str | None) -> dict[str, Any]:
    """One output line; never raises."""
    from toolkit.errors import ToolkitError
    from toolkit.visit import visit

    if error is not None:
        return {"id": ident, "file": file, "status": "error", "visit": None, "error": error}
    try:
        v = visit(id=ident, **kwargs)
    except ToolkitError as exc:
        return {"id": ident, "file": file, "status": "error", "visit": None, "error": str(exc)}
    except Exception as exc:  # one bad input must not abort the run
        return {
            "id": ident,
            "file": file,
            "status": "error",
            "visit": None,
            "error": f"internal error: {type(exc).__name__}",
        }
    return {"id": ident, "file": file, "status": v.report.status, "visit": v.contract(), "error": None}


def visit_command(
    files: list[Path] = typer.Argument(
        ...,
        metavar="文件",
        help='音频文件（.wav .mp3 等）、文本文件（.txt，一段口述）或 .jsonl 文件（每行 {"id", "text"}）',
    ),
    fmt: OutputFormat = typer.Option(
        OutputFormat.jsonl,
        "--format",
        "-f",
        metavar="格式",
        help="jsonl：每个输入一行；json：一个缩进排版的数组",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="文件", help="写入此文件（默认：标准输出）"
    ),
    cache: Path | None = typer.Option(
        None,
        "--cache-dir",
        envvar="CLINIC_CACHE",
        metavar="目录",
        help="随包语音模型首次拼合后存放的目录（默认：~/.cache/clinic-toolkit）",
    ),
) -> None:
    """一次口述就诊 → 病历草稿、处方行、处方前置审核与慢病管理计划，每条问题和处方行都指回原话
    （音频还指回秒数）。每个输入一条结果；出错的输入单独记 error。"""
    from toolkit.errors import ToolkitError

    out = output.open("w", encoding="utf-8") if output else sys.stdout
    failed = total = 0
    statuses: list[str] = []
    results: list[dict[str, Any]] = []
    try:
        for path in files:
            for ident, kwargs, error in _inputs(path):
                total += 1
                if cache is not None and "audio" in kwargs and error is None:
                    try:
                        kwargs["asr_options"] = _asr_options(cache)
                    except ToolkitError as exc:  # the packaged model could not be joined there
                        error = str(exc)
                result = _result(ident, str(path), kwargs, error)
                failed += result["status"] == "error"
                statuses.append(result["status"])
                if fmt is OutputFormat.jsonl:
                    try:
                        line = json.dumps(result, ensure_ascii=False)
                        line.encode("utf-8")
                    except UnicodeEncodeError:
                        line = json.dumps(
                            {
                                "id": ident.encode("utf-8", "replace").decode("utf-8"),
                                "file": str(path),
                                "status": "error",
                                "visit": None,
                                "error": "text or id holds a lone surrogate",
                            },
                            ensure_ascii=False,
                        )
                    out.write(line + "\n")
                    out.flush()
                else:
                    results.append(result)
        if fmt is OutputFormat.json:
            out.write(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    finally:
        if output:
            out.close()
    typer.echo(_summary(total, statuses), err=True)
    if total and failed == total:
        raise typer.Exit(code=1)


def _summary(total: int, statuses: list[str]) -> str:
    """``已处理 3 个输入：通过 1，需干预 1，无法审核 1（见 error 字段）`` (stderr)."""
    from toolkit.labels import STATUS_LABELS

    counts = {s: statuses.count(s) for s in STATUS_LABELS if statuses.count(s)}
    parts = "，".join(f"{STATUS_LABELS[s]} {n}" for s, n in counts.items())
    tail = "（出错的输入见 error 字段）" if counts.get("error") else ""
    return f"已处理 {total} 个输入" + (f"：{parts}" if parts else "") + tail


def register(app: typer.Typer) -> None:
    """Add ``visit`` to the ``clinic`` app."""
    app.command("visit")(visit_command)
