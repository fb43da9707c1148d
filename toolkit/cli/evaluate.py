"""``clinic eval …``: score each stage on labelled samples; print a table and write JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from toolkit.cli._zh import error_message
from toolkit.errors import ToolkitError
from toolkit.labels import category_label


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}"


def register_eval(eval_app: typer.Typer) -> None:
    """Add ``clinic eval audit``."""

    @eval_app.command("audit")
    def eval_audit(
        file: Path | None = typer.Argument(
            None, metavar="文件", help="标注病例 JSONL；默认 eval/data/audit_cases.jsonl"
        ),
        output: Path | None = typer.Option(
            None, "-o", "--output", metavar="文件", help="指标写入此 JSON 文件"
        ),
        rules_dir: Path | None = typer.Option(None, "--rules", metavar="目录", help="知识库目录"),
        show_misses: int = typer.Option(0, "--show-misses", metavar="数量", help="打印前若干条漏报与多报"),
        with_model: bool = typer.Option(False, "--with-model", help="加上机器学习审方助手的结果"),
        model: Path | None = typer.Option(
            None, "--model", metavar="目录", help="审方助手模型目录（配合 --with-model）"
        ),
    ) -> None:
        """审方评估：按问题类别统计召回率与精确率（只计 warn/block）。"""
        from rich.console import Console
        from rich.table import Table

        from toolkit.audit import AuditOptions
        from toolkit.evaluation.audit import evaluate_audit, read_labelled
        from toolkit.evaluation.data import eval_data
        from toolkit.knowledge import get_knowledge

        try:
            path = file or eval_data("audit_cases.jsonl")
            kb = get_knowledge(str(rules_dir) if rules_dir else None)
            reviewer = None
            if with_model:
                from toolkit.review.model import load_reviewer

                reviewer = load_reviewer(model)
            options = AuditOptions(reviewer=reviewer)
            report = evaluate_audit(read_labelled(path), kb, options)
        except (ToolkitError, OSError) as exc:
            typer.secho(f"错误: {error_message(exc)}", fg="red", err=True)
            raise typer.Exit(2) from None
        data = report.to_json()
        table = Table(
            title=f"审方评估 {path.name}（{report.cases} 例，知识库 {kb.version}"
            + ("，规则+模型" if with_model else "")
            + "）"
        )
        for col in ("类别", "TP", "FP", "FN", "精确率%", "召回率%", "F1%", "级别一致%"):
            table.add_column(col, justify="right" if col != "类别" else "left")
        for name, s in [*data["per_category"].items(), ("合计(micro)", data["micro"])]:
            if s["tp"] + s["fp"] + s["fn"] == 0:
                continue
            table.add_row(
                category_label(name),
                str(s["tp"]),
                str(s["fp"]),
                str(s["fn"]),
                _pct(s["precision"]),
                _pct(s["recall"]),
                _pct(s["f1"]),
                _pct(s["severity_agreement"]),
            )
        console = Console()
        console.print(table)
        console.print(
            f"无问题处方通过率: {report.clean_passed}/{report.clean_cases}"
            + (f"；无法读取的样本: {len(report.errors)}" if report.errors else "")
        )
        for m in report.misses[:show_misses]:
            console.print(m)
        if output:
            output.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
