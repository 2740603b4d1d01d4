"""The LSTM language model: sentence scores, step-wise scores, training and packaging."""

from __future__ import annotations

import math

import torch

from asr.config import load_config
from asr.model.lm import LanguageModelConfig, LstmLM
from asr.package import LmPackage
from asr.text import CharTokenizer
from asr.train.config import LmTrainConfig
from asr.train.lm import LanguageModelTrainer


@torch.no_grad()
def reference_log_prob(model: LstmLM, tokens: list[int]) -> float:
    """log P(tokens, end) with the modules called directly, one step at a time, in float64."""
    model = model.double()
    h = torch.zeros(model.config.num_layers, 1, model.config.hidden_size, dtype=torch.float64)
    c = torch.zeros_like(h)
    total, previous = 0.0, 0
    for token in tokens + [0]:
        out, (h, c) = model.lstm(model.embedding(torch.tensor([[previous]])), (h, c))
        total += float(model.output(out[0, 0]).log_softmax(-1)[token].detach())
        previous = token
    model.float()
    return total


def test_sentence_scores_match_stepwise_reference_and_search_api():
    torch.manual_seed(0)
    model = LstmLM(LanguageModelConfig(vocab_size=7, embed_dim=8, hidden_size=12, num_layers=2,
                                       dropout=0.0)).eval()
    sentences = [[1, 2, 3], [4], [5, 5, 1, 2, 6], [3, 3]]
    batch = model.sentence_log_probs(sentences)
    for i, sentence in enumerate(sentences):
        assert math.isclose(float(batch[i]), reference_log_prob(model, sentence), abs_tol=1e-4)
        # the search API: score() token by token, final_score() for the end of sentence
        state, last, total = model.initial_state(1), torch.tensor([-1]), 0.0
        for token in sentence:
            log_probs, state = model.score(state, last)
            total += float(log_probs[0, token])
            last = torch.tensor([token])
        _, state = model.score(state, last)
        total += float(model.final_score(state)[0])
        assert math.isclose(total, float(batch[i]), abs_tol=1e-4)


def test_select_gathers_hypothesis_states():
    model = LstmLM(LanguageModelConfig(vocab_size=5, embed_dim=4, hidden_size=6, num_layers=1, dropout=0.0))
    _, state = model.score(model.initial_state(3), torch.tensor([1, 2, 3]))
    picked = model.select(state, torch.tensor([2, 0]))
    assert torch.equal(picked[0][:, 0], state[0][:, 2]) and torch.equal(picked[1][:, 1], state[1][:, 0])


def test_training_lowers_dev_perplexity_and_packages(tmp_path):
    # a tiny corpus with strong regularities the model can learn in a few hundred steps
    words = ["THE CAT SAT", "A DOG RAN", "THE DOG SAT", "A CAT RAN"]
    (tmp_path / "train.txt").write_text("\n".join(words * 200) + "\n")
    (tmp_path / "dev.txt").write_text("THE CAT RAN\nA DOG SAT\n")
    config = load_config(LmTrainConfig, None, [
        "model.embed_dim=16", "model.hidden_size=32", "model.num_layers=1", "model.dropout=0.0",
        "data.max_tokens=400", "optim.lr=1e-2", "optim.warmup_steps=5", "run.epochs=6",
        "run.threads=1", "run.checkpoint_every=0", "run.final_model=last"])
    trainer = LanguageModelTrainer(config, [str(tmp_path / "train.txt")], str(tmp_path / "dev.txt"),
                                   str(tmp_path / "exp"), CharTokenizer())
    path = trainer.train()
    history = trainer.history
    # uniform over 29 tokens is ppl 29; a model that learned the words gets far below
    assert history[-1]["dev_ppl"] < 2.5 and history[-1]["dev_ppl"] < history[0]["dev_ppl"]
    assert history[-1]["dev_word_ppl"] > history[-1]["dev_ppl"]
    package = LmPackage.load(path)
    lm = package.build_model()
    tok = package.tokenizer
    likely, unlikely = lm.sentence_log_probs([tok.encode("THE CAT SAT"), tok.encode("TAC EHT TAS")])
    assert likely > unlikely + 10
