"""Thread settings on an idle and a busy machine: decoding, streaming and training.

    python tools/bench/threads.py [--busy 0,1,2] [--repeats 3] [--work DIR]

Runs each workload as a fresh `asr` process (so that OpenMP starts with the settings under
test) with one thread, with torch's default (all cores), and with the settings given by
--setting NAME=ENV... (e.g. passive=OMP_WAIT_POLICY=PASSIVE), each next to 0, 1, ... competing
busy processes at the same priority (another user's job: --hog torch, a torch loop of small matrix
products with default threads, or --hog python, a pure-Python loop). Prints the median
wall time of --repeats runs and its ratio to one thread in the same condition. Measure with
nothing else running: the "busy" rows make their own load.

Workloads: `asr transcribe` of the two LibriSpeech sample files with the shipped model;
`asr stream --as-fast-as-possible` of one of them; one epoch of `asr train` with the digits
config on the first --train-utterances FSDD training utterances (../shared/data/fsdd).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
HOGS = {  # what a competing job does
    "python": "while True: pass",
    # another torch job with its default threads: small matrix products, so that its OpenMP
    # threads wait for each other (and spin) often, like an LSTM training step
    "torch": "import torch\nx = torch.randn(64, 256)\nw = torch.randn(256, 256)\nwhile True:\n    y = x @ w",
}


def workloads(work: Path, train_utterances: int) -> dict[str, list[str]]:
    sample = sorted((DATA / "librispeech_sample").rglob("*.flac"))
    manifests = work / "fsdd"
    if not (manifests / "train.jsonl").is_file():
        subprocess.run([sys.executable, "-m", "asr", "prepare", "fsdd", str(DATA / "fsdd" / "recordings"),
                        "--out", str(manifests)], check=True, capture_output=True)
    lines = (manifests / "train.jsonl").read_text().splitlines()[:train_utterances]
    (manifests / "train_small.jsonl").write_text("\n".join(lines) + "\n")
    return {
        "transcribe 2 files (35 s)": ["transcribe", *map(str, sample)],
        "stream 1 file (22 s)": ["stream", str(sample[-1]), "--as-fast-as-possible"],
        f"train 1 epoch of {train_utterances} FSDD utts": [
            "train", "--config", str(REPO / "conf/am/digits.yaml"), "--train", str(manifests / "train_small.jsonl"),
            "--exp", str(work / "exp"), "run.epochs=1", "data.num_workers=0", "run.checkpoint_every=0"],
    }


def thread_args(command: list[str], threads: int | None) -> list[str]:
    """The command with its thread setting: --threads N for inference, run.threads=N for training."""
    if threads is None:
        return command
    return command + ([f"run.threads={threads}"] if command[0] == "train" else ["--threads", str(threads)])


def timed(command: list[str], env: dict[str, str], work: Path) -> float:
    if command[0] == "train":
        subprocess.run(["rm", "-rf", str(work / "exp")], check=True)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "asr", *command], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: asr {' '.join(command)}\n{proc.stderr[-2000:]}")
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", default="0,1,2", help="numbers of competing busy processes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-utterances", type=int, default=600)
    parser.add_argument("--work", type=Path, default=Path("/tmp/asr-bench-threads"))
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=ENV=VALUE[,ENV=VALUE]",
                        help="an extra setting to compare, e.g. default+passive=OMP_WAIT_POLICY=PASSIVE")
    parser.add_argument("--only", help="run only workloads whose name starts with this")
    parser.add_argument("--hog", choices=sorted(HOGS), default="torch",
                        help="competing process: another torch job with default threads (default) or a Python loop")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    settings: dict[str, tuple[int | None, dict[str, str]]] = {"1 thread": (1, {}), "torch default": (None, {})}
    for spec in args.setting:
        name, _, envs = spec.partition("=")
        threads = None
        extra = {}
        for pair in envs.split(","):
            key, _, value = pair.partition("=")
            if key == "threads":
                threads = int(value)
            elif key:
                extra[key] = value
        settings[name] = (threads, extra)
    print(f"| workload | competing busy processes | {' | '.join(settings)} |")
    print("|---|---:|" + "---:|" * len(settings))
    for name, command in workloads(args.work, args.train_utterances).items():
        if args.only and not name.startswith(args.only):
            continue
        for busy in (int(b) for b in args.busy.split(",")):
            hogs = [subprocess.Popen([sys.executable, "-c", HOGS[args.hog]], env=base) for _ in range(busy)]
            try:
                times = {}
                for _ in range(args.repeats):  # settings interleaved: drift hits them alike
                    for setting, (threads, extra) in settings.items():
                        t = timed(thread_args(command, threads), {**base, **extra}, args.work)
                        times.setdefault(setting, []).append(t)
            finally:
                for hog in hogs:
                    hog.kill()
            one = statistics.median(times["1 thread"])
            cells = [f"{statistics.median(t):.1f} s ({statistics.median(t) / one:.2f}x)" for t in times.values()]
            print(f"| {name} | {busy} | {' | '.join(cells)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
