"""Word timestamps: how close the CTC-alignment word times come to where the words really are.

    python tools/bench/word_timestamps.py --trials 60 --write BENCHMARKS.md
    python tools/bench/word_timestamps.py --fsdd ../shared/data/fsdd/recordings --fsdd-model exp/libri/model.pt

Test audio with known word positions, made here:
  * espeak (default): each word spoken alone by espeak-ng (voices from --voices), trimmed to its
    sound (first and last 5 ms frame within 40 dB of the word's loudest), the words then joined
    with random pauses (--pause, seconds) after a lead-in pause: each word's start and end are
    known to the sample.
  * fsdd (with --fsdd DIR): real recordings of digits (the dataset's test files, index 0-4), trimmed
    and joined the same way.
Each trial (--words words) is recognized by the model (--model for espeak-ng, --fsdd-model for the
digits: a model trained on utterances with pauses between words; the digits recipe's, trained on
clips cut to one digit, cannot place words in longer audio): whole with greedy CTC, whole with the package's decoding defaults when they differ
(beam search + LM for the shipped model), and streamed in 240 ms chunks with 120 ms right context
and the package's defaults (the long-file path of `asr transcribe`). Recognized words are
matched to the spoken ones by a minimal-edit word alignment; only exact matches are timed.
Reported: how many spoken words were matched, the mean absolute error (ms) of word starts and
ends, their mean signed error (+: later than the truth), the 90th percentile of the absolute
errors, and the share of start and end times within 100 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
import torch

from markdown_block import write_block

from asr.audio import load_audio, resample
from asr.decode.alignment import Word
from asr.decode.stream import StreamingRecognizer
from asr.pretrained import default_model_path
from asr.results import cpu_model
from asr.transcribe import Recognizer

SECTION = "## Word timestamps (issue 15)"
RATE = 16000
# Everyday words of 1-3 syllables (no homophones of each other, so a match means the word).
WORDS = ("house water little people morning garden window yellow seven river letter mother "
         "bread green table summer winter money paper street music doctor family ocean orange "
         "simple silver thunder basket castle dinner forest hammer island jacket kitchen market "
         "number pocket rabbit school sister travel village wonder blanket butter candle "
         "cotton dragon engine finger flower ladder monkey needle pencil pillow rocket shadow").split()
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-scotland", "en-029", "en-us+m7")
DIGITS = "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE".split()


def trim(wave: np.ndarray, floor_db: float = 40.0, frame: int = 80) -> np.ndarray:
    """The part of `wave` from its first to its last 5 ms frame within `floor_db` of its loudest."""
    frames = len(wave) // frame
    rms = np.sqrt(np.mean(wave[: frames * frame].reshape(frames, frame) ** 2, axis=1) + 1e-20)
    loud = np.nonzero(20 * np.log10(rms / rms.max()) > -floor_db)[0]
    return wave[loud[0] * frame: (loud[-1] + 1) * frame]


def espeak_word(word: str, voice: str, folder: Path) -> np.ndarray:
    """`word` spoken by espeak-ng `voice`, 16 kHz float32, trimmed to its sound."""
    path = folder / "word.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), word.lower()], check=True)
    wave, rate = sf.read(path, dtype="float32")
    return trim(resample(wave, rate, RATE))


@dataclass
class Trial:
    wave: np.ndarray
    words: list[str]
    times: list[tuple[float, float]]  # (start, end) of each spoken word, seconds


def join(pieces: list[tuple[str, np.ndarray]], rng: random.Random, pause: tuple[float, float]) -> Trial:
    """Words joined by random pauses (and one before the first and after the last)."""
    parts, words, times, at = [], [], [], 0.0
    for word, wave in pieces:
        gap = np.zeros(int(rng.uniform(*pause) * RATE), np.float32)
        parts += [gap, wave]
        at += len(gap) / RATE
        words.append(word)
        times.append((at, at + len(wave) / RATE))
        at += len(wave) / RATE
    parts.append(np.zeros(int(pause[1] * RATE), np.float32))
    return Trial(np.concatenate(parts), words, times)


@dataclass
class Errors:
    spoken: int = 0
    matched: int = 0
    start: list[float] = field(default_factory=list)  # signed, seconds
    end: list[float] = field(default_factory=list)

    def add(self, trial: Trial, recognized: list[Word]) -> None:
        self.spoken += len(trial.words)
        if not recognized:
            return
        hyp = [w.word for w in recognized]
        out = jiwer.process_words(" ".join(trial.words), " ".join(hyp))
        for chunk in out.alignments[0]:
            if chunk.type != "equal":
                continue
            for i, j in zip(range(chunk.ref_start_idx, chunk.ref_end_idx), range(chunk.hyp_start_idx, chunk.hyp_end_idx)):
                self.matched += 1
                self.start.append(recognized[j].start - trial.times[i][0])
                self.end.append(recognized[j].end - trial.times[i][1])

    def row(self, label: str) -> str:
        if not self.matched:
            return f"| {label} | {self.spoken} | 0 | | | | | | | |"
        start, end = np.array(self.start) * 1000, np.array(self.end) * 1000
        return (f"| {label} | {self.spoken} | {self.matched} ({self.matched / self.spoken:.0%}) | "
                f"{np.abs(start).mean():.0f} | {np.abs(end).mean():.0f} | {start.mean():+.0f} | {end.mean():+.0f} | "
                f"{np.percentile(np.abs(start), 90):.0f} / {np.percentile(np.abs(end), 90):.0f} | "
                f"{np.mean(np.abs(start) <= 100):.0%} / {np.mean(np.abs(end) <= 100):.0%} |")


def recognize(recognizer: Recognizer, streaming: StreamingRecognizer | None, wave: np.ndarray) -> list[Word]:
    if streaming is None:
        tensor = torch.from_numpy(wave)
        decoded = recognizer.decode_batch(tensor[None], torch.tensor([len(wave)]), word_timestamps=True)
        return decoded[0].words or []
    streaming.reset()
    segments = streaming.accept_waveform(wave) + streaming.final()
    return [w for s in segments for w in (s.words or [])]


def decoding_modes(model: str) -> list[tuple[str, Recognizer, StreamingRecognizer | None]]:
    """(label, recognizer, streaming recognizer or None for whole files) for each way of decoding."""
    greedy = Recognizer.from_file(model, device="cpu", options={"decoder": "greedy"})
    package = Recognizer.from_file(model, device="cpu")
    o = package.options
    label = f"beam {o.beam_size}, LM weight {o.lm_weight:g}, bonus {o.word_bonus:g}" if o.decoder == "beam" else "greedy"
    modes = [("whole file, greedy", greedy, None)]
    if o.decoder == "beam":
        modes.append((f"whole file, {label}", package, None))
    streaming = StreamingRecognizer(package, chunk_ms=240, right_context_ms=120, endpoint_ms=800, word_timestamps=True)
    return modes + [(f"streamed 240+120 ms, {label}", package, streaming)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--model", help="model package (default: the one shipped in asr/pretrained)")
    parser.add_argument("--trials", type=int, default=60, help="test files per source (default: 60)")
    parser.add_argument("--words", type=int, default=6, help="words per test file (default: 6)")
    parser.add_argument("--pause", type=float, nargs=2, default=(0.3, 0.9), metavar=("MIN", "MAX"),
                        help="pause between words, seconds (default: 0.3 0.9)")
    parser.add_argument("--voices", default=",".join(VOICES), help="espeak-ng voices, comma-separated")
    parser.add_argument("--fsdd", type=Path, help="FSDD recordings folder: also test on joined real digits")
    parser.add_argument("--fsdd-model", help="model package for the digits (default: --model), e.g. the digits "
                                             "recipe's")
    parser.add_argument("--no-espeak", action="store_true", help="only the FSDD digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", type=Path, help="put the section into this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = datetime.now()
    model = args.model or os.path.relpath(default_model_path())
    models = {"espeak-ng words": model, "FSDD digits (real)": args.fsdd_model or model}

    rng = random.Random(args.seed)
    sources: dict[str, list[Trial]] = {}
    with tempfile.TemporaryDirectory(prefix="asr-bench-words-") as tmp:
        if not args.no_espeak:
            voices = [v for v in args.voices.split(",") if v]
            sources["espeak-ng words"] = [
                join([(w.upper(), espeak_word(w, voice, Path(tmp))) for w in rng.sample(WORDS, args.words)],
                     rng, tuple(args.pause))
                for voice in (voices[i % len(voices)] for i in range(args.trials))]
    if args.fsdd:
        files = sorted(p for p in args.fsdd.glob("*.wav") if int(p.stem.split("_")[2]) < 5)
        sources["FSDD digits (real)"] = [
            join([(DIGITS[int(p.name[0])], trim(load_audio(p).numpy())) for p in rng.sample(files, args.words)],
                 rng, tuple(args.pause))
            for _ in range(args.trials)]

    rows, notes, described = [], [], {}
    for source, trials in sources.items():
        audio = sum(len(t.wave) for t in trials) / RATE
        modes = decoding_modes(models[source])
        recognizer = modes[0][1]
        described[models[source]] = (f"{models[source]} ({recognizer.model.num_parameters() / 1e6:.1f} M parameters, "
                                     f"{1000 * recognizer.frame_seconds:.0f} ms output frames)")
        notes.append(f"{source}: {len(trials)} files, {audio:.0f} s of audio, model {models[source]}")
        for label, recognizer, streaming in modes:
            errors = Errors()
            for trial in trials:
                errors.add(trial, recognize(recognizer, streaming, trial.wave))
            rows.append(errors.row(f"{source}, {label}"))
            print(rows[-1], file=sys.stderr)

    command = "python tools/bench/word_timestamps.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    machine = (f"Machine: {cpu_model()}, {os.cpu_count()} cores (shared with other jobs), 1 torch thread, torch "
               f"{torch.__version__}, Python {platform.python_version()}; load average at the end {load}. "
               f"Models: {'; '.join(described.values())}.")
    method = (f"{args.trials} test files per source, {args.words} words each, pauses of {args.pause[0]:g}-"
              f"{args.pause[1]:g} s between them (see the script's docstring). Times are compared only for words "
              "recognized exactly (matched by a minimal-edit word alignment). Errors in ms; signed: + means later "
              "than the truth.")
    header = ("| audio, decoding | words spoken | matched | start MAE | end MAE | start bias | end bias | "
              "90th pct start / end | within 100 ms start / end |")
    body = "\n".join([f"Run {started:%Y-%m-%d %H:%M}: `{command}`", "", machine, "", method, "", header,
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
                      "Test audio: " + "; ".join(notes) + ".", ""])
    print(f"{SECTION}\n\n{body}")
    if args.write:
        write_block(args.write, SECTION, "tools/bench/word_timestamps.py", body)


if __name__ == "__main__":
    main()
