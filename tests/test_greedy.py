"""Greedy CTC decoding against a hand-worked example and a plain-Python reference."""

from __future__ import annotations

import itertools

import torch

from asr.decode.greedy import ctc_greedy_search


def one_hot_log_probs(paths: list[list[int]], vocab: int) -> torch.Tensor:
    """Log-probs whose best path is exactly `paths` (padded with blank)."""
    time = max(len(p) for p in paths)
    lp = torch.full((len(paths), time, vocab), -10.0)
    for b, path in enumerate(paths):
        for t in range(time):
            lp[b, t, path[t] if t < len(path) else 0] = -0.01
    return lp


def test_hand_worked_example():
    # frames:  a a _ a b b _ _ b   (_ = blank 0, a = 1, b = 2)
    # collapse repeats: a _ a b _ b  -> remove blanks: a a b b
    path = [1, 1, 0, 1, 2, 2, 0, 0, 2]
    out = ctc_greedy_search(one_hot_log_probs([path], 3), torch.tensor([9]))
    assert out == [[1, 1, 2, 2]]


def test_lengths_cut_the_path_and_batches_are_independent():
    paths = [[1, 1, 0, 1, 2, 2, 0, 0, 2], [2, 0, 2, 2], [0, 0, 0]]
    lp = one_hot_log_probs(paths, 3)
    out = ctc_greedy_search(lp, torch.tensor([9, 4, 3]))
    assert out == [[1, 1, 2, 2], [2, 2], []]
    # frames past the length are ignored even though the padding is not blank here
    lp[1, 4:] = 0.0
    lp[1, 4:, 1] = 5.0
    assert ctc_greedy_search(lp, torch.tensor([9, 4, 3]))[1] == [2, 2]
    assert ctc_greedy_search(lp, torch.tensor([9, 2, 3]))[0:2] == [[1, 1, 2, 2], [2]]


def test_matches_plain_python_reference_on_random_inputs():
    torch.manual_seed(0)
    lp = torch.randn(20, 15, 5).log_softmax(-1)
    lengths = torch.randint(1, 16, (20,))
    out = ctc_greedy_search(lp, lengths)
    for b in range(20):
        best = lp[b, : lengths[b]].argmax(-1).tolist()
        reference = [k for k, _ in itertools.groupby(best) if k != 0]
        assert out[b] == reference
