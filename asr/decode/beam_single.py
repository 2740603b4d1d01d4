"""CTC prefix beam search for one utterance, in numpy: the same search as asr.decode.beam.

The batched search in asr.decode.beam runs some 80 torch ops per search step on [B, K] tensors.
For one utterance (`asr transcribe one.wav`, every streaming chunk) those tensors are tiny and
each op's fixed cost (several microseconds of dispatch) is the whole cost, about 1 ms a step.
Here the same recursions run on numpy arrays of the live hypotheses only (a microsecond or less
an op, no masks for dead slots or finished utterances, no [B, K, L] token buffer to copy):

- one search step scores every candidate of the n live hypotheses as one [n, V] matrix: column
  c is "extend by c", and the blank's column (never an extension) holds "stay", so the best
  beam_size candidates are one argpartition, and a chosen flat index says both the source
  hypothesis and what it did; tokens that do not pass the pruning are -inf in the frame's row;
- the pruning of the whole block is applied at once before the search; frames where no token
  passes it get the two "stay" updates only (in closed form over longer runs);
- prefixes are nodes of a trie (parent, token), so a new prefix costs one row, and tokens are
  read back only for the returned hypotheses;
- "extension of p by c" == "hypothesis j" is found, as in the batched search, by a prefix hash,
  confirmed by the length (a wrong merge needs two live prefixes whose lengths differ by one and
  whose 64-bit hashes collide).

Every pruning, merging and ranking rule is that of asr.decode.beam (see its docstring), so both
return the same hypotheses with the same scores up to float rounding (tests/test_beam.py runs its
reference tests on both; tests/test_beam_single.py compares them). An LM is called once per
search step for the new prefixes, through the same protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # beam.py imports this module
    from asr.decode.beam import BeamSearchOptions, Hypothesis, LanguageModelScorer

# Prefix hash: hash(y + c) = hash(y) * _HASH_MULTIPLIER + c in int64 arithmetic, which wraps
# around (mod 2**64); hash(empty) = 1, so that no prefix of token 0s hashes like a shorter one.
_HASH_MULTIPLIER = np.int64(0x5DEECE66D2B1F)  # odd
_CLOSED_FORM_RUN = 4  # runs of stay-only frames at least this long are applied in closed form
# Rows of SingleUtteranceSearch.meta: last token (the blank for the empty prefix, the only one
# whose last token can be blank), prefix hash, hash of the prefix without its last token
# (-1 for the empty prefix), length, trie node.
_LAST, _HASH, _PARENT_HASH, _LENGTH, _NODE = range(5)


class SingleUtteranceSearch:
    """Prefix beam search over one utterance, fed block by block (`advance`), readable at any
    time (`hypotheses`). The live hypotheses (n <= beam_size) are the columns of small arrays."""

    def __init__(self, vocab: int, options: BeamSearchOptions, lm: LanguageModelScorer | None, blank: int,
                 dtype: torch.dtype):
        self.options, self.lm, self.blank, self.vocab, self.dtype = options, lm, blank, vocab, dtype
        self.np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
        self.top_k = vocab - 1 if options.token_top_k is None else min(options.token_top_k, vocab - 1)
        self.min_logprob = options.token_min_logprob
        if self.min_logprob == float("-inf"):
            self.min_logprob = None
        self.rows = np.arange(options.beam_size)
        # Length-bonus units gained by extending with each token (0 for blank: staying); for
        # words only after a boundary (_fusion_increments).
        self.bonus_row = None
        if options.length_bonus:
            counted = np.arange(vocab) != blank
            if options.bonus_unit == "word":
                counted[options.word_delimiter] = False
            self.bonus_row = counted.astype(self.np_dtype)
        # The live hypotheses, at first the empty prefix: p_blank, p_nonblank; the integer
        # fields [5, n] (_LAST.._NODE; gathered in one op); offset = lm_weight * lm_score +
        # length_bonus * units, what the fused score adds to the CTC score; lm_score, kept
        # for the returned hypotheses.
        self.log_p_blank = np.zeros(1, self.np_dtype)
        self.log_p_nonblank = np.full(1, -np.inf, self.np_dtype)
        self.meta = np.array([[blank], [1], [-1], [0], [0]], np.int64)
        self.offset = np.zeros(1, self.np_dtype)
        self.lm_score = np.zeros(1, self.np_dtype)
        # The trie [nodes, 2]: (parent node, token) of every prefix ever kept; node 0 is the
        # empty prefix.
        self.trie = np.zeros((256, 2), np.int64)
        self.trie_size = 1
        self.lm_state = self.lm_next = None
        if lm is not None:
            first, self.lm_state = lm.score(lm.initial_state(1), torch.full((1,), -1, dtype=torch.long))
            self.lm_next = self._lm_increment(first)  # [n, V] log P_lm(. | prefix), 0 for blank

    # ------------------------------------------------------------------------------ search
    @torch.no_grad()
    def advance(self, log_probs: torch.Tensor, length: int) -> None:
        """Consume the first `length` frames of log_probs [t, V] (CPU)."""
        if length <= 0 or self.meta.shape[1] == 0:
            return
        frames = log_probs[:length].detach().to(self.dtype).numpy()
        extensions, expanded = self._candidates(frames)
        start = 0
        for t in np.flatnonzero(expanded).tolist():
            if t > start:
                self._stay_through(frames, start, t)
            self._step(frames[t], extensions[t])
            start = t + 1
            if self.meta.shape[1] == 0:  # nothing alive (only with -inf log-probs)
                return
        if length > start:
            self._stay_through(frames, start, length)

    def _candidates(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The frames' log-probs of the tokens that may extend a prefix, -inf for the others
        and for blank [t, V], and which frames have any [t] (the others only "stay")."""
        extensions = frames.copy()
        extensions[:, self.blank] = -np.inf
        vocab = self.vocab
        if self.min_logprob is None and self.top_k == vocab - 1:
            return extensions, np.ones(len(frames), bool)
        passing = np.ones(extensions.shape, bool)
        if self.min_logprob is not None:
            passing = extensions >= self.min_logprob
        if self.top_k < vocab - 1:  # the top_k best of each frame (equal log-probs: lower id first)
            order = np.argsort(-extensions, axis=1, kind="stable")
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.arange(vocab)[None, :], axis=1)
            passing &= rank < self.top_k
        return np.where(passing, extensions, -np.inf), passing.any(axis=1)

    def _stay_through(self, frames: np.ndarray, start: int, end: int) -> None:
        """Frames [start, end) extend nothing: every prefix stays (blank, or its last token;
        the empty prefix's p_nonblank is -inf, so its "last token" does not matter)."""
        blank, last = self.blank, self.meta[_LAST]
        if end - start < _CLOSED_FORM_RUN:
            p_b, p_nb = self.log_p_blank, self.log_p_nonblank
            for t in range(start, end):
                frame = frames[t]
                p_b = np.logaddexp(p_b, p_nb) + frame[blank]
                p_nb = p_nb + frame[last]
            self.log_p_blank, self.log_p_nonblank = p_b, p_nb
            return
        # Closed form (as asr.decode.schedule): alignments blank throughout, or repeating the
        # last token before frame k and blank from k on.
        repeat_before = np.cumsum(frames[start:end][:, last], axis=0)  # [R, n]: x_last summed over [start, k]
        blank_after = np.cumsum(frames[start:end, blank][::-1])[::-1]  # [R]: x_blank summed over [k, end)
        first = np.full((1, len(last)), blank_after[0], self.np_dtype)  # blank from the run's first frame on
        to_blank = np.logaddexp.reduce(np.concatenate([first, repeat_before[:-1] + blank_after[1:, None]]), axis=0)
        self.log_p_blank = np.logaddexp(self.log_p_blank + blank_after[0], self.log_p_nonblank + to_blank)
        self.log_p_nonblank = self.log_p_nonblank + repeat_before[-1]

    def _step(self, frame: np.ndarray, extensions: np.ndarray) -> None:
        """One frame that may extend prefixes: frame [V], extensions [V] (its log-probs of the
        candidate tokens, -inf elsewhere)."""
        blank, meta, vocab = self.blank, self.meta, self.vocab
        p_b, p_nb, last = self.log_p_blank, self.log_p_nonblank, meta[_LAST]
        n = len(last)
        ctc = np.logaddexp(p_b, p_nb)
        stay_blank = ctc + frame[blank]
        stay_nonblank = p_nb + frame[last]
        # p_nb of "extend hypothesis j by token c" [n, V]: after the same token only from
        # alignments ending in blank (this also writes the empty prefix's blank column, which
        # gets its stay below).
        nonblank = ctc[:, None] + extensions
        nonblank[self.rows[:n], last] = p_b + extensions[last]

        if n > 1:  # fold "p extended by c" into hypothesis j when j's prefix is p's plus c
            child, parent = (meta[_PARENT_HASH, :, None] == meta[_HASH]).nonzero()
            if len(child):  # a hash match; the prefix must also be one token longer
                length = meta[_LENGTH]
                same = length[parent] + 1 == length[child]
                child, parent = child[same], parent[same]
                token = last[child]
                stay_nonblank[child] = np.logaddexp(stay_nonblank[child], nonblank[parent, token])
                nonblank[parent, token] = -np.inf
        nonblank[:, blank] = stay_nonblank

        # Fused scores: + offset, and for extensions what they add (0 in the blank's column).
        increments = self._fusion_increments(last)
        if increments is None:
            fused = nonblank.copy()
            fused[:, blank] = np.logaddexp(stay_blank, stay_nonblank)
        else:
            fused = nonblank + increments
            fused += self.offset[:, None]
            fused[:, blank] = np.logaddexp(stay_blank, stay_nonblank) + self.offset

        # The beam_size best; chosen[0] is the worst of them (argpartition's kth).
        flat, beam = fused.ravel(), self.options.beam_size
        cut = len(flat) - beam
        chosen = flat.argpartition(cut)[cut:] if cut > 0 else flat.argsort()
        source = chosen // vocab
        token = chosen - source * vocab
        new_p_nb = nonblank.take(chosen)
        new_p_b = stay_blank.take(source)
        if flat[chosen[0]] == -np.inf:  # fewer than beam_size candidates: drop those without any alignment
            alive = np.logaddexp(np.where(token == blank, new_p_b, -np.inf), new_p_nb) > -np.inf
            chosen, source, token, new_p_b, new_p_nb = (a[alive] for a in (chosen, source, token, new_p_b, new_p_nb))
        extended = (token != blank).nonzero()[0]
        new_p_b[extended] = -np.inf
        self.log_p_blank, self.log_p_nonblank = new_p_b, new_p_nb
        new = meta.take(source, 1)
        if len(extended):
            new_token = token.take(extended)
            prefix_hash = new[_HASH, extended]
            new[_PARENT_HASH, extended] = prefix_hash
            new[_HASH, extended] = prefix_hash * _HASH_MULTIPLIER + new_token  # wraps around (mod 2**64)
            new[_LENGTH, extended] += 1
            new[_LAST, extended] = new_token
            # One new trie node per new prefix: (parent node, token).
            start, end = self.trie_size, self.trie_size + len(extended)
            if end > len(self.trie):
                self.trie = np.resize(self.trie, (2 * end, 2))
            self.trie[start:end, 0] = new[_NODE, extended]
            self.trie[start:end, 1] = new_token
            new[_NODE, extended] = np.arange(start, end)
            self.trie_size = end
        self.meta = new
        if increments is not None:
            self.offset = self.offset.take(source) + increments.take(chosen)
        if self.lm is not None:
            self.lm_score = self.lm_score.take(source) + self.lm_next.take(chosen)
            self._update_lm(source, extended, token.take(extended))

    def _fusion_increments(self, last: np.ndarray) -> np.ndarray | None:
        """What extending each hypothesis (ending in `last` [n]) by each token adds to the
        fused score [n, V]: lm_weight * log P_lm + length_bonus * units; 0 for blank (staying).
        None where the fused score is the CTC score."""
        o = self.options
        increments = o.lm_weight * self.lm_next if self.lm_next is not None and o.lm_weight else None
        if self.bonus_row is not None:
            bonus = o.length_bonus * self.bonus_row
            if o.bonus_unit == "word":  # a word starts after a delimiter or at the start (last = blank)
                after_boundary = (last == self.blank) | (last == o.word_delimiter)
                bonus = after_boundary[:, None] * bonus
            increments = bonus if increments is None else increments + bonus
        if increments is not None and increments.ndim == 1:
            increments = np.broadcast_to(increments, (len(last), self.vocab))
        return increments

    def _lm_increment(self, log_probs: torch.Tensor) -> np.ndarray:
        """LM log-probs [m, V] as the search adds them: 0 in the blank's (the stay's) column."""
        increment = np.array(log_probs.to(self.dtype).cpu().numpy())
        increment[:, self.blank] = 0.0
        return increment

    def _update_lm(self, source: np.ndarray, extended: np.ndarray, new_token: np.ndarray) -> None:
        """LM states and next-token log-probs of the new hypotheses (columns of the old ones at
        `source`; those at `extended` are new prefixes, scored in one call)."""
        lm, n = self.lm, len(self.lm_next)
        if len(extended) == 0:
            if len(source) != n or (source != self.rows[:n]).any():
                self.lm_state = lm.select(self.lm_state, torch.from_numpy(source))
                self.lm_next = self.lm_next[source]
            return
        parents = lm.select(self.lm_state, torch.from_numpy(source[extended]))
        next_logprobs, states = lm.score(parents, torch.from_numpy(new_token))
        rows = source.copy()
        rows[extended] = n + np.arange(len(extended))
        self.lm_state = lm.select(lm.concat([self.lm_state, states]), torch.from_numpy(rows))
        self.lm_next = np.concatenate([self.lm_next, self._lm_increment(next_logprobs)])[rows]

    # ------------------------------------------------------------------------------ results
    def tokens_of(self, node: int) -> list[int]:
        """The tokens of the prefix at trie node `node`."""
        tokens = []
        while node:
            node, token = self.trie[node].tolist()
            tokens.append(token)
        return tokens[::-1]

    @torch.no_grad()
    def hypotheses(self) -> list[Hypothesis]:
        """Up to nbest hypotheses, best first, as if the input ended here (with the LM's
        end-of-sentence score)."""
        from asr.decode.beam import Hypothesis

        o = self.options
        if self.meta.shape[1] == 0:
            return []
        ctc = np.logaddexp(self.log_p_blank, self.log_p_nonblank)
        fused = ctc + self.offset
        lm_score = np.zeros_like(ctc)
        if self.lm is not None:
            end = self.lm.final_score(self.lm_state).to(self.dtype).cpu().numpy()
            lm_score = self.lm_score + end
            if o.lm_weight:
                fused = fused + o.lm_weight * end
        order = np.argsort(-fused, kind="stable")[: o.nbest]
        return [Hypothesis(tokens=self.tokens_of(int(self.meta[_NODE, i])), score=float(fused[i]),
                           ctc_score=float(ctc[i]), lm_score=float(lm_score[i]))
                for i in order.tolist() if fused[i] > -np.inf]
