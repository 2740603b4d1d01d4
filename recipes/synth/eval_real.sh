#!/usr/bin/env bash
# How a model trained on synthetic speech does on the real recordings we have offline:
# the two LibriSpeech dev-clean utterances of ../shared/data/librispeech_sample and the Free
# Spoken Digit Dataset recordings of ../shared/data/fsdd (every file; the text is the digit as
# a word, ZERO ... NINE). Decodes each set with greedy CTC and with the model package's own
# decoding defaults (beam search + its LM for a package from `asr tune --package`), scores
# them and prints a markdown table.
#
#   recipes/synth/eval_real.sh --model asr/pretrained/model.pt --workdir /tmp/eval_real
#
# Options: --model PACKAGE (default: the model shipped in asr/pretrained), --workdir DIR
# (manifests, hypotheses, scores; default exp/eval_real), --data DIR (default: ../shared/data
# beside the repository), --threads N (torch CPU threads, default 1).
set -euo pipefail

repo_dir=$(cd "$(dirname "$0")/../.." && pwd)
model="$repo_dir/asr/pretrained/model.pt"
workdir=exp/eval_real
data="$repo_dir/../shared/data"
threads=1
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "eval_real.sh: unknown option $1 (see --help)" >&2; exit 1 ;;
  esac
done
for d in "$data/librispeech_sample" "$data/fsdd/recordings"; do
  [ -d "$d" ] || { echo "eval_real.sh: $d not found (give --data)" >&2; exit 1; }
done
[ -s "$model" ] || { echo "eval_real.sh: model package $model not found" >&2; exit 1; }

mkdir -p "$workdir/fsdd"
asr prepare librispeech "$data/librispeech_sample" --out "$workdir"
asr prepare fsdd "$data/fsdd/recordings" --out "$workdir/fsdd"
cat "$workdir"/fsdd/{train,dev,test}.jsonl > "$workdir/fsdd_all.jsonl"

sets="dev-clean fsdd_all"
for s in $sets; do
  for decoding in greedy package; do
    flags=()
    [ "$decoding" = greedy ] && flags=(--decoder greedy)
    asr decode --model "$model" --manifest "$workdir/$s.jsonl" --out "$workdir/$s.$decoding.hyp.jsonl" \
      --threads "$threads" --overwrite ${flags[@]+"${flags[@]}"}
    asr score "$workdir/$s.jsonl" "$workdir/$s.$decoding.hyp.jsonl" --json "$workdir/$s.$decoding.score.json" \
      > "$workdir/$s.$decoding.score.txt"
  done
done

python3 - "$workdir" $sets <<'EOF'
import json, sys
workdir, sets = sys.argv[1], sys.argv[2:]
names = {"dev-clean": "LibriSpeech dev-clean sample (../shared/data/librispeech_sample)",
         "fsdd_all": "FSDD spoken digits, all recordings (../shared/data/fsdd)"}
print("| real speech | utterances | decoding | WER % | CER % | words S / D / I | ref words |")
print("|---|---:|---|---:|---:|---|---:|")
for s in sets:
    for decoding, label in (("greedy", "greedy CTC"), ("package", "package defaults")):
        r = json.load(open(f"{workdir}/{s}.{decoding}.score.json"))
        w = r["words"]
        print(f"| {names.get(s, s)} | {r['num_utterances']} | {label} | {r['wer']:.2f} | {r['cer']:.2f} | "
              f"{w['substitutions']} / {w['deletions']} / {w['insertions']} | {w['ref_len']} |")
EOF
