"""One error hierarchy for the toolkit.

Messages name the file, row and field they are about and list allowed values,
so a pharmacist or an integrator can fix the input without reading code.
"""

from __future__ import annotations


class ToolkitError(Exception):
    """Base of every error the toolkit raises on purpose."""


class KnowledgeError(ToolkitError):
    """The knowledge base (``rules/``) or a local override file is invalid.

    ``problems`` holds every problem found, each already located as
    ``file -> path -> field: message``.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        head = f"{len(self.problems)} problem(s) in the knowledge base:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class InputError(ToolkitError):
    """Outside data (a case, a file, a row) cannot be read; says where."""

    def __init__(
        self, message: str, *, file: str | None = None, row: int | str | None = None, field: str | None = None
    ):
        self.file, self.row, self.field = file, row, field
        where = " ".join(
            part
            for part in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"field '{field}'" if field else "",
            )
            if part
        )
        self.reason = message
        super().__init__(f"{where}: {message}" if where else message)


class MissingExtraError(ToolkitError):
    """An optional dependency is not installed; names the extra that provides it."""

    def __init__(self, module: str, extra: str):
        self.module, self.extra = module, extra
        super().__init__(
            f"'{module}' is not installed. Install it with: pip install 'clinic-toolkit[{extra}]'"
        )


def require(module: str, extra: str):
    """Import ``module`` lazily, raising :class:`MissingExtraError` naming ``extra`` when absent."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module, extra) from exc
