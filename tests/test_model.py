"""The acoustic model and the model package."""

from __future__ import annotations

import pytest
import torch

from asr.errors import ModelPackageError
from asr.model.acoustic import AcousticModel, AcousticModelConfig, stack_frames
from asr.package import ModelPackage
from asr.transcribe import Recognizer


def test_stack_frames_concatenates_neighbours_and_pads_with_zeros():
    feats = torch.arange(2 * 7 * 2, dtype=torch.float).reshape(2, 7, 2)
    stacked, lengths = stack_frames(feats, torch.tensor([7, 4]), 3)
    assert stacked.shape == (2, 3, 6) and lengths.tolist() == [3, 2]
    assert stacked[0, 1].tolist() == feats[0, 3:6].reshape(-1).tolist()
    assert stacked[0, 2].tolist() == feats[0, 6].tolist() + [0.0] * 4


def test_batched_output_equals_one_utterance_at_a_time():
    torch.manual_seed(0)
    model = AcousticModel(AcousticModelConfig(num_layers=2, hidden_size=24, dropout=0.3, vocab_size=29)).eval()
    lengths = torch.tensor([50, 31, 7])
    feats = torch.randn(3, 50, 80)
    for i, n in enumerate(lengths):
        feats[i, n:] = 0  # the padding a CMVN-normalized batch has
    log_probs, out_lengths = model(feats, lengths)
    assert log_probs.shape == (3, 17, 29) and out_lengths.tolist() == [17, 11, 3]
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 17))
    for i, n in enumerate(lengths):
        single, _ = model(feats[i : i + 1, :n], lengths[i : i + 1])
        torch.testing.assert_close(log_probs[i, : out_lengths[i]], single[0], rtol=1e-5, atol=1e-5)


def test_cpu_padded_lstm_equals_torch_packed_lstm_with_gradients():
    """On the CPU the model runs the LSTM stack on padded tensors (fast) instead of torch's
    packed nn.LSTM (the GPU path): outputs, zeros past each length and gradients must agree."""
    torch.manual_seed(1)
    model = AcousticModel(AcousticModelConfig(num_layers=3, hidden_size=16)).eval()
    lengths = torch.tensor([23, 1, 17, 23, 9])
    x = torch.randn(5, 23, 240, requires_grad=True)
    padded, packed = model._lstm_padded(x, lengths), model._lstm_packed(x, lengths)
    torch.testing.assert_close(padded, packed, rtol=1e-5, atol=1e-6)
    assert padded[1, 1:].abs().max() == 0 and padded[4, 9:].abs().max() == 0
    weights = torch.randn_like(padded)
    inputs = [x, model.lstm.weight_ih_l0, model.lstm.weight_hh_l2_reverse, model.lstm.bias_hh_l1]
    for ours, torchs in zip(torch.autograd.grad((padded * weights).sum(), inputs),
                            torch.autograd.grad((packed * weights).sum(), inputs)):
        torch.testing.assert_close(ours, torchs, rtol=1e-4, atol=1e-6)


def test_package_roundtrip_gives_the_same_outputs(tiny_package, tmp_path):
    package = ModelPackage.load(tiny_package)
    recognizer = Recognizer(package, device="cpu")
    wave = torch.randn(1, 8000) * 0.1
    a, _ = recognizer.log_probs(wave, torch.tensor([8000]))
    package.save(tmp_path / "again.pt")
    b, _ = Recognizer.from_file(str(tmp_path / "again.pt"), device="cpu").log_probs(wave, torch.tensor([8000]))
    assert torch.equal(a, b)


def test_newer_or_damaged_packages_are_refused(tiny_package, tmp_path):
    data = torch.load(tiny_package, weights_only=True)
    data["version"] = 99
    torch.save(data, tmp_path / "newer.pt")
    with pytest.raises(ModelPackageError, match="newer"):
        ModelPackage.load(tmp_path / "newer.pt")
    data["version"] = 1
    del data["state_dict"]["output.weight"]
    torch.save(data, tmp_path / "damaged.pt")
    with pytest.raises(ModelPackageError, match="damaged"):
        ModelPackage.load(tmp_path / "damaged.pt")
    with pytest.raises(ModelPackageError, match="not found"):
        ModelPackage.load(tmp_path / "missing.pt")
