"""Runs `asr ARGS` with hooks that let a test kill it at chosen moments (tests only).

    python tests/kill_harness.py train --train ... --exp ...

The command runs unchanged, except that it prints events on stdout (flushed at once):
`STEP n` before every training step n, and `WRITE-HALF path` when a file written through
`torch.save` (checkpoints, snapshots, packages) has half of its bytes in its temporary file;
a checkpoint write (last.pt) then pauses for `ASR_TEST_WRITE_PAUSE` seconds (default 0.3), so
that a SIGKILL sent on that line lands inside the atomic write. The library never imports this.
"""

from __future__ import annotations

import io
import os
import sys
import time

import torch

PAUSE = float(os.environ.get("ASR_TEST_WRITE_PAUSE", "0.3"))


_writing_checkpoint = False


def _patch_torch_save() -> None:
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        print("WRITE-HALF " + ("last.pt" if _writing_checkpoint else "other"), flush=True)
        if _writing_checkpoint:
            time.sleep(PAUSE)
        f.write(data[len(data) // 2:])

    torch.save = save


def _patch_checkpoint() -> None:
    from asr.train import loop

    real = loop.save_checkpoint

    def save_checkpoint(path, state):
        global _writing_checkpoint
        _writing_checkpoint = True
        try:
            real(path, state)
        finally:
            _writing_checkpoint = False

    loop.save_checkpoint = save_checkpoint


def _patch_train_step() -> None:
    from asr.train.loop import Trainer

    real_step = Trainer._train_step

    def step(self, batch):
        print(f"STEP {self.step}", flush=True)
        return real_step(self, batch)

    Trainer._train_step = step


def main() -> int:
    _patch_torch_save()
    _patch_train_step()
    _patch_checkpoint()
    from asr.cli import main as asr_main

    return asr_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
