"""Reading audio: any soundfile-supported file (wav, flac, ogg/opus, mp3) -> mono float32 at 16 kHz."""

from __future__ import annotations

import os
import sys

import numpy as np
import soundfile as sf
import soxr
import torch

from asr import SAMPLE_RATE
from asr.errors import AudioError


def _open_error_reason(path: str, err: Exception) -> str:
    if not os.path.exists(path):
        return "no such file"
    if os.path.isdir(path):
        return "is a folder, not an audio file"
    if os.path.getsize(path) == 0:
        return "empty file (0 bytes)"
    if not os.access(path, os.R_OK):
        return "permission denied"
    # libsndfile's messages are long and technical; keep the useful part on the one line
    return f"not a readable audio file ({str(err).splitlines()[0].strip()})"


def audio_info(path: str | os.PathLike) -> tuple[float, int, int]:
    """(duration in seconds, sample rate, channels) of a file, read from its header."""
    path = os.fspath(path)
    try:
        info = sf.info(path)
    except Exception as err:  # soundfile raises several types (LibsndfileError, RuntimeError)
        raise AudioError(path, _open_error_reason(path, err)) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(path, "contains no audio samples")
    return info.frames / info.samplerate, info.samplerate, info.channels


def read_stdin_to_file(directory: str | os.PathLike, stream=None) -> str:
    """Copy an audio file piped to standard input (`asr transcribe -`) into `directory`; returns
    the new file's path. A file rather than the pipe itself: the audio is opened twice (its
    header for the duration, then its samples) and some formats need seeking. The format is
    recognized from the content, so the file needs no extension."""
    import shutil

    source = stream if stream is not None else sys.stdin.buffer
    path = os.path.join(os.fspath(directory), "stdin")
    with open(path, "wb") as f:
        shutil.copyfileobj(source, f, length=1 << 20)
    return path


def resample(samples: np.ndarray, rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a 1-D float32 signal with soxr (high quality)."""
    if rate == target_rate:
        return samples
    return soxr.resample(samples, rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def load_audio(
    path: str | os.PathLike,
    offset: float = 0.0,
    duration: float | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> torch.Tensor:
    """Load an audio file (or the segment [offset, offset + duration) of it) as mono float32.

    Returns a tensor of shape [num_samples] at `sample_rate`, values in [-1, 1] for integer
    formats. Channels are averaged. Raises `AudioError` naming the file for anything unusable:
    missing, empty, unreadable, no samples, or NaN/Inf values.
    """
    path = os.fspath(path)
    try:
        f = sf.SoundFile(path)
    except Exception as err:  # soundfile raises several types (LibsndfileError, RuntimeError, ...)
        raise AudioError(path, _open_error_reason(path, err)) from None
    try:
        with f:
            rate = f.samplerate
            start = int(round(offset * rate))
            if start:
                f.seek(min(start, f.frames))
            frames = -1 if duration is None else int(round(duration * rate))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except Exception as err:
        # the header was fine but the data is not: typically a file cut short (a truncated FLAC)
        detail = str(err).splitlines()[0].strip() if str(err) else type(err).__name__
        raise AudioError(path, f"damaged or truncated audio data ({detail})") from None
    if data.shape[0] == 0:
        raise AudioError(path, "contains no audio samples" if not offset else f"no audio at offset {offset}s")
    samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(samples).all():
        raise AudioError(path, "contains NaN or infinite sample values")
    samples = resample(np.ascontiguousarray(samples, dtype=np.float32), rate, sample_rate)
    if samples.size == 0:  # a few samples at an absurd header rate (a damaged header) resample to none
        raise AudioError(path, f"{data.shape[0]} samples at {rate} Hz: too short to use")
    return torch.from_numpy(np.ascontiguousarray(samples))
