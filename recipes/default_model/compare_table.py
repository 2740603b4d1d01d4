"""One markdown table of several systems' scores on the same test sets (stage 7).

    python3 compare_table.py --out RESULTS.md --sets SET ... --system "LABEL=DIR" ...

DIR holds `SET.score.json` files written by `asr score --json` (the recipe's decode folders and
stage 7's). A row per test set, WER and CER per system; a system without a score for a set
gets a dash. Every system is scored by `asr score` against the same references, so the text
normalization is the same for all (Whisper's punctuation and digits included).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asr.atomic import atomic_open
from asr.errors import AsrError
from asr.results import load_score

SET_NAMES = {
    "speechocean762_test": "speechocean762 test (unseen non-native speakers)",
    "librispeech_sample": "LibriSpeech dev-clean sample",
    "fsdd_test": "FSDD digits test split",
    "ljspeech_test": "LJ Speech held-out clips",
    "commonvoice_test": "Common Voice held-out speakers",
    "an4_test": "CMU AN4 test",
    "kokoro_test": "Kokoro held-out voices (synthetic)",
    "synth_test": "espeak-ng/flite/festival held-out voices (synthetic)",
}


def score_of(folder: Path, name: str) -> dict | None:
    """The `asr score --json` summary of set `name` in `folder`; None when it has none."""
    path = folder / f"{name}.score.json"
    return load_score(str(path)) if path.is_file() else None


def table(sets: list[str], systems: list[tuple[str, Path]]) -> str:
    """The markdown table: a row per set, 'WER / CER' per system; the lowest WER in bold."""
    lines = ["| test set | utterances | " + " | ".join(label for label, _ in systems) + " |",
             "|---|---:|" + "---:|" * len(systems)]
    for name in sets:
        scores = [score_of(folder, name) for _, folder in systems]
        known = [s for s in scores if s]
        if not known:
            continue
        best = min(s["wer"] for s in known)
        cells = []
        for score in scores:
            if score is None:
                cells.append("-")
                continue
            wer = f"{score['wer']:.1f}"
            cells.append(f"{f'**{wer}**' if score['wer'] == best else wer} / {score['cer']:.1f}")
        lines.append(f"| {SET_NAMES.get(name, name)} | {known[0]['num_utterances']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sets", nargs="+", required=True)
    parser.add_argument("--system", action="append", required=True, metavar="LABEL=DIR")
    args = parser.parse_args()
    systems = []
    for item in args.system:
        label, _, folder = item.rpartition("=")
        if not label:
            parser.error(f"--system takes LABEL=DIR, got {item!r}")
        systems.append((label, Path(folder)))
    try:
        rows = table(args.sets, systems)
    except AsrError as err:
        print(f"compare_table: error: {err}", file=sys.stderr)
        return 1
    text = ("# Side by side: WER / CER % on the same test sets\n\n"
            "All scored by `asr score` (the same normalization for every system); bold: the lowest WER "
            "of the row.\n\n" + rows)
    with atomic_open(args.out, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
