"""Greedy (best path) CTC decoding."""

from __future__ import annotations

import torch


def ctc_greedy_search(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path per utterance, repeats collapsed and blanks removed.

    log_probs [B, T, V], lengths [B] -> token id lists. Vectorized over the batch: a frame's
    token is kept when it is not blank, differs from the previous frame's token, and lies
    inside the utterance.
    """
    best = log_probs.argmax(dim=-1)  # [B, T]
    previous = torch.nn.functional.pad(best[:, :-1], (1, 0), value=blank)
    inside = torch.arange(best.shape[1], device=best.device)[None, :] < lengths.to(best.device)[:, None]
    keep = (best != blank) & (best != previous) & inside
    best, keep = best.cpu(), keep.cpu()
    return [row[mask].tolist() for row, mask in zip(best, keep)]
