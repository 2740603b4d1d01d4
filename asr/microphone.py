"""The default microphone as a stream of 16 kHz mono float32 blocks (optional extra: sounddevice)."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import numpy as np

from asr import SAMPLE_RATE
from asr.errors import AsrError


def microphone_blocks(block_seconds: float = 0.1) -> Iterator[np.ndarray]:
    """Blocks [n] of float32 samples from the default input device until Ctrl-C."""
    try:
        import sounddevice
    except (ImportError, OSError) as err:  # OSError: the PortAudio library itself is missing
        raise AsrError(f"--mic needs the sounddevice package and PortAudio: pip install 'asr[mic]' ({err})") from None
    try:
        sounddevice.check_input_settings(channels=1, samplerate=SAMPLE_RATE, dtype="float32")
    except Exception as err:  # sounddevice raises PortAudioError / ValueError without a device
        raise AsrError(f"--mic: no usable input device ({err})") from None
    blocks: queue.Queue[np.ndarray] = queue.Queue()
    with sounddevice.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                 blocksize=int(block_seconds * SAMPLE_RATE),
                                 callback=lambda data, frames, time, status: blocks.put(data[:, 0].copy())):
        while True:
            yield blocks.get()
