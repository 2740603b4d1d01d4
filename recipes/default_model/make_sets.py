"""The default-model recipe's data sets, from the corpora's manifests (stage 1).

    python3 make_sets.py --out data NAME=MANIFEST ... [--slice N] [--dev-speaker-every 16]

Writes data/NAME.jsonl for every NAME=MANIFEST, each id prefixed with the set's corpus
("kokoro-", "fsdd-", ...) so that ids stay unique when corpora are pooled, and:

- speechocean762_train: the speakers in sorted order, every `--dev-speaker-every`-th one
  held out as speechocean762_dev (never trained on: it tunes the LM weight);
- speechocean762_test: every `--test-every`-th utterance (1: all 2,500);
- dev: speechocean762_dev + fsdd_dev, the real-speech dev set that training validates on
  and `asr tune` tunes alpha/beta on;
- `--slice N`: only the first N utterances of every set (the recipe's quick test).

A set file is rewritten only when its content changes, so a rerun leaves later stages'
work (which checks file times) in place.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from asr.data.manifest import Utterance, manifest_line, read_manifest, write_manifest
from asr.errors import AsrError

DEV_PARTS = ("speechocean762_dev", "fsdd_dev")


def corpus_of(name: str) -> str:
    """'speechocean762_train' -> 'speechocean762', 'librispeech_sample' -> 'librispeech'."""
    return name.rsplit("_", 1)[0] if "_" in name else name


def hold_out_speakers(utterances: list[Utterance], every: int) -> tuple[list[Utterance], list[Utterance]]:
    """(kept, held out): every `every`-th speaker in sorted order is held out."""
    speakers = sorted({u.speaker for u in utterances})
    if every < 1 or len(speakers) < 2:
        raise AsrError(f"cannot hold out every {every}th of {len(speakers)} speakers")
    held = set(speakers[::every])
    return [u for u in utterances if u.speaker not in held], [u for u in utterances if u.speaker in held]


def write_if_changed(path: Path, utterances: list[Utterance]) -> bool:
    """write_manifest, unless the file already holds exactly these lines; True when written."""
    if path.is_file() and path.read_text(encoding="utf-8") == "".join(map(manifest_line, utterances)):
        return False
    write_manifest(path, utterances)
    return True


def make_sets(sources: dict[str, Path], out: Path, dev_speaker_every: int = 16, test_every: int = 1,
              slice_size: int = 0) -> dict[str, int]:
    """Write out/NAME.jsonl for every source (and the held-out and dev sets); returns the
    number of utterances per set written."""
    sets: dict[str, list[Utterance]] = {}
    for name, manifest in sources.items():
        corpus = corpus_of(name)
        utterances = [dataclasses.replace(u, id=f"{corpus}-{u.id}") for u in read_manifest(manifest)]
        if name == "speechocean762_train":
            utterances, sets["speechocean762_dev"] = hold_out_speakers(utterances, dev_speaker_every)
        elif name == "speechocean762_test":
            utterances = utterances[::test_every]
        sets[name] = utterances
    if slice_size:
        sets = {name: utterances[:slice_size] for name, utterances in sets.items()}
    dev = [u for part in DEV_PARTS for u in sets.get(part, [])]
    if dev:
        sets["dev"] = dev
    out.mkdir(parents=True, exist_ok=True)
    for name, utterances in sets.items():
        if write_if_changed(out / f"{name}.jsonl", utterances):
            print(f"make_sets: {out / name}.jsonl: {len(utterances)} utterances, "
                  f"{sum(u.duration for u in utterances) / 3600:.2f} h", file=sys.stderr)
    return {name: len(utterances) for name, utterances in sets.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", metavar="NAME=MANIFEST")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dev-speaker-every", type=int, default=16)
    parser.add_argument("--test-every", type=int, default=1)
    parser.add_argument("--slice", type=int, default=0, dest="slice_size")
    args = parser.parse_args()
    sources = {}
    for item in args.sources:
        name, _, path = item.partition("=")
        if not path:
            parser.error(f"expected NAME=MANIFEST, got {item!r}")
        sources[name] = Path(path)
    try:
        make_sets(sources, args.out, args.dev_speaker_every, args.test_every, args.slice_size)
    except (AsrError, OSError) as err:
        print(f"make_sets: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
