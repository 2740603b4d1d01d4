"""asr serve's page in a real browser: headless Chromium, driven over the DevTools protocol.

Chromium's fake microphone plays a wav the test writes (a shipped example, then silence); the
page streams it to /stream, and must list the segment `asr stream` finds in the same audio. The
file picker posts the example to /transcribe and must show `asr transcribe`'s text and segment;
a server that refuses the stream must have its error and close shown in the status line.
Skipped without a `chromium` on PATH (CI installs the Debian package). Set ASR_BROWSER_SCREENSHOT
to a path to keep a screenshot of the page with both results.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

aiohttp = pytest.importorskip("aiohttp", reason="asr serve needs aiohttp (pip install 'asr[serve]')")
from aiohttp.test_utils import TestServer

from asr.decode.stream import StreamingRecognizer
from asr.pretrained import default_model_path, example_files
from asr.score import score_utterance
from asr.serve.app import Limits, build_app
from asr.serve.protocol import StreamConfig
from asr.transcribe import Recognizer
from asr.transcribe_file import transcribe_file

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium on PATH (apt-get install chromium)")]

EXAMPLE = next(f for f in example_files() if f.name.startswith("ljspeech"))  # a real voice, mostly right
TRAILING_SILENCE = 2.0  # seconds after the speech: the server ends the segment at the pause


class DevTools:
    """The DevTools protocol over one page's WebSocket: one call at a time; events are kept in
    `events` (console messages and uncaught exceptions explain a failure)."""

    def __init__(self, ws):
        self.ws, self.ids, self.events = ws, itertools.count(1), []

    async def call(self, method: str, **params) -> dict:
        call_id = next(self.ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=30)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    async def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (as a user's action, for audio)."""
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                                 returnByValue=True, userGesture=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float) -> None:
        for _ in range(int(timeout / 0.1)):
            if await self.evaluate(expression):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"page never showed {expression} in {timeout:g} s; status lines: "
                             f"{await self.evaluate(STATUS_LINES)}; page log: {self.log()}")

    def log(self) -> list[str]:
        lines = []
        for event in self.events:
            if event.get("method") == "Runtime.consoleAPICalled":
                lines.append(" ".join(str(a.get("value", a.get("description"))) for a in event["params"]["args"]))
            elif event.get("method") == "Runtime.exceptionThrown":
                details = event["params"]["exceptionDetails"]
                lines.append(details.get("exception", {}).get("description", details["text"]))
        return lines


# every text the partial line shows, recorded as it changes
WATCH_PARTIALS = """window.partialsShown = [];
new MutationObserver(() => partialsShown.push(document.getElementById('partial').textContent))
  .observe(document.getElementById('partial'), {childList: true, characterData: true, subtree: true});"""
STATUS_LINES = "[...document.querySelectorAll('.status')].map(e => e.textContent)"


def segments_shown(list_id: str) -> str:
    """JavaScript: the [time, text] of each item of a segment list."""
    return (f"[...document.querySelectorAll('#{list_id} li')].map(li => "
            "[li.querySelector('.time').textContent, li.textContent.replace(/^\\S+\\s/, '')])")


def shown_time(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes}:{seconds - 60 * minutes:05.2f}"


async def open_chromium(user_dir: Path, fake_microphone: Path):
    """Headless Chromium with a fake microphone playing the wav once; returns (process, page URL)."""
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_microphone}%noloop", "--remote-debugging-port=0",
        f"--user-data-dir={user_dir}", "--window-size=900,900", "about:blank",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    port_file = user_dir / "DevToolsActivePort"  # Chromium writes the port it chose here
    for _ in range(300):
        if port_file.exists() and port_file.read_text().count("\n") >= 1:
            return process, f"http://127.0.0.1:{port_file.read_text().split()[0]}"
        if process.returncode is not None:
            raise RuntimeError(f"{CHROMIUM} exited with {process.returncode}")
        await asyncio.sleep(0.1)
    await close_chromium(process)
    raise RuntimeError(f"{CHROMIUM} did not open its DevTools port in 30 s")


async def close_chromium(process) -> None:
    """End the browser and the renderer, GPU and utility processes it started (its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer.from_file(str(default_model_path()))


def test_page_transcribes_the_microphone_and_a_file(recognizer, tmp_path):
    speech, rate = sf.read(EXAMPLE, dtype="float32")
    audio = np.concatenate([speech, np.zeros(int(TRAILING_SILENCE * rate), np.float32)])
    fake_microphone = tmp_path / "microphone.wav"
    sf.write(fake_microphone, audio, rate, subtype="PCM_16")

    # what asr stream finds in the same audio (the browser's path adds two resamplings)
    stream = StreamingRecognizer(recognizer)
    expected_stream = [s.to_json() for s in stream.accept_waveform(audio) + stream.final()]
    expected_file = transcribe_file(recognizer, str(EXAMPLE), EXAMPLE.name, 60.0, {
        "chunk_ms": StreamConfig.chunk_ms, "right_context_ms": StreamConfig.right_context_ms,
        "endpoint_ms": StreamConfig.endpoint_ms}).to_json()
    assert len(expected_stream) == 1 and len(expected_file["segments"]) == 1

    async def scenario():
        server = TestServer(build_app(recognizer, "test model"))
        await server.start_server()
        (tmp_path / "chromium").mkdir()
        browser, devtools_url = await open_chromium(tmp_path / "chromium", fake_microphone)
        try:
            async with aiohttp.ClientSession() as client:
                async with client.get(devtools_url + "/json/list") as response:
                    page = next(t for t in await response.json() if t["type"] == "page")
                async with client.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    return await drive(DevTools(ws), str(server.make_url("/")))
        finally:
            await close_chromium(browser)
            await server.close()

    async def drive(page: DevTools, url: str):
        await page.call("Runtime.enable")
        await page.call("Page.navigate", url=url)
        await page.wait_for("document.readyState === 'complete' && !!document.getElementById('mic-button')", 10)

        await page.evaluate(WATCH_PARTIALS)
        await page.evaluate("document.getElementById('mic-button').click()")
        await page.wait_for("document.querySelectorAll('#finals li').length > 0", 30)
        await page.evaluate("document.getElementById('mic-button').click()")  # Stop
        await page.wait_for("document.getElementById('mic-button').textContent === 'Start microphone'"
                            " && !document.getElementById('mic-button').disabled", 15)
        mic = (await page.evaluate(segments_shown("finals")), await page.evaluate("window.partialsShown"),
               await page.evaluate(STATUS_LINES))

        document = await page.call("DOM.getDocument")
        picker = await page.call("DOM.querySelector", nodeId=document["root"]["nodeId"], selector="#file-input")
        await page.call("DOM.setFileInputFiles", nodeId=picker["nodeId"], files=[str(EXAMPLE)])
        await page.evaluate("document.getElementById('file-form').requestSubmit()")
        await page.wait_for("document.querySelectorAll('#file-segments li').length > 0", 30)
        file = (await page.evaluate("document.getElementById('file-text').textContent"),
                await page.evaluate(segments_shown("file-segments")), await page.evaluate(STATUS_LINES))

        shot = await page.call("Page.captureScreenshot", format="png")
        screenshot = Path(os.environ.get("ASR_BROWSER_SCREENSHOT", tmp_path / "page.png"))
        screenshot.write_bytes(base64.b64decode(shot["data"]))

        # a server that refuses the stream: its error and the close in the status line
        busy = TestServer(build_app(recognizer, "test model", Limits(max_sessions=0)))
        await busy.start_server()
        try:
            await page.call("Page.navigate", url=str(busy.make_url("/")))
            await page.wait_for("document.readyState === 'complete' && !!document.getElementById('mic-button')", 10)
            await page.evaluate("document.getElementById('mic-button').click()")
            await page.wait_for("document.getElementById('mic-status').classList.contains('error')"
                                " && !document.getElementById('mic-button').disabled", 15)
            refused = await page.evaluate("document.getElementById('mic-status').textContent")
        finally:
            await busy.close()
        return mic, file, refused, page.log()

    (mic_segments, partials, mic_status), (file_text, file_segments, file_status), refused, log = \
        asyncio.run(scenario())

    # the microphone: one segment, nearly asr stream's text at about the same time. Not exactly:
    # the browser resamples to its device rate and the server back to 16 kHz, and the model's
    # unsure words flip ("MY CAME AS NOW NO NOTHING" came back "MY COME AS NOW KNOW NOTHING")
    assert len(mic_segments) == 1, (mic_segments, mic_status, log)
    time, text = mic_segments[0]
    assert score_utterance("mic", expected_stream[0]["text"], text).chars.rate <= 0.15, \
        (text, expected_stream[0]["text"])
    start, end = (float(t.split(":")[1]) for t in time.split("–"))
    assert abs(start - expected_stream[0]["start"]) < 0.5 and abs(end - expected_stream[0]["end"]) < 0.5, time
    assert mic_status[0].startswith("Stopped after "), mic_status
    # partials came as the words did: growing text, ending near the final text
    partials = [p for p in partials if p]
    assert len(partials) >= 2 and len(partials[0]) < len(partials[-1]), partials
    assert score_utterance("partial", text, partials[-1]).chars.rate <= 0.15, (partials, text)

    # the file: exactly asr transcribe's text and segment
    segment = expected_file["segments"][0]
    assert file_text == expected_file["text"]
    assert file_segments == [[f"{shown_time(segment['start'])}–{shown_time(segment['end'])}", segment["text"]]]
    assert file_status[1] == f"{EXAMPLE.name}: {expected_file['duration']:.1f} s of audio.", file_status

    assert refused == ("Server: server busy: 0 streams open, try again later "
                       "(closed: the server is busy, try again later)."), refused
    assert not [line for line in log if "Error" in line], log
