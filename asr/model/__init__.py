"""Models: the BiLSTM-CTC acoustic model and the LSTM language model, and what they share."""

from __future__ import annotations

import torch


def length_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """[B, frames] bool, True where the position is inside each row's length (lengths [B]; on
    lengths' device)."""
    return torch.arange(frames, device=lengths.device) < lengths[:, None]
