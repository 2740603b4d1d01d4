"""Shared fixtures: the offline data in ../shared/data and tiny models made on the fly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ASR_SHARED_DATA", REPO.parent / "shared" / "data"))
if not DATA.is_dir():  # a clone elsewhere: the shared data lives at a fixed place on our machines
    DATA = Path("/work/shared/data")
FSDD = DATA / "fsdd" / "recordings"
LIBRISPEECH = DATA / "librispeech_sample"

# Every test process on this 2-core machine uses one thread: faster overall under xdist-free
# pytest and keeps CPU float results identical between runs compared in the resume test.
torch.set_num_threads(1)


def pytest_sessionstart(session):
    if not FSDD.is_dir() or not LIBRISPEECH.is_dir():
        raise pytest.UsageError(f"the shared test data is missing: expected {DATA} "
                                "(set ASR_SHARED_DATA to its location)")


def write_tone(path: Path, seconds: float = 0.5, rate: int = 16000, freq: float = 440.0,
               channels: int = 1, **kwargs) -> Path:
    """Write a sine tone to `path` (format from the extension unless given); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.1 * np.sin(2 * np.pi * freq * t)
    if channels > 1:
        wave = np.stack([wave] * channels, axis=1)
    sf.write(path, wave, rate, **kwargs)
    return path


@pytest.fixture
def tiny_package(tmp_path):
    """A randomly initialized model package (2 x 16 BiLSTM) saved to tmp_path/model.pt."""
    from asr.model.acoustic import AcousticModel, AcousticModelConfig
    from asr.package import ModelPackage
    from asr.text import CharTokenizer

    torch.manual_seed(0)
    tokenizer = CharTokenizer()
    config = AcousticModelConfig(num_layers=2, hidden_size=16, dropout=0.0, vocab_size=tokenizer.vocab_size)
    package = ModelPackage(config, tokenizer, torch.zeros(80), torch.ones(80),
                           AcousticModel(config).state_dict())
    path = tmp_path / "model.pt"
    package.save(path)
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300):
    """Run `python -m asr ARGS` in a subprocess; returns the CompletedProcess."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "asr", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def tiny_lm(tmp_path):
    """A randomly initialized character LM package saved to tmp_path/lm.pt."""
    from asr.model.lm import LanguageModelConfig, LstmLM
    from asr.package import LmPackage
    from asr.text import CharTokenizer

    torch.manual_seed(1)
    tokenizer = CharTokenizer()
    config = LanguageModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=8, hidden_size=16,
                                 num_layers=1, dropout=0.0)
    path = tmp_path / "lm.pt"
    LmPackage(config, tokenizer, LstmLM(config).state_dict()).save(path)
    return path
