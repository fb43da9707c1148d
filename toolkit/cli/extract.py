"""``clinic extract`` and ``clinic eval extract``: thin shells over :mod:`toolkit.extract`.

spaCy and the extractor are imported inside the commands so ``clinic --help`` stays fast.
"""

from __future__ import annotations

import json
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer


class OutputFormat(StrEnum):
    """``--format`` of ``clinic extract``: a JSON line per input, the same indented, or a FHIR Bundle each."""

    jsonl = "jsonl"
    json = "json"
    fhir = "fhir"


def _inputs(path: Path) -> list[tuple[str, str | None, str | None]]:
    """(id, text, error) per input: a .jsonl file of {"id", "text"}, or one plain text file."""
    from toolkit.errors import InputError

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    for enc in ("utf-8-sig", "gb18030"):
        try:
            content = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes almost anything
        raise InputError("not UTF-8 or GBK text", file=str(path))
    if path.suffix.lower() != ".jsonl":
        return [(path.stem, content, None)]
    out: list[tuple[str, str | None, str | None]] = []
    for i, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append((f"line-{i}", None, f"line {i}: not valid JSON ({exc.msg})"))
            continue
        except RecursionError:
            out.append((f"line-{i}", None, f"line {i}: JSON nested too deeply"))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            ident = str(obj.get("id", f"line-{i}")) if isinstance(obj, dict) else f"line-{i}"
            out.append((ident, None, f"line {i}: expected an object with a string field 'text'"))
            continue
        out.append((str(obj.get("id", f"line-{i}")), obj["text"], None))
    return out


MAX_TEXT_CHARS = 50_000
"""Longest dictation extracted (a long outpatient note is a few thousand characters)."""
MAX_NUMBER_DIGITS = 64
"""Longest run of digits read; extraction time grows with the square of a run's length."""
_DIGIT_RUN = re.compile(rf"\d{{{MAX_NUMBER_DIGITS + 1},}}")


def _too_big(text: str) -> str | None:
    if len(text) > MAX_TEXT_CHARS:
        return f"text of {len(text)} characters: over the limit of {MAX_TEXT_CHARS}"
    m = _DIGIT_RUN.search(text)
    if m:
        return f"a number of {len(m.group())} digits at offset {m.start()}: over the limit of {MAX_NUMBER_DIGITS}"
    return None


def _result(ident: str, text: str | None, error: str | None, fmt: OutputFormat) -> dict[str, Any]:
    """One output line; never raises (any failure is this input's ``error``)."""
    from toolkit.errors import ToolkitError
    from toolkit.extract import extract

    if error is None and text is not None:
        error = _too_big(text)
    if error is not None or text is None:
        return {"id": ident, "record": None, "entities": [], "error": error}
    try:
        rec = extract(text)
    except ToolkitError as exc:
        return {"id": ident, "record": None, "entities": [], "error": str(exc)}
    except Exception as exc:  # one bad input must not abort the run
        return {"id": ident, "record": None, "entities": [], "error": f"internal error: {type(exc).__name__}"}
    if fmt is OutputFormat.fhir:
        return {"id": ident, "bundle": rec.to_fhir(patient_id=ident, encounter_id=ident), "error": None}
    return {
        "id": ident,
        "record": rec.contract_dict(),
        "entities": [e.contract_dict() for e in rec.entities],
        "error": None,
    }


def extract_command(
    file: Path = typer.Argument(
        ..., metavar="文件", help='文本文件（.txt，一段口述）或 .jsonl 文件（每行 {"id", "text"}）'
    ),
    fmt: OutputFormat = typer.Option(
        OutputFormat.jsonl,
        "--format",
        "-f",
        metavar="格式",
        help="jsonl：每个输入一行；json：缩进排版；fhir：每个输入一个 FHIR R4B Bundle",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="文件", help="写入此文件（默认：标准输出）"
    ),
) -> None:
    """病历结构化：口述门诊记录 → 分段、实体（含位置）、生命体征、检验、诊断（ICD-10）、过敏与处方行；
    每个输入一行输出，无法处理时填 error。"""
    from toolkit.cli._zh import error_message
    from toolkit.errors import ToolkitError

    try:
        inputs = _inputs(file)
    except ToolkitError as exc:
        typer.secho(f"错误: {error_message(exc)}", fg="red", err=True)
        raise typer.Exit(3) from exc  # input error (README: exit codes)
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    failed = 0
    try:
        for ident, text, error in inputs:
            result = _result(ident, text, error, fmt)
            line = json.dumps(result, ensure_ascii=False, indent=2 if fmt is OutputFormat.json else None)
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate (\ud800 …) in the id or text: not writable
                safe_id = ident.encode("utf-8", "replace").decode("utf-8")
                line = json.dumps(
                    {
                        "id": safe_id,
                        "record": None,
                        "entities": [],
                        "error": "text or id holds a lone surrogate (not valid Unicode)",
                    },
                    ensure_ascii=False,
                )
                result["error"] = "surrogate"
            failed += result["error"] is not None
            out.write(line + "\n")
    finally:
        if output:
            out.close()
    if failed:
        typer.echo(f"{len(inputs)} 个输入中 {failed} 个出错（见 error 字段）", err=True)


def eval_extract_command(
    gold: Path | None = typer.Option(
        None, "--gold", metavar="文件", help="金标准 JSONL；默认 eval/data/extract_gold.jsonl"
    ),
    shared: Path | None = typer.Option(
        Path("../shared/data/ner"),
        "--shared",
        metavar="目录",
        help="含 ccks2019_yidu/ 与 chineseblue/ 的目录（不存在时跳过）",
    ),
    limit: int | None = typer.Option(None, "--limit", metavar="数量", help="每个外部语料最多评估的文档数"),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="文件", help="完整报告写入此 JSON 文件"
    ),
) -> None:
    """病历结构化评估：金标准集上各标签严格 span F1 与处方行字段；有数据时加 CCKS 2019 dev 与
    cMedQANER test 的药品/疾病 F1。"""
    from toolkit.cli._zh import error_message
    from toolkit.errors import ToolkitError
    from toolkit.evaluation.data import eval_data
    from toolkit.evaluation.extract import GOLD_NAME, evaluate_extract, format_table

    try:
        gold = gold or eval_data(GOLD_NAME, must_exist=False)
        report = evaluate_extract(gold, shared, external_limit=limit)
    except ToolkitError as exc:
        typer.secho(f"错误: {error_message(exc)}", fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(format_table(report))
    if output:
        output.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Add ``extract`` to the ``clinic`` app."""
    app.command("extract")(extract_command)


def register_eval(eval_app: typer.Typer) -> None:
    """Add ``clinic eval extract``."""
    eval_app.command("extract")(eval_extract_command)
