"""Word timestamps from CTC output: the forced alignment against brute force, word times and
confidences on hand-made log-probs, and agreement between the ways a result is made (greedy
path, whole utterance, streaming)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from asr.audio import load_audio
from asr.decode.alignment import align_words, ctc_forced_align, token_spans
from asr.decode.stream import StreamingRecognizer
from asr.text import CharTokenizer
from asr.transcribe import Recognizer
from conftest import FSDD, needs_shared_data


def collapse(labels: tuple[int, ...], blank: int = 0) -> list[int]:
    out, previous = [], blank
    for label in labels:
        if label != blank and label != previous:
            out.append(label)
        previous = label
    return out


def path_indices(labels: tuple[int, ...], blank: int = 0) -> list[int]:
    """Frame labels -> the index into the collapsed tokens emitted on each frame (-1: blank)."""
    out, index, previous = [], -1, blank
    for label in labels:
        if label == blank:
            out.append(-1)
        else:
            if label != previous:
                index += 1
            out.append(index)
        previous = label
    return out


@pytest.mark.parametrize("seed", range(12))
def test_forced_alignment_is_the_best_path_spelling_the_tokens_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    frames, vocab = int(rng.integers(1, 7)), 3
    log_probs = torch.from_numpy(rng.normal(size=(frames, vocab))).log_softmax(-1)
    best: dict[tuple, tuple[float, tuple]] = {}  # tokens -> (score, labels) of their best path
    for labels in itertools.product(range(vocab), repeat=frames):
        score = float(sum(log_probs[t, label] for t, label in enumerate(labels)))
        tokens = tuple(collapse(labels))
        if tokens not in best or score > best[tokens][0]:
            best[tokens] = (score, labels)
    for tokens, (_, labels) in best.items():
        assert ctc_forced_align(log_probs, list(tokens)) == path_indices(labels), tokens


def test_forced_alignment_refuses_impossible_token_sequences():
    log_probs = torch.zeros(2, 3).log_softmax(-1)
    with pytest.raises(ValueError):
        ctc_forced_align(log_probs, [1, 1])  # needs a blank between: three frames
    with pytest.raises(ValueError):
        ctc_forced_align(log_probs, [1, 2, 1])
    assert ctc_forced_align(log_probs, []) == [-1, -1]
    assert token_spans([-1, 0, 0, -1, 1], 2) == [(1, 2), (4, 4)]


def test_words_times_and_confidences_on_hand_made_log_probs():
    tokenizer = CharTokenizer()
    frames = 20
    probs = torch.full((frames, tokenizer.vocab_size), 0.01)
    probs[:, 0] = 1.0  # blank everywhere ...
    emitted = {0: (" ", 0.9), 2: ("H", 0.9), 3: ("I", 0.5), 4: ("I", 0.7), 6: (" ", 0.9), 8: (" ", 0.9),
               10: ("Y", 0.8), 13: ("O", 0.6)}  # ... except here (spaces: in no word)
    for frame, (char, p) in emitted.items():
        probs[frame] = (1 - p) / (tokenizer.vocab_size - 1)
        probs[frame, tokenizer.encode(char)[0]] = p
    log_probs = (probs / probs.sum(-1, keepdim=True)).log()
    tokens = tokenizer.encode(" HI  YO")
    words = align_words(log_probs, tokens, tokenizer, frame_seconds=0.03, offset=1.0)
    assert [w.word for w in words] == ["HI", "YO"]
    hi, yo = words
    assert (hi.start, hi.end) == pytest.approx((1.0 + 2 * 0.03, 1.0 + 5 * 0.03))
    assert (yo.start, yo.end) == pytest.approx((1.0 + 10 * 0.03, 1.0 + 14 * 0.03))
    # confidence: mean over letters of each letter's peak posterior (I: the better of 0.5 and 0.7)
    assert hi.confidence == pytest.approx((0.9 + 0.7) / 2, abs=1e-6)
    assert yo.confidence == pytest.approx((0.8 + 0.6) / 2, abs=1e-6)
    assert hi.to_json() == {"word": "HI", "start": 1.06, "end": 1.15, "confidence": 0.8}


@needs_shared_data
def test_greedy_word_times_are_the_frames_of_the_greedy_path(tiny_package):
    recognizer = Recognizer.from_file(str(tiny_package), device="cpu", options={"decoder": "greedy"})
    wave = load_audio(FSDD / "3_jackson_7.wav")
    log_probs, _ = recognizer.log_probs(wave[None], torch.tensor([len(wave)]))
    decoded = recognizer.decode_batch(wave[None], torch.tensor([len(wave)]), word_timestamps=True)[0]
    best = log_probs[0].argmax(-1).tolist()
    indices = path_indices(tuple(best))
    assert ctc_forced_align(log_probs[0], decoded.tokens) == indices
    # each word spans the frames from its first letter's first frame to its last letter's last
    letters = [i for i, t in enumerate(decoded.tokens) if recognizer.tokenizer.decode([t]) != " "]
    spans = token_spans(indices, len(decoded.tokens))
    firsts = [spans[i][0] * recognizer.frame_seconds for i in letters]
    assert decoded.words is not None and " ".join(w.word for w in decoded.words) == decoded.text
    for word in decoded.words:
        assert any(math.isclose(word.start, f) for f in firsts)
        assert 0 <= word.start < word.end and 0 <= word.confidence <= 1


@needs_shared_data
@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_streamed_words_equal_whole_utterance_words_when_the_chunk_holds_everything(tiny_package, decoder):
    recognizer = Recognizer.from_file(str(tiny_package), device="cpu", options={"decoder": decoder})
    wave = load_audio(FSDD / "8_lucas_2.wav")
    whole = recognizer.decode_batch(wave[None], torch.tensor([len(wave)]), word_timestamps=True)[0]
    streaming = StreamingRecognizer(recognizer, chunk_ms=60_000, right_context_ms=0, endpoint_ms=0,
                                    word_timestamps=True)
    segments = streaming.accept_waveform(wave.numpy()) + streaming.final()
    assert whole.words and len(segments) == 1
    assert [w.to_json() for w in segments[0].words] == [w.to_json() for w in whole.words]
    assert recognizer.frame_seconds == pytest.approx(0.03)  # stack 3 x 10 ms, read from the package
