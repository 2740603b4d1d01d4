"""Text corpora for the language model: sentences encoded once into one flat token array."""

from __future__ import annotations

import gzip
import logging
import os
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from asr.errors import AsrError
from asr.progress_bar import progress_bar
from asr.text import Tokenizer, normalize_text

log = logging.getLogger("asr.data")


def read_text_lines(path: str | os.PathLike) -> Iterator[str]:
    """Non-empty lines of a .txt or .txt.gz file, stripped; `AsrError` if unreadable.
    A .jsonl manifest gives the transcripts of its utterances."""
    path = os.fspath(path)
    if path.endswith(".jsonl"):
        from asr.data.manifest import read_manifest

        yield from (u.text for u in read_manifest(path) if u.text.strip())
        return
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    yield line
    except FileNotFoundError:
        raise AsrError(f"{path}: text file not found") from None
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise AsrError(f"{path}: cannot read text ({err})") from None


class TokenCorpus(torch.utils.data.Dataset):
    """Encoded sentences in one int32 array with offsets: a 10 M-word corpus takes ~200 MB
    instead of the gigabytes that Python lists of ints would. Item i is sentence i's tokens [L]."""

    def __init__(self, tokens: np.ndarray, offsets: np.ndarray):
        self.tokens, self.offsets = tokens, offsets

    @classmethod
    def encode(cls, lines: Iterable[str], tokenizer: Tokenizer, max_length: int, max_sentences: int = 0,
               desc: str = "encoding text") -> "TokenCorpus":
        """Normalize and encode sentences; sentences longer than `max_length` tokens or with
        characters the tokenizer lacks are skipped and counted in the log."""
        chunks, lengths = [], []
        too_long = unknown = 0
        for line in progress_bar(lines, desc=desc, unit=" lines", noun="lines", leave=False):
            try:
                ids = tokenizer.encode(normalize_text(line))
            except ValueError:
                unknown += 1
                continue
            if not ids:
                continue
            if len(ids) > max_length:
                too_long += 1
                continue
            chunks.append(np.asarray(ids, dtype=np.int32))
            lengths.append(len(ids))
            if max_sentences and len(lengths) >= max_sentences:
                break
        if too_long or unknown:
            log.info("%s: skipped %d sentences longer than %d tokens and %d with unknown characters",
                     desc, too_long, max_length, unknown)
        if not lengths:
            raise AsrError(f"{desc}: no usable sentences")
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(np.concatenate(chunks), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        return self.tokens[self.offsets[index]: self.offsets[index + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def num_tokens(self) -> int:
        return int(self.offsets[-1])


def collate_sentences(sentences: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs [B, L+1], targets [B, L+1] padded with -100, lengths [B]): the sentence start
    (token 0) is prepended to the inputs and the sentence end (token 0) appended to the targets."""
    from asr.model.lm import LstmLM

    return LstmLM.sentence_batch(sentences)
