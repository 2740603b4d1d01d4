"""Recognition with a model package: waveforms, files or a manifest in, text out.

`Recognizer` wires the stages together for inference: log-mel -> CMVN -> acoustic model ->
decoder. Batches are formed by duration so that little compute goes to padding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import torch

from asr import SAMPLE_RATE
from asr.data.dataset import Example, SpeechDataset, collate
from asr.data.manifest import Utterance
from asr.data.sampler import FRAMES_PER_SECOND, make_batches
from asr.decode.alignment import Word, align_words
from asr.decode.decoder import CtcDecoder, Decoded
from asr.decode.options import DecodingOptions
from asr.errors import AsrError, AudioError
from asr.package import LmPackage, ModelPackage
from asr.audio import audio_info

log = logging.getLogger("asr.transcribe")


@dataclass
class Result:
    id: str
    text: str | None  # None when the utterance failed
    error: str | None = None
    score: float | None = None  # beam search: fused score of the best hypothesis
    nbest: list[dict] = field(default_factory=list)  # with --nbest > 1
    words: list[Word] | None = None  # with word timestamps

    def to_json(self) -> dict:
        record: dict = {"id": self.id, "text": self.text}
        if self.score is not None:
            record["score"] = round(self.score, 4)
        if self.nbest:
            record["nbest"] = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items()}
                               for h in self.nbest]
        if self.words is not None:
            record["words"] = [w.to_json() for w in self.words]
        return record


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AsrError(f"--device {device}: CUDA is not available on this machine")
    return torch.device(device)


class Recognizer:
    """A loaded model ready to decode: `recognizer.decode_waveforms([wave, ...])`.

    Decoding options default to those stored in the package; `options` (a dict of
    `DecodingOptions` fields) overrides them. The LM is `lm` when given, else the package's own.
    """

    def __init__(self, package: ModelPackage, device: str | None = None, options: dict | None = None,
                 lm: LmPackage | None = None):
        self.package = package
        self.device = resolve_device(device)
        self.options = DecodingOptions.from_package(package.decoding).updated(options or {})
        self.tokenizer = package.tokenizer
        self.logmel = package.build_logmel().to(self.device)
        self.cmvn = package.build_cmvn().to(self.device)
        self.model = package.build_model().to(self.device)
        if lm is None and package.lm is not None and self.options.decoder == "beam":
            lm = LmPackage.from_dict(package.lm, source="the model package's LM")
        self.lm_package = lm if self.options.decoder == "beam" else None
        self.lm = self.lm_package.build_model().to(self.device) if self.lm_package is not None else None
        self.decoder = CtcDecoder(self.tokenizer, self.options, self.lm)

    @classmethod
    def from_file(cls, path: str, device: str | None = None, options: dict | None = None,
                  lm_path: str | None = None) -> "Recognizer":
        lm = LmPackage.load(lm_path) if lm_path else None
        return cls(ModelPackage.load(path), device=device, options=options, lm=lm)

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame: the model's frame stacking times the feature hop (30 ms
        for stack 3 and a 10 ms hop)."""
        return self.model.config.stack * self.logmel.hop_length / SAMPLE_RATE

    @torch.inference_mode()
    def log_probs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """waveforms [B, N], lengths [B] samples -> (log_probs [B, T', V], lengths [B])."""
        waveforms, lengths = waveforms.to(self.device), lengths.to(self.device)
        feats, frame_lengths = self.logmel(waveforms, lengths)
        feats = self.cmvn(feats, frame_lengths)
        return self.model(feats, frame_lengths)

    def decode_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor,
                     word_timestamps: bool = False) -> list[Decoded]:
        """waveforms [B, N], lengths [B] samples -> one `Decoded` per utterance; with
        `word_timestamps`, each with its words' times and confidences (`align_words`)."""
        log_probs, out_lengths = self.log_probs(waveforms, lengths)
        with torch.inference_mode():
            decoded = self.decoder.decode(log_probs, out_lengths)
        if word_timestamps:
            for row, length, d in zip(log_probs, out_lengths.tolist(), decoded):
                d.words = self.words(row[:length], d.tokens)
        return decoded

    def words(self, log_probs: torch.Tensor, tokens: list[int], offset: float = 0.0) -> list[Word]:
        """Timed words of a hypothesis `tokens` over its log_probs [T, V] (see align_words)."""
        return align_words(log_probs, tokens, self.tokenizer, self.frame_seconds, offset)

    def decode_waveforms(self, waveforms: Sequence[torch.Tensor]) -> list[str]:
        """Transcribe 16 kHz mono waveforms ([N] each) in one batch."""
        batch = collate([_example(i, w) for i, w in enumerate(waveforms)])
        return [d.text for d in self.decode_batch(batch.waveforms, batch.waveform_lengths)]

    def decode_utterances(self, utterances: Sequence[Utterance], max_frames: int = 60000,
                          num_workers: int = 0, progress: bool = True,
                          word_timestamps: bool = False) -> Iterator[Result]:
        """Decode utterances in duration-sorted batches; yields a Result per utterance (in
        batch order), with timed words when `word_timestamps`. Unreadable audio gives a Result
        with `error` set and decoding goes on."""
        from asr.progress_bar import progress_bar

        loader = audio_batches(utterances, max_frames, num_workers)
        with progress_bar(total=len(utterances), desc="decoding", unit="utt", noun="utterances",
                          disable=not progress) as bar:
            for batch in loader:
                if len(batch):
                    decoded = self.decode_batch(batch.waveforms, batch.waveform_lengths, word_timestamps)
                    for index, d in zip(batch.indices, decoded):
                        yield Result(utterances[index].id, d.text, score=d.score, nbest=d.nbest, words=d.words)
                for failure in batch.failures:
                    yield Result(utterances[failure.index].id, None, failure.reason)
                bar.update(len(batch) + len(batch.failures))


def audio_batches(utterances: Sequence[Utterance], max_frames: int,
                  num_workers: int) -> torch.utils.data.DataLoader:
    """Batches of utterance audio sorted by duration, each under `max_frames` padded 10 ms
    frames; files that cannot be read come back in each `Batch.failures`."""
    batches = make_batches([u.duration * FRAMES_PER_SECOND for u in utterances], max_frames, 256, seed=None)
    return torch.utils.data.DataLoader(SpeechDataset(utterances), batch_sampler=batches, collate_fn=collate,
                                       num_workers=num_workers)


def _example(index: int, wave: torch.Tensor) -> Example:
    return Example(index, wave, torch.zeros(0, dtype=torch.long))


def utterances_from_files(paths: Iterable[str]) -> tuple[list[Utterance], list[Result]]:
    """Utterances for audio files (ids are the paths); unreadable files become failed Results."""
    utterances, failures = [], []
    for path in paths:
        try:
            duration, _, _ = audio_info(path)
        except AudioError as err:
            failures.append(Result(path, None, str(err)))
            continue
        utterances.append(Utterance(id=path, audio=path, duration=duration))
    return utterances, failures
