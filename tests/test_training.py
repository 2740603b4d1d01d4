"""Training: a tiny model overfits 4 real utterances; an existing run needs --resume. (Killed runs
resuming to the same weights: tests/test_reliability_kill.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from asr.audio import audio_info
from asr.config import load_config
from asr.package import ModelPackage
from asr.train.am import AcousticTrainer
from asr.train.config import AcousticTrainConfig
from asr.transcribe import Recognizer
from conftest import FSDD, REPO, needs_shared_data

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


@needs_shared_data
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


@needs_shared_data
def test_existing_run_needs_resume_flag(tmp_path):
    files = sorted(FSDD.glob("*_lucas_10.wav"))
    manifest = write_manifest(tmp_path / "train.jsonl", files)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = _train_cmd(manifest, tmp_path / "exp") + ["run.epochs=1"]
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == 0
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "--resume" in again.stderr and "Traceback" not in again.stderr


@needs_shared_data
def test_model_init_starts_from_a_package_and_refuses_another_shape(tmp_path):
    import pytest
    import torch

    from asr.errors import AsrError
    from asr.features import save_cmvn_stats
    from asr.train.config import FeaturesSection

    shipped = REPO / "asr" / "pretrained" / "model.pt"
    manifest = write_manifest(tmp_path / "train.jsonl", sorted(FSDD.glob("*_lucas_10.wav")))
    cmvn = tmp_path / "cmvn.pt"
    save_cmvn_stats(torch.zeros(80), torch.ones(80), cmvn, FeaturesSection().logmel_args())
    same = ["model.num_layers=4", "model.hidden_size=256", "data.num_workers=0", "run.threads=1",
            f"model.init={shipped}"]
    trainer = AcousticTrainer(load_config(AcousticTrainConfig, None, same), str(manifest), None,
                              str(tmp_path / "exp"), cmvn=str(cmvn))
    package = ModelPackage.load(shipped)
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, package.state_dict[name]), name

    # a random start differs (the check above is not vacuous)
    fresh = AcousticTrainer(load_config(AcousticTrainConfig, None, same[:-1]), str(manifest), None,
                            str(tmp_path / "exp_fresh"), cmvn=str(cmvn))
    assert not torch.equal(fresh.model.state_dict()["output.weight"], package.state_dict["output.weight"])

    other = ["model.num_layers=2", "model.hidden_size=256", "data.num_workers=0", f"model.init={shipped}"]
    with pytest.raises(AsrError, match="model.init=.*differs"):
        AcousticTrainer(load_config(AcousticTrainConfig, None, other), str(manifest), None,
                        str(tmp_path / "exp_other"), cmvn=str(cmvn))


@needs_shared_data
def test_cpu_amp_runs_the_lstm_in_bfloat16_with_float32_weights_and_loss(tmp_path):
    """run.cpu_amp: the BiLSTM computes in bfloat16 on the CPU, the loss and gradients stay close
    to float32's (and are not identical: autocast is really on), the weights stay float32."""
    import torch

    from asr.data.dataset import SpeechDataset, collate

    files = [FSDD / f"{d}_george_10.wav" for d in range(4)]
    manifest = write_manifest(tmp_path / "train.jsonl", files)
    results = {}
    for cpu_amp in (False, True):
        config = load_config(AcousticTrainConfig, None, TINY + [f"run.cpu_amp={str(cpu_amp).lower()}"])
        trainer = AcousticTrainer(config, str(manifest), None, str(tmp_path / f"exp_{cpu_amp}"))
        dtypes = []
        # the output layer's input is the BiLSTM's output
        trainer.model.output.register_forward_hook(lambda module, args, out: dtypes.append(args[0].dtype))
        dataset = SpeechDataset(trainer.train_utts, trainer.tokenizer)
        batch = collate([dataset[i] for i in range(4)])
        trainer.model.zero_grad()
        loss, _, _ = trainer._ctc_loss(trainer.model, batch, train=False)
        loss.backward()
        grad = torch.cat([p.grad.flatten() for p in trainer.model.parameters()])
        results[cpu_amp] = (loss.detach(), grad, dtypes[0])
        assert loss.dtype == torch.float32
        assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    (loss32, grad32, dtype32), (loss16, grad16, dtype16) = results[False], results[True]
    assert dtype32 == torch.float32 and dtype16 == torch.bfloat16
    assert not torch.equal(loss16, loss32)
    assert abs(loss16 - loss32) / loss32 < 0.02
    assert torch.nn.functional.cosine_similarity(grad16, grad32, dim=0) > 0.99
