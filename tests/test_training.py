"""Training: a tiny model overfits 4 real utterances; a killed run resumes to the same weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch

from asr.audio import audio_info
from asr.config import load_config
from asr.package import ModelPackage
from asr.train.am import AcousticTrainer
from asr.train.config import AcousticTrainConfig
from asr.transcribe import Recognizer
from conftest import FSDD, REPO

WORDS = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"]


def write_manifest(path, files, copies=1):
    with open(path, "w") as f:
        for copy in range(copies):
            for file in files:
                record = {"id": f"{file.stem}-{copy}", "audio": str(file), "duration": audio_info(file)[0],
                          "text": WORDS[int(file.name[0])], "speaker": file.stem.split("_")[1]}
                f.write(json.dumps(record) + "\n")
    return path


TINY = ["model.num_layers=2", "model.hidden_size=64", "model.dropout=0.0", "data.num_workers=0",
        "run.threads=1", "run.log_every=5", "run.average_last=1", "run.final_model=last"]


def test_overfits_four_utterances(tmp_path):
    files = [FSDD / f"{d}_george_10.wav" for d in range(4)]
    manifest = write_manifest(tmp_path / "train.jsonl", files, copies=25)
    config = load_config(AcousticTrainConfig, None, TINY + [
        "specaugment.enabled=false", "optim.lr=3e-3", "optim.warmup_steps=20", "optim.schedule=constant",
        "optim.weight_decay=0.0", "data.max_batch_size=4", "run.epochs=12", "run.checkpoint_every=0"])
    model_path = AcousticTrainer(config, str(manifest), None, str(tmp_path / "exp")).train()
    recognizer = Recognizer(ModelPackage.load(model_path), device="cpu")
    from asr.audio import load_audio

    texts = recognizer.decode_waveforms([load_audio(f) for f in files])
    assert texts == WORDS[:4]  # within 12 epochs x 25 steps = 300 steps


def _train_cmd(manifest, exp, *extra):
    overrides = TINY + ["data.max_batch_size=4", "run.epochs=3", "run.checkpoint_every=4",
                        "optim.warmup_steps=5", "run.seed=5"]
    return [sys.executable, "-m", "asr", "train", "--train", str(manifest), "--dev", str(manifest),
            "--exp", str(exp), *extra, *overrides]


def test_killed_run_resumes_to_identical_weights(tmp_path):
    files = sorted(FSDD.glob("*_jackson_1[0-3].wav"))  # 40 utterances: 10 steps per epoch
    manifest = write_manifest(tmp_path / "train.jsonl", files)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

    straight = subprocess.run(_train_cmd(manifest, tmp_path / "straight"), env=env, capture_output=True,
                              text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr[-2000:]

    exp = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(manifest, exp), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    checkpoint = exp / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run should have been killed mid-training"
    assert not (exp / "model.pt").exists()
    resumed = subprocess.run(_train_cmd(manifest, exp, "--resume"), env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr

    a = ModelPackage.load(tmp_path / "straight" / "model_last.pt").state_dict
    b = ModelPackage.load(exp / "model_last.pt").state_dict
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # and the weights did change during training (the comparison is not between two copies of init)
    history_a = ModelPackage.load(tmp_path / "straight" / "model.pt").info["history"]
    history_b = ModelPackage.load(exp / "model.pt").info["history"]
    assert [r["train_loss"] for r in history_a] == [r["train_loss"] for r in history_b]
    assert history_a[-1]["train_loss"] < history_a[0]["train_loss"]


def test_existing_run_needs_resume_flag(tmp_path):
    files = sorted(FSDD.glob("*_lucas_10.wav"))
    manifest = write_manifest(tmp_path / "train.jsonl", files)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = _train_cmd(manifest, tmp_path / "exp") + ["run.epochs=1"]
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == 0
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "--resume" in again.stderr and "Traceback" not in again.stderr
