"""``clinic train-reviewer`` and ``clinic eval reviewer``: the learned half of the audit."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from toolkit.cli._zh import error_message
from toolkit.errors import ToolkitError


def _fail(exc: Exception) -> None:
    typer.secho(f"错误: {error_message(exc)}", fg="red", err=True)
    raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add the ``train-reviewer`` command to ``app``."""

    @app.command("train-reviewer")
    def train_command(
        decisions: Path = typer.Argument(
            ...,
            metavar="文件",
            help="药师审核过的处方：JSONL（每行 {case, decision}）或 CSV（case,decision 两列）",
        ),
        output: Path = typer.Option(
            Path("models/reviewer"), "-o", "--output", metavar="目录", help="写入模型的目录"
        ),
        history: Path | None = typer.Option(
            None, "--history", metavar="文件", help="全部既往处方（JSONL 病例），用于学习本机构的常用剂量"
        ),
        rules_dir: Path | None = typer.Option(None, "--rules", metavar="目录", help="知识库目录"),
        seed: int = typer.Option(0, "--seed", metavar="整数", help="随机种子（可复现）"),
        int8: bool = typer.Option(
            False, "--int8/--fp32", help="尝试动态 int8 量化（AUC 不下降才保留）；此模型 fp32 更小且一样快"
        ),
    ) -> None:
        """用本机构药师审核过的处方重新训练审方排序模型（审核决定：pass 通过 / return 退回 / override 双签放行）。"""
        from toolkit.knowledge import get_knowledge
        from toolkit.review.train import read_decisions, train_reviewer

        try:
            kb = get_knowledge(str(rules_dir) if rules_dir else None)
            reviewed = read_decisions(decisions)
            profile_cases = None
            if history is not None:
                from toolkit.batch import iter_cases

                profile_cases = [u.case for u in iter_cases(history) if u.case is not None]
            report = train_reviewer(
                reviewed,
                kb,
                output,
                profile_cases=profile_cases,
                seed=seed,
                source=f"clinic train-reviewer {decisions.name}",
                quantize="int8" if int8 else None,
            )
        except (ToolkitError, OSError) as exc:
            _fail(exc)
            return
        typer.echo(json.dumps(asdict(report), ensure_ascii=False, indent=2))


def register_eval(eval_app: typer.Typer) -> None:
    """Add ``reviewer`` (rules vs rules + model on labelled cases) to the ``eval`` group."""

    @eval_app.command("reviewer")
    def eval_reviewer(
        files: list[Path] = typer.Argument(
            None, metavar="文件", help="标注病例 JSONL（可多个）；默认：开发集与留出集"
        ),
        model: Path | None = typer.Option(None, "--model", metavar="目录", help="审方助手模型目录"),
        output: Path | None = typer.Option(
            None, "-o", "--output", metavar="文件", help="指标写入此 JSON 文件"
        ),
        rules_dir: Path | None = typer.Option(None, "--rules", metavar="目录", help="知识库目录"),
    ) -> None:
        """规则 vs 规则+模型：各类别精确率/召回率，审核队列排序（AUC、前10%精确率）。"""
        from rich.console import Console
        from rich.table import Table

        from toolkit.cli.evaluate import _pct
        from toolkit.evaluation.audit import read_labelled
        from toolkit.evaluation.data import eval_data
        from toolkit.evaluation.reviewer import evaluate_reviewer
        from toolkit.knowledge import get_knowledge
        from toolkit.labels import category_label
        from toolkit.review.model import load_reviewer

        console = Console()
        results = {}
        try:
            paths = files or [eval_data("audit_cases.jsonl"), eval_data("audit_holdout.jsonl")]
            kb = get_knowledge(str(rules_dir) if rules_dir else None)
            reviewer = load_reviewer(model)
            for path in paths:
                data = evaluate_reviewer(read_labelled(path), kb, reviewer).to_json()
                results[path.name] = data
                table = Table(
                    title=f"{path.name}: {data['cases']} 例（需干预 {data['needs_intervention']}），"
                    f"模型 {data['model']}"
                )
                for col in ("类别", "规则 P%", "规则 R%", "规则+模型 P%", "规则+模型 R%", "FP 规则→+模型"):
                    table.add_column(col, justify="left" if col == "类别" else "right")
                rules, both = data["rules"], data["rules_plus_model"]
                for name in [*rules["per_category"], "micro"]:  # category codes; shown with their labels
                    a = rules["micro"] if name == "micro" else rules["per_category"][name]
                    b = both["micro"] if name == "micro" else both["per_category"][name]
                    if a["tp"] + a["fp"] + a["fn"] + b["fp"] == 0:
                        continue
                    table.add_row(
                        "合计(micro)" if name == "micro" else category_label(name),
                        _pct(a["precision"]),
                        _pct(a["recall"]),
                        _pct(b["precision"]),
                        _pct(b["recall"]),
                        f"{a['fp']}→{b['fp']}",
                    )
                console.print(table)
                rk = data["ranking"]
                console.print(
                    f"排序: AUC 规则 {rk['rules_only']['auc']:.3f} / 模型 {rk['model']['auc']:.3f}; "
                    f"队列前10%精确率 规则 {_pct(rk['rules_only']['precision_top10'])}% / "
                    f"模型 {_pct(rk['model']['precision_top10'])}%; "
                    f"模型每张处方 {data['mean_review_ms']:.3f} ms"
                )
        except (ToolkitError, OSError) as exc:
            _fail(exc)
            return
        if output:
            output.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
