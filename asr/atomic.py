"""Atomic file writes: readers see the old file or the complete new one, never half of one.

The pattern is the usual one: write to a temporary file in the same folder, flush and fsync
it, rename it over the target (atomic on POSIX), then fsync the folder so that the rename
itself survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to `path`; on clean exit it replaces `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    if "b" in mode:
        encoding = None
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def atomic_torch_save(obj: object, path: str | os.PathLike) -> None:
    """`torch.save` that never leaves a partial file at `path`."""
    import torch  # here, so that commands that never save tensors start without importing torch

    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that `atomic_open` leaves in `folder` when the writing
    process is killed before its rename; returns the ones removed. Call it only where no
    other process is writing into `folder` at the same time."""
    removed = []
    for path in Path(folder).glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed
