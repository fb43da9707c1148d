"""The documented variables still work where they are read now: at the command line, as fallbacks for
options, passed down to the library explicitly (issue 15). The library itself ignores them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from toolkit.cli.main import app

TOKEN = "t" * 20
LIS_YAML = "lis:\n  - {system: 'urn:oid:1.2.156.112604.1.2.1', code: EGFR-CKD, lab: egfr}\n"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``clinic serve`` runs up to the server start; the ServiceConfig it would serve is captured."""
    pytest.importorskip("fastapi")
    import toolkit.service

    configs: list[Any] = []
    monkeypatch.setattr(toolkit.service, "serve", lambda config, on_started=None: configs.append(config))
    monkeypatch.setattr("toolkit.cli.serve.port_in_use", lambda host, port: False)
    for name in ("CLINIC_API_TOKEN", "CLINIC_LIS_MAP"):
        monkeypatch.delenv(name, raising=False)
    return configs


def test_serve_reads_the_token_and_lis_map_variables_and_options_win(
    served: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    res = CliRunner().invoke(app, ["serve", "--db", db])
    assert res.exit_code == 0, res.output
    assert served[-1].token is None and served[-1].lis_map is None

    lis = tmp_path / "lis.yaml"
    lis.write_text(LIS_YAML, encoding="utf-8")
    monkeypatch.setenv("CLINIC_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLINIC_LIS_MAP", str(lis))
    res = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--db", db])
    assert res.exit_code == 0, res.output  # the variable's token allows a public bind, as before
    assert served[-1].token == TOKEN and served[-1].lis_map == str(lis)

    token_file, other = tmp_path / "token", tmp_path / "other.yaml"
    token_file.write_text("f" * 20 + "\n")
    other.write_text(LIS_YAML, encoding="utf-8")
    res = CliRunner().invoke(
        app, ["serve", "--db", db, "--token-file", str(token_file), "--lis-map", str(other)]
    )
    assert res.exit_code == 0, res.output
    assert served[-1].token == "f" * 20 and served[-1].lis_map == str(other)

    monkeypatch.setenv("CLINIC_API_TOKEN", "short")
    res = CliRunner().invoke(app, ["serve", "--db", db])
    assert res.exit_code == 2 and "16" in res.output


def test_the_service_reads_lab_codes_through_its_config_not_the_environment(
    tmp_path: Path, shipped_kb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fhir.resources")
    pytest.importorskip("ucumvert")
    from fastapi.testclient import TestClient

    from tests.unit.test_service_fhir import fhir_bundle
    from toolkit.service import ServiceConfig, create_app

    bundle = fhir_bundle()
    egfr = bundle["entry"][5]["resource"]
    egfr["code"] = {
        "coding": [{"system": "urn:oid:1.2.156.112604.1.2.1", "code": "EGFR-CKD"}],
        "text": "估算GFR",
    }
    egfr["valueQuantity"] = {"value": 25, "unit": "ml/min/1.73m2"}
    bundle["entry"].pop(4)
    lis = tmp_path / "lis.yaml"
    lis.write_text(LIS_YAML, encoding="utf-8")
    monkeypatch.setenv("CLINIC_LIS_MAP", str(lis))  # ignored by the library

    def rules(**cfg: Any) -> set[str]:
        config = ServiceConfig(db_url=f"sqlite:///{tmp_path / 'svc.db'}", **cfg)
        client = TestClient(create_app(config, knowledge=shipped_kb), base_url="http://127.0.0.1")
        res = client.post("/v1/fhir/audit", json=copy.deepcopy(bundle))
        assert res.status_code == 200, res.text
        return {
            c["code"]
            for e in res.json()["entry"]
            if e["resource"]["resourceType"] == "DetectedIssue"
            for c in e["resource"]["code"]["coding"]
        }

    assert "RX-CI-049" not in rules()  # eGFR under a local code: unknown without the map
    assert "RX-CI-049" in rules(lis_map=str(lis))  # metformin at eGFR 25


def test_a_bad_lis_map_stops_the_service_at_start(tmp_path: Path, kb: Any) -> None:
    pytest.importorskip("fastapi")
    from toolkit.errors import ToolkitError
    from toolkit.service import ServiceConfig, create_app

    bad = tmp_path / "lis.yaml"
    bad.write_text("lis:\n  - {code: X, lab: no_such_lab}\n", encoding="utf-8")
    with pytest.raises(ToolkitError, match="unknown lab"):
        create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'svc.db'}", lis_map=str(bad)), knowledge=kb)


def test_transcribe_joins_the_packaged_model_under_clinic_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toolkit.asr
    from tests.unit.test_asr_model import _fake_packages
    from toolkit.asr.records import Transcript

    _fake_packages(tmp_path, monkeypatch)
    seen: list[Any] = []

    def fake(path: Any, options: Any = None, **_: Any) -> Transcript:
        seen.append(options)
        return Transcript(file=str(path), text="好")

    monkeypatch.setattr(toolkit.asr, "transcribe", fake)
    audio = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "tone440_44k_stereo.mp3"
    monkeypatch.delenv("CLINIC_CACHE", raising=False)
    res = CliRunner().invoke(app, ["transcribe", str(audio)])
    assert res.exit_code == 0, res.output
    assert seen[-1].model is None  # the default cache, resolved by the library as before

    monkeypatch.setenv("CLINIC_CACHE", str(tmp_path / "env-cache"))
    res = CliRunner().invoke(app, ["transcribe", str(audio)])
    assert res.exit_code == 0, res.output
    assert seen[-1].model == str(tmp_path / "env-cache" / "whisper-base")
    assert (tmp_path / "env-cache" / "whisper-base" / "model.bin").read_bytes() == b"hello world"

    res = CliRunner().invoke(app, ["transcribe", str(audio), "--cache-dir", str(tmp_path / "opt")])
    assert res.exit_code == 0, res.output
    assert seen[-1].model == str(tmp_path / "opt" / "whisper-base")  # the option wins over the variable


def test_demo_passes_its_host_and_account_options_or_variables_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    import toolkit.cli.demo as cli_demo
    import toolkit.demo_api

    launched: list[dict[str, Any]] = []
    blocks = types.SimpleNamespace(block_thread=lambda: None)
    module = types.SimpleNamespace(
        build_app=lambda db, warm: blocks,
        launch=lambda app, port, **kw: launched.append(kw),
    )
    monkeypatch.setattr(cli_demo, "load_demo_module", lambda: module)
    monkeypatch.setattr(cli_demo, "check_port_free", lambda port: None)
    monkeypatch.setattr(toolkit.demo_api, "warm_up", lambda asr=True: [])
    users = tmp_path / "users.txt"
    users.write_text("李药师:" + "0" * 64 + "\n", encoding="utf-8")
    for name in ("CLINIC_DEMO_USERS", "CLINIC_DEMO_ALLOWED_HOSTS"):
        monkeypatch.delenv(name, raising=False)

    res = CliRunner().invoke(app, ["demo", "--no-asr-warmup"])
    assert res.exit_code == 0, res.output
    assert launched[-1] == {"block": False, "hosts": (), "users": None}

    monkeypatch.setenv("CLINIC_DEMO_USERS", str(users))
    monkeypatch.setenv("CLINIC_DEMO_ALLOWED_HOSTS", "pharmacy.clinic.local,his.local")
    res = CliRunner().invoke(app, ["demo", "--no-asr-warmup"])
    assert res.exit_code == 0, res.output
    assert launched[-1]["users"] == users
    assert list(launched[-1]["hosts"]) == ["pharmacy.clinic.local,his.local"]  # split by allowed_hosts

    res = CliRunner().invoke(
        app, ["demo", "--no-asr-warmup", "--allowed-host", "a.local", "--allowed-host", "b"]
    )
    assert res.exit_code == 0, res.output
    assert list(launched[-1]["hosts"]) == ["a.local", "b"]  # the options win over the variable

    res = CliRunner().invoke(app, ["demo", "--no-asr-warmup", "--users", str(tmp_path / "missing.txt")])
    assert res.exit_code == 2  # a missing accounts file is a usage error, before anything starts


def test_the_demo_module_takes_hosts_and_accounts_as_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("gradio")
    from toolkit.cli.demo import load_demo_module

    demo_app = load_demo_module()
    monkeypatch.setenv("CLINIC_DEMO_ALLOWED_HOSTS", "*")  # ignored below the command line
    monkeypatch.setenv("CLINIC_DEMO_USERS", str(tmp_path / "users.txt"))
    assert demo_app.allowed_hosts() == ("localhost", "127.0.0.1", "::1")
    assert demo_app.load_users() is None
    hosts = demo_app.allowed_hosts(["Pharmacy.clinic.local, his.local", "x.local"])
    assert hosts is not None and {"pharmacy.clinic.local", "his.local", "x.local", "127.0.0.1"} <= set(hosts)
    assert demo_app.allowed_hosts(["*"]) is None


def test_visit_passes_the_cache_for_audio_inputs_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toolkit.cli.visit as cli_visit
    import toolkit.visit
    from tests.unit.test_asr_model import _fake_packages
    from toolkit.errors import ToolkitError

    _fake_packages(tmp_path, monkeypatch)
    cli_visit._asr_options.cache_clear()
    calls: list[dict[str, Any]] = []

    def fake(**kwargs: Any) -> Any:
        calls.append(kwargs)
        raise ToolkitError("stop here")  # the options are what is looked at

    monkeypatch.setattr(toolkit.visit, "visit", fake)
    audio = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "tone440_44k_stereo.mp3"
    text = tmp_path / "note.txt"
    text.write_text("头晕三天", encoding="utf-8")
    monkeypatch.setenv("CLINIC_CACHE", str(tmp_path / "env-cache"))
    res = CliRunner().invoke(app, ["visit", str(audio), str(text)])
    assert res.exit_code == 1, res.output  # every input failed (on purpose)
    audio_call, text_call = calls
    assert audio_call["asr_options"].model == str(tmp_path / "env-cache" / "whisper-base")
    assert "asr_options" not in text_call

    monkeypatch.delenv("CLINIC_CACHE")
    calls.clear()
    CliRunner().invoke(app, ["visit", str(audio)])
    assert "asr_options" not in calls[0]  # the library's default cache, as before
