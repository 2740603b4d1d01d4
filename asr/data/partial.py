"""Restartable JSONL output for batch jobs (`asr decode`).

Records go to `OUT.partial` as they are made, one line each, flushed at once and fsynced at
least every few seconds, so a killed job loses at most the line it was writing (a torn last
line, dropped on restart). The first line of the partial file says what made it; a restart
with the same `what` keeps the records there and is given only the rest to do, a different
`what` (another model, options or manifest) starts over. `finish` writes the complete file to
`OUT` atomically, in the caller's order, and removes the partial file: `OUT` itself is never
half written, so "OUT exists" still means "the job finished".
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterable

from asr.atomic import atomic_open
from asr.errors import ManifestError

log = logging.getLogger("asr")

HEADER_KEY = "asr-partial-output"
FSYNC_SECONDS = 2.0  # a power cut loses at most this much work; a kill loses only the torn line


def _torn_tail(data: bytes) -> int:
    """Length of `data` up to and including its last newline (what survives a torn last line)."""
    return data.rfind(b"\n") + 1


class PartialOutput:
    """`PartialOutput(out, what)`: `.done` holds the records (by id) that an earlier, killed
    run with the same `what` wrote; `.add(record)` appends one; `.finish(ids)` writes `out`."""

    def __init__(self, out: str | os.PathLike, what: dict[str, Any], overwrite: bool = False):
        self.out = Path(out)
        self.path = self.out.with_name(self.out.name + ".partial")
        self.header = {HEADER_KEY: json.loads(json.dumps(what))}  # as it reads back from JSON
        self.done: dict[str, dict] = {}
        if self.path.exists() and not overwrite:
            self._read()
        if not self.done:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(json.dumps(self.header) + "\n")
        self._file = open(self.path, "a", encoding="utf-8")
        self._synced = time.monotonic()

    def _read(self) -> None:
        data = self.path.read_bytes()
        end = _torn_tail(data)
        lines = data[:end].decode("utf-8", errors="replace").splitlines()
        if not lines or _json_or_none(lines[0]) != self.header:
            if lines:
                log.info("%s was made by another model, options or manifest: starting over", self.path)
            return
        for number, line in enumerate(lines[1:], start=2):
            record = _json_or_none(line)
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                raise ManifestError(f"{self.path}:{number}: not a line written by asr; remove the file "
                                    "or pass --overwrite")
            self.done[record["id"]] = record
        if end < len(data):  # the line a killed run was writing: cut it off before appending
            with open(self.path, "r+b") as f:
                f.truncate(end)

    def add(self, record: dict) -> None:
        """Append one record; on disk (as far as a killed process is concerned) on return."""
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        self.done[record["id"]] = record
        if time.monotonic() - self._synced > FSYNC_SECONDS:
            os.fsync(self._file.fileno())
            self._synced = time.monotonic()

    def finish(self, order: Iterable[str]) -> int:
        """Write the records of the ids in `order` (those that have one) to `out` atomically,
        then remove the partial file. Returns the number written."""
        self.close()
        count = 0
        with atomic_open(self.out) as f:
            for utt_id in order:
                if utt_id in self.done:
                    f.write(json.dumps(self.done[utt_id], ensure_ascii=False) + "\n")
                    count += 1
        self.path.unlink()
        return count

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None
