"""The training machinery shared by the acoustic model and the language model.

`Trainer` owns what does not depend on the model: devices and DDP, the experiment folder,
logs, AdamW with warm-up and decay, autocast, gradient clipping, skipping non-finite steps,
splitting (or skipping) batches that run out of memory, atomic checkpoints with the whole
training state (so a killed run resumed with --resume ends with the same weights as one that
never stopped), per-epoch evaluation, weight snapshots and their averaging. A subclass says
what a batch's loss is, how to evaluate and what to package.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import random
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from asr.atomic import atomic_open, remove_stale_temporaries
from asr.config import dump_config, to_dict
from asr.data.sampler import DurationBucketSampler
from asr.errors import AsrError
from asr.plural import plural
from asr.progress_bar import progress_bar
from asr.threads import set_threads
from asr.train.checkpoint import (average_state_dicts, load_checkpoint, rng_state, save_checkpoint,
                                  set_rng_state)
from asr.train.config import OptimSection, RunSection
from asr.train.distributed import DistributedContext
from asr.train.logs import ScalarWriter, setup_training_logs
from asr.train.schedule import lr_factor

log = logging.getLogger("asr")


class TrainingStopped(AsrError):
    """Training cannot go on (e.g. too many non-finite losses in a row); a checkpoint was written."""


def is_out_of_memory(err: BaseException) -> bool:
    """torch raises OutOfMemoryError for CUDA; other allocators (MPS, some CPU paths) raise a
    plain RuntimeError whose message says so."""
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_loader(dataset: torch.utils.data.Dataset, batches: list[list[int]], collate_fn, workers: int,
                pin: bool) -> torch.utils.data.DataLoader:
    # A private generator keeps the DataLoader from drawing from the global torch RNG, which
    # would make the random stream depend on where in the epoch a resumed run starts.
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=batches, collate_fn=collate_fn, num_workers=workers,
        pin_memory=pin, persistent_workers=False, generator=torch.Generator(),
    )


class Trainer:
    """Base class. Subclasses call `setup_model` and `setup_optimization` in their __init__,
    then implement `make_train_loader`, `batch_loss`, `evaluate` and `make_package`."""

    best_metric = "dev_loss"  # history key that picks model_best.pt (lower is better)

    def __init__(self, config: Any, exp_dir: str, resume: bool):
        self.config = config
        self.run: RunSection = config.run
        self.exp_dir = Path(exp_dir)
        self.ckpt_dir = self.exp_dir / "checkpoints"
        self.last_ckpt = self.ckpt_dir / "last.pt"
        set_threads(self.run.threads)
        wants_cuda = self.run.device.startswith("cuda") or (self.run.device == "auto" and torch.cuda.is_available())
        if wants_cuda and not torch.cuda.is_available():
            raise AsrError(f"run.device={self.run.device}: CUDA is not available on this machine")
        self.dist = DistributedContext.from_env("cuda" if wants_cuda else "cpu")
        self.device = self.dist.device(self.run.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.last_ckpt.exists() and not resume:
            raise AsrError(f"{self.exp_dir} already holds a training run; pass --resume to continue "
                           "it or choose another --exp")
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_dir.mkdir(exist_ok=True)
        setup_training_logs(self.exp_dir, enabled=self.dist.is_main)
        self.resume = resume and self.last_ckpt.exists()
        if resume and not self.resume:
            log.info("no checkpoint in %s yet: starting a new run", self.exp_dir)
        if self.dist.is_main:
            with atomic_open(self.exp_dir / "config.yaml") as f:
                f.write(dump_config(config))
        seed_everything(self.run.seed)
        if self.device.type == "cuda":
            self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.run.amp)
        else:
            self.amp_dtype = torch.bfloat16 if self.run.cpu_amp else None
        self.epoch, self.batches_done, self.step = 0, 0, 0
        self.epoch_loss = [0.0, 0]  # sum and count of this epoch's step losses, across resumes
        self.history: list[dict[str, Any]] = []
        self.train_seconds = 0.0
        self.nonfinite_in_row, self.nonfinite_total = 0, 0
        self.oom_split, self.oom_skipped = 0, 0  # batches that ran out of memory: split / dropped
        self.writer: ScalarWriter | None = None  # opened by train(), once the inputs have been checked

    # ------------------------------------------------------------------ set-up by subclasses
    def setup_model(self, model: torch.nn.Module) -> None:
        self.model = model.to(self.device)
        self.ddp_model = (DistributedDataParallel(self.model, device_ids=[self.device.index]
                                                  if self.device.type == "cuda" else None)
                          if self.dist.enabled else self.model)

    def setup_optimization(self, sizes: Sequence[float], max_total: float, max_batch_size: int,
                           optim: OptimSection) -> None:
        """Batching (items of `sizes` under a padded budget `max_total`), AdamW, the LR
        schedule and the AMP scaler; then restores the checkpoint when resuming."""
        self.sampler = self.make_sampler(sizes, max_total, max_batch_size)
        self.steps_per_epoch = len(self.sampler.epoch_batches())
        self.total_steps = self.steps_per_epoch * self.run.epochs
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=optim.lr, betas=optim.betas,
                                           weight_decay=optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factor(
            step, optim.warmup_steps, self.total_steps, optim.schedule, optim.final_lr_ratio))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.grad_clip = optim.grad_clip
        if self.dist.is_main:  # left by a run killed while it wrote a checkpoint
            remove_stale_temporaries(self.ckpt_dir)
        if self.resume:
            self._restore(load_checkpoint(self.last_ckpt))

    def autocast(self):
        return (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype
                else contextlib.nullcontext())

    def make_sampler(self, sizes: Sequence[float], max_total: float, max_batch_size: int) -> DurationBucketSampler:
        """The training batch sampler: every item once per epoch, unless a subclass draws
        its epochs otherwise (the acoustic model mixes corpora by weight)."""
        return DurationBucketSampler(sizes, max_total, max_batch_size, seed=self.run.seed,
                                     num_replicas=self.dist.world_size, rank=self.dist.rank)

    # ------------------------------------------------------------------ to implement
    def make_train_loader(self, batches: list[list[int]]) -> torch.utils.data.DataLoader:
        raise NotImplementedError

    def batch_loss(self, batch: Any) -> torch.Tensor | None:
        """The training loss of a batch (None for a batch with nothing usable in it)."""
        raise NotImplementedError

    def split_batch(self, batch: Any) -> list[tuple[Any, float]] | None:
        """Two halves of `batch`, each with the weight of its loss in the whole batch's loss
        (so that their accumulated gradients equal the batch's), or None when it cannot be
        split. Used when a batch runs out of memory; the default cannot split."""
        return None

    def loss_items(self, batch: Any) -> float:
        """How many items `batch_loss` averages over (with DDP, ranks are weighted by it so the
        step equals one on the global batch); the default weights all ranks alike."""
        return 1.0

    def evaluate(self) -> dict[str, float]:
        """Dev metrics after an epoch (main process only); {} without a dev set."""
        raise NotImplementedError

    def make_package(self, state_dict: dict[str, torch.Tensor], kind: str):
        """An object with .save(path) holding these weights."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{sum(p.numel() for p in self.model.parameters()) / 1e6:.2f}M parameters"

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "epoch": self.epoch, "batches_done": self.batches_done, "epoch_loss": self.epoch_loss,
            "step": self.step, "rng": rng_state(), "history": self.history,
            "train_seconds": self.train_seconds, "nonfinite_total": self.nonfinite_total,
            "oom_split": self.oom_split, "oom_skipped": self.oom_skipped,
            "config": to_dict(self.config),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise AsrError(f"{self.last_ckpt}: the checkpoint does not fit this model "
                           f"(was the config changed?): {str(err).splitlines()[0]}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.batches_done, self.step = state["epoch"], state["batches_done"], state["step"]
        self.epoch_loss = list(state["epoch_loss"])
        self.history = state["history"]
        self.train_seconds = state["train_seconds"]
        self.nonfinite_total = state.get("nonfinite_total", 0)
        self.oom_split, self.oom_skipped = state.get("oom_split", 0), state.get("oom_skipped", 0)
        set_rng_state(state["rng"])
        if state.get("config") != to_dict(self.config):
            log.warning("the config differs from the one the checkpoint was trained with")
        log.info("resumed from %s: epoch %d, batch %d, step %d",
                 self.last_ckpt, self.epoch + 1, self.batches_done, self.step)

    def save_checkpoint(self) -> None:
        if self.dist.is_main:
            save_checkpoint(self.last_ckpt, self._state())

    # ------------------------------------------------------------------ training
    def _backward(self, pieces: list[tuple[Any, float]]) -> torch.Tensor | None:
        """Forward and backward of each (piece, weight), gradients accumulated; returns the
        weighted sum of the pieces' losses (None when no piece had a loss)."""
        total = None
        for number, (piece, weight) in enumerate(pieces):
            # with DDP only the last backward all-reduces: every rank reduces once per step
            # however many pieces its batch was split into
            last = number == len(pieces) - 1
            sync = self.ddp_model.no_sync() if self.dist.enabled and not last else contextlib.nullcontext()
            with sync:
                loss = self.batch_loss(piece)
                if loss is None:
                    continue
                self.scaler.scale(loss * weight).backward()
            total = loss.detach() * weight if total is None else total + loss.detach() * weight
        return total

    def _backward_within_memory(self, batch: Any) -> torch.Tensor | None:
        """`_backward` of the batch; when it runs out of memory, of its halves, quarters, ...
        Gradients of a failed attempt are discarded, so the result equals the whole batch's.
        A batch that fails even one item at a time is skipped (None) and logged."""
        pieces = [(batch, self.dist.loss_weight(self.loss_items(batch)))]  # DDP: global-batch mean
        while True:
            try:
                return self._backward(pieces)
            except RuntimeError as err:
                if not is_out_of_memory(err):
                    raise
            # outside the except block, so the traceback's references to tensors are gone
            self.optimizer.zero_grad(set_to_none=True)
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            halves = [self.split_batch(piece) for piece, _ in pieces]
            if any(h is None for h in halves):
                if self.dist.enabled:  # skipping alone would leave the other ranks waiting in all-reduce
                    raise TrainingStopped(f"step {self.step}: out of memory on a batch that cannot be split; "
                                          f"resume from {self.last_ckpt} with a smaller batch budget "
                                          "(data.max_frames or data.max_tokens)")
                self.oom_skipped += 1
                log.warning("step %d: out of memory even split into %d pieces; batch skipped (%d so far)",
                            self.step, len(pieces), self.oom_skipped)
                return None
            if len(pieces) == 1:
                self.oom_split += 1
            pieces = [(half, weight * share) for h, (_, weight) in zip(halves, pieces) for half, share in h]
            log.warning("step %d: out of memory; retrying the batch in %d pieces", self.step, len(pieces))

    def _train_step(self, batch: Any) -> float | None:
        """One optimizer step; returns the loss, or None when the step was skipped."""
        loss = self._backward_within_memory(batch)
        if loss is None:
            return None
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        finite = bool(torch.isfinite(loss) & torch.isfinite(grad_norm))
        if finite or self.scaler.is_enabled():
            self.scaler.step(self.optimizer)  # the fp16 scaler skips non-finite steps itself
            self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        if finite:
            self.nonfinite_in_row = 0
            return float(loss.detach())
        self.nonfinite_in_row += 1
        self.nonfinite_total += 1
        log.warning("step %d: non-finite loss or gradient, step skipped (%d in a row)",
                    self.step, self.nonfinite_in_row)
        if self.nonfinite_in_row >= self.run.max_nonfinite:
            self.save_checkpoint()
            raise TrainingStopped(f"{self.nonfinite_in_row} non-finite steps in a row at step {self.step}; "
                                  f"stopped with a checkpoint in {self.last_ckpt} (lower optim.lr?)")
        return None

    def _train_epoch(self) -> float:
        run = self.run
        self.model.train()
        self.sampler.set_epoch(self.epoch, self.batches_done)
        batches = list(self.sampler)
        epoch_total = self.batches_done + len(batches)  # bucketing varies a little per epoch
        loader = self.make_train_loader(batches)
        losses: list[float] = []  # this session's, for the progress bar
        bar = progress_bar(loader, total=epoch_total, initial=self.batches_done, unit="batch", noun="batches",
                           desc=f"epoch {self.epoch + 1}/{run.epochs}", disable=not self.dist.is_main)
        started = time.monotonic()
        for batch in bar:
            loss = self._train_step(batch)
            self.batches_done += 1
            self.step += 1
            if loss is not None:
                losses.append(loss)
                self.epoch_loss[0] += loss
                self.epoch_loss[1] += 1
            if self.step % run.log_every == 0 and losses:
                recent = sum(losses[-run.log_every:]) / len(losses[-run.log_every:])
                lr = self.scheduler.get_last_lr()[0]
                bar.set_postfix(loss=f"{recent:.3f}", lr=f"{lr:.2e}")
                self.writer.add("train/loss", recent, self.step)
                self.writer.add("train/lr", lr, self.step)
            if run.checkpoint_every and self.step % run.checkpoint_every == 0:
                self.train_seconds += time.monotonic() - started
                started = time.monotonic()
                self.save_checkpoint()
        bar.close()
        self.train_seconds += time.monotonic() - started
        total, count = self.dist.sum([self.epoch_loss[0], float(self.epoch_loss[1])])
        return total / max(count, 1)

    def _end_of_epoch(self, train_loss: float) -> None:
        record: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step, "train_loss": train_loss}
        if self.dist.is_main:
            self.model.eval()
            with torch.no_grad():
                record.update(self.evaluate())
            self.model.train()
        for key, value in record.items():
            if key not in ("epoch", "step"):
                self.writer.add(key.replace("_", "/", 1), value, self.step)
        log.info("epoch %d: %s", self.epoch + 1, ", ".join(
            f"{k.replace('_', ' ')} {v:.4f}" for k, v in record.items() if k not in ("epoch", "step")))
        self.history.append(record)
        if self.dist.is_main:
            with atomic_open(self.ckpt_dir / f"epoch-{self.epoch + 1:03d}.pt", "wb") as f:
                torch.save(self.model.state_dict(), f)
        self.epoch += 1
        self.batches_done = 0
        self.epoch_loss = [0.0, 0]
        self.save_checkpoint()
        if self.dist.is_main:
            self._prune_snapshots()
        self.dist.barrier()

    def best_epoch(self) -> int:
        scored = [r for r in self.history if self.best_metric in r]
        if not scored:
            return self.history[-1]["epoch"]
        return min(scored, key=lambda r: (r[self.best_metric], r.get("dev_loss", 0.0)))["epoch"]

    def _prune_snapshots(self) -> None:
        keep = {self.best_epoch()} | {r["epoch"] for r in self.history[-self.run.average_last:]}
        for path in self.ckpt_dir.glob("epoch-*.pt"):
            if int(path.stem.split("-")[1]) not in keep:
                path.unlink()

    def write_packages(self) -> Path:
        """model_last.pt, model_best.pt, model_avg.pt and model.pt (the one run.final_model names)."""
        last = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        recent = [r["epoch"] for r in self.history[-self.run.average_last:]]
        snapshots = [p for p in (self.ckpt_dir / f"epoch-{e:03d}.pt" for e in recent) if p.exists()]
        averaged = average_state_dicts(snapshots) if snapshots else last
        best_path = self.ckpt_dir / f"epoch-{self.best_epoch():03d}.pt"
        best = torch.load(best_path, map_location="cpu", weights_only=True) if best_path.exists() else last
        weights = {"last": last, "best": best, "average": averaged}
        for kind, name in (("last", "model_last.pt"), ("best", "model_best.pt"), ("average", "model_avg.pt")):
            self.make_package(weights[kind], kind).save(self.exp_dir / name)
        final = self.exp_dir / "model.pt"
        self.make_package(weights[self.run.final_model], self.run.final_model).save(final)
        which = {"average": f"average of epochs {recent}", "best": f"best epoch {self.best_epoch()}",
                 "last": f"epoch {self.epoch}"}[self.run.final_model]
        log.info("wrote %s (%s)", final, which)
        return final

    def provenance(self, kind: str) -> dict[str, Any]:
        import datetime

        return {"kind": kind, "epochs": self.epoch, "steps": self.step, "history": self.history,
                "train_seconds": self.train_seconds,
                "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
                "world_size": self.dist.world_size,
                "date": datetime.datetime.now().isoformat(timespec="seconds")}

    def train(self) -> Path | None:
        """Run the remaining epochs; returns the path of model.pt (on the main process)."""
        log.info("%s; %s per epoch; device %s, %s", self.describe(), plural(self.steps_per_epoch, "step"),
                 self.device, plural(self.dist.world_size, "process", "processes"))
        self.writer = ScalarWriter(self.exp_dir, enabled=self.dist.is_main)
        try:
            while self.epoch < self.run.epochs:
                self._end_of_epoch(self._train_epoch())
            if self.dist.is_main and self.history:
                return self.write_packages()
            return None
        finally:
            self.writer.close()
            self.dist.close()
