"""Decode saved CTC log-probabilities with pyctcdecode (no LM) and print timings as JSON.

Run by tools/bench/beam_search.py inside its own virtual environment (pyctcdecode needs
numpy<2, the project numpy>=2); it imports neither torch nor asr.

    python pyctcdecode_worker.py EMISSIONS.npz --beams 10 50 --utterances 40 \
        --beam-prune-logp -10 --token-min-logp -5 --passes 3

EMISSIONS.npz holds log_probs [N, T, V] (float32, padded) and lengths [N] (int64). Prints one
JSON object: {"pyctcdecode": version, "numpy": version, "runs": [{"beam", "utterances",
"seconds", "cpu_seconds", "texts"}]}, seconds and cpu_seconds being lists with the wall and CPU
time of each pass over the decode_beams calls only (decoder built beforehand), texts those of
the first pass.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

# CharTokenizer's ids: 0 blank ("" for pyctcdecode), 1 space, 2 apostrophe, then A-Z.
LABELS = ["", " ", "'"] + [chr(ord("A") + i) for i in range(26)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("emissions")
    parser.add_argument("--beams", type=int, nargs="+", required=True)
    parser.add_argument("--utterances", type=int, default=None, help="decode only the first N")
    parser.add_argument("--beam-prune-logp", type=float, default=-10.0, help="pyctcdecode's default: -10")
    parser.add_argument("--token-min-logp", type=float, default=-5.0, help="pyctcdecode's default: -5")
    parser.add_argument("--passes", type=int, default=1, help="timed passes over the utterances per beam")
    args = parser.parse_args()

    from importlib.metadata import version

    from pyctcdecode import build_ctcdecoder

    data = np.load(args.emissions, allow_pickle=False)
    log_probs, lengths = data["log_probs"], data["lengths"]
    if log_probs.shape[2] != len(LABELS):
        raise SystemExit(f"expected {len(LABELS)} tokens, the emissions have {log_probs.shape[2]}")
    count = len(lengths) if args.utterances is None else min(args.utterances, len(lengths))
    utterances = [np.ascontiguousarray(log_probs[b, : lengths[b]]) for b in range(count)]
    decoder = build_ctcdecoder(LABELS)
    decoder.decode_beams(utterances[0][:50], beam_width=args.beams[0])  # warm-up (caches, lazy imports)

    runs = []
    for beam in args.beams:
        seconds, cpu_seconds, texts = [], [], []
        for index in range(args.passes):
            texts_of_pass = []
            start, cpu_start = time.perf_counter(), time.process_time()
            for frames in utterances:
                beams = decoder.decode_beams(frames, beam_width=beam, beam_prune_logp=args.beam_prune_logp,
                                             token_min_logp=args.token_min_logp)
                texts_of_pass.append(beams[0][0])
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - cpu_start)
            texts = texts_of_pass if index == 0 else texts
        runs.append({"beam": beam, "utterances": count, "seconds": seconds, "cpu_seconds": cpu_seconds,
                     "texts": texts})
    print(json.dumps({"pyctcdecode": version("pyctcdecode"), "numpy": np.__version__, "runs": runs}))


if __name__ == "__main__":
    main()
