"""``clinic audit`` and ``clinic rules``: thin shells over toolkit.batch and toolkit.knowledge."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import typer

from toolkit.errors import ToolkitError
from toolkit.records import Severity


def example_file() -> Path:
    """The bundled example prescriptions (the README's first command audits them)."""
    return Path(str(resources.files("toolkit") / "examples" / "cases.jsonl"))


def _fail(exc: Exception) -> None:
    typer.secho(f"错误: {exc}", fg="red", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    rules_app = typer.Typer(help="知识库: 校验规则文件。", no_args_is_help=True)
    app.add_typer(rules_app, name="rules")

    @app.command("audit")
    def audit_cmd(
        file: Path | None = typer.Argument(None, help="JSONL/JSON/CSV/Excel/Parquet; default: bundled example"),
        output: Path | None = typer.Option(None, "-o", "--output", help="report file; format from its suffix"),
        fmt: str | None = typer.Option(None, "--format", "-f", help="jsonl | csv | xlsx | html | table"),
        columns: Path | None = typer.Option(None, "--columns", help="YAML map {source column: field}"),
        local: Path | None = typer.Option(None, "--local", help="institution rule overrides (YAML)"),
        rules_dir: Path | None = typer.Option(None, "--rules", help="knowledge-base directory"),
        workers: int = typer.Option(0, "--workers", "-j", help="processes; 0 = all cores"),
        resume: bool = typer.Option(False, "--resume", help="continue an interrupted run"),
        min_severity: Severity = typer.Option(Severity.INFO, "--min-severity"),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
        with_model: bool = typer.Option(False, "--with-model", help="add the learned reviewer (source: model)"),
        model: Path | None = typer.Option(None, "--model", help="reviewer model directory (implies --with-model)"),
        engine: str = typer.Option("local", "--engine", help="local (processes) | spark"),
        master: str = typer.Option("local[*]", "--master", help="Spark master URL (with --engine spark)"),
        table: str | None = typer.Option(None, "--table", help="Hive/catalog table to audit (--engine spark)"),
    ) -> None:
        """审核处方：每个输入病例输出一行 {id, status, findings, error}。"""
        import os

        from toolkit.batch import BatchOptions, load_column_map, run_batch

        if with_model or model:
            from toolkit.audit.reviewer import ENV_MODEL, default_model_dir

            # through the environment, so batch worker processes build the same AuditOptions
            chosen = model or default_model_dir()
            if chosen is None:
                _fail(ToolkitError("no reviewer model: pass --model DIR or train one with `clinic train-reviewer`"))
            os.environ[ENV_MODEL] = str(Path(chosen).resolve())

        if engine == "spark":
            _spark(file, table, output, fmt, columns, local, rules_dir, min_severity, master)
            return
        if engine != "local":
            _fail(ToolkitError(f"unknown engine '{engine}'; allowed: local, spark"))
        src = file or example_file()
        fmt = fmt or (_suffix_format(output) if output else "table")
        try:
            colmap = load_column_map(columns)
            if fmt in {"table", "jsonl"} and output is None:
                _to_terminal(src, fmt, colmap, local, rules_dir, min_severity)
                return
            if output is None:
                raise ToolkitError(f"--format {fmt} needs -o FILE")
            options = BatchOptions(workers=workers, resume=resume, min_severity=min_severity,
                                   rules_dir=str(rules_dir) if rules_dir else None,
                                   local_rules=str(local) if local else None,
                                   progress=progress and sys.stderr.isatty())
            summary = run_batch(src, output, fmt, colmap, options)
        except ToolkitError as exc:
            _fail(exc)
            return
        typer.echo(f"{summary.cases} 张处方 / {summary.rows} 行：通过 {summary.rows_ok}，需干预 "
                   f"{summary.rows_flagged}，错误 {summary.rows_error}；{summary.rows_per_second:,.0f} 行/秒"
                   f" → {summary.report}", err=True)

    @rules_app.command("validate")
    def validate_cmd(
        rules_dir: Path | None = typer.Argument(None, help="knowledge-base directory; default: shipped"),
        local: Path | None = typer.Option(None, "--local", help="institution overrides to check as well"),
    ) -> None:
        """校验知识库与本院规则文件，报告所有错误（文件 → 条目 → 字段）。"""
        from toolkit.knowledge import load_knowledge

        try:
            kb = load_knowledge(rules_dir, local)
        except ToolkitError as exc:
            _fail(exc)
            return
        n_rules = (len(kb.interactions) + len(kb.contraindications) + len(kb.cross_reactivity)
                   + len(kb.duplicate_groups) + len(kb.indications) + len(kb.checks))
        typer.echo(f"知识库 {kb.version}: {len(kb.drugs)} 种药品, {len(kb.classes)} 个药物类别, {n_rules} 条规则"
                   + (f"; 本院规则: {kb.local_rules}" if kb.local_rules else ""))
        care_dir = (rules_dir / "care") if rules_dir else None
        if care_dir is None or care_dir.is_dir():
            from toolkit.care import load_care_rules

            try:
                care = load_care_rules(care_dir)
            except ToolkitError as exc:
                _fail(exc)
                return
            typer.echo(f"慢病管理规则 {care.version}: {len(care.rule_ids())} 条")


def _spark(file: Path | None, table: str | None, output: Path | None, fmt: str | None, columns: Path | None,
           local: Path | None, rules_dir: Path | None, min_severity: Severity, master: str) -> None:
    """``--engine spark``: OUTPUT is a directory (rows.parquet, and report.<fmt> unless fmt is parquet)."""
    from toolkit.batch import BatchOptions, load_column_map
    from toolkit.batch.spark import run_spark

    try:
        if output is None:
            raise ToolkitError("--engine spark needs -o DIR (rows.parquet and the report are written there)")
        if file is None and table is None:
            raise ToolkitError("--engine spark needs FILE or --table NAME")
        options = BatchOptions(min_severity=min_severity, rules_dir=str(rules_dir) if rules_dir else None,
                               local_rules=str(local) if local else None)
        summary = run_spark(file, output, fmt or "parquet", load_column_map(columns), options, master=master,
                            table=table)
    except ToolkitError as exc:
        _fail(exc)
        return
    typer.echo(f"{summary.cases} 张处方 / {summary.rows} 行：通过 {summary.rows_ok}，需干预 {summary.rows_flagged}，"
               f"错误 {summary.rows_error}；{summary.rows_per_second:,.0f} 行/秒 → {summary.parquet}"
               + (f", {summary.report}" if summary.report else ""), err=True)


def _suffix_format(path: Path) -> str:
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".xlsx": "xlsx", ".html": "html",
            ".htm": "html"}.get(path.suffix.lower(), "jsonl")


def _to_terminal(src: Path, fmt: str, colmap: dict[str, str], local: Path | None, rules_dir: Path | None,
                 min_severity: Severity) -> None:
    """Audit in this process and print: JSON lines, or a table a pharmacist can read."""
    import json

    from rich.console import Console
    from rich.table import Table

    from toolkit.audit import AuditOptions
    from toolkit.batch.readers import iter_cases
    from toolkit.batch.runner import audit_unit
    from toolkit.knowledge import get_knowledge

    kb = get_knowledge(str(rules_dir) if rules_dir else None, str(local) if local else None)
    options = AuditOptions(min_severity=min_severity)
    console = Console()
    colours = {"block": "red", "warn": "yellow", "info": "cyan"}
    for unit in iter_cases(src, colmap):
        line = audit_unit(unit, kb, options)
        if fmt == "jsonl":
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            continue
        status = {"ok": "[green]通过[/]", "flagged": "[red]需干预[/]", "error": "[red]错误[/]"}[line["status"]]
        if not line["findings"] and not line["error"]:
            console.print(f"{line['id']}  {status}  未发现问题")
            continue
        table = Table(title=f"{line['id']}  {status}", title_justify="left", show_lines=False)
        table.add_column("级别")
        table.add_column("规则")
        table.add_column("问题")
        table.add_column("依据", overflow="fold", max_width=40)
        if line["error"]:
            table.add_row("[red]error[/]", "", line["error"], "")
        for f in line["findings"]:
            c = colours[f["severity"]]
            table.add_row(f"[{c}]{f['severity']}[/]", f["rule_id"], f["message"], f["references"][0])
        console.print(table)
    console.print(f"[dim]知识库 {kb.version}[/]")
