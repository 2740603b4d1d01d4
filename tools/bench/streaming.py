"""Streaming recognition: latency, compute, real-time factor and WER against full-utterance decoding.

    python tools/bench/streaming.py --model M.pt --manifest digits=data/test.jsonl \\
        --manifest synth=synth/test.jsonl --settings 8:4 4:2 16:4 32:8 --write BENCHMARKS.md
    python tools/bench/streaming.py --model M.pt --memory 600 3600    # peak RSS on 10 min and 1 h files

For every (C, R) setting (chunk and right context in 30 ms output frames) each utterance is fed
to a StreamingRecognizer in 10 ms pieces on one CPU thread, timing every call. Reported:
  * algorithmic latency: C + R output frames + the 15 ms of analysis window past its hop (what
    the model must wait for before it can emit a frame at the start of a chunk);
  * compute per chunk (mean wall time of the calls that ran a chunk) and RTF (compute / audio);
  * final-result delay: in a simulated real-time run (audio arrives at its own pace, each call
    starts when its audio has arrived and the previous call has finished, taking its measured
    time), the time from the end of the audio to the final result;
  * WER of the streamed text against the references, next to the WER of full-utterance decoding
    with the same model and decoder (Recognizer.decode_utterances), and the relative difference.
With --memory, long files are made from the manifests' audio (utterances separated by 1 s of
silence) and `asr transcribe` and `asr stream --as-fast-as-possible` are run on them under
/usr/bin/time -v: peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from asr.audio import load_audio
from asr.data.manifest import read_manifest
from asr.decode.stream import StreamingRecognizer
from asr.results import cpu_model
from asr.score import score_texts
from asr.text import normalize_text
from asr.transcribe import Recognizer

SECTION = "## Streaming recognition"
PIECE_SAMPLES = 160  # 10 ms pieces, as a sound card would deliver them


@dataclass
class SettingResult:
    corpus: str
    chunk: int
    right: int
    latency: float  # s
    compute_per_chunk: float  # s
    rtf: float
    final_delay: float  # s, mean over utterances
    wer: float
    full_wer: float


def stream_utterance(streaming: StreamingRecognizer, wave: np.ndarray) -> tuple[str, float, list[float], float]:
    """(text, compute seconds, per-chunk call times, final-result delay in simulated real time)."""
    streaming.reset()
    clock, compute, chunk_times, texts = 0.0, 0.0, [], []
    for start in range(0, len(wave), PIECE_SAMPLES):
        piece = wave[start: start + PIECE_SAMPLES]
        arrived = (start + len(piece)) / 16000
        chunks_before = streaming.chunks_done
        began = time.perf_counter()
        texts += [s.text for s in streaming.accept_waveform(piece)]
        spent = time.perf_counter() - began
        compute += spent
        if streaming.chunks_done > chunks_before:
            chunk_times.append(spent / (streaming.chunks_done - chunks_before))
        clock = max(clock, arrived) + spent
    began = time.perf_counter()
    texts += [s.text for s in streaming.final()]
    spent = time.perf_counter() - began
    compute += spent
    clock = max(clock, len(wave) / 16000) + spent
    return " ".join(texts), compute, chunk_times, clock - len(wave) / 16000


def run_setting(recognizer: Recognizer, corpus: str, utterances, waves, full_texts: dict[str, str], chunk: int,
                right: int, endpoint_ms: float) -> SettingResult:
    frame_ms = 1000 * recognizer.model.config.stack * recognizer.logmel.hop_length / 16000
    streaming = StreamingRecognizer(recognizer, chunk_ms=chunk * frame_ms, right_context_ms=right * frame_ms,
                                    endpoint_ms=endpoint_ms)
    refs, hyps, compute, audio, chunk_times, delays = {}, {}, 0.0, 0.0, [], []
    for utt, wave in tqdm(list(zip(utterances, waves)), desc=f"{corpus} C={chunk} R={right}", leave=False):
        text, seconds, per_chunk, delay = stream_utterance(streaming, wave)
        refs[utt.id], hyps[utt.id] = normalize_text(utt.text), text
        compute, audio = compute + seconds, audio + len(wave) / 16000
        chunk_times += per_chunk
        delays.append(delay)
    full = score_texts(refs, {u.id: full_texts[u.id] for u in utterances}).wer
    return SettingResult(corpus, chunk, right, streaming.latency_seconds, float(np.mean(chunk_times)),
                         compute / audio, float(np.mean(delays)), score_texts(refs, hyps).wer, full)


def long_file(path: Path, waves: list[np.ndarray], seconds: float) -> Path:
    """Concatenate waves (1 s of silence between) up to `seconds` into a 16 kHz FLAC, written
    block by block so that making it needs little memory."""
    silence = np.zeros(16000, np.float32)
    written = 0
    with sf.SoundFile(path, "w", samplerate=16000, channels=1, format="FLAC") as f:
        while written < seconds * 16000:
            for wave in waves:
                block = np.concatenate([wave, silence])[: int(seconds * 16000) - written]
                f.write(block)
                written += len(block)
                if written >= seconds * 16000:
                    break
    return path


def peak_memory(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, output lines) of a command run under /usr/bin/time -v."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr[-500:]}")
    peak_kb = next(int(line.split(":")[1]) for line in done.stderr.splitlines()
                   if "Maximum resident set size" in line)
    return peak_kb / 1024, wall, len(done.stdout.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--model", required=True, help="model package (trained with streaming.chunk_prob > 0)")
    parser.add_argument("--manifest", action="append", default=[], metavar="NAME=PATH",
                        help="held-out manifests to score, e.g. digits=data/test.jsonl (repeatable)")
    parser.add_argument("--max-utterances", type=int, default=200, help="per manifest")
    parser.add_argument("--settings", nargs="+", default=["8:4", "4:2", "16:4", "32:8"],
                        help="chunk:right_context in output frames (the first is the default setting)")
    parser.add_argument("--decoder", default="greedy", choices=["greedy", "beam"])
    parser.add_argument("--endpoint-ms", type=float, default=800.0)
    parser.add_argument("--memory", type=float, nargs="*", default=[], metavar="SECONDS",
                        help="also measure peak memory on long files of these lengths")
    parser.add_argument("--write", type=Path, help="put the section into this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = datetime.now()
    recognizer = Recognizer.from_file(args.model, device="cpu", options={"decoder": args.decoder})

    results, all_waves = [], []
    for spec in args.manifest:
        name, path = spec.split("=", 1)
        utterances = read_manifest(path, require_text=True)[: args.max_utterances]
        waves = [load_audio(u.audio, u.offset or 0.0, u.duration if u.offset else None).numpy() for u in utterances]
        all_waves += waves[:20]
        full_texts = {r.id: r.text for r in recognizer.decode_utterances(utterances, progress=False)}
        for setting in args.settings:
            chunk, right = map(int, setting.split(":"))
            results.append(run_setting(recognizer, name, utterances, waves, full_texts, chunk, right,
                                       args.endpoint_ms))
            print(results[-1], file=sys.stderr)

    memory_rows = []
    if args.memory:
        with tempfile.TemporaryDirectory(prefix="asr-bench-stream-") as tmp:
            for seconds in args.memory:
                path = long_file(Path(tmp) / f"long-{int(seconds)}s.flac", all_waves, seconds)
                for label, command in (
                        ("asr transcribe", [sys.executable, "-m", "asr", "transcribe", str(path), "--model",
                                            args.model, "--threads", "1"]),
                        ("asr stream --as-fast-as-possible", [sys.executable, "-m", "asr", "stream", str(path),
                                                              "--model", args.model, "--as-fast-as-possible",
                                                              "--threads", "1"])):
                    peak, wall, lines = peak_memory(command)
                    memory_rows.append((label, seconds, peak, wall, lines))
                    print(memory_rows[-1], file=sys.stderr)

    command = "python tools/bench/streaming.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out = [f"Run {started:%Y-%m-%d %H:%M}: `{command}`", "",
           f"Machine: {cpu_model()}, {os.cpu_count()} cores (shared with other jobs), 1 torch thread, torch "
           f"{torch.__version__}, Python {platform.python_version()}. Model: {args.model} "
           f"({recognizer.model.num_parameters() / 1e6:.1f} M parameters), decoder {args.decoder}, endpoint "
           f"{args.endpoint_ms:g} ms. Audio fed in 10 ms pieces.", ""]
    if results:
        out += ["| held-out set | chunk C | right R | algorithmic latency | compute per chunk | RTF (1 thread) | "
                "final-result delay | streaming WER | full-utterance WER | relative |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        frame_ms = 1000 * recognizer.model.config.stack * recognizer.logmel.hop_length / 16000
        for r in results:
            relative = (r.wer - r.full_wer) / r.full_wer if r.full_wer else float("nan")
            out.append(f"| {r.corpus} | {r.chunk} ({r.chunk * frame_ms:.0f} ms) | {r.right} ({r.right * frame_ms:.0f} ms) "
                       f"| {r.latency * 1000:.0f} ms | {r.compute_per_chunk * 1000:.1f} ms | {r.rtf:.3f} | "
                       f"{r.final_delay * 1000:.0f} ms | {r.wer:.2f}% | {r.full_wer:.2f}% | {relative:+.1%} |")
        out.append("")
    if memory_rows:
        out += ["| command | audio | peak RSS | wall | output lines |", "|---|---:|---:|---:|---:|"]
        out += [f"| {label} | {seconds / 60:.0f} min | {peak:.0f} MB | {wall:.0f} s | {lines} |"
                for label, seconds, peak, wall, lines in memory_rows]
        out.append("")
    body = "\n".join(out)
    print(f"{SECTION}\n\n{body}")
    if args.write:
        text = args.write.read_text() if args.write.exists() else "# Benchmarks\n"
        if SECTION in text:
            before, rest = text.split(SECTION, 1)
            following = rest.find("\n## ")
            text = before + f"{SECTION}\n\n{body}\n" + ("" if following < 0 else rest[following:])
        else:
            text = text.rstrip() + f"\n\n{SECTION}\n\n{body}\n"
        args.write.write_text(text)


if __name__ == "__main__":
    main()
