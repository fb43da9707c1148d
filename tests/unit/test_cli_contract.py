"""The CLI as other tools call it (issue 14): stdout holds only the requested format, --version, stdin,
documented exit codes, no silent JSONL for an unknown suffix, transcribe and demo failures."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import FIXTURES
from toolkit import __version__
from toolkit.cli.audit import EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, EXIT_USAGE, example_file, stdin_to_file
from toolkit.cli.main import app

runner = CliRunner()
KB = str(FIXTURES / "kb")


def test_jsonl_stdout_is_only_json_lines() -> None:
    result = runner.invoke(app, ["audit", "--rules", KB, "-f", "jsonl"])
    assert result.exit_code == EXIT_OK, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and [json.loads(x)["id"] for x in lines] == [
        "RX-1",
        "RX-2",
        "RX-3",
        "RX-4",
        "RX-5",
    ]
    assert "知识库" in result.stderr  # the human summary went to stderr


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"clinic-toolkit {__version__}"


def test_stdin_jsonl_and_csv(tmp_path: Path) -> None:
    data = example_file().read_bytes()
    result = runner.invoke(app, ["audit", "-", "--rules", KB, "-f", "jsonl"], input=data)
    assert result.exit_code == EXIT_OK, result.output
    assert len(result.stdout.splitlines()) == 5
    csv_text = (
        "处方号,年龄,诊断,药品名称,单次剂量,剂量单位,频次,给药途径,天数\n"
        "1,60,原发性高血压(I10),苯磺酸氨氯地平片,5,mg,qd,口服,28\n"
    )
    out = tmp_path / "o.jsonl"
    result = runner.invoke(app, ["audit", "-", "--rules", KB, "-o", str(out), "-j", "1"], input=csv_text)
    assert result.exit_code == EXIT_OK, result.output
    assert [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()] == ["1"]


def test_stdin_copy_is_sniffed_and_removed_by_the_caller() -> None:
    import io

    for raw, suffix in (
        (b'{"id": 1}\n', ".jsonl"),
        (b"\xef\xbb\xbf[{}]", ".json"),
        ("处方号\n".encode(), ".csv"),
    ):
        path = stdin_to_file(io.BytesIO(raw))
        try:
            assert path.suffix == suffix and path.read_bytes() == raw
        finally:
            path.unlink()


def test_fail_on_threshold_exit_codes() -> None:
    # the bundled example has block findings (RX-2: penicillin allergy + amoxicillin)
    assert runner.invoke(app, ["audit", "--rules", KB, "-f", "jsonl"]).exit_code == EXIT_OK
    assert (
        runner.invoke(app, ["audit", "--rules", KB, "-f", "jsonl", "--fail-on", "block"]).exit_code
        == EXIT_FINDINGS
    )
    assert runner.invoke(app, ["audit", "--rules", KB, "--fail-on", "warn"]).exit_code == EXIT_FINDINGS
    assert runner.invoke(app, ["audit", "--rules", KB, "--fail-on", "never"]).exit_code == EXIT_USAGE


def test_fail_on_with_a_report_file(tmp_path: Path) -> None:
    clean = tmp_path / "clean.csv"
    clean.write_text(
        "处方号,年龄,诊断,药品名称,单次剂量,剂量单位,频次,给药途径,天数\n"
        "1,60,原发性高血压(I10),苯磺酸氨氯地平片,5,mg,qd,口服,28\n",
        encoding="utf-8",
    )
    args = ["audit", str(clean), "--rules", KB, "-o", str(tmp_path / "r.csv"), "-j", "1", "--fail-on", "warn"]
    assert runner.invoke(app, args).exit_code == EXIT_OK
    args = ["audit", "--rules", KB, "-o", str(tmp_path / "r.xlsx"), "-j", "1", "--fail-on", "block"]
    assert runner.invoke(app, args).exit_code == EXIT_FINDINGS


def test_unknown_output_suffix_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "--rules", KB, "-o", str(tmp_path / "out.pdf")])
    assert result.exit_code == EXIT_USAGE and "后缀" in result.stderr
    assert not (tmp_path / "out.pdf").exists()
    # an explicit format is honoured whatever the suffix
    result = runner.invoke(
        app, ["audit", "--rules", KB, "-o", str(tmp_path / "out.txt"), "-f", "csv", "-j", "1"]
    )
    assert result.exit_code == EXIT_OK and (tmp_path / "out.txt").read_text(encoding="utf-8-sig").startswith(
        "行号"
    )


def test_input_and_usage_errors_have_distinct_codes(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["audit", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.jsonl")])
    assert missing.exit_code == EXIT_INPUT and "错误" in missing.stderr
    assert runner.invoke(app, ["audit", "--no-such-option"]).exit_code == EXIT_USAGE
    assert runner.invoke(app, ["audit", "--rules", KB, "-f", "xlsx"]).exit_code == EXIT_USAGE  # needs -o
    assert runner.invoke(app, ["audit", "--rules", KB, "-f", "pdf"]).exit_code == EXIT_USAGE


def test_table_output_speaks_chinese() -> None:
    result = runner.invoke(app, ["audit", "--rules", KB])
    assert result.exit_code == EXIT_OK
    assert "拦截" in result.stdout and "block" not in result.stdout and "warn" not in result.stdout


def test_transcribe_exits_nonzero_on_a_bad_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import toolkit.asr
    from toolkit.asr.records import Transcript

    # a transcriber that reports the problem in the result instead of raising
    monkeypatch.setattr(
        toolkit.asr,
        "transcribe",
        lambda path, options=None, **_: Transcript(file=str(path), error="cannot decode audio"),
    )
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio", encoding="utf-8")
    result = runner.invoke(app, ["transcribe", str(bad)])
    assert result.exit_code == EXIT_INPUT and "错误" in result.stderr


def test_demo_on_a_busy_port_says_so_in_chinese_and_prints_no_url() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = runner.invoke(app, ["demo", "--port", str(port), "--no-asr-warmup"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "已被占用" in result.stderr and str(port) in result.stderr
    assert "http://" not in result.output and "Traceback" not in result.output
