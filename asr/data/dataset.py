"""Map-style dataset of (waveform, tokens) and the collate function that pads them."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from asr import SAMPLE_RATE
from asr.audio import load_audio, resample
from asr.data.manifest import Utterance
from asr.errors import AsrError, AudioError
from asr.text import Tokenizer, normalize_text

log = logging.getLogger("asr.data")


def speed_perturb(wave: torch.Tensor, factor: float, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Play `wave` `factor` times faster (tempo and pitch, like `sox speed`): resample it
    as if it had been recorded at sample_rate * factor. [N] -> [about N / factor]."""
    faster = resample(wave.numpy(), int(round(sample_rate * factor)), sample_rate)
    return torch.from_numpy(np.ascontiguousarray(faster))


@dataclass
class LoadFailure:
    index: int
    reason: str


@dataclass
class Example:
    index: int
    waveform: torch.Tensor  # [N] float32, 16 kHz
    tokens: torch.Tensor  # [L] int64


def record_at_level(wave: torch.Tensor, gain: float) -> torch.Tensor:
    """`wave` [N] as a 16-bit recording `gain` times as loud would hold it: scaled, clipped at
    full scale and rounded to the int16 grid."""
    return torch.round(torch.clamp(wave * gain, -1.0, 32767 / 32768) * 32768) / 32768


class SpeechDataset(torch.utils.data.Dataset):
    """Loads utterance audio and encodes its transcript. A file that cannot be read, or text
    the tokenizer cannot encode, gives a `LoadFailure` (and a log warning) so that the batch
    goes on without it."""

    def __init__(self, utterances: Sequence[Utterance], tokenizer: Tokenizer | None = None,
                 speed_factors: Sequence[float] = (), seed: int = 0, epoch: int = 0,
                 level_prob: float = 0.0, level_gain_db: Sequence[float] = (-40.0, 10.0)):
        self.utterances = list(utterances)
        self.tokenizer = tokenizer
        self.speed_factors = tuple(speed_factors)
        self.seed, self.epoch = seed, epoch
        if not 0.0 <= level_prob <= 1.0:
            raise AsrError(f"data.level_prob must be within [0, 1], got {level_prob}")
        if len(level_gain_db) != 2 or level_gain_db[0] > level_gain_db[1]:
            raise AsrError(f"data.level_gain_db must be [lowest, highest] in dB, got {list(level_gain_db)}")
        self.level_prob, self.level_gain_db = level_prob, tuple(level_gain_db)

    def _level_gain(self, index: int) -> float | None:
        """The gain (linear) utterance `index` is recorded at in this epoch, or None; like the
        speed factor a function of (seed, epoch, index) alone."""
        if not self.level_prob:
            return None
        rng = random.Random(f"{self.seed}-{self.epoch}-{index}-level")
        if rng.random() >= self.level_prob:
            return None
        return 10 ** (rng.uniform(*self.level_gain_db) / 20)

    def _speed(self, index: int) -> float:
        """The speed factor of utterance `index` in this epoch: random, but a function of
        (seed, epoch, index) alone, so worker processes and resumed runs agree."""
        if not self.speed_factors:
            return 1.0
        return random.Random(f"{self.seed}-{self.epoch}-{index}").choice(self.speed_factors)

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> Example | LoadFailure:
        utt = self.utterances[index]
        try:
            duration = utt.duration if utt.offset else None
            wave = load_audio(utt.audio, offset=utt.offset, duration=duration)
            speed = self._speed(index)
            if speed != 1.0:
                wave = speed_perturb(wave, speed)
            gain = self._level_gain(index)
            if gain is not None:
                wave = record_at_level(wave, gain)
        except AudioError as err:
            log.warning("skipping utterance %s: %s", utt.id, err)
            return LoadFailure(index, str(err))
        tokens: list[int] = []
        if self.tokenizer is not None:
            try:
                tokens = self.tokenizer.encode(normalize_text(utt.text))
            except ValueError as err:
                log.warning("skipping utterance %s: %s", utt.id, err)
                return LoadFailure(index, f"transcript: {err}")
        return Example(index, wave, torch.tensor(tokens, dtype=torch.long))


@dataclass
class Batch:
    indices: list[int]  # dataset indices of the rows
    waveforms: torch.Tensor  # [B, N_max]
    waveform_lengths: torch.Tensor  # [B]
    tokens: torch.Tensor  # [B, L_max], padded with 0
    token_lengths: torch.Tensor  # [B]
    failures: list[LoadFailure]  # examples of this batch that could not be loaded

    def __len__(self) -> int:
        return len(self.indices)

    def pin_memory(self) -> "Batch":
        self.waveforms = self.waveforms.pin_memory()
        return self


def collate(examples: Sequence[Example | LoadFailure]) -> Batch:
    """Pad waveforms and token sequences; failed examples are listed in `failures` (a batch
    may end up with no rows at all)."""
    failures = [e for e in examples if isinstance(e, LoadFailure)]
    examples = [e for e in examples if isinstance(e, Example)]
    wave_lengths = torch.tensor([e.waveform.numel() for e in examples], dtype=torch.long)
    token_lengths = torch.tensor([e.tokens.numel() for e in examples], dtype=torch.long)
    max_wave = int(wave_lengths.max()) if examples else 0
    max_tokens = int(token_lengths.max()) if examples else 0
    waves = torch.zeros(len(examples), max_wave)
    tokens = torch.zeros(len(examples), max(max_tokens, 1), dtype=torch.long)
    for row, e in enumerate(examples):
        waves[row, : e.waveform.numel()] = e.waveform
        tokens[row, : e.tokens.numel()] = e.tokens
    return Batch([e.index for e in examples], waves, wave_lengths, tokens, token_lengths, failures)
