"""The aiohttp application of `asr serve`: routes, limits, sessions, shutdown (see asr.serve).

aiohttp because one well-kept asyncio library gives everything the server needs: WebSocket with
a message size limit and close codes, HTTP with streamed and multipart bodies, static files, and
graceful shutdown on SIGTERM, without an ASGI stack (uvicorn + starlette) or a second library for
HTTP next to `websockets`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import WSCloseCode, WSMsgType, web

from asr.errors import AsrError
from asr.serve.engine import StreamEngine, StreamSession
from asr.serve.protocol import (
    ProtocolError,
    StreamConfig,
    is_eof,
    parse_config,
    parse_text,
    samples_of_frame,
)
from asr.transcribe import Recognizer
from asr.transcribe_file import transcribe_file

log = logging.getLogger("asr.serve")
STATIC = Path(__file__).with_name("static")


@dataclass(frozen=True)
class Limits:
    """What one server accepts; over a limit a client gets an error and a close, nobody else notices."""

    max_sessions: int = 32  # streams at once; one more is told to try again later (close 1013)
    max_message_bytes: int = 1 << 20  # one WebSocket message (1 MiB: 32 s of 16 kHz pcm16)
    idle_timeout: float = 30.0  # seconds without a message from a stream's client
    max_stream_seconds: float = 3600.0  # audio in one stream
    max_upload_bytes: int = 200 << 20  # a file posted to /transcribe
    segment_over: float = 60.0  # a posted file longer than this is cut at pauses (asr transcribe's --segment-over)


ENGINE = web.AppKey("engine", StreamEngine)
RECOGNIZER = web.AppKey("recognizer", Recognizer)
LIMITS = web.AppKey("limits", Limits)
DEFAULTS = web.AppKey("defaults", StreamConfig)
FILE_EXECUTOR = web.AppKey("file_executor", ThreadPoolExecutor)
SOCKETS = web.AppKey("sockets", set)
MODEL_NAME = web.AppKey("model_name", str)
ENGINE_TASK = web.AppKey("engine_task", asyncio.Task)


def build_app(recognizer: Recognizer, model_name: str = "model", limits: Limits | None = None,
              defaults: StreamConfig | None = None) -> web.Application:
    """The server as an aiohttp application (run it with `web.run_app` or a test client)."""
    limits, defaults = limits or Limits(), defaults or StreamConfig()
    app = web.Application(client_max_size=limits.max_upload_bytes)
    app[RECOGNIZER], app[LIMITS], app[DEFAULTS], app[MODEL_NAME] = recognizer, limits, defaults, model_name
    app[SOCKETS] = set()
    app.router.add_get("/", _index)
    app.router.add_get("/health", _health)
    app.router.add_post("/transcribe", _transcribe)
    app.router.add_get("/stream", _stream)
    app.router.add_static("/static", STATIC)
    app.on_startup.append(_start)
    app.on_shutdown.append(_close_sockets)
    app.on_cleanup.append(_stop)
    return app


async def _start(app: web.Application) -> None:
    app[ENGINE] = StreamEngine()
    app[FILE_EXECUTOR] = ThreadPoolExecutor(1, thread_name_prefix="asr-files")
    app[ENGINE_TASK] = asyncio.get_running_loop().create_task(app[ENGINE].run())


async def _close_sockets(app: web.Application) -> None:
    for ws in list(app[SOCKETS]):
        await _refuse(ws, "server shutting down", WSCloseCode.GOING_AWAY)


async def _stop(app: web.Application) -> None:
    app[ENGINE_TASK].cancel()
    await asyncio.gather(app[ENGINE_TASK], return_exceptions=True)
    app[ENGINE].shutdown()
    app[FILE_EXECUTOR].shutdown(wait=True, cancel_futures=True)


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def _health(request: web.Request) -> web.Response:
    app = request.app
    return web.json_response({"status": "ok", "sessions": len(app[SOCKETS]),
                              "max_sessions": app[LIMITS].max_sessions, "model": app[MODEL_NAME],
                              "pid": os.getpid()})  # which worker process answered (asr serve --workers)


# ---------------------------------------------------------------------- POST /transcribe
async def _transcribe(request: web.Request) -> web.Response:
    """A whole file -> asr transcribe's JSON. The body is the file, or a multipart form's first file."""
    app = request.app
    limit = app[LIMITS].max_upload_bytes
    with tempfile.TemporaryDirectory(prefix="asr-serve-") as folder:
        path = os.path.join(folder, "upload")
        name, part = request.query.get("name", "upload"), None
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            part = await reader.next()
            while part is not None and not getattr(part, "filename", None):
                part = await reader.next()
            if part is None:
                return _json_error(400, "multipart body has no file part")
            name = part.filename
        size = 0
        with open(path, "wb") as f:  # noqa: ASYNC230 (64 KiB writes to a local temp file)
            while chunk := await (part.read_chunk(1 << 16) if part is not None else request.content.read(1 << 16)):
                size += len(chunk)
                if size > limit:
                    return _json_error(413, f"file larger than {limit} bytes")
                f.write(chunk)
        if size == 0:
            return _json_error(400, "empty body: post an audio file")
        try:
            transcript = await asyncio.get_running_loop().run_in_executor(
                app[FILE_EXECUTOR], transcribe_file, app[RECOGNIZER], path, name, app[LIMITS].segment_over,
                _streaming_defaults(app[DEFAULTS]), True)
        except AsrError as err:
            return _json_error(400, str(err))
    log.info("transcribed %s (%d bytes) for %s", name, size, request.remote)
    return web.json_response(transcript.to_json())


def _streaming_defaults(config: StreamConfig) -> dict:
    return {"chunk_ms": config.chunk_ms, "right_context_ms": config.right_context_ms,
            "endpoint_ms": config.endpoint_ms}


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


# ---------------------------------------------------------------------- WS /stream
async def _refuse(ws: web.WebSocketResponse, message: str, code: int) -> None:
    """Tell the client why, then close (a client that is already gone is fine)."""
    if ws.closed:
        return
    try:
        await ws.send_json({"error": message})
    except (ConnectionError, RuntimeError):
        pass
    await ws.close(code=code, message=message[:120].encode())


async def _send_all(ws: web.WebSocketResponse, session: StreamSession) -> None:
    """Send the session's messages as they come (a task beside the receiving loop)."""
    while True:
        message = await session.outbox.get()
        await ws.send_json(message)
        if "error" in message:  # the engine gave up on this stream
            await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=message["error"].encode())
            return


async def _stream(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    limits, engine = app[LIMITS], app[ENGINE]
    ws = web.WebSocketResponse(max_msg_size=limits.max_message_bytes)
    await ws.prepare(request)
    if len(app[SOCKETS]) >= limits.max_sessions:
        log.info("refused a stream from %s: %d sessions open", request.remote, len(app[SOCKETS]))
        await _refuse(ws, f"server busy: {limits.max_sessions} streams open, try again later",
                      WSCloseCode.TRY_AGAIN_LATER)
        return ws
    app[SOCKETS].add(ws)
    config, session, sender = app[DEFAULTS], None, None
    started = time.monotonic()
    try:
        while True:
            try:
                msg = await ws.receive(timeout=limits.idle_timeout)
            except TimeoutError:
                raise ProtocolError(f"no message for {limits.idle_timeout:g} s: closing the stream",
                                    WSCloseCode.POLICY_VIOLATION) from None
            if msg.type == WSMsgType.TEXT:
                message = parse_text(msg.data)
                if is_eof(message):
                    if session is None:
                        raise ProtocolError("eof before any audio")
                    session.add_eof()
                    engine.wake()
                    await session.ended.wait()
                    while not session.outbox.empty():  # let the sender finish
                        await asyncio.sleep(0.005)
                    await ws.close()
                    break
                if session is not None:
                    raise ProtocolError("config must come before the audio" if "config" in message
                                        else 'unexpected text message (expected {"eof": true})')
                config = parse_config(message, app[DEFAULTS])
            elif msg.type == WSMsgType.BINARY:
                if session is None:
                    session = StreamSession(app[RECOGNIZER], config, str(request.remote))
                    engine.add(session)
                    sender = asyncio.get_running_loop().create_task(_send_all(ws, session))
                session.add_audio(samples_of_frame(msg.data, config.format))
                if session.received_seconds > limits.max_stream_seconds:
                    raise ProtocolError(f"stream longer than {limits.max_stream_seconds:g} s of audio",
                                        WSCloseCode.POLICY_VIOLATION)
                engine.wake()
            elif msg.type == WSMsgType.ERROR:  # e.g. a message over max_msg_size: aiohttp closes with 1009
                log.info("stream from %s: %s", request.remote, ws.exception())
                break
            else:  # close, closing, closed: the client went away
                break
    except ProtocolError as err:
        log.info("stream from %s: %s", request.remote, err)
        await _refuse(ws, str(err), err.code)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        app[SOCKETS].discard(ws)
        if session is not None:
            engine.remove(session)
            log.info("stream from %s: %.1f s of audio in %.1f s", request.remote, session.received_seconds,
                     time.monotonic() - started)
        if sender is not None:
            sender.cancel()
    return ws
