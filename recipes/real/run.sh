#!/usr/bin/env bash
# Real English speech: download public corpora, arrange them into one layout, write manifests.
# The corpora, their layout, splits and sizes: recipes/real/README.md.
#
# Usage: recipes/real/run.sh [options]
#   recipes/real/run.sh --data ../shared/data/real        # a local copy in the layout: no download
#   recipes/real/run.sh --commonvoice ~/cv-corpus-6.1-2020-12-11/en   # download the rest, add CV
#
# Stages (each skips work already done and redoes work left half-done):
#   1  download each corpus from its public source (resumable; MD5-checked where --md5-file
#      lists one), unpack it into downloads/<corpus>/ and arrange it into DATA in the shared
#      layout (audio linked, never re-encoded; a .txt transcript beside each file).
#      Common Voice needs an account: it is arranged from --commonvoice DIR when given.
#      librispeech_pseudo (Whisper transcripts made for the shared copy) has no public source.
#      With --data DIR, nothing is downloaded: DIR is used as DATA.
#   2  manifests: asr prepare real DATA --out data/ -> data/<corpus>_<split>.jsonl
#
# Options [default]:
#   --stage N              first stage to run [1]
#   --stop-stage N         last stage to run [2]
#   --workdir DIR          where downloads/, corpora/ (DATA when downloading) and data/ go
#                          [this recipe's folder]
#   --data DIR             a local copy in the shared layout, e.g. ../shared/data/real (skips stage 1)
#   --corpora "..."        corpora to download [speechocean762 ljspeech an4 wakewords]
#   --commonvoice DIR      an extracted Common Voice release (its language folder with
#                          validated.tsv and clips/, or a folder above it)
#   --md5-file FILE        "MD5  ARCHIVE" lines [recipes/real/checksums.md5]; an archive it does
#                          not list is downloaded unverified and its MD5 is printed
#   --speechocean762-url "URL ..."  where to get speechocean762.tar.gz, mirrors in turn
#                          [https://www.openslr.org/resources/101/speechocean762.tar.gz
#                           https://us.openslr.org/resources/101/speechocean762.tar.gz]
#   --ljspeech-url "URL ..."   [https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2]
#   --an4-url "URL ..."        [http://www.speech.cs.cmu.edu/databases/an4/an4_sphere.tar.gz]
#   --wakewords-url "URL ..."  [https://github.com/Picovoice/wake-word-benchmark/archive/refs/heads/master.zip]
#   The URL options can also be set by the environment variables ASR_REAL_<CORPUS>_URL
#   (e.g. ASR_REAL_LJSPEECH_URL).
set -euo pipefail

recipe_dir="$(cd "$(dirname "$0")" && pwd)"
repo_dir="$(cd "$recipe_dir/../.." && pwd)"

stage=1
stop_stage=2
workdir="$recipe_dir"
data=
corpora="speechocean762 ljspeech an4 wakewords"
commonvoice=
md5_file="$recipe_dir/checksums.md5"
speechocean762_url="${ASR_REAL_SPEECHOCEAN762_URL:-https://www.openslr.org/resources/101/speechocean762.tar.gz https://us.openslr.org/resources/101/speechocean762.tar.gz}"
ljspeech_url="${ASR_REAL_LJSPEECH_URL:-https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2}"
an4_url="${ASR_REAL_AN4_URL:-http://www.speech.cs.cmu.edu/databases/an4/an4_sphere.tar.gz}"
wakewords_url="${ASR_REAL_WAKEWORDS_URL:-https://github.com/Picovoice/wake-word-benchmark/archive/refs/heads/master.zip}"
# shellcheck source=SCRIPTDIR/../lib/parse_options.sh
. "$repo_dir/recipes/lib/parse_options.sh"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "$0: error: $*" >&2; exit 1; }
stage_on() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
run() { echo "[$(date +%H:%M:%S)] + $*" >&2; "$@"; }  # log a command that does work, run it

{ [[ "$stage" =~ ^[0-9]+$ ]] && [[ "$stop_stage" =~ ^[0-9]+$ ]]; } || die "--stage and --stop-stage take numbers"
for c in $corpora; do
  case "$c" in speechocean762|ljspeech|an4|wakewords) ;;
    *) die "--corpora: '$c' cannot be downloaded (choose from speechocean762 ljspeech an4 wakewords)" ;;
  esac
done
# paths given relative to where the recipe was started from stay valid after the cd below
if [ -n "$data" ]; then
  [ -d "$data" ] || die "--data $data: no such folder"
  data="$(realpath "$data")"
fi
[ -z "$commonvoice" ] || { [ -d "$commonvoice" ] || die "--commonvoice $commonvoice: no such folder"; commonvoice="$(realpath "$commonvoice")"; }
md5_file="$(realpath -m "$md5_file")"
mkdir -p "$workdir"
cd "$workdir"
downloaded=false
[ -n "$data" ] || { data="$PWD/corpora"; downloaded=true; }

archive_md5() {  # ARCHIVE: its MD5 from --md5-file, empty when not listed
  [ -f "$md5_file" ] || die "--md5-file $md5_file: no such file"
  awk -v f="$1" '$1 !~ /^#/ && ($2 == f || $2 == "*" f) { print $1; exit }' "$md5_file"
}

# ------------------------------------------------------------------------------ stage 1
if stage_on 1; then
  if [ "$downloaded" = false ]; then
    log "stage 1: using the copy in $data, no download: skipped"
  else
    for c in $corpora; do
      if [ -e "$data/.$c.arranged" ]; then
        log "stage 1: $c already in $data/$c: skipped"
        continue
      fi
      url_var="${c}_url"
      read -ra urls <<< "${!url_var}"
      [ ${#urls[@]} -gt 0 ] || die "--$c-url is empty"
      archive="${urls[0]##*/}"
      [ "$c" = wakewords ] && archive="wake-word-benchmark-master.zip"  # GitHub names it master.zip
      md5=$(archive_md5 "$archive")
      md5_args=()
      [ -n "$md5" ] && md5_args=(--md5 "$md5")
      log "stage 1: $c: downloading $archive"
      run asr download "${urls[@]}" --out "downloads/$archive" ${md5_args[@]+"${md5_args[@]}"} --extract "downloads/$c"
      # OpenSLR, keithito.com, CMU and GitHub publish no checksums we could check offline: an
      # archive --md5-file does not list is used unverified, and its MD5 is shown for the file
      [ -n "$md5" ] || log "stage 1: $archive is not in $md5_file: NOT verified; its MD5 is" \
        "$(md5sum "downloads/$archive" | cut -d' ' -f1) (add it there to check later downloads)"
      run asr prepare "$c" "downloads/$c" --arrange "$data"
    done
    if [ -z "$commonvoice" ]; then
      log "stage 1: Common Voice is not downloaded (it needs an account at commonvoice.mozilla.org):" \
        "download an English release, extract it and pass --commonvoice DIR"
    elif [ -e "$data/.commonvoice.arranged" ]; then
      log "stage 1: commonvoice already in $data/commonvoice: skipped"
    else
      run asr prepare commonvoice "$commonvoice" --arrange "$data"
    fi
    log "stage 1: librispeech_pseudo has no public source (Whisper transcripts made for the shared copy): use --data for it"
  fi
fi

# ------------------------------------------------------------------------------ stage 2
if stage_on 2; then
  [ -d "$data" ] || die "stage 2: $data not found (run stage 1 first, or give --data DIR)"
  # the manifests are current when made from this DATA after its last arrange
  stamp=data/.prepared
  current=true
  { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$data" ]; } || current=false
  for m in "$data"/.*.arranged; do
    [ -e "$m" ] && [ "$m" -nt "$stamp" ] && current=false
  done
  if [ "$current" = true ]; then
    log "stage 2: manifests in data/ are up to date: skipped"
  else
    run asr prepare real "$data" --out data
    echo "$data" > "$stamp.tmp.$$" && mv "$stamp.tmp.$$" "$stamp"
  fi
fi
