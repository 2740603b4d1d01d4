#!/usr/bin/env bash
# Mini LibriSpeech recipe (OpenSLR 31: train-clean-5, 5 h; dev-clean-2, 2 h): the LibriSpeech
# recipe's stages on a corpus small enough to try the whole pipeline in an afternoon.
# The stages and options are those of recipes/librispeech/run.sh (same code:
# recipes/lib/librispeech_stages.sh); see recipes/librispeech/README.md.
#
# Usage: recipes/mini_librispeech/run.sh [options]
#   recipes/mini_librispeech/run.sh                      # download, train, decode dev-clean-2
#   recipes/mini_librispeech/run.sh --data-root /corpora # use /corpora/LibriSpeech/train-clean-5 ...
#   recipes/mini_librispeech/run.sh --lm-corpus none     # LM on the 1,519 training transcripts only
#
# Stages: 0 download (OpenSLR 31, resumable, MD5-checked) or check --data-root; 1 manifests;
#   2 CMVN + tokens; 3 LSTM LM on the transcripts + OpenSLR 11's LM corpus (resumes);
#   4 training (resumes; --ngpu N > 1 launches torchrun); 5 greedy decoding, then alpha/beta
#   tuned on the first dev set and beam search + LM decoding; 6 scoring, RESULTS.md (both decodings)
#
# Options [default]:
#   --stage N / --stop-stage N   first / last stage to run [0 / 6]
#   --workdir DIR         where downloads/, data/ and exp/ go [this recipe's folder]
#   --results FILE        RESULTS.md to write [recipes/mini_librispeech/RESULTS.md]
#   --data-root DIR       an existing copy: DIR/LibriSpeech/<subset> or DIR/<subset>
#   --mirror "URL ..."    OpenSLR sites, tried in turn [https://www.openslr.org https://us.openslr.org
#                         https://openslr.elda.org]; also https://openslr.magicdatatech.com (CN)
#   --checksums FILE      MD5 list [recipes/librispeech/checksums.md5]
#   --keep-archives B     keep the archives after unpacking (true|false) [true]
#   --train-sets "..."    [train-clean-5]
#   --dev-sets "..."      validated after every epoch, decoded and scored [dev-clean-2]
#   --test-sets "..."     decoded and scored, e.g. test-clean (OpenSLR 12) [none]
#   --lm-corpus X         the LM's text besides the transcripts: download | FILE
#                         (librispeech-lm-norm.txt.gz) | none (training transcripts only) [download]
#   --lm-config FILE      LM config [conf/lm/mini_librispeech.yaml: 2 x 512 LSTM, first 300 k sentences]
#   --lm-overrides "K=V .." LM config overrides, e.g. "run.epochs=1"
#   --lm-exp-name NAME    LM folder exp/NAME [lm_<lm config>_<units>_<training subsets>[_transcripts]]
#   --units U / --nbpe N  char, bpe or unigram / sentencepiece vocabulary [char / 500]
#   --config FILE         acoustic-model config [conf/am/mini_librispeech.yaml]
#   --overrides "K=V .."  config overrides, e.g. "run.epochs=20"
#   --speed-perturb B     speed perturbation 0.9/1.0/1.1 (true|false) [the config's: off]
#   --exp-name NAME       experiment folder exp/NAME [<config>_<units>_<training subsets>]
#   --beam N              beam size of the LM decoding and its tuning [10]
#   --lm-weights "A,.." / --word-bonuses "B,.."  alpha / beta values tried on the first dev set
#                         [asr tune's: 0,0.1,0.2,0.3,0.4,0.5,0.7 / 0,0.5,1,1.5,2]
#   --device DEV          auto, cpu or cuda [auto]
#   --ngpu N              training processes (one per GPU; torchrun when > 1; 0: CPU) [1]
#   --nnodes N / --node-rank K / --master-addr HOST / --master-port PORT
#                         multi-node training, as in recipes/librispeech/run.sh [1 / 0 / localhost / 29500]
set -euo pipefail

recipe_dir="$(cd "$(dirname "$0")" && pwd)"
repo_dir="$(cd "$recipe_dir/../.." && pwd)"
recipe_args=("$@")

# shellcheck source=SCRIPTDIR/../lib/librispeech_defaults.sh
. "$repo_dir/recipes/lib/librispeech_defaults.sh"
train_sets="train-clean-5"
dev_sets="dev-clean-2"
test_sets=
lm_config="$repo_dir/conf/lm/mini_librispeech.yaml"
config="$repo_dir/conf/am/mini_librispeech.yaml"
# shellcheck source=SCRIPTDIR/../lib/parse_options.sh
. "$repo_dir/recipes/lib/parse_options.sh"

recipe_name=mini_librispeech
corpus_title="Mini LibriSpeech"
# shellcheck source=SCRIPTDIR/../lib/librispeech_stages.sh
. "$repo_dir/recipes/lib/librispeech_stages.sh"
