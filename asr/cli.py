"""The `asr` command. Thin: parses arguments and calls the library.

User errors (AsrError) end with one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from asr import __version__
from asr.errors import AsrError
from asr.option_ranges import check_options, command_parser
from asr.output import FORMATS as OUTPUT_FORMATS
from asr.plural import plural
from asr.threads import INFERENCE_THREADS, prefer_passive_waiting, set_threads

log = logging.getLogger("asr")

DESCRIPTION = """\
asr: train and run BiLSTM-CTC speech recognizers.

Typical flow:
  asr prepare fsdd recordings/ --out data/        # corpus -> JSONL manifests
  asr train --config conf/am/digits.yaml --train data/train.jsonl --dev data/dev.jsonl --exp exp/digits
  asr decode --model exp/digits/model.pt --manifest data/test.jsonl --out exp/digits/test.hyp.jsonl
  asr score data/test.jsonl exp/digits/test.hyp.jsonl
  asr transcribe a.wav b.flac --model exp/digits/model.pt

Run `asr COMMAND --help` for the options of each command.
"""


def _add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="turn a corpus into JSONL manifests",
                       description="Import a corpus into JSONL manifests (one utterance a line).")
    kinds = p.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    specs = {
        "librispeech": "LibriSpeech layout: SRC/LibriSpeech/<subset>/<spk>/<chapter>/*.flac + .trans.txt; "
                       "writes OUT/<subset>.jsonl for every subset found",
        "fsdd": "Free Spoken Digit Dataset recordings folder; writes OUT/{train,dev,test}.jsonl "
                "(index 0-4 test, 5-49 train, a few train files per speaker held out as dev)",
        "folder": "a folder of audio files, each with a same-named .txt transcript; writes OUT/<name>.jsonl",
        "kaldi": "a Kaldi data dir (wav.scp, text, optional segments and utt2spk); writes OUT/<name>.jsonl",
    }
    for name, help_text in specs.items():
        q = kinds.add_parser(name, help=help_text, description=help_text)
        q.add_argument("src", type=Path, help="corpus folder")
        q.add_argument("--out", type=Path, required=True, help="folder for the manifests")
        if name == "fsdd":
            q.add_argument("--dev-per-speaker", type=int, default=20,
                           help="train files per speaker held out as dev (default: 20)")
        if name in ("folder", "kaldi"):
            q.add_argument("--name", help="manifest name (default: the source folder's name)")
    # real speech corpora as their public downloads unpack (asr/data/real_corpora.py)
    raw = {
        "speechocean762": "speechocean762 (OpenSLR 101): Kaldi data dirs train/ and test/ + WAVE/; writes "
                          "OUT/speechocean762_{train,test}.jsonl (its own split, speakers disjoint)",
        "ljspeech": "LJ Speech 1.1 (LJSpeech-1.1.tar.bz2): metadata.csv (ID|text|normalized text) + wavs/; "
                    "speaker LJ; writes OUT/ljspeech_{train,test}.jsonl (test: the last 15%% of the clip ids "
                    "in sorted order)",
        "commonvoice": "a Common Voice release's language folder: validated.tsv + clips/*.mp3; speaker = the "
                       "first 12 characters of client_id; writes OUT/commonvoice_{train,test}.jsonl (test: about "
                       "15%% of the speakers, chosen by a fixed hash of the speaker id)",
        "an4": "CMU AN4 (an4_sphere.tar.gz): etc/an4_{train,test}.{transcription,fileids} + wav/**/*.sph; "
               "writes OUT/an4_{train,test}.jsonl (AN4's own split)",
        "wakewords": "Picovoice wake-word benchmark (its GitHub archive): audio/<keyword>/*.flac, text = the "
                     "keyword, no speakers; writes OUT/wakewords_train.jsonl",
    }
    for name, help_text in raw.items():
        # help strings are %-formatted by argparse, descriptions are not
        q = kinds.add_parser(name, help=help_text, description=help_text.replace("%%", "%") + ". SRC may "
                             "also be the folder the archive was unpacked into. Unreadable audio is skipped "
                             "and counted.")
        q.add_argument("src", type=Path, help="the unpacked corpus")
        q.add_argument("--out", type=Path, help="folder for the manifests")
        q.add_argument("--arrange", type=Path, metavar="DATA",
                       help=f"also (or only, without --out) arrange the corpus into DATA/{name}/ in the layout "
                            "`asr prepare real` reads: audio hard-linked (else symlinked, else copied), never "
                            "re-encoded, its transcript in a .txt beside it; a finished arrange is skipped, a "
                            "half-done one redone")
    help_text = ("real speech in one shared layout (e.g. ../shared/data/real, or what --arrange wrote): any of "
                 "DATA/{speechocean762,ljspeech,commonvoice,an4,wakewords,librispeech_pseudo}; writes "
                 "OUT/<corpus>_<split>.jsonl, splits as for the single corpora (wakewords, librispeech_pseudo: "
                 "train only)")
    q = kinds.add_parser("real", help=help_text, description=help_text)
    q.add_argument("src", type=Path, metavar="DATA", help="folder holding the corpus folders")
    q.add_argument("--out", type=Path, required=True, help="folder for the manifests")


def _shipped_glob(kind: str) -> str:
    """Where this installation's configs of a kind are: conf/am/*.yaml from a checkout's top."""
    from asr.config import shipped_config_dir

    folder = shipped_config_dir()
    if folder is None:
        return "none in this installation"
    return f"{'conf' if folder == Path.cwd() / 'conf' else folder}/{kind}/*.yaml"


def _add_config_option(p, kind: str) -> None:
    from asr.config import shipped_configs

    names = ", ".join(shipped_configs(kind)) or "none in this installation"
    p.add_argument("--config", metavar="FILE|NAME",
                   help=f"YAML config: a file, or the name of a config shipped with asr ({names}; "
                        f"also {kind}/NAME or conf/{kind}/NAME.yaml) (default: built-in defaults)")


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train an acoustic model",
        description="Train a BiLSTM-CTC acoustic model. Writes checkpoints, train.log, tensorboard "
                    "scalars and finally EXP/model.pt. Multi-GPU: torchrun --nproc-per-node N -m asr train ...",
        epilog="Overrides: any config field as section.key=value, e.g. model.num_layers=3 optim.lr=5e-4 "
               f"run.epochs=10. Every field is in the shipped configs: {_shipped_glob('am')}.")
    _add_config_option(p, "am")
    p.add_argument("--train", action="append", metavar="MANIFEST[:WEIGHT]",
                   help="training manifest (JSONL); repeat it to train on a mix of corpora, each with a "
                        "weight: its share of every epoch's utterances (default 1), e.g. --train a.jsonl:3 "
                        "--train b.jsonl:0.1 (default: data.train of the config)")
    p.add_argument("--dev", help="dev manifest: loss and greedy WER after every epoch")
    p.add_argument("--exp", required=True, help="experiment folder")
    p.add_argument("--resume", action="store_true", help="continue the run in EXP from its last checkpoint")
    p.add_argument("--tokenizer", help="tokenizer file from `asr tokenizer` (default: characters)")
    p.add_argument("--cmvn", help="CMVN statistics from `asr cmvn` (default: computed from --train)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")


def _add_cmvn(sub) -> None:
    p = sub.add_parser("cmvn", help="global CMVN statistics of a training set",
                       description="Mean and standard deviation of the log-mel features over (a random "
                                   "subset of) a manifest, for `asr train --cmvn`.")
    p.add_argument("--manifest", required=True, help="training manifest")
    p.add_argument("--out", required=True, help="statistics file to write (e.g. data/cmvn.pt)")
    p.add_argument("--max-utterances", type=int, default=2000, help="random subset size (default: 2000)")
    p.add_argument("--num-workers", type=int, default=2, help="audio loading processes (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random subset (default: 0)")
    p.add_argument("--config", help="the acoustic model's training config (name or YAML file): its features "
                                    "section says how features are made (default: the defaults, level "
                                    "normalization on); give the one asr train gets")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides, as asr train's (only features.* matter here)")


def _add_tokenizer(sub) -> None:
    p = sub.add_parser("tokenizer", help="make the token set: characters or sentencepiece subwords",
                       description="Write a tokenizer file for `asr train --tokenizer`: characters "
                                   "(blank, space, apostrophe, A-Z) or sentencepiece BPE/unigram units "
                                   "trained on the transcripts (plus optional extra text).")
    p.add_argument("--manifest", required=True, help="training manifest (its transcripts)")
    p.add_argument("--text", action="append", default=[],
                   help="extra normalized text, one sentence a line (.txt or .txt.gz; repeatable)")
    p.add_argument("--units", choices=["char", "bpe", "unigram"], default="char", help="token type")
    p.add_argument("--vocab-size", type=int, default=500, help="sentencepiece vocabulary (default: 500)")
    p.add_argument("--out", required=True, help="tokenizer file to write (JSON)")


def _add_train_lm(sub) -> None:
    p = sub.add_parser(
        "train-lm", help="train an LSTM language model",
        description="Train an LSTM language model over the acoustic model's tokens (characters by "
                    "default; give the AM's --tokenizer or --am-model for sentencepiece units). Reports dev "
                    "perplexity per token and per word; writes EXP/model.pt. Same machinery as `asr train`: "
                    "checkpoints, --resume, AMP, torchrun.",
        epilog="Overrides: section.key=value, e.g. model.hidden_size=512 run.epochs=5. Every field is in the "
               f"shipped configs: {_shipped_glob('lm')}.")
    _add_config_option(p, "lm")
    p.add_argument("--text", action="append", required=True,
                   help="training text, one sentence a line (.txt or .txt.gz; repeatable)")
    p.add_argument("--dev", help="dev text: perplexity after every epoch")
    p.add_argument("--exp", required=True, help="experiment folder")
    p.add_argument("--resume", action="store_true", help="continue the run in EXP from its last checkpoint")
    tokens = p.add_mutually_exclusive_group()
    tokens.add_argument("--tokenizer", help="tokenizer file from `asr tokenizer`")
    tokens.add_argument("--am-model", help="take the tokenizer of this acoustic model package")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")


def _add_decoding_options(p) -> None:
    g = p.add_argument_group("decoding (defaults: those stored in the model package, else greedy)")
    g.add_argument("--decoder", choices=["greedy", "beam"], help="greedy CTC or CTC prefix beam search")
    g.add_argument("--beam", dest="beam_size", type=int, help="beam size (default: 10)")
    g.add_argument("--nbest", type=int, help="hypotheses to write per utterance (default: 1)")
    g.add_argument("--lm", help="LSTM language model from `asr train-lm` (default: the package's, if any)")
    g.add_argument("--lm-weight", type=float, help="alpha: weight of log P_lm (default: 0)")
    g.add_argument("--word-bonus", type=float, help="beta: bonus per word (default: 0)")
    g.add_argument("--bonus-unit", choices=["word", "token"], help="what --word-bonus counts (default: word)")
    g.add_argument("--rescore", action="store_const", const=True,
                   help="apply the LM by rescoring the N-best list of a search without it (instead of "
                        "shallow fusion inside the search)")
    g.add_argument("--token-top-k", type=int,
                   help="expand at most the k most probable tokens per frame (default: 8; 0: no limit)")
    g.add_argument("--token-min-logprob", type=float,
                   help="expand only tokens with at least this log-prob (default: -5, as pyctcdecode; "
                        "--token-min-logprob=-inf: every token)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=INFERENCE_THREADS,
                   help="CPU threads for torch (default: 1: decoding gains nothing from more, and more threads "
                        "lose badly next to other jobs; 0: one per core)")
    p.add_argument("--batch-frames", type=int, default=60000,
                   help="padded 10 ms frames per decoding batch (default: 60000 = 10 minutes)")


def _add_decode(sub) -> None:
    p = sub.add_parser("decode", help="decode a manifest into hypotheses",
                       description="Decode every utterance of a manifest; writes hypotheses JSONL "
                                   "{id, text} in manifest order. Unreadable files are reported, skipped "
                                   "and counted.",
                       epilog="Restarting: hypotheses go to OUT.partial as they are made, a line at a time; "
                              "OUT appears (atomically) only when every utterance is done, so it is never "
                              "half written. If the job is killed, run the same command again: it keeps "
                              "the complete lines of OUT.partial (a line cut off by the kill is dropped), "
                              "decodes only the utterances missing there, and each utterance is in OUT once. "
                              "OUT.partial from another model, LM, decoding options or manifest is "
                              "discarded; --overwrite discards it always. Skipped (unreadable) files "
                              "are tried again on a restart.")
    p.add_argument("--model", required=True, help="model package (EXP/model.pt)")
    p.add_argument("--manifest", required=True, help="manifest to decode")
    p.add_argument("--out", required=True, help="hypotheses JSONL to write")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh, ignoring what a killed run left in OUT.partial")
    p.add_argument("--num-workers", type=int, default=2, help="audio loading processes (default: 2)")
    p.add_argument("--word-timestamps", action="store_true",
                   help="add each utterance's words with start/end seconds and a confidence: "
                        "\"words\": [{word, start, end, confidence}]")
    _add_decoding_options(p)


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _add_tune(sub) -> None:
    p = sub.add_parser(
        "tune", help="grid-search LM weight and word bonus on a dev set",
        description="Decode a DEV manifest with beam search + LM for every (LM weight, word bonus) pair "
                    "and report WER; the acoustic model runs once. Tune on dev data, never on test. "
                    "With --package, writes a model package that carries the LM and the best values as "
                    "its decoding defaults, so `asr transcribe --model` uses them without flags.")
    p.add_argument("--model", required=True, help="acoustic model package")
    p.add_argument("--manifest", required=True, help="DEV manifest with transcripts")
    p.add_argument("--lm-weights", type=_floats, default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7],
                   help="comma-separated alphas (default: 0,0.1,0.2,0.3,0.4,0.5,0.7)")
    p.add_argument("--word-bonuses", type=_floats, default=[0.0, 0.5, 1.0, 1.5, 2.0],
                   help="comma-separated betas (default: 0,0.5,1,1.5,2)")
    p.add_argument("--out", help="write the best values and the grid as JSON here")
    p.add_argument("--package", help="write a model package with the LM and the best values here")
    p.add_argument("--num-workers", type=int, default=2, help="audio loading processes (default: 2)")
    _add_decoding_options(p)


def _add_score(sub) -> None:
    p = sub.add_parser("score", help="WER/CER of hypotheses against references",
                       description="Compare hypotheses with references by id: WER, CER, substitutions, "
                                   "deletions, insertions and the worst utterances with alignments. Both "
                                   "sides are normalized as `asr prepare` normalizes transcripts (upper case, "
                                   "punctuation dropped, numbers spelled out) unless --no-normalize.")
    p.add_argument("ref", help="references: a manifest, JSONL with id/text, or a Kaldi text file (utt-id words...)")
    p.add_argument("hyp", help="hypotheses: JSONL with id/text (asr decode) or a Kaldi text file")
    p.add_argument("--no-normalize", dest="normalize", action="store_false",
                   help="compare the texts exactly as given (only whitespace is ignored)")
    p.add_argument("--worst", type=int, default=10, help="how many worst utterances to show (default: 10)")
    p.add_argument("--json", dest="json_out", help="also write the summary as JSON to this file")


def _add_transcribe(sub) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files",
                       description="Transcribe audio files (wav, flac, ogg, mp3; any sample rate; - reads "
                                   "one file from standard input). Prints one line per file, PATH<TAB>TEXT, "
                                   "whatever its length; --format json/srt/vtt/tsv give segments, word "
                                   "timestamps and confidences. A file that cannot be read is reported on "
                                   "stderr; the others are still transcribed, and the exit status is 1.",
                       epilog="Formats: txt: PATH<TAB>TEXT on stdout (a file in --output-dir: one line per "
                              "segment); json: one line per file, {file, text, duration, segments: [{start, end, "
                              "text, words: [{word, start, end, confidence}]}]}, times in seconds, confidence: "
                              "the mean of the word's letters' peak posteriors; srt, vtt: subtitles cut at "
                              "--max-line-width/--max-line-count and at pauses; tsv: start<TAB>end<TAB>text "
                              "per segment in milliseconds. srt, vtt and tsv print one file's document, so "
                              "several files need --output-dir. Word times come from a CTC forced alignment "
                              "of the result, for greedy and beam search alike.")
    p.add_argument("files", nargs="+", help="audio files (- for standard input)")
    p.add_argument("--model", help="model package (EXP/model.pt; default: the model shipped in asr/pretrained)")
    p.add_argument("--format", choices=[*OUTPUT_FORMATS, "all"], default="txt",
                   help="output format (default: txt; all: every format, needs --output-dir)")
    p.add_argument("--output-dir", "-o", metavar="DIR",
                   help="write one file per input and format here, named like the input (a.wav -> DIR/a.srt; "
                        "standard input -> DIR/stdin.srt), instead of printing; prints the paths written")
    p.add_argument("--max-line-width", type=int, default=42,
                   help="srt/vtt: characters a subtitle line (default: 42)")
    p.add_argument("--max-line-count", type=int, default=2, help="srt/vtt: lines a subtitle (default: 2)")
    p.add_argument("--segment-over", type=float, default=60.0, metavar="SECONDS",
                   help="files longer than this are read block by block and cut into segments at pauses "
                        "by the streaming recognizer (bounded memory, a progress bar over audio seconds); "
                        "the output layout is the same (default: 60; 0: never)")
    _add_streaming_options(p)
    _add_decoding_options(p)


def _add_streaming_options(p) -> None:
    g = p.add_argument_group("streaming (chunked BiLSTM; see asr stream --help)")
    g.add_argument("--chunk-ms", type=float, default=240.0, help="chunk length (default: 240 ms)")
    g.add_argument("--right-context-ms", type=float, default=120.0,
                   help="right context seen with each chunk (default: 120 ms)")
    g.add_argument("--endpoint-ms", type=float, default=800.0,
                   help="a pause (blank output) this long ends a segment (default: 800 ms; 0: never)")


def _add_stream(sub) -> None:
    p = sub.add_parser(
        "stream", help="recognize an audio file (or the microphone) as a stream, with partial results",
        description="Streaming recognition with the same model as asr transcribe, run chunk by chunk: "
                    "audio is fed in real time (or --as-fast-as-possible), partial results are updated in "
                    "place on a terminal, and each segment closed by a pause is printed with its start and "
                    "end times: [START - END] TEXT (or JSON lines with --format json). Latency is about "
                    "--chunk-ms + --right-context-ms + 25 ms.")
    p.add_argument("file", nargs="?", help="audio file (wav, flac, ogg, mp3; any sample rate)")
    p.add_argument("--mic", action="store_true",
                   help="read the default microphone instead of a file (needs: pip install 'asr[mic]')")
    p.add_argument("--model", help="model package (EXP/model.pt; default: the model shipped in asr/pretrained)")
    p.add_argument("--as-fast-as-possible", action="store_true",
                   help="feed the file as fast as it is recognized instead of in real time")
    p.add_argument("--format", choices=["txt", "json"], default="txt", help="output format (default: txt)")
    _add_streaming_options(p)
    _add_decoding_options(p)


def _add_serve(sub) -> None:
    p = sub.add_parser(
        "serve", help="serve streaming recognition over WebSocket and HTTP, with a live microphone page",
        description="One process, one loaded model, many streams. Open http://HOST:PORT/ in a browser to "
                    "transcribe the microphone live or a file. WebSocket /stream: send {\"config\": "
                    "{\"sample_rate\": 16000}} (optional), then binary PCM16 (or float32) frames, then "
                    "{\"eof\": true}; the server answers {\"partial\": TEXT} as the text changes and "
                    "{\"final\": TEXT, \"start\", \"end\", \"words\", \"last\"} at each pause and at the "
                    "end. POST /transcribe with an audio file as the body (or a multipart form) returns the "
                    "JSON of asr transcribe --format json; GET /health says it is up. Needs: pip install "
                    "'asr[serve]'. Stops cleanly on Ctrl-C or SIGTERM.",
        epilog="Streams with audio waiting are decoded together on one worker thread, their chunks in one "
               "batch through the acoustic model; posted files on a second thread. The streaming and decoding "
               "options below are the defaults of every stream (a client may set chunk_ms, right_context_ms, "
               "endpoint_ms, sample_rate, format and words in its config). See README, Serving.")
    p.add_argument("--model", help="model package (EXP/model.pt; default: the model shipped in asr/pretrained)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=2700, help="port (default: 2700, as Vosk's server)")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes sharing the port, each with its own model and decoding thread: one "
                        "decodes about one core's worth of streams (default: 1; 0: one per core)")
    g = p.add_argument_group("limits")
    g.add_argument("--max-sessions", type=int, default=32,
                   help="streams at once per worker process; one more is closed with 1013 'try again later' "
                        "(default: 32)")
    g.add_argument("--max-message-kb", type=int, default=1024,
                   help="largest WebSocket message in KiB; a larger one closes the stream with 1009 (default: 1024)")
    g.add_argument("--idle-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="close a stream whose client sends nothing for this long (default: 30)")
    g.add_argument("--max-stream-seconds", type=float, default=3600.0,
                   help="audio one stream may send (default: 3600)")
    g.add_argument("--max-upload-mb", type=int, default=200,
                   help="largest file POST /transcribe takes, in MiB (default: 200)")
    g.add_argument("--segment-over", type=float, default=60.0, metavar="SECONDS",
                   help="POST /transcribe: files longer than this are cut into segments at pauses, as in "
                        "asr transcribe (default: 60; 0: never)")
    _add_streaming_options(p)
    _add_decoding_options(p)


def _add_download(sub) -> None:
    p = sub.add_parser("download", help="download (and unpack) a corpus archive",
                       description="Resumable download with MD5 check; mirrors are tried in turn. "
                                   "Skips the work when the file (or the unpacked folder) is already there.")
    p.add_argument("urls", nargs="+", metavar="URL", help="archive URL, then mirrors of it")
    p.add_argument("--out", type=Path, required=True, help="file to write")
    p.add_argument("--md5", help="expected MD5 of the file")
    p.add_argument("--extract", type=Path, metavar="DIR", help="also unpack the archive into DIR")


def _range(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(",")
    try:
        return (float(low), float(high)) if sep else (float(low), float(low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}") from None


def _names(text: str | None) -> list[str] | None:
    """A comma-separated list; None when not given."""
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def _add_synth(sub) -> None:
    p = sub.add_parser(
        "synth", help="make a synthetic speech corpus from text",
        description="Speak sentences (one a line, .txt or .txt.gz) with many voices (espeak-ng accents x "
                    "variants, flite, festival: those installed) and augment them (speed, room reverberation, "
                    "noise, telephone band). Writes one split in LibriSpeech's layout, OUT/SPLIT/SPEAKER/CHAPTER/"
                    "*.flac + .trans.txt, and the manifest OUT/SPLIT.jsonl. Each split has its own voices: dev "
                    "and test voices never occur in train. Deterministic for a seed; a rerun makes only the "
                    "missing files, and a larger --num/--hours extends the split.",
        epilog="Example: asr synth --text ../shared/data/text/lm_train.txt.gz --out corpus --split train --hours 10")
    p.add_argument("--text", type=Path, required=True, help="sentences, one a line (.txt or .txt.gz)")
    p.add_argument("--out", type=Path, required=True, help="corpus folder")
    p.add_argument("--split", choices=["train", "dev", "test"], required=True, help="which split to make")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--num", type=int, help="utterances to make")
    size.add_argument("--hours", type=float, help="hours of speech to make (estimated from the text length)")
    p.add_argument("--min-words", type=int, default=4, help="shortest sentence, in words (default: 4)")
    p.add_argument("--max-words", type=int, default=24, help="longest sentence, in words (default: 24)")
    p.add_argument("--skip", type=int, default=0, help="ignore the first N lines of the text")
    p.add_argument("--stop", type=int, help="ignore the lines from number N on")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    p.add_argument("--families", help="comma-separated engines to use: espeak,flite,festival,kokoro "
                                      "(default: all installed)")
    p.add_argument("--kokoro-model", type=Path, metavar="FILE",
                   help="Kokoro-82M ONNX model (kokoro-v1.0.onnx or kokoro-v1.0.int8.onnx; needs pip install "
                        "kokoro-onnx): adds its neural voices, single and blended, to the engines")
    p.add_argument("--kokoro-voices", type=Path, metavar="FILE", help="Kokoro's voices file (voices-v1.0.bin)")
    p.add_argument("--voices", help="comma-separated voices (family:name, e.g. espeak:en-us+f3,flite:slt) to use "
                                    "instead of the split's own: the held-out split is then up to you")
    g = p.add_argument_group("augmentation (ranges LOW,HIGH drawn uniformly per utterance)")
    g.add_argument("--no-augment", action="store_true", help="voice variation only: no speed change, room, "
                                                             "noise or telephone band")
    g.add_argument("--speed", type=_range, default=(0.9, 1.1), help="speed factor (default: 0.9,1.1)")
    g.add_argument("--reverb-prob", type=float, default=0.3, help="share in a synthetic room (default: 0.3)")
    g.add_argument("--rt60", type=_range, default=(0.2, 0.8), help="its reverberation time, s (default: 0.2,0.8)")
    g.add_argument("--noise-prob", type=float, default=0.5, help="share with white/pink/babble noise (default: 0.5)")
    g.add_argument("--snr", type=_range, default=(5.0, 30.0), help="its SNR in dB (default: 5,30)")
    g.add_argument("--telephone-prob", type=float, default=0.1,
                   help="share through an 8 kHz, 300-3400 Hz telephone band (default: 0.1)")


def _add_results(sub) -> None:
    p = sub.add_parser("results", help="write a recipe's RESULTS.md",
                       description="Write RESULTS.md from `asr score --json` summaries and the model package.")
    p.add_argument("--out", required=True, help="RESULTS.md to write")
    p.add_argument("--title", required=True, help="heading")
    p.add_argument("--model", required=True, help="the model package that was scored")
    p.add_argument("--score", action="append", required=True, metavar="NAME=JSON",
                   help="a scored set: name and its `asr score --json` file (repeatable)")
    p.add_argument("--decoding", default="greedy CTC", help="how the hypotheses were decoded")
    p.add_argument("--timing", action="append", default=[], metavar="STAGE=SECONDS",
                   help="wall time of a recipe stage (repeatable)")
    p.add_argument("--command", dest="recipe_command", help="the command that produced the results")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line in the style of every other error (its
    subcommands are made with this class too)."""

    def error(self, message: str):
        self.exit(2, f"asr: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="asr", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"asr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_download, _add_prepare, _add_cmvn, _add_tokenizer, _add_train, _add_train_lm, _add_decode, _add_tune, _add_score, _add_transcribe, _add_stream, _add_serve,
                _add_results, _add_synth):
        add(sub)
    return parser


# ---------------------------------------------------------------------------- commands
def cmd_prepare(args) -> int:
    from asr.data import importers, real_corpora

    if args.corpus in real_corpora.RAW_CORPORA:
        if args.out is None and args.arrange is None:
            raise AsrError(f"prepare {args.corpus}: give --out DIR (manifests), --arrange DATA or both")
        if args.arrange is not None:
            count = real_corpora.arrange_corpus(args.corpus, args.src, args.arrange)
            print(f"{args.arrange / args.corpus}: {count} utterances")
        counts = real_corpora.prepare_corpus(args.corpus, args.src, args.out) if args.out else {}
    elif args.corpus == "real":
        counts = real_corpora.prepare_real(args.src, args.out)
    elif args.corpus == "librispeech":
        counts = importers.prepare_librispeech(args.src, args.out)
    elif args.corpus == "fsdd":
        counts = importers.prepare_fsdd(args.src, args.out, dev_per_speaker=args.dev_per_speaker)
    elif args.corpus == "folder":
        counts = importers.prepare_folder(args.src, args.out, name=args.name)
    else:
        counts = importers.prepare_kaldi(args.src, args.out, name=args.name)
    for name, count in counts.items():
        print(f"{args.out / (name + '.jsonl')}: {plural(count, 'utterance')}")
    return 0


def cmd_train(args) -> int:
    from asr.config import find_config, load_config
    from asr.train.am import train_acoustic_model
    from asr.train.config import AcousticTrainConfig

    config = load_config(AcousticTrainConfig, args.config and find_config(args.config, "am"), args.overrides)
    model = train_acoustic_model(config, args.train, args.dev, args.exp, resume=args.resume,
                                 tokenizer=args.tokenizer, cmvn=args.cmvn)
    if model is not None:
        print(model)
    return 0


def cmd_train_lm(args) -> int:
    from asr.config import find_config, load_config
    from asr.package import ModelPackage
    from asr.text import CharTokenizer, load_tokenizer
    from asr.train.config import LmTrainConfig
    from asr.train.lm import train_language_model

    config = load_config(LmTrainConfig, args.config and find_config(args.config, "lm"), args.overrides)
    if args.am_model:
        tokenizer = ModelPackage.load(args.am_model).tokenizer
    else:
        tokenizer = load_tokenizer(args.tokenizer) if args.tokenizer else CharTokenizer()
    model = train_language_model(config, args.text, args.dev, args.exp, tokenizer, resume=args.resume)
    if model is not None:
        print(model)
    return 0


def cmd_cmvn(args) -> int:
    from asr.config import find_config, load_config
    from asr.data.manifest import read_manifest
    from asr.features import LogMel, save_cmvn_stats
    from asr.train.cmvn import cmvn_from_utterances
    from asr.train.config import AcousticTrainConfig

    config = load_config(AcousticTrainConfig, args.config and find_config(args.config, "am"), args.overrides)
    logmel_args = config.features.logmel_args()
    utterances = read_manifest(args.manifest)
    mean, std = cmvn_from_utterances(utterances, LogMel(**logmel_args), args.max_utterances, args.seed,
                                     args.num_workers)
    save_cmvn_stats(mean, std, args.out, logmel_args)
    print(args.out)
    return 0


def cmd_tokenizer(args) -> int:
    import itertools

    from asr.data.manifest import read_manifest
    from asr.data.text_corpus import read_text_lines
    from asr.text import CharTokenizer, SentencePieceTokenizer, normalize_text, save_tokenizer

    texts = [normalize_text(u.text) for u in read_manifest(args.manifest, require_text=True)]
    if args.units == "char":
        tokenizer = CharTokenizer()
        unknown = set().union(*(tokenizer.unknown_symbols(t) for t in texts))
        if unknown:
            raise AsrError(f"{args.manifest}: characters outside the token set: {''.join(sorted(unknown))}")
    else:
        extra = itertools.chain.from_iterable(read_text_lines(p) for p in args.text)
        tokenizer = SentencePieceTokenizer.train(itertools.chain(texts, (normalize_text(t) for t in extra)),
                                                 args.vocab_size, model_type=args.units)
    save_tokenizer(tokenizer, args.out)
    print(f"{args.out}: {args.units}, {tokenizer.vocab_size} tokens including the blank")
    return 0


DECODING_FLAGS = ("decoder", "beam_size", "nbest", "lm_weight", "word_bonus", "bonus_unit", "rescore",
                  "token_top_k", "token_min_logprob")


def _recognizer(args, model_path: str | None):
    from asr.transcribe import Recognizer

    set_threads(args.threads)
    if model_path is None:
        from asr.pretrained import default_model_path

        default = default_model_path()
        if default is None:
            raise AsrError("no --model given, and this installation has no default model (asr/pretrained/model.pt)")
        model_path = str(default)
    options = {name: getattr(args, name) for name in DECODING_FLAGS}
    return Recognizer.from_file(model_path, device=args.device, options=options, lm_path=args.lm)


def _file_identity(path: str | None) -> list | None:
    """What tells one model file from another, cheaply: its path, size and modification time."""
    if path is None:
        return None
    stat = os.stat(path)
    return [os.path.abspath(path), stat.st_size, stat.st_mtime_ns]


def cmd_decode(args) -> int:
    from asr.data.manifest import read_manifest
    from asr.data.partial import PartialOutput

    utterances = read_manifest(args.manifest)
    recognizer = _recognizer(args, args.model)
    what = {"model": _file_identity(args.model), "lm": _file_identity(args.lm),
            "options": recognizer.options.to_dict(), "manifest": os.path.abspath(args.manifest)}
    if args.word_timestamps:  # only then, so that partial output of earlier versions still counts
        what["word_timestamps"] = True
    output = PartialOutput(args.out, what, overwrite=args.overwrite)
    ids = {u.id for u in utterances}
    earlier = sum(utt_id in ids for utt_id in output.done)
    if earlier:
        print(f"asr: resuming: {earlier} of {plural(len(utterances), 'utterance')} already decoded in "
              f"{output.path}", file=sys.stderr)
    todo = [u for u in utterances if u.id not in output.done]
    failed = 0
    try:
        for result in recognizer.decode_utterances(todo, args.batch_frames, args.num_workers,
                                                   word_timestamps=args.word_timestamps) if todo else ():
            if result.text is None:
                failed += 1
                print(f"asr: error: skipped {result.id}: {result.error}", file=sys.stderr)
                continue
            output.add(result.to_json())
    finally:
        output.close()
    decoded = output.finish(u.id for u in utterances)
    print(f"decoded {decoded} of {plural(len(utterances), 'utterance')} -> {args.out}"
          + (f" ({failed} skipped: unreadable)" if failed else ""), file=sys.stderr)
    if decoded == 0:
        raise AsrError(f"{args.manifest}: no utterance could be decoded")
    return 0


def cmd_tune(args) -> int:
    import dataclasses

    from asr.atomic import atomic_open
    from asr.data.manifest import read_manifest
    from asr.decode.tune import format_grid, grid_search

    if "test" in Path(args.manifest).name.lower():
        log.warning("asr: warning: %s looks like a test set; tune on dev data", args.manifest)
    utterances = read_manifest(args.manifest, require_text=True)
    args.decoder = "beam"
    recognizer = _recognizer(args, args.model)
    if recognizer.lm is None:
        raise AsrError("asr tune needs a language model: pass --lm LM.pt")
    points = grid_search(recognizer, utterances, args.lm_weights, args.word_bonuses, args.batch_frames,
                         args.num_workers)
    best = points[0]
    print(format_grid(points))
    print(f"best: --lm-weight {best.lm_weight:g} --word-bonus {best.word_bonus:g} "
          f"(WER {best.wer:.2f}%, CER {best.cer:.2f}% on {args.manifest})")
    options = recognizer.options.updated({"lm_weight": best.lm_weight, "word_bonus": best.word_bonus})
    if args.out:
        with atomic_open(args.out) as f:
            json.dump({"best": options.to_dict(), "dev": args.manifest,
                       "grid": [dataclasses.asdict(p) for p in points]}, f, indent=2)
            f.write("\n")
    if args.package:
        package = recognizer.package
        package.decoding = options.to_dict()
        package.lm = recognizer.lm_package.to_dict()  # the LM the grid was searched with
        package.save(args.package)
        print(f"{args.package}: model package with its LM and these decoding defaults")
    return 0


def cmd_score(args) -> int:
    from asr.atomic import atomic_open
    from asr.score import format_report, report_to_dict, score_files

    report = score_files(args.ref, args.hyp, normalize=args.normalize)
    print(format_report(report, worst=args.worst))
    if args.json_out:
        with atomic_open(args.json_out) as f:
            json.dump(report_to_dict(report), f, indent=2)
            f.write("\n")
    return 0


def _streaming_settings(args) -> dict:
    return {"chunk_ms": args.chunk_ms, "right_context_ms": args.right_context_ms, "endpoint_ms": args.endpoint_ms}


def _streaming_recognizer(args, recognizer, word_timestamps: bool = False):
    from asr.transcribe_file import streaming_recognizer

    return streaming_recognizer(recognizer, _streaming_settings(args), word_timestamps)


def _check_output_options(args, formats: list[str]) -> None:
    """Refuse, before any work, output that could not be written as asked."""
    from asr.output import output_path

    if args.max_line_width < 1 or args.max_line_count < 1:
        raise AsrError("--max-line-width and --max-line-count must be at least 1")
    if args.files.count("-") > 1:
        raise AsrError("- (standard input) can be given only once")
    if "-" in args.files and sys.stdin.isatty():
        raise AsrError("- reads audio from standard input, but standard input is a terminal: pipe a file in")
    if args.output_dir is None:
        if args.format == "all":
            raise AsrError("--format all writes one file per format: give --output-dir DIR")
        if args.format in ("srt", "vtt", "tsv") and len(args.files) > 1:
            raise AsrError(f"--format {args.format} prints one file's document: for several files give "
                           "--output-dir DIR")
        return
    written: dict[Path, str] = {}
    for name in args.files:
        target = output_path(args.output_dir, name, formats[0])
        if target in written and written[target] != name:
            raise AsrError(f"{written[target]} and {name} would both be written to {target.with_suffix('')}.*")
        written[target] = name


def cmd_transcribe(args) -> int:
    import tempfile

    formats = list(OUTPUT_FORMATS) if args.format == "all" else [args.format]
    _check_output_options(args, formats)
    with tempfile.TemporaryDirectory(prefix="asr-stdin-") as folder:
        paths, shown = list(args.files), {}
        if "-" in paths:  # spooled to a file: see read_stdin_to_file
            from asr.audio import read_stdin_to_file

            paths[paths.index("-")] = spooled = read_stdin_to_file(folder)
            shown[spooled] = "-"
        return _transcribe_files(args, paths, shown, formats)


def _transcribe_files(args, paths: list[str], shown: dict[str, str], formats: list[str]) -> int:
    """cmd_transcribe on readable paths; `shown`: the name to show for a path (- for stdin)."""
    from asr.output import transcript_of_result
    from asr.transcribe import utterances_from_files

    def report(error: str) -> None:
        for path, name in shown.items():
            error = error.replace(path, name)
        print(f"asr: error: {error}", file=sys.stderr)

    word_timestamps = formats != ["txt"]
    utterances, failures = utterances_from_files(paths)
    for failure in failures:
        report(failure.error)
    is_long = {u.id: bool(args.segment_over) and u.duration > args.segment_over for u in utterances}
    short = [u for u in utterances if not is_long[u.id]]
    recognizer = _recognizer(args, args.model) if utterances else None
    results = {r.id: r for r in recognizer.decode_utterances(short, args.batch_frames, 0, progress=len(short) > 20,
                                                              word_timestamps=word_timestamps)} if short else {}
    for utt in utterances:  # output in the order given
        name = shown.get(utt.audio, utt.audio)
        if is_long[utt.id]:
            transcript, error = _transcribe_long(args, recognizer, utt.audio, name, utt.duration, word_timestamps)
        else:
            result = results[utt.id]
            transcript, error = (transcript_of_result(result, name, utt.duration), None) if result.text is not None \
                else (None, result.error)
        if transcript is None:
            failures.append(error)
            report(error)
        else:
            _write_transcript(args, formats, transcript)
    if failures and len(args.files) > 1:  # a batch: say how much of it got through
        print(f"asr: transcribed {len(args.files) - len(failures)} of {len(args.files)} files "
              f"({len(failures)} could not be read)", file=sys.stderr)
    return 1 if failures else 0


def _write_transcript(args, formats: list[str], transcript) -> None:
    from asr.atomic import atomic_open
    from asr.output import output_path, transcript_line, write_transcript

    lines = {"max_line_width": args.max_line_width, "max_line_count": args.max_line_count}
    if args.output_dir is None:
        if formats == ["txt"]:
            print(transcript_line(transcript), flush=True)
        else:
            write_transcript(transcript, formats[0], sys.stdout, **lines)
            sys.stdout.flush()
        return
    os.makedirs(args.output_dir, exist_ok=True)
    for fmt in formats:
        path = output_path(args.output_dir, transcript.file, fmt)
        with atomic_open(path) as f:
            write_transcript(transcript, fmt, f, **lines)
        print(path, flush=True)


def _transcribe_long(args, recognizer, path: str, name: str, duration: float, word_timestamps: bool):
    """One long file (see asr.transcribe_file.transcribe_long): (Transcript, None) or (None, the error)."""
    from asr.errors import AudioError
    from asr.transcribe_file import transcribe_long

    try:
        return transcribe_long(recognizer, path, name, duration, _streaming_settings(args), word_timestamps), None
    except AudioError as err:
        return None, str(err)


def cmd_stream(args) -> int:
    import time

    if args.mic == bool(args.file):
        raise AsrError("give an audio file or --mic (one of them)")
    streaming = _streaming_recognizer(args, _recognizer(args, args.model))
    live = sys.stdout.isatty() and args.format == "txt"
    clear_line = "\r\033[K" if live else ""  # partial results are rewritten in place on a terminal

    def show(segments) -> None:
        for segment in segments:
            if args.format == "json":
                print(json.dumps(segment.to_json(), ensure_ascii=False), flush=True)
            else:
                print(f"{clear_line}[{segment.start:7.2f} - {segment.end:7.2f}] {segment.text}", flush=True)
        if live:
            print(f"{clear_line}{streaming.partial()}", end="", flush=True)

    if args.mic:
        from asr.microphone import microphone_blocks

        blocks = microphone_blocks()
    else:
        from asr.audio_stream import read_blocks

        blocks = read_blocks(args.file, block_seconds=0.1)
    started, fed = time.monotonic(), 0.0
    try:
        for block in blocks:
            if not (args.as_fast_as_possible or args.mic):  # keep pace with a real-time source
                time.sleep(max(0.0, started + fed - time.monotonic()))
            fed += len(block) / 16000
            show(streaming.accept_waveform(block))
    except KeyboardInterrupt:
        pass
    show(streaming.final())
    if live:
        print(clear_line, end="", flush=True)
    return 0


def cmd_serve(args) -> int:
    try:
        from aiohttp import web
    except ImportError:
        raise AsrError("asr serve needs aiohttp: pip install 'asr[serve]'") from None
    from asr.serve.protocol import StreamConfig
    from asr.serve.workers import listening_socket, run_workers

    # nothing here imports torch before the workers are forked (asr.serve.workers); serve() does
    defaults = StreamConfig(chunk_ms=args.chunk_ms, right_context_ms=args.right_context_ms,
                            endpoint_ms=args.endpoint_ms)
    name = os.path.basename(args.model) if args.model else "the default model"
    workers = args.workers or os.cpu_count() or 1
    sock = listening_socket(args.host, args.port)
    port = sock.getsockname()[1]  # the one the system chose for --port 0
    url = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{port}/"

    def announce() -> None:
        processes = f", {plural(workers, 'worker process', 'worker processes')}" if workers > 1 else ""
        print(f"asr serve: {name} at {url} (WebSocket {url}stream, POST {url}transcribe{processes}); Ctrl-C stops",
              file=sys.stderr, flush=True)

    def serve(sock, ready) -> int:
        from asr.serve.app import Limits, build_app

        limits = Limits(max_sessions=args.max_sessions, max_message_bytes=args.max_message_kb << 10,
                        idle_timeout=args.idle_timeout, max_stream_seconds=args.max_stream_seconds,
                        max_upload_bytes=args.max_upload_mb << 20, segment_over=args.segment_over)
        app = build_app(_recognizer(args, args.model), name, limits, defaults)

        async def tell_ready(app) -> None:
            ready()

        app.on_startup.append(tell_ready)
        web.run_app(app, sock=sock, print=None, access_log=None, shutdown_timeout=5.0)
        return 0

    code = serve(sock, announce) if workers == 1 else run_workers(workers, serve, sock, announce)
    if code == 0:
        print("asr serve: stopped", file=sys.stderr)
    return code


def cmd_download(args) -> int:
    from asr.data.download import download, extract

    path = download(args.urls, args.out, md5=args.md5)
    if args.extract:
        extract(path, args.extract)
        print(args.extract)
    else:
        print(path)
    return 0


def _pairs(items: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise AsrError(f"{option} {item!r}: expected NAME=VALUE")
        pairs[name] = value
    return pairs


def cmd_results(args) -> int:
    from asr.results import write_results

    timings = {}
    for name, value in _pairs(args.timing, "--timing").items():
        try:
            timings[name] = float(value)
        except ValueError:
            raise AsrError(f"--timing {name}={value}: seconds must be a number") from None
    write_results(args.out, args.title, args.model, _pairs(args.score, "--score"), args.decoding,
                  args.recipe_command, timings)
    print(args.out)
    return 0


def cmd_synth(args) -> int:
    import dataclasses

    from asr.data.synth.corpus import SynthOptions, synthesize_corpus

    if (args.kokoro_model is None) != (args.kokoro_voices is None):
        raise AsrError("Kokoro voices need both --kokoro-model and --kokoro-voices")
    kokoro_files = (args.kokoro_model, args.kokoro_voices) if args.kokoro_model else None

    options = SynthOptions.clean() if args.no_augment else dataclasses.replace(
        SynthOptions(), speed=args.speed, reverb_prob=args.reverb_prob, rt60=args.rt60,
        noise_prob=args.noise_prob, snr_db=args.snr, telephone_prob=args.telephone_prob)
    summary = synthesize_corpus(args.text, args.out, args.split, num=args.num, hours=args.hours, seed=args.seed,
                                min_words=args.min_words, max_words=args.max_words, skip=args.skip,
                                stop=args.stop, families=_names(args.families), voices=_names(args.voices),
                                options=options, jobs=max(1, args.jobs), kokoro_files=kokoro_files)
    print(f"{summary.manifest}: {plural(summary.made + summary.existing, 'utterance')}, {summary.hours:.2f} h "
          f"({summary.made} made now, {summary.existing} already there, {summary.failed} failed)")
    return 0


COMMANDS = {"serve": cmd_serve, "stream": cmd_stream, "tune": cmd_tune, "train-lm": cmd_train_lm, "cmvn": cmd_cmvn, "tokenizer": cmd_tokenizer, "download": cmd_download, "results": cmd_results, "prepare": cmd_prepare, "train": cmd_train, "decode": cmd_decode, "score": cmd_score,
            "transcribe": cmd_transcribe, "synth": cmd_synth}


def _cross_checks(args) -> None:
    """Option combinations that would be silently ignored."""
    if args.command in ("transcribe", "stream") and (args.nbest or 1) > 1 and args.format not in ("json", "all"):
        raise AsrError(f"--nbest {args.nbest} needs --format json (the other formats hold one text per file)")


def main(argv: list[str] | None = None) -> int:
    prefer_passive_waiting()  # before anything imports torch: see asr/threads.py
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    try:
        check_options(args, command_parser(parser, args), _cross_checks)  # before the command writes anything
        return COMMANDS[args.command](args)
    except AsrError as err:
        print(f"asr: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("asr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
