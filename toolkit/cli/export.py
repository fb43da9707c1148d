"""``clinic export``: a torch checkpoint directory → ``model.onnx`` + ``manifest.json`` (parity checked)."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.errors import ToolkitError


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        model_dir: Path = typer.Argument(..., help="checkpoint directory: config.json + model.pt + parity.npz"),
        output: Path = typer.Option(..., "-o", "--output", help="target, e.g. models/reviewer/"),
        quantize: bool = typer.Option(True, "--int8/--fp32", help="try dynamic int8 (kept only if the metric holds)"),
    ) -> None:
        """导出 ONNX：与 torch 输出逐一比对（真实输入、明确容差），写 manifest.json。"""
        from toolkit.onnx.models import export_checkpoint

        try:
            m = export_checkpoint(model_dir, output, quantize="int8" if quantize else None)
        except (ToolkitError, OSError) as exc:
            typer.secho(f"错误: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"{output / 'model.onnx'}: opset {m.opset}, {m.quantization or 'fp32'} ({m.quantization_note}); "
                   f"max |torch − onnx| {m.max_abs_diff_fp32:.3g} ≤ {m.tolerance:g} on {m.parity_samples} real inputs; "
                   f"metrics fp32 {m.metrics_fp32} int8 {m.metrics_int8}; {m.size_bytes} bytes")
