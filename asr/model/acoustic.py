"""The BiLSTM-CTC acoustic model.

features [B, T, 80] -> stack 3 frames (30 ms) -> N bidirectional LSTM layers -> linear
-> log-softmax over tokens [B, ceil(T / 3), V], blank = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


@dataclass
class AcousticModelConfig:
    """Shape of the acoustic model. `vocab_size` comes from the tokenizer."""

    input_dim: int = 80
    stack: int = 3  # frames stacked into one, which is also the subsampling factor
    num_layers: int = 5
    hidden_size: int = 320  # per direction
    dropout: float = 0.2  # between LSTM layers and before the output layer
    vocab_size: int = 29


def stack_frames(feats: torch.Tensor, lengths: torch.Tensor, stack: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate `stack` consecutive frames: [B, T, D] -> [B, ceil(T / stack), stack * D].

    The last group of an utterance is completed with zero frames (the CMVN mean), so the
    result for an utterance does not depend on what else is in the batch.
    """
    if stack == 1:
        return feats, lengths
    batch, time, dim = feats.shape
    padded = -(-time // stack) * stack
    if padded != time:
        feats = nn.functional.pad(feats, (0, 0, 0, padded - time))
    return feats.reshape(batch, padded // stack, stack * dim), (lengths + stack - 1) // stack


class AcousticModel(nn.Module):
    """Frame stacking, a bidirectional LSTM stack, and a linear layer to token log-probs.

    forward(features [B, T, D], lengths [B]) -> (log_probs [B, T', V] float32, lengths [B]),
    T' = ceil(T / stack). Padded sequences are packed so cuDNN skips the padding on GPU.
    """

    def __init__(self, config: AcousticModelConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            input_size=config.input_dim * config.stack,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=True,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(2 * config.hidden_size, config.vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, out_lengths = stack_frames(feats, lengths, self.config.stack)
        packed = pack_padded_sequence(x, out_lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, _ = self.lstm(packed)
        x, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
        logits = self.output(self.dropout(x))
        return logits.float().log_softmax(dim=-1), out_lengths.to(logits.device)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
