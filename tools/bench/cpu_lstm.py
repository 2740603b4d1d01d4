"""The acoustic model's LSTM stack on the CPU: padded tensors (what AcousticModel runs on the CPU)
against torch's nn.LSTM over a packed sequence (what it runs on CUDA, and ran everywhere before).

    python tools/bench/cpu_lstm.py --threads 2 --repeat 3

One batch of utterances with different lengths (--seconds: a spread like a bucketed training
batch), random log-mel features; for each way: training (forward + CTC loss + backward) and
inference (forward under no_grad). The two ways are interleaved over --repeat rounds in one
process and the best time of each is kept, so load from other jobs affects both alike. Also
checks that the two give the same log-probs. Prints a markdown table; with --chunks, a second
one: a training step in chunked mode (streaming training, chunk C + right context R output frames)
against a full-utterance one, both on the padded path; with --bf16, a third: a training step and
inference of the whole model under bfloat16 autocast (what `run.cpu_amp=true` trains with)
against float32, and the largest log-prob difference between them.
"""

from __future__ import annotations

import argparse
import time

import torch

from asr.model.acoustic import AcousticModel, AcousticModelConfig, stack_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="4x256", help="LAYERSxHIDDEN")
    parser.add_argument("--seconds", default="6.0,5.9,5.8,5.8,5.7,5.6,5.6,5.5,5.4,5.4,5.3,5.2,5.1,5.0",
                        help="utterance lengths of the batch, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--chunks", default="", help="C/R,... chunked-mode settings to time, e.g. 8/4,16/4,32/4")
    parser.add_argument("--bf16", action="store_true", help="also time bfloat16 autocast against float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    layers, hidden = (int(x) for x in args.size.split("x"))
    model = AcousticModel(AcousticModelConfig(num_layers=layers, hidden_size=hidden, dropout=0.0))
    seconds = [float(s) for s in args.seconds.split(",")]
    lengths = torch.tensor([round(s * 100) for s in seconds])
    feats = torch.randn(len(seconds), int(lengths.max()), 80)
    targets = torch.randint(1, 29, (len(seconds), round(min(seconds) * 12)))
    target_lengths = torch.full((len(seconds),), targets.shape[1])

    def log_probs(way: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, out_lengths = stack_frames(feats, lengths, model.config.stack)
        hidden_out = model._lstm_padded(x, out_lengths) if way == "padded" else model._lstm_packed(x, out_lengths)
        return model.output(hidden_out).log_softmax(-1), out_lengths

    def ctc_backward(out: torch.Tensor, out_lengths: torch.Tensor) -> None:
        torch.nn.functional.ctc_loss(out.transpose(0, 1), targets, out_lengths, target_lengths).backward()
        model.zero_grad()

    def train_step(way: str) -> None:
        ctc_backward(*log_probs(way))

    def inference(way: str) -> None:
        with torch.no_grad():
            log_probs(way)

    with torch.no_grad():
        difference = (log_probs("padded")[0] - log_probs("packed")[0]).abs().max().item()
    best = {(job, way): float("inf") for job in ("train", "infer") for way in ("packed", "padded")}
    for _ in range(args.repeat):
        for job, way in best:
            start = time.perf_counter()
            (train_step if job == "train" else inference)(way)
            best[job, way] = min(best[job, way], time.perf_counter() - start)
    audio = sum(seconds)
    print(f"{args.size} BiLSTM, {len(seconds)} utterances ({audio:.1f} s of audio), {args.threads} thread(s); "
          f"largest log-prob difference between the ways: {difference:.1e}")
    print("| job | packed nn.LSTM s | padded s | speed-up | audio s per s (padded) |")
    print("|---|---:|---:|---:|---:|")
    for job in ("train", "infer"):
        packed, padded = best[job, "packed"], best[job, "padded"]
        print(f"| {job} | {packed:.2f} | {padded:.2f} | {packed / padded:.1f}x | {audio / padded:.0f} |")
    if args.chunks:
        settings = [tuple(int(v) for v in c.split("/")) for c in args.chunks.split(",")]
        times = {setting: float("inf") for setting in [None, *settings]}
        for _ in range(args.repeat):
            for setting in times:
                kwargs = {} if setting is None else {"chunk": setting[0], "right_context": setting[1]}
                start = time.perf_counter()
                ctc_backward(*model(feats, lengths, **kwargs))
                times[setting] = min(times[setting], time.perf_counter() - start)
        print("\n| training step | s | x full utterance |")
        print("|---|---:|---:|")
        for setting, seconds in times.items():
            name = "full utterance" if setting is None else f"chunked, C={setting[0]}, R={setting[1]}"
            print(f"| {name} | {seconds:.2f} | {seconds / times[None]:.2f} |")

    if args.bf16:
        compare_bf16(model, feats, lengths, ctc_backward, args.repeat, sum(seconds))


def compare_bf16(model, feats, lengths, ctc_backward, repeat: int, audio: float) -> None:
    """Whole-model training step and inference, float32 against bfloat16 autocast, interleaved."""
    def run(job: str, bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if job == "train":
                out = model(feats, lengths)
        if job == "train":
            ctc_backward(*out)
        else:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(feats, lengths)

    with torch.no_grad():
        reference = model(feats, lengths)[0]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            difference = (model(feats, lengths)[0].float() - reference).abs().max().item()
    best = {(job, bf16): float("inf") for job in ("train", "infer") for bf16 in (False, True)}
    for _ in range(repeat):
        for job, bf16 in best:
            start = time.perf_counter()
            run(job, bf16)
            best[job, bf16] = min(best[job, bf16], time.perf_counter() - start)
    print(f"\nbfloat16 autocast (run.cpu_amp); largest log-prob difference from float32: {difference:.1e}")
    print("| job | float32 s | bf16 autocast s | speed-up | audio s per s (bf16) |")
    print("|---|---:|---:|---:|---:|")
    for job in ("train", "infer"):
        fp32, bf16 = best[job, False], best[job, True]
        print(f"| {job} | {fp32:.2f} | {bf16:.2f} | {fp32 / bf16:.2f}x | {audio / bf16:.0f} |")


if __name__ == "__main__":
    main()
