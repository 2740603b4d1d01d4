"""Language-model training: `asr train-lm`. The machinery is `asr.train.loop.Trainer`; this adds
text batches, the cross-entropy loss and dev perplexity per token and per word."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import torch

from asr.config import to_dict
from asr.data.sampler import make_batches
from asr.data.text_corpus import TokenCorpus, collate_sentences, read_text_lines
from asr.model.lm import LanguageModelConfig, LstmLM
from asr.package import LmPackage
from asr.plural import plural
from asr.text import Tokenizer
from asr.train.config import LmTrainConfig
from asr.train.loop import Trainer, make_loader

log = logging.getLogger("asr")


def _count_words(lines: Sequence[str]) -> int:
    return sum(len(line.split()) for line in lines)


class LanguageModelTrainer(Trainer):
    """Trains an LSTM LM over `tokenizer`'s tokens and writes exp_dir/model.pt (an LmPackage)."""

    best_metric = "dev_loss"

    def __init__(self, config: LmTrainConfig, texts: Sequence[str], dev_text: str | None, exp_dir: str,
                 tokenizer: Tokenizer, resume: bool = False):
        super().__init__(config, exp_dir, resume)
        self.tokenizer = tokenizer
        data = config.data
        lines = (line for path in texts for line in read_text_lines(path))
        self.train_corpus = TokenCorpus.encode(lines, tokenizer, data.max_length, data.max_sentences,
                                               desc="training text")
        log.info("training text: %d sentences, %d tokens (%s)", len(self.train_corpus),
                 self.train_corpus.num_tokens(), ", ".join(map(str, texts)))
        self.dev_corpus, self.dev_words = None, 0
        if dev_text:
            dev_lines = list(read_text_lines(dev_text))
            self.dev_corpus = TokenCorpus.encode(dev_lines, tokenizer, 10**9, desc="dev text")
            self.dev_words = _count_words(dev_lines)
        m = config.model
        self.model_config = LanguageModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=m.embed_dim,
                                                hidden_size=m.hidden_size, num_layers=m.num_layers,
                                                dropout=m.dropout)
        self.setup_model(LstmLM(self.model_config))
        self.setup_optimization((self.train_corpus.lengths() + 1).tolist(), data.max_tokens,
                                data.max_batch_size, config.optim)

    def describe(self) -> str:
        m = self.model_config
        return (f"LSTM LM {plural(m.num_layers, 'layer')} x {m.hidden_size}, {m.vocab_size} tokens, "
                f"{super().describe()}")

    def make_train_loader(self, batches: list[list[int]]) -> torch.utils.data.DataLoader:
        return make_loader(self.train_corpus, batches, collate_sentences, self.config.data.num_workers,
                           self.device.type == "cuda")

    def _token_losses(self, model: torch.nn.Module, batch) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets, lengths = (t.to(self.device, non_blocking=True) for t in batch)
        with self.autocast():
            logits = model(inputs, lengths)
        losses = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), targets,
                                                   ignore_index=-100, reduction="none")
        return losses, targets != -100

    def batch_loss(self, batch) -> torch.Tensor:
        losses, mask = self._token_losses(self.ddp_model, batch)
        return losses.sum() / mask.sum()

    def loss_items(self, batch) -> float:
        # the loss is a mean over the batch's target tokens: each sentence's tokens + its end
        return float(batch[2].sum())

    def split_batch(self, batch) -> list[tuple[tuple[torch.Tensor, ...], float]] | None:
        """Halves by sentence; each half's weight is its share of the target tokens, because
        the loss is a mean over the batch's tokens."""
        inputs, targets, lengths = batch
        if len(lengths) < 2:
            return None
        tokens = (targets != -100).sum()
        halves = []
        for rows in (slice(0, len(lengths) // 2), slice(len(lengths) // 2, None)):
            width = int(lengths[rows].max())
            half = (inputs[rows, :width], targets[rows, :width], lengths[rows])
            halves.append((half, float((half[1] != -100).sum() / tokens)))
        return halves

    def evaluate(self) -> dict[str, float]:
        """Dev cross-entropy per token (nats), perplexity per token and per word. Both count
        the end of each sentence, as SRILM's ppl does; words are whitespace-separated."""
        if self.dev_corpus is None:
            return {}
        batches = make_batches((self.dev_corpus.lengths() + 1).tolist(), self.config.data.max_tokens,
                               self.config.data.max_batch_size, seed=None)
        total, tokens = 0.0, 0
        for batch in make_loader(self.dev_corpus, batches, collate_sentences, 0, False):
            losses, mask = self._token_losses(self.model, batch)
            total += float((losses * mask).sum())
            tokens += int(mask.sum())
        sentences = len(self.dev_corpus)
        return {"dev_loss": total / tokens, "dev_ppl": math.exp(total / tokens),
                "dev_word_ppl": math.exp(total / (self.dev_words + sentences))}

    def make_package(self, state_dict: dict[str, torch.Tensor], kind: str) -> LmPackage:
        info = self.provenance(kind)
        info["train_tokens"] = self.train_corpus.num_tokens()
        return LmPackage(self.model_config, self.tokenizer, state_dict, to_dict(self.config), info)


def train_language_model(config: LmTrainConfig, texts: Sequence[str], dev: str | None, exp: str,
                         tokenizer: Tokenizer, resume: bool = False) -> Path | None:
    return LanguageModelTrainer(config, texts, dev, exp, tokenizer, resume).train()
