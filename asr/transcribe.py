"""Recognition with a model package: waveforms, files or a manifest in, text out.

`Recognizer` wires the stages together for inference: log-mel -> CMVN -> acoustic model ->
decoder. Batches are formed by duration so that little compute goes to padding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import torch

from asr.data.dataset import Example, SpeechDataset, collate
from asr.data.manifest import Utterance
from asr.data.sampler import FRAMES_PER_SECOND, make_batches
from asr.decode import DECODERS, ctc_greedy_search
from asr.errors import AsrError, AudioError
from asr.package import ModelPackage
from asr.audio import audio_info

log = logging.getLogger("asr.transcribe")


@dataclass
class Result:
    id: str
    text: str | None  # None when the utterance failed
    error: str | None = None


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AsrError(f"--device {device}: CUDA is not available on this machine")
    return torch.device(device)


class Recognizer:
    """A loaded model ready to decode: `recognizer.decode_waveforms([wave, ...])`."""

    def __init__(self, package: ModelPackage, device: str | None = None, decoder: str = "greedy"):
        if decoder not in DECODERS:
            raise AsrError(f"decoder {decoder!r} is not available (choose from: {', '.join(DECODERS)})")
        self.package = package
        self.device = resolve_device(device)
        self.decoder = decoder
        self.tokenizer = package.tokenizer
        self.logmel = package.build_logmel().to(self.device)
        self.cmvn = package.build_cmvn().to(self.device)
        self.model = package.build_model().to(self.device)

    @classmethod
    def from_file(cls, path: str, device: str | None = None, decoder: str = "greedy") -> "Recognizer":
        return cls(ModelPackage.load(path), device=device, decoder=decoder)

    @torch.inference_mode()
    def log_probs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """waveforms [B, N], lengths [B] samples -> (log_probs [B, T', V], lengths [B])."""
        waveforms, lengths = waveforms.to(self.device), lengths.to(self.device)
        feats, frame_lengths = self.logmel(waveforms, lengths)
        feats = self.cmvn(feats, frame_lengths)
        return self.model(feats, frame_lengths)

    def decode_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        log_probs, out_lengths = self.log_probs(waveforms, lengths)
        return [self.tokenizer.decode(ids) for ids in ctc_greedy_search(log_probs, out_lengths)]

    def decode_waveforms(self, waveforms: Sequence[torch.Tensor]) -> list[str]:
        """Transcribe 16 kHz mono waveforms ([N] each) in one batch."""
        batch = collate([_example(i, w) for i, w in enumerate(waveforms)])
        return self.decode_batch(batch.waveforms, batch.waveform_lengths)

    def decode_utterances(self, utterances: Sequence[Utterance], max_frames: int = 60000,
                          num_workers: int = 0, progress: bool = True) -> Iterator[Result]:
        """Decode utterances in duration-sorted batches; yields a Result per utterance (in
        batch order). Unreadable audio gives a Result with `error` set and decoding goes on."""
        from tqdm import tqdm

        batches = make_batches([u.duration * FRAMES_PER_SECOND for u in utterances], max_frames, 256, seed=None)
        dataset = SpeechDataset(utterances)
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=batches, collate_fn=collate, num_workers=num_workers,
        )
        with tqdm(total=len(utterances), desc="decoding", unit="utt", disable=not progress) as bar:
            for batch in loader:
                if len(batch):
                    texts = self.decode_batch(batch.waveforms, batch.waveform_lengths)
                    for index, text in zip(batch.indices, texts):
                        yield Result(utterances[index].id, text)
                for failure in batch.failures:
                    yield Result(utterances[failure.index].id, None, failure.reason)
                bar.update(len(batch) + len(batch.failures))


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
