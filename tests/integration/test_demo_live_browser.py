"""Live dictation in the demo (issue 13), in headless Chromium: the transcript box shows the text while the
doctor is still speaking, and stopping the recording drafts and audits the record without another click.

Chromium's fake capture device plays a ~21 s dictation (three synthetic clips joined) into the
microphone; the page is polled while it plays. Uses the ``demo_url`` fixture (and its skips) of
``test_demo_browser.py``: the real ``clinic demo`` in a subprocess, or ``CLINIC_DEMO_URL``.
"""

from __future__ import annotations

import time
import wave
from pathlib import Path

import pytest

from tests.integration.test_demo_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, demo_url  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CLIPS = ["med01.wav", "med02.wav", "med07.wav"]  # 氨氯地平 …; 二甲双胍 …; 改为硝苯地平控释片 …


def _dictation_wav(path: Path) -> float:
    """The clips joined with 0.6 s pauses, as the plain 16-bit PCM WAV the fake device wants; seconds."""
    import numpy as np

    from toolkit.asr.audio import SAMPLE_RATE, load_audio

    pause = np.zeros(int(0.6 * SAMPLE_RATE), np.float32)
    parts = []
    for name in CLIPS:
        parts += [load_audio(ROOT / "eval" / "data" / "asr_medical" / name), pause]
    parts.append(np.zeros(SAMPLE_RATE, np.float32))
    samples = np.concatenate(parts)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return samples.size / SAMPLE_RATE


def test_transcript_appears_while_speaking_and_stop_drafts_the_record(demo_url: str, tmp_path: Path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    mic = tmp_path / "dictation.wav"
    seconds = _dictation_wav(mic)
    seen: list[tuple[float, str]] = []  # (seconds since recording started, transcript box)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={mic}%noloop",
            ],
        )
        try:
            context = browser.new_context(locale="zh-CN", permissions=["microphone"])
            page = context.new_page()
            page.goto(demo_url)
            page.click("#voice-mic button.record-button")
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds + 1.0:
                page.wait_for_timeout(500)
                seen.append((round(time.monotonic() - t0, 1), page.input_value("#voice-transcript textarea")))
            while_speaking = [text for _, text in seen if text]
            page.click("#voice-mic button.stop-button")
            stopped = time.monotonic()
            page.locator("#voice-cards .rx-card").first.wait_for(timeout=180_000)
            to_record = time.monotonic() - stopped
            final = page.input_value("#voice-transcript textarea")
            print(f"live transcript while speaking: {seen}")
            print(f"stop → audit cards shown: {to_record:.1f} s; final transcript: {final}")
            warnings = page.inner_text("#voice-warnings")
            print(f"warnings: {warnings!r}")
            # text was on screen before the recording stopped, and grew while the doctor spoke
            assert while_speaking, f"no text while speaking: {seen}"
            first = next(t for t, text in seen if text)
            assert first <= seconds - 2, f"first text only at {first} s of {seconds:.1f} s"
            assert len(set(while_speaking)) >= 2, "the live text never changed"
            assert not final.endswith("…")
            assert page.locator("#voice-items").inner_text().strip()
            if "未送达识别" not in warnings:
                # the finished transcript: every clip, with the drug-name corrections offered as today
                assert any(w in " ".join(while_speaking) for w in ("高血压", "氨氯地平", "地平"))
                assert "氨氯地平" in final and "二甲双胍" in final and "硝苯地平" in final
                assert "硝苯地平控释片" in page.inner_text("#voice-items")
                assert page.locator("#voice-corrections label").count() >= 1
            else:  # a busy computer dropped chunks on the way: said on screen, never passed off as whole
                assert "请逐句核对" in warnings
            # the whole recording is back in the audio box (to play back or 识别 again)
            page.locator("#voice-audio audio, #voice-audio [data-testid=waveform-x]").first.wait_for(
                state="attached", timeout=30_000
            )
        finally:
            browser.close()
