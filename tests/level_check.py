"""The same recordings at other levels must give the same text: shared by the digits recipe's
test and the shipped model's test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from asr.audio import load_audio
from asr.data.importers import FSDD_TEST_INDICES
from asr.transcribe import Recognizer

GAINS_DB = (-30, -20, -10, 0, 10)


def fits_every_gain(wave: torch.Tensor) -> bool:
    """The wave's peak stays below full scale at the loudest gain (a clipped recording is another
    distortion)."""
    return float(wave.abs().max()) * 10 ** (max(GAINS_DB) / 20) < 1


def fsdd_clip_per_speaker(fsdd: Path) -> dict[str, torch.Tensor]:
    """One real test-split clip per FSDD speaker that fits every gain; yweweler's recordings are
    about 18 dB quieter than the rest."""
    chosen = {}
    for speaker in ("george", "jackson", "lucas", "nicolas", "yweweler"):
        clips = (load_audio(fsdd / f"{digit}_{speaker}_{index}.wav") for digit in range(10) for index in FSDD_TEST_INDICES)
        chosen[speaker] = next(filter(fits_every_gain, clips))  # read until one fits
    return chosen


def assert_level_independent(model: Path, waves: dict[str, torch.Tensor], min_same_frames: float = 0.9,
                             sixteen_bit: bool = True) -> None:
    """Each wave (samples,) recorded -30, -20, -10, 0 and +10 dB from its level (scaled, then
    rounded to 16 bits as such a recording would be, unless not `sixteen_bit`) gives the same
    non-empty text, and the same best token in at least `min_same_frames` of its frames."""
    recognizer = Recognizer.from_file(str(model), device="cpu")
    for name, wave in waves.items():
        assert fits_every_gain(wave), f"{name} would clip at +{max(GAINS_DB)} dB"
        texts, frames = {}, {}
        for gain_db in GAINS_DB:
            scaled = wave * 10 ** (gain_db / 20)
            if sixteen_bit:
                scaled = torch.round(scaled * 32767) / 32767
            texts[gain_db] = recognizer.decode_waveforms([scaled])[0]
            log_probs, _ = recognizer.log_probs(scaled[None], torch.tensor([len(scaled)]))
            frames[gain_db] = log_probs[0].argmax(-1)
        assert texts[0] and len(set(texts.values())) == 1, (name, texts)
        for gain_db, best in frames.items():
            assert np.mean((best == frames[0]).numpy()) >= min_same_frames, (name, gain_db)
