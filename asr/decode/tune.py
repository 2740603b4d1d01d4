"""Grid search of the LM weight (alpha) and word bonus (beta) on a dev set: `asr tune`.

The acoustic model runs once; every (alpha, beta) pair then only re-runs the search on the
cached log-probabilities, so a grid of dozens of points costs dozens of searches, not dozens
of full decodes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch

from asr.data.manifest import Utterance
from asr.decode.decoder import CtcDecoder
from asr.progress_bar import progress_bar
from asr.score import score_texts
from asr.text import normalize_text
from asr.transcribe import Recognizer, audio_batches

log = logging.getLogger("asr")


@dataclass
class GridPoint:
    lm_weight: float
    word_bonus: float
    wer: float
    cer: float


def cache_log_probs(recognizer: Recognizer, utterances: Sequence[Utterance], max_frames: int,
                    num_workers: int) -> tuple[list[str], list[torch.Tensor]]:
    """(ids, log-probs [T', V] on CPU) of every readable utterance."""
    ids, outputs = [], []
    batches = audio_batches(utterances, max_frames, num_workers)
    for batch in progress_bar(batches, desc="acoustic model", unit="batch", noun="batches", leave=False):
        if not len(batch):
            continue
        log_probs, lengths = recognizer.log_probs(batch.waveforms, batch.waveform_lengths)
        for row, index in enumerate(batch.indices):
            ids.append(utterances[index].id)
            outputs.append(log_probs[row, : lengths[row]].cpu())
    return ids, outputs


def grid_search(recognizer: Recognizer, utterances: Sequence[Utterance], lm_weights: Sequence[float],
                word_bonuses: Sequence[float], max_frames: int = 60000, num_workers: int = 0,
                batch_size: int = 64) -> list[GridPoint]:
    """WER/CER of beam search + LM for every (alpha, beta); sorted best first (WER, then CER)."""
    refs = {u.id: normalize_text(u.text) for u in utterances}
    ids, log_probs = cache_log_probs(recognizer, utterances, max_frames, num_workers)
    padded = torch.nn.utils.rnn.pad_sequence(log_probs, batch_first=True).to(recognizer.device)
    lengths = torch.tensor([lp.shape[0] for lp in log_probs], device=recognizer.device)
    points = []
    grid = [(a, b) for a in lm_weights for b in word_bonuses]
    for lm_weight, word_bonus in progress_bar(grid, desc="grid search", unit="point", noun="grid points"):
        options = recognizer.options.updated({"decoder": "beam", "lm_weight": lm_weight,
                                              "word_bonus": word_bonus, "nbest": 1})
        decoder = CtcDecoder(recognizer.tokenizer, options, recognizer.lm)
        hyps = {}
        with torch.inference_mode():
            for start in range(0, len(ids), batch_size):
                chunk = slice(start, start + batch_size)
                for utt_id, decoded in zip(ids[chunk], decoder.decode(padded[chunk], lengths[chunk])):
                    hyps[utt_id] = decoded.text
        report = score_texts({i: refs[i] for i in ids}, hyps)
        points.append(GridPoint(lm_weight, word_bonus, report.wer, report.cer))
        log.debug("alpha %.3f beta %.3f: WER %.2f%%", lm_weight, word_bonus, report.wer)
    return sorted(points, key=lambda p: (p.wer, p.cer, abs(p.lm_weight), abs(p.word_bonus)))


def format_grid(points: Sequence[GridPoint]) -> str:
    lines = ["| LM weight | word bonus | WER % | CER % |", "|---|---|---|---|"]
    for p in sorted(points, key=lambda p: (p.lm_weight, p.word_bonus)):
        lines.append(f"| {p.lm_weight:g} | {p.word_bonus:g} | {p.wer:.2f} | {p.cer:.2f} |")
    return "\n".join(lines)
