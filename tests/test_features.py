"""Log-mel features against librosa, batching invariance, CMVN and SpecAugment."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import FSDD, LIBRISPEECH

from asr.audio import load_audio
from asr.features import CmvnAccumulator, GlobalCMVN, LogMel, SpecAugment, mel_filterbank


def librosa_logmel(wave: np.ndarray, offset: float = 1e-6) -> np.ndarray:
    """The reference: librosa's mel power spectrogram with our framing (no centering), + log."""
    mel = librosa.feature.melspectrogram(
        y=wave, sr=16000, n_fft=400, hop_length=160, win_length=400, window="hann",
        center=False, power=2.0, n_mels=80, fmin=0.0, fmax=8000.0, htk=False, norm="slaney")
    return np.log(mel + offset).T  # [T, 80]


def test_mel_filterbank_equals_librosa():
    ours = mel_filterbank(80, 400, 16000).numpy()
    ref = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)
    np.testing.assert_allclose(ours, ref, atol=1e-7, rtol=1e-4)


@pytest.mark.parametrize("source", ["librispeech", "fsdd", "noise"])
def test_logmel_equals_librosa(source, request):
    if source != "noise":
        request.getfixturevalue("shared_data")  # skips without the shared data
    if source == "librispeech":
        wave = load_audio(next(LIBRISPEECH.rglob("*.flac"))).numpy()
    elif source == "fsdd":
        wave = load_audio(FSDD / "3_jackson_7.wav").numpy()  # resampled from 8 kHz
    else:
        wave = (np.random.default_rng(0).standard_normal(12345) * 0.3).astype(np.float32)
    feats, lengths = LogMel()(torch.from_numpy(wave)[None])
    ref = librosa_logmel(wave.astype(np.float64)).astype(np.float64)
    assert feats.shape == (1, ref.shape[0], 80)
    assert int(lengths[0]) == ref.shape[0]
    rel = np.abs(feats[0].double().numpy() - ref) / np.maximum(np.abs(ref), 1.0)
    assert rel.max() <= 1e-4


def test_logmel_batched_equals_one_by_one():
    rng = np.random.default_rng(1)
    waves = [torch.from_numpy(rng.standard_normal(n).astype(np.float32)) for n in (16000, 4000, 9999, 300)]
    lengths = torch.tensor([w.numel() for w in waves])
    padded = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)
    logmel = LogMel()
    batch, frame_lengths = logmel(padded, lengths)
    for i, wave in enumerate(waves):
        single, single_len = logmel(wave[None])
        assert int(frame_lengths[i]) == int(single_len[0])
        torch.testing.assert_close(batch[i, : single_len[0]], single[0], rtol=1e-5, atol=1e-5)
        assert torch.all(batch[i, single_len[0]:] == 0)
    # a 300-sample clip (shorter than one 25 ms window) still gives one frame
    assert int(frame_lengths[3]) == 1


def test_cmvn_matches_numpy_and_masks_padding():
    rng = np.random.default_rng(2)
    a, b = rng.normal(3, 2, (50, 80)), rng.normal(-1, 0.5, (30, 80))
    acc = CmvnAccumulator(80)
    acc.update(torch.from_numpy(a))
    acc.update(torch.from_numpy(b))
    mean, std = acc.result()
    both = np.concatenate([a, b])
    np.testing.assert_allclose(mean.numpy(), both.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std.numpy(), both.std(0), rtol=1e-4)
    cmvn = GlobalCMVN(mean, std)
    feats = torch.from_numpy(np.stack([a[:30], b])).float()
    out = cmvn(feats, torch.tensor([20, 30]))
    expected = (feats[0, :20] - mean) / std
    torch.testing.assert_close(out[0, :20], expected, rtol=1e-4, atol=1e-4)
    assert torch.all(out[0, 20:] == 0)


def test_specaugment_masks_bands_within_limits_and_is_identity_in_eval():
    torch.manual_seed(0)
    aug = SpecAugment(freq_masks=2, freq_width=10, time_masks=2, time_width=20, time_width_ratio=0.1)
    feats = torch.ones(8, 300, 80)
    lengths = torch.tensor([300, 250, 200, 150, 100, 60, 30, 10])
    out = aug.train()(feats, lengths)
    for i in range(8):
        zero_bins = (out[i] == 0).all(dim=0).sum().item()  # frequency bins masked in every frame
        assert zero_bins <= 2 * 10
        zero_frames = (out[i, : lengths[i]] == 0).all(dim=1).sum().item()
        assert zero_frames <= 2 * min(20, int(lengths[i] * 0.1))
    assert (out == 0).any(), "some masking should happen over 8 utterances"
    assert torch.equal(aug.eval()(feats, lengths), feats)


def test_load_audio_resamples_and_downmixes(tmp_path):
    rate = 8000
    t = np.arange(rate) / rate
    left, right = np.sin(2 * np.pi * 300 * t), 0.5 * np.sin(2 * np.pi * 300 * t)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], 1), rate)
    wave = load_audio(path)
    assert wave.dtype == torch.float32 and wave.shape == (16000,)
    # the mono mix of the two channels is 0.75 x the left one; resampling keeps a 300 Hz tone's level
    assert abs(float(wave.abs().max()) - 0.75) < 0.02


# ---------------------------------------------------------------------- level normalization
GAINS_DB = [-30, -20, -10, 10]


@pytest.mark.usefixtures("shared_data")
@pytest.mark.parametrize("gain_db", GAINS_DB)
def test_level_normalized_features_do_not_depend_on_the_recording_level(gain_db):
    wave = load_audio(FSDD / "3_jackson_7.wav")[None]
    scaled = wave * 10 ** (gain_db / 20)
    normalized = LogMel(normalize_level=True)
    assert torch.allclose(normalized(scaled)[0], normalized(wave)[0], atol=1e-4)
    plain = LogMel()  # what it fixes: without it the features move, and quiet speech sinks into the floor
    assert (plain(scaled)[0] - plain(wave)[0]).abs().max() > 1.0


@pytest.mark.usefixtures("shared_data")
def test_level_gain_is_the_quantile_of_each_utterance_alone_in_a_padded_batch():
    waves = [load_audio(FSDD / name) for name in ("3_jackson_7.wav", "8_george_12.wav")]
    waves[1] = waves[1] * 0.01
    lengths = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(2, int(lengths.max()))
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w
    logmel = LogMel(normalize_level=True)
    feats, frame_lengths = logmel(batch, lengths)
    for i, w in enumerate(waves):
        alone = logmel(w[None])[0][0]
        assert torch.allclose(feats[i, : frame_lengths[i]], alone, atol=1e-5)
        mel, _ = logmel.mel_power(w[None])  # the reference gain: numpy's quantile of the frame powers
        level = np.quantile(mel[0].mean(dim=1).double().numpy(), 0.95)
        expected = torch.log(mel[0] * (0.1 / level) + logmel.log_offset).float()
        assert torch.allclose(alone, expected, atol=1e-4)


def test_cmvn_statistics_made_with_other_features_are_refused(tmp_path):
    from asr.errors import AsrError
    from asr.features import check_cmvn_features, load_cmvn_stats, save_cmvn_stats
    from asr.train.config import FeaturesSection

    ours = FeaturesSection().logmel_args()
    assert ours["normalize_level"]  # new models are trained with it
    legacy = tmp_path / "legacy.pt"  # written before the statistics named their features
    torch.save({"mean": torch.zeros(80), "std": torch.ones(80)}, legacy)
    with pytest.raises(AsrError, match="normalize_level=False.*rerun asr cmvn"):
        check_cmvn_features(load_cmvn_stats(legacy), ours, str(legacy))
    save_cmvn_stats(torch.zeros(80), torch.ones(80), tmp_path / "new.pt", ours)
    check_cmvn_features(load_cmvn_stats(tmp_path / "new.pt"), ours, "new.pt")
    check_cmvn_features(load_cmvn_stats(legacy), {**ours, "normalize_level": False}, str(legacy))
    with pytest.raises(AsrError, match="80 dimensions, the features 40"):
        check_cmvn_features(load_cmvn_stats(legacy), {**ours, "n_mels": 40, "normalize_level": False}, "x")


def test_cmvn_spread_of_a_constant_feature_is_floored():
    """An 8 kHz corpus leaves the 4-8 kHz bins at the log floor: their spread must not be ~0."""
    from asr.features import MIN_CMVN_STD

    feats = torch.from_numpy(np.random.default_rng(3).normal(0, 3, (200, 80))).float()
    feats[:, 60:] = -13.8
    acc = CmvnAccumulator(80)
    acc.update(feats)
    _, std = acc.result()
    assert torch.all(std[60:] == MIN_CMVN_STD) and torch.all(std[:60] > 2)
