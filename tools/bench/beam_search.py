"""Time asr.decode.beam.ctc_prefix_beam_search against a plain-Python prefix beam search and,
when importable, flashlight-text's LexiconFreeDecoder, on the same random emissions.

    python tools/bench/beam_search.py                      # 100 x 300 x 29, beam 10
    python tools/bench/beam_search.py --threads 1 --emissions peaked

Prints a markdown table (utterances per second and real-time factor, assuming 30 ms frames)
headed by the machine, for BENCHMARKS.md. The Python reference is slow, so it decodes only
the first --reference-utterances utterances; its rate is per utterance all the same.
"""

from __future__ import annotations

import argparse
import itertools
import math
import platform
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import torch

from asr.decode.beam import BeamSearchOptions, ctc_prefix_beam_search

FRAME_SECONDS = 0.03  # stack 3 x 10 ms hop: the acoustic model's output rate
NEG_INF = float("-inf")


def make_emissions(kind: str, utterances: int, frames: int, vocab: int, seed: int) -> torch.Tensor:
    """Log-probs [N, T, V]. "random": every frame a fresh softmax of N(0, 2^2) logits (hard:
    many near ties). "peaked": like a trained CTC model, mostly blank frames and a confident
    token now and then (about 1 frame in 3 is a token)."""
    generator = torch.Generator().manual_seed(seed)
    logits = 2.0 * torch.randn(utterances, frames, vocab, generator=generator)
    if kind == "peaked":
        tokens = torch.randint(1, vocab, (utterances, frames), generator=generator)
        is_token = torch.rand(utterances, frames, generator=generator) < 0.35
        best = torch.where(is_token, tokens, 0)
        logits = 0.5 * logits + 6.0 * torch.nn.functional.one_hot(best, vocab)
    return logits.log_softmax(-1)


def python_prefix_beam_search(log_probs: list[list[float]], beam_size: int, blank: int = 0) -> list[int]:
    """Textbook prefix beam search over dicts (no LM, no token pruning): the baseline."""
    def logadd(a: float, b: float) -> float:
        if a < b:
            a, b = b, a
        return a if b == NEG_INF else a + math.log1p(math.exp(b - a))

    beams = {(): (0.0, NEG_INF)}
    for frame in log_probs:
        following = defaultdict(lambda: [NEG_INF, NEG_INF])
        for prefix, (p_blank, p_nonblank) in beams.items():
            total = logadd(p_blank, p_nonblank)
            stay = following[prefix]
            stay[0] = logadd(stay[0], total + frame[blank])
            if prefix:
                stay[1] = logadd(stay[1], p_nonblank + frame[prefix[-1]])
            for c, logp in enumerate(frame):
                if c == blank:
                    continue
                extended = following[prefix + (c,)]
                before = p_blank if prefix and prefix[-1] == c else total
                extended[1] = logadd(extended[1], before + logp)
        best = sorted(following.items(), key=lambda item: -logadd(*item[1]))[:beam_size]
        beams = {prefix: tuple(p) for prefix, p in best}
    return list(max(beams, key=lambda prefix: logadd(*beams[prefix])))


def flashlight_decoder(vocab: int, beam_size: int, blank: int = 0):
    """A lexicon-free CTC decoder without LM, or None when flashlight-text is not installed."""
    try:
        from flashlight.lib.text import decoder as fl
    except ImportError:
        return None
    options = fl.LexiconFreeDecoderOptions(beam_size=beam_size, beam_size_token=vocab, beam_threshold=1000.0,
                                           lm_weight=0.0, sil_score=0.0, log_add=True,
                                           criterion_type=fl.CriterionType.CTC)
    return fl.LexiconFreeDecoder(options, fl.ZeroLM(), blank, blank, [])


def flashlight_decode(decoder, emissions: torch.Tensor, blank: int = 0) -> list[list[int]]:
    emissions = emissions.float().contiguous()
    _, frames, vocab = emissions.shape
    best = []
    for b in range(emissions.shape[0]):
        pointer = emissions.data_ptr() + b * emissions.stride(0) * emissions.element_size()
        alignment = decoder.decode(pointer, frames, vocab)[0].tokens
        best.append([token for token, _ in itertools.groupby(alignment) if token != blank])
    return best


class BigramTableLM:
    """A random bigram table behind the LanguageModelScorer protocol: measures the search's
    own fusion overhead (an LSTM LM adds its forward passes on top)."""

    def __init__(self, vocab: int, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.randn(vocab + 1, vocab, generator=generator).log_softmax(-1)  # row 0: BOS

    def initial_state(self, batch_size: int) -> torch.Tensor:
        return torch.full((batch_size,), -1)

    def score(self, state: torch.Tensor, last_tokens: torch.Tensor):
        return self.table[last_tokens + 1], last_tokens

    def select(self, state: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return state[indices]

    def concat(self, states) -> torch.Tensor:
        return torch.cat(list(states))

    def final_score(self, state: torch.Tensor) -> torch.Tensor:
        return torch.zeros(state.shape, dtype=self.table.dtype)


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def timed(function, repeats: int) -> tuple[float, object]:
    """Best wall time of `repeats` runs (the least disturbed by other processes) and the last result."""
    best, result = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--vocab", type=int, default=29, help="tokens including blank (29: CharTokenizer)")
    parser.add_argument("--beam", type=int, default=10)
    parser.add_argument("--emissions", choices=["random", "peaked"], default="random")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--reference-utterances", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="runs of the torch search; the best counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    emissions = make_emissions(args.emissions, args.utterances, args.frames, args.vocab, args.seed)
    lengths = torch.full((args.utterances,), args.frames)
    options = BeamSearchOptions(beam_size=args.beam)
    rows = []  # (decoder, utterances decoded, seconds)

    seconds, ours = timed(lambda: ctc_prefix_beam_search(emissions, lengths, options), args.repeats)
    ours_best = [hyps[0].tokens for hyps in ours]
    rows.append(("asr ctc_prefix_beam_search (torch, batched)", args.utterances, seconds))

    fused_options = BeamSearchOptions(beam_size=args.beam, lm_weight=0.5, length_bonus=1.0)
    lm = BigramTableLM(args.vocab)
    seconds, _ = timed(lambda: ctc_prefix_beam_search(emissions, lengths, fused_options, lm=lm), args.repeats)
    rows.append(("same + bigram-table LM fusion", args.utterances, seconds))

    subset = emissions[: args.reference_utterances]
    seconds, reference = timed(lambda: [python_prefix_beam_search(u.tolist(), args.beam) for u in subset], 1)
    rows.append(("plain-Python prefix beam search (dicts)", len(subset), seconds))
    agree_reference = sum(r == o for r, o in zip(reference, ours_best))

    decoder = flashlight_decoder(args.vocab, args.beam)
    flashlight_note = "flashlight-text: not installed"
    if decoder is not None:
        seconds, flashlight = timed(lambda: flashlight_decode(decoder, emissions), args.repeats)
        rows.append(("flashlight-text LexiconFreeDecoder (C++, ZeroLM)", args.utterances, seconds))
        agree = sum(f == o for f, o in zip(flashlight, ours_best))
        flashlight_note = f"top hypothesis equal to flashlight-text's: {agree}/{args.utterances}"

    print(f"## CTC prefix beam search, {date.today().isoformat()}\n")
    print(f"`{' '.join(['python tools/bench/beam_search.py', *_given_arguments(args)])}`")
    print(f"\nMachine: {cpu_model()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}, "
          f"Python {platform.python_version()}. Emissions: {args.emissions}, {args.utterances} x "
          f"{args.frames} frames x {args.vocab} tokens, beam {args.beam}, all tokens expanded.\n")
    print("| decoder | utterances | seconds | utterances/s | real-time factor |")
    print("|---|---:|---:|---:|---:|")
    audio_seconds_per_utterance = args.frames * FRAME_SECONDS
    for name, count, seconds in rows:
        rtf = seconds / (count * audio_seconds_per_utterance)
        print(f"| {name} | {count} | {seconds:.3f} | {count / seconds:.1f} | {rtf:.5f} |")
    print(f"\nTop hypothesis equal to the Python reference's: {agree_reference}/{len(subset)}; "
          f"{flashlight_note}.")


def _given_arguments(args: argparse.Namespace) -> list[str]:
    defaults = {"utterances": 100, "frames": 300, "vocab": 29, "beam": 10, "emissions": "random",
                "threads": None, "reference_utterances": 10, "repeats": 3, "seed": 0}
    return [f"--{name.replace('_', '-')} {value}"
            for name, value in vars(args).items() if defaults[name] != value]


if __name__ == "__main__":
    main()
