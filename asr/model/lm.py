"""The LSTM language model over the acoustic model's tokens.

Token id 0 is the CTC blank, which never occurs in text, so the LM uses it as the sentence
boundary: the input of a sentence is [0, t1 .. tn] and its targets [t1 .. tn, 0]. The same
model scores whole sentences (N-best rescoring) and steps hypotheses one token at a time
(shallow fusion in beam search).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.model import length_mask

LmState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [num_layers, N, hidden]


@dataclass
class LanguageModelConfig:
    vocab_size: int = 29
    embed_dim: int = 256
    hidden_size: int = 1024
    num_layers: int = 2
    dropout: float = 0.2


class LstmLM(nn.Module):
    """Embedding -> LSTM layers -> linear over tokens.

    forward(inputs [B, L], lengths [B]) -> logits [B, L, V].
    """

    BOUNDARY = 0  # sentence start and end (the CTC blank id)

    def __init__(self, config: LanguageModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.lstm = nn.LSTM(config.embed_dim, config.hidden_size, num_layers=config.num_layers,
                            dropout=config.dropout if config.num_layers > 1 else 0.0, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.embedding(inputs))
        if x.is_cuda:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=inputs.shape[1])
        else:
            # On the CPU an LSTM over a packed sequence is several times slower than over the
            # padded batch. Left to right, the padding only follows each sentence, so the padded
            # run is exact up to each length; past it the outputs are zeroed as unpacking does.
            out, _ = self.lstm(x)
            out = out * length_mask(lengths.cpu(), x.shape[1]).to(x.device)[:, :, None]
        return self.output(self.dropout(out))

    @staticmethod
    def sentence_batch(sentences: Sequence[Sequence[int]] | Sequence[np.ndarray], device: torch.device | str = "cpu"
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs [B, L+1], targets [B, L+1] padded with -100, lengths [B]) for token lists."""
        lengths = torch.tensor([len(s) + 1 for s in sentences], dtype=torch.long)
        width = int(lengths.max())
        inputs = torch.zeros(len(sentences), width, dtype=torch.long)
        targets = torch.full((len(sentences), width), -100, dtype=torch.long)
        for row, tokens in enumerate(sentences):
            tokens = torch.as_tensor(tokens, dtype=torch.long)  # lists and numpy arrays alike
            inputs[row, 1: len(tokens) + 1] = tokens
            targets[row, : len(tokens)] = tokens
            targets[row, len(tokens)] = LstmLM.BOUNDARY
        return inputs.to(device), targets.to(device), lengths.to(device)

    @torch.no_grad()
    def sentence_log_probs(self, sentences: Sequence[Sequence[int]]) -> torch.Tensor:
        """log P(sentence) including the end of sentence, for all sentences in one padded pass: [N]."""
        device = self.output.weight.device
        inputs, targets, lengths = self.sentence_batch(sentences, device)
        log_probs = self(inputs, lengths).float().log_softmax(-1)
        mask = targets != -100
        picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (picked * mask).sum(-1)

    # ---------------------------------------------------------------- step-wise scoring (search)
    def initial_state(self, batch_size: int) -> LmState:
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        weight = self.output.weight
        return torch.zeros(shape, device=weight.device, dtype=weight.dtype), \
            torch.zeros(shape, device=weight.device, dtype=weight.dtype)

    @torch.no_grad()
    def score(self, state: LmState, last_tokens: torch.Tensor) -> tuple[torch.Tensor, LmState]:
        """Feed each hypothesis its last token (-1: the prefix is empty, feed the sentence
        start) and return log P(next token | prefix) [N, V] and the new states."""
        tokens = torch.where(last_tokens < 0, torch.full_like(last_tokens, self.BOUNDARY), last_tokens)
        x = self.embedding(tokens.to(self.output.weight.device)).unsqueeze(1)  # [N, 1, E]
        out, (h, c) = self.lstm(x, state)
        return self.output(out[:, 0]).float().log_softmax(-1), (h, c)

    @staticmethod
    def select(state: LmState, indices: torch.Tensor) -> LmState:
        """States of the hypotheses `indices` [M] (gathered, in that order)."""
        h, c = state
        return h[:, indices], c[:, indices]

    @staticmethod
    def concat(states: Sequence[LmState]) -> LmState:
        """States joined along the hypothesis axis, in order."""
        return torch.cat([h for h, _ in states], dim=1), torch.cat([c for _, c in states], dim=1)

    @torch.no_grad()
    def final_score(self, state: LmState) -> torch.Tensor:
        """log P(end of sentence | prefix) [N], from the state after the prefix's last token.
        `state` must come from `score` (the LSTM output of the top layer is its h)."""
        h, _ = state
        return self.output(h[-1]).float().log_softmax(-1)[:, self.BOUNDARY]
