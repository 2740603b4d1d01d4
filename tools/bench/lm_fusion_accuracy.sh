#!/usr/bin/env bash
# Does the LSTM LM help? Greedy vs beam search + LM fusion on held-out synthetic sentences.
#
# Usage: tools/bench/lm_fusion_accuracy.sh [--workdir DIR] [--stage N] [--stop-stage N]
#
# Speech is made with espeak-ng (tools/synth_corpus.py, 10 voices): training sentences from
# ../shared/data/text/lm_train.txt.gz, dev and test sentences from lm_dev.txt (different
# authors, never in the LM's training text; dev = lines 0-799, test = lines 800 on).
#   0  synthesize train (3000 sentences), dev (150), test (200); prepare manifests
#   1  train the acoustic model (conf/am/synth_small.yaml)
#   2  train the character LSTM LM (conf/lm/char_small.yaml, first 25,000 sentences of
#      lm_train.txt.gz, 1 epoch: about 7 minutes on 2 cores); dev text = dev transcripts
#   3  decode test greedily; tune LM weight and word bonus on dev; decode test with beam + LM
#   4  print the table (WER greedy vs beam + LM, LM dev perplexity)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
text="$(cd "$repo/.." && pwd)/shared/data/text"
workdir=exp/lm_fusion_accuracy
stage=0
stop_stage=4
. "$repo/recipes/lib/parse_options.sh"
mkdir -p "$workdir" && cd "$workdir"
on() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
voices="en-us+m1,en-us+f2,en-gb+m3,en-gb+f4,en-gb-scotland+m2,en-029+f1,en-gb-x-rp+m4,en-us-nyc+f3,en-gb-x-gbclan+m5,en-gb-x-gbcwmd+f5"

if on 0; then
  # the same 10 voices in every set, no augmentation (--voices overrides the tool's held-out voice split)
  synth=(--max-words 12 --out synth --voices "$voices" --no-augment)
  python "$repo/tools/synth_corpus.py" --text "$text/lm_train.txt.gz" --split train --num 3000 --seed 1 "${synth[@]}"
  python "$repo/tools/synth_corpus.py" --text "$text/lm_dev.txt" --split dev --num 150 --stop 800 --seed 2 "${synth[@]}"
  python "$repo/tools/synth_corpus.py" --text "$text/lm_dev.txt" --split test --num 200 --skip 800 --seed 3 "${synth[@]}"
  for s in train dev test; do [ -s data/$s.jsonl ] || asr prepare librispeech synth/$s --out data; done
fi
if on 1 && [ ! -s exp/am/model.pt ]; then
  resume=(); [ -e exp/am/checkpoints/last.pt ] && resume=(--resume)
  asr train --config "$repo/conf/am/synth_small.yaml" --train data/train.jsonl --dev data/dev.jsonl --exp exp/am "${resume[@]}"
fi
if on 2 && [ ! -s exp/lm/model.pt ]; then
  resume=(); [ -e exp/lm/checkpoints/last.pt ] && resume=(--resume)
  asr train-lm --config "$repo/conf/lm/char_small.yaml" --text "$text/lm_train.txt.gz" --dev data/dev.jsonl \
    --am-model exp/am/model.pt --exp exp/lm "${resume[@]}" data.max_sentences=25000 run.epochs=1
fi
if on 3; then
  asr decode --model exp/am/model.pt --manifest data/test.jsonl --out exp/greedy.hyp.jsonl
  asr tune --model exp/am/model.pt --lm exp/lm/model.pt --manifest data/dev.jsonl --beam 10 \
    --lm-weights 0,0.2,0.4,0.6,0.8,1.0 --word-bonuses 0,0.5,1,1.5,2,3 --out exp/tune.json --package exp/tuned.pt
  asr decode --model exp/tuned.pt --manifest data/test.jsonl --out exp/beam_lm.hyp.jsonl
  asr decode --model exp/am/model.pt --manifest data/test.jsonl --out exp/beam.hyp.jsonl --decoder beam --beam 10
fi
if on 4; then
  for d in greedy beam beam_lm; do asr score data/test.jsonl exp/$d.hyp.jsonl --json exp/$d.score.json > /dev/null; done
  python - <<'PY'
import json, torch
score = {d: json.load(open(f"exp/{d}.score.json")) for d in ("greedy", "beam", "beam_lm")}
best = json.load(open("exp/tune.json"))["best"]
lm = torch.load("exp/lm/model.pt", weights_only=True)["info"]["history"][-1]
rel = 100 * (score["greedy"]["wer"] - score["beam_lm"]["wer"]) / score["greedy"]["wer"]
print("| decoding | test WER % | test CER % |\n|---|---|---|")
print(f"| greedy | {score['greedy']['wer']:.2f} | {score['greedy']['cer']:.2f} |")
print(f"| beam 10, no LM | {score['beam']['wer']:.2f} | {score['beam']['cer']:.2f} |")
print(f"| beam 10 + LSTM LM (alpha {best['lm_weight']:g}, beta {best['word_bonus']:g}, tuned on dev) | "
      f"{score['beam_lm']['wer']:.2f} | {score['beam_lm']['cer']:.2f} |")
print(f"\nrelative WER reduction of LM fusion over greedy: {rel:.1f}%; LM dev perplexity "
      f"{lm['dev_ppl']:.2f} per character, {lm['dev_word_ppl']:.0f} per word")
PY
fi
