"""Copies of a manifest's recordings at another level, for testing how a model copes with it.

    python tools/scale_audio.py --manifest data/test.jsonl --gain-db -20 --out data/test_m20db

writes DIR/audio/ID.wav (16 kHz mono, 16-bit PCM as a quiet or loud recording would be; samples
past full scale are clipped and counted) and DIR/manifest.jsonl with the same ids, texts and
speakers. Rerunning skips the recordings already written.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from asr import SAMPLE_RATE
from asr.atomic import atomic_open
from asr.audio import load_audio
from asr.data.manifest import read_manifest, write_manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", required=True, help="manifest of the recordings")
    p.add_argument("--gain-db", type=float, required=True, help="level change in dB (-20: ten times quieter)")
    p.add_argument("--out", type=Path, required=True, help="folder for audio/ and manifest.jsonl")
    args = p.parse_args(argv)
    gain = 10 ** (args.gain_db / 20)
    (args.out / "audio").mkdir(parents=True, exist_ok=True)
    scaled, clipped = [], 0
    for utt in read_manifest(args.manifest):
        path = args.out / "audio" / f"{utt.id}.wav"
        if not path.exists():
            samples = load_audio(utt.audio, offset=utt.offset, duration=utt.duration if utt.offset else None).numpy() * gain
            clipped += int(np.count_nonzero(np.abs(samples) > 1))
            with atomic_open(path, "wb") as f:
                sf.write(f, np.clip(samples, -1, 1), SAMPLE_RATE, subtype="PCM_16", format="WAV")
        scaled.append(dataclasses.replace(utt, audio=str(path.resolve()), offset=0.0))
    write_manifest(args.out / "manifest.jsonl", scaled)
    note = f" ({clipped} samples clipped)" if clipped else ""
    print(f"{len(scaled)} recordings at {args.gain_db:+g} dB in {args.out}{note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
