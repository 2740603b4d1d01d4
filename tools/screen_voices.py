"""Intelligibility screen of synthetic voices: a few clean sentences per voice, recognized.

    python tools/screen_voices.py --kokoro-model kokoro-v1.0.int8.onnx --kokoro-voices voices-v1.0.bin \
        --text ../shared/data/text/lm_dev.txt --out ../exp/screen [--sentences 3] [--model PKG]
    HF_HUB_OFFLINE=1 ../peers-venv/bin/python tools/bench/whisper_worker.py ../exp/screen/screen.jsonl \
        ../exp/screen/whisper.hyp.jsonl                        # optional second opinion (see its docstring)
    python tools/screen_voices.py ... --whisper-hyp ../exp/screen/whisper.hyp.jsonl   # the table, with it

Every catalogue voice of the chosen family (all splits; Kokoro by default) speaks the same
`--sentences` sentences without augmentation; an asr model package (the shipped default
model unless --model) recognizes them, and, when given, Whisper's hypotheses of the same
files are scored beside it. The table (voice, split, CER per recognizer) goes to stdout and
OUT/screen.md; a voice whose CER is over --max-cer for the reference recognizer (Whisper when
given, else ours) is marked `drop`: list those in `kokoro.UNINTELLIGIBLE`. Synthesis is
resumable (existing files are kept) and runs --jobs processes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import sys
import time
from pathlib import Path

import soundfile as sf

from asr import SAMPLE_RATE
from asr.atomic import atomic_open
from asr.data.manifest import Utterance, read_manifest, write_manifest
from asr.data.synth import augment, kokoro
from asr.data.synth.voices import Voice, speak, voice_catalogue
from asr.data.text_corpus import read_text_lines
from asr.score import score_texts
from asr.text import normalize_text


def _speak_one(job: tuple[Voice, str, str]) -> tuple[str, float, float]:
    """Synthesize one sentence to a 16 kHz FLAC; (path, audio seconds, CPU seconds)."""
    voice, text, path = job
    start = time.process_time()
    samples, rate = speak(voice, text)
    audio = augment.resample_speed(samples, rate, SAMPLE_RATE)
    cpu = time.process_time() - start
    with atomic_open(path, "wb") as f:
        sf.write(f, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return path, len(audio) / SAMPLE_RATE, cpu


def synthesize(voices: list[Voice], sentences: list[str], out: Path, jobs: int,
               files: kokoro.KokoroFiles | None) -> tuple[list[Utterance], float, float]:
    """Clean speech of every voice x sentence under OUT/audio (kept if there); the manifest
    and the (audio seconds, CPU seconds) of what was made now."""
    jobs_todo, utterances = [], []
    for voice, (k, text) in itertools.product(voices, enumerate(sentences)):
        path = out / "audio" / f"{voice.name}-{k}.flac"
        utterances.append((voice, k, text, path))
        if not path.is_file():
            jobs_todo.append((voice, text, str(path)))
    (out / "audio").mkdir(parents=True, exist_ok=True)
    audio_s = cpu_s = 0.0
    with concurrent.futures.ProcessPoolExecutor(jobs, initializer=kokoro.use, initargs=(files,)) as pool:
        for done, (_, seconds, cpu) in enumerate(pool.map(_speak_one, jobs_todo), start=1):
            audio_s, cpu_s = audio_s + seconds, cpu_s + cpu
            print(f"\rsynthesized {done}/{len(jobs_todo)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    manifest = [Utterance(id=f"{v.name}-{k}", audio=str(p), duration=sf.info(str(p)).duration, text=t,
                          speaker=v.name) for v, k, t, p in utterances]
    return manifest, audio_s, cpu_s


def recognize(model: str | None, manifest: Path, out: Path) -> dict[str, str]:
    """{id: text} of an asr model package (default: the shipped one) over the manifest."""
    from asr.pretrained import default_model_path
    from asr.transcribe import Recognizer

    recognizer = Recognizer.from_file(model or str(default_model_path()), device="cpu")
    hyps = {r.id: r.text or "" for r in recognizer.decode_utterances(read_manifest(manifest), progress=False)}
    with atomic_open(out) as f:
        for utt_id, text in hyps.items():
            f.write(json.dumps({"id": utt_id, "text": text}) + "\n")
    return hyps


def per_voice_cer(utterances: list[Utterance], hyps: dict[str, str]) -> dict[str, float]:
    cer = {}
    for speaker, group in itertools.groupby(utterances, key=lambda u: u.speaker):
        group = list(group)
        report = score_texts({u.id: u.text for u in group}, {u.id: normalize_text(hyps.get(u.id, "")) for u in group})
        cer[speaker] = report.cer
    return cer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kokoro-model", required=True)
    parser.add_argument("--kokoro-voices", required=True)
    parser.add_argument("--text", type=Path, required=True, help="sentences, one a line")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sentences", type=int, default=3, help="sentences per voice (default: 3)")
    parser.add_argument("--min-words", type=int, default=8)
    parser.add_argument("--max-words", type=int, default=16)
    parser.add_argument("--model", help="asr model package (default: the shipped model)")
    parser.add_argument("--whisper-hyp", type=Path, help="Whisper's hypotheses of OUT/screen.jsonl")
    parser.add_argument("--max-cer", type=float, default=25.0, help="CER (%%) over which a voice is dropped")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    files = kokoro.configure(args.kokoro_model, args.kokoro_voices)
    voices = [v for v in voice_catalogue() if v.family == "kokoro" and v.name in kokoro.available_voices()]
    lines = (normalize_text(line) for line in read_text_lines(args.text))
    sentences = list(itertools.islice((t for t in lines if args.min_words <= len(t.split()) <= args.max_words),
                                      args.sentences))
    utterances, audio_s, cpu_s = synthesize(voices, sentences, args.out, args.jobs, files)
    manifest = args.out / "screen.jsonl"
    write_manifest(manifest, utterances)
    if audio_s:
        print(f"kokoro: {audio_s:.1f} s of audio in {cpu_s:.1f} CPU s = {audio_s / cpu_s:.3f} s of audio per "
              f"CPU second (one thread per process)", file=sys.stderr)
    ours = per_voice_cer(utterances, recognize(args.model, manifest, args.out / "asr.hyp.jsonl"))
    whisper = None
    if args.whisper_hyp:
        whisper = per_voice_cer(utterances, {json.loads(x)["id"]: json.loads(x)["text"]
                                             for x in args.whisper_hyp.read_text().splitlines() if x.strip()})
    reference = whisper or ours
    rows = ["| voice | split | CER asr model | CER Whisper tiny.en | verdict |", "|---|---|---:|---:|---|"]
    for v in voices:
        verdict = "drop" if reference[v.name] > args.max_cer else "keep"
        rows.append(f"| {v.name} | {v.split} | {ours[v.name]:.1f} | "
                    f"{whisper[v.name]:.1f} | {verdict} |" if whisper else
                    f"| {v.name} | {v.split} | {ours[v.name]:.1f} | - | {verdict} |")
    table = "\n".join(rows) + "\n"
    with atomic_open(args.out / "screen.md") as f:
        f.write(table)
    print(table)
    dropped = [v.name for v in voices if reference[v.name] > args.max_cer]
    print(f"drop ({len(dropped)}): {', '.join(dropped) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
