"""Labelled samples are found one way (``toolkit.evaluation.data.eval_data``), whatever the working directory,
and the scripts in ``eval/`` import the installed package instead of editing ``sys.path``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli.main import app
from toolkit.errors import InputError
from toolkit.evaluation.data import eval_data, repository_root

ROOT = Path(__file__).resolve().parents[2]

PENDING_SYS_PATH: set[str] = set()
"""Scripts that still edit sys.path (owned by another change); remove each once it imports the package."""

PENDING_SIBLING_IMPORTS: dict[str, list[str]] = {
    "eval/reviewer/eval_synthetic.py": ["synth"],
    "eval/reviewer/train_default.py": ["synth"],
}
"""Scripts that still import a sibling script (``eval/reviewer/synth.py``); remove each once it imports the
shared code from ``toolkit/evaluation/``."""


def test_eval_data_is_the_repositorys_eval_data_from_any_directory(tmp_path: Path, monkeypatch) -> None:
    assert repository_root() == ROOT
    monkeypatch.chdir(tmp_path)
    assert eval_data("audit_cases.jsonl") == ROOT / "eval" / "data" / "audit_cases.jsonl"
    monkeypatch.chdir(ROOT)  # from the root: the short form reports have always shown
    assert eval_data("audit_cases.jsonl") == Path("eval/data/audit_cases.jsonl")


def test_a_missing_sample_is_an_input_error_naming_the_path() -> None:
    with pytest.raises(InputError) as err:
        eval_data("no_such_file.jsonl")
    assert err.value.file == str(ROOT / "eval" / "data" / "no_such_file.jsonl")
    assert eval_data("no_such_file.jsonl", must_exist=False).name == "no_such_file.jsonl"


def test_clinic_eval_care_finds_its_default_file_outside_the_repository(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["eval", "care", "--split", "holdout", "--show", "0"])
    assert result.exit_code == 0, result.output
    # the table title names the file; rich wraps it at the terminal width wherever the checkout's path
    # puts the break, so compare without white space
    assert "eval/data/care_cases.jsonl" in "".join(result.output.split())


def test_eval_scripts_do_not_edit_sys_path() -> None:
    edits = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "eval").rglob("*.py")
        if re.search(r"sys\.path\.(insert|append)|sys\.path\s*=", p.read_text(encoding="utf-8"))
    }
    assert edits - PENDING_SYS_PATH == set(), "import the installed package (pip install -e) instead"
    assert PENDING_SYS_PATH - edits == set(), "no longer edits sys.path: remove it from PENDING_SYS_PATH"


def test_eval_scripts_do_not_import_each_other() -> None:
    """A script importing a sibling script (``from bench_service import …``) relies on its own directory being
    on sys.path; what scripts share belongs in ``toolkit/evaluation/``."""
    scripts = {p.stem for p in (ROOT / "eval").rglob("*.py")}
    imports = {}
    for p in (ROOT / "eval").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            hits = [n for n in names if n.split(".")[0] in scripts]
            if hits:
                imports[p.relative_to(ROOT).as_posix()] = hits
    assert {k: v for k, v in imports.items() if PENDING_SIBLING_IMPORTS.get(k) != v} == {}, (
        "move the shared code to toolkit/evaluation/ and import it from there"
    )
    assert PENDING_SIBLING_IMPORTS.keys() - imports.keys() == set(), "no longer imports a sibling: remove it"
