"""Fuzzing (hypothesis) of the two readers that take whatever is on disk: the audio loader and
the manifest/hypotheses readers. Random bytes, valid WAV/FLAC/OGG files with bytes changed or
cut off, random text and JSON lines: the only exceptions allowed out are the documented ones
(AudioError, ManifestError), and what loads is a usable signal or valid records.
About 3,600 cases (~30 s on 2 cores), derandomized so that CI runs the same ones every time."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.audio import load_audio
from asr.data.hypotheses import read_hypotheses
from asr.data.manifest import read_manifest
from asr.errors import AudioError, ManifestError

FUZZ = {"deadline": None, "derandomize": True, "suppress_health_check": [HealthCheck.too_slow],
        "database": None}


@pytest.fixture(scope="module")
def work():
    """One folder for the module's thousands of cases (a folder per case would be slow), removed
    at the end. Hypothesis runs every case of a test in one call, so the fixture is module-wide."""
    with tempfile.TemporaryDirectory(prefix="asr-fuzz-") as folder:
        yield Path(folder)


def _valid(fmt: str, subtype: str | None = None, rate: int = 16000, channels: int = 1) -> bytes:
    t = np.arange(rate // 10) / rate
    wave = 0.3 * np.sin(2 * np.pi * 300 * t)
    if channels > 1:
        wave = np.stack([wave] * channels, axis=1)
    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


SEEDS = {
    ".wav": _valid("WAV", "PCM_16"),
    ".w24.wav": _valid("WAV", "PCM_24", 8000, 2),
    ".fl.wav": _valid("WAV", "FLOAT", 22050),
    ".flac": _valid("FLAC", "PCM_16"),
    ".ogg": _valid("OGG", "VORBIS"),
}


def check_load(work: Path, data: bytes, suffix: str) -> None:
    path = work / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        wave = load_audio(path)
    except AudioError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return
    assert wave.dtype == torch.float32 and wave.dim() == 1 and wave.numel() > 0
    assert torch.isfinite(wave).all()


@settings(**FUZZ, max_examples=600)
@given(st.binary(max_size=2048), st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ".opus", ""]))
def test_random_bytes(work, data, suffix):
    check_load(work, data, suffix)


@st.composite
def mutated(draw):
    """A valid file with some bytes changed (mostly in the header, where the structure is),
    and maybe cut short or extended with junk."""
    suffix = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[suffix])
    for _ in range(draw(st.integers(0, 8))):
        limit = len(data) - 1 if draw(st.booleans()) else min(len(data) - 1, 80)
        data[draw(st.integers(0, limit))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 4)) == 0:
        data += draw(st.binary(max_size=64))
    return bytes(data), suffix


@settings(**FUZZ, max_examples=1500)
@given(mutated())
def test_mutated_valid_files(work, case):
    check_load(work, *case)


FIELDS = ["id", "audio", "duration", "text", "speaker", "offset", "chapter", "score", "nbest", "words"]
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                      max_size=3),
                           max_leaves=6)
records = st.dictionaries(st.sampled_from(FIELDS), json_values | st.sampled_from(["a", "b", "x.wav", 1.5, -1, 0]),
                          max_size=6)
lines = st.one_of(records.map(json.dumps), json_values.map(json.dumps), st.text(max_size=40),
                  st.just(""), st.just(json.dumps({"id": "a", "audio": "a.wav", "duration": 1.0, "text": "A"})))


def check_read(reader, path: Path, text: str, error: type) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        result = reader(path)
    except error as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return
    assert result  # an empty file is an error, so something came back


@settings(**FUZZ, max_examples=800)
@given(st.lists(lines, min_size=0, max_size=5))
def test_manifest_reader(work, content):
    check_read(read_manifest, work / "fuzz.jsonl", "\n".join(content), ManifestError)
    try:
        utterances = read_manifest(work / "fuzz.jsonl", require_text=True)
    except ManifestError:
        return
    for utt in utterances:
        assert isinstance(utt.id, str) and utt.duration > 0 and math.isfinite(utt.offset) and utt.text.strip()


@settings(**FUZZ, max_examples=400)
@given(st.lists(lines, min_size=0, max_size=5))
def test_hypotheses_reader(work, content):
    check_read(read_hypotheses, work / "fuzz.hyp.jsonl", "\n".join(content), ManifestError)


@settings(**FUZZ, max_examples=300)
@given(st.binary(max_size=300))
def test_manifest_reader_random_bytes(work, data):
    path = work / "bytes.jsonl"
    path.write_bytes(data)
    try:
        read_manifest(path)
    except ManifestError as err:
        assert str(path) in str(err)


def test_a_run_leaves_no_folder_behind(tmp_path):
    """The module's work folder is removed after its tests, here in a pytest run of its own."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
                           str(tmp_path / "base"), f"{__file__}::test_manifest_reader_random_bytes"],
                          cwd=Path(__file__).parent, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
    assert not list(temp.glob("asr-fuzz-*"))
