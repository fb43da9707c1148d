"""`clinic demo` in headless Chromium, used like a doctor and a pharmacist would (slow).

Starts the real command in a subprocess on a free 127.0.0.1 port, uploads a synthetic dictation,
waits for the record and the audit cards, checks what the page shows, saves a screenshot to
``$CLINIC_ARTIFACTS`` (default tests/artifacts/) and asserts that every request the page made went
to loopback. The app's API is then called with gradio_client (处方审核, 批量审方, 审方队列).

Skips when /usr/bin/chromium (Debian ``chromium``), playwright (the PyPI driver only — never
``playwright install``), gradio, gradio_client, the [asr] model or the [nlp] extra is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AUDIO = ROOT / "eval" / "data" / "asr_medical" / "med01.wav"  # 诊断原发性高血压，给予苯磺酸氨氯地平片5毫克…
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

_missing = [m for m in ("playwright", "gradio", "gradio_client", "faster_whisper", "spacy", "sqlalchemy")
            if importlib.util.find_spec(m) is None]
if _missing:
    pytest.skip(f"demo browser test needs {', '.join(_missing)}", allow_module_level=True)
if not CHROMIUM.is_file():
    pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def artifacts() -> Path:
    path = Path(os.environ.get("CLINIC_ARTIFACTS") or ROOT / "tests" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`clinic demo` in a subprocess on a free loopback port, with its own queue database."""
    work = tmp_path_factory.mktemp("demo")
    port = _free_port()
    log = (work / "demo.log").open("w", encoding="utf-8")
    # cwd is not the checkout: `clinic demo` must find demo/app.py itself, as after `pip install -e .`
    proc = subprocess.Popen([sys.executable, "-m", "toolkit.cli.main", "demo", "--port", str(port),
                             "--db", f"sqlite:///{work / 'queue.db'}"],
                            cwd=work, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 240  # spaCy pipeline + Whisper + migrations on a shared CPU
        while True:
            if proc.poll() is not None:
                pytest.fail(f"clinic demo exited with {proc.returncode}:\n{(work / 'demo.log').read_text()[-3000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail("clinic demo did not answer within 240 s")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _not_loopback(urls: list[str]) -> list[str]:
    out = []
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme in {"data", "blob", "about"}:
            continue
        if parts.hostname not in LOOPBACK:
            out.append(u)
    return out


def test_page_and_bundle_reference_no_outside_script_or_style(demo_url: str):
    """The HTML's scripts and stylesheets, and the imports of the JS entry, are all same-origin."""
    html = urllib.request.urlopen(demo_url, timeout=10).read().decode("utf-8")
    loaded = re.findall(r'<script[^>]+src="([^"]+)"', html) + re.findall(r'<link[^>]+href="([^"]+)"', html)
    assert loaded, "the page loads no script at all?"
    assert [u for u in loaded if u.startswith(("http:", "https:", "//"))
            and urlsplit(u if "://" in u else "http:" + u).hostname not in LOOPBACK] == []
    entry = next(u for u in re.findall(r'<script[^>]+src="([^"]+)"', html) if u.endswith(".js"))
    js = urllib.request.urlopen(demo_url.rstrip("/") + "/" + entry.lstrip("./"), timeout=10).read().decode()
    imports = re.findall(r'(?:import|from)\s*\(?\s*["\']([^"\']+)["\']', js)
    assert [u for u in imports if u.startswith(("http:", "https:", "//"))] == []


def test_doctor_dictates_and_gets_record_cards_and_care_plan(demo_url: str, artifacts: Path):
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1800})
            page.on("request", lambda r: requests.append(r.url))
            page.on("websocket", lambda ws: requests.append(ws.url))
            page.goto(demo_url)
            page.get_by_role("tab", name="语音病历").wait_for(timeout=60_000)

            with page.expect_response(lambda r: "/upload" in r.url and r.ok, timeout=60_000):
                page.set_input_files("#voice-audio input[type=file]", str(AUDIO))
            page.click("#voice-run")
            page.locator("#voice-cards .rx-card").first.wait_for(timeout=180_000)

            # the transcript, the record sections, the drug in the table, ICD-10, entities, cards, care plan
            transcript = page.input_value("#voice-transcript textarea")
            assert "氨氯地平" in transcript
            treatment = page.input_value(f"#section-{_section_index('处理')} textarea")
            assert "苯磺酸氨氯地平片" in treatment
            assert "苯磺酸氨氯地平片" in page.inner_text("#voice-items")
            assert "I10" in page.inner_text("#voice-dx")
            assert "药品" in page.inner_text("#voice-entities")
            cards = page.locator("#voice-cards .rx-card")
            assert cards.count() >= 1
            assert cards.first.get_attribute("data-severity") in {"block", "warn", "info"}
            assert "来源：" in cards.first.inner_text()
            assert "高血压" in page.inner_text("#voice-care")
            # the export links download what the page shows
            json_link = page.locator('#voice-json a[href$="record.json"]')
            json_link.wait_for(timeout=30_000)
            exported = page.request.get(json_link.get_attribute("href") or "").json()
            assert len(exported["audit"]["findings"]) == cards.count()
            assert any(it["drug"] == "苯磺酸氨氯地平片" for it in exported["prescription"]["items"])
            fhir_link = page.locator('#voice-fhir a[href$="record.fhir.json"]')
            fhir_link.wait_for(timeout=30_000)
            assert page.request.get(fhir_link.get_attribute("href") or "").json()["resourceType"] == "Bundle"

            # each correction is shown as original → corrected; unticking one restores the original text
            labels = page.locator("#voice-corrections label")
            assert labels.count() >= 1
            first = labels.first.inner_text()
            original, corrected = (s.strip() for s in first.split("（")[0].split("→"))
            assert corrected in page.input_value("#voice-transcript textarea")
            labels.first.locator("input").uncheck()
            page.wait_for_function(
                "([sel, word]) => document.querySelector(sel).value.includes(word)",
                arg=["#voice-transcript textarea", original], timeout=60_000)
            page.locator("#voice-cards .rx-card").first.wait_for(timeout=120_000)

            page.screenshot(path=str(artifacts / "demo_voice.png"), full_page=True)
        finally:
            browser.close()
    outside = _not_loopback(requests)
    assert requests and outside == [], f"requests left the machine: {outside[:5]}"


def test_doctor_dictates_into_the_microphone(demo_url: str, tmp_path: Path):
    """Chromium's fake capture device plays a dictation into the microphone; stopping the recording
    transcribes and drafts without another click."""
    import wave

    import numpy as np
    from playwright.sync_api import sync_playwright

    from toolkit.asr.audio import SAMPLE_RATE, load_audio

    mic = tmp_path / "mic.wav"  # the fake device wants plain 16-bit PCM WAV
    samples = load_audio(ROOT / "eval" / "data" / "asr_medical" / "med07.wav")
    with wave.open(str(mic), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={mic}%noloop"])
        try:
            context = browser.new_context(locale="zh-CN", permissions=["microphone"])
            page = context.new_page()
            page.goto(demo_url)
            page.click('#voice-audio button[aria-label="Record audio"]')
            page.click("#voice-audio button.record-button")
            page.wait_for_timeout(7_000)  # the clip is 5.8 s (改为硝苯地平控释片30毫克，每日一次，口服。)
            page.click("#voice-audio button.stop-button")
            page.locator("#voice-cards .rx-card").first.wait_for(timeout=180_000)
            assert "硝苯地平" in page.input_value("#voice-transcript textarea")
            assert "硝苯地平控释片" in page.inner_text("#voice-items")
        finally:
            browser.close()


def test_pharmacist_audits_an_example_and_a_file_in_the_browser(demo_url: str, artifacts: Path):
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1400})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(demo_url)
            page.get_by_role("tab", name="处方审核").click()
            page.get_by_label("示例处方").click()
            page.get_by_role("option", name="RX-2").click()
            page.wait_for_function("() => document.querySelector('#single-json').innerText.includes('RX-2')",
                                   timeout=30_000)
            page.click("#single-json-run")
            block = page.locator('#single-cards .rx-card[data-severity="block"]')
            block.first.wait_for(timeout=60_000)
            assert "过敏" in page.inner_text("#single-cards")
            page.screenshot(path=str(artifacts / "demo_single.png"), full_page=True)

            page.get_by_role("tab", name="批量审方").click()
            with page.expect_response(lambda r: "/upload" in r.url and r.ok, timeout=60_000):
                page.set_input_files("#batch-file input[type=file]", str(ROOT / "toolkit" / "examples" / "cases.jsonl"))
            page.click("#batch-run")
            page.locator("#batch-charts .bar-chart").first.wait_for(timeout=120_000)
            charts = page.inner_text("#batch-charts")
            assert "共 5 张处方" in charts and "不合理处方率 60.0%" in charts
            page.locator('#batch-out a[href$=".xlsx"]').wait_for(timeout=30_000)
            page.screenshot(path=str(artifacts / "demo_batch.png"), full_page=True)
        finally:
            browser.close()
    outside = _not_loopback(requests)
    assert requests and outside == [], f"requests left the machine: {outside[:5]}"


def _section_index(name: str) -> int:
    from toolkit.records import RECORD_SECTIONS

    return RECORD_SECTIONS.index(name)


def test_api_audits_one_prescription_runs_a_batch_and_records_a_decision(demo_url: str, tmp_path: Path):
    from gradio_client import Client, handle_file

    from toolkit.demo_api import example_cases

    client = Client(demo_url, verbose=False)
    rx2 = next(c for c in example_cases() if c.id == "RX-2")
    html, report = client.predict(rx2.model_dump_json(), True, api_name="/audit_json")
    assert report["status"] == "flagged" and report["max_severity"] == "block"
    assert "RX-ALG-001" in {f["rule_id"] for f in report["findings"]}
    assert 'data-severity="block"' in html

    charts, doctors, files = client.predict(handle_file(str(ROOT / "toolkit" / "examples" / "cases.jsonl")),
                                            api_name="/audit_file")
    assert "不合理处方率" in charts and sum(row[1] for row in doctors["data"]) == 5
    assert sorted(Path(f).suffix for f in files) == [".html", ".xlsx"]

    table, _pick = client.predict(api_name="/queue")
    queued = [row for row in table["data"] if row[1] == "RX-2"]
    assert queued, "the flagged prescription did not reach the pharmacist queue"
    audit_id = queued[0][0]
    with pytest.raises(Exception, match="开方医师签名"):
        client.predict(audit_id, "李药师", "override", "病情需要", "", api_name="/decide")
    msg = client.predict(audit_id, "李药师", "override", "病情需要", "王医生", api_name="/decide")
    assert msg.startswith("已记录：双签放行")
    table, _ = client.predict(api_name="/queue")
    assert audit_id not in [row[0] for row in table["data"]]


def test_form_endpoint_audits_what_was_typed(demo_url: str):
    from gradio_client import Client

    client = Client(demo_url, verbose=False)
    table = {"headers": ["药品", "规格", "单次剂量", "单位", "频次", "途径", "天数", "备注"],
             "data": [["阿莫西林胶囊", "0.25 g", "0.5", "g", "tid", "口服", "5", ""]]}
    html, report = client.predict("F-1", "45", "F", "", False, False, "青霉素", "急性上呼吸道感染 J06.9", "", "", "",
                                  "", "", "", table, "", False, api_name="/audit_form")
    assert report["id"] == "F-1" and "RX-ALG-001" in {f["rule_id"] for f in report["findings"]}
    assert 'data-rule="RX-ALG-001"' in html
    # empty lab boxes mean "not measured": no renal finding is invented from an empty eGFR box
    assert not [f for f in report["findings"] if "egfr" in json.dumps(f["evidence"]).lower()]
    with pytest.raises(Exception, match="「年龄」应为数字"):
        client.predict("F-2", "四十五", "", "", False, False, "", "", "", "", "", "", "", "", table, "", False,
                       api_name="/audit_form")


def test_pharmacist_returns_a_prescription_from_the_queue_in_the_browser(demo_url: str, artifacts: Path):
    from gradio_client import Client
    from playwright.sync_api import expect, sync_playwright

    from toolkit.demo_api import example_cases

    rx4 = next(c for c in example_cases() if c.id == "RX-4")
    Client(demo_url, verbose=False).predict(rx4.model_dump_json(), True, api_name="/audit_json")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1400})
            page.goto(demo_url)
            page.get_by_role("tab", name="审方队列").click()
            page.click("#queue-refresh")
            expect(page.locator("#queue-table")).to_contain_text("RX-4", timeout=30_000)
            page.get_by_label("选择处方").click()
            page.get_by_role("option", name=re.compile("RX-4")).first.click()
            page.get_by_label("审方药师").fill("李药师")
            page.get_by_label("退回医师").check()
            page.click("#queue-decide")
            page.get_by_text("需要填写理由").first.wait_for(timeout=30_000)  # refused without a reason
            page.get_by_label("理由（退回、双签必填）").fill("剂量超过说明书最大剂量，请核实")
            page.click("#queue-decide")
            page.get_by_text("已记录：退回医师").first.wait_for(timeout=30_000)
            page.screenshot(path=str(artifacts / "demo_queue.png"), full_page=True)
        finally:
            browser.close()
    table, _ = Client(demo_url, verbose=False).predict(api_name="/queue")
    assert "RX-4" not in [row[1] for row in table["data"]]
