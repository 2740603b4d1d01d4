"""Audio loading: formats, rates, channels, and the errors for unusable files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import audio_info, load_audio
from asr.errors import AudioError
from conftest import write_tone


@pytest.mark.parametrize("name, kwargs", [
    ("a.wav", {"subtype": "PCM_16"}),
    ("a24.wav", {"subtype": "PCM_24"}),
    ("afloat.wav", {"subtype": "FLOAT"}),
    ("a.flac", {}),
    ("a.ogg", {"format": "OGG", "subtype": "VORBIS"}),
    ("a.opus", {"format": "OGG", "subtype": "OPUS"}),
    ("a.mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
])
@pytest.mark.parametrize("rate", [8000, 22050, 48000])
def test_formats_and_rates_become_16k_mono(tmp_path, name, kwargs, rate):
    if "OPUS" in kwargs.get("subtype", "") and rate not in (8000, 48000):
        rate = 48000  # opus only takes a few rates
    path = write_tone(tmp_path / name, seconds=1.0, rate=rate, freq=440.0, channels=2, **kwargs)
    wave = load_audio(path)
    assert wave.dtype == torch.float32 and wave.dim() == 1
    # lossy codecs add or trim a few ms of padding; the length is 1 s at 16 kHz within 60 ms
    assert abs(wave.numel() - 16000) < 1000
    # the 440 Hz tone survives: the strongest bin of the spectrum is at 440 Hz (1 Hz bins)
    middle = wave[2000:14000].numpy()
    spectrum = np.abs(np.fft.rfft(middle, n=16000))
    assert abs(int(spectrum.argmax()) - 440) <= 2


def test_six_channels_are_averaged(tmp_path):
    data = np.zeros((16000, 6), dtype=np.float32)
    data[:, 0] = 0.6
    path = tmp_path / "six.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    wave = load_audio(path)
    assert torch.allclose(wave, torch.full((16000,), 0.1), atol=1e-6)


def test_offset_and_duration_cut_a_segment(tmp_path):
    t = np.arange(32000) / 16000
    path = tmp_path / "ramp.wav"
    sf.write(path, (t / 2).astype(np.float32), 16000, subtype="FLOAT")
    segment = load_audio(path, offset=0.5, duration=0.25)
    assert segment.numel() == 4000
    assert abs(float(segment[0]) - 0.25) < 1e-4


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "no such file"),
    (lambda p: p.touch(), "empty file"),
    (lambda p: p.write_text("hello, I am text\n"), "not a readable audio file"),
    (lambda p: p.mkdir(), "is a folder"),
])
def test_unusable_files_raise_audio_error_naming_the_file(tmp_path, make, reason):
    path = tmp_path / "bad file é.wav"
    make(path)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(path) in str(err.value) and reason in str(err.value)
    with pytest.raises(AudioError):
        audio_info(path)


def test_nan_samples_are_reported(tmp_path):
    data = np.zeros(1600, dtype=np.float32)
    data[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(path)
