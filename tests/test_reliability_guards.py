"""Training guards: non-finite losses and gradients are skipped and counted, too many in a row
stop the run with a checkpoint; a batch that runs out of memory is split in halves (or skipped)
and the result equals the unsplit batch. Out-of-memory is simulated on CPU by raising the
exception torch raises for CUDA."""

from __future__ import annotations

import pytest
import torch

from asr.config import load_config
from asr.text import CharTokenizer
from asr.train.checkpoint import load_checkpoint
from asr.train.config import LmTrainConfig
from asr.train.lm import LanguageModelTrainer
from asr.train.loop import TrainingStopped

SENTENCES = ["ONE TWO THREE", "FOUR FIVE", "SIX", "SEVEN EIGHT NINE ZERO", "TEN ELEVEN", "A B C D E F",
             "HELLO WORLD", "GOOD MORNING TO YOU", "YES", "NO MAYBE", "TWELVE", "THIRTEEN FOURTEEN"] * 2

TINY_LM = ["model.embed_dim=8", "model.hidden_size=16", "model.num_layers=1", "model.dropout=0.0",
           "data.max_tokens=120", "data.max_batch_size=6", "run.threads=1", "run.log_every=1",
           "run.checkpoint_every=0", "run.average_last=1", "run.final_model=last", "optim.warmup_steps=2",
           "run.device=cpu"]


def make_trainer(tmp_path, name: str, *overrides: str) -> LanguageModelTrainer:
    text = tmp_path / "text.txt"
    text.write_text("\n".join(SENTENCES) + "\n")
    config = load_config(LmTrainConfig, None, TINY_LM + list(overrides))
    return LanguageModelTrainer(config, [str(text)], None, str(tmp_path / name), CharTokenizer())


def weights(trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def all_batches(trainer, epochs: int) -> list[list[int]]:
    """The sentence indices of every batch the trainer's sampler gives in `epochs` epochs."""
    batches = []
    for epoch in range(epochs):
        trainer.sampler.set_epoch(epoch)
        batches += trainer.sampler.epoch_batches()
    return batches


def out_of_memory_when(trainer, too_big) -> list[int]:
    """Make trainer.batch_loss raise CUDA's out-of-memory error for batches where
    too_big(batch) holds; returns the list of batch sizes it was called with."""
    real, sizes = trainer.batch_loss, []

    def batch_loss(batch):
        sizes.append(len(batch[2]))
        if too_big(batch):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(batch)

    trainer.batch_loss = batch_loss
    return sizes


def test_out_of_memory_batches_are_split_into_halves_with_the_same_result(tmp_path):
    reference = make_trainer(tmp_path, "ref", "run.epochs=2")
    start = weights(reference)
    reference.train()
    split = make_trainer(tmp_path, "split", "run.epochs=2")
    sizes = out_of_memory_when(split, lambda batch: len(batch[2]) > 2)  # at most 2 sentences fit
    split.train()
    assert max(sizes) == 6 and sizes.count(6) >= 2  # full batches were tried, then halves, then quarters
    assert split.oom_skipped == 0
    big_batches = sum(len(b) > 2 for b in all_batches(split, 2))
    assert split.oom_split == big_batches > 0
    a, b = weights(reference), weights(split)
    for name in a:
        assert not torch.equal(a[name], start[name]), name  # training moved the weights
        # gradients accumulated over pieces, weighted by their token share, equal the batch's
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5)
    state = load_checkpoint(split.last_ckpt)
    assert (state["oom_split"], state["oom_skipped"]) == (big_batches, 0)


def test_a_batch_that_never_fits_is_skipped_and_counted(tmp_path):
    trainer = make_trainer(tmp_path, "exp", "run.epochs=2")
    poison = max(len(s) for s in SENTENCES) + 1  # the longest sentence never fits, even alone

    def holds_poison(batch):
        return bool((batch[2] == poison).any())

    out_of_memory_when(trainer, holds_poison)
    trainer.train()
    poisoned = sum(any(len(trainer.train_corpus[i]) + 1 == poison for i in b) for b in all_batches(trainer, 2))
    assert trainer.oom_skipped == poisoned == 4  # two copies of the sentence, two epochs
    assert (tmp_path / "exp" / "train.log").read_text().count("batch skipped") == 4
    assert load_checkpoint(trainer.last_ckpt)["oom_skipped"] == 4
    assert (tmp_path / "exp" / "model.pt").is_file()


def test_other_runtime_errors_are_not_taken_for_out_of_memory(tmp_path):
    trainer = make_trainer(tmp_path, "exp", "run.epochs=1")

    def broken(batch):
        raise RuntimeError("shape mismatch")

    trainer.batch_loss = broken
    with pytest.raises(RuntimeError, match="shape mismatch"):
        trainer.train()
    assert trainer.oom_split == trainer.oom_skipped == 0


def _poison_steps(trainer, steps: set[int], where: str) -> None:
    """Make the loss (where="loss") or only the gradient (where="grad") non-finite at `steps`."""
    real = trainer.batch_loss

    def batch_loss(batch):
        loss = real(batch)
        if trainer.step not in steps:
            return loss
        if where == "loss":
            return loss * float("nan")
        bad = loss * 1.0
        bad.register_hook(lambda grad: grad * float("inf"))  # finite loss, infinite gradient
        return bad

    trainer.batch_loss = batch_loss


@pytest.mark.parametrize("where", ["loss", "grad"])
def test_non_finite_steps_are_skipped_and_counted(tmp_path, where):
    trainer = make_trainer(tmp_path, "exp", "run.epochs=1", "run.max_nonfinite=3")
    _poison_steps(trainer, {1, 2, 4}, where)  # never 3 in a row
    snapshots = {}
    real_step = trainer._train_step

    def step(batch):
        before = weights(trainer)
        loss = real_step(batch)
        snapshots[trainer.step] = (before, weights(trainer), loss)
        return loss

    trainer._train_step = step
    trainer.train()
    assert trainer.nonfinite_total == 3
    for number, (before, after, loss) in snapshots.items():
        unchanged = all(torch.equal(before[k], after[k]) for k in before)
        assert unchanged == (number in {1, 2, 4}), number  # skipped steps leave the weights alone
        assert (loss is None) == (number in {1, 2, 4})
    assert load_checkpoint(trainer.last_ckpt)["nonfinite_total"] == 3


def test_too_many_non_finite_steps_in_a_row_stop_with_a_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, "exp", "run.epochs=1", "run.max_nonfinite=3")
    _poison_steps(trainer, set(range(2, 100)), "loss")
    with pytest.raises(TrainingStopped, match="3 non-finite steps in a row at step 4") as err:
        trainer.train()
    assert "checkpoint" in str(err.value) and "\n" not in str(err.value)
    state = load_checkpoint(trainer.last_ckpt)
    assert state["nonfinite_total"] == 3
    # the checkpoint holds the weights after the last good step (steps 0 and 1)
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(state["model"][name], value), name


@pytest.mark.usefixtures("shared_data")
def test_acoustic_batch_halves_give_the_batch_gradient(tmp_path):
    """The acoustic trainer's split: halves of a padded audio batch, weighted by their share of
    utterances, accumulate the same gradient as the whole batch (an independent backward)."""
    from asr.train.am import AcousticTrainer
    from asr.train.config import AcousticTrainConfig
    from test_training import TINY, write_manifest
    from conftest import FSDD

    files = [FSDD / f"{d}_nicolas_{d + 3}.wav" for d in range(5)]
    manifest = write_manifest(tmp_path / "train.jsonl", files)
    config = load_config(AcousticTrainConfig, None, TINY + ["specaugment.enabled=false", "run.epochs=1",
                                                            "data.max_batch_size=5", "run.device=cpu"])
    trainer = AcousticTrainer(config, str(manifest), None, str(tmp_path / "exp"))
    batch = next(iter(trainer.make_train_loader([list(range(5))])))
    params = list(trainer.model.parameters())

    trainer.batch_loss(batch).backward()
    whole = [p.grad.clone() for p in params]
    trainer.optimizer.zero_grad()
    halves = trainer.split_batch(batch)
    assert [len(h) for h, _ in halves] == [2, 3] and sum(w for _, w in halves) == pytest.approx(1.0)
    assert halves[0][0].waveforms.shape[1] == int(batch.waveform_lengths[:2].max())  # padding trimmed
    for half, weight in halves:
        (trainer.batch_loss(half) * weight).backward()
    for p, g in zip(params, whole):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)
    single = trainer.split_batch(halves[0][0])
    assert trainer.split_batch(single[0][0]) is None  # one utterance cannot be split
