"""DDP: steps on 2 CPU processes (gloo) update the parameters exactly as one process does on
the same global batch, also when the ranks' batches hold different numbers of utterances
(duration-bucketed batches usually do) or, for the LM, of tokens."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp

from asr.audio import audio_info
from asr.config import load_config
from asr.data.dataset import SpeechDataset, collate
from asr.features import save_cmvn_stats
from asr.train.am import AcousticTrainer
from asr.train.config import AcousticTrainConfig, FeaturesSection
from conftest import FSDD, needs_shared_data
from test_training import WORDS

OVERRIDES = ["model.num_layers=2", "model.hidden_size=32", "model.dropout=0.0", "specaugment.enabled=false",
             "data.num_workers=0", "data.max_batch_size=2", "run.threads=1", "run.checkpoint_every=0", "run.seed=3",
             "optim.lr=1e-2", "optim.warmup_steps=0", "optim.schedule=constant", "optim.grad_clip=1e3"]
# Per step, rank 0's and rank 1's utterances (manifest rows); unequal counts on purpose: a mean
# over each rank's batch, averaged over ranks, would weight rank 1's single utterance 3x.
RANK_BATCHES = [([0, 1, 2], [3]), ([4], [5, 6, 7])]


def _write_inputs(folder):
    import json

    files = [FSDD / f"{d}_{speaker}_{i}.wav" for d, speaker, i in
             [(0, "george", 5), (1, "jackson", 6), (2, "lucas", 7), (3, "nicolas", 8),
              (4, "yweweler", 9), (5, "george", 10), (6, "jackson", 11), (7, "lucas", 12)]]
    manifest = folder / "train.jsonl"
    with open(manifest, "w") as f:
        for file in files:
            f.write(json.dumps({"id": file.stem, "audio": str(file), "duration": audio_info(file)[0],
                                "text": WORDS[int(file.name[0])], "speaker": "s"}) + "\n")
    cmvn = folder / "cmvn.pt"
    save_cmvn_stats(torch.full((80,), -8.0), torch.full((80,), 3.0), cmvn, FeaturesSection().logmel_args())
    return manifest, cmvn


def _train_steps(rank: int, world_size: int, port: int, folder: str, out: str) -> None:
    """Two optimizer steps of AcousticTrainer in a torchrun-like environment; rank 0 saves the weights."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    config = load_config(AcousticTrainConfig, None, OVERRIDES)
    trainer = AcousticTrainer(config, f"{folder}/train.jsonl", None, f"{folder}/exp{world_size}",
                              cmvn=f"{folder}/cmvn.pt")
    dataset = SpeechDataset(trainer.train_utts, trainer.tokenizer)
    losses = []
    for per_rank in RANK_BATCHES:
        rows = per_rank[rank] if world_size > 1 else [i for b in per_rank for i in b]
        losses.append(trainer._train_step(collate([dataset[i] for i in rows])))
    if rank == 0:
        torch.save({"weights": trainer.model.state_dict(), "losses": losses}, out)
    trainer.dist.close()


def _assert_same_update(ddp: torch.Tensor, single: torch.Tensor, name: str) -> None:
    """DDP's weights equal one process's up to summation-order noise.

    Adam's first steps move each weight by about lr * g / |g|, so where a gradient is nearly 0
    that noise is amplified: a single weight of 30,720 was seen 1.1e-4 apart (AMD EPYC, gloo).
    A wrongly weighted rank (a mean per rank) moves most weights by 1e-2 to 4e-2 (lr 1e-2), so
    the bound on every weight is 1e-3 and the mean difference must stay below 1e-5.
    """
    difference = (ddp - single).abs()
    assert difference.max() < 1e-3, f"{name}: max difference {difference.max():.2e}"
    assert difference.mean() < 1e-5, f"{name}: mean difference {difference.mean():.2e}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_shared_data
def test_two_process_ddp_step_equals_one_process_on_the_global_batch(tmp_path):
    _write_inputs(tmp_path)
    single, ddp = tmp_path / "single.pt", tmp_path / "ddp.pt"
    mp.spawn(_train_steps, args=(1, _free_port(), str(tmp_path), str(single)), nprocs=1)
    mp.spawn(_train_steps, args=(2, _free_port(), str(tmp_path), str(ddp)), nprocs=2)
    one, two = torch.load(single), torch.load(ddp)

    # the same initial weights (same seed) and real updates: the steps moved every tensor
    config = load_config(AcousticTrainConfig, None, OVERRIDES)
    torch.manual_seed(config.run.seed)
    from asr.model.acoustic import AcousticModel, AcousticModelConfig

    init = AcousticModel(AcousticModelConfig(num_layers=2, hidden_size=32, dropout=0.0)).state_dict()
    for name, value in one["weights"].items():
        assert (value - init[name]).abs().max() > 1e-3, name
        _assert_same_update(two["weights"][name], value, name)
    assert all(loss is not None for loss in one["losses"] + two["losses"])


LM_OVERRIDES = ["data.max_tokens=40", "data.num_workers=0", "model.embed_dim=8", "model.hidden_size=16",
                "model.num_layers=1", "model.dropout=0.0",
                "run.threads=1", "run.checkpoint_every=0", "run.seed=3", "optim.lr=1e-2", "optim.warmup_steps=0",
                "optim.schedule=constant", "optim.grad_clip=1e3"]
# Per step, rank 0's and rank 1's sentences: unequal token counts on purpose (a mean per rank
# would weight the short sentence's tokens several times more).
LM_SENTENCES = ["THE SHORT ONE", "A MUCH LONGER SENTENCE OF MANY WORDS", "AND ANOTHER LONG ONE HERE TOO", "HI"]
LM_RANK_BATCHES = [([0], [1, 2]), ([3], [0, 1])]


def _lm_train_steps(rank: int, world_size: int, port: int, folder: str, out: str) -> None:
    """Two optimizer steps of LanguageModelTrainer; rank 0 saves the weights."""
    from asr.model.lm import LstmLM
    from asr.text import CharTokenizer
    from asr.train.config import LmTrainConfig
    from asr.train.lm import LanguageModelTrainer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    config = load_config(LmTrainConfig, None, LM_OVERRIDES)
    tokenizer = CharTokenizer()
    trainer = LanguageModelTrainer(config, [f"{folder}/text.txt"], None, f"{folder}/lm{world_size}", tokenizer)
    encoded = [tokenizer.encode(s) for s in LM_SENTENCES]
    for per_rank in LM_RANK_BATCHES:
        rows = per_rank[rank] if world_size > 1 else [i for b in per_rank for i in b]
        trainer._train_step(LstmLM.sentence_batch([encoded[i] for i in rows]))
    if rank == 0:
        torch.save(trainer.model.state_dict(), out)
    trainer.dist.close()


def test_two_process_ddp_lm_step_weights_ranks_by_tokens(tmp_path):
    (tmp_path / "text.txt").write_text("\n".join(LM_SENTENCES) + "\n")
    single, ddp = tmp_path / "single.pt", tmp_path / "ddp.pt"
    mp.spawn(_lm_train_steps, args=(1, _free_port(), str(tmp_path), str(single)), nprocs=1)
    mp.spawn(_lm_train_steps, args=(2, _free_port(), str(tmp_path), str(ddp)), nprocs=2)
    one, two = torch.load(single), torch.load(ddp)
    for name, value in one.items():
        _assert_same_update(two[name], value, name)
