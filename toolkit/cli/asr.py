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

import typer

log = logging.getLogger(__name__)


class OutputFormat(StrEnum):
    """Output formats of ``clinic transcribe``."""

    TEXT = "text"
    JSON = "json"
    JSONL = "jsonl"


def _options(model: str | None, beam_size: int, prompt: str, hotwords: bool, correct: bool, vad: bool,
             rules: Path | None = None, encoder_window: str = "content"):
    from toolkit.asr import PromptMode, TranscribeOptions
    from toolkit.errors import InputError

    try:
        mode = PromptMode(prompt)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in PromptMode)
        raise InputError(f"unknown prompt '{prompt}'; allowed: {allowed}", field="--prompt") from exc
    from toolkit.asr.model import check_encoder_window

    check_encoder_window(encoder_window, "--encoder-window")
    return TranscribeOptions(model=model, beam_size=beam_size, prompt=mode, hotwords=hotwords, correct=correct,
                             vad=vad, rules_dir=str(rules) if rules else None, encoder_window=encoder_window)


_MODEL_HELP = "CTranslate2 Whisper directory (default: packaged whisper base)"
_PROMPT_HELP = "initial_prompt: none, simplified or clinic (prompts never hold clinical facts)"
_WINDOW_HELP = "content: encode only the audio each window holds (default, faster); full: Whisper's 30 s windows"


def transcribe_command(
    files: list[Path] = typer.Argument(..., help="audio files (wav, mp3, m4a, webm, ogg …)"),
    fmt: OutputFormat = typer.Option(OutputFormat.TEXT, "--format", "-f", help="text, json or jsonl"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write here instead of stdout"),
    model: str | None = typer.Option(None, "--model", help=_MODEL_HELP),
    beam_size: int = typer.Option(5, "--beam-size", min=1, max=10),
    prompt: str = typer.Option("none", "--prompt", help=_PROMPT_HELP),
    hotwords: bool = typer.Option(False, "--hotwords/--no-hotwords", help="feed formulary drug names as hotwords"),
    correct: bool = typer.Option(True, "--correct/--no-correct", help="snap mis-heard drug/disease names"),
    vad: bool = typer.Option(True, "--vad/--no-vad", help="skip non-speech with Silero VAD"),
    encoder_window: str = typer.Option("content", "--encoder-window", help=_WINDOW_HELP),
) -> None:
    """语音转写：普通话口述 → 简体中文草稿（每个文件一条结果，出错的文件带 error；有文件出错时退出码 3）。"""
    from toolkit.asr import Transcript, transcribe
    from toolkit.errors import InputError, ToolkitError

    try:
        options = _options(model, beam_size, prompt, hotwords, correct, vad, encoder_window=encoder_window)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from exc
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    failed = 0
    results = []
    try:
        for path in files:
            try:
                result = transcribe(path, options)
            except ToolkitError as exc:
                result = Transcript(file=str(path), error=str(exc))
            if result.error:  # raised, or returned as the file's error: either way the file was not transcribed
                failed += 1
                typer.echo(f"错误: {result.error}", err=True)
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
                    out.write(f"  [corrected {c.start:.1f}s] {c.original} → {c.corrected} ({c.reason})\n")
        if fmt is OutputFormat.JSON:
            out.write(json.dumps(results if len(results) != 1 else results[0], ensure_ascii=False, indent=2) + "\n")
    finally:
        if output:
            out.close()
    if failed:  # every file still has its line (with its error); the exit code tells a script something failed
        from toolkit.cli.audit import EXIT_INPUT

        raise typer.Exit(code=EXIT_INPUT)


def _default_sets() -> dict[str, Path]:
    """Real clips (../shared/data/speech) and every synthetic set under eval/data/asr_medical, when present."""
    sets = {}
    medical = Path("eval/data/asr_medical")
    for name, path in (("real", Path("../shared/data/speech")), ("medical_synth", medical),
                       *((f"medical_{d.name}", d) for d in sorted(medical.glob("*/")) if d.is_dir())):
        if (path / "refs.tsv").is_file():
            sets[name] = path
    return sets


def eval_asr_command(
    data: list[Path] = typer.Option([], "--data", "-d", help="data dir(s) with refs.tsv; default: shared "
                                    "speech clips and eval/data/asr_medical when present"),
    json_out: Path | None = typer.Option(None, "--json", help="write the full report (per clip) here"),
    model: str | None = typer.Option(None, "--model", help=_MODEL_HELP),
    beam_size: int = typer.Option(5, "--beam-size", min=1, max=10),
    prompt: str = typer.Option("none", "--prompt", help=_PROMPT_HELP),
    hotwords: bool = typer.Option(False, "--hotwords/--no-hotwords"),
    rules: Path | None = typer.Option(None, "--rules", help="knowledge base directory (default: shipped rules/)"),
    encoder_window: str = typer.Option("content", "--encoder-window", help=_WINDOW_HELP),
) -> None:
    """CER (after normalisation) and drug-name accuracy before/after correction, from one decoding."""
    from toolkit.asr import transcribe
    from toolkit.asr.evaluate import evaluate
    from toolkit.errors import InputError

    sets = {p.name: p for p in data} if data else _default_sets()
    if not sets:
        typer.echo("no evaluation data found (need a directory with refs.tsv); skipped", err=True)
        raise typer.Exit(code=0)
    try:
        options = _options(model, beam_size, prompt, hotwords, True, True, rules, encoder_window)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from exc
    report = evaluate(sets, lambda path: transcribe(path, options), options.used())
    typer.echo("set\tclips\tchars\tCER raw\tCER corrected\tdrug acc raw\tdrug acc corrected\t"
               "corrections (wrong)\taudio s\twall s")
    for s in report.sets:
        acc = (f"{s.raw_drug_accuracy:.1%}\t{s.drug_accuracy:.1%}" if s.drug_accuracy is not None else "-\t-")
        typer.echo(f"{s.set}\t{s.clips}\t{s.ref_chars}\t{s.raw_cer:.1%}\t{s.cer:.1%}\t{acc}\t"
                   f"{s.corrections} ({s.wrong_corrections})\t{s.audio_seconds}\t{s.wall_seconds}")
    if json_out:
        json_out.write_text(report.model_dump_json(indent=2), encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Add ``transcribe`` to the ``clinic`` app."""
    app.command("transcribe")(transcribe_command)


def register_eval(eval_app: typer.Typer) -> None:
    """Add ``clinic eval asr``."""
    eval_app.command("asr")(eval_asr_command)
