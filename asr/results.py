"""RESULTS.md for recipes: WER/CER per test set with the model, decoding, time and machine."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import torch

from asr.atomic import atomic_open
from asr.errors import AsrError
from asr.package import ModelPackage


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_description() -> str:
    """CPU model and core count, GPU if any, and the torch version."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"{cpu_model()}, {cores} cores"]
    if torch.cuda.is_available():
        parts.append(f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}")
    parts.append(f"torch {torch.__version__}")
    return "; ".join(parts)


def load_score(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise AsrError(f"{path}: cannot read score summary ({err})") from None


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def write_results(out: str | os.PathLike, title: str, model_path: str, scores: dict[str, str],
                  decoding: str, command: str | None = None, timings: dict[str, float] | None = None) -> None:
    """Write a RESULTS.md: one row per scored set (name -> `asr score --json` file)."""
    package = ModelPackage.load(model_path)
    info, cfg = package.info, package.model_config
    rows = []
    for name, path in scores.items():
        s = load_score(path)
        w = s["words"]
        rows.append(f"| {name} | {s['num_utterances']} | **{s['wer']:.2f}** | {s['cer']:.2f} | "
                    f"{w['substitutions']} / {w['deletions']} / {w['insertions']} | {w['ref_len']} |")
    params = sum(v.numel() for v in package.state_dict.values())
    history = info.get("history") or []
    lines = [
        f"# {title}",
        "",
        f"Written {datetime.date.today().isoformat()} by the recipe; every figure below is from that run.",
        "",
        "| set | utterances | WER % | CER % | word S / D / I | ref words |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "## Model and decoding",
        "",
        f"- model: `{model_path}` ({info.get('kind', '?')} weights), BiLSTM-CTC {cfg.num_layers} x {cfg.hidden_size} "
        f"per direction, frame stacking {cfg.stack}, {params / 1e6:.2f} M parameters, {cfg.vocab_size} tokens",
        f"- trained: {info.get('epochs', '?')} epochs, {info.get('steps', '?')} steps on "
        f"{info.get('train_hours', 0):.2f} h of audio; training loop {_minutes(info.get('train_seconds', 0))} on "
        f"{info.get('device', '?')} x {info.get('world_size', 1)}",
    ]
    if history and "dev_wer" in history[-1]:
        lines.append(f"- dev WER after the last epoch: {history[-1]['dev_wer']:.2f}% (greedy)")
    lines.append(f"- decoding: {decoding}")
    if timings:
        lines.append("- stage wall times: " + ", ".join(f"{k} {_minutes(v)}" for k, v in timings.items()))
    lines.append(f"- machine: {machine_description()}")
    if command:
        lines += ["", "## Command", "", "```", command, "```"]
    with atomic_open(out) as f:
        f.write("\n".join(lines) + "\n")
