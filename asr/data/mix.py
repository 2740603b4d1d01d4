"""Training on several corpora at once, each with a weight.

The weight of a corpus is its share of every epoch's utterances. An epoch draws
`epoch_size` utterances (by default the corpora's total); corpus c contributes
epoch_size * w_c / sum(w) of them, the fractions carried over from epoch to epoch so that the
long-run share is exact. A corpus is drawn without replacement by walking through seeded
permutations of it, one after the other, across epochs: a small corpus is used up completely
before any utterance repeats, and a large one that is subsampled still has every utterance
used once before any comes back. Everything is a function of (seed, epoch), so a resumed or
distributed run rebuilds the same epoch; the drawn utterances are then bucketed by duration
like a single corpus (`DurationBucketSampler`).
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from asr.data.sampler import DurationBucketSampler
from asr.errors import AsrError
from asr.plural import plural


def check_weight(weight: float, name: str) -> float:
    """`weight` if it is a finite positive number, else an AsrError naming the corpus."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (0 < weight < math.inf):
        raise AsrError(f"{name}: corpus weight {weight!r} is not a positive number")
    return float(weight)


def parse_corpus_arg(text: str) -> tuple[str, float]:
    """`MANIFEST` or `MANIFEST:WEIGHT` -> (manifest, weight); the weight defaults to 1.

    Only the part after the last colon can be a weight, and only when it reads as a number,
    so paths with colons in them still work. `a.jsonl:x` where a.jsonl exists (and
    `a.jsonl:x` does not) is taken for a mistyped weight rather than reported as a missing file.
    """
    path, colon, tail = text.rpartition(":")
    if colon and path:
        try:
            weight = float(tail)
        except ValueError:
            if Path(path).is_file() and not Path(text).exists():
                raise AsrError(f"--train {text}: corpus weight {tail!r} is not a positive number") from None
        else:
            return path, check_weight(weight, path)
    return text, 1.0


def _drawn_before(epoch: int, epoch_size: int, weight: Fraction, total_weight: Fraction) -> int:
    """Utterances drawn from a corpus in the epochs before `epoch` (exact rational arithmetic:
    no rounding drift between epochs or machines)."""
    return math.floor(epoch * epoch_size * weight / total_weight)


def _permutation(length: int, seed: int, corpus: int, cycle: int) -> list[int]:
    order = list(range(length))
    random.Random((seed * 1_000_003 + corpus) * 1_000_003 + cycle).shuffle(order)
    return order


def draw_epoch(lengths: Sequence[int], weights: Sequence[float], epoch_size: int, seed: int,
               epoch: int) -> list[list[int]]:
    """The utterances each corpus contributes to `epoch`: per corpus, indices into it
    (ascending; an index occurs more than once when a small corpus is cycled more than once in
    one epoch). `lengths`: utterances per corpus; `epoch_size`: utterances per epoch in all."""
    shares = [Fraction(w) for w in weights]
    total = sum(shares)
    drawn: list[list[int]] = []
    for corpus, (length, share) in enumerate(zip(lengths, shares)):
        start = _drawn_before(epoch, epoch_size, share, total)
        end = _drawn_before(epoch + 1, epoch_size, share, total)
        items: list[int] = []
        # positions start..end-1 of the corpus's endless stream of permutations
        for cycle in range(start // length, (end - 1) // length + 1) if end > start else ():
            lo, hi = max(start - cycle * length, 0), min(end - cycle * length, length)
            if lo == 0 and hi == length:
                items.extend(range(length))  # a whole cycle: its order does not matter
            else:
                items.extend(_permutation(length, seed, corpus, cycle)[lo:hi])
        drawn.append(sorted(items))
    return drawn


class WeightedCorpusSampler(DurationBucketSampler):
    """`DurationBucketSampler` over the concatenation of several corpora, whose epochs are
    drawn from the corpora by weight (see the module docstring).

    `sizes` are those of all corpora's items, corpus after corpus; `lengths` says how many
    items each corpus has, `weights` its share of an epoch, `epoch_size` the items per epoch
    (0: all corpora's total). With one corpus and the default epoch size every epoch holds
    every item once: the same batches as `DurationBucketSampler`.
    """

    def __init__(self, sizes: Sequence[float], lengths: Sequence[int], weights: Sequence[float],
                 max_total: float, max_batch_size: int = 512, seed: int = 0, shuffle: bool = True,
                 num_replicas: int = 1, rank: int = 0, epoch_size: int = 0):
        super().__init__(sizes, max_total, max_batch_size, seed, shuffle, num_replicas, rank)
        if sum(lengths) != len(self.sizes) or not lengths or min(lengths) <= 0:
            raise ValueError(f"corpus lengths {list(lengths)} do not partition {len(self.sizes)} items")
        if len(weights) != len(lengths):
            raise ValueError("one weight per corpus")
        self.lengths = list(lengths)
        self.weights = [check_weight(w, f"corpus {i + 1}") for i, w in enumerate(weights)]
        self.epoch_size = epoch_size or len(self.sizes)
        self.offsets = [sum(self.lengths[:i]) for i in range(len(self.lengths))]

    def epoch_draws(self) -> list[list[int]]:
        """Per corpus, the indices into the concatenation drawn for the current epoch."""
        drawn = draw_epoch(self.lengths, self.weights, self.epoch_size, self.seed, self.epoch)
        return [[offset + i for i in items] for offset, items in zip(self.offsets, drawn)]

    def epoch_items(self) -> list[int]:
        return sorted(i for items in self.epoch_draws() for i in items)

    def epoch_mix(self) -> list[tuple[int, float]]:
        """Per corpus, (items drawn, their total size) in the current epoch, before the DDP
        shards are cut to equal lengths."""
        return [(len(items), sum(self.sizes[i] for i in items)) for items in self.epoch_draws()]

    def describe(self, names: Sequence[str]) -> str:
        """The mix in words: each corpus's share of an epoch and how often it is gone through."""
        total = sum(self.weights)
        parts = []
        for name, length, weight in zip(names, self.lengths, self.weights):
            per_epoch = self.epoch_size * weight / total
            parts.append(f"{name} {100 * weight / total:.1f}% ({per_epoch:.0f} of {plural(length, 'utterance')}, "
                         f"{per_epoch / length:.2f} passes per epoch)")
        return f"{plural(self.epoch_size, 'utterance')} per epoch from " + ", ".join(parts)
