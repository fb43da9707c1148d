"""``clinic export``: a torch checkpoint directory → ``model.onnx`` + ``manifest.json`` (parity checked)."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.cli._zh import error_message
from toolkit.errors import ToolkitError


def register(app: typer.Typer) -> None:
    """Add the ``export`` command (checkpoint → ONNX with manifest) to ``app``."""

    @app.command("export")
    def export_command(
        model_dir: Path = typer.Argument(
            ..., metavar="目录", help="训练检查点目录：config.json + model.pt + parity.npz"
        ),
        output: Path = typer.Option(
            ..., "-o", "--output", metavar="目录", help="输出目录，例如 models/reviewer/"
        ),
        quantize: bool = typer.Option(True, "--int8/--fp32", help="尝试动态 int8 量化（指标不下降才保留）"),
    ) -> None:
        """导出 ONNX：与 torch 输出逐一比对（真实输入、明确容差），写 manifest.json。"""
        from toolkit.onnx.models import export_checkpoint

        try:
            m = export_checkpoint(model_dir, output, quantize="int8" if quantize else None)
        except (ToolkitError, OSError) as exc:
            typer.secho(f"错误: {error_message(exc)}", fg="red", err=True)
            raise typer.Exit(2) from None
        typer.echo(
            f"{output / 'model.onnx'}：opset {m.opset}，{m.quantization or 'fp32'}（{m.quantization_note}）；"
            f"{m.parity_samples} 个真实输入上 |torch − ONNX| 最大 {m.max_abs_diff_fp32:.3g} ≤ 容差 {m.tolerance:g}；"
            f"指标 fp32 {m.metrics_fp32}，int8 {m.metrics_int8}；{m.size_bytes} 字节"
        )
