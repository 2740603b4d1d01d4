"""Length-bucketed batches under a padded-size budget, resumable mid-epoch, shardable for DDP.

Sizes are in the budget's unit: 10 ms feature frames for audio (seconds x FRAMES_PER_SECOND),
tokens for language-model text.
"""

from __future__ import annotations

import random
from typing import Iterator, Sequence

FRAMES_PER_SECOND = 100  # 10 ms feature hop


def make_batches(sizes: Sequence[float], max_total: float, max_batch_size: int,
                 seed: int | None, sort_noise: float = 0.05) -> list[list[int]]:
    """Group item indices into batches of similar size.

    Items are sorted by size times a random factor in [1 - noise, 1 + noise] (fresh per
    `seed`; no noise and no shuffling when `seed` is None), cut into batches whose padded
    size (batch size x largest item) stays within `max_total`, and the batch order is
    shuffled. An item larger than the whole budget gets a batch of its own.

    The noise trades padding for variety: on train-clean-100-like durations with 60,000-frame
    batches, 0.1 pads 9.2% of the frames and 0.05 pads 4.8% (tools/bench/train_throughput.py),
    with about 5% fewer, fuller batches; batches still differ from epoch to epoch.
    """
    rng = random.Random(seed)
    if seed is None:
        order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    else:
        keys = [d * (1 + rng.uniform(-sort_noise, sort_noise)) for d in sizes]
        order = sorted(range(len(sizes)), key=lambda i: keys[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0.0
    for index in order:
        size = sizes[index]
        new_longest = max(longest, size)
        if current and ((len(current) + 1) * new_longest > max_total or len(current) >= max_batch_size):
            batches.append(current)
            current, new_longest = [], size
        current.append(index)
        longest = new_longest
    if current:
        batches.append(current)
    if seed is not None:
        rng.shuffle(batches)
    return batches


class DurationBucketSampler:
    """Batch sampler: yields lists of dataset indices, a new bucketing and order each epoch.

    With `num_replicas` > 1 (DDP), every rank gets the same number of batches: the epoch's
    batches are cut to a multiple of the number of ranks and rank r takes every r-th one.
    `set_epoch(epoch, start_batch)` positions the sampler; resuming mid-epoch passes the
    number of batches already trained so the rest of the epoch is exactly what it would have been.
    Subclasses choose which items an epoch holds (`epoch_items`; asr.data.mix draws them from
    several corpora by weight); the bucketing and sharding stay here.
    """

    def __init__(self, sizes: Sequence[float], max_total: float, max_batch_size: int = 512,
                 seed: int = 0, shuffle: bool = True, num_replicas: int = 1, rank: int = 0):
        if not sizes:
            raise ValueError("nothing to sample from")
        self.sizes = list(sizes)
        self.max_total, self.max_batch_size = max_total, max_batch_size
        self.seed, self.shuffle = seed, shuffle
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def epoch_items(self) -> list[int]:
        """The indices this epoch is made of (in ascending order), the same on every rank:
        here every item once."""
        return list(range(len(self.sizes)))

    def epoch_batches(self) -> list[list[int]]:
        """All of this rank's batches for the current epoch, from the beginning."""
        seed = self.seed * 1_000_003 + self.epoch if self.shuffle else None
        items = self.epoch_items()
        batches = make_batches([self.sizes[i] for i in items], self.max_total, self.max_batch_size, seed)
        batches = [[items[position] for position in batch] for batch in batches]
        if self.num_replicas > 1:
            usable = len(batches) - len(batches) % self.num_replicas
            if usable == 0:
                raise ValueError(f"fewer batches ({len(batches)}) than DDP ranks ({self.num_replicas})")
            batches = batches[self.rank:usable:self.num_replicas]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.epoch_batches()[self.start_batch:])

    def __len__(self) -> int:
        return len(self.epoch_batches()) - self.start_batch
