"""CPU thread defaults that hold up when other jobs share the machine.

torch's CPU build runs its kernels on OpenMP threads, one per core, which by default spin
while they wait for work. Next to another busy process those spinning threads fight it for
the cores: on 2 cores with another torch job running, decoding with torch's default threads
took 5.5x as long as with one thread, and a training epoch 1.7x (tools/bench/threads.py,
BENCHMARKS.md). Hence:

- OpenMP threads wait passively (`OMP_WAIT_POLICY=PASSIVE`, unless the user set it): with
  all cores, training is then 8 % faster than one thread on an idle machine and 18 % faster
  on the busy one, where spinning threads were 71 % slower.
- Decoding and streaming run on one thread by default (`--threads`): one utterance's small
  per-frame operations gain nothing from a second thread even on an idle machine.

OpenMP reads its settings once, when torch is loaded, so `prefer_passive_waiting` must run
before the first `import torch` (the `asr` command does it first thing).
"""

from __future__ import annotations

import os

INFERENCE_THREADS = 1  # `--threads` default of transcribe, decode, tune and stream


def prefer_passive_waiting() -> None:
    """Make OpenMP threads sleep instead of spinning while they wait (a user's own
    OMP_WAIT_POLICY is kept). Has no effect once torch is imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def set_threads(count: int) -> None:
    """Use `count` CPU threads in torch; 0 keeps torch's default (one per core)."""
    if count > 0:
        import torch

        torch.set_num_threads(count)
