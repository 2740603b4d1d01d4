"""Dataset, speed perturbation and collation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_tone

from asr.data.dataset import (
    Example,
    LoadFailure,
    SpeechDataset,
    collate,
    record_at_level,
    speed_perturb,
)
from asr.data.manifest import Utterance
from asr.errors import AsrError
from asr.text import CharTokenizer


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


def test_recording_at_another_level_is_what_a_16_bit_file_would_hold(tmp_path):
    """record_at_level against soundfile writing the scaled samples as 16-bit PCM and reading them back."""
    import soundfile as sf

    wave = torch.from_numpy(np.random.default_rng(0).normal(0, 0.3, 4000)).float()
    for gain in (10 ** (-40 / 20), 10 ** (-7.3 / 20), 10 ** (10 / 20)):  # 10 dB louder clips
        path = tmp_path / "scaled.wav"
        sf.write(path, np.clip(wave.numpy() * gain, -1, 1), 16000, subtype="PCM_16")
        reference = torch.from_numpy(sf.read(path, dtype="float32")[0])
        assert torch.allclose(record_at_level(wave, gain), reference, atol=1.01 / 32768)
    quiet = record_at_level(wave, 10 ** (-40 / 20))
    assert torch.equal(torch.round(quiet * 32768), quiet * 32768)  # on the int16 grid


def test_level_draws_depend_only_on_seed_epoch_and_index_and_follow_the_probability(tmp_path):
    utts = [Utterance(str(i), str(write_tone(tmp_path / f"{i}.wav", 0.1)), 0.1, "A") for i in range(400)]
    a = SpeechDataset(utts, CharTokenizer(), seed=3, epoch=2, level_prob=0.5, level_gain_db=[-40, 10])
    b = SpeechDataset(utts, CharTokenizer(), seed=3, epoch=2, level_prob=0.5, level_gain_db=[-40, 10])
    gains = [a._level_gain(i) for i in range(400)]
    assert gains == [b._level_gain(i) for i in range(400)]
    drawn = [g for g in gains if g is not None]
    assert 160 <= len(drawn) <= 240 and all(10 ** -2 <= g <= 10 ** 0.5 for g in drawn)
    peak = max(range(400), key=lambda i: gains[i] or 0)  # the loudest draw changes the samples
    assert not torch.equal(a[peak].waveform, SpeechDataset(utts, CharTokenizer())[peak].waveform)
    other_epoch = SpeechDataset(utts, seed=3, epoch=3, level_prob=0.5, level_gain_db=[-40, 10])
    assert [other_epoch._level_gain(i) for i in range(400)] != gains


@pytest.mark.parametrize("prob, gains", [(1.5, [-40, 10]), (0.5, [10, -40]), (0.5, [-10])])
def test_bad_level_settings_are_refused(prob, gains):
    with pytest.raises(AsrError, match="data.level_"):
        SpeechDataset([], level_prob=prob, level_gain_db=gains)
