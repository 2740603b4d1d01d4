"""Benchmark asr's CTC prefix beam search against pyctcdecode and flashlight-text, and with LM fusion.

    python tools/bench/beam_search.py                       # the full run (about 30 minutes on 2 busy cores)
    python tools/bench/beam_search.py --write BENCHMARKS.md # ... and put its table into BENCHMARKS.md
    python tools/bench/beam_search.py --lm exp/lm/lm.pt     # fuse a trained LM instead of random ones
    python tools/bench/beam_search.py --passes 1 --beams 10 --no-pyctcdecode --large-lm-hidden 0  # a quick look

Every decoder sees exactly the same numbers: the emissions (log-probabilities [N, T, 29] with
LibriSpeech-like lengths, drawn from a fixed seed) are written once to a .npz file in a temporary
directory and each decoder reads them back from it.

Decoders, without LM, each on one CPU thread, at every --beams width:
  * ours: asr.decode.beam.ctc_prefix_beam_search, called as its callers call it, for each
    --batch-seconds: 0 = one utterance per call (`asr transcribe one.wav`, every streaming chunk),
    else length-sorted batches of at most that much padded audio (`asr decode`: 600 s);
  * pyctcdecode (pure Python), in its own virtual environment because it needs numpy<2 (created
    under --venv-dir on first use), run in a subprocess with OMP_NUM_THREADS=1; once with its
    default pruning (token_min_logp=-5, beam_prune_logp=-10) over every utterance, once without
    pruning (the same search as ours) over the first --unpruned-utterances, compared with ours
    over those same utterances;
  * flashlight-text's LexiconFreeDecoder (C++) with a ZeroLM, one utterance at a time.
Then ours with LMs fused at --lm-beam for each --batch-seconds: a bigram-table LM that measures
the search's own fusion overhead, and LSTM LMs of the default shapes (random weights unless --lm
is given: the speed of an LSTM does not depend on its weights). CPU time spent inside the LM's
methods is measured separately.

Every configuration is timed --passes times and reported as the median (single passes vary by
±30% on a shared machine), with the spread. Prints a markdown section for BENCHMARKS.md: CPU
seconds and real-time factor (seconds / audio seconds, one output frame = 30 ms). Only ratios
within one run are meaningful on a shared machine: the load average at the start and the end is
printed with them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from markdown_block import write_block

from asr.decode.beam import (
    SINGLE_UP_TO,
    SINGLE_UP_TO_WITH_LM,
    BeamSearchOptions,
    ctc_prefix_beam_search,
)
from asr.decode.lstm_scorer import lstm_step_scorer
from asr.decode.options import DEFAULT_TOKEN_MIN_LOGPROB, DEFAULT_TOKEN_TOP_K
from asr.model.lm import LanguageModelConfig, LstmLM
from asr.results import cpu_model
from asr.text import CharTokenizer

FRAME_SECONDS = 0.03  # the acoustic model's output rate (3 stacked 10 ms frames)
LABELS = ["", *CharTokenizer.DEFAULT_SYMBOLS]  # id 0: blank; 1: space; 2: apostrophe; 3..28: A-Z
SPACE = 1
WORKER = Path(__file__).with_name("pyctcdecode_worker.py")
OUR_VARIANTS = {  # key: (decoder column, token_min_logprob, token_top_k)
    "pruned": ((f"asr ctc_prefix_beam_search, default pruning (token logp ≥ {DEFAULT_TOKEN_MIN_LOGPROB:g}, "
                f"at most {DEFAULT_TOKEN_TOP_K} per frame)"), DEFAULT_TOKEN_MIN_LOGPROB, DEFAULT_TOKEN_TOP_K),
    "full": ("asr ctc_prefix_beam_search, every token expanded", None, None),
}
PYCTCDECODE_REQUIREMENTS = ["numpy<2", "pyctcdecode==0.5.0"]
SECTION = "## CTC prefix beam search"

# Relative frequencies (%) of the symbols in English text, space included: the token a "speech"
# frame is confident about is drawn from these.
SYMBOL_FREQUENCY = {
    " ": 18.0, "'": 0.3, "A": 6.5, "B": 1.2, "C": 2.2, "D": 3.5, "E": 10.2, "F": 1.8, "G": 1.6, "H": 5.0,
    "I": 5.7, "J": 0.1, "K": 0.6, "L": 3.3, "M": 2.0, "N": 5.7, "O": 6.2, "P": 1.5, "Q": 0.1, "R": 4.9,
    "S": 5.3, "T": 7.5, "U": 2.3, "V": 0.8, "W": 1.9, "X": 0.15, "Y": 1.6, "Z": 0.07,
}


# --------------------------------------------------------------------------------- emissions
def librispeech_lengths(utterances: int, rng: np.random.Generator) -> np.ndarray:
    """Output frames per utterance: durations 2 + 22 * Beta(4, 4.2) seconds (2-24 s, mean 12.7 s,
    sd 3.6 s, about LibriSpeech's training segments), 30 ms per frame."""
    seconds = 2.0 + 22.0 * rng.beta(4.0, 4.2, utterances)
    return np.maximum(np.round(seconds / FRAME_SECONDS), 1).astype(np.int64)


def make_emissions(kind: str, utterances: int, seed: int, vocab: int = len(LABELS)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(log_probs [N, T, V] float32, zero past each length; lengths [N] int64), from `seed`.

    "librispeech": like a trained character CTC model: 58% of frames are confidently blank
        (margin 6-12 nats over the background), 42% (about 14 characters a second) favour a
        symbol drawn with English letter frequencies by a margin of 3-10 nats; in 10% of frames
        a random runner-up comes within 0-1.5 nats of the best (near ties); background logits
        N(0, 1).
    "peaked": the older synthetic kind: 35% of frames a uniform random token with +6 logits.
    "random": a fresh softmax of N(0, 2^2) logits every frame (hard: many near ties).
    """
    rng = np.random.default_rng(seed)
    lengths = librispeech_lengths(utterances, rng)
    frames = int(lengths.max())
    shape = (utterances, frames)
    if kind == "random":
        logits = rng.normal(0.0, 2.0, (*shape, vocab))
    elif kind == "peaked":
        logits = rng.normal(0.0, 1.0, (*shape, vocab))
        best = np.where(rng.random(shape) < 0.35, rng.integers(1, vocab, shape), 0)
        np.put_along_axis(logits, best[..., None], np.take_along_axis(logits, best[..., None], 2) + 6.0, 2)
    elif kind == "librispeech":
        if vocab != len(LABELS):
            raise ValueError(f"librispeech emissions need the {len(LABELS)} character tokens")
        frequency = np.array([SYMBOL_FREQUENCY[s] for s in LABELS[1:]])
        logits = rng.normal(0.0, 1.0, (*shape, vocab))
        is_symbol = rng.random(shape) < 0.42
        best = np.where(is_symbol, rng.choice(np.arange(1, vocab), size=shape, p=frequency / frequency.sum()), 0)
        margin = np.where(is_symbol, rng.uniform(3.0, 10.0, shape), rng.uniform(6.0, 12.0, shape))
        top = np.take_along_axis(logits, best[..., None], 2)[..., 0] + margin
        np.put_along_axis(logits, best[..., None], top[..., None], 2)
        runner_up = rng.integers(0, vocab, shape)
        runner_up = np.where(runner_up == best, (runner_up + 1) % vocab, runner_up)
        near_tie = rng.random(shape) < 0.10
        current = np.take_along_axis(logits, runner_up[..., None], 2)[..., 0]
        tied = np.where(near_tie, top - rng.uniform(0.0, 1.5, shape), current)
        np.put_along_axis(logits, runner_up[..., None], tied[..., None], 2)
    else:
        raise ValueError(f"unknown emissions kind {kind!r}")
    log_probs = torch.from_numpy(logits.astype(np.float32)).log_softmax(-1).numpy()
    log_probs[np.arange(frames)[None, :] >= lengths[:, None]] = 0.0
    return log_probs, lengths


def save_emissions(path: Path, log_probs: np.ndarray, lengths: np.ndarray) -> None:
    np.savez(path, log_probs=log_probs, lengths=lengths)


def load_emissions(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.load(path, allow_pickle=False)
    return torch.from_numpy(data["log_probs"]), torch.from_numpy(data["lengths"])


def text_of(tokens: Sequence[int]) -> str:
    """Token ids -> text with runs of spaces collapsed and none at the ends (pyctcdecode's form)."""
    return " ".join("".join(LABELS[t] for t in tokens).split())


# --------------------------------------------------------------------------------- timing
@dataclass
class Timing:
    """Medians over passes (CPU seconds of this process, and wall seconds), with the spread."""

    cpu: list[float]
    wall: list[float]

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    def spread(self) -> str:
        """The passes' CPU seconds as min-max, in % of the median."""
        median = self.cpu_median
        if len(self.cpu) < 2 or median <= 0:
            return ""
        return f"{100 * (min(self.cpu) / median - 1):+.0f}/{100 * (max(self.cpu) / median - 1):+.0f}%"


def passes(run_once: Callable[[], Any], count: int) -> tuple[Timing, Any]:
    """Run `run_once` `count` times; its timing per pass and the first pass's result."""
    timing, first = Timing([], []), None
    for index in range(count):
        start, cpu_start = time.perf_counter(), time.process_time()
        result = run_once()
        timing.wall.append(time.perf_counter() - start)
        timing.cpu.append(time.process_time() - cpu_start)
        first = result if index == 0 else first
    return timing, first


@dataclass
class Row:
    decoder: str
    beam: int
    batch: str  # how utterances are grouped per call
    utterances: int
    audio_seconds: float
    timing: Timing
    threads: int = 1
    agreement: str = ""  # top hypothesis equal to ours (same utterances, same beam and pruning)
    breakdown: dict[str, float] = field(default_factory=dict)  # CPU seconds inside the LM's methods (all passes)

    @property
    def cost(self) -> float:
        """Median CPU seconds per audio second: what "× faster" compares (other jobs on a shared
        machine disturb CPU time less than wall time)."""
        return self.timing.cpu_median / self.audio_seconds


def audio_seconds(lengths: torch.Tensor | np.ndarray) -> float:
    return float(lengths.sum()) * FRAME_SECONDS


# --------------------------------------------------------------------------------- our search
def length_batches(lengths: torch.Tensor, batch_seconds: float) -> list[torch.Tensor]:
    """Utterance indices sorted by length (longest first) and cut into batches of at most
    `batch_seconds` of padded audio, like `asr decode --batch-frames` (60000 x 10 ms = 600 s);
    batch_seconds 0: one utterance per batch, in the original order."""
    if batch_seconds <= 0:
        return [torch.tensor([index]) for index in range(len(lengths))]
    order = lengths.argsort(descending=True, stable=True)
    batches, current, longest = [], [], 0
    for index in order.tolist():
        longest = max(longest, int(lengths[index])) if current else int(lengths[index])
        if current and longest * FRAME_SECONDS * (len(current) + 1) > batch_seconds:
            batches.append(torch.tensor(current))
            current, longest = [], int(lengths[index])
        current.append(index)
    if current:
        batches.append(torch.tensor(current))
    return batches


def batch_label(lengths: torch.Tensor, batch_seconds: float) -> str:
    if batch_seconds <= 0:
        return "1 utterance per call"
    batches = length_batches(lengths, batch_seconds)
    return f"≤ {batch_seconds:g} s ({len(lengths) / len(batches):.0f} utt./call)"


def run_ours(log_probs: torch.Tensor, lengths: torch.Tensor, options: BeamSearchOptions, batch_seconds: float,
             lm: Any = None, device: str = "cpu") -> list[list[int]]:
    """Decode every utterance in batches as `length_batches` cuts them (data already on
    `device`, results back on the host); the top hypothesis of each, in the original order."""
    batches = [(index, log_probs[index, : int(lengths[index].max())].to(device), lengths[index].to(device))
               for index in length_batches(lengths, batch_seconds)]
    best: list[list[int]] = [[] for _ in range(len(lengths))]
    for index, batch, batch_lengths in batches:
        for utterance, hypotheses in zip(index.tolist(), ctc_prefix_beam_search(batch, batch_lengths, options, lm=lm)):
            best[utterance] = hypotheses[0].tokens if hypotheses else []
    _synchronize(device)
    return best


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


class TimedLM:
    """Wraps a LanguageModelScorer and adds up the CPU time spent in each of its methods."""

    def __init__(self, lm: Any):
        self.lm = lm
        self.seconds: dict[str, float] = {}

    def _timed(self, name: str, call: Callable[[], Any]) -> Any:
        start = time.process_time()
        result = call()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.process_time() - start
        return result

    def initial_state(self, batch_size: int) -> Any:
        return self._timed("initial_state", lambda: self.lm.initial_state(batch_size))

    def score(self, state: Any, last_tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self._timed("score", lambda: self.lm.score(state, last_tokens))

    def select(self, state: Any, indices: torch.Tensor) -> Any:
        return self._timed("select", lambda: self.lm.select(state, indices))

    def concat(self, states: Sequence[Any]) -> Any:
        return self._timed("concat", lambda: self.lm.concat(states))

    def final_score(self, state: Any) -> torch.Tensor:
        return self._timed("final_score", lambda: self.lm.final_score(state))


class BigramTableLM:
    """A random bigram table behind the LanguageModelScorer protocol: no network at all, so its
    row measures the search's own fusion overhead (an LSTM LM adds its forward passes on top)."""

    def __init__(self, vocab: int, seed: int = 0, device: str = "cpu"):
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.randn(vocab + 1, vocab, generator=generator).log_softmax(-1).to(device)  # row 0: BOS
        self.device = device

    def initial_state(self, batch_size: int) -> torch.Tensor:
        return torch.full((batch_size,), -1, device=self.device)

    def score(self, state: torch.Tensor, last_tokens: torch.Tensor):
        return self.table[last_tokens + 1], last_tokens

    def select(self, state: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return state[indices]

    def concat(self, states) -> torch.Tensor:
        return torch.cat(list(states))

    def final_score(self, state: torch.Tensor) -> torch.Tensor:
        return torch.zeros(state.shape, dtype=self.table.dtype, device=self.device)


def language_models(args: argparse.Namespace) -> list[tuple[str, str, LstmLM, int]]:
    """(name, description, model, utterances to decode) for each LM to fuse."""
    if args.lm:
        from asr.package import LmPackage

        package = LmPackage.load(args.lm)
        if package.tokenizer.vocab_size != len(LABELS):
            raise SystemExit(f"{args.lm}: the LM has {package.tokenizer.vocab_size} tokens, the benchmark 29")
        model = package.build_model().eval()
        c = model.config
        return [(Path(args.lm).name, f"{args.lm}: embed {c.embed_dim}, hidden {c.hidden_size}, {c.num_layers} layers",
                 model, args.lm_utterances or args.utterances)]
    models = []
    for hidden, embed, count, origin in ((256, 64, args.lm_utterances or args.utterances, "conf/lm/char_small.yaml"),
                                         (args.large_lm_hidden, 256, args.large_lm_utterances,
                                          "LanguageModelConfig()" if args.large_lm_hidden == 1024 else "larger")):
        if hidden <= 0 or count <= 0:
            continue
        torch.manual_seed(args.seed)
        model = LstmLM(LanguageModelConfig(vocab_size=len(LABELS), embed_dim=embed, hidden_size=hidden,
                                           num_layers=2, dropout=0.0)).eval()
        models.append((f"LSTM {embed}/{hidden}x2", (f"LSTM {embed}/{hidden}x2: embed {embed}, hidden {hidden}, "
                       f"2 layers, the shape of {origin}, random weights"), model, min(count, args.utterances)))
    return models


def parameter_count(model: torch.nn.Module) -> str:
    return f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M"


# --------------------------------------------------------------------------------- peers
def run_flashlight(log_probs: torch.Tensor, lengths: torch.Tensor, beam: int,
                   count: int) -> tuple[Timing, list[list[int]]] | str:
    """flashlight-text's LexiconFreeDecoder with a ZeroLM (as tests/test_beam.py), one utterance at
    a time, `count` passes; or the reason it cannot run."""
    try:
        from flashlight.lib.text import decoder as fl
    except ImportError as err:
        return f"flashlight-text not importable ({err}); pip install flashlight-text"
    vocab = log_probs.shape[2]
    options = fl.LexiconFreeDecoderOptions(beam_size=beam, beam_size_token=vocab, beam_threshold=1000.0,
                                           lm_weight=0.0, sil_score=0.0, log_add=True,
                                           criterion_type=fl.CriterionType.CTC)
    decoder = fl.LexiconFreeDecoder(options, fl.ZeroLM(), 0, 0, [])  # silence = blank (only gets sil_score 0)
    emissions = log_probs.float().contiguous()
    step = emissions.stride(0) * emissions.element_size()

    def decode_all() -> list[list[int]]:
        return [decoder.decode(emissions.data_ptr() + b * step, length, vocab)[0].tokens
                for b, length in enumerate(lengths.tolist())]
    timing, alignments = passes(decode_all, count)
    return timing, [[token for token, _ in itertools.groupby(frames) if token != 0] for frames in alignments]


def pyctcdecode_python(venv_dir: Path) -> Path | str:
    """The interpreter of a virtual environment with pyctcdecode (created once), or why not."""
    venv = venv_dir / "pyctcdecode"
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import pyctcdecode, numpy; assert numpy.__version__ < '2'"]
    if python.exists() and subprocess.run(check, check=False, capture_output=True).returncode == 0:
        return python
    print(f"creating a virtual environment for pyctcdecode in {venv} "
          f"({' '.join(PYCTCDECODE_REQUIREMENTS)}; once, about 20 s)", file=sys.stderr)
    try:
        venv_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PYCTCDECODE_REQUIREMENTS],
                       check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or ""
        return f"could not create the pyctcdecode venv in {venv}: {err} {detail.strip()[-300:]}"
    return python


def run_pyctcdecode(python: Path, emissions: Path, beams: Sequence[int], utterances: int, prune: bool,
                    count: int) -> dict[str, Any] | str:
    """Timings (`count` passes) and texts from pyctcdecode_worker.py (one thread), or the reason it failed."""
    command = [str(python), str(WORKER), str(emissions), "--beams", *map(str, beams), "--utterances", str(utterances),
               "--passes", str(count)]
    if not prune:
        command += ["--beam-prune-logp", "-1000", "--token-min-logp", "-1000"]
    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run(command, check=False, capture_output=True, text=True, env={**os.environ, **one_thread})
    if done.returncode != 0:
        return f"pyctcdecode worker failed ({done.returncode}): {done.stderr.strip()[-300:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------- report
def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def agreement(ours: Sequence[Sequence[int]], theirs_texts: Sequence[str]) -> str:
    same = sum(text_of(o) == t for o, t in zip(ours, theirs_texts))
    return f"{same}/{len(theirs_texts)}"


def table(rows: Sequence[Row]) -> list[str]:
    lines = ["| decoder | beam | batch | utterances | audio s | CPU s | spread | wall s | CPU RTF | top-1 = ours |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        t = row.timing
        lines.append(f"| {row.decoder} | {row.beam} | {row.batch} | {row.utterances} | {row.audio_seconds:.0f} | "
                     f"{t.cpu_median:.2f} | {t.spread()} | {t.wall_median:.2f} | {row.cost:.5f} | {row.agreement} |")
    return lines


def ratio_table(peers: Sequence[tuple[Row, dict[float, Row]]], batch_seconds: Sequence[float],
                lengths: torch.Tensor) -> list[str]:
    """How many times faster ours is than each peer (CPU s per audio s, same utterances, same
    beam and pruning), for each way of batching ours."""
    header = " | ".join(f"ours {'at batch 1' if s <= 0 else f'in ≤ {s:g} s batches'}" for s in batch_seconds)
    lines = [f"| peer | beam | utterances | {header} |", "|---|---:|---:|" + "---:|" * len(batch_seconds)]
    for peer, ours in peers:
        cells = " | ".join(f"{peer.cost / ours[s].cost:.1f}×" for s in batch_seconds)
        lines.append(f"| {peer.decoder} | {peer.beam} | {peer.utterances} | {cells} |")
    return lines


def lm_table(rows: Sequence[tuple[Row, Row]]) -> list[str]:
    lines = [("| LM fused | beam | batch | threads | utterances | CPU s | spread | wall s | CPU RTF | "
              "÷ same without LM | in LM.score | in LM select/concat | rest (search) |"),
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row, no_lm in rows:
        t = row.timing
        total = sum(t.cpu)  # the breakdown adds up all passes too
        score = row.breakdown.get("score", 0.0) + row.breakdown.get("final_score", 0.0)
        states = row.breakdown.get("select", 0.0) + row.breakdown.get("concat", 0.0)
        rest = total - score - states - row.breakdown.get("initial_state", 0.0)
        lines.append(f"| {row.decoder} | {row.beam} | {row.batch} | {row.threads} | {row.utterances} | "
                     f"{t.cpu_median:.2f} | {t.spread()} | {t.wall_median:.2f} | {row.cost:.4f} | "
                     f"{row.cost / no_lm.cost:.1f} | {score / total:.0%} | {states / total:.0%} | {rest / total:.0%} |")
    return lines


# --------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--emissions", choices=["librispeech", "peaked", "random"], default="librispeech")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beams", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--batch-seconds", type=float, nargs="+", default=[0.0, 600.0, 3000.0],
                        help="padded audio per call of our search: 0 = one utterance per call (asr transcribe "
                             "one.wav, streaming), 600 = asr decode's --batch-frames default")
    parser.add_argument("--passes", type=int, default=3, help="timed passes per row; the median is reported")
    parser.add_argument("--unpruned-utterances", type=int, default=25,
                        help="utterances for pyctcdecode without pruning (slow); 0: skip")
    parser.add_argument("--venv-dir", type=Path, default=Path("/tmp/asr-bench-venvs"),
                        help="where pyctcdecode's virtual environment is created and kept")
    parser.add_argument("--no-pyctcdecode", action="store_true")
    parser.add_argument("--lm", help="an LM package (asr train-lm output) to fuse instead of random LSTMs")
    parser.add_argument("--lm-beam", type=int, default=10)
    parser.add_argument("--lm-threads", type=int, nargs="+", default=[1])
    parser.add_argument("--lm-weight", type=float, default=0.5)
    parser.add_argument("--word-bonus", type=float, default=1.0)
    parser.add_argument("--lm-utterances", type=int, default=0, help="utterances for the small LM (0: all)")
    parser.add_argument("--large-lm-hidden", type=int, default=1024, help="0: only the char_small-sized LM")
    parser.add_argument("--large-lm-utterances", type=int, default=25)
    parser.add_argument("--no-crossover", action="store_true", help="skip the small-batch table (single vs batched)")
    parser.add_argument("--device", default="auto", help="auto: also time ours on cuda when available")
    parser.add_argument("--write", type=Path, help="put the section into this markdown file (BENCHMARKS.md)")
    args = parser.parse_args()
    if args.large_lm_hidden == 0:
        args.large_lm_utterances = 0

    started, load_start = datetime.now(), load_average()
    torch.set_num_threads(1)
    workdir = Path(tempfile.mkdtemp(prefix="asr-bench-beam-"))
    try:
        run(args, workdir / "emissions.npz", started, load_start)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, emissions_path: Path, started: datetime, load_start: str) -> None:
    save_emissions(emissions_path, *make_emissions(args.emissions, args.utterances, args.seed))
    log_probs, lengths = load_emissions(emissions_path)
    total_audio = audio_seconds(lengths)
    for batch_seconds in (0.0, 600.0):  # warm-up of both implementations
        run_ours(log_probs[:20, :50], lengths[:20].clamp(max=50), BeamSearchOptions(beam_size=4), batch_seconds)
    problems: list[str] = []

    # Ours, memoized: (variant, beam, utterances, batch seconds) -> (row, top hypotheses).
    measured: dict[tuple[str, int, int, float], tuple[Row, list[list[int]]]] = {}

    def ours(variant: str, beam: int, count: int, batch_seconds: float) -> tuple[Row, list[list[int]]]:
        key = (variant, beam, count, batch_seconds)
        if key not in measured:
            name, min_logprob, top_k = OUR_VARIANTS[variant]
            options = BeamSearchOptions(beam_size=beam, token_min_logprob=min_logprob, token_top_k=top_k)
            subset_probs, subset_lengths = log_probs[:count], lengths[:count]
            log(f"ours ({variant}), beam {beam}, {count} utterances, {batch_label(subset_lengths, batch_seconds)}")
            timing, best = passes(partial(run_ours, subset_probs, subset_lengths, options, batch_seconds), args.passes)
            measured[key] = (Row(name, beam, batch_label(subset_lengths, batch_seconds), count,
                                 audio_seconds(subset_lengths), timing), best)
        return measured[key]

    rows: list[Row] = []
    for variant in OUR_VARIANTS:
        for beam in args.beams:
            for batch_seconds in args.batch_seconds:
                rows.append(ours(variant, beam, args.utterances, batch_seconds)[0])

    peers: list[tuple[Row, dict[float, Row]]] = []  # each peer row with ours on the same utterances, per batching

    def add_peer(row: Row, variant: str, texts: Sequence[str]) -> None:
        same = {s: ours(variant, row.beam, row.utterances, s)[0] for s in args.batch_seconds}
        row.agreement = agreement(ours(variant, row.beam, row.utterances, args.batch_seconds[0])[1], texts)
        rows.append(row)
        peers.append((row, same))

    for beam in args.beams:
        log(f"flashlight-text, beam {beam}")
        result = run_flashlight(log_probs, lengths, beam, args.passes)
        if isinstance(result, str):
            problems.append(result)
            break
        timing, best = result
        add_peer(Row("flashlight-text LexiconFreeDecoder (C++, ZeroLM, no pruning)", beam, "1 utterance per call",
                     args.utterances, total_audio, timing), "full", [text_of(b) for b in best])

    pyctcdecode_version = ""
    if not args.no_pyctcdecode:
        python = pyctcdecode_python(args.venv_dir)
        if isinstance(python, str):
            problems.append(python)
        else:
            configurations = [(True, args.utterances, "pruned",
                               "pyctcdecode, default pruning (token logp ≥ -5, beam -10)")]
            if args.unpruned_utterances:
                configurations.append((False, min(args.unpruned_utterances, args.utterances), "full",
                                       "pyctcdecode, no pruning"))
            for prune, count, variant, name in configurations:
                log(f"{name}, beams {args.beams}, {count} utterances")
                result = run_pyctcdecode(python, emissions_path, args.beams, count, prune, args.passes)
                if isinstance(result, str):
                    problems.append(result)
                    continue
                pyctcdecode_version = f"pyctcdecode {result['pyctcdecode']} (numpy {result['numpy']})"
                for run_ in result["runs"]:
                    add_peer(Row(name, run_["beam"], "1 utterance per call", count, audio_seconds(lengths[:count]),
                                 Timing(run_["cpu_seconds"], run_["seconds"])), variant, run_["texts"])
    # Ours on the peers' subsets (the unpruned pyctcdecode row) after the full set, in the table.
    rows = [r for r in rows if r.utterances == args.utterances] + \
        [r for (key, (r, _)) in measured.items() if key[2] != args.utterances]

    devices = ["cuda"] if args.device == "auto" and torch.cuda.is_available() else []
    if args.device not in ("auto", "cpu"):
        devices = [args.device]
    gpu_rows: list[Row] = []
    for device in devices:
        for beam in args.beams:
            log(f"ours on {device}, beam {beam}")
            options = BeamSearchOptions(beam_size=beam, token_min_logprob=DEFAULT_TOKEN_MIN_LOGPROB,
                                        token_top_k=DEFAULT_TOKEN_TOP_K)
            run_ours(log_probs[:4], lengths[:4], options, 600.0, device=device)
            timing, best = passes(partial(run_ours, log_probs, lengths, options, 600.0, device=device), args.passes)
            same = sum(a == b for a, b in zip(best, ours("pruned", beam, args.utterances, args.batch_seconds[0])[1]))
            gpu_rows.append(Row(f"asr ctc_prefix_beam_search (default pruning) on "
                                f"{torch.cuda.get_device_name(device)}", beam, batch_label(lengths, 600.0),
                                args.utterances, total_audio, timing, agreement=f"{same}/{args.utterances}"))

    # LM shallow fusion; an LstmLM goes in as the search takes it (asr.decode.lstm_scorer).
    fused_options = BeamSearchOptions(beam_size=args.lm_beam, lm_weight=args.lm_weight, length_bonus=args.word_bonus,
                                      bonus_unit="word", word_delimiter=SPACE,
                                      token_min_logprob=DEFAULT_TOKEN_MIN_LOGPROB, token_top_k=DEFAULT_TOKEN_TOP_K)
    lm_rows: list[tuple[Row, Row]] = []
    lm_descriptions = []
    models = [("bigram table (no network: the search's fusion overhead)", None, args.utterances)]
    for name, description, model, count in language_models(args):
        lm_descriptions.append(f"{description}: {parameter_count(model)} parameters")
        models.append((name, model, count))
    for name, model, count in models:
        subset_probs, subset_lengths = log_probs[:count], lengths[:count]
        seen: dict[str, float] = {}  # batch compositions already timed for this LM
        for batch_seconds in args.batch_seconds:
            label = batch_label(subset_lengths, batch_seconds)
            composition = repr([b.tolist() for b in length_batches(subset_lengths, batch_seconds)])
            if composition in seen:  # e.g. 25 utterances: the same single batch at 600 s and 3000 s
                log(f"{name}: batches of {batch_seconds:g} s are those of {seen[composition]:g} s, not timed again")
                continue
            seen[composition] = batch_seconds
            for threads in ([1] if model is None else args.lm_threads):
                torch.set_num_threads(threads)
                log(f"{name}, beam {args.lm_beam}, {threads} thread(s), {count} utterances, {label}")
                scorer = TimedLM(BigramTableLM(len(LABELS), args.seed) if model is None else lstm_step_scorer(model))
                timing, _ = passes(partial(run_ours, subset_probs, subset_lengths, fused_options, batch_seconds,
                                           lm=scorer), args.passes)
                no_lm = ours("pruned", args.lm_beam, count, batch_seconds)[0]
                lm_rows.append((Row(name, args.lm_beam, label, count, audio_seconds(subset_lengths), timing,
                                    threads=threads, breakdown=scorer.seconds), no_lm))
            torch.set_num_threads(1)
        for device in devices if model is not None else []:
            log(f"{name} on {device}")
            model_on_device = model.to(device)
            run_ours(log_probs[:4], lengths[:4], fused_options, 600.0, lm=model_on_device, device=device)
            timing, _ = passes(partial(run_ours, subset_probs, subset_lengths, fused_options, 600.0,
                                       lm=model_on_device, device=device), args.passes)
            gpu_rows.append(Row(f"... + {name} fused, on {device}", args.lm_beam, batch_label(subset_lengths, 600.0),
                                count, audio_seconds(subset_lengths), timing))
            model.to("cpu")

    # Report.
    command = "python tools/bench/beam_search.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    batchings = ", ".join(batch_label(lengths, s) for s in args.batch_seconds)
    out = [f"Run {started:%Y-%m-%d %H:%M}: `{command.strip()}`", "",
           (f"Machine: {cpu_model()}, {os.cpu_count()} cores (shared with other jobs), torch {torch.__version__}, "
           f"numpy {np.__version__}, Python {platform.python_version()}, "
           f"{pyctcdecode_version or 'pyctcdecode not run'}, flashlight-text {_version('flashlight-text')}. "
           f"Load average (1/5/15 min) at the start {load_start}, at the end {load_average()}."), "",
           (f"Emissions: {args.emissions}, seed {args.seed}: {args.utterances} utterances, "
           f"{float(lengths.float().mean()) * FRAME_SECONDS:.1f} s mean ({int(lengths.min()) * FRAME_SECONDS:.1f}-"
           f"{int(lengths.max()) * FRAME_SECONDS:.1f} s), {total_audio / 60:.1f} min of audio, 29 tokens, "
           f"30 ms frames; saved once to .npz and read back by every decoder. Ours is timed as callers batch it: "
           f"{batchings} (length-sorted batches of at most that much padded audio; `asr decode` defaults to 600 s), "
           f"float32, once with the decoder's default pruning (tokens with log-prob below "
           f"{DEFAULT_TOKEN_MIN_LOGPROB:g} are not expanded, as pyctcdecode's default, and at most the "
           f"{DEFAULT_TOKEN_TOP_K} best per frame) and once expanding every token. flashlight-text and pyctcdecode "
           f"decode one utterance per call. Every row is the median of {args.passes} passes: CPU s = CPU time of "
           f"the decoding process (one thread), spread = the fastest and slowest pass against the median, "
           f"CPU RTF = CPU s / audio s. \"top-1 = ours\": identical best text (spaces normalized) at the same beam "
           f"and pruning."), "",
           f"Without LM, 1 CPU thread; ours {batchings}, the peers one utterance per call:", "", *table(rows), "",
           ("How many times faster ours is (CPU s per audio s; each peer against ours on the same utterances with "
            "the same pruning: flashlight-text and unpruned pyctcdecode against ours expanding every token):"), "",
           *ratio_table(peers, args.batch_seconds, lengths), ""]
    if gpu_rows:
        out += ["On GPU:", "", *table(gpu_rows), ""]
    else:
        out += ["GPU: none on this machine, not measured (`--device cuda` times the same batches on a GPU).", ""]
    out += [(f"With LM shallow fusion (lm_weight {args.lm_weight:g}, word bonus {args.word_bonus:g} per word, beam "
            f"{args.lm_beam}, default pruning); \"÷ same without LM\" compares with ours without LM on the same "
            "utterances and batches; columns \"in LM...\" are shares of the CPU time spent inside the LM's methods "
            "(LSTM step + output softmax; gathering/joining states), the rest is the search:"), "",
            *lm_table(lm_rows), "", *[f"- {d}" for d in lm_descriptions], ""]
    if not args.no_crossover:
        out += crossover(log_probs, lengths, fused_options, args)
    out += targets(rows, peers, lm_rows, args)
    if problems:
        out += ["", "Problems: " + "; ".join(problems)]
    body = "\n".join(out)
    print(f"{SECTION}\n\n{body}")
    if args.write:
        write_block(args.write, SECTION, "tools/bench/beam_search.py", body)
        log(f"wrote the section into {args.write}")


def crossover(log_probs: torch.Tensor, lengths: torch.Tensor, fused_options: BeamSearchOptions,
              args: argparse.Namespace) -> list[str]:
    """Small batches: the numpy search utterance by utterance against the batched torch search,
    the measurement behind SINGLE_UP_TO and SINGLE_UP_TO_WITH_LM in asr/decode/beam.py."""
    order = lengths.argsort(descending=True, stable=True)
    options = BeamSearchOptions(beam_size=10, token_min_logprob=DEFAULT_TOKEN_MIN_LOGPROB,
                                token_top_k=DEFAULT_TOKEN_TOP_K)
    torch.manual_seed(args.seed)
    lm = lstm_step_scorer(LstmLM(LanguageModelConfig(vocab_size=len(LABELS), embed_dim=64, hidden_size=256,
                                                     num_layers=2, dropout=0.0)).eval())
    lines = [("Small batches: CPU seconds of `implementation=\"single\"` (numpy, one utterance after the other) "
              "and `\"batched\"` (torch, all at once) on the same batches of equal-length-sorted utterances, beam "
              "10, default pruning; what `asr/decode/beam.py` takes for `\"auto\"` (SINGLE_UP_TO, "
              "SINGLE_UP_TO_WITH_LM):"), "",
             "| LM | batch size | utterances | single CPU s | batched CPU s | batched ÷ single | auto takes |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, model, search_options, count in (("none", None, options, 64), ("LSTM 64/256x2", lm, fused_options, 16)):
        for size in (2, 4, 8, 16, 32):
            batches = [order[start:start + size] for start in range(0, min(count, len(order)), size)]
            batches = [(log_probs[b, : int(lengths[b].max())], lengths[b]) for b in batches]
            timings = {}
            for implementation in ("single", "batched"):
                log(f"small batches: {size} utterances, LM {name}, {implementation}")

                def decode_all(implementation=implementation, batches=batches, search_options=search_options,
                               model=model) -> None:
                    for frames, frame_lengths in batches:
                        ctc_prefix_beam_search(frames, frame_lengths, search_options, lm=model,
                                               implementation=implementation)
                timings[implementation], _ = passes(decode_all, args.passes)
            single, batched = timings["single"].cpu_median, timings["batched"].cpu_median
            limit = SINGLE_UP_TO if model is None else SINGLE_UP_TO_WITH_LM
            lines.append(f"| {name} | {size} | {sum(len(b[1]) for b in batches)} | {single:.2f} | {batched:.2f} | "
                         f"{batched / single:.2f} | {'single' if size <= limit else 'batched'} |")
    return [*lines, ""]


def targets(rows: Sequence[Row], peers: Sequence[tuple[Row, dict[float, Row]]],
            lm_rows: Sequence[tuple[Row, Row]], args: argparse.Namespace) -> list[str]:
    """The issues' targets, checked against this run (CPU seconds per audio second, ours against
    the peer on the same utterances with the same pruning)."""
    lines = ["Targets:"]
    beam = 10 if 10 in args.beams else args.beams[0]
    single = 0.0 if 0.0 in args.batch_seconds else None
    default = 600.0 if 600.0 in args.batch_seconds else None
    checks = [("flashlight-text", 1.0, single, "issue 15: one utterance per call"),
              ("pyctcdecode, default pruning", 10.0, default, "issue 4: 600 s batches"),
              ("pyctcdecode, no pruning", 10.0, default, "issue 4: 600 s batches"),
              ("flashlight-text", 1.0, default, "issue 4: 600 s batches")]
    for name, needed, batching, issue in checks:
        found = next(((peer, ours) for peer, ours in peers if peer.decoder.startswith(name) and peer.beam == beam),
                     None)
        if found is None or batching is None:
            continue
        peer, ours = found
        ratio = peer.cost / ours[batching].cost
        lines.append(f"- {issue}, ≥ {needed:g}× {name}'s speed per core at beam {beam}: {ratio:.1f}× — "
                     f"{'met' if ratio >= needed else 'NOT met'}")
    for row, _ in lm_rows[1:]:
        if row.decoder.startswith("bigram"):
            continue
        lines.append(f"- issue 4: RTF ≤ 0.05 with {row.decoder} fused at beam {row.beam}, {row.threads} thread(s), "
                     f"{row.batch}: {row.timing.wall_median / row.audio_seconds:.4f} wall, {row.cost:.4f} CPU — "
                     f"{'met' if row.timing.wall_median / row.audio_seconds <= 0.05 else 'NOT met'}")
    return lines


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
