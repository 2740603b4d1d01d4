"""Synthesis speed per voice family: seconds of audio per CPU second, text to speech alone.

    OMP_NUM_THREADS=1 python tools/bench/synth_speed.py --text ../shared/data/text/lm_dev.txt \
        [--sentences 10] [--kokoro-model FILE --kokoro-voices FILE]

Each family's train voices speak the same sentences (8-16 words) in turn, in this one process;
CPU time counts this process and its children (espeak-ng, flite and festival run as
subprocesses; Kokoro runs in-process on one onnxruntime thread). Audio is counted at the
engine's output, before any augmentation. Families not installed are listed as such.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import time
from pathlib import Path

from asr.data.synth import kokoro
from asr.data.synth.voices import FAMILIES, installed_voices, speak, split_voices
from asr.data.text_corpus import read_text_lines
from asr.text import normalize_text


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, required=True)
    parser.add_argument("--sentences", type=int, default=10)
    parser.add_argument("--kokoro-model")
    parser.add_argument("--kokoro-voices")
    args = parser.parse_args()
    if args.kokoro_model:
        kokoro.configure(args.kokoro_model, args.kokoro_voices)
        installed_voices.cache_clear()
    lines = (normalize_text(line) for line in read_text_lines(args.text))
    sentences = list(itertools.islice((t for t in lines if 8 <= len(t.split()) <= 16), args.sentences))
    print("| family | voices used | sentences | audio s | CPU s | audio s per CPU s | wall s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for family in FAMILIES:
        voices = split_voices("train", [family])
        if not voices:
            print(f"| {family} | not installed | | | | | |")
            continue
        voices = voices[:: max(1, len(voices) // 4)][:4]  # a few voices spread over the family
        if family == "kokoro":  # the first call loads the model: not part of the per-utterance cost
            speak(voices[0], "warm up")
        audio_s, cpu0, wall0 = 0.0, cpu_seconds(), time.monotonic()
        for voice, text in zip(itertools.cycle(voices), sentences):
            samples, rate = speak(voice, text)
            audio_s += len(samples) / rate
        cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
        print(f"| {family} | {', '.join(v.name for v in voices)} | {len(sentences)} | {audio_s:.1f} | "
              f"{cpu:.1f} | {audio_s / cpu:.2f} | {wall:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
