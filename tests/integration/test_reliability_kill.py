"""A real SIGKILL of ``clinic audit`` mid-run, then ``--resume``: complete, no duplicates, nothing lost
against an uninterrupted run (issue 7). ~50k lines; the 1M-line run is in eval/reliability.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.evaluation.reliability import kill_and_resume

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_killed_batch_resumes_to_the_same_output(tmp_path: Path) -> None:
    check = kill_and_resume(tmp_path, lines=50_000, kill_after=0)  # kill once a tenth is written
    assert check.numbers["cases_before_kill"] > 0, check.result
    assert check.numbers["rows"] == 50_000
    assert check.numbers["identical"], check.result
    assert check.ok, check.result
