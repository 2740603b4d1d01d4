"""Decoders over CTC log-probabilities: greedy, CTC prefix beam search with LSTM-LM shallow
fusion, N-best rescoring; `CtcDecoder` picks among them from `DecodingOptions`."""

from asr.decode.greedy import ctc_greedy_search
from asr.decode.options import DECODERS, DecodingOptions

__all__ = ["ctc_greedy_search", "DECODERS", "DecodingOptions"]
