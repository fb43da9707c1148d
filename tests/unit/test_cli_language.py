"""The CLI speaks Chinese: every ``--help`` page and the summary lines a person reads.

Commands are discovered from the typer app (a new command is checked without editing this file). What is
left after removing option names, file suffixes, code identifiers, the values a user types (choices,
command names, defaults) and the allowed technical terms must hold no Latin word of three letters or more.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from toolkit.cli.main import app

ROOT = Path(__file__).parents[2]
KB = str(ROOT / "rules")

# Technical terms kept in Latin script (in the help text they stand beside their Chinese wording).
ALLOWED = {
    # formats and standards
    "JSON",
    "JSONL",
    "CSV",
    "Excel",
    "Parquet",
    "YAML",
    "HTML",
    "FHIR",
    "R4B",
    "ONNX",
    "HIS",
    "CDS",
    "Hooks",
    "JWT",
    "JWKS",
    "aud",
    "API",
    "HTTP",
    "URL",
    "UTF",
    "GBK",
    "ICD",
    "Bundle",
    "Host",
    "DNS",
    "Bearer",
    "token",
    # software and hardware named as such
    "clinic",
    "toolkit",
    "SQLite",
    "PostgreSQL",
    "SQLAlchemy",
    "sqlite",
    "postgresql",
    "psycopg",
    "Spark",
    "Hive",
    "master",
    "CPU",
    "GPU",
    "torch",
    "Whisper",
    "Silero",
    "VAD",
    "spaCy",
    "Ctrl",
    "README",
    "PORT",
    "int8",
    "fp32",
    "opset",
    "manifest",
    "HuggingFace",
    "CTranslate2",
    "faster",
    # metrics and clinical abbreviations
    "AUC",
    "CER",
    "span",
    "micro",
    "eGFR",
    "CCKS",
    "cMedQANER",
    "dev",
    "test",
    "holdout",
    "TP",
    "FP",
    "FN",
}
# Values the user types or that the tool writes for machines (mentioned in help texts).
CODE_VALUES = {
    "info",
    "warn",
    "block",
    "jsonl",
    "json",
    "csv",
    "xlsx",
    "html",
    "table",
    "text",
    "fhir",
    "local",
    "spark",
    "simplified",
    "pass",
    "return",
    "override",
    "none",
    "content",
    "full",
    "status",
    "error",
    "findings",
    "case",
    "decision",
    "record_fields",
    "yes",
    "no",
}

LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _walk(command, path: tuple[str, ...] = ()):
    """(path, command) for the app and every command and sub-command under it."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


ROOT_COMMAND = get_command(app)
COMMANDS = list(_walk(ROOT_COMMAND))
COMMAND_NAMES = {part for path, _ in COMMANDS for name in path for part in (name, *name.split("-"))}
CHOICES = {
    str(c)
    for _, cmd in COMMANDS
    for p in getattr(cmd, "params", [])
    for c in (getattr(getattr(p, "type", None), "choices", None) or ())
}


def english_words(text: str) -> list[str]:
    """The Latin words of ``text`` a Chinese reader would have to translate."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    text = re.sub(r"\[默认: [^\]]*\]", " ", text)  # default values are values, not wording
    text = re.sub(r"\b[a-z][a-z0-9+]*://\S*", " ", text)  # URLs and SQLAlchemy URLs
    text = re.sub(r"`[^`]*`", " ", text)  # code in backticks
    text = re.sub(
        r"\b\d[\w.]*\+[0-9a-f]{6,}\b", " ", text
    )  # versions with a commit hash (2026.12.0+c21f5ead)
    text = re.sub(r"(?<![\w-])--?[A-Za-z][\w-]*", " ", text)  # option names
    text = re.sub(r"(?<![\w/])(?:[\w.-]*/)+[\w.{}*-]*", " ", text)  # paths (eval/data/x.jsonl, /v1/audit)
    text = re.sub(r"\b\w+\.(?:jsonl|json|csv|xlsx|html|txt|yaml|yml|onnx|pt|npz|tsv|db|wav|mp3)\b", " ", text)
    text = re.sub(r"\.\w+", " ", text)  # file suffixes
    text = re.sub(r"\b\w*_\w*\b", " ", text)  # code identifiers (snake_case)
    text = re.sub(r"\b[A-Z][A-Z0-9_]{2,}\b", lambda m: " " if "_" in m.group() else m.group(), text)
    skip = ALLOWED | CODE_VALUES | COMMAND_NAMES | CHOICES
    return [w for w in LATIN_WORD.findall(text) if len(re.findall("[A-Za-z]", w)) >= 3 and w not in skip]


def test_the_checker_catches_english():
    assert english_words("write the metrics as JSON") == ["write", "the", "metrics"]
    assert english_words("报告文件，格式由后缀决定（.jsonl .csv）--fail-on warn 写入 eval/data/a.jsonl") == []
    assert english_words("╭─ Options ─╮ Usage: clinic") == ["Options", "Usage"]


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(("clinic", *p)))
def test_help_is_chinese(path: tuple[str, ...]):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    assert "用法" in result.output
    assert not re.search(r"<(bool|path|str|int|float|list\[)", result.output), result.output
    assert english_words(result.output) == [], result.output


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(("clinic", *p)))
def test_help_is_not_cut_in_an_80_column_terminal(path: tuple[str, ...]):
    """Rich wraps at spaces; a run of Chinese without spaces must fold, not end in "…"."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0 and "…" not in result.output, result.output


def test_commands_are_discovered():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"audit", "serve", "eval", "eval audit", "rules", "visit"} <= names


def test_audit_summary_is_chinese():
    result = CliRunner().invoke(app, ["audit", "--rules", KB, "-f", "jsonl"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() and english_words(result.stderr) == [], result.stderr
    table = CliRunner().invoke(app, ["audit", "--rules", KB], env={"COLUMNS": "200"})
    summary = [line for line in table.stdout.splitlines() if line.strip()][-1]
    header = next(line for line in table.stdout.splitlines() if "级别" in line)
    assert "知识库" in summary and english_words(summary + header) == [], table.stdout
    # (the 依据 column quotes the cited source as published, e.g. an FDA label section: not CLI wording)


def test_care_summary_is_chinese(tmp_path: Path):
    src = tmp_path / "in.jsonl"
    good = {
        "id": "v1",
        "patient": {"age": 60, "diagnoses": [{"name": "高血压"}]},
        "vitals": {"sbp": 150, "dbp": 95},
    }
    src.write_text(json.dumps(good, ensure_ascii=False) + "\n{not json\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["care", str(src), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    assert "已评估" in result.stderr and english_words(result.stderr) == [], result.stderr


def test_visit_summary_is_chinese(tmp_path: Path):
    src = tmp_path / "dictation.txt"
    src.write_text(
        "患者男，65岁，高血压十年，血压150/95。处方：氨氯地平片 5mg 每日一次 口服。", encoding="utf-8"
    )
    result = CliRunner().invoke(
        app, ["visit", str(src), str(tmp_path / "missing.wav"), "-o", str(tmp_path / "out.jsonl")]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() and english_words(result.stderr) == [], result.stderr


def test_error_messages_are_chinese(tmp_path: Path):
    result = CliRunner().invoke(app, ["eval", "audit", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2 and "错误" in result.stderr
    assert english_words(result.stderr) == [], result.stderr


def test_serve_start_lines_say_where_and_what_without_the_password(tmp_path: Path):
    from toolkit.cli.serve import describe_db, start_lines
    from toolkit.service.config import ServiceConfig

    pg = describe_db("postgresql+psycopg://clinic:s3cret@db.local:5433/audits")
    assert pg == "PostgreSQL db.local:5433/audits（用户 clinic）" and "s3cret" not in pg
    assert describe_db(f"sqlite:///{tmp_path}/x.db") == f"SQLite 文件 {tmp_path.resolve()}/x.db"
    config = ServiceConfig(
        db_url="sqlite:///./clinic.db", host="127.0.0.1", port=8123, token="t0ken", cds_jwks="jwks.json"
    )
    lines = start_lines(config, "2026.12.0")
    assert lines[0].startswith("clinic serve 已启动：http://127.0.0.1:8123")
    text = "\n".join(lines)
    assert "2026.12.0" in text and "SQLite 文件" in text and "JWT" in text and "t0ken" not in text
    assert english_words(text) == [], text


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "--nope"],
        ["audit", "--workers", "x"],
        ["care"],
        ["care", "/no/such/file.jsonl"],
        ["visit", "-f", "表格", "a.txt"],
        ["audit", "--max-items", "0"],
        ["audit", "a", "b"],
        ["audit", "-o"],
        ["不存在的命令"],
    ],
)  # user input in Chinese: only our wording is checked
def test_usage_errors_are_chinese(args: list[str]):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 2
    assert "错误" in result.stderr
    assert english_words(result.stderr) == [], result.stderr


def test_serve_refuses_a_busy_port_in_chinese(tmp_path: Path):
    import socket

    from toolkit.cli.serve import port_in_use

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
        result = CliRunner().invoke(
            app, ["serve", "--port", str(port), "--db", f"sqlite:///{tmp_path / 'x.db'}"]
        )
    assert result.exit_code == 2 and "已被占用" in result.stderr, result.output
    assert english_words(result.stderr) == [], result.stderr
    assert not port_in_use("127.0.0.1", port)
