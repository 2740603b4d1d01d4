#!/usr/bin/env bash
# Synthetic-speech recipe: a corpus made here by `asr synth` (espeak-ng, flite and festival
# voices, augmented; dev and test voices never heard in training) -> manifests -> CMVN + tokens
# -> LSTM LM -> BiLSTM-CTC -> greedy and beam search + LM decoding -> RESULTS.md. Needs no
# download: the text is ../shared/data/text (train: lm_train.txt.gz; dev and test: lm_dev.txt,
# other authors, lines 0-999 and 1000 on). See recipes/synth/README.md.
#
# Usage: recipes/synth/run.sh [options]
#   recipes/synth/run.sh                               # 18 h, 4 x 256 BiLSTM: about 2.5 h on 2 CPU cores
#   recipes/synth/run.sh --size gpu                    # 100 h, 5 x 320 BiLSTM and a 2 x 1024 LM, one GPU
#   recipes/synth/run.sh --corpus /data/synth          # keep the corpus elsewhere (reused when there)
#   recipes/synth/run.sh --stop-stage 0 --synth-jobs 1 # only make the corpus, on one core
#
# Stages (each skips work already done; a rerun after an interruption is safe):
#   0  asr synth: train (--train-hours), dev and test (--dev-hours, --test-hours) into --corpus,
#      in LibriSpeech's layout; a rerun makes only missing files, more hours extend the corpus
#   1-6 the LibriSpeech recipe's stages (recipes/lib/librispeech_stages.sh) on that corpus:
#      1 manifests; 2 CMVN + tokens; 3 LSTM LM on the training transcripts + --lm-corpus;
#      4 acoustic model (resumes); 5 greedy decoding, alpha/beta tuned on dev, beam + LM decoding;
#      6 scoring, RESULTS.md
#
# Options [default]:
#   --stage N / --stop-stage N   first / last stage to run [0 / 6]
#   --size S              cpu or gpu: picks the configs and the training hours below [cpu]
#   --workdir DIR         where data/ and exp/ go [this recipe's folder]
#   --results FILE        RESULTS.md to write [recipes/synth/RESULTS.md]
#   --corpus DIR          the synthetic corpus [WORKDIR/corpus]
#   --train-text FILE     sentences of the training set [../shared/data/text/lm_train.txt.gz]
#   --eval-text FILE      sentences of dev (lines 0-999) and test (lines 1000 on) [../shared/data/text/lm_dev.txt]
#   --train-hours H       [18 with --size cpu, 100 with --size gpu]
#   --dev-hours H / --test-hours H   [0.5 / 0.5]
#   --synth-seed N        seed of the corpus [1]
#   --synth-jobs N        synthesis processes [all cores]
#   --synth-args "..."    more `asr synth` options for all three sets, e.g. "--noise-prob 0.7"
#   --lm-corpus X         the LM's text besides the transcripts: FILE | none [--train-text]
#   --lm-config FILE      LM config [conf/lm/synth_<size>.yaml]
#   --lm-overrides "K=V .." LM config overrides, e.g. "run.epochs=2"
#   --lm-exp-name NAME    LM folder exp/NAME [lm_<lm config>_<units>_train]
#   --units U / --nbpe N  char, bpe or unigram / sentencepiece vocabulary [char / 500]
#   --config FILE         acoustic-model config [conf/am/synth_<size>.yaml]
#   --overrides "K=V .."  config overrides, e.g. "run.epochs=5"
#   --speed-perturb B     speed perturbation in training (true|false) [the config's: off; the
#                         corpus is speed-perturbed already]
#   --exp-name NAME       experiment folder exp/NAME [<config>_<units>_train]
#   --beam N              beam size of the LM decoding and its tuning [10]
#   --lm-weights "A,.." / --word-bonuses "B,.."  alpha / beta values tried on dev
#                         [asr tune's: 0,0.1,0.2,0.3,0.4,0.5,0.7 / 0,0.5,1,1.5,2]
#   --device DEV          auto, cpu or cuda [auto]
#   --ngpu N              training processes (one per GPU; torchrun when > 1; 0: CPU) [1]
set -euo pipefail

recipe_dir="$(cd "$(dirname "$0")" && pwd)"
repo_dir="$(cd "$recipe_dir/../.." && pwd)"
recipe_args=("$@")
text_dir="$(cd "$repo_dir/.." && pwd)/shared/data/text"

# shellcheck source=SCRIPTDIR/../lib/librispeech_defaults.sh
. "$repo_dir/recipes/lib/librispeech_defaults.sh"
size=cpu
corpus=
train_text="$text_dir/lm_train.txt.gz"
eval_text="$text_dir/lm_dev.txt"
train_hours=
dev_hours=0.5
test_hours=0.5
synth_seed=1
synth_jobs=$(nproc 2> /dev/null || echo 1)
synth_args=
eval_split_line=1000  # dev: lines 0-999 of --eval-text; test: the lines from 1000 on
lm_corpus=
lm_config=
train_sets="train"
dev_sets="dev"
test_sets="test"
# shellcheck source=SCRIPTDIR/../lib/parse_options.sh
. "$repo_dir/recipes/lib/parse_options.sh"

die() { echo "$0: error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
case "$size" in
  cpu) train_hours=${train_hours:-18} ;;
  gpu) train_hours=${train_hours:-100} ;;
  *) die "--size must be cpu or gpu, not '$size'" ;;
esac
config=${config:-$repo_dir/conf/am/synth_$size.yaml}
lm_config=${lm_config:-$repo_dir/conf/lm/synth_$size.yaml}
lm_corpus=${lm_corpus:-$train_text}
for _n in synth_seed synth_jobs; do
  [[ "${!_n}" =~ ^[0-9]+$ ]] || die "--${_n//_/-} takes a number, not '${!_n}'"
done
workdir="$(realpath -m "$workdir")"
corpus="$(realpath -m "${corpus:-$workdir/corpus}")"
data_root="$corpus"  # the LibriSpeech stages read the corpus as an existing copy: no download

# ------------------------------------------------------------------------------ stage 0
if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ] && [ "${node_rank:-0}" = 0 ]; then
  start=$SECONDS
  read -ra _synth_args <<< "$synth_args"
  synth() {  # SPLIT TEXT HOURS [asr synth options]
    local split=$1 text=$2 hours=$3
    shift 3
    echo "[$(date +%H:%M:%S)] + asr synth --text $text --out $corpus --split $split --hours $hours${*:+ $*}" >&2
    asr synth --text "$text" --out "$corpus" --split "$split" --hours "$hours" --seed "$synth_seed" \
      --jobs "$synth_jobs" "$@" ${_synth_args[@]+"${_synth_args[@]}"}
  }
  synth train "$train_text" "$train_hours"
  synth dev "$eval_text" "$dev_hours" --stop "$eval_split_line"
  synth test "$eval_text" "$test_hours" --skip "$eval_split_line"
  # asr synth rewrites a manifest only when the set changed; then stage 1 prepares it again
  for s in train dev test; do
    if [ -e "$workdir/data/$s.jsonl" ] && [ "$corpus/$s.jsonl" -nt "$workdir/data/$s.jsonl" ]; then
      log "stage 0: $s changed: stage 1 prepares it again"
      rm -f "$workdir/data/$s.jsonl"
    fi
  done
  log "stage 0: corpus $corpus ready ($((SECONDS - start)) s)"
fi
for s in train dev test; do
  [ "$stop_stage" -lt 1 ] || [ -d "$corpus/$s" ] || die "$corpus/$s not found (stage 0 makes it)"
done
[ "$stop_stage" -ge 1 ] || exit 0

recipe_name=synth
corpus_title="Synthetic speech"
results_note="The corpus: asr synth, see recipes/synth/README.md (dev and test voices are never heard in training)."
# shellcheck source=SCRIPTDIR/../lib/librispeech_stages.sh
. "$repo_dir/recipes/lib/librispeech_stages.sh"
