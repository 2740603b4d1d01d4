"""What a WebSocket client may configure, with the allowed range of each setting, and how its
audio frames are read. Every violation is a `ProtocolError` whose message goes to the client."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields

import numpy as np

SAMPLE_FORMATS = {"pcm16": np.dtype("<i2"), "float32": np.dtype("<f4")}
MAX_FLOAT_PEAK = 4.0  # float32 audio is in [-1, 1]; some headroom for clipped-but-sane sources


class ProtocolError(Exception):
    """A client message the server cannot take: the message says what, `code` is the close code."""

    def __init__(self, message: str, code: int = 1003):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StreamConfig:
    """One stream's settings: the client's `{"config": {...}}`, each key optional."""

    sample_rate: int = 16000  # of the client's audio; resampled to 16 kHz on the server
    format: str = "pcm16"  # pcm16 (little-endian int16) or float32 (little-endian)
    chunk_ms: float = 240.0  # as asr stream's --chunk-ms
    right_context_ms: float = 120.0
    endpoint_ms: float = 800.0  # 0: one segment until eof
    words: bool = True  # word times and confidences in finals


# allowed values: (low, high) inclusive
RANGES = {"sample_rate": (8000, 192000), "chunk_ms": (30.0, 5000.0), "right_context_ms": (0.0, 2000.0),
          "endpoint_ms": (0.0, 30000.0)}


def parse_config(message: dict, defaults: StreamConfig) -> StreamConfig:
    """The stream config of a client's `{"config": {...}}` message (its keys over `defaults`)."""
    config = message.get("config")
    if not isinstance(config, dict) or set(message) != {"config"}:
        raise ProtocolError('expected {"config": {...}} as the first text message')
    known = {f.name: f.type for f in fields(StreamConfig)}
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise ProtocolError(f"unknown config key {unknown[0]!r} (known: {', '.join(known)})")
    values = {}
    for key, value in config.items():
        if key == "format":
            if value not in SAMPLE_FORMATS:
                raise ProtocolError(f"config format {value!r}: expected one of {', '.join(SAMPLE_FORMATS)}")
        elif key == "words":
            if not isinstance(value, bool):
                raise ProtocolError(f"config words {value!r}: expected true or false")
        else:
            low, high = RANGES[key]
            number_ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if key == "sample_rate" and number_ok:
                number_ok = float(value).is_integer()
                value = int(value)
            if not number_ok or not low <= value <= high:
                kind = "an integer" if key == "sample_rate" else "a number"
                raise ProtocolError(f"config {key} {value!r}: expected {kind} from {low:g} to {high:g}")
        values[key] = value
    return StreamConfig(**{**defaults.__dict__, **values})


def parse_text(data: str) -> dict:
    """A client's text message as a JSON object."""
    try:
        message = json.loads(data)
    except json.JSONDecodeError as err:
        raise ProtocolError(f"text message is not JSON: {err.msg} at character {err.pos}") from None
    if not isinstance(message, dict):
        raise ProtocolError("text message must be a JSON object")
    return message


def is_eof(message: dict) -> bool:
    """`{"eof": true}` (or Vosk's `{"eof": 1}`)."""
    return set(message) == {"eof"} and message["eof"] in (True, 1)


def samples_of_frame(data: bytes, sample_format: str) -> np.ndarray:
    """A binary frame's samples as float32 in [-1, 1) (pcm16 scaled, float32 checked finite)."""
    dtype = SAMPLE_FORMATS[sample_format]
    if len(data) % dtype.itemsize:
        raise ProtocolError(f"a {sample_format} frame must be a whole number of {dtype.itemsize}-byte samples, "
                            f"got {len(data)} bytes")
    samples = np.frombuffer(data, dtype=dtype)
    if sample_format == "pcm16":
        return samples.astype(np.float32) / 32768.0
    if not np.isfinite(samples).all():
        raise ProtocolError("float32 frame holds NaN or infinite samples: is it pcm16 sent as float32?")
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak > MAX_FLOAT_PEAK:
        raise ProtocolError(f"float32 samples must lie in [-1, 1], found {peak:.3g}: is it pcm16 sent as float32?")
    return samples.astype(np.float32)
