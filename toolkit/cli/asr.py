"""``clinic transcribe`` and ``clinic eval asr``: thin shells over :mod:`toolkit.asr`.

faster-whisper, PyAV and OpenCC are imported inside the commands, so
``clinic --help`` stays fast and works without the ``[asr]`` extra.
"""

from __future__ import annotations

import json
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

log = logging.getLogger(__name__)


class OutputFormat(StrEnum):
    """Output formats of ``clinic transcribe``."""

    TEXT = "text"
    JSON = "json"
    JSONL = "jsonl"


def _options(
    model: str | None,
    beam_size: int,
    prompt: str,
    hotwords: bool,
    correct: bool,
    vad: bool,
    rules: Path | None = None,
    encoder_window: str = "content",
    cache: Path | None = None,
):
    from toolkit.asr import PromptMode, TranscribeOptions
    from toolkit.errors import InputError

    try:
        mode = PromptMode(prompt)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in PromptMode)
        raise InputError(f"未知的提示方式 '{prompt}'；可选（allowed）：{allowed}", field="--prompt") from exc
    from toolkit.asr.model import check_encoder_window

    check_encoder_window(encoder_window, "--encoder-window")
    if model is None and cache is not None:
        # the packaged model joined under --cache-dir / $CLINIC_CACHE, passed down as a directory
        from toolkit.asr.model import DEFAULT_MODEL, cache_dir, packaged_model_dir

        model = str(packaged_model_dir(cache_dir(cache) / DEFAULT_MODEL))
    return TranscribeOptions(
        model=model,
        beam_size=beam_size,
        prompt=mode,
        hotwords=hotwords,
        correct=correct,
        vad=vad,
        rules_dir=str(rules) if rules else None,
        encoder_window=encoder_window,
    )


_MODEL_HELP = "CTranslate2 格式的 Whisper 模型目录（默认：随包模型）"
_PROMPT_HELP = "初始提示（initial_prompt）：none、simplified 或 clinic（提示中从不含临床事实）"
_WINDOW_HELP = "content：只编码每个窗口实际含有的音频（默认，更快）；full：Whisper 固定 30 秒窗口"
CACHE_ENV = "CLINIC_CACHE"
"""Environment variable the speech commands fall back to for ``--cache-dir`` (the library takes it as an
argument: :func:`toolkit.asr.model.cache_dir`)."""
_CACHE_HELP = "随包模型首次拼合后存放的目录（默认：~/.cache/clinic-toolkit）；指定 --model 时不用"


def _cache_option() -> Any:
    return typer.Option(None, "--cache-dir", envvar=CACHE_ENV, metavar="目录", help=_CACHE_HELP)


def transcribe_command(
    files: list[Path] = typer.Argument(
        ..., metavar="音频文件", help="音频文件（.wav .mp3 .m4a .webm .ogg 等）"
    ),
    fmt: OutputFormat = typer.Option(
        OutputFormat.TEXT, "--format", "-f", metavar="格式", help="text（文本）、json 或 jsonl"
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="文件", help="写入此文件（默认：标准输出）"
    ),
    model: str | None = typer.Option(None, "--model", metavar="目录", help=_MODEL_HELP),
    beam_size: int = typer.Option(5, "--beam-size", min=1, max=10, metavar="数量", help="束搜索宽度"),
    prompt: str = typer.Option("none", "--prompt", metavar="方式", help=_PROMPT_HELP),
    hotwords: bool = typer.Option(
        False, "--hotwords/--no-hotwords", help="把药品目录中的药名作为热词提供给识别模型"
    ),
    correct: bool = typer.Option(True, "--correct/--no-correct", help="纠正听错的药名/病名"),
    vad: bool = typer.Option(True, "--vad/--no-vad", help="用 Silero VAD 跳过非语音片段"),
    encoder_window: str = typer.Option("content", "--encoder-window", metavar="窗口", help=_WINDOW_HELP),
    cache: Path | None = _cache_option(),
) -> None:
    """语音转写：普通话口述 → 简体中文草稿（每个文件一条结果，出错的文件带 error；有文件出错时退出码 3）。"""
    from toolkit.asr import Transcript, transcribe
    from toolkit.errors import InputError, ToolkitError
    from toolkit.labels import error_text

    try:
        options = _options(
            model, beam_size, prompt, hotwords, correct, vad, encoder_window=encoder_window, cache=cache
        )
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except ToolkitError as exc:  # the packaged model could not be joined under --cache-dir
        from toolkit.cli.audit import EXIT_INPUT

        typer.echo(f"错误: {error_text(str(exc))}", err=True)
        raise typer.Exit(code=EXIT_INPUT) from exc
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    failed = 0
    results = []
    try:
        for path in files:
            try:
                result = transcribe(path, options)
            except ToolkitError as exc:
                result = Transcript(file=str(path), error=str(exc))
            if (
                result.error
            ):  # raised, or returned as the file's error: either way the file was not transcribed
                failed += 1
                typer.echo(f"错误: {error_text(result.error)}", err=True)
            if fmt is OutputFormat.JSONL:
                out.write(json.dumps(result.contract(), ensure_ascii=False) + "\n")
                out.flush()
            elif fmt is OutputFormat.JSON:
                results.append(result.model_dump(mode="json"))
            else:
                out.write(f"{path}\t{result.text}\n")
                for w in result.warnings:
                    out.write(f"  [{w.code}] {w.message}\n")
                for c in result.corrections:
                    out.write(f"  [已纠正 {c.start:.1f} 秒] {c.original} → {c.corrected}（{c.reason}）\n")
        if fmt is OutputFormat.JSON:
            out.write(
                json.dumps(results if len(results) != 1 else results[0], ensure_ascii=False, indent=2) + "\n"
            )
    finally:
        if output:
            out.close()
    if (
        failed
    ):  # every file still has its line (with its error); the exit code tells a script something failed
        from toolkit.cli.audit import EXIT_INPUT

        raise typer.Exit(code=EXIT_INPUT)


def _default_sets() -> dict[str, Path]:
    """Real clips (../shared/data/speech, relative to the working directory) and every synthetic set under
    the repository's eval/data/asr_medical (:func:`toolkit.evaluation.data.eval_data`), when present."""
    from toolkit.evaluation.data import SHARED_DATA, eval_data

    sets = {}
    medical = eval_data("asr_medical", must_exist=False)
    for name, path in (
        ("real", SHARED_DATA / "speech"),
        ("medical_synth", medical),
        *((f"medical_{d.name}", d) for d in sorted(medical.glob("*/")) if d.is_dir()),
    ):
        if (path / "refs.tsv").is_file():
            sets[name] = path
    return sets


def eval_asr_command(
    data: list[Path] = typer.Option(
        [],
        "--data",
        "-d",
        metavar="目录",
        help="含 refs.tsv 的数据目录（可重复）；默认：共享语音片段和 eval/data/asr_medical（存在时）",
    ),
    json_out: Path | None = typer.Option(
        None, "--json", metavar="文件", help="完整报告（逐条片段）写入此 JSON 文件"
    ),
    model: str | None = typer.Option(None, "--model", metavar="目录", help=_MODEL_HELP),
    beam_size: int = typer.Option(5, "--beam-size", min=1, max=10, metavar="数量", help="束搜索宽度"),
    prompt: str = typer.Option("none", "--prompt", metavar="方式", help=_PROMPT_HELP),
    hotwords: bool = typer.Option(False, "--hotwords/--no-hotwords", help="把药品目录中的药名作为热词"),
    rules: Path | None = typer.Option(
        None, "--rules", metavar="目录", help="知识库目录（默认：随包 rules/）"
    ),
    encoder_window: str = typer.Option("content", "--encoder-window", metavar="窗口", help=_WINDOW_HELP),
    cache: Path | None = _cache_option(),
) -> None:
    """语音识别评估：规范化后的字错误率（CER）与纠错前后的药名准确率（一次解码）。"""
    from toolkit.asr import transcribe
    from toolkit.errors import InputError
    from toolkit.evaluation.asr import evaluate

    sets = {p.name: p for p in data} if data else _default_sets()
    if not sets:
        typer.echo("未找到评估数据（需要含 refs.tsv 的目录），已跳过", err=True)
        raise typer.Exit(code=0)
    try:
        options = _options(model, beam_size, prompt, hotwords, True, True, rules, encoder_window, cache)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from exc
    report = evaluate(sets, lambda path: transcribe(path, options), options.used())
    typer.echo(
        "数据集\t片段数\t字数\tCER 纠错前\tCER 纠错后\t药名准确率 纠错前\t药名准确率 纠错后\t"
        "纠错次数（错纠）\t音频秒数\t耗时秒数"
    )
    for s in report.sets:
        acc = f"{s.raw_drug_accuracy:.1%}\t{s.drug_accuracy:.1%}" if s.drug_accuracy is not None else "-\t-"
        typer.echo(
            f"{s.set}\t{s.clips}\t{s.ref_chars}\t{s.raw_cer:.1%}\t{s.cer:.1%}\t{acc}\t"
            f"{s.corrections} ({s.wrong_corrections})\t{s.audio_seconds}\t{s.wall_seconds}"
        )
    if json_out:
        json_out.write_text(report.model_dump_json(indent=2), encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Add ``transcribe`` to the ``clinic`` app."""
    app.command("transcribe")(transcribe_command)


def register_eval(eval_app: typer.Typer) -> None:
    """Add ``clinic eval asr``."""
    eval_app.command("asr")(eval_asr_command)
