"""The streams a server is decoding, and the worker that decodes them in batches off the event loop.

Each `StreamSession` holds one client's `StreamingRecognizer`, its resampler and the audio that
has arrived but is not decoded yet. `StreamEngine.run` (a task on the event loop) waits until some
session has audio waiting, then hands every such session to one worker thread for a pass:
resample, compute features, run the chunks ready in all of them through the acoustic model in one
batch (`run_chunks`), decode each, and turn what changed into messages (partials, finals). Audio
that arrives during a pass goes into the next one, so the batch grows with the load by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soxr

from asr import SAMPLE_RATE
from asr.decode.stream import Segment, StreamingRecognizer, run_chunks
from asr.serve.protocol import StreamConfig
from asr.transcribe import Recognizer

log = logging.getLogger("asr.serve")

_EOF = object()  # in a session's inbox: the client's {"eof": true}


def final_message(segment: Segment, last: bool = False) -> dict:
    """A closed segment as the client gets it (times in seconds of the stream)."""
    record = segment.to_json()
    message = {"final": record["text"], "start": record["start"], "end": record["end"]}
    if "words" in record:
        message["words"] = record["words"]
    message["last"] = last
    return message


class StreamSession:
    """One client's stream (see the module docstring). Messages for the client go to `outbox`;
    `ended` is set once the last final is in it."""

    def __init__(self, recognizer: Recognizer, config: StreamConfig, peer: str = "?"):
        self.config, self.peer = config, peer
        self.stream = StreamingRecognizer(recognizer, chunk_ms=config.chunk_ms,
                                          right_context_ms=config.right_context_ms,
                                          endpoint_ms=config.endpoint_ms, word_timestamps=config.words)
        self.resampler = (soxr.ResampleStream(config.sample_rate, SAMPLE_RATE, 1, dtype="float32")
                          if config.sample_rate != SAMPLE_RATE else None)
        self.inbox: deque = deque()  # float32 arrays at the client's rate, then maybe _EOF
        self.received_samples = 0  # at the client's rate
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.ended = asyncio.Event()
        self.cancelled = False  # the client is gone: drop whatever is waiting
        self._partial = ""

    @property
    def received_seconds(self) -> float:
        return self.received_samples / self.config.sample_rate

    def add_audio(self, samples: np.ndarray) -> None:
        self.received_samples += len(samples)
        self.inbox.append(samples)

    def add_eof(self) -> None:
        self.inbox.append(_EOF)

    # ------------------------------------------------------------------ on the worker thread
    def take_input(self) -> None:
        """Resample and compute the features of the audio waiting; at the eof, end the input."""
        while self.inbox:
            item = self.inbox.popleft()
            if item is _EOF:
                if self.resampler is not None:
                    self.stream.feed(self.resampler.resample_chunk(np.zeros(0, np.float32), last=True))
                self.stream.end_input()
                return
            self.stream.feed(self.resampler.resample_chunk(item) if self.resampler is not None else item)

    def messages(self, closed: list[Segment]) -> list[dict]:
        """What to tell the client after a pass that closed `closed`."""
        messages = [final_message(s) for s in closed]
        if self.stream.finished:
            last = self.stream.close()
            messages += [final_message(s) for s in last]
            if messages and messages[-1].get("last") is False:
                messages[-1]["last"] = True
            else:
                end = round(self.stream.frames_decoded * self.stream.frame_seconds, 3)
                messages.append({"final": "", "start": end, "end": end, "words": [], "last": True})
            return messages
        partial = self.stream.partial()
        if partial != self._partial or (closed and partial):
            messages.append({"partial": partial})
        self._partial = partial
        return messages


class StreamEngine:
    """Decodes all sessions on one worker thread, in batched passes (see the module docstring)."""

    def __init__(self) -> None:
        self.sessions: set[StreamSession] = set()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="asr-streams")
        self._wake = asyncio.Event()
        self.passes = 0
        self.batched_streams = 0  # sum of streams over passes (their mean is the batch size)

    def add(self, session: StreamSession) -> None:
        self.sessions.add(session)

    def remove(self, session: StreamSession) -> None:
        session.cancelled = True
        self.sessions.discard(session)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            waiting = [s for s in self.sessions if s.inbox and not s.cancelled]
            if not waiting:
                continue
            try:
                results = await loop.run_in_executor(self.executor, self._decode_pass, waiting)
            except Exception:  # a bug, not the clients' fault: end these streams, keep serving
                log.exception("decoding failed for %d streams", len(waiting))
                for session in waiting:
                    self.remove(session)
                    session.outbox.put_nowait({"error": "internal error while decoding this stream"})
                    session.ended.set()
                continue
            for session, messages in results:
                if session.cancelled:
                    continue
                for message in messages:
                    session.outbox.put_nowait(message)
                if session.stream.finished:
                    session.ended.set()
            self.passes += 1
            self.batched_streams += len(waiting)

    def _decode_pass(self, sessions: list[StreamSession]) -> list[tuple[StreamSession, list[dict]]]:
        fed = []
        for session in sessions:
            if not session.cancelled:
                session.take_input()
                fed.append(session)
        closed = run_chunks([s.stream for s in fed])
        return [(session, session.messages(segments)) for session, segments in zip(fed, closed)]

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
