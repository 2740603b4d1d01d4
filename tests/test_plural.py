"""Counts in messages agree with their nouns: "1 layer", "1 utterance"."""

from __future__ import annotations

import json

from asr.plural import plural
from conftest import run_cli, write_tone


def test_plural():
    assert plural(1, "layer") == "1 layer"
    assert plural(0, "utterance") == "0 utterances" and plural(2, "utterance") == "2 utterances"
    assert plural(1, "process", "processes") == "1 process" and plural(3, "process", "processes") == "3 processes"


def test_one_layer_one_process_one_utterance(tiny_package, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("HELLO WORLD\nA SMALL TEST\n")
    trained = run_cli("train-lm", "--text", str(text), "--exp", str(tmp_path / "lm"), "model.num_layers=1",
                      "model.hidden_size=8", "model.embed_dim=8", "run.epochs=1", "run.device=cpu",
                      "run.threads=1")
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "LSTM LM 1 layer x 8" in trained.stderr and "1 step per epoch" in trained.stderr
    assert "1 process" in trained.stderr and "layers" not in trained.stderr

    wav = write_tone(tmp_path / "a.wav", seconds=0.3)
    manifest = tmp_path / "one.jsonl"
    manifest.write_text(json.dumps({"id": "a", "audio": str(wav), "duration": 0.3, "text": "A"}) + "\n")
    decoded = run_cli("decode", "--model", str(tiny_package), "--manifest", str(manifest), "--out",
                      str(tmp_path / "hyp.jsonl"))
    assert decoded.returncode == 0, decoded.stderr
    assert "decoded 1 of 1 utterance ->" in decoded.stderr
