"""Progress: tqdm bars on terminals only; in logs a plain line every interval seconds."""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys

from tqdm import tqdm

from asr.progress_bar import LogProgress, progress_bar
from conftest import REPO, write_tone


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_terminal_plain_lines_elsewhere():
    terminal = Terminal()
    bar = progress_bar(range(3), desc="decoding", unit="utt", stream=terminal)
    assert isinstance(bar, tqdm)
    assert list(bar) == [0, 1, 2] and "\r" in terminal.getvalue()

    log = io.StringIO()
    bar = progress_bar(range(5), desc="decoding", unit="utt", noun="utterances", stream=log, interval=0)
    assert isinstance(bar, LogProgress) and len(bar) == 5
    assert list(bar) == [0, 1, 2, 3, 4]
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert [line.split(",")[0] for line in lines[:5]] == [f"decoding: {i}/5 utterances ({20 * i}%)"
                                                          for i in range(1, 6)]
    assert lines[-1].startswith("decoding: 5/5 utterances, ") and lines[-1].endswith(" in all")


def test_quick_work_writes_nothing_to_a_log_and_long_work_a_line_per_interval(monkeypatch):
    log = io.StringIO()
    with progress_bar(total=1000, desc="decoding", unit="utt", stream=log) as bar:  # 30 s by default
        for _ in range(1000):
            bar.update(1)
    assert log.getvalue() == ""

    clock = [0.0]
    monkeypatch.setattr("asr.progress_bar.time.monotonic", lambda: clock[0])
    monkeypatch.setenv("ASR_PROGRESS_INTERVAL", "10")
    log = io.StringIO()
    bar = progress_bar(None, desc="epoch 1/3", total=340, initial=100, unit="batch", noun="batches", stream=log)
    for _ in range(240):
        clock[0] += 0.125  # 30 s in all: a line at 10, 20 and 30 s
        bar.update(1)
        bar.set_postfix(loss="1.234", lr="1.00e-03")
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines == ["epoch 1/3: 180/340 batches (53%), 8.0/s, 10 s elapsed, loss=1.234, lr=1.00e-03",
                     "epoch 1/3: 260/340 batches (76%), 8.0/s, 20 s elapsed, loss=1.234, lr=1.00e-03",
                     "epoch 1/3: 340/340 batches (100%), 8.0/s, 30 s elapsed, loss=1.234, lr=1.00e-03",
                     "epoch 1/3: 340/340 batches, 8.0/s, 30 s in all, loss=1.234, lr=1.00e-03"]


def test_bytes_are_counted_in_mb_and_unknown_totals_are_left_out():
    log = io.StringIO()
    bar = progress_bar(desc="fsdd.zip", total=3 * 2**20, unit="B", unit_scale=True, unit_divisor=1024,
                       stream=log, interval=0)
    bar.update(2**20)
    assert log.getvalue().startswith("fsdd.zip: 1.0/3.0 MB (33%), ")
    log = io.StringIO()
    list(progress_bar(iter(range(3)), desc="encoding text", unit=" lines", noun="lines", stream=log, interval=0))
    assert log.getvalue().splitlines()[2].startswith("encoding text: 3 lines, ")


def test_every_progress_display_in_the_package_goes_through_the_helper():
    """tqdm is called in asr/progress_bar.py only (and in asr/progress.py's bar over audio
    seconds, which is terminal-only as well)."""
    allowed = {"progress_bar.py", "progress.py"}
    for path in sorted((REPO / "asr").rglob("*.py")):
        if path.relative_to(REPO / "asr").as_posix() in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
                assert name != "tqdm" and owner != "tqdm" or (owner, name) == ("tqdm", "write"), \
                    f"{path}:{node.lineno} calls tqdm directly; use asr.progress_bar.progress_bar"


def test_decode_into_a_log_writes_lines_not_bars(tiny_package, tmp_path):
    files = [write_tone(tmp_path / f"t{i}.wav", seconds=0.3, freq=300 + 50 * i) for i in range(3)]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": f.stem, "audio": str(f), "duration": 0.3, "text": "A"}) + "\n"
                                for f in files))

    def decode(out: str, **env: str) -> subprocess.CompletedProcess:
        # stderr is a pipe here, as it is when redirected to a log
        return subprocess.run([sys.executable, "-m", "asr", "decode", "--model", str(tiny_package), "--manifest",
                               str(manifest), "--out", str(tmp_path / out), "--batch-frames", "40"],
                              env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **env},
                              capture_output=True, text=True, timeout=300)

    proc = decode("hyp.jsonl", ASR_PROGRESS_INTERVAL="0")
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    assert "decoding: 3/3 utterances (100%)" in proc.stderr
    quiet = decode("hyp2.jsonl")
    assert quiet.returncode == 0 and "\r" not in quiet.stderr and "decoding:" not in quiet.stderr
