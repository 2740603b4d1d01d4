"""Global CMVN statistics from a training manifest (`asr cmvn`, and `asr train` without --cmvn)."""

from __future__ import annotations

import random
from typing import Sequence

import torch

from asr.data.dataset import SpeechDataset, collate
from asr.data.manifest import Utterance
from asr.features import CmvnAccumulator, LogMel
from asr.progress_bar import progress_bar


def cmvn_from_utterances(utterances: Sequence[Utterance], logmel: LogMel, max_utterances: int = 2000,
                         seed: int = 0, num_workers: int = 2, device: torch.device | str = "cpu",
                         progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [D], std [D]) of log-mel frames over a random subset of at most `max_utterances`
    utterances (a few thousand are plenty for stable statistics). Unreadable files are skipped."""
    rng = random.Random(seed)
    chosen = rng.sample(list(utterances), min(max_utterances, len(utterances)))
    loader = torch.utils.data.DataLoader(SpeechDataset(chosen), batch_size=1, collate_fn=collate,
                                         num_workers=num_workers)
    logmel = logmel.to(device)
    acc = CmvnAccumulator(logmel.n_mels)
    for batch in progress_bar(loader, desc="CMVN statistics", unit="utt", noun="utterances", leave=False,
                              disable=not progress):
        if len(batch):
            feats, _ = logmel(batch.waveforms.to(device))
            acc.update(feats[0])
    return acc.result()
