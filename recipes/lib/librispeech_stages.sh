# shellcheck shell=bash
# The stages of the LibriSpeech-family recipes (recipes/librispeech, recipes/mini_librispeech).
#
# A recipe's run.sh sets its defaults, saves its arguments in `recipe_args`, sources
# parse_options.sh and then this file, which checks the options and runs stages
# $stage..$stop_stage in $workdir. Variables it expects (all set by run.sh):
#   recipe_name corpus_title stage stop_stage workdir results data_root mirror checksums
#   keep_archives train_sets dev_sets test_sets lm_corpus lm_config lm_overrides lm_exp_name units
#   nbpe config overrides speed_perturb exp_name beam lm_weights word_bonuses device ngpu nnodes
#   node_rank master_addr master_port recipe_args
# and may set train_tag (the training set's name in file names) and train_weights ("SET=W ...":
# stage 4 then trains on the sets as a weighted mix instead of on their union).
#
# Every stage checks for its complete outputs first and skips ("skipped") when they are there;
# the asr commands write their outputs atomically, so a killed stage leaves nothing half-written
# that could be mistaken for done, and a rerun redoes it. Every command that does work is
# logged as a line starting with "+ ".
# shellcheck disable=SC2154  # the variables above come from the recipe's run.sh

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "$0: error: $*" >&2; exit 1; }
stage_on() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

worked=0
run() {  # log a command, run it, and remember that this stage did some work
  local shown=() arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./=:,+%@-]+$ ]]; then shown+=("$arg"); else shown+=("${arg@Q}"); fi
  done
  echo "[$(date +%H:%M:%S)] + ${shown[*]}" >&2
  worked=1
  "$@"
}

up_to_date() {  # OUT IN...: OUT exists, is not empty and is newer than every IN
  local out=$1 f
  shift
  [ -s "$out" ] || return 1
  for f in "$@"; do [ "$out" -nt "$f" ] || return 1; done
}

same_content() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }  # FILE TEXT

write_if_changed() {  # FILE TEXT: (re)write FILE atomically when its content differs
  same_content "$1" "$2" && return 1
  printf '%s\n' "$2" > "$1.tmp.$$" && mv "$1.tmp.$$" "$1"
}

add_time() {  # FILE SECONDS: add SECONDS to the total kept in FILE (stage wall times)
  local before=0
  mkdir -p "$(dirname "$1")"
  [ -s "$1" ] && before=$(cat "$1")
  echo $((before + $2)) > "$1.tmp.$$" && mv "$1.tmp.$$" "$1"
}

nest_sections() {  # OUT HEADER FILE...: write OUT atomically: HEADER, then every FILE with its headings one level down
  local out=$1 header=$2 f
  shift 2
  mkdir -p "$(dirname "$out")"
  {
    printf '%s\n' "$header"
    for f in "$@"; do
      echo
      sed 's/^#/##/' "$f"
    done
  } > "$out.tmp.$$"
  mv "$out.tmp.$$" "$out"
}

begin_stage() { stage_start=$SECONDS; worked=0; }
end_stage() {  # FILE: add this stage's wall time to FILE when it did some work
  [ "$worked" = 1 ] && add_time "$1" $((SECONDS - stage_start))
  return 0
}

is_true() {
  case "$1" in
    true|yes|1) return 0 ;;
    false|no|0) return 1 ;;
    *) die "expected true or false, got '$1'" ;;
  esac
}

words() { printf '%s\n' "$@" | awk 'NF && !seen[$0]++' | paste -sd' ' -; }  # unique, in order

# ------------------------------------------------------------------------------ options
{ [[ "$stage" =~ ^[0-9]+$ ]] && [[ "$stop_stage" =~ ^[0-9]+$ ]]; } || die "--stage and --stop-stage take numbers"
# shellcheck disable=SC2086  # set lists are whitespace-separated words on purpose
{
  train_sets=$(words $train_sets)
  dev_sets=$(words $dev_sets)
  test_sets=$(words $test_sets)
  all_sets=$(words $train_sets $dev_sets $test_sets)
  eval_sets=$(words $dev_sets $test_sets)
}
[ -n "$train_sets" ] || die "--train-sets is empty"
for _s in $all_sets; do
  [[ "$_s" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "'$_s' is not a subset name (e.g. train-clean-100)"
done
case "$units" in char|bpe|unigram) ;; *) die "--units must be char, bpe or unigram, not '$units'" ;; esac
[[ "$nbpe" =~ ^[0-9]+$ ]] || die "--nbpe takes a number"
[[ "$beam" =~ ^[1-9][0-9]*$ ]] || die "--beam takes a positive number, not '$beam'"
for _n in lm_weights word_bonuses; do  # empty: asr tune's default grid
  [[ "${!_n}" =~ ^[-+0-9.eE,]*$ ]] ||
    die "--${_n//_/-} takes comma-separated numbers (e.g. 0,0.2,0.4), not '${!_n}'"
done
for _n in ngpu nnodes node_rank master_port; do
  [[ "${!_n}" =~ ^[0-9]+$ ]] || die "--${_n//_/-} takes a number, not '${!_n}'"
done
[ -z "$speed_perturb" ] || is_true "$speed_perturb" || true
is_true "$keep_archives" || true
[ -n "$data_root" ] && { [ -d "$data_root" ] || die "--data-root $data_root: no such folder"; data_root="$(realpath "$data_root")"; }
results="$(realpath -m "$results")"
config="$(realpath -m "$config")"
checksums="$(realpath -m "$checksums")"
lm_config="$(realpath -m "$lm_config")"
case "$lm_corpus" in download|none) ;; *) lm_corpus="$(realpath -m "$lm_corpus")" ;; esac
[ -f "$config" ] || die "--config $config: no such file"
[ -f "$lm_config" ] || die "--lm-config $lm_config: no such file"

# The command that reproduces the results, without --stage/--stop-stage (for RESULTS.md)
command_line="recipes/$recipe_name/run.sh"
_skip_next=0
for _a in ${recipe_args[@]+"${recipe_args[@]}"}; do
  if [ "$_skip_next" = 1 ]; then _skip_next=0; continue; fi
  case "$_a" in
    --stage|--stop-stage) _skip_next=1; continue ;;
    --stage=*|--stop-stage=*) continue ;;
  esac
  if [[ "$_a" =~ ^[A-Za-z0-9_./=:,+%@-]+$ ]]; then command_line+=" $_a"; else command_line+=" ${_a@Q}"; fi
done

# Names: a training set is tagged by its subsets ("clean-100", "clean-100_clean-360_other-500")
tag_of() { printf '%s\n' "$@" | sed 's/^train-//' | paste -sd_ -; }
# shellcheck disable=SC2086
{
  train_tag=${train_tag:-$(tag_of $train_sets)}  # a recipe may name its training set itself
  dev_tag=$(tag_of $dev_sets)
}
unit_tag=$units
[ "$units" = char ] || unit_tag="$units$nbpe"
exp_name="${exp_name:-$(basename "$config" .yaml)_${unit_tag}_${train_tag}}"
# The LM: named by its config, units and the transcripts it adds (+ "_transcripts" when it is
# trained on them alone: --lm-corpus none)
lm_text_tag=
[ "$lm_corpus" = none ] && lm_text_tag=_transcripts
lm_exp_name="${lm_exp_name:-lm_$(basename "$lm_config" .yaml)_${unit_tag}_${train_tag}${lm_text_tag}}"
[[ "$lm_exp_name" =~ ^[A-Za-z0-9][A-Za-z0-9_.+-]*$ ]] || die "--lm-exp-name '$lm_exp_name': letters, digits, _ . + - only"

mkdir -p "$workdir"
cd "$workdir" || exit 1
downloads=downloads
exp="exp/$exp_name"
train_manifest="data/train_$train_tag.jsonl"
valid_manifest=
[ -n "$dev_sets" ] && valid_manifest="data/valid_$dev_tag.jsonl"
cmvn="data/cmvn_$train_tag.pt"
tokens="data/tokens_${unit_tag}_$train_tag.json"
lm_exp="exp/$lm_exp_name"
lm_model="$lm_exp/model.pt"
greedy_dir="$exp/decode_greedy"
beam_dir="$exp/decode_beam_lm"     # beam search + the LM, with alpha/beta tuned on the first dev set
tuned_model="$exp/model_lm.pt"     # the AM package with the LM and the tuned decoding defaults
tune_set=
[ -n "$dev_sets" ] && tune_set="${dev_sets%% *}"
timing=data/timing

train_device=$device
[ "$ngpu" = 0 ] && train_device=cpu
decode_device=$train_device

# Multi-node: the other nodes take part in training only; node 0 prepares, decodes and scores.
if [ "$node_rank" != 0 ]; then
  if stage_on 4; then
    [ "$stage" -lt 4 ] || [ "$stop_stage" -gt 4 ] && log "node rank $node_rank: running stage 4 only (node 0 runs the others)"
    stage=4 stop_stage=4
  else
    die "--node-rank $node_rank: only stage 4 (training) runs on nodes other than 0"
  fi
fi

log "$corpus_title: stages $stage-$stop_stage in $workdir; train: $train_sets; dev: ${dev_sets:-none}; test: ${test_sets:-none}; exp: $exp"

# ------------------------------------------------------------------------------ OpenSLR
openslr_resource() {  # file name -> OpenSLR resource number
  case "$1" in
    train-clean-5.tar.gz|dev-clean-2.tar.gz) echo 31 ;;  # Mini LibriSpeech
    librispeech-lm-norm.txt.gz|librispeech-vocab.txt|librispeech-lexicon.txt) echo 11 ;;  # LM resources
    *) echo 12 ;;  # LibriSpeech
  esac
}

openslr_md5() {  # file name -> its MD5 from the checksum file
  local md5
  [ -f "$checksums" ] || die "--checksums $checksums: no such file"
  md5=$(awk -v f="$1" '$1 !~ /^#/ && ($2 == f || $2 == "*" f) { print $1; exit }' "$checksums")
  [ -n "$md5" ] || die "no MD5 for $1 in $checksums (add a line 'MD5  $1')"
  echo "$md5"
}

openslr_fetch() {  # FILE [EXTRACT_DIR]: resumable, MD5-checked download from the mirrors in turn
  local file=$1 resource md5 m urls=()
  resource=$(openslr_resource "$file")
  md5=$(openslr_md5 "$file")
  for m in $mirror; do
    m="${m%/}"
    m="${m%/resources/[0-9]*}"  # a mirror given as .../resources/12 means its site root
    urls+=("$m/resources/$resource/$file")
  done
  [ ${#urls[@]} -gt 0 ] || die "--mirror is empty"
  if [ -n "${2:-}" ]; then
    run asr download "${urls[@]}" --out "$downloads/$file" --md5 "$md5" --extract "$2"
  else
    run asr download "${urls[@]}" --out "$downloads/$file" --md5 "$md5"
  fi
}

subset_dir() {  # where subset $1 is, or will be once downloaded
  if [ -z "$data_root" ]; then
    echo "$downloads/LibriSpeech/$1"
  elif [ -d "$data_root/LibriSpeech/$1" ]; then
    echo "$data_root/LibriSpeech/$1"
  else
    echo "$data_root/$1"
  fi
}

# ------------------------------------------------------------------------------ stage 0
if stage_on 0; then
  begin_stage
  if [ -n "$data_root" ]; then
    missing=()
    for s in $all_sets; do [ -d "$(subset_dir "$s")" ] || missing+=("$s"); done
    [ ${#missing[@]} = 0 ] || die "stage 0: ${missing[*]} not found under --data-root $data_root" \
      "(expected $data_root/LibriSpeech/<subset> or $data_root/<subset>); leave out --data-root to download"
    log "stage 0: using the copy in $data_root, no download: skipped"
  else
    for s in $all_sets; do openslr_md5 "$s.tar.gz" > /dev/null; done  # fail before downloading anything
    for s in $all_sets; do
      archive="$s.tar.gz"
      # the marker is written by `asr download --extract` after a complete, verified unpack
      if [ -e "$downloads/.$archive.extracted" ] && [ -d "$downloads/LibriSpeech/$s" ]; then
        log "stage 0: $s already downloaded and unpacked: skipped"
        continue
      fi
      log "stage 0: downloading $archive"
      openslr_fetch "$archive" "$downloads"
      [ -d "$downloads/LibriSpeech/$s" ] || die "stage 0: $downloads/$archive holds no LibriSpeech/$s folder"
      is_true "$keep_archives" || run rm -f "$downloads/$archive"
    done
  fi
  end_stage "$timing/download.seconds"
fi

# ------------------------------------------------------------------------------ stage 1
make_union() {  # OUT SUBSET...: concatenate the subsets' manifests into OUT (atomically)
  local out=$1 inputs=() s
  shift
  for s in "$@"; do inputs+=("data/$s.jsonl"); done
  if up_to_date "$out" "${inputs[@]}"; then
    log "stage 1: $out is up to date: skipped"
  else
    run cat "${inputs[@]}" > "$out.tmp.$$"
    mv "$out.tmp.$$" "$out"
    log "stage 1: $out: $(wc -l < "$out") utterances"
  fi
}

if stage_on 1; then
  begin_stage
  mkdir -p data
  for s in $all_sets; do
    if [ -s "data/$s.jsonl" ]; then
      log "stage 1: data/$s.jsonl exists: skipped"
      continue
    fi
    src=$(subset_dir "$s")
    [ -d "$src" ] || die "stage 1: $src not found (run stage 0 first)"
    run asr prepare librispeech "$src" --out data
  done
  # shellcheck disable=SC2086
  make_union "$train_manifest" $train_sets
  # shellcheck disable=SC2086
  [ -z "$valid_manifest" ] || make_union "$valid_manifest" $dev_sets
  end_stage "$timing/prepare.seconds"
fi

# ------------------------------------------------------------------------------ stage 2
if stage_on 2; then
  begin_stage
  [ -s "$train_manifest" ] || die "stage 2: $train_manifest not found (run stage 1 first)"
  if up_to_date "$cmvn" "$train_manifest"; then
    log "stage 2: $cmvn is up to date: skipped"
  else
    # the AM's config and overrides say how features are made (features.normalize_level, n_mels)
    read -ra _override_args <<< "$overrides"  # split on blanks, no globbing of [..]
    run asr cmvn --manifest "$train_manifest" --out "$cmvn" --config "$config" \
      ${_override_args[@]+"${_override_args[@]}"}
  fi
  if up_to_date "$tokens" "$train_manifest"; then
    log "stage 2: $tokens is up to date: skipped"
  else
    run asr tokenizer --manifest "$train_manifest" --units "$units" --vocab-size "$nbpe" --out "$tokens"
  fi
  end_stage "$timing/features_$train_tag.seconds"
fi

# ------------------------------------------------------------------------------ stage 3
torchrun_launcher() {  # the torchrun command, one word a line
  if command -v torchrun > /dev/null; then echo torchrun; else printf '%s\n' python3 -m torch.distributed.run; fi
}

if stage_on 3; then
  if [ -s "$lm_model" ]; then
    # like the AM: a finished LM is kept; another --lm-config/--lm-overrides needs another --lm-exp-name
    log "stage 3: $lm_model already trained: skipped"
  else
    for f in "$train_manifest" "$tokens"; do
      [ -s "$f" ] || die "stage 3: $f not found (run stages 1-2 first)"
    done
    begin_stage
    # The LM text: the training transcripts first, then the LM corpus, so that a data.max_sentences
    # cap in the LM config (it keeps the first N sentences) never drops the in-domain transcripts
    lm_text_args=(--text "$train_manifest")
    case "$lm_corpus" in
      none)
        log "stage 3: --lm-corpus none: the LM is trained on the training transcripts only" ;;
      download)
        if [ -s "$downloads/librispeech-lm-norm.txt.gz" ]; then
          # asr download puts the file in place only after its MD5 matched
          log "stage 3: $downloads/librispeech-lm-norm.txt.gz already downloaded: skipped"
        else
          log "stage 3: downloading the LibriSpeech LM corpus (OpenSLR 11, 1.4 GB)"
          openslr_fetch librispeech-lm-norm.txt.gz
        fi
        lm_text_args+=(--text "$downloads/librispeech-lm-norm.txt.gz") ;;
      *)
        [ -s "$lm_corpus" ] || die "stage 3: --lm-corpus $lm_corpus: no such file"
        lm_text_args+=(--text "$lm_corpus") ;;
    esac
    end_stage "$timing/lm_download.seconds"
    begin_stage
    # dev perplexity on the dev sets' transcripts (the validation manifest)
    lm_args=(--config "$lm_config" "${lm_text_args[@]}" --exp "$lm_exp" --tokenizer "$tokens")
    [ -z "$valid_manifest" ] || lm_args+=(--dev "$valid_manifest")
    if [ -e "$lm_exp/checkpoints/last.pt" ]; then
      lm_args+=(--resume)
      log "stage 3: resuming the LM run in $lm_exp"
    fi
    lm_args+=("run.device=$train_device")
    read -ra _override_args <<< "$lm_overrides"  # split on blanks, no globbing of [..]
    lm_args+=(${_override_args[@]+"${_override_args[@]}"})
    if [ "$ngpu" -gt 1 ]; then  # the LM trains on this machine only, also in a multi-node run
      mapfile -t launcher < <(torchrun_launcher)
      log "stage 3: training the LM with $ngpu processes"
      run "${launcher[@]}" --standalone --nnodes 1 --nproc-per-node "$ngpu" -m asr train-lm "${lm_args[@]}"
    else
      log "stage 3: training the LM on $train_device"
      run asr train-lm "${lm_args[@]}"
    fi
    end_stage "$lm_exp/timing/train.seconds"
  fi
fi

# ------------------------------------------------------------------------------ stage 4
if stage_on 4; then
  if [ -s "$exp/model.pt" ]; then
    log "stage 4: $exp/model.pt already trained: skipped"
  else
    for f in "$train_manifest" "$cmvn" "$tokens" ${valid_manifest:+"$valid_manifest"}; do
      [ -s "$f" ] || die "stage 4: $f not found (run stages 1-2 first)"
    done
    begin_stage
    train_args=(--config "$config" --exp "$exp" --tokenizer "$tokens" --cmvn "$cmvn")
    if [ -n "${train_weights:-}" ]; then
      # a weighted mix: each training set is drawn at its share of every epoch (unlisted sets: 1)
      for s in $train_sets; do
        w=1
        for _w in $train_weights; do [ "${_w%%=*}" = "$s" ] && w=${_w#*=}; done
        train_args+=(--train "data/$s.jsonl:$w")
      done
    else
      train_args+=(--train "$train_manifest")
    fi
    [ -z "$valid_manifest" ] || train_args+=(--dev "$valid_manifest")
    if [ -e "$exp/checkpoints/last.pt" ]; then
      train_args+=(--resume)
      log "stage 4: resuming the run in $exp"
    fi
    train_args+=("run.device=$train_device")
    if [ -n "$speed_perturb" ]; then
      if is_true "$speed_perturb"; then
        train_args+=("data.speed_perturb=[0.9,1.0,1.1]")
      else
        train_args+=("data.speed_perturb=[]")
      fi
    fi
    read -ra _override_args <<< "$overrides"  # split on blanks, no globbing of [..]
    train_args+=(${_override_args[@]+"${_override_args[@]}"})
    if [ "$ngpu" -gt 1 ] || [ "$nnodes" -gt 1 ]; then
      mapfile -t launcher < <(torchrun_launcher)
      if [ "$nnodes" -gt 1 ]; then
        launcher+=(--nnodes "$nnodes" --node-rank "$node_rank" --master-addr "$master_addr"
                   --master-port "$master_port")
      else
        launcher+=(--standalone --nnodes 1)
      fi
      log "stage 4: training with $ngpu process(es) on each of $nnodes node(s)"
      run "${launcher[@]}" --nproc-per-node "$ngpu" -m asr train "${train_args[@]}"
    else
      log "stage 4: training on $train_device"
      run asr train "${train_args[@]}"
    fi
    [ "$node_rank" != 0 ] || end_stage "$exp/timing/train.seconds"
  fi
fi

# ------------------------------------------------------------------------------ stage 5
with_lm() { [ -s "$lm_model" ] && [ -n "$tune_set" ]; }  # beam search + LM is decoded and scored

decode_sets() {  # DIR MODEL [asr decode options]: decode every eval set with MODEL into DIR
  local dir=$1 model=$2 s hyp
  shift 2
  mkdir -p "$dir"
  for s in $eval_sets; do
    hyp="$dir/$s.hyp.jsonl"
    if up_to_date "$hyp" "$model" "data/$s.jsonl"; then
      log "stage 5: $hyp is up to date: skipped"
    else
      [ -s "data/$s.jsonl" ] || die "stage 5: data/$s.jsonl not found (run stage 1 first)"
      run asr decode --model "$model" --manifest "data/$s.jsonl" --out "$hyp" "$@" --device "$decode_device"
    fi
  done
}

if stage_on 5; then
  [ -s "$exp/model.pt" ] || die "stage 5: $exp/model.pt not found (run stage 4 first)"
  [ -n "$eval_sets" ] || log "stage 5: no dev or test sets to decode"
  begin_stage
  decode_sets "$greedy_dir" "$exp/model.pt" --decoder greedy
  end_stage "$exp/timing/decode.seconds"
  if [ ! -s "$lm_model" ]; then
    log "stage 5: no language model ($lm_model; stage 3 trains it): greedy decoding only"
  elif [ -z "$tune_set" ]; then
    log "stage 5: no dev set to tune the LM weight on (never a test set): greedy decoding only"
  else
    # alpha (LM weight) and beta (word bonus) are tuned on the first dev set only, never on a
    # test set; the package written carries the LM and the best values as its decoding defaults
    begin_stage
    mkdir -p "$beam_dir"
    tune_args=(--model "$exp/model.pt" --lm "$lm_model" --manifest "data/$tune_set.jsonl" --beam "$beam"
               --out "$beam_dir/tune.json" --package "$tuned_model")
    [ -z "$lm_weights" ] || tune_args+=(--lm-weights "$lm_weights")
    [ -z "$word_bonuses" ] || tune_args+=(--word-bonuses "$word_bonuses")
    # tuned again when the AM, the LM, the dev set or the search and grid (not the device) changed
    if up_to_date "$tuned_model" "$exp/model.pt" "$lm_model" "data/$tune_set.jsonl" &&
       up_to_date "$beam_dir/tune.json" "$exp/model.pt" "$lm_model" "data/$tune_set.jsonl" &&
       same_content "$beam_dir/tune.args" "${tune_args[*]}"; then
      log "stage 5: $tuned_model (LM weight and word bonus tuned on $tune_set) is up to date: skipped"
    else
      [ -s "data/$tune_set.jsonl" ] || die "stage 5: data/$tune_set.jsonl not found (run stage 1 first)"
      log "stage 5: tuning the LM weight and word bonus on $tune_set"
      run asr tune "${tune_args[@]}" --device "$decode_device" > "$beam_dir/tune.txt"
      write_if_changed "$beam_dir/tune.args" "${tune_args[*]}" || true
      log "stage 5: $(grep -m1 '^best:' "$beam_dir/tune.txt" || true) (grid: $beam_dir/tune.txt)"
    fi
    end_stage "$exp/timing/tune.seconds"
    begin_stage
    decode_sets "$beam_dir" "$tuned_model"  # beam search + LM: the package's decoding defaults
    end_stage "$exp/timing/decode_beam_lm.seconds"
  fi
fi

# ------------------------------------------------------------------------------ stage 6
stage_times() {  # LABEL=FILE ...: "--timing" and "LABEL=SECONDS" lines for every FILE that exists
  local t
  for t in "$@"; do
    if [ -s "${t#*=}" ]; then printf '%s\n' --timing "${t%%=*}=$(cat "${t#*=}")"; fi
  done
}

score_decoding() {  # DIR MODEL TITLE DECODING [--timing L=S ...]: score DIR's hyps, write DIR/RESULTS.md
  local dir=$1 model=$2 title=$3 decoding=$4 s hyp json
  shift 4
  local score_args=() score_files=() results_args
  for s in $eval_sets; do
    hyp="$dir/$s.hyp.jsonl"
    json="$dir/$s.score.json"
    [ -s "$hyp" ] || die "stage 6: $hyp not found (run stage 5 first)"
    if up_to_date "$json" "$hyp" "data/$s.jsonl"; then
      log "stage 6: $json is up to date: skipped"
    else
      run asr score "data/$s.jsonl" "$hyp" --json "$json" --worst 20 > "$dir/$s.score.txt"
      log "stage 6: $s, $(basename "$dir"): $(grep -m1 '^WER' "$dir/$s.score.txt" || true) (details: $dir/$s.score.txt)"
    fi
    score_args+=(--score "$s=$json")
    score_files+=("$json")
  done
  results_args=(--out "$dir/RESULTS.md" --title "$title" --model "$model" "${score_args[@]}"
                --decoding "$decoding" "$@" --command "$command_line")
  # RESULTS.md is rewritten when a score changed or anything it reports (sets, timings, command) did
  if up_to_date "$dir/RESULTS.md" "${score_files[@]}" "$model" &&
     same_content "$dir/results.args" "${results_args[*]}"; then
    log "stage 6: $dir/RESULTS.md is up to date: skipped"
  else
    run asr results "${results_args[@]}" > /dev/null
    write_if_changed "$dir/results.args" "${results_args[*]}" || true
  fi
}

describe_beam_lm() {  # one line: the search, the LM and its dev perplexity, the tuned alpha and beta
  python3 - "$lm_model" "$beam_dir/tune.json" "$tune_set" <<'PY'
import json, sys
import torch
lm = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
with open(sys.argv[2], encoding="utf-8") as f:
    best = json.load(f)["best"]
info, cfg = lm.get("info", {}), lm.get("model_config", {})
scored = [r for r in info.get("history", []) if "dev_ppl" in r]
if info.get("kind") == "best" and scored:  # model.pt holds the epoch with the lowest dev loss
    scored = [min(scored, key=lambda r: r["dev_loss"])]
ppl = ("dev perplexity %.2f per token, %.1f per word after epoch %d"
       % (scored[-1]["dev_ppl"], scored[-1].get("dev_word_ppl", float("nan")), scored[-1]["epoch"])
       if scored else "no dev perplexity")
print("CTC prefix beam search, beam %d, shallow fusion of the LSTM LM %s (%d x %d; %s); "
      "LM weight alpha = %g, word bonus beta = %g, tuned on %s"
      % (best["beam_size"], sys.argv[1], cfg.get("num_layers", 0), cfg.get("hidden_size", 0), ppl,
         best["lm_weight"], best["word_bonus"], sys.argv[3]))
PY
}

if stage_on 6; then
  begin_stage
  [ -n "$eval_sets" ] || die "stage 6: no dev or test sets to score"
  common_times=("download=$timing/download.seconds" "prepare=$timing/prepare.seconds"
                "cmvn+tokens=$timing/features_$train_tag.seconds")
  mapfile -t timing_args < <(stage_times "${common_times[@]}" "train=$exp/timing/train.seconds" \
                                         "decode=$exp/timing/decode.seconds")
  score_decoding "$greedy_dir" "$exp/model.pt" "Greedy CTC, no language model" \
    "greedy CTC, no language model (${units} units)" ${timing_args[@]+"${timing_args[@]}"}
  parts=("$greedy_dir/RESULTS.md")
  if with_lm; then
    for f in "$tuned_model" "$beam_dir/tune.json"; do
      [ -s "$f" ] || die "stage 6: $f not found (run stage 5 first: it tunes the LM weight)"
    done
    if ! up_to_date "$beam_dir/decoding.txt" "$lm_model" "$beam_dir/tune.json"; then
      describe_beam_lm > "$beam_dir/decoding.txt.tmp.$$"
      mv "$beam_dir/decoding.txt.tmp.$$" "$beam_dir/decoding.txt"
    fi
    mapfile -t timing_args < <(stage_times "${common_times[@]}" "lm_download=$timing/lm_download.seconds" \
      "lm_train=$lm_exp/timing/train.seconds" "train=$exp/timing/train.seconds" \
      "tune=$exp/timing/tune.seconds" "decode=$exp/timing/decode_beam_lm.seconds")
    score_decoding "$beam_dir" "$tuned_model" "Beam search + LSTM LM" "$(cat "$beam_dir/decoding.txt")" \
      ${timing_args[@]+"${timing_args[@]}"}
    parts+=("$beam_dir/RESULTS.md")
  else
    log "stage 6: no beam search + LM decoding (no LM, or no dev set to tune it on): greedy results only"
  fi
  # The experiment's RESULTS.md: one section per decoding
  if up_to_date "$exp/RESULTS.md" "${parts[@]}" && same_content "$exp/results.parts" "${parts[*]}"; then
    log "stage 6: $exp/RESULTS.md is up to date: skipped"
  else
    worked=1
    nest_sections "$exp/RESULTS.md" "# $corpus_title: $exp_name" "${parts[@]}"
    write_if_changed "$exp/results.parts" "${parts[*]}" || true
    log "stage 6: wrote $exp/RESULTS.md"
  fi
  # The recipe's RESULTS.md: every experiment of this workdir, one section each
  sections=()
  for f in exp/*/RESULTS.md; do [ -s "$f" ] && sections+=("$f"); done
  if up_to_date "$results" "${sections[@]}"; then
    log "stage 6: $results is up to date: skipped"
  else
    worked=1
    nest_sections "$results" "# $corpus_title results (recipes/$recipe_name)

Written by \`recipes/$recipe_name/run.sh\` stage 6: one section per experiment (exp/*/RESULTS.md),
each with a table per decoding: greedy CTC, and beam search + LSTM LM when stage 3 trained one.
${results_note:-The published figures to compare with are in recipes/librispeech/README.md.}" "${sections[@]}"
    log "stage 6: wrote $results"
  fi
  end_stage "$exp/timing/score.seconds"
fi
