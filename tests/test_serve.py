"""asr serve: WebSocket and HTTP round trips, concurrency, limits and bad input, shutdown.

References: `StreamingRecognizer` fed the same samples (what `asr stream` runs), `asr transcribe
--format json` on the same file, and each stream served alone (for the concurrent streams, which
the server decodes in batches). After every bad client the server must still answer /health and
decode a good stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

aiohttp = pytest.importorskip("aiohttp", reason="asr serve needs aiohttp (pip install 'asr[serve]')")
from aiohttp.test_utils import TestServer
from conftest import FSDD, LIBRISPEECH, REPO, needs_shared_data

from asr.decode.stream import StreamingRecognizer, run_chunks
from asr.pretrained import default_model_path, example_files
from asr.serve.app import Limits, build_app
from asr.text import number_to_words
from asr.transcribe import Recognizer

EXAMPLE = example_files()[0]  # 16 kHz synthetic speech the default model gets nearly right


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer.from_file(str(default_model_path()))


def pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples as the int16 a client sends."""
    return np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2")


def reference_segments(recognizer: Recognizer, samples: np.ndarray, piece: int = 1600) -> list[dict]:
    """What asr stream gives for these 16 kHz samples (same defaults as the server's streams)."""
    stream = StreamingRecognizer(recognizer, word_timestamps=True)
    segments = []
    for i in range(0, len(samples), piece):
        segments += stream.accept_waveform(samples[i: i + piece])
    return [s.to_json() for s in segments + stream.final()]


@contextlib.asynccontextmanager
async def serving(recognizer: Recognizer, **limits):
    """An in-process server on a free port; yields (base URL, aiohttp client session)."""
    server = TestServer(build_app(recognizer, "test model", Limits(**limits)))
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as client:
            yield str(server.make_url("/")), client
    finally:
        await server.close()


async def stream_audio(client, url: str, samples: np.ndarray, config: dict | None = None,
                       frame: int = 1600, data: bytes | None = None, pace: float = 0.0) -> tuple[list[dict], int]:
    """Send samples (pcm16 unless config says float32) in frames (`pace` seconds apart), then eof;
    returns (messages, close code)."""
    async with client.ws_connect(url + "stream") as ws:
        if config is not None:
            await ws.send_json({"config": config})
        fmt = (config or {}).get("format", "pcm16")
        payload = data if data is not None else (pcm16(samples) if fmt == "pcm16" else samples.astype("<f4")).tobytes()
        width = frame * (2 if fmt == "pcm16" else 4)
        for i in range(0, len(payload), width):
            await ws.send_bytes(payload[i: i + width])
            await asyncio.sleep(pace)
        await ws.send_json({"eof": True})
        messages = [json.loads(m.data) async for m in ws if m.type == aiohttp.WSMsgType.TEXT]
        return messages, ws.close_code


def finals(messages: list[dict]) -> list[dict]:
    return [m for m in messages if "final" in m]


async def check_still_serving(client, url: str, samples: np.ndarray, expected_text: str) -> None:
    """/health answers and a good stream gets its text."""
    async with client.get(url + "health") as response:
        assert response.status == 200 and (await response.json())["status"] == "ok"
    messages, code = await stream_audio(client, url, samples)
    assert code == 1000
    assert " ".join(m["final"] for m in finals(messages) if m["final"]) == expected_text


def example_audio() -> np.ndarray:
    samples, rate = sf.read(EXAMPLE, dtype="float32")
    assert rate == 16000
    return pcm16(samples).astype(np.float32) / 32768  # exactly what a pcm16 client sends


# ---------------------------------------------------------------------- round trips
@needs_shared_data
def test_websocket_stream_gives_asr_streams_segments_on_real_speech(recognizer):
    path = min(LIBRISPEECH.rglob("*.flac"))
    samples, rate = sf.read(path, dtype="float32")
    sent = pcm16(samples).astype(np.float32) / 32768
    expected = reference_segments(recognizer, sent)

    async def scenario():
        async with serving(recognizer) as (url, client):
            return await stream_audio(client, url, samples, {"sample_rate": rate}, pace=0.02)

    messages, code = asyncio.run(scenario())
    assert code == 1000
    got = finals(messages)
    assert got[-1]["last"] and not any(m["last"] for m in got[:-1])
    assert [m["final"] for m in got if m["final"]] == [s["text"] for s in expected]
    assert [(m["start"], m["end"]) for m in got if m["final"]] == [(s["start"], s["end"]) for s in expected]
    assert [w["word"] for m in got for w in m.get("words", [])] == [w["word"] for s in expected for w in s["words"]]
    assert any("partial" in m and m["partial"] for m in messages)  # partial results came before the end


def test_float32_frames_and_other_sample_rates(recognizer):
    samples = example_audio()
    expected = " ".join(s["text"] for s in reference_segments(recognizer, samples))
    import soxr

    at_8k = soxr.resample(samples, 16000, 8000).astype(np.float32)
    expected_8k = " ".join(s["text"] for s in reference_segments(recognizer, soxr.resample(at_8k, 8000, 16000)))

    async def scenario():
        async with serving(recognizer) as (url, client):
            as_float = await stream_audio(client, url, samples, {"format": "float32"})
            as_8k = await stream_audio(client, url, at_8k, {"sample_rate": 8000, "format": "float32"})
            return as_float, as_8k

    (float_messages, code), (messages_8k, code_8k) = asyncio.run(scenario())
    assert code == code_8k == 1000
    assert " ".join(m["final"] for m in finals(float_messages) if m["final"]) == expected
    # streamed resampling is not bit-identical to resampling the whole clip: compare the words
    words_8k = " ".join(m["final"] for m in finals(messages_8k) if m["final"]).split()
    assert words_8k == expected_8k.split()


@pytest.mark.parametrize("source", ["example", "librispeech"])
def test_http_transcribe_gives_asr_transcribe_json(recognizer, source, request):
    if source == "librispeech":
        request.getfixturevalue("shared_data")  # a real recording: needs ../shared/data
    audio = EXAMPLE if source == "example" else min(LIBRISPEECH.rglob("*.flac"))
    cli = subprocess.run([sys.executable, "-m", "asr", "transcribe", "--format", "json", str(audio)],
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    expected = json.loads(cli.stdout)
    assert expected["text"]  # something to compare
    data = audio.read_bytes()

    async def scenario():
        async with serving(recognizer) as (url, client):
            async with client.post(url + "transcribe?name=" + audio.name, data=data) as raw:
                raw_json = (raw.status, await raw.json())
            form = aiohttp.FormData()
            form.add_field("file", data, filename=audio.name, content_type="audio/flac")
            async with client.post(url + "transcribe", data=form) as multipart:
                form_json = (multipart.status, await multipart.json())
            return raw_json, form_json

    (raw_status, raw_json), (form_status, form_json) = asyncio.run(scenario())
    expected["file"] = audio.name
    assert raw_status == form_status == 200
    assert raw_json == expected and form_json == expected


@needs_shared_data
def test_twenty_concurrent_streams_get_the_right_text_and_what_each_gets_alone(recognizer):
    clips = sorted(FSDD.glob("*.wav"))[::97][:20]  # 8 kHz real digits, several speakers
    audio = [sf.read(c, dtype="float32")[0] for c in clips]
    assert len(audio) == 20

    async def scenario():
        async with serving(recognizer) as (url, client):
            config = {"sample_rate": 8000}
            alone = [await stream_audio(client, url, a, config, frame=800) for a in audio]
            together = await asyncio.gather(*(stream_audio(client, url, a, config, frame=800) for a in audio))
            async with client.get(url + "health") as response:
                health = await response.json()
            return alone, together, health

    alone, together, health = asyncio.run(scenario())
    text = [[m["final"] for m in finals(messages)] for messages, _ in alone]
    # the right text: the digit each clip's name says (the shipped model makes 2.4% WER on FSDD)
    spoken = [number_to_words(int(c.name.split("_")[0])) for c in clips]
    assert sum(" ".join(filter(None, t)) == word for t, word in zip(text, spoken)) >= 18, list(zip(text, spoken))
    for (messages, code), expected in zip(together, text):
        assert code == 1000
        assert [m["final"] for m in finals(messages)] == expected
    assert health["sessions"] == 0


def test_run_chunks_batched_equals_each_stream_alone(recognizer):
    """Streams of different lengths, fed in different pieces, some with other chunk settings:
    decoded together in batches they give the segments each gives alone."""
    samples = example_audio()
    settings = [{}, {}, {"chunk_ms": 120, "right_context_ms": 60}, {"endpoint_ms": 300}]
    cuts = [samples, samples[: len(samples) * 2 // 3], samples[4000:], samples]

    def alone(i):
        s = StreamingRecognizer(recognizer, **settings[i])
        return [g.to_json() for g in s.accept_waveform(cuts[i]) + s.final()]

    streams = [StreamingRecognizer(recognizer, **kw) for kw in settings]
    got = [[] for _ in streams]
    piece_sizes = [1600, 2731, 800, 4000]
    steps = max(-(-len(cut) // size) for cut, size in zip(cuts, piece_sizes))
    for step in range(steps):  # each stream gets its next piece, then the ready chunks run together
        for i, stream in enumerate(streams):
            piece = cuts[i][step * piece_sizes[i]: (step + 1) * piece_sizes[i]]
            if len(piece):
                stream.feed(piece)
        for i, segments in enumerate(run_chunks(streams)):
            got[i] += [g.to_json() for g in segments]
    for stream in streams:
        stream.end_input()
    for i, segments in enumerate(run_chunks(streams)):
        got[i] += [g.to_json() for g in segments + streams[i].close()]
    for i in range(len(streams)):
        expected = alone(i)
        assert [g["text"] for g in got[i]] == [g["text"] for g in expected]
        assert [(g["start"], g["end"]) for g in got[i]] == [(g["start"], g["end"]) for g in expected]


# ---------------------------------------------------------------------- bad clients
def test_bad_configs_and_frames_get_an_error_and_a_clean_close(recognizer):
    samples = example_audio()
    good_text = " ".join(s["text"] for s in reference_segments(recognizer, samples))
    bad_texts = ["not json", "[1, 2]", '{"config": {"sample_rate": 16000, "colour": "red"}}',
                 '{"config": {"sample_rate": 100}}', '{"config": {"sample_rate": 16000.5}}',
                 '{"config": {"chunk_ms": -5}}', '{"config": {"endpoint_ms": NaN}}', '{"config": {"format": "mp3"}}',
                 '{"config": "16000"}', '{"hello": 1}']

    async def one_bad(client, url, first: str | None, frames: list[bytes]):
        async with client.ws_connect(url + "stream") as ws:
            if first is not None:
                await ws.send_str(first)
            for frame in frames:
                await ws.send_bytes(frame)
            messages = [json.loads(m.data) async for m in ws if m.type == aiohttp.WSMsgType.TEXT]
            return messages, ws.close_code

    float_config = '{"config": {"format": "float32"}}'
    cases = [(text, []) for text in bad_texts] + [
        (None, [b"\x01\x02\x03"]),  # pcm16 frame of an odd number of bytes
        (float_config, [pcm16(samples[:1600]).tobytes()[:1602]]),  # float32 frame not a multiple of 4
        (float_config, [(pcm16(samples[:4000]) | np.int16(-256)).tobytes()]),  # pcm16 sent as float32
        (float_config, [np.full(400, 1e6, "<f4").tobytes()]),  # float32 far outside [-1, 1]
    ]

    async def scenario():
        async with serving(recognizer) as (url, client):
            results = []
            for first, frames in cases:
                results.append(await one_bad(client, url, first, frames))
                await check_still_serving(client, url, samples, good_text)
            return results

    for (first, frames), (messages, code) in zip(cases, asyncio.run(scenario())):
        assert code == 1003, (first, messages)
        assert len(messages) == 1 and set(messages[0]) == {"error"}, (first, messages)
        assert "\n" not in messages[0]["error"] and messages[0]["error"]


def test_limits_close_that_stream_and_the_server_serves_on(recognizer):
    samples = example_audio()
    good_text = " ".join(s["text"] for s in reference_segments(recognizer, samples))

    async def scenario():
        out = {}
        async with serving(recognizer, max_sessions=2, max_message_bytes=64 << 10, idle_timeout=1.0,
                           max_stream_seconds=5.0) as (url, client):
            # a message over the size limit
            async with client.ws_connect(url + "stream") as ws:
                await ws.send_bytes(bytes(128 << 10))
                await ws.receive()
                out["too big"] = ws.close_code
            await check_still_serving(client, url, samples, good_text)
            # a third session while two are open
            first, second = await client.ws_connect(url + "stream"), await client.ws_connect(url + "stream")
            async with client.ws_connect(url + "stream") as third:
                message = await third.receive_json()
                await third.receive()
                out["busy"] = (message, third.close_code)
            await first.close()
            await second.close()
            await check_still_serving(client, url, samples, good_text)
            # a client that says nothing
            async with client.ws_connect(url + "stream") as ws:
                message = await ws.receive_json(timeout=5)
                await ws.receive()
                out["idle"] = (message, ws.close_code)
            # a stream longer than allowed
            long_audio = np.tile(samples, 1 + int(5.5 * 16000 / len(samples)))
            messages, code = await stream_audio(client, url, long_audio)
            out["long"] = (messages[-1], code)
            await check_still_serving(client, url, samples, good_text)
            # uploads: not audio, empty, too large
            async with client.post(url + "transcribe", data=b"this is not audio") as r:
                out["not audio"] = (r.status, await r.json())
            async with client.post(url + "transcribe", data=b"") as r:
                out["empty"] = (r.status, await r.json())
        async with serving(recognizer, max_upload_bytes=1000) as (url, client), \
                client.post(url + "transcribe", data=EXAMPLE.read_bytes()) as r:
            out["upload too big"] = (r.status, await r.json())
        return out

    out = asyncio.run(scenario())
    assert out["too big"] == 1009
    assert out["busy"][1] == 1013 and "try again later" in out["busy"][0]["error"]
    assert out["idle"][1] == 1008 and "no message for 1 s" in out["idle"][0]["error"]
    assert out["long"][1] == 1008 and "longer than 5 s" in out["long"][0]["error"]
    assert out["not audio"][0] == 400 and "not a readable audio file" in out["not audio"][1]["error"]
    assert out["empty"][0] == 400 and "empty" in out["empty"][1]["error"]
    assert out["upload too big"][0] == 413


def test_client_vanishing_mid_stream_is_cleaned_up(recognizer):
    samples = example_audio()
    good_text = " ".join(s["text"] for s in reference_segments(recognizer, samples))

    async def scenario():
        async with serving(recognizer) as (url, client):
            for _ in range(3):  # gone without a close frame, in the middle of its audio
                async with aiohttp.ClientSession() as doomed:
                    ws = await doomed.ws_connect(url + "stream")
                    await ws.send_bytes(pcm16(samples[: len(samples) // 2]).tobytes())
                    await asyncio.sleep(0.2)
                    ws._response.connection.transport.abort()
            for _ in range(100):
                async with client.get(url + "health") as response:
                    if (await response.json())["sessions"] == 0:
                        break
                await asyncio.sleep(0.05)
            async with client.get(url + "health") as response:
                sessions = (await response.json())["sessions"]
            await check_still_serving(client, url, samples, good_text)
            return sessions

    assert asyncio.run(scenario()) == 0


# ---------------------------------------------------------------------- the command
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_until_up(client, url: str, seconds: float = 60.0) -> None:
    """Until `asr serve` at `url` answers /health (it loads its model first)."""
    for _ in range(int(seconds * 10)):
        with contextlib.suppress(aiohttp.ClientError):
            async with client.get(url + "health") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)
    pytest.fail(f"asr serve at {url} did not answer /health in {seconds:.0f} s")


def test_asr_serve_command_stops_cleanly_on_sigterm():
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "asr", "serve", "--port", str(port)], stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=REPO)
    url = f"http://127.0.0.1:{port}/"

    async def scenario():
        async with aiohttp.ClientSession() as client:
            await wait_until_up(client, url)
            async with client.get(url) as page:
                assert page.status == 200 and "html" in page.headers["Content-Type"]
            async with client.ws_connect(url + "stream") as ws:
                await ws.send_bytes(pcm16(example_audio()[:8000]).tobytes())
                await asyncio.sleep(0.3)
                server.send_signal(signal.SIGTERM)
                messages = [json.loads(m.data) async for m in ws if m.type == aiohttp.WSMsgType.TEXT]
                return [m for m in messages if "partial" not in m], ws.close_code

    try:
        message, code = asyncio.run(scenario())
        _, stderr = server.communicate(timeout=20)
    finally:
        server.kill()
    assert message == [{"error": "server shutting down"}] and code == 1001
    assert server.returncode == 0
    assert "Traceback" not in stderr and "asr serve: stopped" in stderr


def children_of(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_workers_share_the_port_each_serves_and_all_stop_together(recognizer):
    """--workers 2: two processes answer on one port (each alone while the other is paused serves
    /health and a stream), and SIGTERM to the parent stops both, once, cleanly."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "asr", "serve", "--port", str(port), "--workers", "2"],
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=REPO)
    url = f"http://127.0.0.1:{port}/"

    async def served_by() -> tuple[int, str]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as client:
            async with client.get(url + "health") as response:
                pid = (await response.json())["pid"]
            messages, _ = await stream_audio(client, url, example_audio())
            return pid, " ".join(m["final"] for m in finals(messages) if m["final"])

    async def up() -> None:
        async with aiohttp.ClientSession() as client:
            await wait_until_up(client, url)

    try:
        asyncio.run(up())  # the first worker answers; the parent forks the second once it is ready
        for _ in range(600):
            if len(workers := children_of(server.pid)) == 2:
                break
            time.sleep(0.1)
        assert len(workers) == 2
        answers = {}
        for paused, running in (workers, workers[::-1]):
            os.kill(paused, signal.SIGSTOP)
            try:
                answers[running] = asyncio.run(served_by())
            finally:
                os.kill(paused, signal.SIGCONT)
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    finally:
        server.kill()
    expected = " ".join(segment["text"] for segment in reference_segments(recognizer, example_audio()))
    assert {pid for pid, _ in answers.values()} == set(workers)  # each answered while the other was paused
    assert all(text == expected for _, text in answers.values())
    assert server.returncode == 0 and "Traceback" not in stderr
    assert stderr.count("asr serve: stopped") == 1 and "2 worker processes" in stderr
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)


def test_workers_with_a_model_that_cannot_load_say_so_once(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_text("not a model\n")
    result = subprocess.run([sys.executable, "-m", "asr", "serve", "--port", str(free_port()), "--workers", "2",
                             "--model", str(bad)], capture_output=True, text=True, timeout=60, cwd=REPO, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("asr: error:") == 1 and str(bad) in result.stderr
