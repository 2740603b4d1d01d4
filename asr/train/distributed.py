"""DDP setup from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device_type: str) -> "DistributedContext":
        """Join the process group torchrun set up (nccl on CUDA, gloo on CPU), if any."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        context = cls(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        return context

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of `values` over all ranks (the values themselves without DDP)."""
        if not self.enabled:
            return values
        tensor = torch.tensor(values, dtype=torch.float64,
                              device="cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(tensor)
        return tensor.tolist()

    def loss_weight(self, count: float) -> torch.Tensor | float:
        """The factor for this rank's loss when that loss is a mean over `count` items (utterances,
        tokens): world_size * count / (count summed over ranks); 1.0 without DDP.

        DDP averages gradients over ranks, so a per-rank mean weights every rank's batch alike;
        duration-bucketed batches hold different numbers of items, and an item on a small batch
        would count more. Weighted like this, the averaged gradient is the gradient of the mean
        over the items of all ranks, as if one process had trained on the global batch. The sum
        stays a device tensor (no copy to the host), so the step does not wait for the GPU.
        """
        if not self.enabled:
            return 1.0
        device = f"cuda:{self.local_rank}" if dist.get_backend() == "nccl" else "cpu"
        total = torch.full((), float(count), dtype=torch.float32, device=device)  # a fill, not a copy
        dist.all_reduce(total)
        return float(self.world_size * count) / total

    def close(self) -> None:
        """Leave the process group once every rank has reached here.

        Without the barrier a rank that finishes first tears down its gloo connections while a
        peer still reads from them, and the peer can abort ("terminate called without an active
        exception"); seen in CI on the 2-process tests.
        """
        if self.enabled and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def device(self, requested: str) -> torch.device:
        """The device this rank trains on: with CUDA and several ranks, its own GPU."""
        if requested == "auto":
            requested = "cuda" if torch.cuda.is_available() else "cpu"
        if requested == "cuda" and self.enabled:
            requested = f"cuda:{self.local_rank}"
        return torch.device(requested)
