"""Chinese wording for the parts of ``--help`` and usage errors that typer/click write themselves.

Our own help texts are Chinese where they are written; this module localizes what the framework adds
around them: panel titles (Options → 选项), ``Usage:`` (用法:), ``[default: …]``, ``[required]``, the
``--help`` option's own line, the ``[OPTIONS]``/``COMMAND [ARGS]...`` usage placeholders, and the type
placeholders (``<bool>``, ``<path>``, ``<list[Path]>`` …) shown for an option without a ``metavar``.

It patches typer's renderer in this process only; :func:`localize` is called once by
``toolkit.cli.main`` (the ``clinic`` entry point). Nothing else in the toolkit imports it.
"""

from __future__ import annotations

from typing import Any

HELP_OPTION_TEXT = "显示本帮助并退出"
USAGE_PREFIX = "用法: "
_USAGE_PIECES = {"[OPTIONS]": "[选项]", "COMMAND [ARGS]...": "命令 [参数]..."}
_TYPE_METAVARS = {
    "bool": "开/关",
    "str": "文本",
    "int": "整数",
    "float": "数值",
    "path": "路径",
    "file": "文件",
    "directory": "目录",
    "datetime": "日期时间",
}

_done = False


def _human_type(label: str) -> str:
    """``<list[Path]>`` → ``路径（可重复）``, ``<int range>`` → ``整数``; choices (``jsonl|json``) unchanged."""
    inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
    repeat = inner.startswith("list[") and inner.endswith("]")
    if repeat:
        inner = inner[5:-1]
    base = inner.removesuffix(" range").strip()
    # a choice (jsonl|json): the values the user types, code identifiers kept as they are
    human = base if "|" in base else _TYPE_METAVARS.get(base.lower(), "值")
    return f"{human}（可重复）" if repeat else human


def localize() -> None:
    """Patch typer's help/usage rendering to Chinese (idempotent)."""
    global _done
    if _done:
        return
    _done = True
    import typer.core as tcore
    import typer.rich_utils as ru
    from typer._click import core as ccore
    from typer._click import formatting

    ru.ARGUMENTS_PANEL_TITLE = "参数"
    ru.OPTIONS_PANEL_TITLE = "选项"
    ru.COMMANDS_PANEL_TITLE = "命令"
    ru.ERRORS_PANEL_TITLE = "错误"
    ru.ABORTED_TEXT = "已中止。"
    ru.DEFAULT_STRING = "[默认: {}]"
    ru.ENVVAR_STRING = "[环境变量: {}]"
    ru.REQUIRED_LONG_STRING = "[必填]"
    ru.DEPRECATED_STRING = "（已弃用）"
    ru.RICH_HELP = "用 [blue]'{command_path} {help_option}'[/] 查看帮助。"

    write_usage = formatting.HelpFormatter.write_usage

    def _write_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        write_usage(self, prog, args, USAGE_PREFIX if prefix is None else prefix)

    formatting.HelpFormatter.write_usage = _write_usage

    def _format_usage(self: Any, ctx: Any, formatter: Any) -> None:
        pieces = [_USAGE_PIECES.get(p, p) for p in self.collect_usage_pieces(ctx)]
        formatter.write_usage(ctx.command_path, " ".join(pieces))

    ccore.Command.format_usage = _format_usage

    get_help_option = ccore.Command.get_help_option

    def _get_help_option(self: Any, ctx: Any) -> Any:
        option = get_help_option(self, ctx)
        if option is not None:
            option.help = HELP_OPTION_TEXT
            option.metavar = ""
        return option

    ccore.Command.get_help_option = _get_help_option

    # Rich wraps at spaces and typer lays an option's help out as Columns, which cut a long run of
    # Chinese (no spaces) with "…" in an 80-column terminal: one Text that folds at the column edge.
    from rich.text import Text

    parameter_help = ru._get_parameter_help

    def _get_parameter_help(*, param: Any, ctx: Any, markup_mode: Any) -> Any:
        columns = parameter_help(param=param, ctx=ctx, markup_mode=markup_mode)
        items = list(getattr(columns, "renderables", ()))
        if not items or not all(isinstance(item, Text) for item in items):
            return columns
        text = Text(" ").join(items)
        text.overflow = "fold"
        return text

    ru._get_parameter_help = _get_parameter_help

    command_help = ru._make_command_help

    def _make_command_help(*, help_text: str, markup_mode: Any) -> Any:
        text = command_help(help_text=help_text, markup_mode=markup_mode)
        if isinstance(text, Text):
            text.overflow = "fold"
        return text

    ru._make_command_help = _make_command_help

    format_error = ru.rich_format_error

    def _rich_format_error(self: Any) -> None:
        message = self.format_message
        self.format_message = lambda: usage_error_text(message())
        format_error(self)

    ru.rich_format_error = _rich_format_error

    for cls in (tcore.TyperOption, tcore.TyperArgument):
        original = cls.display_type_rich

        def _display_type_rich(self: Any, ctx: Any, _original: Any = original) -> str | None:
            if self.metavar is not None:
                return self.metavar
            shown = _original(self, ctx)
            if shown is None:
                return None
            dots = shown.endswith("...")
            shown = _human_type(shown.removesuffix("..."))
            return f"{shown}…" if dots else shown

        cls.display_type_rich = _display_type_rich


_KINDS = {"file": "文件", "directory": "目录", "path": "路径"}
_VALUE_ERRORS: list[tuple[str, Any]] = [
    (r"Input should be a valid integer.*", "应为整数"),
    (r"Input should be a valid number.*", "应为数字"),
    (r"Input should be a valid boolean.*", "应为 是/否"),
    (r"Input should be greater than or equal to (\S+)", r"应大于或等于 \1"),
    (r"Input should be greater than (\S+)", r"应大于 \1"),
    (r"Input should be less than or equal to (\S+)", r"应小于或等于 \1"),
    (r"Input should be less than (\S+)", r"应小于 \1"),
    (r"(?:Value error, )?('.*') is not one of (.*)\.", r"\1 不是可选值之一（\2）"),
    (r"(file|directory|path) ('.*') does not exist\.", lambda m: f"{_KINDS[m.group(1)]} {m.group(2)} 不存在"),
    (
        r"(file|directory|path) ('.*') is a directory\.",
        lambda m: f"{_KINDS[m.group(1)]} {m.group(2)} 是目录，应为文件",
    ),
    (
        r"(file|directory|path) ('.*') is a file\.",
        lambda m: f"{_KINDS[m.group(1)]} {m.group(2)} 是文件，应为目录",
    ),
    (
        r"(file|directory|path) ('.*') is not readable\.",
        lambda m: f"{_KINDS[m.group(1)]} {m.group(2)} 不可读",
    ),
]
_USAGE_ERRORS: list[tuple[str, Any]] = [
    (r"No such option: (\S+) \(Possible options: (.*)\)", r"没有选项 \1（可能是：\2）"),
    (r"No such option: (\S+) Did you mean (\S+)\?", r"没有选项 \1（是不是 \2？）"),
    (r"No such option: (\S+)", r"没有选项 \1"),
    (r"No such command '(.+)'\.", r"没有命令 '\1'"),
    (r"Missing argument (.+)\.", r"缺少参数 \1"),
    (r"Missing option (.+)\.", r"缺少选项 \1"),
    (r"Missing parameter: (.+)", r"缺少参数 \1"),
    (r"Got unexpected extra arguments? ?(?:\(s\))? \((.*)\)", r"多余的参数（\1）"),
    (r"Option (.+) requires an argument\.", r"选项 \1 需要一个值"),
    (r"Option (.+) requires (\d+) arguments\.", r"选项 \1 需要 \2 个值"),
    (r"Invalid value for (.+?): (.*)", lambda m: f"{m.group(1)} 的值无效：{_value_error(m.group(2))}"),
    (r"Invalid value: (.*)", lambda m: f"值无效：{_value_error(m.group(1))}"),
]


def _sub_first(rules: list[tuple[str, Any]], text: str) -> str | None:
    import re

    for pattern, repl in rules:
        m = re.fullmatch(pattern, text, flags=re.S)
        if m:
            return m.expand(repl) if isinstance(repl, str) else repl(m)
    return None


def _value_error(text: str) -> str:
    return _sub_first(_VALUE_ERRORS, text.strip()) or text


def usage_error_text(message: str) -> str:
    """typer/click's English usage errors (``Missing argument '文件'.``, ``No such option: --x``, ``Invalid
    value for '--workers': …``) in Chinese; a message it does not know (ours, already Chinese) unchanged."""
    return _sub_first(_USAGE_ERRORS, message.strip()) or message


def error_message(exc: BaseException) -> str:
    """An exception as one Chinese line for stderr: file errors by kind, toolkit errors via
    :func:`toolkit.labels.error_text` (which puts the English location prefix in Chinese)."""
    from toolkit.labels import error_text

    if isinstance(exc, OSError) and not str(exc).startswith(("file ", "文件")):
        where = f": {exc.filename}" if exc.filename else ""
        if isinstance(exc, FileNotFoundError):
            return f"找不到文件{where}"
        if isinstance(exc, PermissionError):
            return f"没有读写权限{where}"
        if isinstance(exc, IsADirectoryError):
            return f"应为文件，却是目录{where}"
        if isinstance(exc, NotADirectoryError):
            return f"应为目录，却是文件{where}"
        return f"无法读写文件{where}（错误码 {exc.errno}）"
    return error_text(str(exc))
