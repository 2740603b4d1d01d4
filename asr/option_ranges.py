"""The allowed range of every numeric (and device) option of the `asr` command, in one place.

argparse checks types; this table checks values, so that `--beam 0`, `--lm-weight nan` or
`--chunk-ms -5` end with one line naming the option instead of a traceback deep in the
search, or worse, a silently wrong result. `check_options` runs on the parsed arguments of
any command, before the command does anything (no file is written before it passes).
tests/test_option_ranges.py walks every option of every command and fails for a numeric
option that has no entry here.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from asr.errors import AsrError


@dataclass(frozen=True)
class Range:
    """A number's allowed values: low/high bounds (inclusive unless stated), finite or not."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False       # low itself is not allowed
    allow_infinite: bool = False  # e.g. --token-min-logprob=-inf: no limit

    def admits(self, value: float) -> bool:
        if math.isnan(value) or (math.isinf(value) and not self.allow_infinite):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"a number from {self.low:g} to {self.high:g}"
        if self.low == 0 and self.low_open:
            return "a positive number"
        if self.low is not None:
            return f"a number >= {self.low:g}"
        if self.high is not None:
            return f"a number <= {self.high:g}" + (" (or -inf)" if self.allow_infinite else "")
        return "a finite number"


POSITIVE = Range(0, low_open=True)
AT_LEAST_ONE = Range(1)
NON_NEGATIVE = Range(0)
FINITE = Range()
SHARE = Range(0, 1)

# option dest -> allowed values (for a list-valued option: of each element)
RANGES: dict[str, Range] = {
    # decoding
    "beam_size": AT_LEAST_ONE, "nbest": AT_LEAST_ONE, "token_top_k": NON_NEGATIVE,
    "token_min_logprob": Range(high=0, allow_infinite=True), "lm_weight": FINITE, "word_bonus": FINITE,
    "lm_weights": FINITE, "word_bonuses": FINITE, "batch_frames": AT_LEAST_ONE, "threads": NON_NEGATIVE,
    "num_workers": NON_NEGATIVE,
    # streaming and long files
    "chunk_ms": POSITIVE, "right_context_ms": NON_NEGATIVE, "endpoint_ms": NON_NEGATIVE,
    "segment_over": NON_NEGATIVE,
    # serving
    "port": Range(0, 65535), "max_sessions": AT_LEAST_ONE, "max_message_kb": AT_LEAST_ONE,
    "idle_timeout": POSITIVE, "max_stream_seconds": POSITIVE, "max_upload_mb": AT_LEAST_ONE,
    "workers": NON_NEGATIVE,
    # output
    "worst": NON_NEGATIVE, "max_line_width": AT_LEAST_ONE, "max_line_count": AT_LEAST_ONE,
    # data preparation, statistics, tokens
    "dev_per_speaker": NON_NEGATIVE, "max_utterances": AT_LEAST_ONE, "vocab_size": Range(2), "seed": NON_NEGATIVE,
    # synthesis
    "num": AT_LEAST_ONE, "hours": POSITIVE, "jobs": AT_LEAST_ONE, "min_words": AT_LEAST_ONE,
    "max_words": AT_LEAST_ONE, "skip": NON_NEGATIVE, "stop": NON_NEGATIVE, "reverb_prob": SHARE,
    "noise_prob": SHARE, "telephone_prob": SHARE, "speed": POSITIVE, "rt60": POSITIVE, "snr": FINITE,
}

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def _flag(dest: str, parser: argparse.ArgumentParser | None) -> str:
    """The option as the user typed it (--beam for dest beam_size)."""
    for action in parser._actions if parser else ():
        if action.dest == dest and action.option_strings:
            return max(action.option_strings, key=len)
    return "--" + dest.replace("_", "-")


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser of the command in `args`: `asr prepare fsdd` -> the fsdd parser."""
    for _ in range(2):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or getattr(args, subs[0].dest, None) not in subs[0].choices:
            break
        parser = subs[0].choices[getattr(args, subs[0].dest)]
    return parser


def _check_device(device: str) -> None:
    if not _DEVICE.match(device):
        raise AsrError(f"--device {device}: expected auto, cpu, cuda or cuda:N")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise AsrError(f"--device {device}: CUDA is not available on this machine (use cpu or auto)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise AsrError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def check_options(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None,
                  cross_checks: Callable[[argparse.Namespace], None] | None = None) -> None:
    """`AsrError` naming the first option whose value is out of its range (see RANGES)."""
    for dest, allowed in RANGES.items():
        value = getattr(args, dest, None)
        if value is None or isinstance(value, bool):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if not allowed.admits(float(item)):
                shown = ",".join(f"{v:g}" for v in values) if len(values) > 1 else f"{item:g}"
                raise AsrError(f"{_flag(dest, parser)} {shown}: expected {allowed.describe()}")
    if isinstance(getattr(args, "lm_weights", None), list) and not args.lm_weights:
        raise AsrError("--lm-weights: give at least one value")
    if isinstance(getattr(args, "word_bonuses", None), list) and not args.word_bonuses:
        raise AsrError("--word-bonuses: give at least one value")
    nbest, beam = getattr(args, "nbest", None), getattr(args, "beam_size", None)
    if nbest is not None and beam is not None and nbest > beam:
        raise AsrError(f"--nbest {nbest} is more than --beam {beam}: a search keeps only --beam hypotheses")
    if getattr(args, "device", None) is not None:
        _check_device(args.device)
    if cross_checks is not None:
        cross_checks(args)
