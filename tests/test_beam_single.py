"""The one-utterance numpy search (asr.decode.beam_single) against the batched torch search and
the brute-force references, and the hand-stepped LSTM LM (asr.decode.lstm_scorer) against
nn.LSTM. tests/test_beam.py runs all its reference tests with both implementations as well."""

from __future__ import annotations

import pytest
import torch
from test_beam import (
    ToyLM,
    blank_heavy_log_probs,
    bonus_units,
    brute_force_label_log_probs,
    everything_beam,
    random_log_probs,
    reference_prefix_beam_search,
)

from asr.decode.beam import BeamSearchOptions, PrefixBeamSearch, ctc_prefix_beam_search
from asr.decode.lstm_scorer import LstmStepScorer, lstm_step_scorer
from asr.model.lm import LanguageModelConfig, LstmLM

OPTIONS = {
    "no-pruning": BeamSearchOptions(beam_size=8, nbest=8),
    "beam-1": BeamSearchOptions(beam_size=1),
    "top-k": BeamSearchOptions(beam_size=6, nbest=3, token_top_k=2),
    "min-logprob": BeamSearchOptions(beam_size=5, nbest=5, token_min_logprob=-3.0),
    "default-pruning": BeamSearchOptions(beam_size=10, nbest=4, token_min_logprob=-5.0, token_top_k=8),
    "wide": BeamSearchOptions(beam_size=40, nbest=10, token_min_logprob=-6.0),
    "lm-token": BeamSearchOptions(beam_size=6, nbest=6, lm_weight=0.6, length_bonus=0.8),
    "lm-word-pruned": BeamSearchOptions(beam_size=5, nbest=5, lm_weight=0.7, length_bonus=0.5, bonus_unit="word",
                                        word_delimiter=1, token_min_logprob=-4.0, token_top_k=3),
    "lm-weight-0": BeamSearchOptions(beam_size=4, nbest=4, lm_weight=0.0, length_bonus=0.0),
    "bonus-only": BeamSearchOptions(beam_size=5, nbest=5, length_bonus=1.5, bonus_unit="word", word_delimiter=2),
}
USES_LM = ("lm-token", "lm-word-pruned", "lm-weight-0")


def emissions(kind: str, batch: int, time: int, vocab: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    if kind == "random":
        return random_log_probs(batch, time, vocab, seed, dtype=dtype)
    return blank_heavy_log_probs(batch, time, vocab, seed).to(dtype)


def assert_same(found, expected, tolerance: float) -> None:
    """Same hypotheses (tokens, in order) with the same scores, per utterance."""
    assert len(found) == len(expected)
    for mine, theirs in zip(found, expected):
        assert [h.tokens for h in mine] == [h.tokens for h in theirs]
        for a, b in zip(mine, theirs):
            assert (a.score, a.ctc_score, a.lm_score) == pytest.approx((b.score, b.ctc_score, b.lm_score),
                                                                       abs=tolerance, rel=tolerance)


@pytest.mark.parametrize("kind", ["random", "blank-heavy"])
@pytest.mark.parametrize("name", OPTIONS)
def test_single_equals_batched_alone_and_in_batches(name, kind):
    options, vocab = OPTIONS[name], 7
    log_probs = emissions(kind, 6, 60, vocab, seed=len(name))
    lengths = torch.tensor([60, 41, 1, 0, 57, 23])

    def lm():
        return ToyLM(vocab, seed=5) if name in USES_LM else None
    batched = ctc_prefix_beam_search(log_probs, lengths, options, lm=lm(), implementation="batched")
    single = ctc_prefix_beam_search(log_probs, lengths, options, lm=lm(), implementation="single")
    assert_same(single, batched, 1e-9)
    for b, length in enumerate(lengths.tolist()):  # one utterance per call: "auto" takes the numpy search
        alone = ctc_prefix_beam_search(log_probs[b:b + 1, :length], torch.tensor([length]), options, lm=lm())
        assert_same(alone, batched[b:b + 1], 1e-9)


@pytest.mark.parametrize("name", ["no-pruning", "lm-token", "lm-word-pruned", "bonus-only"])
def test_single_utterance_equals_brute_force_and_python_reference(name):
    options, vocab, time = OPTIONS[name], 4, 6
    lm = ToyLM(vocab, seed=9) if name in USES_LM else None
    log_probs = random_log_probs(1, time, vocab, seed=3, scale=1.0)
    # Every label sequence fits in the beam: the search is exact.
    exact = dict(options.__dict__, beam_size=everything_beam(vocab, time), nbest=everything_beam(vocab, time))
    found = ctc_prefix_beam_search(log_probs, torch.tensor([time]), BeamSearchOptions(**exact), lm=lm)[0]
    ctc = brute_force_label_log_probs(log_probs[0])
    alpha = options.lm_weight if lm is not None else 0.0
    expected = {labels: p + alpha * (lm.sentence_logprob(labels) if lm is not None else 0.0)
                + options.length_bonus * bonus_units(labels, options) for labels, p in ctc.items()}
    assert {tuple(h.tokens) for h in found} == expected.keys()
    for h in found:
        assert h.ctc_score == pytest.approx(ctc[tuple(h.tokens)], abs=1e-9)
        assert h.score == pytest.approx(expected[tuple(h.tokens)], abs=1e-9)
    # A finite beam: the frame-by-frame dict reference with the same pruning.
    log_probs = blank_heavy_log_probs(1, 50, vocab, seed=4)
    found = ctc_prefix_beam_search(log_probs, torch.tensor([50]), options, lm=lm)[0]
    reference = reference_prefix_beam_search(log_probs[0], options, lm)[: options.nbest]
    assert [tuple(h.tokens) for h in found] == [labels for labels, _ in reference]
    assert [h.score for h in found] == pytest.approx([score for _, score in reference], abs=1e-6)


@pytest.mark.parametrize("name", ["default-pruning", "lm-word-pruned", "no-pruning"])
def test_blocks_equal_the_whole_utterance(name):
    # Streaming feeds the search a chunk at a time; runs of skipped frames may span two chunks.
    options, vocab = OPTIONS[name], 6
    log_probs = blank_heavy_log_probs(1, 90, vocab, seed=12)
    lm = ToyLM(vocab, seed=13) if name in USES_LM else None
    whole = ctc_prefix_beam_search(log_probs, torch.tensor([90]), options, lm=lm)
    search = PrefixBeamSearch(1, vocab, options, lm=ToyLM(vocab, seed=13) if lm else None, dtype=torch.float64)
    for start, end in [(0, 1), (1, 9), (9, 10), (10, 37), (37, 38), (38, 90)]:
        search.advance(log_probs[:, start:end], torch.tensor([end - start]))
        partial = search.hypotheses()  # reading the result does not change the search
    assert_same(partial, whole, 1e-9)


@pytest.mark.parametrize("blank", [0, 3, 5])
def test_blank_need_not_be_token_0(blank):
    vocab = 6
    log_probs = blank_heavy_log_probs(4, 40, vocab, seed=21)[..., torch.tensor([(t - blank) % vocab for t in range(vocab)])]
    lengths = torch.tensor([40, 33, 2, 17])
    options = BeamSearchOptions(beam_size=5, nbest=3, lm_weight=0.5, length_bonus=0.4, bonus_unit="word",
                                word_delimiter=(blank + 1) % vocab, token_min_logprob=-4.0)
    results = [ctc_prefix_beam_search(log_probs, lengths, options, lm=ToyLM(vocab, seed=2, blank=blank), blank=blank,
                                      implementation=implementation) for implementation in ("batched", "single")]
    assert_same(results[1], results[0], 1e-9)
    for b, length in enumerate(lengths.tolist()):
        reference = reference_prefix_beam_search(log_probs[b, :length], options, ToyLM(vocab, seed=2, blank=blank),
                                                 blank=blank)[: options.nbest]
        assert [tuple(h.tokens) for h in results[1][b]] == [labels for labels, _ in reference]


def test_impossible_frames_and_float32():
    vocab = 5
    log_probs = random_log_probs(3, 30, vocab, seed=8, dtype=torch.float32)
    log_probs[0, 10:14, 1:] = float("-inf")  # only blank possible: hypotheses must survive on blank
    log_probs[1, 5, 2:4] = float("-inf")
    log_probs[2, 7] = float("-inf")  # nothing possible: no hypothesis at all
    lengths = torch.tensor([30, 30, 30])
    options = BeamSearchOptions(beam_size=4, nbest=4, token_top_k=3)
    batched = ctc_prefix_beam_search(log_probs, lengths, options, implementation="batched")
    single = ctc_prefix_beam_search(log_probs, lengths, options, implementation="single")
    assert_same(single, batched, 1e-5)
    assert single[2] == [] and len(single[0]) == 4


def test_auto_takes_the_numpy_search_for_small_cpu_batches_only():
    options = BeamSearchOptions(beam_size=3)
    assert PrefixBeamSearch(1, 5, options).singles is not None
    assert PrefixBeamSearch(64, 5, options).singles is None
    assert PrefixBeamSearch(1, 5, options, dtype=torch.bfloat16).singles is None
    with pytest.raises(ValueError):
        PrefixBeamSearch(1, 5, options, dtype=torch.float16, implementation="single")


# ---------------------------------------------------------------------------------------------
# The LSTM LM's hand-written step


def small_lm(num_layers: int = 2, seed: int = 0) -> LstmLM:
    torch.manual_seed(seed)
    return LstmLM(LanguageModelConfig(vocab_size=7, embed_dim=5, hidden_size=12, num_layers=num_layers,
                                      dropout=0.0)).eval()


class NotAnLstmLM:
    """Delegates to an LstmLM without being one, so the search uses nn.LSTM as it is."""

    def __init__(self, lm: LstmLM):
        self.lm = lm

    def __getattr__(self, name):
        return getattr(self.lm, name)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_lstm_step_scorer_equals_lstm_lm(num_layers):
    lm = small_lm(num_layers)
    fast = LstmStepScorer(lm)
    slow_state, fast_state = lm.initial_state(4), fast.initial_state(4)
    generator = torch.Generator().manual_seed(1)
    for step in range(5):
        tokens = torch.full((4,), -1) if step == 0 else torch.randint(1, 7, (4,), generator=generator)
        slow, slow_state = lm.score(slow_state, tokens)
        mine, fast_state = fast.score(fast_state, tokens)
        assert torch.allclose(mine, slow, atol=1e-5)
        rows = torch.tensor([3, 0, 0, 2])  # select and concat: the states move with their rows
        slow_state, fast_state = lm.select(slow_state, rows), fast.select(fast_state, rows)
        slow_state = lm.concat([slow_state, lm.select(slow_state, rows[:1])])
        fast_state = fast.concat([fast_state, fast.select(fast_state, rows[:1])])
        slow_state, fast_state = lm.select(slow_state, torch.arange(4)), fast.select(fast_state, torch.arange(4))
    assert torch.allclose(fast.final_score(fast_state), lm.final_score(slow_state), atol=1e-5)


def test_search_with_lstm_lm_equals_nn_lstm():
    lm = small_lm()
    log_probs = random_log_probs(3, 25, 7, seed=4, dtype=torch.float32, scale=2.0)
    lengths = torch.tensor([25, 14, 3])
    options = BeamSearchOptions(beam_size=6, nbest=4, lm_weight=0.5, length_bonus=0.5)
    slow = ctc_prefix_beam_search(log_probs, lengths, options, lm=NotAnLstmLM(lm), implementation="batched")
    for implementation in ("batched", "single"):
        assert_same(ctc_prefix_beam_search(log_probs, lengths, options, lm=lm, implementation=implementation), slow, 1e-4)


def test_lstm_step_scorer_only_for_an_lstm_lm_in_eval_mode():
    lm = small_lm()
    assert isinstance(lstm_step_scorer(lm), LstmStepScorer)
    assert lstm_step_scorer(lm.train()) is lm  # dropout: nn.LSTM as it is
    toy = ToyLM(7, seed=1)
    assert lstm_step_scorer(toy) is toy
    assert lstm_step_scorer(None) is None
