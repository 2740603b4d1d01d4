"""Which frames the CTC prefix beam search must expand, and the closed form for the others.

With token pruning by log-prob (`token_min_logprob`), a frame on which no non-blank token
reaches the threshold cannot extend any prefix: every hypothesis only "stays" (blank, or a
repeat of its last token). In a trained CTC model more than half of the frames are like that.
A run of such frames [s, e) changes a prefix y with last token c in closed form:

    p_nb'(y) = p_nb(y) + sum_{t in [s,e)} x_t[c]                          (c repeated throughout)
    p_b'(y)  = logadd( p_b(y) + sum_t x_t[blank],                         (blank throughout)
                       p_nb(y) + logadd_{k in [s,e)} (sum_{s<=t<k} x_t[c] + sum_{k<=t<e} x_t[blank]) )
                                                                           (c until k, then blank)

so the search loops only over the frames that can extend a prefix ("expanded" frames) and
applies each run in one step. The beam's set of prefixes cannot change inside a run, so this is
the same search as expanding every frame with the same pruning, computed with fewer frame steps.
The per-run quantities are accumulated for all utterances at once, before the search, by a
loop over frames of a few [B, V] operations each (the same float arithmetic as stepping through
the frames one by one).

The schedule also sorts each expanded frame's candidate tokens once, so a search step takes the
`widths[s]` best of them (the most that pass the pruning in any utterance at that step) by slicing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

# Candidate tokens are sorted per frame only when at every step fewer than this share of them
# pass the pruning in each utterance of the batch (else slicing the sorted list saves little).
_SORT_WHEN_WIDTH_BELOW = 0.75


@dataclass
class FrameSchedule:
    """The frames the search steps through. Shapes: B utterances, S steps, V tokens, C candidates.

    frames [B, S, V]: log-probs of the frame each utterance expands at each step.
    active [B, S] bool: the utterance has a frame at that step (else it waits, unchanged).
    ext_tokens [B, S, C] long, ext_logprobs [B, S, C]: the tokens that may extend a prefix at
        each step, best first, and their log-probs (-inf where pruned); widths[s] <= C: how many
        of them step s needs. All three None when every non-blank token is a candidate at every
        frame (no pruning): then step s takes them from `frames` directly.
    run_blank [B, S + 1], run_repeat [B, S + 1, V], run_to_blank [B, S + 1, V]: for the run of
        non-expanded frames just before step s (s = S: after the last expanded frame), the sum of
        x[blank], the sum of x[c], and logadd_k (sum_{t<k} x_t[c] + sum_{t>=k} x_t[blank]) over
        the run (0, 0, -inf for an empty run). None when every frame is expanded.
    """

    frames: torch.Tensor
    active: torch.Tensor
    ext_tokens: torch.Tensor | None = None
    ext_logprobs: torch.Tensor | None = None
    widths: list[int] | None = None
    run_blank: torch.Tensor | None = None
    run_repeat: torch.Tensor | None = None
    run_to_blank: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        return self.frames.shape[1]

    @cached_property
    def all_active(self) -> list[bool]:
        """Per step: every utterance has a frame (read once, so the search need not sync)."""
        return self.active.all(dim=0).tolist()

    def extensions(self, step: int, blank: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidate tokens [B, C] and their log-probs [B, C] at `step`."""
        if self.ext_tokens is None:
            frame = self.frames[:, step]
            tokens = _non_blank_ids(frame.shape[1], blank, frame.device).expand(frame.shape[0], -1)
            return tokens, _without_blank(frame, blank)
        width = self.widths[step]
        return self.ext_tokens[:, step, :width], self.ext_logprobs[:, step, :width]


def plan_frames(log_probs: torch.Tensor, lengths: torch.Tensor, token_top_k: int | None,
                token_min_logprob: float | None, blank: int = 0) -> FrameSchedule:
    """The schedule of the search over log_probs [B, T, V] with lengths [B] (on log_probs' device)."""
    batch, frames, vocab = log_probs.shape
    top_k = vocab - 1 if token_top_k is None else min(token_top_k, vocab - 1)
    valid = torch.arange(frames, device=log_probs.device) < lengths[:, None]  # [B, T]
    prune = token_min_logprob is not None and token_min_logprob > float("-inf")
    if not prune or batch == 0:
        steps = int(lengths.max()) if batch else 0
        log_probs, valid = log_probs[:, :steps], valid[:, :steps]
        if top_k == vocab - 1:
            return FrameSchedule(log_probs, valid)
        tokens, values = _best_tokens(log_probs, top_k, blank)
        return FrameSchedule(log_probs, valid, tokens, values, [top_k] * steps)

    non_blank = _without_blank(log_probs, blank)
    passing = (non_blank >= token_min_logprob).sum(dim=2).clamp(max=top_k)  # [B, T] possible extensions
    expanded = valid & (passing > 0)
    counts = expanded.sum(dim=1)
    steps = int(counts.max())
    # Expanded frames first, in time order (a stable sort of the "not expanded" flags).
    order = torch.sort((~expanded).to(torch.uint8), dim=1, stable=True).indices[:, :steps]
    chosen = log_probs.gather(1, order[:, :, None].expand(-1, -1, vocab))
    active = torch.arange(steps, device=log_probs.device) < counts[:, None]
    passing = passing.gather(1, order).masked_fill(~active, 0)
    widths = passing.max(dim=0).values.clamp(min=1).tolist() if steps else []
    runs = _run_quantities(log_probs, valid, expanded, steps, blank)
    if top_k == vocab - 1 and max(widths, default=1) > _SORT_WHEN_WIDTH_BELOW * top_k:
        # Most tokens pass somewhere in the batch at most steps: sorting would not pay off, so
        # every non-blank token is a candidate, those below the threshold at -inf.
        values = non_blank.gather(1, order[:, :, None].expand(-1, -1, vocab - 1))
        values = values.masked_fill(values < token_min_logprob, float("-inf"))
        tokens = _non_blank_ids(vocab, blank, log_probs.device).expand(batch, steps, -1)
        return FrameSchedule(chosen, active, tokens, values, [top_k] * steps, *runs)
    tokens, values = _best_tokens(chosen, max(widths, default=1), blank)
    values = values.masked_fill(values < token_min_logprob, float("-inf"))
    return FrameSchedule(chosen, active, tokens, values, widths, *runs)


def _non_blank_ids(vocab: int, blank: int, device: torch.device) -> torch.Tensor:
    """Token ids 0..vocab-1 without the blank [vocab - 1], in order."""
    ids = torch.arange(vocab, device=device)
    return torch.cat([ids[:blank], ids[blank + 1:]])


def _without_blank(log_probs: torch.Tensor, blank: int) -> torch.Tensor:
    """log_probs [..., V] without the blank's column -> [..., V - 1] (columns in _non_blank_ids order)."""
    return torch.cat([log_probs[..., :blank], log_probs[..., blank + 1:]], dim=-1)


def _best_tokens(log_probs: torch.Tensor, count: int, blank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` most probable non-blank tokens of each frame of log_probs [B, S, V], best
    first: ids [B, S, count] and log-probs [B, S, count]."""
    without_blank = log_probs.clone()
    without_blank[..., blank] = float("-inf")
    values, tokens = without_blank.topk(count, dim=2)
    return tokens, values


def _run_quantities(log_probs: torch.Tensor, valid: torch.Tensor, expanded: torch.Tensor, steps: int,
                    blank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """run_blank [B, S+1], run_repeat [B, S+1, V], run_to_blank [B, S+1, V] (see FrameSchedule).

    Accumulates each run frame by frame for all utterances at once, restarting at every frame
    that is not in a run, then files each run's totals (those at its last frame) under its index.
    """
    batch, _, vocab = log_probs.shape
    device, dtype = log_probs.device, log_probs.dtype
    in_run = valid & ~expanded
    frames = int(valid.sum(dim=1).max())  # the longest utterance: later frames are in no run
    # totals[:, t] = [x_blank summed, x summed (V), leaving c for blank (V)] over the run up to
    # frame t; (0, 0, -inf) at frames in no run, so the next run starts from there.
    x = log_probs[:, :frames]
    keep = in_run[:, :frames, None]
    increment = torch.cat([x[:, :, blank, None], x], dim=2)  # [B, T, 1 + V]
    to_blank_reset = torch.zeros(batch, frames, 1, device=device, dtype=dtype).masked_fill_(~keep, float("-inf"))
    to_blank_increment = x[:, :, blank, None] + to_blank_reset
    totals = torch.empty(batch, frames, 1 + 2 * vocab, device=device, dtype=dtype)
    previous = torch.zeros(batch, 1 + 2 * vocab, device=device, dtype=dtype)
    previous[:, vocab + 1:] = float("-inf")
    sums, to_blank = slice(0, vocab + 1), slice(vocab + 1, None)
    for t in range(frames):  # four ops per frame, written in place
        now = totals[:, t]
        torch.logaddexp(previous[:, to_blank], previous[:, 1:vocab + 1], out=now[:, to_blank])
        now[:, to_blank] += to_blank_increment[:, t]
        torch.add(previous[:, sums], increment[:, t], out=now[:, sums])
        now[:, sums].masked_fill_(~keep[:, t], 0.0)
        previous = now
    # The run a frame belongs to: expanded frames before it; only last frames of runs are filed.
    run = (torch.cumsum(expanded, dim=1) - expanded.long())[:, :frames]
    in_run = in_run[:, :frames]
    last_of_run = in_run & ~torch.cat([in_run[:, 1:], torch.zeros_like(in_run[:, :1])], dim=1)
    slot = torch.where(last_of_run, run, steps + 1)  # steps + 1: a spare slot, dropped
    filed = torch.zeros(batch, steps + 2, 1 + 2 * vocab, device=device, dtype=dtype)
    filed[:, :, vocab + 1:] = float("-inf")
    filed.scatter_(1, slot[:, :, None].expand(-1, -1, filed.shape[2]), totals)
    filed = filed[:, : steps + 1]
    return filed[:, :, 0], filed[:, :, 1:vocab + 1], filed[:, :, vocab + 1:]
