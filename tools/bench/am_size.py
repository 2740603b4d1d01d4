"""Relative training cost of acoustic-model sizes: one forward + CTC loss + backward pass of the
same batch for each size, interleaved over --repeat rounds in one process (the best time of
each is kept, so that load from other jobs shows up as little as possible), as a ratio to the
first size. Used to size conf/am/synth_cpu.yaml against conf/am/synth_small.yaml's known speed.

    python tools/bench/am_size.py --sizes 3x192,3x256,4x256,3x320,4x320 --threads 1

Prints a markdown table: parameters, float32 size, seconds per batch, ratio, and seconds of
audio per second of compute (the batch is --batch utterances of --seconds each, random
log-mel features, 10 characters per second of targets).
"""

from __future__ import annotations

import argparse
import time

import torch

from asr.model.acoustic import AcousticModel, AcousticModelConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3x192,3x256,4x256,3x320,4x320", help="LAYERSxHIDDEN,...")
    parser.add_argument("--batch", type=int, default=8, help="utterances per batch")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per utterance")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sizes = [tuple(int(x) for x in size.split("x")) for size in args.sizes.split(",")]
    models = {s: AcousticModel(AcousticModelConfig(num_layers=s[0], hidden_size=s[1])) for s in sizes}
    frames, chars = int(args.seconds * 100), int(args.seconds * 10)
    feats = torch.randn(args.batch, frames, 80)
    lengths = torch.full((args.batch,), frames)
    targets = torch.randint(1, 29, (args.batch, chars))
    target_lengths = torch.full((args.batch,), chars)
    best = dict.fromkeys(sizes, float("inf"))
    for _ in range(args.repeat):
        for size, model in models.items():
            start = time.perf_counter()
            log_probs, out_lengths = model(feats, lengths)
            loss = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths,
                                                zero_infinity=True)
            loss.backward()
            model.zero_grad()
            best[size] = min(best[size], time.perf_counter() - start)
    audio = args.batch * args.seconds
    print(f"| model | parameters | float32 MB | s per {audio:g} s batch | ratio | s of audio per s |")
    print("|---|---|---|---|---|---|")
    for size, model in models.items():
        params = sum(p.numel() for p in model.parameters())
        print(f"| {size[0]} x {size[1]} | {params / 1e6:.2f} M | {params * 4 / 1e6:.1f} | {best[size]:.2f} | "
              f"{best[size] / best[sizes[0]]:.2f} | {audio / best[size]:.0f} |")


if __name__ == "__main__":
    main()
