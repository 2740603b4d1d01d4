"""Decoders over CTC log-probabilities: greedy now; prefix beam search, LM fusion and
streaming plug in beside it."""

from asr.decode.greedy import ctc_greedy_search

DECODERS = ("greedy",)

__all__ = ["ctc_greedy_search", "DECODERS"]
