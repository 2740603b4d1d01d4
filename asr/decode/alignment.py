"""Word timestamps and confidences from CTC output.

The decoders return token sequences, not frame positions: beam search merges the many
alignments of a prefix into one score and keeps no frames. So the frames come from a forced
alignment afterwards: the most probable CTC path (Viterbi) over the log-probs that spells exactly
the hypothesis' tokens. For greedy output this is the greedy path itself (the argmax path is the
most probable path of all, so also of those spelling its text), and one code path serves greedy,
beam search, with or without LM, and streaming segments alike.

Times: output frame i covers [i * frame_seconds, (i + 1) * frame_seconds) of the audio
(frame_seconds = stack x feature hop, 30 ms by default). A word starts at the first frame its
first token is emitted on and ends at the end of the last frame its last token is emitted on
(blank frames around it and the word-delimiter token belong to no word).

Confidence: the mean, over the word's tokens, of each token's peak posterior (its highest
probability on the frames it is emitted on) -- like Whisper's word probability, the mean of its
tokens'. A token the LM pushed in against the acoustics gets a low peak, so a word with one such
letter loses about 1/len(word) of confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from asr.text import Tokenizer

_SENTENCEPIECE_SPACE = "\u2581"  # sentencepiece's word-start marker


@dataclass
class Word:
    """One recognized word: times in seconds from the start of the audio, confidence in [0, 1]."""

    word: str
    start: float
    end: float
    confidence: float

    def to_json(self) -> dict:
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3),
                "confidence": round(self.confidence, 3)}


def ctc_forced_align(log_probs: torch.Tensor, tokens: Sequence[int], blank: int = 0) -> list[int]:
    """The most probable CTC path spelling `tokens`.

    log_probs [T, V] (one utterance, its valid frames only), tokens: L ids (no blanks) ->
    a list of T entries: for each frame the index (0..L-1) into `tokens` of the token emitted
    there, or -1 for a blank frame. Raises ValueError when no path of T frames spells the tokens
    (T < L plus one blank between each pair of equal neighbours).

    Viterbi over the 2L+1 states blank, y1, blank, y2, ..., yL, blank: a state is entered from
    itself, from the one before, or, for a token differing from the token before it, from that
    token (skipping the blank between). Vectorized over states; the loop is over frames.
    """
    num_frames, num_tokens = log_probs.shape[0], len(tokens)
    if num_tokens == 0:
        return [-1] * num_frames
    if num_frames == 0:
        raise ValueError(f"no CTC path of 0 frames spells {num_tokens} tokens")
    emissions = log_probs.detach().float().cpu().numpy()
    labels = np.full(2 * num_tokens + 1, blank, dtype=np.int64)
    labels[1::2] = tokens
    can_skip = np.zeros(len(labels), dtype=bool)  # state s may be entered from s - 2
    can_skip[3::2] = labels[3::2] != labels[1:-2:2]
    states = np.arange(len(labels))
    score = np.full(len(labels), -np.inf)
    score[:2] = emissions[0, labels[:2]]
    back = np.zeros((num_frames, len(labels)), dtype=np.int8)  # steps back taken: 0, 1 or 2
    for t in range(1, num_frames):
        from_previous = np.concatenate(([-np.inf], score[:-1]))
        from_skip = np.where(can_skip, np.concatenate(([-np.inf, -np.inf], score[:-2])), -np.inf)
        candidates = np.stack([score, from_previous, from_skip])
        back[t] = candidates.argmax(axis=0)
        score = candidates[back[t], states] + emissions[t, labels]
    final = len(labels) - 1 if score[-1] >= score[-2] else len(labels) - 2
    if not np.isfinite(score[final]):
        raise ValueError(f"no CTC path of {num_frames} frames spells these {num_tokens} tokens")
    path = [0] * num_frames
    state = final
    for t in range(num_frames - 1, -1, -1):
        path[t] = (state - 1) // 2 if state % 2 else -1
        state -= int(back[t, state])
    return path


def token_spans(path: Sequence[int], num_tokens: int) -> list[tuple[int, int]]:
    """(first frame, last frame) of each token in a `ctc_forced_align` path."""
    spans = [(-1, -1)] * num_tokens
    for frame, index in enumerate(path):
        if index >= 0:
            first = spans[index][0]
            spans[index] = (frame if first < 0 else first, frame)
    return spans


def _surface(tokenizer: Tokenizer, token: int) -> str:
    """The text of one token with word boundaries as spaces (sentencepiece's marker too)."""
    return tokenizer.symbols[token - 1].replace(_SENTENCEPIECE_SPACE, " ")


def align_words(log_probs: torch.Tensor, tokens: Sequence[int], tokenizer: Tokenizer,
                frame_seconds: float, offset: float = 0.0) -> list[Word]:
    """Words of a hypothesis with times and confidences (see the module docstring).

    log_probs [T, V]: the utterance's (or segment's) valid frames; tokens: the hypothesis;
    offset: seconds of the audio before frame 0 (a segment's place in its stream).
    Words are cut at spaces: the space token of character models, the word-start marker of
    sentencepiece pieces.
    """
    path = ctc_forced_align(log_probs, tokens, tokenizer.BLANK)
    spans = token_spans(path, len(tokens))
    # peak posterior of each token on its frames
    emissions = log_probs.detach().float().cpu()
    peaks = [float(emissions[first: last + 1, token].max().exp()) for token, (first, last) in zip(tokens, spans)]
    words: list[Word] = []
    letters: list[int] = []  # indices into tokens of the open word's tokens
    text = ""

    def close() -> None:
        nonlocal letters, text
        if letters:
            first, last = spans[letters[0]][0], spans[letters[-1]][1]
            words.append(Word(text, offset + first * frame_seconds, offset + (last + 1) * frame_seconds,
                              sum(peaks[i] for i in letters) / len(letters)))
        letters, text = [], ""

    for index, token in enumerate(tokens):
        surface = _surface(tokenizer, token)
        if surface.startswith(" "):
            close()
        if surface.strip():
            letters.append(index)
            text += surface.strip()
        if surface.endswith(" ") and surface.strip():
            close()
    close()
    return words
