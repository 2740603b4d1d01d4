"""Acoustic-model training with CTC: `asr train`.

One process per device; several through torchrun (DDP). The machinery (checkpoints, exact
resume, AMP, logs, averaging) is `asr.train.loop.Trainer`; this module adds what is specific
to the acoustic model: audio batches, features on the training device, CTC loss, dev WER.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import torch

from asr.config import to_dict
from asr.data.dataset import Batch, SpeechDataset, collate
from asr.data.manifest import Utterance, read_manifest
from asr.data.mix import WeightedCorpusSampler, check_weight, draw_epoch, parse_corpus_arg
from asr.data.sampler import FRAMES_PER_SECOND, DurationBucketSampler, make_batches
from asr.decode.greedy import ctc_greedy_search
from asr.errors import AsrError
from asr.features import (
    GlobalCMVN,
    LogMel,
    SpecAugment,
    check_cmvn_features,
    load_cmvn_stats,
    save_cmvn_stats,
)
from asr.model.acoustic import AcousticModel, AcousticModelConfig
from asr.package import ModelPackage
from asr.plural import plural
from asr.score import score_texts
from asr.text import CharTokenizer, load_tokenizer, normalize_text
from asr.train.cmvn import cmvn_from_utterances
from asr.train.config import AcousticTrainConfig, CorpusSection
from asr.train.loop import Trainer, make_loader

log = logging.getLogger("asr")


class AcousticTrainer(Trainer):
    """Trains a BiLSTM-CTC model in exp_dir and writes exp_dir/model.pt.

    `train`: a training manifest, `MANIFEST:WEIGHT`, or several of them (a weighted mix of
    corpora, asr.data.mix); None takes the config's data.train. The resolved list is written
    back into the config, so EXP/config.yaml and the model packages record it."""

    best_metric = "dev_wer"

    def __init__(self, config: AcousticTrainConfig, train: str | Sequence[str] | None, dev_manifest: str | None,
                 exp_dir: str, resume: bool = False, tokenizer: str | None = None, cmvn: str | None = None):
        config = with_corpora(config, train)
        super().__init__(config, exp_dir, resume)
        self.tokenizer = load_tokenizer(tokenizer) if tokenizer else CharTokenizer()
        self.corpora = config.data.train
        # every manifest read (and checked) before any is reported on: a bad one is the only line
        manifests = [read_manifest(c.manifest, require_text=True) for c in self.corpora]
        self.corpus_utts = [self._usable(utts, c.manifest, "train") for c, utts in zip(self.corpora, manifests)]
        self.train_utts = [u for utts in self.corpus_utts for u in utts]  # the sampler's indices
        self.mixing = len(self.corpora) > 1 or config.data.epoch_utterances > 0
        self.dev_utts = (self._usable(read_manifest(dev_manifest, require_text=True), dev_manifest, "dev")
                         if dev_manifest else [])

        feat = config.features
        self.feature_args = feat.logmel_args()
        self.logmel = LogMel(**self.feature_args).to(self.device)
        self.cmvn = self._cmvn(cmvn).to(self.device)
        aug = config.specaugment
        self.specaug = SpecAugment(aug.freq_masks, aug.freq_width, aug.time_masks, aug.time_width,
                                   aug.time_width_ratio).to(self.device) if aug.enabled else None

        m = config.model
        self.model_config = AcousticModelConfig(
            input_dim=feat.n_mels, stack=m.stack, num_layers=m.num_layers, hidden_size=m.hidden_size,
            dropout=m.dropout, vocab_size=self.tokenizer.vocab_size)
        model = AcousticModel(self.model_config)
        if m.init and not self.resume:
            self._initialize(model, m.init)
        self.setup_model(model)
        self.setup_optimization([u.duration * FRAMES_PER_SECOND for u in self.train_utts],
                                config.data.max_frames, config.data.max_batch_size, config.optim)

    # ------------------------------------------------------------------ set-up
    def _usable(self, utts: list[Utterance], path: str, name: str) -> list[Utterance]:
        """The utterances of manifest `path` short enough to train on (logged); AsrError if none."""
        limit = self.config.data.max_duration
        kept = [u for u in utts if u.duration <= limit]
        if len(kept) < len(utts):
            log.info("%s: skipping %s longer than data.max_duration=%.1fs",
                     path, plural(len(utts) - len(kept), "utterance"), limit)
        if not kept:
            raise AsrError(f"{path}: no {name} utterances of at most {limit}s")
        hours = sum(u.duration for u in kept) / 3600
        log.info("%s set: %s, %.2f hours (%s)", name, plural(len(kept), "utterance"), hours, path)
        return kept

    def _initialize(self, model: AcousticModel, source: str) -> None:
        """Start from the acoustic weights of package `source` (model.init): AsrError when its
        layers or token set differ from this run's."""
        package = ModelPackage.load(source)
        if package.tokenizer.to_dict() != self.tokenizer.to_dict():
            raise AsrError(f"model.init={source}: its token set differs from this run's (--tokenizer)")
        shape = ("input_dim", "stack", "num_layers", "hidden_size")  # dropout may differ
        theirs, ours = ({k: getattr(c, k) for k in shape} for c in (package.model_config, self.model_config))
        if theirs != ours:
            raise AsrError(f"model.init={source}: its model {theirs} differs from this run's {ours}; "
                           "set model.* to match")
        model.load_state_dict(package.state_dict)
        log.info("acoustic weights from %s (model.init)", source)

    def _cmvn(self, source: str | None) -> GlobalCMVN:
        """CMVN statistics from `source` or from (a random subset of) the training set, kept in
        the exp folder so that a resumed run uses the same ones."""
        path = self.exp_dir / "cmvn.pt"
        if self.dist.is_main and not path.exists():
            if source:
                stats = load_cmvn_stats(source)
                check_cmvn_features(stats, self.feature_args, source)
                mean, std = stats["mean"], stats["std"]
            else:
                limit = self.config.features.cmvn_max_utterances
                # from the first epoch's draw, so that the statistics follow the corpus weights
                # (with one corpus: the whole training set, as before mixing existed)
                drawn = draw_epoch([len(u) for u in self.corpus_utts], [c.weight for c in self.corpora],
                                   self.config.data.epoch_utterances or len(self.train_utts), self.run.seed, 0)
                utts = [self.corpus_utts[c][i] for c, items in enumerate(drawn) for i in items]
                mean, std = cmvn_from_utterances(utts, self.logmel, limit, self.run.seed,
                                                 self.config.data.num_workers, self.device)
                log.info("CMVN statistics from %s", plural(min(len(utts), limit), "utterance"))
            save_cmvn_stats(mean, std, path, self.feature_args)
        self.dist.barrier()
        stats = load_cmvn_stats(path)
        check_cmvn_features(stats, self.feature_args, str(path))  # e.g. an experiment begun before the setting
        return GlobalCMVN(stats["mean"], stats["std"])

    def describe(self) -> str:
        m = self.model_config
        mix = f"; {self.sampler.describe([c.manifest for c in self.corpora])}" if self.mixing else ""
        return (f"BiLSTM-CTC {plural(m.num_layers, 'layer')} x {m.hidden_size} per direction, {m.vocab_size} tokens, "
                f"{super().describe()}{mix}")

    def make_sampler(self, sizes: Sequence[float], max_total: float, max_batch_size: int) -> DurationBucketSampler:
        return WeightedCorpusSampler(sizes, [len(u) for u in self.corpus_utts], [c.weight for c in self.corpora],
                                     max_total, max_batch_size, seed=self.run.seed, num_replicas=self.dist.world_size,
                                     rank=self.dist.rank, epoch_size=self.config.data.epoch_utterances)

    # ------------------------------------------------------------------ batches and loss
    def make_train_loader(self, batches: list[list[int]]) -> torch.utils.data.DataLoader:
        if self.mixing and self.dist.is_main:  # called once an epoch (and session), the sampler set to it
            log.info("epoch %d draws %s", self.epoch + 1, ", ".join(
                f"{plural(n, 'utterance')} ({frames / FRAMES_PER_SECOND / 3600:.2f} h) from {c.manifest}"
                for c, (n, frames) in zip(self.corpora, self.sampler.epoch_mix())))
        data = self.config.data
        dataset = SpeechDataset(self.train_utts, self.tokenizer, data.speed_perturb, seed=self.run.seed,
                                epoch=self.epoch, level_prob=data.level_prob, level_gain_db=data.level_gain_db)
        return make_loader(dataset, batches, collate, self.config.data.num_workers, self.device.type == "cuda")

    def _features(self, batch: Batch, train: bool, causal_block: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [B, T, n_mels] on the training device, frame lengths [B] on the CPU).

        The lengths are counted on the host from the sample counts: packing the sequences needs
        them there, and reading them back from the GPU would make every step wait for it."""
        waves = batch.waveforms.to(self.device, non_blocking=True)
        lengths = batch.waveform_lengths.to(self.device, non_blocking=True)
        with torch.no_grad():
            feats, device_lengths = self.logmel(waves, lengths, causal_block)
            feats = self.cmvn(feats, device_lengths)
            if train and self.specaug is not None:
                feats = self.specaug(feats, device_lengths)
        return feats, self.logmel.num_frames(batch.waveform_lengths)

    def _ctc_loss(self, model: torch.nn.Module, batch: Batch, train: bool, chunking: dict | None = None):
        """chunking: {"chunk": C, "right_context": R} for chunked mode; in training drawn per step
        (streaming.chunk_prob), so that one model serves full-utterance and streaming recognition."""
        if train:
            chunking = self._draw_chunking()
        # a chunked (streaming) batch hears the level as a stream would: from the frames so far
        causal_block = chunking["chunk"] * self.model_config.stack if chunking else None
        feats, frame_lengths = self._features(batch, train, causal_block)
        with self.autocast():
            log_probs, out_lengths = model(feats, frame_lengths, **(chunking or {}))
        return self.ctc_loss(log_probs, frame_lengths, batch), log_probs, out_lengths

    def _draw_chunking(self) -> dict | None:
        """Chunked mode for this step with probability streaming.chunk_prob; deterministic in
        (seed, step), so every DDP rank and a resumed run draw the same."""
        s = self.config.streaming
        if s.chunk_prob <= 0:
            return None
        rng = random.Random(self.run.seed * 1_000_003 + self.step)
        if rng.random() >= s.chunk_prob:
            return None
        return {"chunk": rng.choice(s.chunk_sizes), "right_context": rng.choice(s.right_contexts)}

    def ctc_loss(self, log_probs: torch.Tensor, frame_lengths: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Mean over utterances of CTC loss / target length. log_probs [B, T', V], frame_lengths
        [B] (10 ms frames, on the CPU)."""
        # lengths on the CPU, as ctc_loss wants them (CUDA ones it would copy back, waiting for
        # the GPU); output frames per utterance as in stack_frames
        stack = self.model_config.stack
        return torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1).float(), batch.tokens.to(self.device, non_blocking=True),
            (frame_lengths + stack - 1) // stack, batch.token_lengths, blank=self.tokenizer.BLANK,
            reduction="mean", zero_infinity=True)

    def batch_loss(self, batch: Batch) -> torch.Tensor | None:
        if not len(batch):
            return None
        return self._ctc_loss(self.ddp_model, batch, train=True)[0]

    def loss_items(self, batch: Batch) -> float:
        return float(len(batch))  # the CTC loss is a mean over utterances

    def split_batch(self, batch: Batch) -> list[tuple[Batch, float]] | None:
        """Halves by utterance, weighted by their share of the rows (the CTC loss is a mean
        over utterances); used by the trainer when a batch runs out of memory."""
        if len(batch) < 2:
            return None
        halves = []
        for rows in (slice(0, len(batch) // 2), slice(len(batch) // 2, None)):
            waves, tokens = batch.waveform_lengths[rows], batch.token_lengths[rows]
            half = Batch(batch.indices[rows], batch.waveforms[rows, :int(waves.max())], waves,
                         batch.tokens[rows, :max(int(tokens.max()), 1)], tokens, [])
            halves.append((half, len(half) / len(batch)))
        return halves

    def evaluate(self) -> dict[str, float]:
        """Dev CTC loss (same normalization as training) and greedy WER in %; with chunked
        training also the greedy WER in chunked mode (dev_wer_streaming)."""
        if not self.dev_utts:
            return {}
        utts = self.dev_utts
        batches = make_batches([u.duration * FRAMES_PER_SECOND for u in utts], self.config.data.max_frames,
                               self.config.data.max_batch_size, seed=None)
        loader = make_loader(SpeechDataset(utts, self.tokenizer), batches, collate,
                             self.config.data.num_workers, False)
        s = self.config.streaming
        chunking = {"chunk": s.eval_chunk, "right_context": s.eval_right_context} if s.chunk_prob > 0 else None
        total_loss, count, refs, hyps, streaming_hyps = 0.0, 0, {}, {}, {}
        for batch in loader:
            if not len(batch):
                continue
            loss, log_probs, out_lengths = self._ctc_loss(self.model, batch, train=False)
            total_loss += float(loss) * len(batch)
            count += len(batch)
            for index, ids in zip(batch.indices, ctc_greedy_search(log_probs, out_lengths)):
                refs[utts[index].id] = normalize_text(utts[index].text)
                hyps[utts[index].id] = self.tokenizer.decode(ids)
            if chunking:
                _, log_probs, out_lengths = self._ctc_loss(self.model, batch, train=False, chunking=chunking)
                for index, ids in zip(batch.indices, ctc_greedy_search(log_probs, out_lengths)):
                    streaming_hyps[utts[index].id] = self.tokenizer.decode(ids)
        metrics = {"dev_loss": total_loss / max(count, 1), "dev_wer": score_texts(refs, hyps).wer}
        if chunking:
            metrics["dev_wer_streaming"] = score_texts(refs, streaming_hyps).wer
        return metrics

    # ------------------------------------------------------------------ packages
    def make_package(self, state_dict: dict[str, torch.Tensor], kind: str) -> ModelPackage:
        info = self.provenance(kind)
        info["train_hours"] = sum(u.duration for u in self.train_utts) / 3600
        info["corpora"] = [{"manifest": c.manifest, "weight": c.weight, "utterances": len(utts),
                            "hours": sum(u.duration for u in utts) / 3600}
                           for c, utts in zip(self.corpora, self.corpus_utts)]
        return ModelPackage(
            model_config=self.model_config, tokenizer=self.tokenizer,
            cmvn_mean=self.cmvn.mean.cpu(), cmvn_std=(1.0 / self.cmvn.inv_std).cpu(),
            state_dict=state_dict, features=self.feature_args, config=to_dict(self.config),
            decoding={"decoder": "greedy"}, info=info)


def with_corpora(config: AcousticTrainConfig, train: str | Sequence[str] | None) -> AcousticTrainConfig:
    """`config` with data.train set to the corpora of `train` (each `MANIFEST[:WEIGHT]`), or
    its own data.train checked when `train` is None; AsrError when there is none or a weight
    is not a positive number."""
    if train is not None:
        corpora = [CorpusSection(*parse_corpus_arg(spec)) for spec in ([train] if isinstance(train, str) else train)]
    else:
        corpora = [CorpusSection(c.manifest, check_weight(c.weight, c.manifest or f"data.train[{i}]"))
                   for i, c in enumerate(config.data.train)]
    if not corpora:
        raise AsrError("no training data: give --train MANIFEST[:WEIGHT] (repeatable) or data.train in the config")
    if not all(c.manifest for c in corpora):
        raise AsrError("data.train: every corpus needs a manifest")
    if config.data.epoch_utterances < 0:
        raise AsrError(f"data.epoch_utterances={config.data.epoch_utterances}: must be 0 (all) or positive")
    return replace(config, data=replace(config.data, train=corpora))


def train_acoustic_model(config: AcousticTrainConfig, train: str | Sequence[str] | None, dev: str | None, exp: str,
                         resume: bool = False, tokenizer: str | None = None,
                         cmvn: str | None = None) -> Path | None:
    return AcousticTrainer(config, train, dev, exp, resume, tokenizer, cmvn).train()
