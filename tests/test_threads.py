"""Thread defaults (asr/threads.py): OpenMP threads wait passively unless the user says
otherwise, and decoding runs on one thread unless --threads says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import FSDD, REPO, needs_shared_data

from asr.threads import prefer_passive_waiting

CHECK = """
import sys
from asr.cli import main
code = main(sys.argv[1:])
import os, torch
print(torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY"), code)
"""


def run_cli(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """What torch's thread count and OMP_WAIT_POLICY are after `asr ARGS` ran in a fresh process
    (torch first imported by the command, as with the `asr` entry point)."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    proc = subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True, text=True, cwd=REPO,
                          env={**base, **(env or {})}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()[-1].split()  # the lines before it are the transcript


def test_passive_waiting_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    prefer_passive_waiting()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    prefer_passive_waiting()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


@needs_shared_data
def test_transcribe_uses_one_thread_and_passive_waiting_by_default():
    wav = str(FSDD / "7_george_3.wav")
    threads, policy, code = run_cli("transcribe", wav)
    assert (threads, policy, code) == ("1", "PASSIVE", "0")
    threads, policy, _ = run_cli("transcribe", wav, "--threads", "2", env={"OMP_WAIT_POLICY": "ACTIVE"})
    assert (threads, policy) == ("2", "ACTIVE")
