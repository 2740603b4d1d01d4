"""The loop the peer workers share: a manifest's audio in, hypotheses JSONL {id, text} out.

Runs in the peers venv (faster-whisper's PyAV decoder reads every format of our corpora), so it
imports nothing from asr. The output is written atomically; CPU seconds per audio second (the
recognizer's own time, not decoding the file) are printed on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

SAMPLE_RATE = 16000


def manifest_records(manifest: Path) -> list[dict]:
    return [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]


def record_audio(record: dict, manifest: Path) -> np.ndarray:
    """float32 [N] at 16 kHz: the record's file, or its offset/duration segment."""
    from faster_whisper.audio import decode_audio

    path = Path(record["audio"])
    if not path.is_absolute():
        path = manifest.parent / path
    audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    if "offset" in record:
        start = int(float(record["offset"]) * SAMPLE_RATE)
        audio = audio[start:start + int(record["duration"] * SAMPLE_RATE)]
    return audio


def run_peer(name: str, manifest: Path, out: Path, recognize: Callable[[np.ndarray], str]) -> None:
    """Write out: one {id, text} line per manifest record, text = recognize(audio)."""
    records = manifest_records(manifest)
    cpu, audio_seconds = 0.0, 0.0
    tmp = out.with_suffix(out.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            audio = record_audio(record, manifest)
            start = time.process_time()
            text = recognize(audio)
            cpu += time.process_time() - start
            audio_seconds += len(audio) / SAMPLE_RATE
            f.write(json.dumps({"id": record["id"], "text": text}, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    print(f"{name}: {len(records)} utterances, {audio_seconds:.1f} s audio, {cpu:.1f} CPU s "
          f"(RTF {cpu / max(audio_seconds, 1e-9):.3f})", file=sys.stderr)
