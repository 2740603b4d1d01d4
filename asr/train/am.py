"""Acoustic-model training with CTC: `asr train`.

One process per device; several through torchrun (DDP). Every checkpoint holds the whole
training state (weights, optimizer, scheduler, sampler position, RNG), so a killed run
resumed with --resume ends with the same weights as one that was never interrupted.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from asr.atomic import atomic_open
from asr.config import dump_config, to_dict
from asr.data.dataset import Batch, SpeechDataset, collate
from asr.data.manifest import Utterance, read_manifest
from asr.data.sampler import DurationBucketSampler
from asr.decode.greedy import ctc_greedy_search
from asr.errors import AsrError
from asr.features import GlobalCMVN, LogMel, SpecAugment, load_cmvn_stats, save_cmvn_stats
from asr.train.cmvn import cmvn_from_utterances
from asr.model.acoustic import AcousticModel, AcousticModelConfig
from asr.package import ModelPackage
from asr.score import score_texts
from asr.text import CharTokenizer, load_tokenizer, normalize_text
from asr.train.checkpoint import (average_state_dicts, load_checkpoint, rng_state, save_checkpoint,
                                  set_rng_state)
from asr.train.config import AcousticTrainConfig
from asr.train.distributed import DistributedContext
from asr.train.logs import ScalarWriter, setup_training_logs
from asr.train.schedule import lr_factor

log = logging.getLogger("asr")


class TrainingStopped(AsrError):
    """Training cannot go on (e.g. too many non-finite losses in a row); a checkpoint was written."""


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _loader(dataset: SpeechDataset, batches: list[list[int]], workers: int, pin: bool):
    # A private generator keeps the DataLoader from drawing from the global torch RNG, which
    # would make the random stream depend on where in the epoch a resumed run starts.
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=batches, collate_fn=collate, num_workers=workers,
        pin_memory=pin, persistent_workers=False, generator=torch.Generator(),
    )


class AcousticTrainer:
    """Trains a BiLSTM-CTC model in exp_dir and writes exp_dir/model.pt."""

    def __init__(self, config: AcousticTrainConfig, train_manifest: str, dev_manifest: str | None,
                 exp_dir: str, resume: bool = False, tokenizer: str | None = None, cmvn: str | None = None):
        self.config = config
        self.exp_dir = Path(exp_dir)
        self.ckpt_dir = self.exp_dir / "checkpoints"
        self.last_ckpt = self.ckpt_dir / "last.pt"
        run = config.run
        if run.threads > 0:
            torch.set_num_threads(run.threads)

        self.dist = DistributedContext.from_env("cuda" if run.device.startswith("cuda") or (
            run.device == "auto" and torch.cuda.is_available()) else "cpu")
        self.device = self.dist.device(run.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise AsrError(f"run.device={run.device}: CUDA is not available on this machine")
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

        self.tokenizer = load_tokenizer(tokenizer) if tokenizer else CharTokenizer()
        self.cmvn_source = cmvn
        self.train_utts = self._read(train_manifest, "train")
        self.dev_utts = self._read(dev_manifest, "dev") if dev_manifest else []
        if self.dist.is_main:
            with atomic_open(self.exp_dir / "config.yaml") as f:
                f.write(dump_config(config))

        _seed_everything(run.seed)
        feat = config.features
        self.feature_args = {"n_mels": feat.n_mels, "win_ms": feat.win_ms, "hop_ms": feat.hop_ms}
        self.logmel = LogMel(**self.feature_args).to(self.device)
        self.cmvn = self._cmvn().to(self.device)
        aug = config.specaugment
        self.specaug = SpecAugment(aug.freq_masks, aug.freq_width, aug.time_masks, aug.time_width,
                                   aug.time_width_ratio).to(self.device) if aug.enabled else None

        m = config.model
        self.model_config = AcousticModelConfig(
            input_dim=feat.n_mels, stack=m.stack, num_layers=m.num_layers, hidden_size=m.hidden_size,
            dropout=m.dropout, vocab_size=self.tokenizer.vocab_size)
        self.model = AcousticModel(self.model_config).to(self.device)
        self.ddp_model = (DistributedDataParallel(self.model, device_ids=[self.device.index]
                                                  if self.device.type == "cuda" else None)
                          if self.dist.enabled else self.model)

        self.sampler = DurationBucketSampler(
            [u.duration for u in self.train_utts], config.data.max_frames, config.data.max_batch_size,
            seed=run.seed, num_replicas=self.dist.world_size, rank=self.dist.rank)
        self.steps_per_epoch = len(self.sampler.epoch_batches())
        self.total_steps = self.steps_per_epoch * run.epochs
        opt = config.optim
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=opt.lr, betas=opt.betas,
                                           weight_decay=opt.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factor(
            step, opt.warmup_steps, self.total_steps, opt.schedule, opt.final_lr_ratio))
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(run.amp) \
            if self.device.type == "cuda" else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

        self.epoch, self.batches_done, self.step = 0, 0, 0
        self.epoch_loss = [0.0, 0]  # sum and count of this epoch's step losses, across resumes
        self.history: list[dict[str, Any]] = []
        self.train_seconds = 0.0
        self.nonfinite_in_row, self.nonfinite_total = 0, 0
        if self.resume:
            self._restore(load_checkpoint(self.last_ckpt))
        self.writer = ScalarWriter(self.exp_dir, enabled=self.dist.is_main)

    # ------------------------------------------------------------------ setup helpers
    def _read(self, path: str, name: str) -> list[Utterance]:
        utts = read_manifest(path, require_text=True)
        limit = self.config.data.max_duration
        kept = [u for u in utts if u.duration <= limit]
        if len(kept) < len(utts):
            log.info("%s: skipping %d utterances longer than data.max_duration=%.1fs",
                     path, len(utts) - len(kept), limit)
        if not kept:
            raise AsrError(f"{path}: no {name} utterances of at most {limit}s")
        hours = sum(u.duration for u in kept) / 3600
        log.info("%s set: %d utterances, %.2f hours (%s)", name, len(kept), hours, path)
        return kept

    def _cmvn(self) -> GlobalCMVN:
        """CMVN statistics from (a random subset of) the training set, cached in the exp folder."""
        path = self.exp_dir / "cmvn.pt"
        if self.dist.is_main and not path.exists() and self.cmvn_source:
            stats = load_cmvn_stats(self.cmvn_source)
            save_cmvn_stats(stats["mean"], stats["std"], path)
        if self.dist.is_main and not path.exists():
            mean, std = cmvn_from_utterances(
                self.train_utts, self.logmel, self.config.features.cmvn_max_utterances, self.config.run.seed,
                self.config.data.num_workers, self.device)
            save_cmvn_stats(mean, std, path)
            log.info("CMVN statistics from %d utterances -> %s",
                     min(len(self.train_utts), self.config.features.cmvn_max_utterances), path)
        self.dist.barrier()
        stats = load_cmvn_stats(path)
        return GlobalCMVN(stats["mean"], stats["std"])

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "batches_done": self.batches_done,
            "epoch_loss": self.epoch_loss,
            "step": self.step,
            "rng": rng_state(),
            "history": self.history,
            "train_seconds": self.train_seconds,
            "nonfinite_total": self.nonfinite_total,
            "config": to_dict(self.config),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.batches_done, self.step = state["epoch"], state["batches_done"], state["step"]
        self.epoch_loss = list(state["epoch_loss"])
        self.history = state["history"]
        self.train_seconds = state["train_seconds"]
        self.nonfinite_total = state.get("nonfinite_total", 0)
        set_rng_state(state["rng"])
        if state.get("config") != to_dict(self.config):
            log.warning("the config differs from the one the checkpoint was trained with")
        log.info("resumed from %s: epoch %d, batch %d, step %d",
                 self.last_ckpt, self.epoch + 1, self.batches_done, self.step)

    def _save(self) -> None:
        if self.dist.is_main:
            save_checkpoint(self.last_ckpt, self._state())

    # ------------------------------------------------------------------ training
    def _features(self, batch: Batch, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        waves = batch.waveforms.to(self.device, non_blocking=True)
        lengths = batch.waveform_lengths.to(self.device, non_blocking=True)
        with torch.no_grad():
            feats, frame_lengths = self.logmel(waves, lengths)
            feats = self.cmvn(feats, frame_lengths)
            if train and self.specaug is not None:
                feats = self.specaug(feats, frame_lengths)
        return feats, frame_lengths

    def _loss(self, model: torch.nn.Module, batch: Batch, train: bool) -> torch.Tensor:
        feats, frame_lengths = self._features(batch, train)
        autocast = (torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype
                    else contextlib.nullcontext())
        with autocast:
            log_probs, out_lengths = model(feats, frame_lengths)
        return torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1).float(), batch.tokens.to(self.device),
            out_lengths, batch.token_lengths.to(self.device),
            blank=CharTokenizer.BLANK, reduction="mean", zero_infinity=True)

    def _train_step(self, batch: Batch) -> float | None:
        """One optimizer step; returns the loss, or None when the step was skipped."""
        loss = self._loss(self.ddp_model, batch, train=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
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
        if self.nonfinite_in_row >= self.config.run.max_nonfinite:
            self._save()
            raise TrainingStopped(f"{self.nonfinite_in_row} non-finite steps in a row at step {self.step}; "
                                  f"stopped with a checkpoint in {self.last_ckpt} (lower optim.lr?)")
        return None

    def _train_epoch(self) -> float:
        run = self.config.run
        self.model.train()
        self.sampler.set_epoch(self.epoch, self.batches_done)
        batches = list(self.sampler)
        epoch_total = self.batches_done + len(batches)  # bucketing varies a little per epoch
        dataset = SpeechDataset(self.train_utts, self.tokenizer, self.config.data.speed_perturb,
                                seed=self.config.run.seed, epoch=self.epoch)
        loader = _loader(dataset, batches,
                         self.config.data.num_workers, self.device.type == "cuda")
        losses: list[float] = []  # this session's, for the progress bar
        bar = tqdm(loader, total=epoch_total, initial=self.batches_done, unit="batch",
                   desc=f"epoch {self.epoch + 1}/{run.epochs}", disable=not self.dist.is_main)
        started = time.monotonic()
        for batch in bar:
            loss = self._train_step(batch) if len(batch) else None
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
                log.debug("step %d loss %.4f lr %.3e", self.step, recent, lr)
            if run.checkpoint_every and self.step % run.checkpoint_every == 0:
                self.train_seconds += time.monotonic() - started
                started = time.monotonic()
                self._save()
        bar.close()
        self.train_seconds += time.monotonic() - started
        total, count = self.dist.sum([self.epoch_loss[0], float(self.epoch_loss[1])])
        return total / max(count, 1)

    @torch.no_grad()
    def evaluate(self, utterances: list[Utterance]) -> tuple[float, float]:
        """(mean CTC loss, greedy WER %) on utterances, in eval mode."""
        self.model.eval()
        sampler = DurationBucketSampler([u.duration for u in utterances], self.config.data.max_frames,
                                        self.config.data.max_batch_size, shuffle=False)
        loader = _loader(SpeechDataset(utterances, self.tokenizer), list(sampler),
                         self.config.data.num_workers, False)
        total_loss, count, refs, hyps = 0.0, 0, {}, {}
        for batch in tqdm(loader, desc="dev", unit="batch", leave=False, disable=not self.dist.is_main):
            if not len(batch):
                continue
            feats, frame_lengths = self._features(batch, train=False)
            log_probs, out_lengths = self.model(feats, frame_lengths)
            loss = torch.nn.functional.ctc_loss(
                log_probs.transpose(0, 1), batch.tokens.to(self.device), out_lengths,
                batch.token_lengths.to(self.device), blank=0, reduction="mean", zero_infinity=True)
            total_loss += float(loss) * len(batch)  # same per-token normalization as training
            count += len(batch)
            for index, ids in zip(batch.indices, ctc_greedy_search(log_probs, out_lengths)):
                refs[utterances[index].id] = normalize_text(utterances[index].text)
                hyps[utterances[index].id] = self.tokenizer.decode(ids)
        self.model.train()
        return total_loss / max(count, 1), score_texts(refs, hyps).wer

    def _end_of_epoch(self, train_loss: float) -> None:
        record: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step, "train_loss": train_loss}
        if self.dist.is_main and self.dev_utts:
            record["dev_loss"], record["dev_wer"] = self.evaluate(self.dev_utts)
            self.writer.add("dev/loss", record["dev_loss"], self.step)
            self.writer.add("dev/wer", record["dev_wer"], self.step)
        self.writer.add("train/epoch_loss", train_loss, self.step)
        log.info("epoch %d: train loss %.4f%s", self.epoch + 1, train_loss,
                 f", dev loss {record['dev_loss']:.4f}, dev WER {record['dev_wer']:.2f}%"
                 if "dev_wer" in record else "")
        self.history.append(record)
        if self.dist.is_main:
            snapshot = self.ckpt_dir / f"epoch-{self.epoch + 1:03d}.pt"
            with atomic_open(snapshot, "wb") as f:
                torch.save(self.model.state_dict(), f)
        self.epoch += 1
        self.batches_done = 0
        self.epoch_loss = [0.0, 0]
        self._save()
        if self.dist.is_main:
            self._prune_snapshots()
        self.dist.barrier()

    def _best_epoch(self) -> int:
        scored = [r for r in self.history if "dev_wer" in r]
        if not scored:
            return self.history[-1]["epoch"]
        return min(scored, key=lambda r: (r["dev_wer"], r["dev_loss"]))["epoch"]

    def _prune_snapshots(self) -> None:
        keep = {self._best_epoch()} | {r["epoch"] for r in self.history[-self.config.run.average_last:]}
        for path in self.ckpt_dir.glob("epoch-*.pt"):
            if int(path.stem.split("-")[1]) not in keep:
                path.unlink()

    # ------------------------------------------------------------------ packages
    def _package(self, state_dict: dict[str, torch.Tensor], kind: str) -> ModelPackage:
        return ModelPackage(
            model_config=self.model_config, tokenizer=self.tokenizer,
            cmvn_mean=self.cmvn.mean.cpu(), cmvn_std=(1.0 / self.cmvn.inv_std).cpu(),
            state_dict=state_dict, features=self.feature_args, config=to_dict(self.config),
            decoding={"decoder": "greedy"},
            info={"kind": kind, "epochs": self.epoch, "steps": self.step, "history": self.history,
                  "train_hours": sum(u.duration for u in self.train_utts) / 3600,
                  "train_seconds": self.train_seconds,
                  "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
                  "world_size": self.dist.world_size,
                  "date": datetime.datetime.now().isoformat(timespec="seconds")},
        )

    def write_packages(self) -> Path:
        """model_last.pt, model_best.pt, model_avg.pt and model.pt (the configured one)."""
        run = self.config.run
        last = {k: v.cpu() for k, v in self.model.state_dict().items()}
        recent = [r["epoch"] for r in self.history[-run.average_last:]]
        snapshots = [self.ckpt_dir / f"epoch-{e:03d}.pt" for e in recent]
        averaged = average_state_dicts([p for p in snapshots if p.exists()] or [])  \
            if any(p.exists() for p in snapshots) else last
        best_path = self.ckpt_dir / f"epoch-{self._best_epoch():03d}.pt"
        best = torch.load(best_path, map_location="cpu", weights_only=True) if best_path.exists() else last
        packages = {"last": last, "best": best, "average": averaged}
        names = {"last": "model_last.pt", "best": "model_best.pt", "average": "model_avg.pt"}
        for kind, weights in packages.items():
            self._package(weights, kind).save(self.exp_dir / names[kind])
        final = self.exp_dir / "model.pt"
        self._package(packages[run.final_model], run.final_model).save(final)
        log.info("wrote %s (%s of epochs %s)", final, run.final_model,
                 recent if run.final_model == "average" else self._best_epoch()
                 if run.final_model == "best" else self.epoch)
        return final

    def train(self) -> Path | None:
        """Run the remaining epochs; returns the path of model.pt (on the main process)."""
        run = self.config.run
        log.info("model: %d layers x %d units per direction, %.2fM parameters; %d steps per epoch; "
                 "device %s, %d process(es)", self.model_config.num_layers, self.model_config.hidden_size,
                 self.model.num_parameters() / 1e6, self.steps_per_epoch, self.device, self.dist.world_size)
        try:
            while self.epoch < run.epochs:
                train_loss = self._train_epoch()
                self._end_of_epoch(train_loss)
            if self.dist.is_main and self.history:
                return self.write_packages()
            return None
        finally:
            self.writer.close()
            self.dist.close()


def train_acoustic_model(config: AcousticTrainConfig, train: str, dev: str | None, exp: str,
                         resume: bool = False, tokenizer: str | None = None,
                         cmvn: str | None = None) -> Path | None:
    return AcousticTrainer(config, train, dev, exp, resume, tokenizer, cmvn).train()
