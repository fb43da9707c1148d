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

from toolkit.cli._zh import error_message

_FIELDS = {"interval_days": "随访间隔（天）", "referral": "转诊", "diseases": "疾病识别"}
_VALUES = {
    "controlled": "控制达标",
    "uncontrolled": "控制未达标",
    "unknown": "无法判断",
    "none": "不转诊",
    "routine": "常规转诊",
    "urgent": "紧急转诊",
}
"""Codes in a mismatch line → the words a clinician reads (the JSON report keeps the codes)."""


def _value(v: object) -> str:
    if isinstance(v, (list, tuple)):
        return "、".join(_value(x) for x in v) or "无"
    return _VALUES.get(str(v), str(v))


class CareFormat(StrEnum):
    """Output format of ``clinic care``: JSONL (one plan per line) or one JSON array."""

    JSONL = "jsonl"
    JSON = "json"


def register(app: typer.Typer) -> None:
    """Add the ``care`` command to ``app``."""

    @app.command("care")
    def care(
        file: Path = typer.Argument(
            ...,
            exists=True,
            dir_okay=False,
            metavar="文件",
            help="就诊病例，JSONL（UTF-8），与 clinic audit 的输入相同",
        ),
        fmt: CareFormat = typer.Option(
            CareFormat.JSONL, "--format", "-f", metavar="格式", help="jsonl：每次就诊一行；json：一个数组"
        ),
        output: Path | None = typer.Option(
            None, "--output", "-o", metavar="文件", help="写入此文件（默认：标准输出）"
        ),
        rules: Path | None = typer.Option(
            None, "--rules", metavar="目录", help="慢病管理规则目录（默认：随包规则）"
        ),
        record_fields: bool = typer.Option(
            False, "--record-fields", help="每行附加病历字段 record_fields（健康指导、随访文字）"
        ),
    ) -> None:
        """慢病管理：控制情况、随访间隔、转诊、到期检查和健康指导（每次就诊输出一行 JSON）。"""
        from toolkit.care import assess_lines, get_care_rules
        from toolkit.errors import ToolkitError

        try:
            kb = get_care_rules(str(rules) if rules else None)
        except ToolkitError as exc:
            typer.echo(f"错误: {error_message(exc)}", err=True)
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
        file: Path | None = typer.Argument(
            None,
            exists=True,
            dir_okay=False,
            metavar="文件",
            help="标注的就诊记录（JSONL）；默认 eval/data/care_cases.jsonl",
        ),
        output: Path | None = typer.Option(
            None, "--output", "-o", metavar="文件", help="报告写入此 JSON 文件"
        ),
        rules: Path | None = typer.Option(
            None, "--rules", metavar="目录", help="慢病管理规则目录（默认：随包规则）"
        ),
        show_mismatches: int = typer.Option(20, "--show", metavar="数量", help="最多打印这么多条不一致"),
        split: str | None = typer.Option(
            None, "--split", metavar="子集", help="只评估该子集的行（dev 开发集 / holdout 留出集）"
        ),
    ) -> None:
        """慢病管理评估：在标注就诊上统计控制情况、随访间隔与转诊的准确率。"""
        from rich.console import Console
        from rich.table import Table

        from toolkit.care import get_care_rules
        from toolkit.errors import ToolkitError
        from toolkit.evaluation.care import evaluate_care
        from toolkit.evaluation.data import eval_data

        try:
            file = file or eval_data("care_cases.jsonl")
            kb = get_care_rules(str(rules) if rules else None)
            report = evaluate_care(file, kb, split=split)
        except ToolkitError as exc:
            typer.echo(f"错误: {error_message(exc)}", err=True)
            raise typer.Exit(2) from exc
        console = Console()
        disease_names = {d.disease.value: d.name for d in kb.diseases}
        split_name = {"dev": "开发集", "holdout": "留出集", "all": "全部"}.get(
            report["split"], report["split"] or "全部"
        )
        table = Table(
            title=f"慢病管理评估：{file}，子集 {split_name}（{report['n_cases']} 次就诊，"
            f"{report['n_errors']} 行错误）"
        )
        for col in ("指标", "例数", "正确", "准确率"):
            table.add_column(col, justify="left" if col == "指标" else "right")

        def row(name: str, m: dict) -> None:
            acc = m["accuracy"]
            table.add_row(name, str(m["n"]), str(m["correct"]), "–" if acc is None else f"{acc:.3f}")

        row("疾病识别", report["recognition"])
        row("控制情况", report["control"])
        for disease, m in report["control"]["by_disease"].items():
            row(f"  控制情况：{disease_names.get(disease, disease)}", m)
        row("随访间隔", report["interval"])
        row("转诊（不转诊/常规/紧急）", report["referral"])
        ref = report["referral"]
        yes_no = ref["yes_no_accuracy"]
        table.add_row("是否转诊", str(ref["n"]), "", "–" if yes_no is None else f"{yes_no:.3f}")
        console.print(table)
        for m in report["mismatches"][:show_mismatches]:
            field = m["field"]
            if field.startswith("control."):
                name = disease_names.get(field.removeprefix("control."), field.removeprefix("control."))
                field = f"控制情况（{name}）"
            else:
                field = _FIELDS.get(field, field)
            console.print(
                f"[yellow]{m['id']}[/] {field}：应为 {_value(m['expected'])}，实为 {_value(m['predicted'])}"
            )
        if output:
            output.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
            console.print(f"报告已写入 {output}")
