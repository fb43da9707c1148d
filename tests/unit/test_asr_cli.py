"""``clinic transcribe`` output contract and ``clinic eval asr`` scoring helpers, with a fake transcriber."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import toolkit.asr
from toolkit.asr.records import Correction, Transcript, TranscriptSegment
from toolkit.errors import InputError
from toolkit.evaluation.asr import cer_form, numerals_to_digits, score_clip, undo_corrections

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"


def _fake_transcribe(path, options=None, **_):
    if "corrupt" in str(path):
        raise InputError("cannot decode audio (InvalidDataError); is it a sound file?", file=str(path))
    seg = TranscriptSegment(start=0.0, end=1.5, text="继续二甲双胍")
    fix = Correction(
        original="二假双刮",
        corrected="二甲双胍",
        start=0.0,
        end=1.5,
        offset=2,
        kind="drug",
        term_id="metformin",
        reason="pinyin 1.00, chars 0.50, context yes",
        score=0.875,
    )
    return Transcript(file=str(path), text=seg.text, segments=(seg,), corrections=(fix,))


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setattr(toolkit.asr, "transcribe", _fake_transcribe)
    from toolkit.cli.main import app

    return app


def test_jsonl_one_line_per_file_with_errors_per_file(app, tmp_path):
    out = tmp_path / "out.jsonl"
    good, bad = FIXTURES / "tone440_44k_stereo.mp3", FIXTURES / "corrupt.wav"
    result = CliRunner().invoke(app, ["transcribe", str(good), str(bad), "--format", "jsonl", "-o", str(out)])
    assert result.exit_code == 3, result.output  # every file has its line; one failed: input error (README)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["file"] for x in lines] == [str(good), str(bad)]
    assert all(list(x) == ["file", "text", "segments", "corrections", "warnings", "error"] for x in lines)
    assert lines[0]["text"] == "继续二甲双胍" and lines[0]["error"] is None
    assert lines[0]["corrections"][0]["original"] == "二假双刮"
    assert lines[1]["text"] == "" and "corrupt.wav" in lines[1]["error"]


def test_all_files_failing_exits_nonzero(app):
    result = CliRunner().invoke(app, ["transcribe", str(FIXTURES / "corrupt.wav")])
    assert result.exit_code == 3


def test_unknown_prompt_is_rejected(app):
    result = CliRunner().invoke(app, ["transcribe", "x.wav", "--prompt", "doctor"])
    assert result.exit_code != 0 and "allowed" in result.output


def test_numerals_and_cer_form():
    pytest.importorskip("opencc")
    assert numerals_to_digits("血压一百六十比一百") == "血压160比100"
    assert numerals_to_digits("零点五克，四十七点五毫克，二十八天") == "0.5克，47.5毫克，28天"
    assert cer_form("給予5毫克，每日一次。") == cer_form("给予五毫克 每日1次")


def test_scoring_undoes_corrections_for_the_raw_score():
    pytest.importorskip("opencc")
    t = _fake_transcribe("a.wav")
    assert undo_corrections(t) == "继续二假双刮"
    row = {"file": "a.wav", "reference": "继续二甲双胍", "drugs": "二甲双胍"}
    s = score_clip("set", row, t, 1.0)
    assert (s.errors, s.raw_errors, s.drugs_found, s.raw_drugs_found, s.wrong_corrections) == (0, 2, 1, 0, 0)


def test_a_reread_segment_is_wrong_only_when_the_first_reading_was_closer():
    pytest.importorskip("opencc")
    from toolkit.asr import Transcript
    from toolkit.asr.records import Correction

    def scored(first, reread):
        c = Correction(
            original=first,
            corrected=reread,
            start=0.0,
            end=2.0,
            offset=0,
            kind="segment",
            term_id=None,
            reason="re-read",
            score=0.5,
        )
        t = Transcript(file="a.wav", text=reread, corrections=(c,))
        return score_clip(
            "set", {"file": "a.wav", "reference": "加用非诺贝特200毫克", "drugs": "非诺贝特"}, t, 1.0
        )

    better = scored("加用飞膜贝克200毫克", "加用非诺贝特200毫克")
    assert (better.wrong_corrections, better.drugs_found, better.raw_drugs_found) == (0, 1, 0)
    assert scored("加用非诺贝特200毫克", "加用飞膜贝克200毫克").wrong_corrections == 1
