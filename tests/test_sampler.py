"""Duration-bucketed batch sampler."""

from __future__ import annotations

import random

from asr.data.sampler import DurationBucketSampler, make_batches


def durations(n=500, seed=0):
    """Utterance sizes in 10 ms frames: 0.5 to 20 seconds."""
    rng = random.Random(seed)
    return [rng.uniform(50, 2000) for _ in range(n)]


def test_every_utterance_once_and_budget_kept():
    d = durations()
    batches = make_batches(d, max_total=6000, max_batch_size=32, seed=3)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(d)))
    for b in batches:
        assert len(b) <= 32
        assert len(b) == 1 or len(b) * max(d[i] for i in b) <= 6000


def test_padding_is_small_and_order_changes_per_epoch():
    d = durations(2000)
    sampler = DurationBucketSampler(d, max_total=20000, seed=1)
    padded = real = 0
    for b in sampler:
        padded += len(b) * max(d[i] for i in b)
        real += sum(d[i] for i in b)
    assert 1 - real / padded < 0.15
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first  # deterministic for (seed, epoch)


def test_resume_position_and_ddp_shards():
    d = durations(300)
    sampler = DurationBucketSampler(d, max_total=5000, seed=7)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start_batch=5)
    assert list(sampler) == full[5:]
    ranks = [DurationBucketSampler(d, max_total=5000, seed=7, num_replicas=3, rank=r) for r in range(3)]
    shards = [list(r) for r in ranks]
    assert len({len(s) for s in shards}) == 1
    seen = [i for s in shards for b in s for i in b]
    assert len(seen) == len(set(seen))
