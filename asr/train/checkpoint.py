"""Training checkpoints: full training state for exact resume, and weight averaging."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asr.atomic import atomic_torch_save
from asr.errors import AsrError

CHECKPOINT_FORMAT = "asr-train-checkpoint"


def rng_state() -> dict[str, Any]:
    """Every random generator training uses (dropout, SpecAugment, shuffling helpers)."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_torch_save({"format": CHECKPOINT_FORMAT, **state}, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        # our own file, holding numpy RNG state (not loadable with weights_only)
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise AsrError(f"{path}: cannot read checkpoint ({err})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise AsrError(f"{path}: not an asr training checkpoint")
    return state


def average_state_dicts(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of model weights saved with `torch.save(state_dict)`."""
    if not paths:
        raise ValueError("no checkpoints to average")
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        weights = torch.load(path, map_location="cpu", weights_only=True)
        for name, value in weights.items():
            if value.is_floating_point():
                total[name] = total.get(name, 0) + value.double()
            else:
                total.setdefault(name, value)
    return {name: (v / len(paths)).float() if v.is_floating_point() else v for name, v in total.items()}
