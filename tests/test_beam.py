"""CTC prefix beam search against independent references.

- brute force: every alignment of a tiny input enumerated and collapsed (exact P_ctc of every
  label sequence), with and without a toy LM;
- torch.nn.functional.ctc_loss for the CTC score of returned hypotheses;
- greedy best-path decoding for beam 1 on peaked inputs;
- a plain-Python dict-based prefix beam search for finite beams (same pruning rule);
- flashlight-text's LexiconFreeDecoder on peaked emissions.

Every test runs twice, once per implementation of the search (the batched torch one and the
one-utterance-at-a-time numpy one, asr.decode.beam_single); tests/test_beam_single.py compares
the two directly.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch

from asr.decode import beam as beam_module
from asr.decode.beam import BeamSearchOptions, Hypothesis, ctc_prefix_beam_search
from asr.decode.greedy import ctc_greedy_search
from asr.decode.schedule import plan_frames

NEG_INF = float("-inf")


@pytest.fixture(autouse=True, params=["batched", "single"])
def implementation(request, monkeypatch) -> str:
    """Run the test with the search's "auto" implementation forced to one of the two."""
    limit = 0 if request.param == "batched" else 1 << 30
    monkeypatch.setattr(beam_module, "SINGLE_UP_TO", limit)
    monkeypatch.setattr(beam_module, "SINGLE_UP_TO_WITH_LM", limit)
    return request.param


# ---------------------------------------------------------------------------------------------
# Inputs and a toy language model


def random_log_probs(batch: int, time: int, vocab: int, seed: int, scale: float = 1.5,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(batch, time, vocab, generator=generator, dtype=dtype)).log_softmax(-1)


def peaked_log_probs(batch: int, time: int, vocab: int, seed: int, peak: float = 8.0) -> torch.Tensor:
    """Each frame puts almost all its mass on one random token of a random path."""
    generator = torch.Generator().manual_seed(seed)
    path = torch.randint(0, vocab, (batch, time), generator=generator)
    logits = torch.randn(batch, time, vocab, generator=generator)
    logits += peak * torch.nn.functional.one_hot(path, vocab)
    return logits.double().log_softmax(-1)


class ToyLM:
    """log P(next | prefix) from a random table indexed by the prefix's last token (or BOS) and
    min(len(prefix), 2): it depends on more than the last token, so a search that mixes up
    whose state is whose gets caught. State: long tensor [N, 2] = (last token, length), with
    last = -2 before anything (not even BOS) was consumed."""

    def __init__(self, vocab: int, seed: int, blank: int = 0, with_eos: bool = True):
        generator = torch.Generator().manual_seed(seed)
        table = torch.randn(vocab + 1, 3, vocab, generator=generator, dtype=torch.float64)
        table[..., blank] = NEG_INF  # an LM over labels never predicts blank
        self.next_table = table.log_softmax(-1)
        eos = -2.0 * torch.rand(vocab + 1, 3, generator=generator, dtype=torch.float64)
        self.eos_table = eos if with_eos else torch.zeros_like(eos)
        self.calls = 0
        self.rows_scored = 0

    # The protocol ----------------------------------------------------------------------------
    def initial_state(self, batch_size: int) -> torch.Tensor:
        return torch.stack([torch.full((batch_size,), -2), torch.zeros(batch_size, dtype=torch.long)], dim=1)

    def score(self, state: torch.Tensor, last_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        self.rows_scored += len(last_tokens)
        # BOS (-1) exactly for empty prefixes, i.e. for states that consumed nothing yet.
        assert torch.equal(last_tokens == -1, state[:, 0] == -2)
        length = torch.where(last_tokens == -1, 0, state[:, 1] + 1)
        new_state = torch.stack([last_tokens, length], dim=1)
        return self.next_table[new_state[:, 0] + 1, new_state[:, 1].clamp(max=2)], new_state

    def select(self, state: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return state[indices]

    def concat(self, states) -> torch.Tensor:
        return torch.cat(list(states))

    def final_score(self, state: torch.Tensor) -> torch.Tensor:
        return self.eos_table[state[:, 0] + 1, state[:, 1].clamp(max=2)]

    # Plain-Python view for the references ----------------------------------------------------
    def next_logprobs(self, prefix: tuple[int, ...]) -> torch.Tensor:
        last = prefix[-1] if prefix else -1
        return self.next_table[last + 1, min(len(prefix), 2)]

    def sentence_logprob(self, labels: tuple[int, ...]) -> float:
        """log P(labels </s>) by the chain rule."""
        total = sum(float(self.next_logprobs(labels[:i])[c]) for i, c in enumerate(labels))
        last = labels[-1] if labels else -1
        return total + float(self.eos_table[last + 1, min(len(labels), 2)])


def word_count(labels: tuple[int, ...], delimiter: int) -> int:
    """Words = maximal runs of non-delimiter tokens (what bonus_unit='word' promises to count)."""
    runs = itertools.groupby(labels, key=lambda c: c == delimiter)
    return sum(1 for is_delimiter, _ in runs if not is_delimiter)


def bonus_units(labels: tuple[int, ...], options: BeamSearchOptions) -> int:
    return len(labels) if options.bonus_unit == "token" else word_count(labels, options.word_delimiter)


# ---------------------------------------------------------------------------------------------
# References


def logsumexp(values: list[float]) -> float:
    top = max(values)
    if top == NEG_INF:
        return NEG_INF
    return top + math.log(sum(math.exp(v - top) for v in values))


def brute_force_label_log_probs(log_probs: torch.Tensor, blank: int = 0) -> dict[tuple[int, ...], float]:
    """log P_ctc(y) for every label sequence y, by enumerating all V^T alignments of log_probs [T, V]."""
    time, vocab = log_probs.shape
    per_labels: dict[tuple[int, ...], list[float]] = defaultdict(list)
    table = log_probs.tolist()
    for path in itertools.product(range(vocab), repeat=time):
        labels = tuple(token for token, _ in itertools.groupby(path) if token != blank)
        per_labels[labels].append(sum(table[t][token] for t, token in enumerate(path)))
    return {labels: logsumexp(scores) for labels, scores in per_labels.items()}


def reference_prefix_beam_search(log_probs: torch.Tensor, options: BeamSearchOptions, lm: ToyLM | None = None,
                                 blank: int = 0) -> list[tuple[tuple[int, ...], float]]:
    """Textbook prefix beam search over dicts, log_probs [T, V] -> [(labels, fused score)] best first.

    Same pruning rule as the search under test: after each frame keep the beam_size prefixes
    with the best log P_ctc + alpha * log P_lm(prefix) + beta * units (no end-of-sentence term);
    token pruning limits extensions only.
    """
    alpha, beta = options.lm_weight, options.length_bonus

    def lm_prefix(prefix: tuple[int, ...]) -> float:
        if lm is None or not alpha:
            return 0.0
        return sum(float(lm.next_logprobs(prefix[:i])[c]) for i, c in enumerate(prefix))

    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    table = log_probs.tolist()
    for frame in table:
        candidates = [c for c in range(len(frame)) if c != blank]
        candidates.sort(key=lambda c: -frame[c])
        if options.token_top_k is not None:
            candidates = candidates[: options.token_top_k]
        if options.token_min_logprob is not None:
            candidates = [c for c in candidates if frame[c] >= options.token_min_logprob]
        following: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [NEG_INF, NEG_INF])
        for prefix, (p_blank, p_nonblank) in beams.items():
            total = logsumexp([p_blank, p_nonblank])
            stay = following[prefix]
            stay[0] = logsumexp([stay[0], total + frame[blank]])
            if prefix:
                stay[1] = logsumexp([stay[1], p_nonblank + frame[prefix[-1]]])
            for c in candidates:
                extended = following[prefix + (c,)]
                before = p_blank if prefix and prefix[-1] == c else total
                extended[1] = logsumexp([extended[1], before + frame[c]])
        fused = {prefix: logsumexp(p) + alpha * lm_prefix(prefix) + beta * bonus_units(prefix, options)
                 for prefix, p in following.items() if logsumexp(p) > NEG_INF}
        kept = sorted(fused, key=lambda prefix: -fused[prefix])[: options.beam_size]
        beams = {prefix: tuple(following[prefix]) for prefix in kept}

    def final(prefix: tuple[int, ...]) -> float:
        lm_total = lm.sentence_logprob(prefix) if lm is not None and alpha else 0.0
        return logsumexp(list(beams[prefix])) + alpha * lm_total + beta * bonus_units(prefix, options)
    return sorted(((prefix, final(prefix)) for prefix in beams), key=lambda item: -item[1])


def exact_ctc_log_prob(log_probs: torch.Tensor, length: int, labels: list[int]) -> float:
    """log P_ctc(labels) from torch's CTC loss (an implementation independent of ours)."""
    loss = torch.nn.functional.ctc_loss(log_probs[:length, None].double(),
                                        torch.tensor([labels], dtype=torch.long), torch.tensor([length]),
                                        torch.tensor([len(labels)]), reduction="none")
    return -float(loss)


# ---------------------------------------------------------------------------------------------
# Tests

TINY_CASES = [  # (seed, vocab incl. blank, frames, lengths of the batch)
    (0, 3, 6, [6, 4, 1]),
    (1, 4, 5, [5, 3, 0]),
    (2, 4, 6, [6, 5]),
    (3, 3, 5, [2, 5, 4]),
]


def everything_beam(vocab: int, time: int) -> int:
    """A beam that can hold every label sequence of up to `time` tokens: nothing is pruned."""
    return sum((vocab - 1) ** n for n in range(time + 1))


@pytest.mark.parametrize("seed, vocab, time, lengths", TINY_CASES)
def test_infinite_beam_equals_brute_force(seed, vocab, time, lengths):
    log_probs = random_log_probs(len(lengths), time, vocab, seed)
    beam = everything_beam(vocab, time)
    options = BeamSearchOptions(beam_size=beam, nbest=beam)
    results = ctc_prefix_beam_search(log_probs, torch.tensor(lengths), options)
    for b, length in enumerate(lengths):
        exact = brute_force_label_log_probs(log_probs[b, :length])
        found = {tuple(h.tokens): h.ctc_score for h in results[b]}
        assert found.keys() == exact.keys()  # every possible label sequence, each exactly once
        for labels, log_prob in exact.items():
            assert found[labels] == pytest.approx(log_prob, abs=1e-5)
        ranking = sorted(exact, key=lambda labels: -exact[labels])
        assert [tuple(h.tokens) for h in results[b][:5]] == ranking[:5]
        assert all(h.score == h.ctc_score and h.lm_score == 0.0 for h in results[b])


def test_ctc_scores_equal_torch_ctc_loss_without_pruning():
    # Longer than brute force can enumerate (3^12 alignments x 3 utterances would be slow in
    # Python) but still small enough for a beam that never prunes.
    vocab, time = 3, 12
    log_probs = random_log_probs(3, time, vocab, seed=7, scale=2.0)
    lengths = torch.tensor([12, 9, 1])
    beam = everything_beam(vocab, time)
    results = ctc_prefix_beam_search(log_probs, lengths, BeamSearchOptions(beam_size=beam, nbest=40))
    for b, hypotheses in enumerate(results):
        for hypothesis in hypotheses:
            assert hypothesis.ctc_score == pytest.approx(
                exact_ctc_log_prob(log_probs[b], int(lengths[b]), hypothesis.tokens), abs=1e-6)


def test_ctc_scores_with_pruning_are_lower_bounds():
    # A prefix pruned at some frame and re-created later has lost the alignments that passed
    # through the pruned copy: with a finite beam ctc_score sums a subset of the alignments of
    # its label sequence, never more than all of them.
    log_probs = random_log_probs(4, 25, 6, seed=7, scale=2.0)
    lengths = torch.tensor([25, 17, 9, 1])
    results = ctc_prefix_beam_search(log_probs, lengths, BeamSearchOptions(beam_size=8, nbest=8))
    for b, hypotheses in enumerate(results):
        assert len(hypotheses) == (6 if lengths[b] == 1 else 8)  # one frame: empty or one of 5 tokens
        for hypothesis in hypotheses:
            exact = exact_ctc_log_prob(log_probs[b], int(lengths[b]), hypothesis.tokens)
            assert hypothesis.ctc_score <= exact + 1e-9
        scores = [h.score for h in hypotheses]
        assert scores == sorted(scores, reverse=True)


def test_beam_one_equals_greedy_on_peaked_inputs():
    # With a peak of 8 nats each frame gives its path token ~0.998 of the mass, so the
    # collapsed best path carries nearly all of the probability of any prefix: at every frame
    # the best prefix of the one-hypothesis beam is the collapsed best path so far, and the
    # prefix search and the best-path decoder must agree (repeats, blanks and "a _ a" included,
    # since the random paths contain all of them).
    log_probs = peaked_log_probs(16, 40, 5, seed=3)
    lengths = torch.randint(1, 41, (16,), generator=torch.Generator().manual_seed(4))
    beam = ctc_prefix_beam_search(log_probs, lengths, BeamSearchOptions(beam_size=1))
    assert [hyps[0].tokens for hyps in beam] == ctc_greedy_search(log_probs, lengths)


@pytest.mark.parametrize("bonus_unit, with_eos", [("token", True), ("word", True), ("token", False)])
@pytest.mark.parametrize("seed, vocab, time, lengths", TINY_CASES[:3])
def test_lm_fusion_equals_brute_force(seed, vocab, time, lengths, bonus_unit, with_eos, implementation):
    log_probs = random_log_probs(len(lengths), time, vocab, seed, scale=1.0)
    lm = ToyLM(vocab, seed=seed + 100, with_eos=with_eos)
    beam = everything_beam(vocab, time)
    options = BeamSearchOptions(beam_size=beam, nbest=beam, lm_weight=0.7, length_bonus=0.4,
                                bonus_unit=bonus_unit, word_delimiter=vocab - 1)
    results = ctc_prefix_beam_search(log_probs, torch.tensor(lengths), options, lm=lm)
    for b, length in enumerate(lengths):
        exact_ctc = brute_force_label_log_probs(log_probs[b, :length])
        exact = {labels: (ctc + options.lm_weight * lm.sentence_logprob(labels)
                          + options.length_bonus * bonus_units(labels, options))
                 for labels, ctc in exact_ctc.items()}
        best = max(exact, key=exact.get)
        assert tuple(results[b][0].tokens) == best
        assert results[b][0].score == pytest.approx(exact[best], abs=1e-5)
        for hypothesis in results[b]:  # every hypothesis, not only the best, has the right parts
            labels = tuple(hypothesis.tokens)
            assert hypothesis.ctc_score == pytest.approx(exact_ctc[labels], abs=1e-5)
            assert hypothesis.lm_score == pytest.approx(lm.sentence_logprob(labels), abs=1e-9)
            assert hypothesis.score == pytest.approx(exact[labels], abs=1e-5)
    # The LM ran once for the empty prefixes, then at most once per frame (for the batch, or for
    # each utterance), and scored each prefix once: nothing is pruned here, so the prefixes
    # created are exactly those returned.
    assert lm.calls <= (1 + time) * (1 if implementation == "batched" else len(lengths))
    assert lm.rows_scored == len(lengths) + sum(len(hyps) - 1 for hyps in results)


FINITE_BEAM_OPTIONS = [
    BeamSearchOptions(beam_size=4, nbest=4),
    BeamSearchOptions(beam_size=6, nbest=3, token_top_k=2),
    BeamSearchOptions(beam_size=5, nbest=5, token_min_logprob=-2.5),
    BeamSearchOptions(beam_size=5, nbest=5, lm_weight=0.5, length_bonus=1.0),
    BeamSearchOptions(beam_size=3, nbest=3, lm_weight=0.8, length_bonus=0.6, bonus_unit="word",
                      word_delimiter=1, token_top_k=3),
]


@pytest.mark.parametrize("options", FINITE_BEAM_OPTIONS, ids=lambda o: f"{o.beam_size}-{o.token_top_k}-"
                         f"{o.token_min_logprob}-{o.lm_weight}-{o.bonus_unit}")
def test_finite_beam_equals_python_reference(options):
    vocab = 6
    log_probs = random_log_probs(5, 30, vocab, seed=11)
    lengths = torch.tensor([30, 22, 30, 7, 15])
    lm = ToyLM(vocab, seed=12) if options.lm_weight else None
    results = ctc_prefix_beam_search(log_probs, lengths, options, lm=lm)
    for b, length in enumerate(lengths.tolist()):
        expected = reference_prefix_beam_search(log_probs[b, :length], options, lm)[: options.nbest]
        assert [tuple(h.tokens) for h in results[b]] == [labels for labels, _ in expected]
        assert [h.score for h in results[b]] == pytest.approx([score for _, score in expected], abs=1e-6)


def blank_heavy_log_probs(batch: int, time: int, vocab: int, seed: int) -> torch.Tensor:
    """Like a trained CTC model: 60% of frames confidently blank, runs of them long and short;
    the others peak (more or less sharply) on a token, sometimes with a close runner-up."""
    generator = torch.Generator().manual_seed(seed)
    is_blank = torch.rand(batch, time, generator=generator) < 0.6
    path = torch.where(is_blank, 0, torch.randint(1, vocab, (batch, time), generator=generator))
    peak = 2.0 + 8.0 * torch.rand(batch, time, 1, generator=generator)
    logits = torch.randn(batch, time, vocab, generator=generator)
    logits += peak * torch.nn.functional.one_hot(path, vocab)
    return logits.double().log_softmax(-1)


@pytest.mark.parametrize("options", [
    BeamSearchOptions(beam_size=4, nbest=4, token_min_logprob=-3.0),
    BeamSearchOptions(beam_size=6, nbest=3, token_min_logprob=-5.0, token_top_k=2),
    BeamSearchOptions(beam_size=5, nbest=5, token_min_logprob=-4.0, lm_weight=0.7, length_bonus=0.5,
                      bonus_unit="word", word_delimiter=1),
], ids=["min-logprob", "min-logprob-top-k", "min-logprob-lm"])
def test_pruned_search_skipping_blank_frames_equals_python_reference(options):
    # Frames where no token passes token_min_logprob are not stepped through one by one but applied
    # in closed form (asr.decode.schedule); the reference steps through every frame.
    vocab = 6
    log_probs = blank_heavy_log_probs(6, 40, vocab, seed=31)
    lengths = torch.tensor([40, 23, 1, 0, 37, 12])
    lm = ToyLM(vocab, seed=32) if options.lm_weight else None
    schedule = plan_frames(log_probs, lengths, options.token_top_k, options.token_min_logprob)
    assert 0 < schedule.steps < 40  # the inputs do have frames to skip
    results = ctc_prefix_beam_search(log_probs, lengths, options, lm=lm)
    for b, length in enumerate(lengths.tolist()):
        expected = reference_prefix_beam_search(log_probs[b, :length], options, lm)[: options.nbest]
        assert [tuple(h.tokens) for h in results[b]] == [labels for labels, _ in expected]
        assert [h.score for h in results[b]] == pytest.approx([score for _, score in expected], abs=1e-6)
        for h in results[b] if length else []:  # pruning only loses alignments: a lower bound
            assert h.ctc_score <= exact_ctc_log_prob(log_probs[b], length, h.tokens) + 1e-9


def test_run_quantities_equal_frame_by_frame_recursion():
    vocab = 5
    log_probs = blank_heavy_log_probs(3, 30, vocab, seed=41)
    lengths = torch.tensor([30, 17, 4])
    schedule = plan_frames(log_probs, lengths, None, -3.0)
    for b, length in enumerate(lengths.tolist()):
        frames = log_probs[b, :length]
        expanded = [t for t in range(length) if frames[t, 1:].max() >= -3.0]
        bounds = [-1, *expanded, length]
        assert schedule.active[b].sum() == len(expanded)
        for step in range(len(expanded) + 1):
            run = range(bounds[step] + 1, bounds[step + 1])
            for c in range(1, vocab):  # start from p_b = log 0.3, p_nb = log 0.7 and step frame by frame
                p_b, p_nb = math.log(0.3), math.log(0.7)
                for t in run:
                    p_b, p_nb = logsumexp([p_b, p_nb]) + float(frames[t, 0]), p_nb + float(frames[t, c])
                closed_b = logsumexp([math.log(0.3) + float(schedule.run_blank[b, step]),
                                      math.log(0.7) + float(schedule.run_to_blank[b, step, c])])
                closed_nb = math.log(0.7) + float(schedule.run_repeat[b, step, c])
                assert (closed_b, closed_nb) == pytest.approx((p_b, p_nb), abs=1e-9)


def test_batch_equals_one_utterance_at_a_time():
    vocab = 7
    log_probs = random_log_probs(6, 40, vocab, seed=21)
    lengths = torch.tensor([40, 13, 1, 33, 0, 27])
    options = BeamSearchOptions(beam_size=5, nbest=3, token_top_k=4, lm_weight=0.5, length_bonus=0.3,
                                bonus_unit="word", word_delimiter=2)
    batched = ctc_prefix_beam_search(log_probs, lengths, options, lm=ToyLM(vocab, seed=22))
    for b, length in enumerate(lengths.tolist()):
        # Padding frames hold garbage in the batch; alone, the utterance has no padding at all.
        alone = ctc_prefix_beam_search(log_probs[b : b + 1, :length], torch.tensor([length]), options,
                                       lm=ToyLM(vocab, seed=22))[0]
        assert [h.tokens for h in batched[b]] == [h.tokens for h in alone]
        assert [h.score for h in batched[b]] == pytest.approx([h.score for h in alone], abs=1e-9)
    end_of_empty = float(ToyLM(vocab, seed=22).eos_table[0, 0])  # no frames: only the empty prefix
    assert batched[4] == [Hypothesis(tokens=[], score=pytest.approx(0.5 * end_of_empty), ctc_score=0.0,
                                     lm_score=pytest.approx(end_of_empty))]


def test_float32_and_zero_weight_lm_and_options_are_checked():
    log_probs = random_log_probs(3, 20, 5, seed=5, dtype=torch.float32)
    lengths = torch.tensor([20, 10, 5])
    options = BeamSearchOptions(beam_size=4, nbest=2)
    plain = ctc_prefix_beam_search(log_probs, lengths, options)
    # An LM with weight 0 changes nothing (its -inf for blank must not turn into nan).
    with_lm = ctc_prefix_beam_search(log_probs, lengths, options, lm=ToyLM(5, 1))
    assert [[h.tokens for h in hyps] for hyps in plain] == [[h.tokens for h in hyps] for hyps in with_lm]
    for h in (h for hyps in with_lm for h in hyps):
        assert math.isfinite(h.score) and h.score == pytest.approx(h.ctc_score)
    for bad in [BeamSearchOptions(beam_size=0), BeamSearchOptions(beam_size=2, nbest=3),
                BeamSearchOptions(bonus_unit="word"), BeamSearchOptions(bonus_unit="word", word_delimiter=0),
                BeamSearchOptions(token_top_k=0)]:
        with pytest.raises(ValueError):
            ctc_prefix_beam_search(log_probs, lengths, bad)


def test_lstm_lm_scores_of_hypotheses_equal_its_sentence_scores():
    # The real LM behind the protocol: what the search accumulated step by step (extension
    # terms plus the end of sentence) is what the LM gives the whole sentence in one pass.
    lm_module = pytest.importorskip("asr.model.lm")
    torch.manual_seed(0)
    config = lm_module.LanguageModelConfig(vocab_size=6, embed_dim=8, hidden_size=16, num_layers=2,
                                           dropout=0.0)
    lm = lm_module.LstmLM(config).eval()
    log_probs = random_log_probs(3, 20, 6, seed=51, scale=2.0, dtype=torch.float32)
    options = BeamSearchOptions(beam_size=6, nbest=4, lm_weight=0.5, length_bonus=0.5)
    results = ctc_prefix_beam_search(log_probs, torch.tensor([20, 12, 3]), options, lm=lm)
    for hypotheses in results:
        sentence_scores = lm.sentence_log_probs([h.tokens for h in hypotheses]).tolist()
        assert [h.lm_score for h in hypotheses] == pytest.approx(sentence_scores, abs=1e-4)
        for h in hypotheses:
            assert h.score == pytest.approx(h.ctc_score + 0.5 * h.lm_score + 0.5 * len(h.tokens), abs=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu():
    vocab = 8
    log_probs = random_log_probs(8, 50, vocab, seed=31)
    lengths = torch.randint(1, 51, (8,), generator=torch.Generator().manual_seed(32))
    options = BeamSearchOptions(beam_size=6, nbest=3, token_top_k=5)
    on_cpu = ctc_prefix_beam_search(log_probs, lengths, options)
    on_gpu = ctc_prefix_beam_search(log_probs.cuda(), lengths.cuda(), options)
    assert [[h.tokens for h in hyps] for hyps in on_cpu] == [[h.tokens for h in hyps] for hyps in on_gpu]


# ---------------------------------------------------------------------------------------------
# flashlight-text (pip install flashlight-text)


def flashlight_best(log_probs: torch.Tensor, lengths: torch.Tensor, beam_size: int,
                    blank: int = 0) -> list[list[int]]:
    """Top label sequence of flashlight's lexicon-free CTC beam search (no LM), log_probs [B, T, V]."""
    decoder_module = pytest.importorskip("flashlight.lib.text.decoder")
    emissions = log_probs.float().contiguous()
    vocab = emissions.shape[2]
    options = decoder_module.LexiconFreeDecoderOptions(
        beam_size=beam_size, beam_size_token=vocab, beam_threshold=1000.0, lm_weight=0.0, sil_score=0.0,
        log_add=True, criterion_type=decoder_module.CriterionType.CTC)
    # The silence token only receives sil_score (0 here); blank plays that part.
    decoder = decoder_module.LexiconFreeDecoder(options, decoder_module.ZeroLM(), blank, blank, [])
    best = []
    for b, length in enumerate(lengths.tolist()):
        pointer = emissions.data_ptr() + b * emissions.stride(0) * emissions.element_size()
        frames = decoder.decode(pointer, length, vocab)[0].tokens  # frame-level alignment
        best.append([token for token, _ in itertools.groupby(frames) if token != blank])
    return best


@pytest.mark.parametrize("beam_size", [1, 5, 20])
def test_agrees_with_flashlight_on_peaked_emissions(beam_size):
    # flashlight keeps alignments ending in blank and in a token as separate hypotheses and
    # ranks them one by one, where a prefix search ranks their sum: the two can disagree when
    # several prefixes are close. On peaked emissions one prefix dominates and both must find it.
    log_probs = peaked_log_probs(40, 60, 10, seed=41, peak=6.0)
    lengths = torch.randint(20, 61, (40,), generator=torch.Generator().manual_seed(42))
    ours = ctc_prefix_beam_search(log_probs, lengths, BeamSearchOptions(beam_size=beam_size))
    assert [hyps[0].tokens for hyps in ours] == flashlight_best(log_probs, lengths, beam_size)
