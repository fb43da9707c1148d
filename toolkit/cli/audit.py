"""``clinic audit`` and ``clinic rules``: thin shells over toolkit.batch and toolkit.knowledge."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import typer

from toolkit.errors import ToolkitError
from toolkit.labels import SEVERITY_LABELS, STATUS_LABELS, category_label, error_text
from toolkit.records import Severity

if TYPE_CHECKING:
    from toolkit.audit import AuditOptions


def example_file() -> Path:
    """The bundled example prescriptions (the README's first command audits them)."""
    return Path(str(resources.files("toolkit") / "examples" / "cases.jsonl"))


EXIT_OK = 0
"""Every case audited (and, with ``--fail-on``, none at or above that level)."""
EXIT_FINDINGS = 1
"""``--fail-on warn|block``: at least one case has a finding at that level or above."""
EXIT_USAGE = 2
"""Usage error: an unknown option or value, a report suffix with no format, a missing ``-o``."""
EXIT_INPUT = 3
"""Input error: a file (or the knowledge base, or the column map) that cannot be read as a whole.
A single unreadable row is not an input error: it is an error row in the report."""

REPORT_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".html": "html",
    ".htm": "html",
}


class UsageError(ToolkitError):
    """The command line asks for something the command cannot do (exit code 2)."""


def _fail(exc: Exception, code: int | None = None) -> None:
    """Print the error in Chinese on stderr and exit: 2 for usage errors, 3 for input errors."""
    typer.secho(f"错误: {error_text(str(exc))}", fg="red", err=True)
    raise typer.Exit(code if code is not None else EXIT_USAGE if isinstance(exc, UsageError) else EXIT_INPUT)


def _fail_on_code(threshold: str | None, blocks: int, warns: int) -> int:
    if threshold is None:
        return EXIT_OK
    hits = blocks if threshold == "block" else blocks + warns
    if hits:
        level = SEVERITY_LABELS[Severity(threshold)]
        typer.secho(
            f"{hits} 张处方有“{level}”及以上级别的问题（--fail-on {threshold}）", fg="yellow", err=True
        )
        return EXIT_FINDINGS
    return EXIT_OK


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command and the ``rules`` group (``rules validate``) to ``app``."""
    rules_app = typer.Typer(help="知识库：校验规则文件。", no_args_is_help=True)
    app.add_typer(rules_app, name="rules")

    @app.command("audit")
    def audit_cmd(
        file: Path | None = typer.Argument(
            None,
            metavar="文件",
            help="处方文件 JSONL/JSON/CSV/Excel/Parquet；- 从标准输入读 JSONL 或 CSV；缺省：内置示例",
        ),
        output: Path | None = typer.Option(
            None, "-o", "--output", metavar="文件", help="报告文件，格式由后缀决定（.jsonl .csv .xlsx .html）"
        ),
        fmt: str | None = typer.Option(
            None, "--format", "-f", metavar="格式", help="jsonl | csv | xlsx | html | table（终端表格）"
        ),
        columns: Path | None = typer.Option(
            None, "--columns", metavar="文件", help="列名映射 YAML {源列名: 字段}"
        ),
        local: Path | None = typer.Option(None, "--local", metavar="文件", help="本院规则覆盖（YAML）"),
        rules_dir: Path | None = typer.Option(None, "--rules", metavar="目录", help="知识库目录"),
        workers: int = typer.Option(
            0, "--workers", "-j", metavar="进程数", help="并行进程数；0 = 全部 CPU 核"
        ),
        resume: bool = typer.Option(False, "--resume", help="接着上次中断的位置继续"),
        min_severity: Severity = typer.Option(
            Severity.INFO,
            "--min-severity",
            metavar="级别",
            help="只输出该级别及以上的问题：info | warn | block",
        ),
        fail_on: str | None = typer.Option(
            None,
            "--fail-on",
            metavar="级别",
            help="有该级别及以上问题时退出码为 1：warn | block（供 CI/脚本使用）",
        ),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="在标准错误输出显示进度"),
        with_model: bool = typer.Option(
            False, "--with-model", help="加上机器学习审方助手（其结果的来源标记为 `model`）"
        ),
        model: Path | None = typer.Option(
            None, "--model", metavar="目录", help="审方助手模型目录（隐含 --with-model）"
        ),
        engine: str = typer.Option("local", "--engine", metavar="引擎", help="local（本机多进程）| spark"),
        master: str = typer.Option(
            "local[*]", "--master", metavar="地址", help="Spark master URL（--engine spark）"
        ),
        table: str | None = typer.Option(
            None, "--table", metavar="表名", help="要审核的 Hive/目录表（--engine spark）"
        ),
        max_items: int = typer.Option(
            100, "--max-items", min=1, metavar="行数", help="每张处方最多药品行数；超过则整张处方记为错误行"
        ),
        max_findings: int = typer.Option(
            500, "--max-findings", min=1, metavar="条数", help="每张处方最多问题条数；超过则记为错误行"
        ),
    ) -> None:
        """审核处方：每个输入病例输出一行 {id, status, findings, error}。

        退出码：0 完成；1 有 --fail-on 级别的问题；2 用法错误；3 输入错误（文件、知识库或列名映射无法读取）。
        """
        from toolkit.audit import AuditOptions
        from toolkit.batch import BatchOptions, load_column_map, run_batch

        if fail_on is not None and fail_on not in ("warn", "block"):
            _fail(UsageError(f"--fail-on 只能是 warn 或 block，而不是 '{fail_on}'"))
        reviewer = None
        if with_model or model:
            from toolkit.review import default_model_dir, load_reviewer

            # loaded once here; batch workers and Spark executors get it with the options (as its directory)
            chosen = model or default_model_dir()
            if chosen is None:
                _fail(
                    ToolkitError("没有审方助手模型：请用 --model 目录 指定，或先运行 `clinic train-reviewer`")
                )
                return
            try:
                reviewer = load_reviewer(Path(chosen).resolve())
            except ToolkitError as exc:
                _fail(exc)
                return
        audit_options = AuditOptions(min_severity=min_severity, reviewer=reviewer)

        if engine == "spark":
            if fail_on is not None:
                _fail(
                    UsageError("--fail-on 暂不支持 --engine spark（请读取 rows.parquet 的 max_severity 列）")
                )
            _spark(file, table, output, fmt, columns, local, rules_dir, audit_options, master)
            return
        if engine != "local":
            _fail(UsageError(f"未知的引擎 '{engine}'；可选：local, spark"))
        stdin_copy: Path | None = None
        try:
            if fmt is None:
                fmt = report_format(output) if output else "table"
            elif fmt not in ("table", *REPORT_SUFFIXES.values()):
                raise UsageError(f"未知的格式 '{fmt}'；可选：jsonl, csv, xlsx, html, table")
            if str(file) == "-":
                stdin_copy = file = stdin_to_file(sys.stdin.buffer)
            src = file or example_file()
            colmap = load_column_map(columns)
            if fmt in {"table", "jsonl"} and output is None:
                blocks, warns = _to_terminal(
                    src, fmt, colmap, local, rules_dir, audit_options, max_items, max_findings
                )
                raise typer.Exit(_fail_on_code(fail_on, blocks, warns))
            if output is None:
                raise UsageError(f"--format {fmt} 需要用 -o 指定输出文件")
            options = BatchOptions(
                workers=workers,
                resume=resume,
                audit=audit_options,
                rules_dir=str(rules_dir) if rules_dir else None,
                local_rules=str(local) if local else None,
                progress=progress and sys.stderr.isatty(),
                max_items=max_items,
                max_findings=max_findings,
            )
            summary = run_batch(src, output, fmt, colmap, options)
        except ToolkitError as exc:
            _fail(exc)
            return
        finally:
            if stdin_copy is not None:
                stdin_copy.unlink(missing_ok=True)
        typer.echo(
            f"{summary.cases} 张处方（通过 {summary.cases_ok}，需干预 {summary.cases_flagged}，需人工审核 "
            f"{summary.cases_needs_review}，无法审核 {summary.cases_error}）/ {summary.rows} 行：通过 "
            f"{summary.rows_ok}，需干预 {summary.rows_flagged}，需人工审核 {summary.rows_needs_review}，错误 "
            f"{summary.rows_error}；{summary.rows_per_second:,.0f} 行/秒 → {summary.report}",
            err=True,
        )
        raise typer.Exit(_fail_on_code(fail_on, summary.cases_max_block, summary.cases_max_warn))

    @rules_app.command("validate")
    def validate_cmd(
        rules_dir: Path | None = typer.Argument(None, metavar="目录", help="知识库目录（默认：随包知识库）"),
        local: Path | None = typer.Option(
            None, "--local", metavar="文件", help="同时校验的本院规则覆盖文件（YAML）"
        ),
    ) -> None:
        """校验知识库与本院规则文件，报告所有错误（文件 → 条目 → 字段）。"""
        from toolkit.knowledge import load_knowledge

        try:
            kb = load_knowledge(rules_dir, local)
        except ToolkitError as exc:
            _fail(exc)
            return
        n_rules = (
            len(kb.interactions)
            + len(kb.contraindications)
            + len(kb.cross_reactivity)
            + len(kb.duplicate_groups)
            + len(kb.indications)
            + len(kb.checks)
        )
        typer.echo(
            f"知识库 {kb.version}: {len(kb.drugs)} 种药品, {len(kb.classes)} 个药物类别, {n_rules} 条规则"
            + (f"; 本院规则: {kb.local_rules}" if kb.local_rules else "")
        )
        care_dir = (rules_dir / "care") if rules_dir else None
        if care_dir is None or care_dir.is_dir():
            from toolkit.care import load_care_rules

            try:
                care = load_care_rules(care_dir)
            except ToolkitError as exc:
                _fail(exc)
                return
            typer.echo(f"慢病管理规则 {care.version}: {len(care.rule_ids())} 条")


def _spark(
    file: Path | None,
    table: str | None,
    output: Path | None,
    fmt: str | None,
    columns: Path | None,
    local: Path | None,
    rules_dir: Path | None,
    audit_options: AuditOptions,
    master: str,
) -> None:
    """``--engine spark``: OUTPUT is a directory (rows.parquet, and report.<fmt> unless fmt is parquet)."""
    from toolkit.batch import BatchOptions, load_column_map
    from toolkit.batch.spark import run_spark

    try:
        if output is None:
            raise UsageError("--engine spark 需要 -o 目录（写入 rows.parquet 与报告）")
        if file is None and table is None:
            raise UsageError("--engine spark 需要 文件 或 --table 表名")
        options = BatchOptions(
            audit=audit_options,
            rules_dir=str(rules_dir) if rules_dir else None,
            local_rules=str(local) if local else None,
        )
        summary = run_spark(
            file, output, fmt or "parquet", load_column_map(columns), options, master=master, table=table
        )
    except ToolkitError as exc:
        _fail(exc)
        return
    typer.echo(
        f"{summary.cases} 张处方 / {summary.rows} 行：通过 {summary.rows_ok}，需干预 {summary.rows_flagged}，"
        f"需人工审核 {summary.rows_needs_review}，错误 {summary.rows_error}；{summary.rows_per_second:,.0f} 行/秒 → {summary.parquet}"
        + (f", {summary.report}" if summary.report else ""),
        err=True,
    )


def report_format(path: Path) -> str:
    """The report format a file suffix names; an unknown suffix is a usage error (never silent JSONL)."""
    fmt = REPORT_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"无法从后缀 '{path.suffix or '(无后缀)'}' 判断报告格式：请用 "
            f"{' '.join(sorted(REPORT_SUFFIXES))} 之一，或用 -f 指定格式"
        )
    return fmt


def stdin_to_file(stream: BinaryIO) -> Path:
    """Standard input (``clinic audit -``) saved to a temporary file the readers can open twice.

    JSON lines when the first non-blank character is ``{`` or ``[``, otherwise CSV (UTF-8 or GBK).
    The caller deletes the file.
    """
    import tempfile

    data = stream.read()
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    suffix = ".jsonl" if head in (b"{", b"[") else ".csv"
    if head == b"[":
        suffix = ".json"
    with tempfile.NamedTemporaryFile("wb", suffix=suffix, prefix="clinic-stdin-", delete=False) as fh:
        fh.write(data)
    return Path(fh.name)


def _to_terminal(
    src: Path,
    fmt: str,
    colmap: dict[str, str],
    local: Path | None,
    rules_dir: Path | None,
    audit_options: AuditOptions,
    max_items: int = 100,
    max_findings: int = 500,
) -> tuple[int, int]:
    """Audit in this process and print: JSON lines (stdout holds nothing else), or a table a pharmacist
    can read. Returns the number of cases whose most severe finding is block, and warn."""
    from rich.console import Console
    from rich.table import Table

    from toolkit.batch.readers import iter_units
    from toolkit.batch.runner import audit_raw
    from toolkit.knowledge import get_knowledge

    kb = get_knowledge(str(rules_dir) if rules_dir else None, str(local) if local else None)
    options = audit_options
    console = Console()
    errors = Console(stderr=True)
    colours = {"block": "red", "warn": "yellow", "info": "cyan"}
    status_colours = {"ok": "green", "flagged": "red", "needs_review": "blue", "error": "red"}
    counts: dict[str, int] = {}
    worst = {"block": 0, "warn": 0}
    for raw in iter_units(src, colmap, max_items=max_items):
        line, text = audit_raw(raw, kb, options, max_items, max_findings)  # never raises for one case
        counts[line["status"]] = counts.get(line["status"], 0) + 1
        if line.get("max_severity") in worst:
            worst[line["max_severity"]] += 1
        if fmt == "jsonl":
            sys.stdout.write(text + "\n")
            continue
        c = status_colours[line["status"]]
        status = f"[{c}]{STATUS_LABELS[line['status']]}[/]"
        if not line["findings"] and not line["error"]:
            console.print(f"{line['id']}  {status}  未发现问题")
            continue
        table = Table(title=f"{line['id']}  {status}", title_justify="left", show_lines=False)
        table.add_column("级别")
        table.add_column("类别")
        table.add_column("规则")
        table.add_column("问题")
        table.add_column("依据", overflow="fold", max_width=40)
        if line["error"]:
            table.add_row(f"[red]{STATUS_LABELS['error']}[/]", "", "", error_text(line["error"]), "")
        for f in line["findings"]:
            c = colours[f["severity"]]
            table.add_row(
                f"[{c}]{SEVERITY_LABELS[Severity(f['severity'])]}[/]",
                category_label(f["category"]),
                f["rule_id"],
                f["message"],
                f["references"][0] if f["references"] else "",
            )
        console.print(table)
    summary = (
        f"知识库 {kb.version}；通过 {counts.get('ok', 0)}，需干预 {counts.get('flagged', 0)}，"
        f"需人工审核 {counts.get('needs_review', 0)}，无法审核 {counts.get('error', 0)}"
    )
    # the summary is for a person: with -f jsonl it goes to stderr so stdout stays pure JSON lines
    (errors if fmt == "jsonl" else console).print(f"[dim]{summary}[/]")
    return worst["block"], worst["warn"]
