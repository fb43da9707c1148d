"""``clinic``: the console entry point.

Stage commands live in their own modules (``toolkit/cli/<stage>.py``), each with
``register(app)``; they import heavy dependencies inside the command body so
``clinic --help`` and ``clinic audit`` never load torch, spaCy or Whisper.
"""

from __future__ import annotations

import importlib
import logging

import typer

from toolkit.cli._zh import localize

localize()  # typer's own help wording (Usage, Options, --help …) in Chinese

app = typer.Typer(
    name="clinic",
    help="社区卫生服务中心 语音病历与处方前置审核工具包（离线运行）。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

eval_app = typer.Typer(help="在标注样本上评估各环节。", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

# Modules that add commands: ``register(app)`` for ``clinic <command>``, ``register_eval(eval_app)``
# for ``clinic eval <stage>``. A module missing from a partial checkout is skipped.
COMMAND_MODULES = (
    "audit",
    "formulary",
    "evaluate",
    "extract",
    "asr",
    "care",
    "export",
    "reviewer",
    "serve",
    "demo",
    "visit",
)


def _version(value: bool) -> None:
    if value:
        from toolkit import __version__

        typer.echo(f"clinic-toolkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="在标准错误输出记录运行日志"),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version, help="显示版本后退出"),
) -> None:
    """退出码：0 完成；1 有 --fail-on 级别的问题；2 用法错误；3 输入错误。"""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"toolkit.cli.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"toolkit.cli.{_name}":
            raise
        continue
    if hasattr(_module, "register"):
        _module.register(app)
    if hasattr(_module, "register_eval"):
        _module.register_eval(eval_app)


if __name__ == "__main__":
    app()
