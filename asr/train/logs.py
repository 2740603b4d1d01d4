"""Training logs: a plain log file in the experiment folder, console lines that do not break
tqdm bars, and tensorboard scalars when tensorboard is installed."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger("asr")


class _TqdmHandler(logging.StreamHandler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def setup_training_logs(exp_dir: Path, enabled: bool = True) -> None:
    """Log to the console and to exp_dir/train.log (appending, so resumed runs keep history)."""
    log.setLevel(logging.INFO)
    for handler in list(log.handlers):
        if getattr(handler, "_asr_training", False):
            log.removeHandler(handler)
            handler.close()
    if not enabled:  # other DDP ranks: warnings only, so lines are not printed once per rank
        log.setLevel(logging.WARNING)
        return
    file_handler = logging.FileHandler(exp_dir / "train.log", encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    console = _TqdmHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    for handler in (file_handler, console):
        handler._asr_training = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.propagate = False


class ScalarWriter:
    """Tensorboard scalars under exp_dir/tensorboard; a no-op without tensorboard."""

    def __init__(self, exp_dir: Path, enabled: bool = True):
        self._writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.info("tensorboard is not installed; scalars go to train.log only "
                     "(pip install 'asr[tensorboard]')")
            return
        self._writer = SummaryWriter(str(exp_dir / "tensorboard"))

    def add(self, name: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(name, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
