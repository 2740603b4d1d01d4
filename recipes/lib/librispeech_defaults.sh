# Option defaults shared by the LibriSpeech-family recipes. A recipe's run.sh sets
# recipe_dir and repo_dir, sources this file, then sets what differs for its corpus
# (subsets, configs) before parse_options.sh turns --options into these variables.
# shellcheck shell=bash disable=SC2034,SC2154  # read by librispeech_stages.sh; recipe_dir/repo_dir come from run.sh
stage=0
stop_stage=6
workdir="$recipe_dir"
results="$recipe_dir/RESULTS.md"
data_root=
mirror="https://www.openslr.org https://us.openslr.org https://openslr.elda.org"
checksums="$repo_dir/recipes/librispeech/checksums.md5"
keep_archives=true
lm_corpus=download
lm_overrides=
lm_exp_name=
units=char
nbpe=500
config=
overrides=
speed_perturb=
exp_name=
beam=10
lm_weights=
word_bonuses=
device=auto
ngpu=1
nnodes=1
node_rank=0
master_addr=localhost
master_port=29500
