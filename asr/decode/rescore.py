"""N-best rescoring with the LSTM language model.

Each hypothesis gets score = log P_ctc + lm_weight * log P_lm(sentence) + length_bonus * count,
where count is tokens or words (as in the beam search's `bonus_unit`). All hypotheses of all
utterances are scored by the LM in one padded pass.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Sequence

from asr.decode.beam import Hypothesis
from asr.model.lm import LstmLM


def _count(tokens: Sequence[int], unit: str, word_delimiter: int | None) -> int:
    if unit == "token":
        return len(tokens)
    words, previous = 0, word_delimiter
    for token in tokens:  # a word starts at a non-delimiter after a delimiter or at the start
        if token != word_delimiter and previous == word_delimiter:
            words += 1
        previous = token
    return words


def rescore_nbest(nbests: Sequence[Sequence[Hypothesis]], lm: LstmLM, lm_weight: float,
                  length_bonus: float = 0.0, bonus_unit: Literal["token", "word"] = "token",
                  word_delimiter: int | None = None) -> list[list[Hypothesis]]:
    """Re-rank every utterance's n-best list by the fused score with full-sentence LM scores.

    nbests: per utterance, hypotheses with `ctc_score` set. Returns new lists, best first,
    with `lm_score` and `score` replaced.
    """
    if bonus_unit == "word" and word_delimiter is None:
        raise ValueError("bonus_unit='word' needs word_delimiter")
    flat = [h for nbest in nbests for h in nbest]
    if not flat:
        return [[] for _ in nbests]
    lm_scores = lm.sentence_log_probs([h.tokens for h in flat]).tolist()
    rescored, position = [], 0
    for nbest in nbests:
        rows = []
        for h in nbest:
            lm_score = lm_scores[position]
            position += 1
            score = h.ctc_score + lm_weight * lm_score + length_bonus * _count(h.tokens, bonus_unit,
                                                                              word_delimiter)
            rows.append(dataclasses.replace(h, score=score, lm_score=lm_score))
        rescored.append(sorted(rows, key=lambda h: h.score, reverse=True))
    return rescored
