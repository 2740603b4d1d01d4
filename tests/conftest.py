"""Shared fixtures: the offline data in ../shared/data and tiny models made on the fly.

Tests that read the project's shared data folder (../shared/data beside the clone, or the
folder ASR_SHARED_DATA names) use the `shared_data` fixture, through `needs_shared_data` on a
test or a `shared_data` argument of a fixture: in a clone without the folder they are skipped,
and the summary says why. Setting ASR_SHARED_DATA makes a missing folder an error instead (CI).
"""

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
FSDD = DATA / "fsdd" / "recordings"
LIBRISPEECH = DATA / "librispeech_sample"
SHARED_TEXT = DATA / "text" / "lm_dev.txt"
NO_SHARED_DATA = "needs ../shared/data (the project's shared data folder) beside the clone"
# on a test (or as a module's pytestmark): skipped when the shared data folder is missing
needs_shared_data = pytest.mark.usefixtures("shared_data")

# Every test process on this 2-core machine uses one thread: faster overall under xdist-free
# pytest and keeps CPU float results identical between runs compared in the resume test.
torch.set_num_threads(1)


def pytest_sessionstart(session):
    # a folder that is there but incomplete, or one named explicitly, is a broken setup, not a clone
    # without the data: fail loudly rather than skip quietly
    if DATA.is_dir() or "ASR_SHARED_DATA" in os.environ:
        missing = [str(p) for p in (FSDD, LIBRISPEECH, SHARED_TEXT) if not p.exists()]
        if missing:
            raise pytest.UsageError(f"the shared test data is incomplete: {', '.join(missing)} missing "
                                    "(ASR_SHARED_DATA names the folder holding fsdd/, librispeech_sample/, text/)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (fsdd/recordings, librispeech_sample, text); skips without it."""
    if not DATA.is_dir():
        pytest.skip(NO_SHARED_DATA)
    return DATA


def pytest_terminal_summary(terminalreporter):
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if isinstance(r.longrepr, tuple) and NO_SHARED_DATA in str(r.longrepr[2])]
    if skipped:
        count = f"{len(skipped)} test{'s' if len(skipped) != 1 else ''}"
        terminalreporter.write_line(f"{count} skipped: {NO_SHARED_DATA} (looked for {DATA}; "
                                    "set ASR_SHARED_DATA to a copy elsewhere)", yellow=True)


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
