"""Labelled samples are found one way (``toolkit.evaluation.data.eval_data``), whatever the working directory,
and the scripts in ``eval/`` import the installed package instead of editing ``sys.path``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli.main import app
from toolkit.errors import InputError
from toolkit.evaluation.data import eval_data, repository_root

ROOT = Path(__file__).resolve().parents[2]

PENDING_SYS_PATH: set[str] = {"eval/bench/bench_visit.py"}
"""Scripts that still edit sys.path (owned by another change); remove each once it imports the package."""


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
    assert "care_cases.jsonl" in result.output


def test_eval_scripts_do_not_edit_sys_path() -> None:
    edits = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "eval").rglob("*.py")
        if re.search(r"sys\.path\.(insert|append)|sys\.path\s*=", p.read_text(encoding="utf-8"))
    }
    assert edits - PENDING_SYS_PATH == set(), "import the installed package (pip install -e) instead"
    assert PENDING_SYS_PATH - edits == set(), "no longer edits sys.path: remove it from PENDING_SYS_PATH"
