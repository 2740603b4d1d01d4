"""Stream an audio file to `asr serve` over WebSocket, with nothing but the Python standard library.

    python tools/serve_client.py speech.wav                        # finals as JSON lines
    python tools/serve_client.py speech.wav --realtime --partials  # paced like a microphone
    python tools/serve_client.py speech.wav --url ws://host:2700/stream --endpoint-ms 500

It is also the reference for talking to the server from any language: open a WebSocket on
/stream, send {"config": {"sample_rate": RATE, "format": "pcm16"}} (optional), then the audio as
binary messages of little-endian int16 samples, then {"eof": true}; read {"partial": TEXT} and
{"final": TEXT, "start", "end", "words", "last"} messages until one has "last": true, after which
the server closes the connection (1000). See asr/serve/__init__.py for the whole protocol.

The WebSocket part (RFC 6455) is the few pieces a client needs: the HTTP upgrade with its key
check, masked frames out (FIN set, no fragmentation), frames in (fragmented messages joined,
pings answered, the close handshake). No extensions (no compression), no wss:// proxy support.

Audio: 16-bit PCM WAV (any rate, mono or several channels, which are averaged) is read with the
`wave` module; other files (FLAC, Ogg, 24-bit WAV...) need soundfile, used when it is installed.
The server resamples any rate from 8 to 192 kHz itself.
"""

from __future__ import annotations

import argparse
import array
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import wave
from urllib.parse import urlsplit

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(Exception):
    """The handshake failed or the server broke the protocol."""


# ---------------------------------------------------------------------- frames
def encode_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One unfragmented client frame (FIN set): header, masking key, masked payload (RFC 6455 5.2).
    Clients must mask every frame; `mask` is the 4-byte key (default: fresh random bytes)."""
    mask = os.urandom(4) if mask is None else mask
    if len(mask) != 4:
        raise ValueError("the masking key is 4 bytes")
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + mask + apply_mask(payload, mask)


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR the payload with the repeated 4-byte key (masking and unmasking are the same)."""
    if not payload:
        return b""
    # one big-integer XOR instead of a Python loop over bytes: 100 ms of audio is 3200 bytes
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return masked.to_bytes(len(payload), "little")


def read_frame(read) -> tuple[bool, int, bytes]:
    """(fin, opcode, payload) of the next frame, `read(n)` returning exactly n bytes."""
    first, second = read(2)
    fin, opcode, masked, length = bool(first & 0x80), first & 0x0F, bool(second & 0x80), second & 0x7F
    if first & 0x70:
        raise WebSocketError("frame with reserved bits set (no extension was negotiated)")
    if length == 126:
        (length,) = struct.unpack("!H", read(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", read(8))
    mask = read(4) if masked else None  # a server must not mask; tolerated
    payload = read(length) if length else b""
    return fin, opcode, apply_mask(payload, mask) if mask else payload


# ---------------------------------------------------------------------- connection
class WebSocket:
    """A client connection: `send_text`, `send_binary`, `receive` (text messages), `close`.

    Sending is safe from one thread while another receives (a lock keeps frames whole: the
    receiving side answers pings)."""

    def __init__(self, url: str, timeout: float | None = 10.0):
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"expected a ws:// or wss:// URL, got {url!r}")
        secure = parts.scheme == "wss"
        host, port = parts.hostname or "127.0.0.1", parts.port or (443 if secure else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sock = socket.create_connection((host, port), timeout=timeout)
        if secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames go out at once
        self.sock, self._buffer, self._send_lock = sock, b"", threading.Lock()
        self.close_code: int | None = None  # the server's, once it closed
        self.closed = False
        name = f"[{host}]" if ":" in host else host  # an IPv6 address
        self._handshake(f"{name}:{port}" if parts.port else name, path)
        sock.settimeout(None)

    def _handshake(self, host: str, path: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self._buffer:
            data = self.sock.recv(4096)
            if not data:
                raise WebSocketError("connection closed during the handshake")
            self._buffer += data
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        if status.split(" ")[1:2] != ["101"]:
            raise WebSocketError(f"the server refused the upgrade: {status}")
        expected = base64.b64encode(hashlib.sha1(key.encode() + WEBSOCKET_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise WebSocketError("bad Sec-WebSocket-Accept in the server's answer")

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            data = self.sock.recv(max(65536, count - len(self._buffer)))
            if not data:
                raise ConnectionError("the server closed the connection without a close frame")
            self._buffer += data
        out, self._buffer = self._buffer[:count], self._buffer[count:]
        return out

    def _send(self, opcode: int, payload: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(encode_frame(opcode, payload))

    def send_text(self, text: str) -> None:
        self._send(OP_TEXT, text.encode())

    def send_binary(self, data: bytes) -> None:
        self._send(OP_BINARY, data)

    def receive(self) -> str | bytes | None:
        """The next message (str for text, bytes for binary), or None once the server has closed
        (its code in `close_code`; the close is answered). Pings are answered on the way."""
        message, message_opcode = b"", None
        while True:
            fin, opcode, payload = read_frame(self._read)
            if opcode == OP_PING:
                self._send(OP_PONG, payload)
            elif opcode == OP_PONG:
                pass
            elif opcode == OP_CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.close(self.close_code)
                return None
            else:
                if opcode != OP_CONTINUATION:
                    message_opcode, message = opcode, b""
                message += payload
                if fin:
                    return message.decode() if message_opcode == OP_TEXT else message

    def close(self, code: int = 1000) -> None:
        """Send a close frame (once) and, after the server's, shut the socket."""
        if not self.closed:
            self.closed = True
            try:
                self._send(OP_CLOSE, struct.pack("!H", code))
            except OSError:
                pass
        if self.close_code is not None:
            self.sock.close()


# ---------------------------------------------------------------------- audio and the stream
def read_pcm16(path: str) -> tuple[bytes, int]:
    """(little-endian int16 mono samples, sample rate) of an audio file."""
    try:
        with wave.open(path, "rb") as f:
            if f.getsampwidth() == 2 and f.getcomptype() == "NONE":
                rate, channels, data = f.getframerate(), f.getnchannels(), f.readframes(f.getnframes())
                samples = array.array("h", data)
                if sys.byteorder == "big":
                    samples.byteswap()
                if channels > 1:
                    samples = array.array("h", (sum(samples[i: i + channels]) // channels
                                                for i in range(0, len(samples), channels)))
                return _little_endian(samples), rate
    except (wave.Error, EOFError):
        pass  # not a plain 16-bit WAV: try soundfile
    try:
        import soundfile
    except ImportError:
        raise SystemExit(f"{path}: only 16-bit PCM WAV can be read without soundfile (pip install soundfile)") from None
    samples, rate = soundfile.read(path, dtype="int16", always_2d=True)
    return samples.mean(axis=1).astype("<i2").tobytes(), rate


def _little_endian(samples: array.array) -> bytes:
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def stream_file(url: str, pcm: bytes, sample_rate: int, frame_ms: float = 100.0, realtime: bool = False,
                config: dict | None = None, on_message=None) -> list[dict]:
    """Send `pcm` (int16 little-endian mono) to `url` in frames of `frame_ms`, paced by the clock
    with `realtime`; returns every message the server sent, in order (`on_message(message)` is
    called for each as it arrives, on a reader thread). Raises WebSocketError for {"error"}."""
    ws = WebSocket(url)
    messages: list[dict] = []
    failure: list[BaseException] = []

    def read_all() -> None:
        try:
            while (text := ws.receive()) is not None:
                message = json.loads(text)
                messages.append(message)
                if on_message is not None:
                    on_message(message)
        except (OSError, ValueError, WebSocketError) as err:
            failure.append(err)

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    try:
        ws.send_text(json.dumps({"config": {"sample_rate": sample_rate, "format": "pcm16", **(config or {})}}))
        frame_bytes = max(2, round(sample_rate * frame_ms / 1000) * 2)
        started = time.monotonic()
        for offset in range(0, len(pcm), frame_bytes):
            if realtime:  # send each frame when its audio would have been recorded
                delay = started + (offset + frame_bytes) / 2 / sample_rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            ws.send_binary(pcm[offset: offset + frame_bytes])
        ws.send_text(json.dumps({"eof": True}))
    except OSError:
        pass  # the server closed early: its error message says why
    reader.join()
    ws.sock.close()
    errors = [m["error"] for m in messages if "error" in m]
    if errors:
        raise WebSocketError(f"server: {errors[0]} (close code {ws.close_code})")
    if failure:
        raise WebSocketError(f"connection failed: {failure[0]}")
    if not messages or not messages[-1].get("last"):
        raise WebSocketError(f"the server closed (code {ws.close_code}) before the last result")
    return messages


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Stream an audio file to asr serve (standard library only); "
                                            "prints the server's finals (and partials) as JSON lines.")
    p.add_argument("file", help="16-bit PCM WAV (other formats with soundfile installed)")
    p.add_argument("--url", default="ws://127.0.0.1:2700/stream", help="default: ws://127.0.0.1:2700/stream")
    p.add_argument("--realtime", action="store_true", help="send the audio at its own pace, as a microphone would")
    p.add_argument("--frame-ms", type=float, default=100.0, help="audio per WebSocket message (default: 100 ms)")
    p.add_argument("--partials", action="store_true", help="print partial results too")
    p.add_argument("--chunk-ms", type=float, help="the server's chunk for this stream (as asr stream's; default: the server's)")
    p.add_argument("--right-context-ms", type=float, help="the server's right context for this stream")
    p.add_argument("--endpoint-ms", type=float, help="pause that ends a segment (0: one segment until the end)")
    p.add_argument("--no-words", action="store_true", help="finals without word times")
    args = p.parse_args(argv)
    if args.frame_ms <= 0:
        p.error("--frame-ms must be positive")
    config = {key: value for key, value in (("chunk_ms", args.chunk_ms), ("right_context_ms", args.right_context_ms),
                                            ("endpoint_ms", args.endpoint_ms)) if value is not None}
    if args.no_words:
        config["words"] = False

    def show(message: dict) -> None:
        if "final" in message or (args.partials and "partial" in message):
            print(json.dumps(message), flush=True)

    pcm, rate = read_pcm16(args.file)
    try:
        stream_file(args.url, pcm, rate, args.frame_ms, args.realtime, config, show)
    except (OSError, WebSocketError) as err:
        print(f"serve_client: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
