"""Streaming recognition with the BiLSTM model in chunked (latency-controlled) mode.

    recognizer = StreamingRecognizer("model.pt", chunk_ms=240, right_context_ms=120)
    for samples in audio_source:            # float32 16 kHz mono pieces of any size
        for segment in recognizer.accept_waveform(samples):
            print(segment.start, segment.end, segment.text)   # closed by endpointing
        print(recognizer.partial())         # the open segment's text so far
    for segment in recognizer.final():      # end of input: flush and close
        ...

Audio is turned into features and log-probabilities on a fixed grid, whatever the sizes of the
pieces fed in: features in blocks of one chunk's frames, each computed once, as soon as its
samples are there; the acoustic model runs a chunk as soon as the chunk and its right context
have features (`AcousticModel.forward_chunk`, carrying the forward LSTM states). So feeding the
same audio in different pieces gives the same result, and a chunk longer than the utterance
gives the full-utterance model's output. The decoder (greedy, or prefix beam search with the LM)
runs incrementally on each chunk's log-probs.

Endpointing: when a segment has produced speech (a non-blank best token) and then, for
`endpoint_ms`, the best token has been blank and the audio quiet (frames more than
`silence_db` below the loudest frame so far), the segment is closed and decoding starts afresh
(the acoustic model's state carries on). Both are needed because a CTC model may stay blank for
a while in the middle of a word and emit its last letters late; in audio that is never quiet
(steady noise), a segment longer than `max_segment_ms` ends at a blank run alone. Segment times
come from the frames of the first and last non-blank best tokens. With `word_timestamps`, the
open segment's log-probs are kept, and a closed segment gets its words' times and confidences
from a forced alignment of its final hypothesis to them (`asr.decode.alignment`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from asr import SAMPLE_RATE
from asr.decode.alignment import Word
from asr.features import LEVEL_WINDOW, level_gains
from asr.transcribe import Recognizer


class IncrementalFeatures:
    """Normalized log-mel frames of a growing waveform, each frame computed once.

    Frames are computed in blocks of `block_frames` (block k = frames [k*F, (k+1)*F)), each as
    soon as all its samples are there, so the result does not depend on how the audio was cut
    into pieces; `push(samples)` returns the frames completed by those samples [n, n_mels],
    `flush()` the frames of the last, partial block. Their concatenation equals LogMel + CMVN
    over the whole waveform. Samples no later block needs are dropped (bounded memory).

    With the LogMel's level normalization, a block is scaled by the gain of the frames heard so
    far (the last LEVEL_WINDOW of them, this block's included) instead of the whole utterance's,
    which is not known yet: the same quantile, so the features still do not depend on the input
    level, though they differ from the full utterance's until the stream has been loud once.
    """

    def __init__(self, logmel: torch.nn.Module, cmvn: torch.nn.Module, block_frames: int,
                 device: torch.device | str = "cpu"):
        self.logmel, self.cmvn, self.block_frames, self.device = logmel, cmvn, block_frames, device
        self.samples = np.zeros(0, dtype=np.float32)
        self.sample_offset = 0  # stream index of samples[0]
        self.num_samples = 0  # received so far
        self.blocks_done = 0
        self.frame_powers = torch.zeros(0, device=device)  # mean mel power of the last frames (level)

    def push(self, samples: np.ndarray) -> torch.Tensor:
        self.samples = np.concatenate([self.samples, np.asarray(samples, dtype=np.float32)])
        self.num_samples += len(samples)
        return self._blocks(final=False)

    def flush(self) -> torch.Tensor:
        return self._blocks(final=True)

    @torch.inference_mode()
    def _blocks(self, final: bool) -> torch.Tensor:
        hop, window = self.logmel.hop_length, self.logmel.win_length
        total_frames = int(self.logmel.num_frames(self.num_samples)) if final and self.num_samples else 0
        out = []
        while True:
            first = self.blocks_done * self.block_frames
            needed = (first + self.block_frames - 1) * hop + window  # samples the block covers
            if self.num_samples >= needed:
                piece = self.samples[first * hop - self.sample_offset: needed - self.sample_offset]
            elif final and total_frames > first:
                piece = self.samples[first * hop - self.sample_offset:]
            else:
                break
            wave = torch.from_numpy(np.ascontiguousarray(piece)).to(self.device)[None]
            mel, lengths = self.logmel.mel_power(wave, torch.tensor([wave.shape[1]], device=wave.device))
            gains = None
            if self.logmel.normalize_level:
                self.frame_powers = torch.cat([self.frame_powers, mel[0].mean(dim=1)])[-LEVEL_WINDOW:]
                gains = level_gains(self.frame_powers[None], torch.tensor([len(self.frame_powers)], device=mel.device))
            out.append(self.cmvn(self.logmel.log(mel, lengths, gains), lengths)[0])
            self.blocks_done += 1
            keep_from = self.blocks_done * self.block_frames * hop  # the next block's first sample
            if keep_from > self.sample_offset:
                self.samples = self.samples[keep_from - self.sample_offset:]
                self.sample_offset = keep_from
        return torch.cat(out) if out else torch.zeros(0, self.logmel.n_mels, device=self.device)


@dataclass
class ChunkWindow:
    """One stream's next chunk for the acoustic model: stacked frames [count, stack * n_mels] (the
    chunk, then its right context), the chunk's length and first output frame, and the log power
    of each of its output frames (for endpointing)."""

    frames: torch.Tensor
    chunk_length: int
    start: int
    log_power: list[float]


@dataclass
class Segment:
    """A stretch of recognized speech: times in seconds from the start of the stream."""

    start: float
    end: float
    text: str  # words separated by single spaces, none at the ends
    words: list[Word] | None = None  # with word timestamps

    def to_json(self) -> dict:
        record = {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text}
        if self.words is not None:
            record["words"] = [w.to_json() for w in self.words]
        return record


# full scale of integer PCM, and its zero (uint8 is offset binary, as in 8-bit WAV)
_PCM_SCALE = {np.dtype(np.int16): (32768.0, 0.0), np.dtype(np.int32): (2147483648.0, 0.0),
              np.dtype(np.uint8): (128.0, 128.0)}


def pcm_to_float(samples: np.ndarray) -> np.ndarray:
    """float32 samples in [-1, 1) from float or integer PCM (int16, int32, uint8); `TypeError`
    for any other type (int16 read as floats would be 32768 times too loud)."""
    if samples.dtype in _PCM_SCALE:
        scale, zero = _PCM_SCALE[samples.dtype]
        return ((samples.astype(np.float32) - zero) / scale).astype(np.float32)
    if samples.dtype.kind != "f":
        raise TypeError(f"expected float or int16/int32/uint8 PCM samples, got {samples.dtype}")
    return samples.astype(np.float32, copy=False)


class StreamingRecognizer:
    """Incremental recognition of one audio stream (see the module docstring).

    model: a model package path or a loaded `Recognizer` (whose decoding options and LM are used).
    chunk_ms, right_context_ms: chunk length and right context, rounded to output frames (30 ms
        for stack 3); algorithmic latency is about chunk + right context + the 25 ms window.
    decoder, lm, options: as `asr transcribe`'s --decoder, --lm and the other decoding options
        (only with a path; a Recognizer brings its own).
    endpoint_ms: trailing blank + quiet audio that closes a segment (0 or None: never; one
        segment per stream). silence_db: how far below the loudest frame so far a frame counts as
        quiet. max_segment_ms: past this, a blank run alone closes the segment.
    word_timestamps: give each closed segment its words with times and confidences.
    """

    def __init__(self, model: str | Recognizer, chunk_ms: float = 240.0, right_context_ms: float = 120.0,
                 decoder: str | None = None, lm: str | None = None, endpoint_ms: float | None = 800.0,
                 options: dict | None = None, device: str = "cpu", silence_db: float = 30.0,
                 max_segment_ms: float = 30_000.0, word_timestamps: bool = False):
        if isinstance(model, Recognizer):
            self.recognizer = model
        else:
            self.recognizer = Recognizer.from_file(model, device=device, options={**(options or {}), "decoder": decoder},
                                                   lm_path=lm)
        rec = self.recognizer
        self.model, self.logmel, self.cmvn = rec.model.eval(), rec.logmel, rec.cmvn
        self.stack = self.model.config.stack
        self.frame_seconds = self.stack * self.logmel.hop_length / SAMPLE_RATE
        frame_ms = 1000 * self.frame_seconds
        self.chunk = max(1, round(chunk_ms / frame_ms))
        self.right_context = max(0, round(right_context_ms / frame_ms))
        self.endpoint_frames = round(endpoint_ms / frame_ms) if endpoint_ms else 0
        self.silence_nats = silence_db / 10 * math.log(10)  # dB of power -> natural log
        self.max_segment_frames = round(max_segment_ms / frame_ms)
        self.block_frames = self.chunk * self.stack  # feature frames computed at once
        self.word_timestamps = word_timestamps
        self.reset()

    @property
    def latency_seconds(self) -> float:
        """Algorithmic latency: chunk + right context + the part of the analysis window past its hop."""
        window_extra = (self.logmel.win_length - self.logmel.hop_length) / SAMPLE_RATE
        return (self.chunk + self.right_context) * self.frame_seconds + window_extra

    def reset(self) -> None:
        """Forget everything: ready for a new stream."""
        device = self.recognizer.device
        self.features = IncrementalFeatures(self.logmel, self.cmvn, self.block_frames, device)
        self.feats = torch.zeros(0, self.logmel.n_mels, device=device)  # not yet consumed by a chunk
        self.feat_offset = 0  # stream index (10 ms frames) of feats[0]
        self.chunks_done = 0
        self.state = self.model.initial_state(1, device)
        self.finished = False
        self.loudest = -math.inf  # log power of the loudest output frame so far
        self.frames_decoded = 0  # output frames fed to the decoder so far
        self._open_segment()

    def accept_waveform(self, samples: np.ndarray | torch.Tensor) -> list[Segment]:
        """Feed mono samples at 16 kHz ([n], any n): float in [-1, 1], or integer PCM (int16,
        int32, uint8), which is scaled to [-1, 1); returns the segments closed by it."""
        self.feed(samples)
        return run_chunks([self])[0]

    def feed(self, samples: np.ndarray | torch.Tensor) -> None:
        """Take samples (as `accept_waveform`) and compute their features, without running the
        acoustic model: `run_chunks` then runs the chunks ready in several streams in one batch."""
        if self.finished:
            raise RuntimeError("final() was called: reset() before feeding a new stream")
        samples = pcm_to_float(samples.cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples))
        if samples.ndim != 1:
            raise ValueError(f"expected mono samples [n], got shape {samples.shape}")
        self.feats = torch.cat([self.feats, self.features.push(samples)])

    def partial(self) -> str:
        """The best text of the open segment so far."""
        return self.decoding.result().text

    def final(self) -> list[Segment]:
        """End of input: decode what is left and close the open segment; returns the segments
        closed by it. Call reset() to start another stream."""
        if self.finished:
            return []
        self.end_input()
        return run_chunks([self])[0] + self.close()

    def end_input(self) -> None:
        """Mark the end of the audio (its last, partial feature block is computed): `run_chunks`
        then also runs the last chunk, short and without right context; `close` ends the stream."""
        if not self.finished:
            self.finished = True
            self.feats = torch.cat([self.feats, self.features.flush()])

    def close(self) -> list[Segment]:
        """After `end_input` and `run_chunks`: close the open segment (the segments closed, if any)."""
        closed = self._close_segment()
        return [closed] if closed else []

    # ------------------------------------------------------------------ acoustic model
    def _next_window(self) -> ChunkWindow | None:
        """The next chunk with its right context if its features are all there (at the end of
        input: whatever is left, short and without right context), else None."""
        available = self.feat_offset + self.feats.shape[0]  # 10 ms frames computed so far
        start = self.chunks_done * self.chunk  # in output frames
        first = start * self.stack
        needed = (start + self.chunk + self.right_context) * self.stack
        if available >= needed:
            frames = self.feats[first - self.feat_offset: needed - self.feat_offset]
        elif self.finished and available > first:
            frames = self.feats[first - self.feat_offset:]
        else:
            return None
        count = -(-frames.shape[0] // self.stack)  # the last group is completed with zeros, as stack_frames
        padded = torch.nn.functional.pad(frames, (0, 0, 0, count * self.stack - frames.shape[0]))
        return ChunkWindow(padded.reshape(count, -1), min(self.chunk, count), start,
                           self._log_power(padded[: min(self.chunk, count) * self.stack]))

    def _apply_chunk(self, window: ChunkWindow, log_probs: torch.Tensor,
                     state: tuple[torch.Tensor, torch.Tensor]) -> list[Segment]:
        """Take the acoustic model's output for `window`: log_probs [1, chunk_length, V] and the
        forward state after it ([layers, 1, hidden] each); decode; drop the chunk's features."""
        self.state = state
        segments = self._decode(log_probs, window.start, window.log_power)
        self.chunks_done += 1
        drop = (window.start + self.chunk) * self.stack - self.feat_offset
        self.feats, self.feat_offset = self.feats[drop:], self.feat_offset + drop
        return segments

    def _log_power(self, feats: torch.Tensor) -> list[float]:
        """Log power of each output frame (the loudest of its stacked frames) from normalized
        log-mel features [n * stack, n_mels]: CMVN undone, mel powers summed."""
        raw = feats / self.cmvn.inv_std + self.cmvn.mean
        power = torch.logsumexp(raw, dim=1).view(-1, self.stack).max(dim=1).values
        return power.tolist()

    # ------------------------------------------------------------------ decoding and endpoints
    def _open_segment(self) -> None:
        self.decoding = self.recognizer.decoder.stream()
        self.segment_frame = self.frames_decoded  # the open segment's first output frame ...
        self.segment_log_probs: list[torch.Tensor] = []  # ... and its log-probs (word_timestamps only)
        self.first_speech: int | None = None  # output frame of the segment's first non-blank best token
        self.last_speech: int | None = None
        self.blank_run = 0  # output frames since the last non-blank best token ...
        self.quiet_run = 0  # ... and since the last frame that was not quiet

    def _close_segment(self) -> Segment | None:
        result = self.decoding.result()  # its text has single spaces (CtcDecoder tidies it)
        first, last = self.first_speech, self.last_speech
        words = None
        if self.word_timestamps and result.tokens:
            words = self.recognizer.words(torch.cat(self.segment_log_probs), result.tokens,
                                          offset=self.segment_frame * self.frame_seconds)
        self._open_segment()
        if first is None or not result.text:
            return None
        return Segment(first * self.frame_seconds, (last + 1) * self.frame_seconds, result.text, words)

    def _advance(self, log_probs: torch.Tensor) -> None:
        """Feed log_probs [1, n, V] (the frames after those fed so far) to the open segment's decoder."""
        self.decoding.advance(log_probs)
        if self.word_timestamps:
            self.segment_log_probs.append(log_probs[0])
        self.frames_decoded += log_probs.shape[1]

    def _decode(self, log_probs: torch.Tensor, first_frame: int, log_power: list[float]) -> list[Segment]:
        """Feed one chunk's log_probs [1, n, V] (output frames first_frame...) to the decoder,
        closing segments at endpoints inside it; log_power: each frame's (see _log_power)."""
        blank = self.recognizer.tokenizer.BLANK
        segments, begin = [], 0
        for i, token in enumerate(log_probs[0].argmax(dim=-1).tolist()):
            self.loudest = max(self.loudest, log_power[i])
            quiet = log_power[i] < self.loudest - self.silence_nats
            self.quiet_run = self.quiet_run + 1 if quiet else 0
            if token != blank:
                if self.first_speech is None:
                    self.first_speech = first_frame + i
                self.last_speech, self.blank_run = first_frame + i, 0
                continue
            self.blank_run += 1
            if not self.endpoint_frames or self.first_speech is None or self.blank_run < self.endpoint_frames:
                continue
            too_long = first_frame + i - self.first_speech >= self.max_segment_frames
            if self.quiet_run >= self.endpoint_frames or too_long:
                self._advance(log_probs[:, begin: i + 1])
                begin = i + 1
                closed = self._close_segment()
                if closed:
                    segments.append(closed)
        self._advance(log_probs[:, begin:])
        return segments


@torch.inference_mode()
def run_chunks(streams: Sequence[StreamingRecognizer]) -> list[list[Segment]]:
    """Run every chunk that is ready in any of `streams` through the acoustic model, the chunks
    of different streams in one batch (`forward_chunk` over [N, W, D], padded to the longest
    window, the streams' forward states side by side), and decode each stream's chunk; returns
    each stream's closed segments, in order. The streams must share one model; streams with
    different chunk settings are batched separately (a window's layout depends on them). One
    stream gives exactly what it gives alone, and a batch the same up to float rounding: a
    server runs the streams that have audio waiting through this, several times cheaper per
    stream than one at a time (BENCHMARKS.md)."""
    segments: list[list[Segment]] = [[] for _ in streams]
    while True:
        ready = [(i, w) for i, s in enumerate(streams) if (w := s._next_window()) is not None]
        if not ready:
            return segments
        groups: dict[tuple[int, int], list[tuple[int, ChunkWindow]]] = {}
        for i, window in ready:
            groups.setdefault((streams[i].chunk, streams[i].right_context), []).append((i, window))
        for group in groups.values():
            model = streams[group[0][0]].model
            if any(streams[i].model is not model for i, _ in group):
                raise ValueError("run_chunks: the streams must share one model")
            width = max(w.frames.shape[0] for _, w in group)
            window = torch.stack([torch.nn.functional.pad(w.frames, (0, 0, 0, width - w.frames.shape[0]))
                                  for _, w in group])
            chunk_lengths = torch.tensor([w.chunk_length for _, w in group])
            window_lengths = torch.tensor([w.frames.shape[0] for _, w in group])
            state = tuple(torch.cat([streams[i].state[k] for i, _ in group], dim=1) for k in range(2))
            log_probs, state = model.forward_chunk(window, chunk_lengths, window_lengths, state)
            for row, (i, w) in enumerate(group):
                row_state = (state[0][:, row: row + 1].contiguous(), state[1][:, row: row + 1].contiguous())
                segments[i] += streams[i]._apply_chunk(w, log_probs[row: row + 1, : w.chunk_length], row_state)
