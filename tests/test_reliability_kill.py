"""Kill tests: `asr train` and `asr train-lm` are killed with SIGKILL three times at seeded
random moments (inside a training step, and halfway through writing a checkpoint) and resumed
each time; the final weights equal those of a run that was never stopped, and every checkpoint
file on disk loads after every kill. The runs go through tests/kill_harness.py, which prints
the moments to kill at."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import torch

from asr.config import load_config
from asr.package import LmPackage, ModelPackage
from asr.text import CharTokenizer
from asr.train.am import AcousticTrainer
from asr.train.checkpoint import load_checkpoint
from asr.train.config import AcousticTrainConfig, LmTrainConfig
from asr.train.lm import LanguageModelTrainer
from conftest import FSDD, REPO, needs_shared_data
from test_training import TINY, write_manifest

HARNESS = Path(__file__).with_name("kill_harness.py")
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def run_and_kill(args: list[str], trigger, log: Path) -> int:
    """Run the harness with `args`; SIGKILL it on the first stdout line for which
    trigger(line) is true. Returns the exit status (-9 when killed)."""
    with open(log, "a") as err:
        proc = subprocess.Popen([sys.executable, str(HARNESS), *args], env=ENV, stdout=subprocess.PIPE,
                                stderr=err, text=True)
        for line in proc.stdout:
            if trigger(line.strip()):
                proc.send_signal(signal.SIGKILL)
                break
        proc.stdout.close()
        return proc.wait(timeout=300)


def assert_checkpoints_load(exp: Path) -> None:
    """Every checkpoint and snapshot in EXP/checkpoints reads back whole."""
    ckpt = exp / "checkpoints"
    for path in ckpt.glob("*.pt"):
        if path.name == "last.pt":
            assert isinstance(load_checkpoint(path)["step"], int)
        else:
            assert torch.load(path, weights_only=True)


def kill_three_times(args: list[str], exp: Path, total_steps: int, seed: int) -> None:
    """Kill 1: during a random step in the first half; kill 2: halfway through the 1st or 2nd
    checkpoint write of the resumed run; kill 3: during a random later step. Then resume to the end."""
    rng = random.Random(seed)
    first = rng.randrange(1, total_steps // 2)
    third = rng.randrange(total_steps // 2 + 2, total_steps - 1)
    writes = rng.randrange(1, 3)
    seen = {"writes": 0}

    def at_step(target):
        return lambda line: line.startswith("STEP ") and int(line.split()[1]) >= target

    def at_checkpoint_write(line):
        if line == "WRITE-HALF last.pt":
            seen["writes"] += 1
        return seen["writes"] == writes

    log = exp.parent / f"{exp.name}.log"
    for number, trigger in enumerate((at_step(first), at_checkpoint_write, at_step(third)), start=1):
        status = run_and_kill(args + ["--resume"], trigger, log)
        assert status == -signal.SIGKILL, f"kill {number} missed its moment: {log.read_text()[-2000:]}"
        assert not (exp / "model.pt").exists()
        if number == 2:  # killed inside the atomic write: a half temporary file, an intact last.pt
            assert list((exp / "checkpoints").glob(".last.pt.*.tmp")), "the kill was not inside the write"
        assert_checkpoints_load(exp)
    final = subprocess.run([sys.executable, str(HARNESS), *args, "--resume"], env=ENV, capture_output=True,
                           text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "resumed from" in final.stderr
    assert not list((exp / "checkpoints").glob(".*.tmp"))  # the stale temporary was removed
    assert_checkpoints_load(exp)


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


AM = TINY + ["data.max_batch_size=4", "run.epochs=3", "run.checkpoint_every=2", "optim.warmup_steps=3",
             "run.seed=5", "run.device=cpu"]


@needs_shared_data
def test_acoustic_training_killed_three_times_ends_with_identical_weights(tmp_path):
    files = sorted(FSDD.glob("*_jackson_1[01].wav"))  # 20 utterances: 5 steps per epoch
    manifest = write_manifest(tmp_path / "train.jsonl", files)
    straight = AcousticTrainer(load_config(AcousticTrainConfig, None, AM), str(manifest), None,
                               str(tmp_path / "straight"))
    start = {k: v.clone() for k, v in straight.model.state_dict().items()}
    straight.train()

    exp = tmp_path / "killed"
    kill_three_times(["train", "--train", str(manifest), "--exp", str(exp), *AM], exp, 15, seed=8)
    a = ModelPackage.load(tmp_path / "straight" / "model_last.pt")
    b = ModelPackage.load(exp / "model_last.pt")
    assert_same_weights(a.state_dict, b.state_dict)
    assert [r["train_loss"] for r in a.info["history"]] == [r["train_loss"] for r in b.info["history"]]
    assert any(not torch.equal(start[k], a.state_dict[k]) for k in start)  # training did move the weights


@needs_shared_data
def test_weighted_corpus_mix_killed_three_times_ends_with_identical_weights(tmp_path):
    # 20 utterances an epoch: 5 of corpus a's 10 (subsampled), 15 of b's 10 (cycled 1.5 times)
    a = write_manifest(tmp_path / "a.jsonl", sorted(FSDD.glob("*_jackson_10.wav")))
    b = write_manifest(tmp_path / "b.jsonl", sorted(FSDD.glob("*_nicolas_10.wav")))
    train, overrides = [f"{a}:1", f"{b}:3"], AM + ["data.epoch_utterances=20"]
    straight = AcousticTrainer(load_config(AcousticTrainConfig, None, overrides), train, None,
                               str(tmp_path / "straight"))
    straight.train()

    exp = tmp_path / "killed"
    kill_three_times(["train", "--train", train[0], "--train", train[1], "--exp", str(exp), *overrides], exp,
                     straight.step, seed=10)
    x = ModelPackage.load(tmp_path / "straight" / "model_last.pt")
    y = ModelPackage.load(exp / "model_last.pt")
    assert_same_weights(x.state_dict, y.state_dict)
    assert [r["train_loss"] for r in x.info["history"]] == [r["train_loss"] for r in y.info["history"]]
    assert [c["weight"] for c in y.info["corpora"]] == [1.0, 3.0]


LM = ["model.embed_dim=16", "model.hidden_size=32", "model.num_layers=1", "model.dropout=0.1",
      "data.max_tokens=200", "data.max_batch_size=8", "run.threads=1", "run.epochs=3", "run.checkpoint_every=3",
      "run.average_last=1", "run.final_model=last", "optim.warmup_steps=3", "run.seed=3", "run.device=cpu"]


def test_lm_training_killed_three_times_ends_with_identical_weights(tmp_path):
    words = "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE".split()
    rng = random.Random(0)
    text = tmp_path / "text.txt"
    text.write_text("".join(" ".join(rng.choices(words, k=rng.randint(1, 6))) + "\n" for _ in range(60)))
    config = load_config(LmTrainConfig, None, LM)
    straight = LanguageModelTrainer(config, [str(text)], None, str(tmp_path / "straight"), CharTokenizer())
    steps = straight.total_steps
    straight.train()

    exp = tmp_path / "killed"
    kill_three_times(["train-lm", "--text", str(text), "--exp", str(exp), *LM], exp, steps, seed=9)
    a = LmPackage.load(tmp_path / "straight" / "model_last.pt")
    b = LmPackage.load(exp / "model_last.pt")
    assert_same_weights(a.state_dict, b.state_dict)
    assert [r["train_loss"] for r in a.info["history"]] == [r["train_loss"] for r in b.info["history"]]
