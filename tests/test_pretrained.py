"""The default model shipped in asr/pretrained and its example audio.

The transcripts are scored with jiwer (not our own scorer) against the texts the examples were
synthesized from. The bound is loose on purpose: it catches a broken model, a broken package
(say, the LM or CMVN missing) or a broken default path, not small changes in accuracy, which
MODEL.md reports.
"""

from __future__ import annotations

import jiwer
import torch

from asr.package import ModelPackage
from asr.pretrained import DEFAULT_MODEL, default_model_path, example_files
from conftest import run_cli

# Character error rate over all example files that the default model must stay under (the
# model shipped 2026-11-22 makes 0.38; a model that outputs nothing or noise makes about 1).
MAX_EXAMPLE_CER = 0.5


def test_the_default_model_is_shipped_small_and_carries_its_lm_and_decoding_defaults():
    assert default_model_path() == DEFAULT_MODEL
    assert DEFAULT_MODEL.stat().st_size <= 30 * 1024 * 1024
    package = ModelPackage.load(DEFAULT_MODEL)
    assert package.decoding["decoder"] == "beam" and package.decoding["lm_weight"] > 0
    stored = torch.load(DEFAULT_MODEL, map_location="cpu", weights_only=True)
    assert stored["lm"] is not None


def test_transcribe_without_model_uses_the_default_model_on_the_examples():
    files = example_files()
    assert len(files) >= 3
    proc = run_cli("transcribe", *map(str, files), "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(f) for f in files]  # one line per file, in order
    hypotheses = [line.split("\t")[1] if "\t" in line else "" for line in lines]
    references = [f.with_suffix(".txt").read_text().strip() for f in files]
    assert jiwer.cer(references, hypotheses) <= MAX_EXAMPLE_CER, list(zip(references, hypotheses))
