"""Reading audio block by block (mono float32 at 16 kHz), for streaming and for long files:
memory stays bounded by the block size whatever the file's length."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import soundfile as sf
import soxr

from asr import SAMPLE_RATE
from asr.audio import _open_error_reason
from asr.errors import AudioError


def read_blocks(path: str | os.PathLike, block_seconds: float = 1.0,
                sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Yield the file's audio as consecutive mono float32 blocks [n] at `sample_rate` (about
    `block_seconds` each; channels averaged; resampled with a streaming soxr resampler, so the
    concatenated blocks equal resampling the whole file up to the resampler's rounding).
    Raises AudioError naming the file when it cannot be read or holds NaN/Inf samples."""
    path = os.fspath(path)
    try:
        f = sf.SoundFile(path)
    except Exception as err:  # soundfile raises several types (LibsndfileError, RuntimeError, ...)
        raise AudioError(path, _open_error_reason(path, err)) from None
    with f:
        rate = f.samplerate
        resampler = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32",
                                                                         quality="HQ")
        block = max(1, int(block_seconds * rate))
        total = 0
        while True:
            try:
                data = f.read(frames=block, dtype="float32", always_2d=True)
            except Exception as err:
                detail = str(err).splitlines()[0].strip() if str(err) else type(err).__name__
                raise AudioError(path, f"damaged or truncated audio data ({detail})") from None
            last = data.shape[0] < block
            samples = np.ascontiguousarray(data.mean(axis=1) if data.shape[1] > 1 else data[:, 0], dtype=np.float32)
            if not np.isfinite(samples).all():
                raise AudioError(path, "contains NaN or infinite sample values")
            total += samples.size
            if resampler is not None:
                samples = resampler.resample_chunk(samples, last=last)
            if samples.size:
                yield samples
            if last:
                break
        if total == 0:
            raise AudioError(path, "contains no audio samples")
