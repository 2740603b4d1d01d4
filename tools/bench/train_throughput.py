"""Training throughput of the acoustic model: seconds of audio trained per second of wall time.

    python tools/bench/train_throughput.py --device cuda                  # LibriSpeech-100 config, one GPU
    python tools/bench/train_throughput.py --device cpu --steps 6 data.max_frames=6000 data.num_workers=1

Audio: a pool of --pool FLAC files (16 kHz, 16 bit) of speech-like noise (pink noise under a
syllable-rate envelope; it compresses like read speech, which is what FLAC decoding cost depends
on), with durations 2 + 22 * Beta(4, 4.2) s (2-24 s, mean 12.7 s: LibriSpeech train-clean-100's
range and mean). The manifest draws its utterances from the pool (the page cache holds the files,
as it holds a 6 GB corpus on a training machine) with transcripts of random characters at 15 per
second (read speech). The batches are the trainer's own: duration-bucketed under data.max_frames.

Three measurements over the same batches (the first --warmup of each are not timed):
  loop       AcousticTrainer's training loop as `asr train` runs it: DataLoader workers decoding
             FLAC, features on the training device, forward, CTC loss, backward, clipping, AdamW,
             LR schedule, logging. The end-to-end figure.
  breakdown  the same step in the main process, synchronizing the device around each phase:
             loading + decoding, copy, features, forward, loss, backward, optimizer.
  bare       forward + loss + backward only, on features computed beforehand and kept on the
             device: the floor the loop's overhead is measured against.
Under torchrun (`torchrun --nproc-per-node N tools/bench/train_throughput.py ...`) the loop is DDP
and rank 0 reports its own share: the per-GPU throughput to compare with one process; bare and
breakdown run on each rank's model alone.
On CUDA also the GPU utilization during the loop (torch.cuda.utilization, i.e. NVML, sampled
every 0.1 s) and the peak memory allocated. Prints a markdown report; --json keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import soundfile as sf
import torch

from asr import SAMPLE_RATE
from asr.config import load_config
from asr.data.dataset import Batch, SpeechDataset, collate
from asr.data.sampler import FRAMES_PER_SECOND, make_batches
from asr.text import CharTokenizer
from asr.train.am import AcousticTrainer
from asr.train.config import AcousticTrainConfig
from asr.train.logs import ScalarWriter

REPO = Path(__file__).resolve().parents[2]
CHARS_PER_SECOND = 15.0  # LibriSpeech read speech: about 2.7 words of 5.5 characters per second
TRAIN_CLEAN_100 = (28539, 100.6)  # utterances, hours


def librispeech_durations(count: int, rng: np.random.Generator) -> np.ndarray:
    """Seconds: 2 + 22 * Beta(4, 4.2): 2-24 s, mean 12.7 s, like train-clean-100's utterances."""
    return 2.0 + 22.0 * rng.beta(4.0, 4.2, count)


def speech_like_noise(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Pink noise (1/f power) under a 4 Hz syllable envelope with quieter pauses, peak 0.3."""
    n = int(seconds * SAMPLE_RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1.0))
    pink = np.fft.irfft(spectrum, n)
    t = np.arange(n) / SAMPLE_RATE
    envelope = 0.1 + np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6.3)), 0, None)
    envelope *= np.repeat(0.2 + 0.8 * (rng.random(int(seconds) + 1) > 0.15), SAMPLE_RATE)[:n]  # pauses
    wave = pink * envelope
    return (0.3 * wave / (np.abs(wave).max() + 1e-9)).astype(np.float32)


def write_corpus(folder: Path, pool: int, total_seconds: float, seed: int) -> tuple[Path, float]:
    """The pool of FLAC files and a manifest of about `total_seconds` of utterances drawn from
    it. Returns (manifest path, FLAC bytes per second of audio)."""
    rng = np.random.default_rng(seed)
    durations = librispeech_durations(pool, rng)
    files, size = [], 0
    for i, seconds in enumerate(durations):
        path = folder / f"pool-{i:04d}.flac"
        sf.write(path, speech_like_noise(seconds, rng), SAMPLE_RATE, subtype="PCM_16")
        files.append((path, len(sf.SoundFile(path)) / SAMPLE_RATE))
        size += path.stat().st_size
    alphabet = [*CharTokenizer.DEFAULT_SYMBOLS[2:], *" " * 5]  # A-Z and spaces (words of about 5 letters)
    manifest, done, i = folder / "train.jsonl", 0.0, 0
    with open(manifest, "w") as f:
        while done < total_seconds:
            path, seconds = files[rng.integers(pool)]
            text = "".join(rng.choice(alphabet, int(seconds * CHARS_PER_SECOND))).strip() or "A"
            f.write(json.dumps({"id": f"utt{i}", "audio": str(path), "duration": seconds, "text": " ".join(text.split()),
                                "speaker": "synthetic"}) + "\n")
            done += seconds
            i += 1
    return manifest, size / sum(d for _, d in files)


def flops_per_audio_second(config: AcousticTrainConfig, vocab: int = 29) -> float:
    """Multiply-adds x 2 of one forward pass per second of audio: per output frame (stack x 10 ms),
    each LSTM direction of each layer does 4 gates x hidden x (input + hidden), plus the output layer."""
    m = config.model
    frames = FRAMES_PER_SECOND / m.stack
    per_frame, inputs = 0, config.features.n_mels * m.stack
    for _ in range(m.num_layers):
        per_frame += 2 * 2 * 4 * m.hidden_size * (inputs + m.hidden_size)
        inputs = 2 * m.hidden_size
    per_frame += 2 * inputs * vocab
    return per_frame * frames


def padding_fraction(sizes: list[float], batches: list[list[int]]) -> float:
    """Share of the padded frames that are padding."""
    real = sum(sizes[i] for b in batches for i in b)
    padded = sum(len(b) * max(sizes[i] for i in b) for b in batches)
    return 1 - real / padded


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class GpuUtilization:
    """Mean GPU utilization (%) sampled every 0.1 s in a thread, via NVML (torch.cuda.utilization)."""

    def __init__(self, device: torch.device):
        self.device, self.samples, self.error = device, [], ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.samples.append(torch.cuda.utilization(self.device))
            except Exception as err:  # no pynvml / NVML: say so in the report instead
                self.error = f"not measured ({type(err).__name__}: {err})"
                return

    def __enter__(self) -> "GpuUtilization":
        if self.device.type == "cuda":
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def report(self) -> str:
        if self.device.type != "cuda":
            return "n/a (CPU)"
        return f"{np.mean(self.samples):.0f}%" if self.samples else (self.error or "no samples")


def batch_seconds(batch: Batch) -> float:
    return float(batch.waveform_lengths.sum()) / SAMPLE_RATE


# --------------------------------------------------------------------------------- measurements
def measure_loop(trainer: AcousticTrainer, warmup: int) -> dict[str, Any]:
    """Trainer._train_epoch as `asr train` runs it; timed from the end of step `warmup`."""
    marks: list[tuple[float, float]] = []  # (time after the step, audio seconds of the step)
    train_step = trainer._train_step

    def timed_step(batch: Batch):
        loss = train_step(batch)
        marks.append((time.perf_counter(), batch_seconds(batch)))
        return loss

    trainer._train_step = timed_step  # type: ignore[method-assign]
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(trainer.device)
    with GpuUtilization(trainer.device) as gpu:
        trainer._train_epoch()
        synchronize(trainer.device)
        marks[-1] = (time.perf_counter(), marks[-1][1])
    del trainer._train_step
    timed = marks[warmup:]
    seconds = marks[-1][0] - marks[warmup - 1][0]
    audio = sum(a for _, a in timed)
    result = {"steps": len(timed), "audio_s": audio, "wall_s": seconds, "rate": audio / seconds,
              "gpu_util": gpu.report()}
    if trainer.device.type == "cuda":
        result["peak_mem_gb"] = torch.cuda.max_memory_allocated(trainer.device) / 2**30
    return result


@contextmanager
def phase(times: dict[str, float], name: str, device: torch.device) -> Iterator[None]:
    synchronize(device)
    start = time.perf_counter()
    yield
    synchronize(device)
    times[name] = times.get(name, 0.0) + time.perf_counter() - start


def measure_breakdown(trainer: AcousticTrainer, batches: list[list[int]], warmup: int) -> dict[str, Any]:
    """One step at a time in the main process, the device synchronized around each phase."""
    dataset = SpeechDataset(trainer.train_utts, trainer.tokenizer, seed=trainer.run.seed)
    device, model, optimizer = trainer.device, trainer.model, trainer.optimizer
    times: dict[str, float] = {}
    audio = 0.0
    for number, rows in enumerate(batches):
        step_times: dict[str, float] = {}
        with phase(step_times, "load + decode", device):
            batch = collate([dataset[i] for i in rows])
        with phase(step_times, "copy to device", device):
            if device.type == "cuda":
                batch.pin_memory()
            batch.waveforms = batch.waveforms.to(device, non_blocking=True)
        with phase(step_times, "features", device):
            feats, frame_lengths = trainer._features(batch, train=True)
        with phase(step_times, "forward", device):
            with trainer.autocast():
                log_probs, _ = model(feats, frame_lengths)
        with phase(step_times, "loss", device):
            loss = trainer.ctc_loss(log_probs, frame_lengths, batch)
        with phase(step_times, "backward", device):
            loss.backward()
        with phase(step_times, "optimizer", device):
            torch.nn.utils.clip_grad_norm_(model.parameters(), trainer.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            trainer.scheduler.step()
        if number >= warmup:
            audio += batch_seconds(batch)
            for name, value in step_times.items():
                times[name] = times.get(name, 0.0) + value
    total = sum(times.values())
    return {"phases": times, "wall_s": total, "audio_s": audio, "rate": audio / total}


def measure_bare(trainer: AcousticTrainer, batches: list[list[int]], warmup: int) -> dict[str, Any]:
    """Forward + loss + backward on features computed (and kept on the device) beforehand."""
    dataset = SpeechDataset(trainer.train_utts, trainer.tokenizer, seed=trainer.run.seed)
    model = trainer.model
    inputs = []
    for rows in batches:
        batch = collate([dataset[i] for i in rows])
        feats, frame_lengths = trainer._features(batch, train=True)
        inputs.append((feats, frame_lengths, batch))
    synchronize(trainer.device)
    start, audio = 0.0, 0.0
    for number, (feats, frame_lengths, batch) in enumerate(inputs):
        if number == warmup:
            synchronize(trainer.device)
            start = time.perf_counter()
        with trainer.autocast():
            log_probs, _ = model(feats, frame_lengths)
        trainer.ctc_loss(log_probs, frame_lengths, batch).backward()
        model.zero_grad(set_to_none=True)
        if number >= warmup:
            audio += batch_seconds(batch)
    synchronize(trainer.device)
    seconds = time.perf_counter() - start
    return {"wall_s": seconds, "audio_s": audio, "rate": audio / seconds}


# --------------------------------------------------------------------------------- report
def machine(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    cpu = platform.processor() or "CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {threads} torch thread(s), torch {torch.__version__}"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def report(args: argparse.Namespace, config: AcousticTrainConfig, results: dict[str, Any]) -> str:
    loop, bare, parts = results["loop"], results["bare"], results["breakdown"]
    flops = flops_per_audio_second(config)
    lines = [
        f"Run {results['date']}: `{results['command']}`",
        "",
        f"Machine: {results['machine']}; {results['world_size']} process(es), figures per process. Load average (1/5/15 min) at the start {results['load_start']}, "
        f"at the end {results['load_end']}.",
        "",
        f"Model {config.model.num_layers} x {config.model.hidden_size} BiLSTM ({results['parameters'] / 1e6:.2f}M "
        f"parameters), stack {config.model.stack}; batches: data.max_frames={config.data.max_frames}, "
        f"data.max_batch_size={config.data.max_batch_size}, data.num_workers={config.data.num_workers}, "
        f"amp {results['amp']}; {results['batches']} batches, {results['utterances_per_batch']:.1f} utterances "
        f"and {results['audio_per_batch']:.0f} s of audio per batch on average; padding {100 * results['padding']:.1f}% "
        f"of padded frames (an epoch of {TRAIN_CLEAN_100[0]} train-clean-100-like utterances with these settings: "
        f"{100 * results['padding_epoch']:.1f}%). FLAC: {results['flac_kbps']:.0f} kbit/s (LibriSpeech's: about 140).",
        "",
        "| measurement | steps | audio s | wall s | audio s per s | vs bare |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in (("training loop, end to end", loop), ("bare forward + loss + backward", bare),
                    ("breakdown (synchronized phases, no workers)", parts)):
        steps = r.get("steps", results["batches"] - args.warmup)
        lines.append(f"| {name} | {steps} | {r['audio_s']:.0f} | {r['wall_s']:.2f} | {r['rate']:.1f} | "
                     f"{r['wall_s'] / r['audio_s'] / (bare['wall_s'] / bare['audio_s']):.3f} |")
    lines += ["", "Passes (audio s per s), the fastest of each in the table: " + "; ".join(
        f"{name} " + ", ".join(f"{rate:.2f}" for rate in results[f"{name}_passes"]) for name in ("bare", "loop")) + "."]
    lines += ["", "Breakdown, share of the step time: " + ", ".join(
        f"{name} {100 * t / parts['wall_s']:.1f}%" for name, t in parts["phases"].items()) + "."]
    decode = parts["phases"]["load + decode"]
    lines += [
        "",
        f"- Training-loop overhead over bare forward + backward: {100 * (loop['wall_s'] / loop['audio_s'] / (bare['wall_s'] / bare['audio_s']) - 1):+.1f}% (target: at most +10%).",
        f"- Loading + FLAC decoding in one process: {parts['audio_s'] / decode:.0f} s of audio per second.",
        f"- GPU utilization during the loop: {loop['gpu_util']}; peak memory allocated: "
        + (f"{loop['peak_mem_gb']:.2f} GiB." if "peak_mem_gb" in loop else "n/a (CPU)."),
        f"- Forward FLOPs per second of audio: {flops / 1e9:.2f} G (forward + backward about 3x: {3 * flops / 1e9:.2f} G); "
        f"at the loop's rate that is {3 * flops * loop['rate'] / 1e12:.3f} TFLOP/s.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(REPO / "conf/am/librispeech_100.yaml"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=40, help="timed steps (about; the last batch may differ)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (cuDNN plans, allocator)")
    parser.add_argument("--repeat", type=int, default=2, help="alternating bare/loop passes; the fastest counts")
    parser.add_argument("--pool", type=int, default=200, help="distinct FLAC files the utterances come from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("overrides", nargs="*", help="config overrides, section.key=value")
    args = parser.parse_args()
    if min(args.warmup, args.steps, args.repeat) < 1:
        parser.error("--warmup, --steps and --repeat must be at least 1")

    config = load_config(AcousticTrainConfig, args.config, [
        *args.overrides, f"run.device={args.device}", "run.epochs=1", "run.checkpoint_every=0",
        "features.cmvn_max_utterances=20"])
    started, load_start = datetime.now(), load_average()
    # Under torchrun the ranks share the experiment folder (rank 0 writes the CMVN statistics
    # there for all), so the folder is named after the run; each rank writes its own corpus.
    run_id = f"{os.environ.get('TORCHELASTIC_RUN_ID', 'single')}-{os.environ.get('MASTER_PORT', os.getpid())}"
    shared = Path(tempfile.gettempdir()) / f"asr-train-bench-{run_id}"
    try:
        folder = shared / f"rank{os.environ.get('RANK', '0')}"
        folder.mkdir(parents=True, exist_ok=True)
        # enough audio for warmup + steps batches per process at about 90% fill
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        seconds = world_size * (args.warmup + args.steps) * config.data.max_frames / FRAMES_PER_SECOND * 0.9
        manifest, flac_bytes = write_corpus(folder, args.pool, seconds, args.seed)
        trainer = AcousticTrainer(config, str(manifest), None, str(shared / "exp"))
        trainer.writer = ScalarWriter(shared / "exp", enabled=False)
        sizes = [u.duration * FRAMES_PER_SECOND for u in trainer.train_utts]
        trainer.sampler.set_epoch(0)
        batches = trainer.sampler.epoch_batches()
        epoch_sizes = list(librispeech_durations(TRAIN_CLEAN_100[0], np.random.default_rng(1)) * FRAMES_PER_SECOND)
        results: dict[str, Any] = {
            "date": started.strftime("%Y-%m-%d %H:%M"),
            "command": ("python" if world_size == 1 else f"torchrun --nproc-per-node {world_size}")
            + " tools/bench/train_throughput.py " + " ".join(
                [f"--device {args.device}", f"--steps {args.steps}", f"--warmup {args.warmup}", *args.overrides]),
            "machine": machine(trainer.device, torch.get_num_threads()), "load_start": load_start,
            "parameters": sum(p.numel() for p in trainer.model.parameters()),
            "amp": config.run.amp if trainer.device.type == "cuda" else "none (CPU)",
            "batches": len(batches), "utterances_per_batch": sum(map(len, batches)) / len(batches),
            "audio_per_batch": sum(sizes[i] for b in batches for i in b) / FRAMES_PER_SECOND / len(batches),
            "padding": padding_fraction(sizes, batches),
            "padding_epoch": padding_fraction(epoch_sizes, make_batches(
                epoch_sizes, config.data.max_frames, config.data.max_batch_size, seed=1)),
            "flac_kbps": flac_bytes * 8 / 1000,
        }
        say = print if trainer.dist.is_main else (lambda *a, **k: None)
        say(f"{len(batches)} batches per process", flush=True)
        # bare and loop alternate, --repeat times; the fastest pass of each counts (on a shared
        # machine, other jobs only ever slow a pass down)
        passes: dict[str, list[dict[str, Any]]] = {"bare": [], "loop": []}
        for number in range(args.repeat):
            passes["bare"].append(measure_bare(trainer, batches, args.warmup))
            trainer.batches_done, trainer.epoch_loss = 0, [0.0, 0]  # the same epoch's batches again
            passes["loop"].append(measure_loop(trainer, args.warmup))  # with DDP under torchrun: all ranks
            say(f"pass {number + 1}: bare {passes['bare'][-1]['rate']:.2f} s/s, "
                f"loop {passes['loop'][-1]['rate']:.2f} s/s", flush=True)
        for name, runs in passes.items():
            results[name] = max(runs, key=lambda r: r["rate"])
            results[f"{name}_passes"] = [r["rate"] for r in runs]
        results["breakdown"] = measure_breakdown(trainer, batches, args.warmup)
        results["load_end"] = load_average()
        results["world_size"] = trainer.dist.world_size
        trainer.dist.barrier()
        trainer.dist.close()
    finally:
        shutil.rmtree(shared if os.environ.get("RANK", "0") == "0" else folder, ignore_errors=True)
    say(report(args, config, results))
    if args.json and trainer.dist.is_main:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
