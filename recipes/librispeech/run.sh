#!/usr/bin/env bash
# LibriSpeech recipe (OpenSLR 12): download -> manifests -> CMVN + tokens -> LSTM LM ->
# BiLSTM-CTC training -> greedy and beam search + LM decoding -> RESULTS.md. Disk, time and
# the published results to compare with: recipes/librispeech/README.md.
#
# Usage: recipes/librispeech/run.sh [options]
#   recipes/librispeech/run.sh                               # 100 h: train-clean-100, one GPU
#   recipes/librispeech/run.sh --data-root /corpora          # use /corpora/LibriSpeech/<subset>
#   recipes/librispeech/run.sh --lm-corpus none              # LM on the training transcripts only
#   recipes/librispeech/run.sh --ngpu 4 \
#       --train-sets "train-clean-100 train-clean-360 train-other-500"   # 960 h on 4 GPUs
#
# Stages (run --stage N to --stop-stage M; each skips work already done and redoes work
# left half-done, so rerunning after an interruption is always safe):
#   0  download the subsets from OpenSLR 12 (resumable, MD5-checked) and unpack them,
#      or check that --data-root holds them
#   1  JSONL manifests, one per subset (id SPEAKER-CHAPTER-UTT, speaker, duration, text), and
#      the training (all --train-sets) and validation (all --dev-sets) manifests
#   2  CMVN statistics of the training set; token list (characters, or sentencepiece
#      with --units bpe --nbpe N)
#   3  LSTM language model over the AM's tokens (--lm-config): trained on the training
#      transcripts + librispeech-lm-norm.txt.gz (OpenSLR 11, downloaded MD5-checked), dev
#      perplexity on the dev sets; a killed run resumes; skipped once its model.pt exists
#   4  acoustic-model training (a killed run resumes from its last checkpoint;
#      --ngpu N > 1 launches torchrun)
#   5  greedy CTC decoding of every dev and test set; with an LM, `asr tune` grid-searches the
#      LM weight (alpha) and word bonus (beta) on the FIRST dev set (never a test set) and every
#      set is decoded again with beam search + LM and those values (a set is redone when its
#      hypotheses are missing or older than the model)
#   6  WER/CER of every set and decoding -> exp/NAME/RESULTS.md (a table per decoding, with
#      alpha, beta and the LM's dev perplexity) and the recipe's RESULTS.md
#
# Options [default]:
#   --stage N             first stage to run [0]
#   --stop-stage N        last stage to run [6]
#   --workdir DIR         where downloads/, data/ and exp/ go [this recipe's folder]
#   --results FILE        RESULTS.md to write [recipes/librispeech/RESULTS.md]
#   --data-root DIR       an existing copy of LibriSpeech: DIR/LibriSpeech/<subset> or
#                         DIR/<subset>; nothing is downloaded
#   --mirror "URL ..."    OpenSLR sites to download from, tried in turn
#                         [https://www.openslr.org https://us.openslr.org https://openslr.elda.org]
#                         known mirrors: https://www.openslr.org (main), https://us.openslr.org (US),
#                         https://openslr.elda.org (EU), https://openslr.magicdatatech.com (CN);
#                         a URL ending in /resources/12 is accepted too
#   --checksums FILE      MD5 list, "MD5  FILE" lines [recipes/librispeech/checksums.md5]
#   --keep-archives B     keep the .tar.gz archives after unpacking (true|false) [true]
#   --train-sets "..."    training subsets, any of train-clean-100 train-clean-360
#                         train-other-500 [train-clean-100]
#   --dev-sets "..."      validated after every epoch, decoded and scored [dev-clean dev-other]
#   --test-sets "..."     decoded and scored [test-clean test-other]
#   --lm-corpus X         the LM's text besides the training transcripts: download: fetch
#                         librispeech-lm-norm.txt.gz from OpenSLR 11; FILE: a local copy of it;
#                         none: train the LM on the training transcripts only [download]
#   --lm-config FILE      LM config [conf/lm/librispeech.yaml: 2 x 1024 LSTM, first 4 M sentences]
#   --lm-overrides "K=V .." LM config overrides, e.g. "run.epochs=1 data.max_sentences=1000000"
#   --lm-exp-name NAME    LM folder exp/NAME [lm_<lm config>_<units>_<training subsets>, plus
#                         _transcripts with --lm-corpus none]
#   --units U             char, bpe or unigram [char]
#   --nbpe N              sentencepiece vocabulary size for --units bpe/unigram [500]
#   --config FILE         acoustic-model config [conf/am/librispeech_100.yaml when training on
#                         train-clean-100 alone, conf/am/librispeech_960.yaml otherwise]
#   --overrides "K=V .."  config overrides, e.g. "run.epochs=20 optim.lr=5e-4"
#   --speed-perturb B     speed perturbation 0.9/1.0/1.1 (true|false) [the config's: off]
#   --exp-name NAME       experiment folder exp/NAME [<config>_<units>_<training subsets>]
#   --beam N              beam size of the LM decoding and its tuning [10]
#   --lm-weights "A,.."   LM weights (alpha) to try on the first dev set [asr tune's: 0,0.1,..,0.7]
#   --word-bonuses "B,.." word bonuses (beta) to try [asr tune's: 0,0.5,1,1.5,2]
#   --device DEV          auto, cpu or cuda [auto]
#   --ngpu N              training processes on this machine, one per GPU; N > 1 launches
#                         torchrun (DDP, batches are per process); with --device cpu, N CPU
#                         processes (gloo); 0 trains on the CPU [1]. The LM (stage 3) is
#                         trained with N processes too, on this machine
#   --nnodes N            machines taking part in training [1]
#   --node-rank K         this machine's rank, 0 .. N-1 [0]
#   --master-addr HOST    address of the rank-0 machine [localhost]
#   --master-port PORT    a free TCP port on it [29500]
#
# Multi-node: run stages 0-3 once, on storage all machines share; then start stage 4 on every
# machine, the same command but for --node-rank (node 0 goes on with stages 5-6):
#   recipes/librispeech/run.sh --stage 4 --ngpu 8 --nnodes 2 --node-rank 0 --master-addr node0.example
#   recipes/librispeech/run.sh --stage 4 --ngpu 8 --nnodes 2 --node-rank 1 --master-addr node0.example
set -euo pipefail

recipe_dir="$(cd "$(dirname "$0")" && pwd)"
repo_dir="$(cd "$recipe_dir/../.." && pwd)"
recipe_args=("$@")

# shellcheck source=SCRIPTDIR/../lib/librispeech_defaults.sh
. "$repo_dir/recipes/lib/librispeech_defaults.sh"
train_sets="train-clean-100"
dev_sets="dev-clean dev-other"
test_sets="test-clean test-other"
lm_config="$repo_dir/conf/lm/librispeech.yaml"
# shellcheck source=SCRIPTDIR/../lib/parse_options.sh
. "$repo_dir/recipes/lib/parse_options.sh"

if [ -z "$config" ]; then
  read -ra _train <<< "$train_sets"
  if [ "${_train[*]}" = train-clean-100 ]; then
    config="$repo_dir/conf/am/librispeech_100.yaml"
  else
    config="$repo_dir/conf/am/librispeech_960.yaml"
  fi
fi
recipe_name=librispeech
corpus_title=LibriSpeech
# shellcheck source=SCRIPTDIR/../lib/librispeech_stages.sh
. "$repo_dir/recipes/lib/librispeech_stages.sh"
