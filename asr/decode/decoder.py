"""From CTC log-probabilities to text: greedy, or prefix beam search with an optional LSTM LM
(shallow fusion in the search, or N-best rescoring)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from asr.decode.alignment import Word
from asr.decode.beam import BeamSearchOptions, Hypothesis, PrefixBeamSearch, ctc_prefix_beam_search
from asr.decode.greedy import ctc_greedy_search
from asr.decode.options import DecodingOptions
from asr.decode.rescore import rescore_nbest
from asr.errors import AsrError
from asr.model.lm import LstmLM
from asr.text import CharTokenizer, Tokenizer


@dataclass
class Decoded:
    text: str
    score: float | None = None  # fused score of the best hypothesis (beam search)
    nbest: list[dict] = field(default_factory=list)  # {"text", "score", "ctc_score", "lm_score"}
    tokens: list[int] = field(default_factory=list)  # the best hypothesis' token ids
    words: list[Word] | None = None  # with word timestamps (asr.decode.alignment), else None


def _tidy(text: str) -> str:
    """Single spaces between words, none at the ends: a CTC model may emit the space token
    first (a segment cut right after a word), or twice with a blank between."""
    return " ".join(text.split())


class CtcDecoder:
    """decode(log_probs [B, T, V], lengths [B]) -> one `Decoded` per utterance."""

    def __init__(self, tokenizer: Tokenizer, options: DecodingOptions, lm: LstmLM | None = None):
        self.tokenizer, self.options, self.lm = tokenizer, options, lm
        uses_lm = options.decoder == "beam" and options.lm_weight != 0.0
        if options.rescore and lm is None:
            raise AsrError("--rescore needs a language model: pass --lm LM.pt (or a model package with one)")
        if uses_lm and lm is None:
            raise AsrError("--lm-weight needs a language model: pass --lm LM.pt (or a model package with one)")
        if options.decoder == "greedy" and (options.lm_weight or options.rescore or options.nbest > 1):
            raise AsrError("--lm-weight, --rescore and --nbest need --decoder beam")
        if lm is not None and lm.config.vocab_size != tokenizer.vocab_size:
            raise AsrError(f"the language model has {lm.config.vocab_size} tokens but the acoustic model "
                           f"{tokenizer.vocab_size}: they were trained with different token sets")
        self.word_delimiter = None
        if options.bonus_unit == "word" and options.word_bonus:
            if not isinstance(tokenizer, CharTokenizer):
                raise AsrError("a per-word bonus needs character units; with sentencepiece use "
                               "--bonus-unit token")
            self.word_delimiter = tokenizer.encode(" ")[0]

    def _search_options(self, fused: bool) -> BeamSearchOptions:
        o = self.options
        keep = max(o.nbest, o.rescore_nbest or o.beam_size) if o.rescore else o.nbest
        return BeamSearchOptions(
            beam_size=o.beam_size, token_top_k=o.token_top_k or None, token_min_logprob=o.token_min_logprob,
            nbest=min(keep, o.beam_size), lm_weight=o.lm_weight if fused else 0.0,
            length_bonus=o.word_bonus if fused else 0.0,
            bonus_unit=o.bonus_unit if o.word_bonus else "token", word_delimiter=self.word_delimiter)

    def _decoded(self, nbest: list[Hypothesis]) -> Decoded:
        rows = [{"text": _tidy(self.tokenizer.decode(h.tokens)), "score": h.score, "ctc_score": h.ctc_score,
                 "lm_score": h.lm_score} for h in nbest[: self.options.nbest]]
        if not rows:
            return Decoded("", None, [])
        return Decoded(rows[0]["text"], rows[0]["score"], rows if self.options.nbest > 1 else [],
                       tokens=list(nbest[0].tokens))

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[Decoded]:
        o = self.options
        if o.decoder == "greedy":
            return [Decoded(_tidy(self.tokenizer.decode(ids)), tokens=ids)
                    for ids in ctc_greedy_search(log_probs, lengths)]
        fused = not o.rescore and o.lm_weight != 0.0
        nbests = ctc_prefix_beam_search(log_probs, lengths, self._search_options(fused),
                                        lm=self.lm if fused else None, blank=self.tokenizer.BLANK)
        if o.rescore and self.lm is not None:
            nbests = rescore_nbest(nbests, self.lm, o.lm_weight, o.word_bonus,
                                   o.bonus_unit if o.word_bonus else "token", self.word_delimiter)
        return [self._decoded(nbest) for nbest in nbests]

    def stream(self) -> "DecodingStream":
        """An incremental decoder for one utterance (streaming)."""
        return DecodingStream(self)


class DecodingStream:
    """Decodes one utterance block by block: `advance(log_probs [1, t, V])`, then `result()` at
    any time. The result after all blocks equals `CtcDecoder.decode` on the whole utterance."""

    def __init__(self, decoder: CtcDecoder):
        self.decoder = decoder
        o = decoder.options
        self.tokens: list[int] = []  # greedy: the collapsed tokens so far
        self.previous = decoder.tokenizer.BLANK  # greedy: the last frame's best token
        self.search = None
        if o.decoder == "beam":
            fused = not o.rescore and o.lm_weight != 0.0
            self.search = PrefixBeamSearch(1, decoder.tokenizer.vocab_size, decoder._search_options(fused),
                                           lm=decoder.lm if fused else None, blank=decoder.tokenizer.BLANK)

    @torch.no_grad()
    def advance(self, log_probs: torch.Tensor) -> None:
        if log_probs.shape[1] == 0:
            return
        if self.search is not None:
            self.search.advance(log_probs.to(self.search.dtype),
                                torch.tensor([log_probs.shape[1]]))
            return
        blank = self.decoder.tokenizer.BLANK
        for token in log_probs[0].argmax(dim=-1).tolist():
            if token != blank and token != self.previous:
                self.tokens.append(token)
            self.previous = token

    def result(self) -> Decoded:
        if self.search is None:
            return Decoded(_tidy(self.decoder.tokenizer.decode(self.tokens)), tokens=list(self.tokens))
        o, d = self.decoder.options, self.decoder
        nbests = self.search.hypotheses()
        if o.rescore and d.lm is not None:
            nbests = rescore_nbest(nbests, d.lm, o.lm_weight, o.word_bonus,
                                   o.bonus_unit if o.word_bonus else "token", d.word_delimiter)
        return d._decoded(nbests[0])
