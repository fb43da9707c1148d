"""No setting is read from or written to the process environment by the library (issue 15).

The library takes every setting as an argument or an options field (``ServiceConfig.token``,
``ServiceConfig.lis_map``, ``ExtractOptions.ner_model``, ``load_model(cache_dir=…)``, …), so a batch
worker or a Spark executor configured by the driver's options behaves like the driver. Only the
entry points read documented variables, as fallbacks for their command-line options: ``toolkit/cli/``
(``CLINIC_API_TOKEN``, ``CLINIC_LIS_MAP``, ``CLINIC_CACHE``, ``CLINIC_DEMO_USERS``,
``CLINIC_DEMO_ALLOWED_HOSTS``). The demo's entry module ``demo/app.py`` only *sets* gradio's and
huggingface_hub's own switches (analytics, hub, SSR off) before importing gradio, which reads them at
import time; it reads nothing.

The check is on the syntax tree, so a docstring or comment that mentions the environment is fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "toolkit"
ENTRY_POINTS = (PACKAGE / "cli",)
"""Where documented variables may be read (as fallbacks for command-line options)."""
DEMO_ENTRY = ROOT / "demo" / "app.py"

ENV_FUNCTIONS = frozenset({"getenv", "getenvb", "putenv", "unsetenv"})
ENV_NAMES = frozenset({"environ", "environb"})


def _library_files() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "demo_app":  # the link to demo/ (checked below on its own terms)
            continue
        if any(path.is_relative_to(entry) for entry in ENTRY_POINTS):
            continue
        out.append(path)
    return out


def _environment_uses(tree: ast.AST) -> list[ast.AST]:
    """Every node that touches the environment: ``os.environ``, ``environ`` imported from os, ``getenv`` …"""
    names = ENV_NAMES | ENV_FUNCTIONS
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        attribute = isinstance(node, ast.Attribute) and node.attr in names
        imported = (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in names for alias in node.names)
        )
        if attribute or imported:
            found.append(node)
    return found


def _where(path: Path, nodes: list[ast.AST]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{getattr(n, 'lineno', '?')}" for n in nodes]


def test_the_library_never_reads_or_writes_the_environment() -> None:
    files = _library_files()
    assert len(files) > 50 and any(p.name == "config.py" for p in files)  # the walk found the package
    offenders: list[str] = []
    for path in files:
        offenders += _where(path, _environment_uses(ast.parse(path.read_text(encoding="utf-8"))))
    assert not offenders, "settings must come as arguments/options, not the environment: " + ", ".join(
        offenders
    )


def test_the_demo_entry_module_only_sets_gradios_switches_before_importing_it() -> None:
    tree = ast.parse(DEMO_ENTRY.read_text(encoding="utf-8"))
    allowed: set[int] = set()
    for node in tree.body:  # module level only: `os.environ[key] = value` before `import gradio`
        if isinstance(node, ast.For):
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Subscript)
                ):
                    allowed.add(id(stmt.targets[0].value))
    uses = [n for n in _environment_uses(tree) if id(n) not in allowed]
    assert not uses, "demo/app.py reads the environment: " + ", ".join(_where(DEMO_ENTRY, uses))


def test_the_check_finds_each_way_of_touching_the_environment() -> None:
    """The checker itself: each of these is found, a docstring mentioning os.environ is not."""
    for source in (
        "import os\nx = os.environ.get('A')",
        "import os\nos.environ['A'] = '1'",
        "import os\nx = os.getenv('A')",
        "from os import environ\nx = environ['A']",
        "from os import getenv",
        "import os\nos.environ.setdefault('A', '1')",
    ):
        assert _environment_uses(ast.parse(source)), source
    assert not _environment_uses(ast.parse('"""reads os.environ? no."""\nimport os\nx = os.path.join("a")'))
