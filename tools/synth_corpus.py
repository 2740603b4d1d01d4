"""Synthesize a speech corpus from text with espeak-ng voices (accents x variants, random
pitch and rate), for tests, benchmarks and recipes that need speech we can make anywhere.

    python tools/synth_corpus.py --text ../shared/data/text/lm_dev.txt --num 200 --out synth/test

Output: OUT/<voice>/<id>.wav (espeak-ng's 22.05 kHz) with OUT/<voice>/<id>.txt beside it, the
layout `asr prepare folder OUT` reads. Deterministic for a seed; re-running fills in only
what is missing; runs over several processes with a progress bar.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import random
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5"]


def all_voices() -> list[str]:
    return [f"{accent}+{variant}" for accent in ACCENTS for variant in VARIANTS]


def read_sentences(path: Path, num: int, min_words: int, max_words: int, seed: int,
                   skip: int = 0, stop: int | None = None) -> list[str]:
    """`num` sentences of min_words..max_words words, sampled deterministically (reservoir
    sampling over the eligible lines numbered skip .. stop - 1)."""
    opener = gzip.open if path.suffix == ".gz" else open
    rng = random.Random(seed)
    chosen: list[str] = []
    eligible = 0
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f):
            if stop is not None and number >= stop:
                break
            words = line.split()
            if number < skip or not min_words <= len(words) <= max_words:
                continue
            eligible += 1
            if len(chosen) < num:
                chosen.append(" ".join(words))
            else:
                slot = rng.randrange(eligible)
                if slot < num:
                    chosen[slot] = " ".join(words)
    return chosen


def _synthesize(job: tuple[str, str, str, int, int]) -> str | None:
    """Write one utterance; returns an error message or None."""
    path, text, voice, rate, pitch = job
    wav, txt = Path(path + ".wav"), Path(path + ".txt")
    if wav.exists() and txt.exists():
        return None
    wav.parent.mkdir(parents=True, exist_ok=True)
    tmp = wav.with_suffix(".tmp.wav")
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(tmp), text],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not tmp.exists():
        return f"{voice}: {proc.stderr.strip()[:200]}"
    os.replace(tmp, wav)  # the .txt last: a pair is complete only when both exist
    txt.write_text(text + "\n", encoding="utf-8")
    return None


def plan(sentences: list[str], voices: list[str], out: Path, seed: int, prefix: str) -> list[tuple]:
    """One job per sentence: a voice, speaking rate and pitch drawn from the seed and the text."""
    jobs = []
    for index, text in enumerate(sentences):
        digest = hashlib.sha1(f"{seed}:{index}:{text}".encode()).hexdigest()
        rng = random.Random(digest)
        voice = rng.choice(voices)
        name = f"{prefix}{index:06d}"
        jobs.append((str(out / voice.replace("+", "_") / name), text, voice, rng.randint(135, 195),
                     rng.randint(30, 70)))
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, required=True, help="sentences, one a line (.txt or .txt.gz)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--num", type=int, required=True, help="utterances to make")
    parser.add_argument("--min-words", type=int, default=4)
    parser.add_argument("--max-words", type=int, default=16)
    parser.add_argument("--skip", type=int, default=0, help="ignore the first N lines of the text")
    parser.add_argument("--stop", type=int, help="ignore the lines from number N on")
    parser.add_argument("--voices", default="all", help="comma-separated espeak-ng voices (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prefix", default="utt", help="utterance id prefix")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes")
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("synth_corpus: espeak-ng is not installed (apt-get install -y espeak-ng)", file=sys.stderr)
        return 1
    voices = all_voices() if args.voices == "all" else args.voices.split(",")
    sentences = read_sentences(args.text, args.num, args.min_words, args.max_words, args.seed, args.skip, args.stop)
    jobs = plan(sentences, voices, args.out, args.seed, args.prefix)
    errors = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for error in tqdm(pool.map(_synthesize, jobs, chunksize=8), total=len(jobs), desc="synthesizing",
                          unit="utt"):
            if error:
                errors.append(error)
    for error in errors[:10]:
        print(f"synth_corpus: {error}", file=sys.stderr)
    print(f"{args.out}: {len(jobs) - len(errors)} utterances ({len(errors)} failed)")
    return 1 if errors and len(errors) == len(jobs) else 0


if __name__ == "__main__":
    sys.exit(main())
