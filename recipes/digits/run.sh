#!/usr/bin/env bash
# Free Spoken Digit Dataset recipe: data -> manifests -> train -> decode -> score -> RESULTS.md
#
# Usage: recipes/digits/run.sh [options]
#   --data DIR           a local copy of FSDD's recordings/ folder (skips the download)
#   --stage N            first stage to run (default 0)
#   --stop-stage N       last stage to run (default 4)
#   --workdir DIR        where data/, exp/ and downloads/ go (default: this recipe's folder)
#   --results FILE       RESULTS.md to write (default: this recipe's RESULTS.md)
#   --config FILE        acoustic-model config (default: conf/am/digits.yaml)
#   --overrides "K=V .." config overrides for training, e.g. "run.epochs=5 model.hidden_size=64"
#   --device DEV         auto (default), cpu or cuda
#
# Stages (each one skips work already done and redoes work left half-done):
#   0  get the data: download the dataset's GitHub archive (or use --data)
#   1  manifests: test = index 0-4, train = 5-49 minus 20 files per speaker held out as dev
#   2  train the acoustic model (resumes a killed run)
#   3  decode the test split (greedy CTC), and the same recordings 20 dB quieter (level check)
#   4  score both and write RESULTS.md
set -euo pipefail

recipe_dir="$(cd "$(dirname "$0")" && pwd)"
repo_dir="$(cd "$recipe_dir/../.." && pwd)"

data=
stage=0
stop_stage=4
workdir="$recipe_dir"
results="$recipe_dir/RESULTS.md"
config="$repo_dir/conf/am/digits.yaml"
overrides=
device=auto
. "$repo_dir/recipes/lib/parse_options.sh"

fsdd_url=https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip
# paths given relative to where the recipe was started from stay valid after the cd below
[ -n "$data" ] && data="$(realpath -m "$data")"
# RESULTS.md is tracked: its command names the data relative to the repository (../shared/...),
# never by a path that exists only on the machine of the run
data_shown=
if [ -n "$data" ]; then
  data_shown="$(realpath -m --relative-to="$repo_dir" "$data")"
  case "$data_shown" in ../../*) data_shown="path/to/fsdd/recordings" ;; esac
fi
results="$(realpath -m "$results")"
config="$(realpath -m "$config")"
mkdir -p "$workdir"
cd "$workdir"
exp=exp/digits
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -z "$data" ]; then
    log "stage 0: downloading FSDD from GitHub"
    asr download "$fsdd_url" --out downloads/fsdd-master.zip --extract downloads
    data=downloads/free-spoken-digit-dataset-master/recordings
  fi
  count=$(find "$data" -maxdepth 1 -name '*.wav' | wc -l)
  [ "$count" -ge 2500 ] || { echo "$data: expected at least 2500 recordings, found $count" >&2; exit 1; }
  log "stage 0: $count recordings in $data"
fi
data="${data:-downloads/free-spoken-digit-dataset-master/recordings}"

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if [ -s data/train.jsonl ] && [ -s data/dev.jsonl ] && [ -s data/test.jsonl ]; then
    log "stage 1: manifests already in data/"
  else
    log "stage 1: preparing manifests"
    asr prepare fsdd "$data" --out data
  fi
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  if [ -s "$exp/model.pt" ]; then
    log "stage 2: $exp/model.pt already trained"
  else
    resume=()
    [ -e "$exp/checkpoints/last.pt" ] && resume=(--resume)
    log "stage 2: training ($config ${overrides}) ${resume[*]:-}"
    start=$SECONDS
    # shellcheck disable=SC2086  # overrides are separate words on purpose
    asr train --config "$config" --train data/train.jsonl --dev data/dev.jsonl --exp "$exp" \
      "${resume[@]}" run.device="$device" $overrides
    echo $((SECONDS - start)) > "$exp/train_wall_seconds"
  fi
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  if [ -s "$exp/test.hyp.jsonl" ] && [ "$exp/test.hyp.jsonl" -nt "$exp/model.pt" ]; then
    log "stage 3: $exp/test.hyp.jsonl is up to date"
  else
    log "stage 3: decoding the test split"
    start=$SECONDS
    asr decode --model "$exp/model.pt" --manifest data/test.jsonl --out "$exp/test.hyp.jsonl" --device "$device"
    echo $((SECONDS - start)) > "$exp/decode_wall_seconds"
  fi
  # a quiet speaker: the test recordings at -20 dB (16-bit, as a quiet recording is) must be
  # recognized as well as at their own level (features.normalize_level)
  if [ -s "$exp/test_m20db.hyp.jsonl" ] && [ "$exp/test_m20db.hyp.jsonl" -nt "$exp/model.pt" ]; then
    log "stage 3: $exp/test_m20db.hyp.jsonl is up to date"
  else
    log "stage 3: decoding the test split 20 dB quieter"
    python "$repo_dir/tools/scale_audio.py" --manifest data/test.jsonl --gain-db -20 --out data/test_m20db
    asr decode --model "$exp/model.pt" --manifest data/test_m20db/manifest.jsonl --out "$exp/test_m20db.hyp.jsonl" \
      --device "$device"
  fi
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  log "stage 4: scoring"
  asr score data/test.jsonl "$exp/test.hyp.jsonl" --json "$exp/test.score.json" --worst 5
  asr score data/test_m20db/manifest.jsonl "$exp/test_m20db.hyp.jsonl" --json "$exp/test_m20db.score.json" --worst 5
  timings=()
  [ -s "$exp/train_wall_seconds" ] && timings+=(--timing "train=$(cat "$exp/train_wall_seconds")")
  [ -s "$exp/decode_wall_seconds" ] && timings+=(--timing "decode=$(cat "$exp/decode_wall_seconds")")
  asr results --out "$results" --title "Free Spoken Digit Dataset (recipes/digits)" \
    --model "$exp/model.pt" --score "test=$exp/test.score.json" \
    --score "test, 20 dB quieter=$exp/test_m20db.score.json" \
    --decoding "greedy CTC, no language model" "${timings[@]}" \
    --command "recipes/digits/run.sh${data_shown:+ --data $data_shown}${overrides:+ --overrides \"$overrides\"}"
  log "stage 4: wrote $results"
fi
