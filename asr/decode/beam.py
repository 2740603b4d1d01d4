"""CTC prefix beam search, batched and vectorized in torch, with optional LM shallow fusion.

The search follows Graves (2012) and Hannun et al. (2014, "First-pass large vocabulary
continuous speech recognition using bi-directional recurrent DNNs"): every prefix y keeps two
log-probabilities over the frames seen so far, p_b(y) (alignments ending in blank) and p_nb(y)
(alignments ending in the last token of y). At each frame

    staying on y:      p_b'(y)   = logadd(p_b, p_nb)(y) + x[blank]
                       p_nb'(y)  = p_nb(y) + x[last(y)]            (the last token is repeated)
    extending by c:    p_nb'(yc) = logadd(p_b, p_nb)(y) + x[c]    if c != last(y)
                       p_nb'(yc) = p_b(y) + x[c]                  if c == last(y)

and a prefix reached both by staying and by extending is merged (log-add).

Everything runs on tensors shaped [B, K, ...] (B utterances, K = beam_size slots); the only
Python loop is over frames. Prefixes live in a token buffer [B, K, L] padded with -1 (L grows
with the longest prefix, so per-frame copies cost what the prefixes hold, not T), plus a
rolling hash. Within one frame the only possible duplicate is "extension of slot p by c" ==
"slot j" (two extensions or two stays can never coincide because beam prefixes are distinct),
so merging reduces to finding, for every slot j, the slot holding j's prefix minus its last
token: a lookup of a 62-bit hash, confirmed by the length and the last few tokens (a wrong merge
would need two live prefixes of the same length whose hashes collide and that end alike).

For a few utterances on the CPU, where these tensors are tiny and the search's cost is the fixed
cost of each torch op, `PrefixBeamSearch` runs the same search one utterance at a time in numpy
instead (asr.decode.beam_single), with the same results.

Shallow fusion: when y is extended by c the fused score gains alpha * log P_lm(c | y) and the
length bonus beta (see `BeamSearchOptions.bonus_unit`); at the end alpha * log P_lm(</s> | y)
is added. The LM is asked for log P_lm(. | y) once per new prefix (the result is cached with
the hypothesis), in one batched call per frame for all utterances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, Protocol

import torch

from asr.decode.beam_single import SingleUtteranceSearch
from asr.decode.lstm_scorer import lstm_step_scorer
from asr.decode.schedule import FrameSchedule, plan_frames

NO_TOKEN = -1  # padding of the token buffer, and the "last token" of the empty prefix

# Polynomial prefix hash in int64 arithmetic, which wraps around (mod 2**64), kept to 62 bits
# so it is never negative (negative keys mark dead slots and the empty prefix's parent). Three
# ops per frame; a wrong merge would also need equal lengths and equal last tokens (the tail).
_HASH_MULTIPLIER = 0x5DEECE66D2B1F  # odd
_HASH_MASK = (1 << 62) - 1
_BUFFER_GROWTH = 32  # token-buffer columns added at once
Implementation = Literal["auto", "batched", "single"]
# Batch sizes up to which implementation="auto" decodes utterance by utterance in numpy: on one
# CPU thread the two were about even at 16 utterances without LM and at 4 with the 64/256x2
# LSTM LM (beam 10, default pruning; BENCHMARKS.md, CTC prefix beam search, "Small batches").
SINGLE_UP_TO = 16
SINGLE_UP_TO_WITH_LM = 4


@dataclass
class BeamSearchOptions:
    """Knobs of `ctc_prefix_beam_search`.

    beam_size: prefixes kept per utterance after every frame.
    token_top_k: expand only the k most probable non-blank tokens of each frame (None: all).
    token_min_logprob: expand only tokens whose frame log-prob is >= this (None: no limit).
        Both token prunings limit extensions only; staying on a prefix (blank or repeat of its
        last token) is always considered, so no hypothesis is ever cut off by them alone.
    nbest: hypotheses returned per utterance (<= beam_size).
    lm_weight: alpha, the weight of log P_lm in the fused score.
    length_bonus: beta, added per emitted token, or per word with bonus_unit="word".
    bonus_unit: "token": beta counts every token of the prefix. "word": beta counts words,
        i.e. non-delimiter tokens that start the prefix or follow `word_delimiter`; leading,
        trailing and repeated delimiters therefore count nothing, and the count equals
        len(text.split()) of the decoded text.
    word_delimiter: token id of the word boundary (space); required for bonus_unit="word".
    """

    beam_size: int = 10
    token_top_k: int | None = None
    token_min_logprob: float | None = None
    nbest: int = 1
    lm_weight: float = 0.0
    length_bonus: float = 0.0
    bonus_unit: Literal["token", "word"] = "token"
    word_delimiter: int | None = None

    def check(self, vocab_size: int, blank: int) -> None:
        """Raise ValueError naming the first inconsistent option."""
        if vocab_size < 2:
            raise ValueError(f"the vocabulary needs blank and at least one token, got {vocab_size}")
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")
        if not 1 <= self.nbest <= self.beam_size:
            raise ValueError(f"nbest must be between 1 and beam_size={self.beam_size}, got {self.nbest}")
        if self.token_top_k is not None and self.token_top_k < 1:
            raise ValueError(f"token_top_k must be >= 1 or None, got {self.token_top_k}")
        if self.bonus_unit not in ("token", "word"):
            raise ValueError(f"bonus_unit must be 'token' or 'word', got {self.bonus_unit!r}")
        if self.bonus_unit == "word":
            if self.word_delimiter is None or not 0 <= self.word_delimiter < vocab_size:
                raise ValueError("bonus_unit='word' needs word_delimiter, a token id below "
                                 f"{vocab_size}, got {self.word_delimiter}")
            if self.word_delimiter == blank:
                raise ValueError("word_delimiter cannot be the blank token")


@dataclass
class Hypothesis:
    """One decoded prefix.

    score = ctc_score + lm_weight * lm_score + length_bonus * (token or word count).
    """

    tokens: list[int]
    score: float
    ctc_score: float  # log P_ctc(prefix) = logadd(p_blank, p_nonblank)
    lm_score: float  # log P_lm(prefix </s>); 0.0 without LM


class LanguageModelScorer(Protocol):
    """What the search needs from a language model (the LSTM LM implements it).

    A state stands for a batch of N hypotheses; its layout is the LM's business, the search
    only passes states back to these methods.
    """

    def initial_state(self, batch_size: int) -> Any:
        """State of `batch_size` empty prefixes, before any token (also before BOS)."""

    def score(self, state: Any, last_tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Consume `last_tokens` [N] (-1: the empty prefix, i.e. the LM's BOS) after `state`.

        Returns log P(next token | prefix) [N, V] over the acoustic model's token ids, and the
        state after the prefix.
        """

    def select(self, state: Any, indices: torch.Tensor) -> Any:
        """The states of hypotheses `indices` [M] (a gather: indices may repeat)."""

    def concat(self, states: Sequence[Any]) -> Any:
        """States joined in order along the hypothesis axis (N1 + N2 + ...).

        Needed because only the hypotheses that are new prefixes are scored at a frame: their
        new states are joined to the old ones and one `select` builds the next beam.
        """

    def final_score(self, state: Any) -> torch.Tensor:
        """log P(</s> | prefix) [N]; zeros for an LM without an end-of-sentence token."""


@dataclass
class _Beams:
    """K prefix hypotheses per utterance. Shapes [B, K] unless noted."""

    log_p_blank: torch.Tensor
    log_p_nonblank: torch.Tensor
    tokens: torch.Tensor  # [B, K, L], L > every length; int8/16/32 (_token_dtype), NO_TOKEN after length
    length: torch.Tensor  # long
    last: torch.Tensor  # long, NO_TOKEN for the empty prefix
    prefix_hash: torch.Tensor  # long, hash of tokens[:length]
    parent_hash: torch.Tensor  # long, hash of tokens[:length - 1]; NO_TOKEN for the empty prefix
    tail: torch.Tensor  # long, the last few tokens (+1) packed into bits (see _tail_bits); 0 when empty
    lm_score: torch.Tensor  # sum of log P_lm(y_i | y_<i) over the prefix
    bonus_count: torch.Tensor  # tokens or words counted for the length bonus (float)
    lm_next: torch.Tensor | None  # [B, K, V] cached log P_lm(. | prefix); None without LM

    def ctc_score(self) -> torch.Tensor:
        return torch.logaddexp(self.log_p_blank, self.log_p_nonblank)

    def gather(self, slots: torch.Tensor) -> _Beams:
        """The hypotheses at `slots` [B, K] of each utterance."""
        rows = _flat_rows(slots)

        def take(values: torch.Tensor) -> torch.Tensor:
            # index_select on [B*K, ...] rows: a plain row copy, much faster than gather.
            return values.flatten(0, 1).index_select(0, rows).view(values.shape)
        return _Beams(**{f.name: None if getattr(self, f.name) is None else take(getattr(self, f.name))
                         for f in fields(self)})


@torch.no_grad()
def ctc_prefix_beam_search(log_probs: torch.Tensor, lengths: torch.Tensor, options: BeamSearchOptions,
                           lm: LanguageModelScorer | None = None, blank: int = 0,
                           implementation: Implementation = "auto") -> list[list[Hypothesis]]:
    """CTC prefix beam search with optional shallow fusion.

    log_probs [B, T, V] (log-softmax output; float32 or float64, any device), lengths [B]
    -> per utterance up to `options.nbest` hypotheses, best fused score first. Computation
    stays on log_probs' device; frames at or past an utterance's length are ignored.
    `implementation`: see `PrefixBeamSearch` (all give the same hypotheses).
    """
    search = PrefixBeamSearch(log_probs.shape[0], log_probs.shape[2], options, lm, blank,
                              log_probs.device, log_probs.dtype, implementation)
    search.advance(log_probs, lengths)
    return search.hypotheses()


class PrefixBeamSearch:
    """The search in incremental form, for streaming: `advance` with each new block of frames,
    `hypotheses` at any time. Feeding an utterance in blocks gives the same result as feeding it
    at once (up to float rounding where a run of skipped frames spans two blocks).

    implementation: "batched" runs all utterances together on [B, K] tensors (any device);
    "single" runs each utterance by itself in numpy (asr.decode.beam_single; CPU, float32 or
    float64), far faster where the tensors would be tiny; "auto" takes "single" on the CPU for
    batches up to SINGLE_UP_TO (SINGLE_UP_TO_WITH_LM with an LM, which is then stepped once per
    utterance instead of once for the batch) and "batched" otherwise. Both are the same search:
    same hypotheses, same scores up to float rounding.
    """

    def __init__(self, batch: int, vocab: int, options: BeamSearchOptions, lm: LanguageModelScorer | None = None,
                 blank: int = 0, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 implementation: Implementation = "auto"):
        options.check(vocab, blank)
        device = torch.device(device)
        numpy_ok = device.type == "cpu" and dtype in (torch.float32, torch.float64)
        if implementation not in ("auto", "batched", "single"):
            raise ValueError(f"implementation must be 'auto', 'batched' or 'single', got {implementation!r}")
        if implementation == "single" and not numpy_ok:
            raise ValueError(f"implementation='single' needs float32 or float64 on the CPU, not {dtype} on {device}")
        if implementation == "auto":
            small = batch <= (SINGLE_UP_TO if lm is None else SINGLE_UP_TO_WITH_LM)
            implementation = "single" if numpy_ok and small else "batched"
        lm = lstm_step_scorer(lm)  # an LstmLM on the CPU: its step without nn.LSTM's fixed costs
        self.options, self.lm, self.blank, self.dtype = options, lm, blank, dtype
        self.singles: list[SingleUtteranceSearch] | None = None
        if implementation == "single":
            self.singles = [SingleUtteranceSearch(vocab, options, lm, blank, dtype) for _ in range(batch)]
            return
        self.beams, self.lm_state = _initial_beams(batch, options.beam_size, vocab, device, dtype, lm)
        self.steps_done = 0  # search steps so far: no prefix is longer

    @torch.no_grad()
    def advance(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> None:
        """Consume log_probs [B, t, V]; frames at or past lengths [B] (<= t) are ignored."""
        if self.singles is not None:
            for search, frames, length in zip(self.singles, log_probs, lengths.tolist()):
                search.advance(frames, length)
            return
        schedule = plan_frames(log_probs, lengths.to(log_probs.device), self.options.token_top_k,
                               self.options.token_min_logprob, self.blank)
        beams, lm_state = self.beams, self.lm_state
        for step in range(schedule.steps):
            beams = _stay_through_run(beams, schedule, step)
            if beams.tokens.shape[2] <= self.steps_done + step:  # room for one more token for sure
                beams.tokens = _grow_token_buffer(beams.tokens, int(beams.length.max()) + 1)
            beams, lm_state = _search_step(beams, schedule, step, self.options, self.lm, lm_state, self.blank)
        self.beams, self.lm_state = _stay_through_run(beams, schedule, schedule.steps), lm_state
        self.steps_done += schedule.steps

    @torch.no_grad()
    def hypotheses(self) -> list[list[Hypothesis]]:
        """Up to nbest hypotheses per utterance, best first, as if the input ended here (the LM's
        end-of-sentence score included); the search itself is not changed."""
        if self.singles is not None:
            return [search.hypotheses() for search in self.singles]
        return _final_hypotheses(self.beams, self.options, self.lm, self.lm_state)


def _initial_beams(batch: int, beam_size: int, vocab: int, device: torch.device,
                   dtype: torch.dtype, lm: LanguageModelScorer | None) -> tuple[_Beams, Any]:
    """Slot 0 of each utterance holds the empty prefix (probability 1); the others are dead."""
    shape = (batch, beam_size)
    log_p_blank = torch.full(shape, float("-inf"), device=device, dtype=dtype)
    log_p_blank[:, 0] = 0.0

    def longs(value: int) -> torch.Tensor:
        return torch.full(shape, value, device=device, dtype=torch.long)

    lm_state, lm_next = None, None
    if lm is not None:
        state = lm.initial_state(batch)
        first, state = lm.score(state, torch.full((batch,), NO_TOKEN, device=device, dtype=torch.long))
        lm_next = first.to(dtype)[:, None, :].expand(-1, beam_size, -1).clone()
        lm_state = lm.select(state, torch.arange(batch, device=device).repeat_interleave(beam_size))
    beams = _Beams(
        log_p_blank=log_p_blank,
        log_p_nonblank=torch.full(shape, float("-inf"), device=device, dtype=dtype),
        tokens=torch.full((batch, beam_size, 1), NO_TOKEN, device=device, dtype=_token_dtype(vocab)),
        length=longs(0), last=longs(NO_TOKEN), prefix_hash=longs(0), parent_hash=longs(NO_TOKEN), tail=longs(0),
        lm_score=torch.zeros(shape, device=device, dtype=dtype),
        bonus_count=torch.zeros(shape, device=device, dtype=dtype),
        lm_next=lm_next,
    )
    return beams, lm_state


def _stay_through_run(beams: _Beams, schedule: FrameSchedule, step: int) -> _Beams:
    """Apply the run of frames that extend nothing, before `step` (see asr.decode.schedule):
    every prefix stays, so only its two probabilities change."""
    if schedule.run_blank is None:
        return beams
    last = beams.last.clamp(min=0)  # the empty prefix has p_nb = -inf: its column does not matter
    repeat = schedule.run_repeat[:, step].gather(1, last)
    to_blank = schedule.run_to_blank[:, step].gather(1, last)
    beams.log_p_blank = torch.logaddexp(beams.log_p_blank + schedule.run_blank[:, step, None],
                                        beams.log_p_nonblank + to_blank)
    beams.log_p_nonblank = beams.log_p_nonblank + repeat
    return beams


def _search_step(beams: _Beams, schedule: FrameSchedule, step: int, options: BeamSearchOptions,
                 lm: LanguageModelScorer | None, lm_state: Any, blank: int) -> tuple[_Beams, Any]:
    """Advance every active utterance by its frame of this step."""
    frame, active = schedule.frames[:, step], schedule.active[:, step]  # [B, V], [B]
    batch, beam_size = beams.length.shape
    ctc_score = beams.ctc_score()
    alive = ctc_score > float("-inf")

    # Staying on the same prefix: blank, or a repeat of its last token.
    stay_blank = ctc_score + frame[:, blank, None]
    repeat = frame.gather(1, beams.last.clamp(min=0))
    stay_nonblank = torch.where(beams.last >= 0, beams.log_p_nonblank + repeat, float("-inf"))

    # Extending by token c: after the same token only from alignments ending in blank.
    ext_tokens, ext_frame = schedule.extensions(step, blank)  # [B, C]
    num_ext = ext_tokens.shape[1]
    same_as_last = ext_tokens[:, None, :] == beams.last[:, :, None]  # [B, K, C]
    ext_nonblank = torch.where(same_as_last, beams.log_p_blank[:, :, None],
                               ctc_score[:, :, None]) + ext_frame[:, None, :]

    stay_nonblank, ext_nonblank = _merge_extensions_into_beam(
        beams, alive, stay_nonblank, ext_nonblank, ext_tokens, frame.shape[1])

    # Fused scores of all K + K*C candidates; the best K per utterance survive. Terms with a
    # zero weight are left out rather than multiplied by 0 (fewer ops; no 0 * -inf = nan).
    stay_fused, ext_fused = torch.logaddexp(stay_blank, stay_nonblank), ext_nonblank
    ext_lm = ext_bonus = None
    if beams.lm_next is not None:
        ext_lm = beams.lm_next.gather(2, ext_tokens[:, None, :].expand(-1, beam_size, -1))  # [B, K, C]
        if options.lm_weight:
            stay_fused = stay_fused + options.lm_weight * beams.lm_score
            ext_fused = ext_fused + options.lm_weight * (beams.lm_score[:, :, None] + ext_lm)
    if options.length_bonus:
        ext_bonus = _bonus_increment(beams.last, ext_tokens, options)  # [B, K, C]
        stay_fused = stay_fused + options.length_bonus * beams.bonus_count
        ext_fused = ext_fused + options.length_bonus * (beams.bonus_count[:, :, None] + ext_bonus)
    chosen = _best_candidates(stay_fused, ext_fused.flatten(1), beam_size)  # [B, K]
    # Finished utterances keep their beam: every slot "stays" on itself with unchanged scores.
    everyone = schedule.all_active[step]  # skip the masking ops when no utterance waits
    if not everyone:
        keep_all = torch.arange(beam_size, device=chosen.device).expand(batch, -1)
        chosen = torch.where(active[:, None], chosen, keep_all)

    is_extension = chosen >= beam_size
    ext_index = (chosen - beam_size).clamp(min=0)
    source_slot = torch.where(is_extension, ext_index // num_ext, chosen)
    new_token = ext_tokens.gather(1, ext_index % num_ext)

    new = beams.gather(source_slot)
    new.log_p_blank = torch.where(is_extension, float("-inf"), stay_blank.gather(1, source_slot))
    new.log_p_nonblank = torch.where(is_extension, ext_nonblank.flatten(1).gather(1, ext_index),
                                     stay_nonblank.gather(1, source_slot))
    if not everyone:
        new.log_p_blank = torch.where(active[:, None], new.log_p_blank, beams.log_p_blank)
        new.log_p_nonblank = torch.where(active[:, None], new.log_p_nonblank, beams.log_p_nonblank)
    _append_token(new, is_extension, new_token,
                  None if ext_lm is None else ext_lm.flatten(1).gather(1, ext_index),
                  None if ext_bonus is None else ext_bonus.flatten(1).gather(1, ext_index))

    is_new_prefix = is_extension & (new.ctc_score() > float("-inf"))
    if lm is not None:
        lm_state = _update_lm(lm, lm_state, new, source_slot, is_new_prefix, new_token)
    return new, lm_state


def _best_candidates(stay: torch.Tensor, extension: torch.Tensor, beam_size: int) -> torch.Tensor:
    """Indices of the beam_size best of cat([stay, extension], 1) per row: stay [B, K],
    extension [B, N] -> [B, K]. Takes the best K extensions first, so the full candidate row is
    never copied."""
    ext_best, ext_position = extension.topk(min(beam_size, extension.shape[1]), dim=1)
    top = torch.cat([stay, ext_best], dim=1).topk(beam_size, dim=1).indices
    from_ext = top >= beam_size
    return torch.where(from_ext, beam_size + ext_position.gather(1, (top - beam_size).clamp(min=0)), top)


def _merge_extensions_into_beam(beams: _Beams, alive: torch.Tensor, stay_nonblank: torch.Tensor,
                                ext_nonblank: torch.Tensor, ext_tokens: torch.Tensor,
                                vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold "slot p extended by c" into slot j when j's prefix is p's prefix plus c.

    stay_nonblank [B, K], ext_nonblank [B, K, C]; returns both with the extension's mass moved
    into the stay candidate and the extension itself removed (-inf), so each prefix appears once.
    """
    batch, beam_size, num_ext = ext_nonblank.shape
    parent_slot, has_parent = _find_parent_slots(beams, alive)
    # Column of token c among this frame's extension tokens (-1: c is not expanded).
    column_of_token = torch.full((batch, vocab), -1, device=ext_tokens.device, dtype=torch.long)
    column_of_token.scatter_(1, ext_tokens, torch.arange(num_ext, device=ext_tokens.device).expand(batch, -1))
    column = column_of_token.gather(1, beams.last.clamp(min=0))
    merges = has_parent & (column >= 0)
    flat_index = torch.where(merges, parent_slot * num_ext + column, 0)  # into ext_nonblank.flatten(1)

    ext_flat = ext_nonblank.flatten(1)
    moved = torch.where(merges, ext_flat.gather(1, flat_index), float("-inf"))
    stay_nonblank = torch.logaddexp(stay_nonblank, moved)
    # scatter_add counts (rather than scatter of booleans) so the dummy index 0 used by
    # non-merging slots cannot overwrite a real merge that also lands on index 0.
    merged_away = torch.zeros(ext_flat.shape, device=ext_flat.device, dtype=torch.long)
    merged_away = merged_away.scatter_add_(1, flat_index, merges.long()) > 0
    ext_flat = ext_flat.masked_fill(merged_away, float("-inf"))
    return stay_nonblank, ext_flat.view(batch, beam_size, num_ext)


def _find_parent_slots(beams: _Beams, alive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For every slot j, the slot whose prefix is j's prefix minus its last token.

    Returns parent_slot [B, K] (long) and has_parent [B, K] (bool). The candidate comes from a
    sorted-hash lookup (O(K log K), not a K x K comparison, so huge beams stay cheap). A match
    must also have the right length and agree on the tokens before the child's last one that
    the packed tails hold (7 of them for up to 127 tokens), so a wrong merge would need a
    collision of the 62-bit hash between two live prefixes that also end alike. Comparing
    a fixed window rather than whole rows keeps the cost per frame constant instead of growing
    with the prefix length (whole rows made the search quadratic in T).
    Dead slots are neither parents nor children: they may hold stale copies of live prefixes.
    """
    # Live prefixes are distinct, so their hashes are distinct barring collisions; dead slots
    # get a key below every hash and every parent hash (the empty prefix's parent hash is -1).
    keys = torch.where(alive, beams.prefix_hash, -2)
    sorted_keys, order = keys.sort(dim=1)
    position = torch.searchsorted(sorted_keys, beams.parent_hash.contiguous()).clamp(max=keys.shape[1] - 1)
    parent_slot = order.gather(1, position)
    bits, mask = _tail_bits(beams.tokens.dtype)
    has_parent = (alive & (sorted_keys.gather(1, position) == beams.parent_hash)
                  & (beams.length.gather(1, parent_slot) == beams.length - 1)
                  & ((beams.tail.gather(1, parent_slot) & (mask >> bits)) == (beams.tail >> bits)))
    return parent_slot, has_parent


def _tail_bits(token_dtype: torch.dtype) -> tuple[int, int]:
    """Bits per token in `_Beams.tail` and the mask of the bits it keeps: as many whole tokens
    (id + 1, so 0 means "none") as fit in 63 bits."""
    bits = min(torch.iinfo(token_dtype).bits, 32)
    return bits, (1 << (63 // bits * bits)) - 1


def _grow_token_buffer(tokens: torch.Tensor, width: int) -> torch.Tensor:
    """The token buffer [B, K, L] with L >= width, so there is room for one more token.

    Grows by _BUFFER_GROWTH NO_TOKEN columns at once: padding is a full copy (and reading the
    longest length a device sync), so it happens once every few dozen frames rather than at
    every frame, and L stays within _BUFFER_GROWTH of the longest prefix."""
    if tokens.shape[2] < width:
        missing = width - tokens.shape[2] + _BUFFER_GROWTH
        tokens = torch.nn.functional.pad(tokens, (0, missing), value=NO_TOKEN)
    return tokens


def _token_dtype(vocab: int) -> torch.dtype:
    """The narrowest integer type for token ids (and NO_TOKEN): copying and comparing the
    token buffer is the search's main memory traffic, and int8 moves an eighth of int64."""
    for dtype in (torch.int8, torch.int16, torch.int32):
        if vocab <= torch.iinfo(dtype).max:
            return dtype
    return torch.long


def _flat_rows(slots: torch.Tensor) -> torch.Tensor:
    """Rows of a [B*K, ...] view for the per-utterance `slots` [B, K] -> [B*K]."""
    batch, beam_size = slots.shape
    return (slots + torch.arange(batch, device=slots.device)[:, None] * beam_size).flatten()


def _bonus_increment(last: torch.Tensor, ext_tokens: torch.Tensor,
                     options: BeamSearchOptions) -> torch.Tensor:
    """Length-bonus units gained by extending prefixes ending in `last` [B, K] with
    `ext_tokens` [B, C] -> [B, K, C] (1.0 or 0.0)."""
    batch, beam_size = last.shape
    shape = (batch, beam_size, ext_tokens.shape[1])
    if options.bonus_unit == "token":
        return torch.ones(shape, device=last.device)
    # A word starts at a non-delimiter token that opens the prefix or follows a delimiter.
    delimiter = options.word_delimiter
    after_boundary = (last == NO_TOKEN) | (last == delimiter)
    return ((ext_tokens[:, None, :] != delimiter) & after_boundary[:, :, None]).float()


def _append_token(new: _Beams, is_extension: torch.Tensor, token: torch.Tensor,
                  lm_logprob: torch.Tensor | None, bonus: torch.Tensor | None) -> None:
    """In place: append `token` [B, K] to the slots that are extensions (their other fields
    were copied from the parent); lm_logprob and bonus [B, K] are what they add (None: nothing
    is tracked)."""
    # Column `length` holds NO_TOKEN in every row, so stays may "write" NO_TOKEN there too.
    written = torch.where(is_extension, token, NO_TOKEN).to(new.tokens.dtype)
    new.tokens.scatter_(2, new.length[:, :, None], written[:, :, None])
    new.parent_hash = torch.where(is_extension, new.prefix_hash, new.parent_hash)
    new.prefix_hash = torch.where(is_extension, _extend_hash(new.prefix_hash, token), new.prefix_hash)
    new.length = new.length + is_extension.long()
    bits, mask = _tail_bits(new.tokens.dtype)
    new.tail = torch.where(is_extension, ((new.tail << bits) | (token + 1)) & mask, new.tail)
    new.last = torch.where(is_extension, token, new.last)
    if lm_logprob is not None:
        new.lm_score = torch.where(is_extension, new.lm_score + lm_logprob, new.lm_score)
    if bonus is not None:
        new.bonus_count = new.bonus_count + torch.where(is_extension, bonus.to(new.bonus_count.dtype), 0.0)


def _extend_hash(prefix_hash: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """Hash of prefix + token from the prefix's hash (long tensors of the same shape)."""
    return (prefix_hash * _HASH_MULTIPLIER + (token + 1)) & _HASH_MASK


def _update_lm(lm: LanguageModelScorer, lm_state: Any, new: _Beams, source_slot: torch.Tensor,
               is_new_prefix: torch.Tensor, new_token: torch.Tensor) -> Any:
    """LM states of the new beam; scores the new prefixes (one batched call) and stores their
    next-token log-probs in `new.lm_next`. lm_state holds B*K states, slot-major per utterance."""
    batch, beam_size = source_slot.shape
    source_row = _flat_rows(source_slot)
    new_rows = is_new_prefix.flatten().nonzero().squeeze(1)
    if new_rows.numel() == 0:
        return lm.select(lm_state, source_row)
    parents = lm.select(lm_state, source_row[new_rows])
    next_logprobs, extended = lm.score(parents, new_token.flatten()[new_rows])
    lm_next = new.lm_next.view(batch * beam_size, -1)
    lm_next[new_rows] = next_logprobs.to(lm_next.dtype)
    # Rows of concat([old, extended]): old states for stays, the freshly scored ones otherwise.
    row_in_joined = source_row.clone()
    row_in_joined[new_rows] = batch * beam_size + torch.arange(new_rows.numel(), device=new_rows.device)
    return lm.select(lm.concat([lm_state, extended]), row_in_joined)


def _weighted(weight: float, values: torch.Tensor) -> torch.Tensor | float:
    """weight * values, but 0 for weight 0 (an LM's -inf log-prob must not make 0 * -inf = nan)."""
    return weight * values if weight else 0.0


def _final_hypotheses(beams: _Beams, options: BeamSearchOptions, lm: LanguageModelScorer | None,
                      lm_state: Any) -> list[list[Hypothesis]]:
    """Add the end-of-sentence LM score, rank, and turn the n best live slots into Hypothesis."""
    batch, beam_size = beams.length.shape
    ctc = beams.ctc_score()
    lm_score = beams.lm_score
    if lm is not None:
        lm_score = lm_score + lm.final_score(lm_state).to(lm_score.dtype).view(batch, beam_size)
    fused = ctc + _weighted(options.lm_weight, lm_score) + options.length_bonus * beams.bonus_count
    fused = fused.masked_fill(ctc == float("-inf"), float("-inf"))
    order = fused.argsort(dim=1, descending=True)[:, : options.nbest]
    # One transfer to the host, then plain Python to build the result objects.
    fused, ctc, lm_score, length = (v.gather(1, order).cpu() for v in (fused, ctc, lm_score, beams.length))
    tokens = beams.tokens.gather(1, order[:, :, None].expand(-1, -1, beams.tokens.shape[2])).cpu()
    results = []
    for b in range(batch):
        results.append([
            Hypothesis(tokens=tokens[b, i, : length[b, i]].tolist(), score=float(fused[b, i]),
                       ctc_score=float(ctc[b, i]), lm_score=float(lm_score[b, i]))
            for i in range(order.shape[1]) if fused[b, i] > float("-inf")
        ])
    return results
