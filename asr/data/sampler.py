"""Duration-bucketed batches under a max-frames budget, resumable mid-epoch, shardable for DDP."""

from __future__ import annotations

import random
from typing import Iterator, Sequence

FRAMES_PER_SECOND = 100  # 10 ms feature hop


def make_batches(durations: Sequence[float], max_frames: int, max_batch_size: int,
                 seed: int | None, sort_noise: float = 0.1) -> list[list[int]]:
    """Group utterance indices into batches of similar duration.

    Utterances are sorted by duration times a random factor in [1 - noise, 1 + noise]
    (fresh per `seed`; no noise and no shuffling when `seed` is None), cut into batches whose
    padded size (batch size x longest utterance, in 10 ms frames) stays within `max_frames`,
    and the batch order is shuffled. An utterance longer than the whole budget gets a batch
    of its own.
    """
    rng = random.Random(seed)
    if seed is None:
        order = sorted(range(len(durations)), key=lambda i: durations[i])
    else:
        keys = [d * (1 + rng.uniform(-sort_noise, sort_noise)) for d in durations]
        order = sorted(range(len(durations)), key=lambda i: keys[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0.0
    for index in order:
        frames = durations[index] * FRAMES_PER_SECOND
        new_longest = max(longest, frames)
        if current and ((len(current) + 1) * new_longest > max_frames or len(current) >= max_batch_size):
            batches.append(current)
            current, new_longest = [], frames
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
    """

    def __init__(self, durations: Sequence[float], max_frames: int, max_batch_size: int = 512,
                 seed: int = 0, shuffle: bool = True, num_replicas: int = 1, rank: int = 0):
        if not durations:
            raise ValueError("no utterances to sample from")
        self.durations = list(durations)
        self.max_frames, self.max_batch_size = max_frames, max_batch_size
        self.seed, self.shuffle = seed, shuffle
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def epoch_batches(self) -> list[list[int]]:
        """All of this rank's batches for the current epoch, from the beginning."""
        seed = self.seed * 1_000_003 + self.epoch if self.shuffle else None
        batches = make_batches(self.durations, self.max_frames, self.max_batch_size, seed)
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
