"""Decoding options: what `asr decode`/`asr transcribe` flags set and model packages store as defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from asr.config import from_dict

DECODERS = ("greedy", "beam")
# Tokens whose frame log-prob is below this are not expanded by the beam search (pyctcdecode's
# default too): it drops extensions a trained model gives under 0.7% and lets the search skip
# frames where only blank passes. -inf expands every token.
DEFAULT_TOKEN_MIN_LOGPROB = -5.0
# ... and at most this many tokens per frame (the most probable): on the rare flat frames where
# many pass, the search's work per frame stays small. 0 or a number >= the vocabulary: no limit.
DEFAULT_TOKEN_TOP_K = 8
_BEAM_ONLY = ("nbest", "lm_weight", "word_bonus", "bonus_unit", "rescore", "rescore_nbest")


@dataclass
class DecodingOptions:
    decoder: Literal["greedy", "beam"] = "greedy"
    beam_size: int = 10  # prefixes kept per frame (beam)
    nbest: int = 1  # hypotheses written per utterance (beam)
    lm_weight: float = 0.0  # alpha: weight of log P_lm (needs an LM)
    word_bonus: float = 0.0  # beta: added per word (or per token with bonus_unit=token)
    bonus_unit: Literal["word", "token"] = "word"
    rescore: bool = False  # apply the LM by rescoring the N-best list instead of inside the search
    rescore_nbest: int = 0  # hypotheses kept for rescoring (0: the beam size)
    token_top_k: int | None = DEFAULT_TOKEN_TOP_K  # expand only the k most probable tokens per frame
    token_min_logprob: float | None = DEFAULT_TOKEN_MIN_LOGPROB  # ... and only tokens at least this probable

    def updated(self, changes: dict[str, Any]) -> "DecodingOptions":
        """A copy with `changes` applied (None values are ignored), validated."""
        merged = dataclasses.asdict(self)
        given = {k: v for k, v in changes.items() if v is not None}
        if given.get("decoder") == "greedy" and self.decoder == "beam":
            # Greedy asked for over beam-search defaults (a package from `asr tune --package`):
            # the stored LM weight, bonus, rescoring and N-best belong to that search, not to greedy.
            defaults = dataclasses.asdict(DecodingOptions())
            merged.update({k: defaults[k] for k in _BEAM_ONLY})
        merged.update(given)
        return from_dict(DecodingOptions, merged, prefix="decoding.")

    @classmethod
    def from_package(cls, stored: dict[str, Any]) -> "DecodingOptions":
        return cls().updated(stored or {})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
