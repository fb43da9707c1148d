"""``clinic train-reviewer`` and ``clinic eval reviewer``: the learned half of the audit."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from toolkit.errors import ToolkitError


def _fail(exc: Exception) -> None:
    typer.secho(f"错误: {exc}", fg="red", err=True)
    raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    @app.command("train-reviewer")
    def train_command(
        decisions: Path = typer.Argument(..., help="reviewed prescriptions: JSONL {case, decision} or CSV case,decision"),
        output: Path = typer.Option(Path("models/reviewer"), "-o", "--output", help="model directory to write"),
        history: Path | None = typer.Option(None, "--history",
                                            help="all past prescriptions (JSONL cases) to learn usual doses from"),
        rules_dir: Path | None = typer.Option(None, "--rules", help="knowledge-base directory"),
        seed: int = typer.Option(0, "--seed"),
        int8: bool = typer.Option(False, "--int8/--fp32",
                                  help="try dynamic int8 (kept only if AUC holds); fp32 is smaller and as fast here"),
    ) -> None:
        """用本机构药师审核过的处方重新训练审方排序模型（pass / return / override）。"""
        from toolkit.knowledge import get_knowledge
        from toolkit.review.train import read_decisions, train_reviewer

        try:
            kb = get_knowledge(str(rules_dir) if rules_dir else None)
            reviewed = read_decisions(decisions)
            profile_cases = None
            if history is not None:
                from toolkit.batch import iter_cases

                profile_cases = [u.case for u in iter_cases(history) if u.case is not None]
            report = train_reviewer(reviewed, kb, output, profile_cases=profile_cases, seed=seed,
                                    source=f"clinic train-reviewer {decisions.name}",
                                    quantize="int8" if int8 else None)
        except (ToolkitError, OSError) as exc:
            _fail(exc)
            return
        typer.echo(json.dumps(asdict(report), ensure_ascii=False, indent=2))


def register_eval(eval_app: typer.Typer) -> None:
    @eval_app.command("reviewer")
    def eval_reviewer(
        files: list[Path] = typer.Argument(None, help="labelled cases JSONL; default the dev and holdout sets"),
        model: Path | None = typer.Option(None, "--model", help="reviewer model directory"),
        output: Path | None = typer.Option(None, "-o", "--output", help="write the metrics as JSON"),
        rules_dir: Path | None = typer.Option(None, "--rules", help="knowledge-base directory"),
    ) -> None:
        """规则 vs 规则+模型：各类别精确率/召回率，审核队列排序（AUC、前10%精确率）。"""
        from rich.console import Console
        from rich.table import Table

        from toolkit.cli.evaluate import _default, _pct
        from toolkit.evaluation.audit import read_labelled
        from toolkit.evaluation.reviewer import evaluate_reviewer
        from toolkit.knowledge import get_knowledge
        from toolkit.review.model import load_reviewer

        paths = files or [_default("audit_cases.jsonl"), _default("audit_holdout.jsonl")]
        console = Console()
        results = {}
        try:
            kb = get_knowledge(str(rules_dir) if rules_dir else None)
            reviewer = load_reviewer(model)
            for path in paths:
                data = evaluate_reviewer(read_labelled(path), kb, reviewer).to_json()
                results[path.name] = data
                table = Table(title=f"{path.name}: {data['cases']} 例（需干预 {data['needs_intervention']}），"
                                    f"模型 {data['model']}")
                for col in ("类别", "规则 P%", "规则 R%", "规则+模型 P%", "规则+模型 R%", "FP 规则→+模型"):
                    table.add_column(col, justify="left" if col == "类别" else "right")
                rules, both = data["rules"], data["rules_plus_model"]
                for name in [*rules["per_category"], "micro"]:
                    a = rules["micro"] if name == "micro" else rules["per_category"][name]
                    b = both["micro"] if name == "micro" else both["per_category"][name]
                    if a["tp"] + a["fp"] + a["fn"] + b["fp"] == 0:
                        continue
                    table.add_row(name, _pct(a["precision"]), _pct(a["recall"]), _pct(b["precision"]),
                                  _pct(b["recall"]), f"{a['fp']}→{b['fp']}")
                console.print(table)
                rk = data["ranking"]
                console.print(f"排序: AUC 规则 {rk['rules_only']['auc']:.3f} / 模型 {rk['model']['auc']:.3f}; "
                              f"队列前10%精确率 规则 {_pct(rk['rules_only']['precision_top10'])}% / "
                              f"模型 {_pct(rk['model']['precision_top10'])}%; "
                              f"模型每张处方 {data['mean_review_ms']:.3f} ms")
        except (ToolkitError, OSError) as exc:
            _fail(exc)
            return
        if output:
            output.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
