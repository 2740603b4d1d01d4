"""pocketsphinx 5 (its US English model, shipped in the wheel) over a manifest: hypotheses JSONL {id, text}.

A peer, not a dependency: run it with the Python of the peers venv (see whisper_worker.py),
which has pocketsphinx and faster-whisper (its PyAV decoder reads every format we have):

    ../peers-venv/bin/pip install pocketsphinx==5.1.1
    ../peers-venv/bin/python tools/bench/pocketsphinx_worker.py MANIFEST OUT.jsonl

Decodes each utterance whole with the default acoustic model, LM and dictionary (en-us), no
tuning. Score the output with `asr score` like ours. Prints CPU seconds per audio second on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from peer_io import run_peer  # tools/bench, beside this script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000, logfn=os.devnull)

    def recognize(audio: np.ndarray) -> str:
        decoder.start_utt()
        decoder.process_raw((np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return hyp.hypstr if hyp else ""

    run_peer("pocketsphinx", args.manifest, args.out, recognize)
    return 0


if __name__ == "__main__":
    sys.exit(main())
