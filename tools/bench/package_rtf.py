"""Decoding speed of model packages with their own defaults, one CPU thread, in one run.

    python tools/bench/package_rtf.py --model NEW.pt --model OLD.pt [--audio FILE ...]
        [--repeats 3] [--write BENCHMARKS.md]

Each package decodes the same utterances (by default the LibriSpeech sample and 40
FSDD test clips, every 6th, of ../shared/data: real speech, 8 kHz and 16 kHz) with its stored decoding
defaults (beam search + its LM for the shipped model) and, for comparison, greedy. The packages
take turns, repeat after repeat, so that a change in the machine's load hits them alike; the
figure is the median over repeats of CPU seconds of wall time per second of audio (RTF) on one
torch thread, feature extraction included (audio is read before). Measure with the machine otherwise idle.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from asr.audio import load_audio  # noqa: E402
from asr.data.importers import FSDD_TEST_INDICES  # noqa: E402
from asr.results import cpu_model  # noqa: E402
from asr.transcribe import Recognizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markdown_block import write_block  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def default_audio() -> list[Path]:
    sample = sorted((DATA / "librispeech_sample").rglob("*.flac"))
    digits = sorted(p for p in (DATA / "fsdd" / "recordings").glob("*.wav")
                    if int(p.stem.split("_")[-1]) in FSDD_TEST_INDICES)[::6][:40]
    return sample + digits


def time_decoding(recognizer: Recognizer, waves: list[torch.Tensor]) -> float:
    """Wall seconds to decode `waves` one at a time (as `asr transcribe` of single files does)."""
    start = time.perf_counter()
    for wave in waves:
        recognizer.decode_waveforms([wave])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, help="model package (repeat: 2 or more)")
    parser.add_argument("--name", action="append", help="a name per --model for the table")
    parser.add_argument("--audio", nargs="*", help="audio files [the LibriSpeech sample + 40 FSDD test clips]")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", help="BENCHMARKS.md to write the table into")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.name or [Path(m).name for m in args.model]
    paths = [Path(a) for a in args.audio] if args.audio else default_audio()
    waves = [load_audio(p) for p in paths]
    audio_seconds = sum(len(w) for w in waves) / 16000
    recognizers = {}
    for name, model in zip(names, args.model):
        recognizers[(name, "package defaults")] = Recognizer.from_file(model, device="cpu")
        recognizers[(name, "greedy")] = Recognizer.from_file(model, device="cpu", options={"decoder": "greedy"})
    for recognizer in recognizers.values():  # warm-up: first-call allocations out of the timing
        recognizer.decode_waveforms(waves[:1])
    seconds = {key: [] for key in recognizers}
    for _ in range(args.repeats):
        for key, recognizer in recognizers.items():
            seconds[key].append(time_decoding(recognizer, waves))
    rows = ["| model | decoding | what the package says | RTF (1 thread) | vs the first model |", "|---|---|---|---:|---:|"]
    first = {}
    for (name, mode), recognizer in recognizers.items():
        rtf = statistics.median(seconds[(name, mode)]) / audio_seconds
        first.setdefault(mode, rtf)
        o = recognizer.options
        said = f"beam {o.beam_size}, LM weight {o.lm_weight}" if o.decoder == "beam" and recognizer.lm is not None else o.decoder
        rows.append(f"| {name} | {mode} | {said} | {rtf:.4f} | {rtf / first[mode]:.2f}x |")
    table = "\n".join(rows)
    print(table)
    if args.write:
        command = "python tools/bench/package_rtf.py " + " ".join(
            f"--model {m} --name {n!r}" for m, n in zip(args.model, names))
        what = ("the LibriSpeech sample's 2 utterances and FSDD test clips at 8 kHz" if not args.audio
                else "the --audio files")
        body = (f"`{command}` ({date.today()}, {cpu_model()}, {torch.get_num_threads()} thread, "
                f"torch {torch.__version__}): {len(waves)} recordings, {audio_seconds:.1f} s of audio "
                f"({what}), one file at a time, median of {args.repeats} repeats, models taking turns.\n\n{table}")
        write_block(Path(args.write), "## Decoding speed of the default model (issue 14)", "package_rtf", body)


if __name__ == "__main__":
    main()
