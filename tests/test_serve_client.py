"""tools/serve_client.py, the standard-library WebSocket client of asr serve: its frames against
RFC 6455's own example, its reading of pings, fragments and closes from a scripted server, and a
whole file streamed to a real `asr serve` giving the text of `asr stream` on the same audio."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO

from asr.pretrained import example_files

CLIENT = REPO / "tools" / "serve_client.py"
_spec = importlib.util.spec_from_file_location("serve_client", CLIENT)
serve_client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serve_client)


# ---------------------------------------------------------------------- frames
def test_masked_hello_is_the_rfc_example():
    """RFC 6455, section 5.7: a single-frame masked text message containing "Hello"."""
    frame = serve_client.encode_frame(serve_client.OP_TEXT, b"Hello", mask=bytes.fromhex("37fa213d"))
    assert frame == bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])


@pytest.mark.parametrize("size, header", [(125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_length_encodings_round_trip(size, header):
    payload = os.urandom(size)
    frame = serve_client.encode_frame(serve_client.OP_BINARY, payload)
    assert len(frame) == header + 4 + size and frame[1] & 0x80  # masked
    buffer = memoryview(frame)
    position = 0

    def read(n):
        nonlocal position
        position += n
        return bytes(buffer[position - n: position])

    assert serve_client.read_frame(read) == (True, serve_client.OP_BINARY, payload)
    assert position == len(frame)


# ---------------------------------------------------------------------- a scripted server
def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked frame as a server sends it (payloads < 126 bytes here)."""
    return bytes([(0x80 if fin else 0) | opcode, len(payload)]) + payload


def test_pings_fragments_and_close_from_a_server():
    """The client answers a ping with its payload, joins a fragmented text message, and answers
    the server's close with a close (code kept)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: dict = {}

    def serve_once():
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key"))
            accept = base64.b64encode(hashlib.sha1(key + serve_client.WEBSOCKET_GUID).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                         + server_frame(serve_client.OP_PING, b"are you there")
                         + server_frame(serve_client.OP_TEXT, b'{"partial": "HEL', fin=False)
                         + server_frame(serve_client.OP_CONTINUATION, b'LO"}')
                         + server_frame(serve_client.OP_CLOSE, struct.pack("!H", 1000)))
            reader = conn.makefile("rb")
            frames = []
            while len(frames) < 2:
                frames.append(serve_client.read_frame(reader.read))
            seen["frames"] = frames

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    ws = serve_client.WebSocket(f"ws://127.0.0.1:{port}/stream")
    assert json.loads(ws.receive()) == {"partial": "HELLO"}
    assert ws.receive() is None and ws.close_code == 1000
    thread.join(5)
    listener.close()
    assert seen["frames"] == [(True, serve_client.OP_PONG, b"are you there"),
                              (True, serve_client.OP_CLOSE, struct.pack("!H", 1000))]


def test_handshake_with_a_wrong_accept_is_refused():
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_once():
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: bm90IGl0\r\n\r\n")

    threading.Thread(target=serve_once, daemon=True).start()
    with pytest.raises(serve_client.WebSocketError, match="Sec-WebSocket-Accept"):
        serve_client.WebSocket(f"ws://127.0.0.1:{listener.getsockname()[1]}/")
    listener.close()


def test_stereo_wav_is_averaged(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, np.array([[1000, 3000], [-2000, -4000]], dtype=np.int16), 8000, subtype="PCM_16")
    pcm, rate = serve_client.read_pcm16(str(path))
    assert rate == 8000 and np.frombuffer(pcm, "<i2").tolist() == [2000, -3000]


# ---------------------------------------------------------------------- against asr serve
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    """The shipped examples joined with 1 s pauses (several segments), as 16-bit WAV."""
    pytest.importorskip("aiohttp", reason="asr serve needs aiohttp (pip install 'asr[serve]')")
    pieces = []
    for path in example_files():
        samples, rate = sf.read(path, dtype="int16")
        assert rate == 16000
        pieces += [samples, np.zeros(16000, np.int16)]
    path = tmp_path_factory.mktemp("client") / "examples.wav"
    sf.write(path, np.concatenate(pieces), 16000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def server_url(speech_wav):
    """`asr serve` on a free port, as a user starts it; its WebSocket URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "asr", "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:  # e.g. the port was taken in between
                pytest.fail(f"asr serve exited: {server.stderr.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if json.load(response)["status"] == "ok":
                        break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("asr serve did not answer /health within 60 s")
                time.sleep(0.2)
        yield f"ws://127.0.0.1:{port}/stream"
    finally:
        server.terminate()
        server.wait(10)


def test_client_prints_the_text_of_asr_stream(speech_wav, server_url):
    stream = subprocess.Popen([sys.executable, "-m", "asr", "stream", "--format", "json", "--as-fast-as-possible",
                               str(speech_wav)], stdout=subprocess.PIPE, text=True)
    client = subprocess.run([sys.executable, str(CLIENT), str(speech_wav), "--url", server_url],
                            capture_output=True, text=True, timeout=60, check=False)
    reference = stream.communicate(timeout=60)[0]
    assert client.returncode == 0, client.stderr
    finals = [json.loads(line) for line in client.stdout.splitlines()]
    segments = [json.loads(line) for line in reference.splitlines()]
    assert len(segments) >= 2  # the pauses end segments
    assert all("final" in m for m in finals) and finals[-1]["last"] and not any(m["last"] for m in finals[:-1])
    assert " ".join(m["final"] for m in finals if m["final"]) == " ".join(s["text"] for s in segments)
    assert [(m["start"], m["end"]) for m in finals if m["final"]] == [(s["start"], s["end"]) for s in segments]


def test_partials_in_real_time_and_a_refused_config(speech_wav, server_url):
    messages = []
    samples, _ = sf.read(speech_wav, dtype="int16", frames=16000 * 2)
    serve_client.stream_file(server_url, samples.astype("<i2").tobytes(), 16000, frame_ms=100, realtime=True,
                             config={"words": False}, on_message=messages.append)
    assert any("partial" in m for m in messages) and messages[-1]["last"] and "words" not in messages[-1]
    refused = subprocess.run([sys.executable, str(CLIENT), str(speech_wav), "--url", server_url, "--chunk-ms", "1"],
                             capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 1 and "config chunk_ms" in refused.stderr and "1003" in refused.stderr
