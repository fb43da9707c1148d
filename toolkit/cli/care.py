"""``clinic care`` and ``clinic eval care``: thin shells over :mod:`toolkit.care`.

``clinic care FILE`` reads JSONL (one audit case, or an eval line with ``case``, per
line) and writes one care plan per input line; a row that cannot be read becomes a
line with ``status: "error"`` and the reason, never a crash.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer


class CareFormat(StrEnum):
    JSONL = "jsonl"
    JSON = "json"


def register(app: typer.Typer) -> None:
    """Add the ``care`` command to ``app``."""

    @app.command("care")
    def care(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, metavar="文件", help="就诊病例，JSONL（UTF-8），与 clinic audit 的输入相同"),
        fmt: CareFormat = typer.Option(CareFormat.JSONL, "--format", "-f", metavar="格式", help="jsonl：每次就诊一行；json：一个数组"),
        output: Path | None = typer.Option(None, "--output", "-o", metavar="文件", help="写入此文件（默认：标准输出）"),
        rules: Path | None = typer.Option(None, "--rules", metavar="目录", help="慢病管理规则目录（默认：随包规则）"),
        record_fields: bool = typer.Option(False, "--record-fields",
                                           help="每行附加病历字段 record_fields（健康指导、随访文字）"),
    ) -> None:
        """慢病管理：控制情况、随访间隔、转诊、到期检查和健康指导（每次就诊输出一行 JSON）。"""
        from toolkit.care import assess_lines, get_care_rules
        from toolkit.errors import ToolkitError

        try:
            kb = get_care_rules(str(rules) if rules else None)
        except ToolkitError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
        out = output.open("w", encoding="utf-8") if output else sys.stdout
        n = errors = 0
        try:
            with file.open(encoding="utf-8-sig") as lines:
                if fmt == CareFormat.JSON:
                    out.write("[\n")
                for plan in assess_lines(lines, kb):
                    data = plan.to_json_dict()
                    if record_fields and plan.status == "ok":
                        data["record_fields"] = plan.to_record_fields()
                    text = json.dumps(data, ensure_ascii=False)
                    if fmt == CareFormat.JSON:
                        text = ("  " if n == 0 else ", ") + text
                    out.write(text + "\n")
                    n += 1
                    errors += plan.status == "error"
                if fmt == CareFormat.JSON:
                    out.write("]\n")
        finally:
            if output:
                out.close()
        typer.echo(f"已评估 {n} 次就诊，其中 {errors} 行无法评估（错误）", err=True)



def register_eval(eval_app: typer.Typer) -> None:
    """Add ``clinic eval care``."""

    @eval_app.command("care")
    def eval_care(
        file: Path = typer.Argument(Path("eval/data/care_cases.jsonl"), exists=True, dir_okay=False,
                                    help="labelled visits, JSONL"),
        output: Path | None = typer.Option(None, "--output", "-o", help="write the report as JSON"),
        rules: Path | None = typer.Option(None, "--rules", help="care rules directory (default: shipped)"),
        show_mismatches: int = typer.Option(20, "--show", help="print up to this many mismatches"),
        split: str | None = typer.Option(None, "--split", help="only lines of this split (dev, holdout)"),
    ) -> None:
        """Accuracy of control status, follow-up interval and referral on labelled visits."""
        from rich.console import Console
        from rich.table import Table

        from toolkit.care import get_care_rules
        from toolkit.care.evaluate import evaluate_care
        from toolkit.errors import ToolkitError

        try:
            report = evaluate_care(file, get_care_rules(str(rules) if rules else None), split=split)
        except ToolkitError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
        console = Console()
        table = Table(title=f"care eval: {file}, split {report['split']} ({report['n_cases']} visits, "
                            f"{report['n_errors']} errors)")
        for col in ("metric", "n", "correct", "accuracy"):
            table.add_column(col, justify="left" if col == "metric" else "right")

        def row(name: str, m: dict) -> None:
            acc = m["accuracy"]
            table.add_row(name, str(m["n"]), str(m["correct"]), "–" if acc is None else f"{acc:.3f}")

        row("diseases recognised", report["recognition"])
        row("control status", report["control"])
        for disease, m in report["control"]["by_disease"].items():
            row(f"  control: {disease}", m)
        row("follow-up interval", report["interval"])
        row("referral (none/routine/urgent)", report["referral"])
        ref = report["referral"]
        yes_no = ref["yes_no_accuracy"]
        table.add_row("referral yes/no", str(ref["n"]), "", "–" if yes_no is None else f"{yes_no:.3f}")
        console.print(table)
        for m in report["mismatches"][:show_mismatches]:
            console.print(f"[yellow]{m['id']}[/] {m['field']}: expected {m['expected']}, got {m['predicted']}")
        if output:
            output.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
            console.print(f"report written to {output}")
