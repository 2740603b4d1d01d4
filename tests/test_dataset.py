"""Dataset, speed perturbation and collation."""

from __future__ import annotations

import numpy as np
import torch

from asr.data.dataset import Example, LoadFailure, SpeechDataset, collate, speed_perturb
from asr.data.manifest import Utterance
from asr.text import CharTokenizer
from conftest import write_tone


def test_speed_perturbation_scales_length_and_pitch():
    t = np.arange(16000) / 16000
    wave = torch.from_numpy(np.sin(2 * np.pi * 200 * t).astype(np.float32))
    for factor in (0.9, 1.1):
        faster = speed_perturb(wave, factor)
        assert abs(faster.numel() - 16000 / factor) <= 2
        spectrum = np.abs(np.fft.rfft(faster.numpy(), n=16000))
        assert abs(int(spectrum.argmax()) - 200 * factor) <= 1


def test_speed_choice_depends_only_on_seed_epoch_and_index(tmp_path):
    utts = [Utterance(str(i), str(write_tone(tmp_path / f"{i}.wav", 0.3)), 0.3, "A") for i in range(40)]
    a = SpeechDataset(utts, CharTokenizer(), [0.9, 1.0, 1.1], seed=3, epoch=2)
    b = SpeechDataset(utts, CharTokenizer(), [0.9, 1.0, 1.1], seed=3, epoch=2)
    lengths_a = [a[i].waveform.numel() for i in range(40)]
    assert lengths_a == [b[i].waveform.numel() for i in reversed(range(40))][::-1]
    assert len(set(lengths_a)) == 3  # all three speeds drawn over 40 utterances
    c = SpeechDataset(utts, CharTokenizer(), [0.9, 1.0, 1.1], seed=3, epoch=3)
    assert [c[i].waveform.numel() for i in range(40)] != lengths_a


def test_collate_pads_and_reports_failures(tmp_path):
    utts = [Utterance("a", str(write_tone(tmp_path / "a.wav", 0.2)), 0.2, "AB"),
            Utterance("b", str(tmp_path / "missing.wav"), 0.2, "C"),
            Utterance("c", str(write_tone(tmp_path / "c.wav", 0.5)), 0.5, "lowercase: normalized")]
    dataset = SpeechDataset(utts, CharTokenizer())
    items = [dataset[i] for i in range(3)]
    assert isinstance(items[1], LoadFailure) and "missing.wav" in items[1].reason
    assert isinstance(items[0], Example) and isinstance(items[2], Example)
    batch = collate(items)
    assert batch.indices == [0, 2]
    assert batch.waveforms.shape == (2, 8000) and batch.waveform_lengths.tolist() == [3200, 8000]
    assert torch.all(batch.waveforms[0, 3200:] == 0)
    assert batch.token_lengths.tolist() == [2, len("LOWERCASE NORMALIZED")]
    assert CharTokenizer().decode(batch.tokens[1].tolist()) == "LOWERCASE NORMALIZED"
    assert [f.index for f in batch.failures] == [1]
