"""The HIS service under load on loopback and restarted with SIGKILL while clients retry: no errors,
no acknowledged decision lost (issue 7). Short here; the 60-second run is in eval/reliability.py."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from toolkit.evaluation.reliability import check_service

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_load_and_restart_lose_nothing(tmp_path: Path) -> None:
    load, restart = check_service(tmp_path, seconds=5, connections=4, restart_seconds=8)
    assert load.numbers["errors"] == 0 and load.numbers["ok"] > 0, load.result
    assert restart.numbers["acked"] > 0 and restart.numbers["lost"] == 0, restart.result
