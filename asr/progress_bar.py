"""Progress of a loop: a tqdm bar on a terminal, a plain line now and then in a log.

A tqdm bar redraws itself with carriage returns. On a terminal that is what you want; in a log
(`2> train.log`, nohup, a job scheduler) it is one endless line of redraws, hundreds of KB of
them. Every loop in asr that shows progress goes through `progress_bar`: when the stream is a
terminal it is a tqdm bar, otherwise an object with the same methods that writes one line every
`interval` seconds (30, or ASR_PROGRESS_INTERVAL) and nothing for work quicker than that:

    decoding: 1200/5000 utterances (24%), 40.1/s, 30 s elapsed
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterable, Iterator, TextIO

DEFAULT_INTERVAL = 30.0


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def log_interval() -> float:
    """Seconds between two progress lines in a log: ASR_PROGRESS_INTERVAL, else 30."""
    try:
        return max(0.0, float(os.environ.get("ASR_PROGRESS_INTERVAL", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def progress_bar(iterable: Iterable | None = None, *, desc: str, total: float | None = None, unit: str = "it",
                 noun: str | None = None, initial: float = 0, disable: bool = False, stream: TextIO | None = None,
                 interval: float | None = None, **tqdm_options: Any):
    """A tqdm bar over `iterable` (or updated by hand) when `stream` (default: stderr) is a
    terminal, else a `LogProgress`. `unit`: tqdm's short unit ("utt"); `noun`: the plural in
    log lines ("utterances", default: `unit`). `tqdm_options` (leave, unit_scale, ...) go to
    tqdm; unit="B" with unit_scale counts bytes in the lines as MB."""
    stream = stream if stream is not None else sys.stderr
    if disable or is_terminal(stream):
        from tqdm import tqdm

        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        return tqdm(iterable, desc=desc, total=total, unit=unit, initial=initial, disable=disable, file=stream,
                    **tqdm_options)
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    in_bytes = unit == "B" and bool(tqdm_options.get("unit_scale"))
    return LogProgress(iterable, desc=desc, total=total, noun="MB" if in_bytes else (noun or unit), initial=initial,
                       stream=stream, interval=log_interval() if interval is None else interval,
                       scale=1 / 2**20 if in_bytes else 1)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class LogProgress:
    """The methods of tqdm that asr uses (iteration, update, set_postfix, set_description,
    close, a context manager), writing a plain line every `interval` seconds; a last line at
    close when any line was written, so that a log shows how long the whole loop took."""

    def __init__(self, iterable: Iterable | None, desc: str, total: float | None, noun: str, initial: float = 0,
                 stream: TextIO | None = None, interval: float = DEFAULT_INTERVAL, scale: float = 1.0):
        self.iterable, self.desc, self.total, self.noun = iterable, desc, total, noun
        self.n = initial
        self.initial = initial
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.scale = interval, scale
        self.postfix = ""
        self.started = self.last_line = time.monotonic()
        self.lines = 0
        self.closed = False

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total) if self.total is not None else len(self.iterable)

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last_line >= self.interval:
            self.last_line = now
            self._write(now)

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **values: Any) -> None:
        values = {**(ordered_dict or {}), **values}
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.lines:
            self._write(time.monotonic(), done=True)

    def _count(self, value: float) -> str:
        value *= self.scale
        return f"{value:.1f}" if self.scale != 1 or value != int(value) else f"{int(value)}"

    def line(self, now: float | None = None, done: bool = False) -> str:
        now = time.monotonic() if now is None else now
        elapsed = now - self.started
        text = f"{self.desc}: {self._count(self.n)}"
        if self.total is not None:
            text += f"/{self._count(self.total)} {self.noun}"
            if self.total and not done:
                text += f" ({100 * self.n / self.total:.0f}%)"
        else:
            text += f" {self.noun}"
        rate = (self.n - self.initial) * self.scale / elapsed if elapsed > 0 else 0.0
        text += f", {rate:.1f}/s, {_duration(elapsed)} {'in all' if done else 'elapsed'}"
        if self.postfix:
            text += f", {self.postfix}"
        return text

    def _write(self, now: float, done: bool = False) -> None:
        self.lines += 1
        try:
            print(self.line(now, done), file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed or broken log stream must not stop the work
            pass
