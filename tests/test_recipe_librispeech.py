"""The LibriSpeech recipes (recipes/librispeech, recipes/mini_librispeech), offline.

The corpus is LibriSpeech's own layout in tmp: the two real dev-clean utterances from the
shared data plus 40 short utterances synthesized with espeak-ng (six voices as speakers,
several chapters), split into train-clean-100 / dev-clean / test-clean. Stage 0's downloads
run against an HTTP server on 127.0.0.1 that serves tiny archives under OpenSLR's paths.
The end-to-end test trains a tiny LSTM LM (stage 3), tunes its weight on the first dev set and
decodes with beam search + LM (stage 5).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch

from conftest import DATA, LIBRISPEECH, REPO
from range_server import range_server

RECIPE = REPO / "recipes" / "librispeech" / "run.sh"
MINI_RECIPE = REPO / "recipes" / "mini_librispeech" / "run.sh"
REAL_CHAPTER = LIBRISPEECH / "LibriSpeech" / "dev-clean" / "2412" / "153948"
# a model that trains in seconds on CPU
TINY = ("run.epochs=1 model.num_layers=1 model.hidden_size=32 data.num_workers=0 "
        "data.max_frames=4000 run.log_every=1")
# an LM that trains in a second on CPU, and a small grid for `asr tune`
TINY_LM = "model.embed_dim=16 model.hidden_size=32 model.num_layers=1 run.epochs=1 run.log_every=1"
SMALL_GRID = ["--beam", "4", "--lm-weights", "0,0.5", "--word-bonuses", "0,1"]
SETS = ["--train-sets", "train-clean-100", "--dev-sets", "dev-clean", "--test-sets", "test-clean"]
EXP = "exp/librispeech_100_char_clean-100"  # the default experiment name for these options
LM_EXP = "exp/lm_librispeech_char_clean-100_transcripts"  # ... and the LM's, with --lm-corpus none

# speaker -> (subset, espeak-ng voice, chapters, utterances per chapter): 32 + 4 + 4 utterances
SPEAKERS = {
    "9001": ("train-clean-100", "en-us", 2, 4),
    "9002": ("train-clean-100", "en-gb", 2, 4),
    "9003": ("train-clean-100", "en-gb-scotland", 2, 4),
    "9004": ("train-clean-100", "en-us+f3", 2, 4),
    "9005": ("dev-clean", "en-029", 1, 4),
    "9006": ("test-clean", "en-gb-x-rp", 1, 4),
}


def recipe_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def run_recipe(workdir: Path, *args, script: Path = RECIPE, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), "--workdir", str(workdir), *map(str, args)],
                          env=recipe_env(), capture_output=True, text=True, timeout=timeout)


def commands_run(log: str) -> list[str]:
    """The commands a recipe run executed (the lines it logs as '[time] + command')."""
    return re.findall(r"^\[[0-9:]+\] \+ (.*)$", log, re.M)


def sentences(count: int) -> list[str]:
    lines = (DATA / "text" / "lm_dev.txt").read_text(encoding="utf-8").splitlines()
    short = [line for line in lines if 4 <= len(line.split()) <= 8]
    return short[:count]


def synthesize(text: str, voice: str, out: Path) -> None:
    """espeak-ng speech for `text`, as 16 kHz 16-bit FLAC (LibriSpeech's format)."""
    wav = out.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "170", "-w", str(wav), text.lower()], check=True)
    subprocess.run(["sox", str(wav), "-r", "16000", "-b", "16", "-c", "1", str(out)], check=True)
    wav.unlink()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shared_data) -> Path:
    """DIR with DIR/LibriSpeech/{train-clean-100,dev-clean,test-clean}/SPK/CHAPTER/*.flac + .trans.txt."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail("espeak-ng and sox are needed (apt-get install -y espeak-ng sox)")
    root = tmp_path_factory.mktemp("corpus")
    texts = iter(sentences(40))
    for speaker, (subset, voice, chapters, per_chapter) in SPEAKERS.items():
        for c in range(chapters):
            chapter = str(100 + c)
            folder = root / "LibriSpeech" / subset / speaker / chapter
            folder.mkdir(parents=True)
            lines = []
            for u in range(per_chapter):
                utt_id = f"{speaker}-{chapter}-{u:04d}"
                text = next(texts)
                synthesize(text, voice, folder / f"{utt_id}.flac")
                lines.append(f"{utt_id} {text}")
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    real = root / "LibriSpeech" / "dev-clean" / "2412" / "153948"
    real.mkdir(parents=True)
    for f in REAL_CHAPTER.iterdir():
        (real / f.name).symlink_to(f)
    return root


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory) -> Path:
    """A workdir where stages 0-2 ran: data/ holds the manifests, CMVN and tokens."""
    workdir = tmp_path_factory.mktemp("prepared")
    done = run_recipe(workdir, "--data-root", corpus, *SETS, "--stop-stage", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def workdir_with_data(prepared: Path, workdir: Path) -> Path:
    shutil.copytree(prepared / "data", workdir / "data")
    return workdir


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------------ end to end

def section(text: str, heading: str) -> str:
    """The part of a RESULTS.md from the heading line that contains `heading` to the next heading
    of the same level or higher."""
    match = re.search(rf"^(#+) [^\n]*{re.escape(heading)}[^\n]*\n", text, re.M)
    assert match, (heading, text)
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, match.end())
    return text[match.end(): end.start() if end else len(text)]


@pytest.mark.slow
def test_recipe_runs_stages_0_to_6_then_has_nothing_left_to_do(corpus, tmp_path):
    # a second dev set, dev-other (the test-clean speaker's audio under another name), so that
    # "tuned on the FIRST dev set" means something
    root = tmp_path / "corpus"
    (root / "LibriSpeech").mkdir(parents=True)
    for subset in ("train-clean-100", "dev-clean", "test-clean"):
        (root / "LibriSpeech" / subset).symlink_to(corpus / "LibriSpeech" / subset)
    (root / "LibriSpeech" / "dev-other").symlink_to(corpus / "LibriSpeech" / "test-clean")
    workdir, results = tmp_path / "work", tmp_path / "RESULTS.md"
    args = ["--data-root", root, "--train-sets", "train-clean-100", "--dev-sets", "dev-clean dev-other",
            "--test-sets", "test-clean", "--lm-corpus", "none", "--device", "cpu", "--results", results,
            "--overrides", TINY, "--lm-overrides", TINY_LM, *SMALL_GRID]
    first = run_recipe(workdir, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    log = first.stderr
    commands = commands_run(log)
    eval_sets = {"dev-clean": 6, "dev-other": 4, "test-clean": 4}

    # stage 1: one manifest per subset with speaker, chapter and duration
    data = workdir / "data"
    manifests = {s: read_jsonl(data / f"{s}.jsonl") for s in ("train-clean-100", *eval_sets)}
    assert [len(m) for m in manifests.values()] == [32, 6, 4, 4]
    real = next(u for u in manifests["dev-clean"] if u["id"] == "2412-153948-0000")
    official = (REAL_CHAPTER / "2412-153948.trans.txt").read_text().splitlines()[0].split(" ", 1)[1]
    assert real["speaker"] == "2412" and real["chapter"] == "153948" and real["text"] == official
    assert real["duration"] == pytest.approx(sf.info(REAL_CHAPTER / "2412-153948-0000.flac").duration, abs=1e-3)
    for utt in manifests["train-clean-100"]:
        speaker, chapter, _ = utt["id"].split("-")
        assert utt["speaker"] == speaker and utt["chapter"] == chapter in ("100", "101")
        assert utt["duration"] > 0.5
    assert (data / "train_clean-100.jsonl").read_text() == (data / "train-clean-100.jsonl").read_text()
    valid = data / "valid_dev-clean_dev-other.jsonl"
    assert valid.read_text() == (data / "dev-clean.jsonl").read_text() + (data / "dev-other.jsonl").read_text()
    # stage 2: CMVN and characters
    assert (data / "cmvn_clean-100.pt").stat().st_size > 0
    assert json.loads((data / "tokens_char_clean-100.json").read_text())
    # stage 3: the LM, on the training transcripts (--lm-corpus none) with the AM's tokens, dev
    # perplexity on the dev sets, the recipe's LM config with the overrides
    train_lm = [c for c in commands if c.startswith("asr train-lm")]
    assert len(train_lm) == 1, commands
    assert "--text data/train_clean-100.jsonl --exp " + LM_EXP in train_lm[0]
    assert "--dev data/valid_dev-clean_dev-other.jsonl" in train_lm[0]
    assert "--tokenizer data/tokens_char_clean-100.json" in train_lm[0]
    assert "conf/lm/librispeech.yaml" in train_lm[0] and "model.hidden_size=32" in train_lm[0]
    lm_package = torch.load(workdir / LM_EXP / "model.pt", map_location="cpu", weights_only=True)
    assert lm_package["model_config"]["hidden_size"] == 32
    dev_ppl = lm_package["info"]["history"][-1]["dev_ppl"]
    assert (workdir / LM_EXP / "timing" / "train.seconds").is_file()
    # stage 4: the acoustic model
    exp = workdir / EXP
    assert (exp / "model.pt").is_file() and (exp / "timing" / "train.seconds").is_file()
    # stage 5: greedy hyps for every dev and test set; alpha/beta tuned on the first dev set only;
    # beam + LM hyps for every set, decoded with the tuned package
    tune_runs = [c for c in commands if c.startswith("asr tune")]
    assert len(tune_runs) == 1 and "--manifest data/dev-clean.jsonl" in tune_runs[0], commands
    assert "--beam 4 " in tune_runs[0] and "--lm-weights 0,0.5" in tune_runs[0]
    tune = json.loads((exp / "decode_beam_lm" / "tune.json").read_text())
    assert tune["dev"] == "data/dev-clean.jsonl" and len(tune["grid"]) == 4
    best = tune["best"]
    assert best["decoder"] == "beam" and best["beam_size"] == 4
    assert (best["lm_weight"], best["word_bonus"]) in {(a, b) for a in (0, 0.5) for b in (0, 1)}
    for name in eval_sets:
        ids = sorted(u["id"] for u in manifests[name])
        for decoding in ("decode_greedy", "decode_beam_lm"):
            hyps = read_jsonl(exp / decoding / f"{name}.hyp.jsonl")
            assert sorted(h["id"] for h in hyps) == ids, (decoding, name)
        assert f"asr decode --model {EXP}/model_lm.pt --manifest data/{name}.jsonl" in "\n".join(commands)
    # stage 6: a table per decoding whose figures are the scorer's
    text = results.read_text()
    assert "librispeech_100_char_clean-100" in text
    greedy, beam = section(text, "Greedy CTC"), section(text, "Beam search + LSTM LM")
    for decoding, part in (("decode_greedy", greedy), ("decode_beam_lm", beam)):
        for name, count in eval_sets.items():
            score = json.loads((exp / decoding / f"{name}.score.json").read_text())
            row = re.search(rf"^\| {name} \| {count} \| \*\*([0-9.]+)\*\* \| ([0-9.]+) \|", part, re.M)
            assert row, (decoding, part)
            assert row.group(1) == f"{score['wer']:.2f}" and row.group(2) == f"{score['cer']:.2f}"
        assert "machine:" in part and re.search(r"train [0-9.]+ min", part)
        assert "recipes/librispeech/run.sh --workdir" in part
    assert "greedy CTC, no language model" in greedy
    assert f"alpha = {best['lm_weight']:g}, word bonus beta = {best['word_bonus']:g}" in beam
    assert f"dev perplexity {dev_ppl:.2f} per token" in beam and "tuned on dev-clean" in beam
    assert re.search(r"lm_train [0-9.]+ min", beam) and re.search(r"tune [0-9.]+ min", beam)
    assert (exp / "RESULTS.md").is_file()

    # the second run finds every stage done and runs nothing
    outputs = [exp / "model.pt", workdir / LM_EXP / "model.pt", exp / "model_lm.pt", results, exp / "RESULTS.md",
               *(exp / d / f"{s}.hyp.jsonl" for d in ("decode_greedy", "decode_beam_lm") for s in eval_sets)]
    mtimes = {p: p.stat().st_mtime_ns for p in outputs}
    again = run_recipe(workdir, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert commands_run(again.stderr) == [], again.stderr
    for n in range(7):
        assert re.search(rf"stage {n}: .*skipped", again.stderr), (n, again.stderr)
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes

    # sentencepiece units instead of characters: stage 2 makes a second token list
    bpe = run_recipe(workdir, *args, "--units", "bpe", "--nbpe", "40", "--stage", "2", "--stop-stage", "2")
    assert bpe.returncode == 0, bpe.stderr[-3000:]
    assert [c.split()[:2] for c in commands_run(bpe.stderr)] == [["asr", "tokenizer"]]
    assert (data / "tokens_bpe40_clean-100.json").is_file()


@pytest.mark.slow
def test_training_killed_midway_resumes(prepared, tmp_path):
    workdir = workdir_with_data(prepared, tmp_path / "work")
    longer = TINY.replace("run.epochs=1", "run.epochs=6") + " data.max_frames=1500 run.checkpoint_every=1"
    args = ["--workdir", workdir, *SETS, "--device", "cpu", "--stage", "4", "--stop-stage", "4",
            "--overrides", longer]
    checkpoint = workdir / EXP / "checkpoints" / "last.pt"
    log = open(tmp_path / "killed.log", "w")  # a file, not a pipe: a full pipe would stall it
    proc = subprocess.Popen(["bash", str(RECIPE), *map(str, args)], env=recipe_env(),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpoint.exists(), (tmp_path / "killed.log").read_text()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)  # the recipe and the training under it
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
    assert not (workdir / EXP / "model.pt").exists(), "training ended before it could be killed"

    again = subprocess.run(["bash", str(RECIPE), *map(str, args)], env=recipe_env(),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming the run" in again.stderr and "resumed from" in again.stderr
    assert (workdir / EXP / "model.pt").is_file()


@pytest.mark.slow
def test_ngpu_2_trains_with_torchrun_on_cpu(prepared, tmp_path):
    from asr.package import ModelPackage

    workdir = workdir_with_data(prepared, tmp_path / "work")
    done = run_recipe(workdir, *SETS, "--device", "cpu", "--ngpu", "2", "--stage", "4",
                      "--stop-stage", "4", "--overrides", TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    launched = commands_run(done.stderr)
    assert len(launched) == 1 and launched[0].startswith(("torchrun", "python3 -m torch.distributed.run"))
    assert "--nproc-per-node 2" in launched[0]
    package = ModelPackage.load(workdir / EXP / "model.pt")
    assert package.info["world_size"] == 2


# ------------------------------------------------------------------------------ stage 0

@pytest.fixture
def openslr(shared_data):
    with range_server() as httpd:
        yield httpd


def subset_tarball(subset: str) -> bytes:
    """A .tar.gz in OpenSLR's layout (LibriSpeech/SUBSET/SPK/CHAPTER/...) of the real utterances."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for f in sorted(REAL_CHAPTER.iterdir()):
            tar.add(f, arcname=f"LibriSpeech/{subset}/2412/153948/{f.name}")
    return buffer.getvalue()


@pytest.mark.slow
def test_download_resumes_verifies_md5_and_never_unpacks_a_bad_archive(openslr, tmp_path):
    archive = subset_tarball("train-clean-100")
    lm_text = gzip.compress(b"A TINY LANGUAGE MODEL CORPUS\nWITH TWO SENTENCES\n")
    path = "/resources/12/train-clean-100.tar.gz"
    openslr.files = {path: archive, "/resources/11/librispeech-lm-norm.txt.gz": lm_text}
    checksums = tmp_path / "checksums.md5"
    checksums.write_text(f"{hashlib.md5(archive).hexdigest()}  train-clean-100.tar.gz\n"
                         f"{hashlib.md5(lm_text).hexdigest()}  librispeech-lm-norm.txt.gz\n")
    options = ["--mirror", openslr.url, "--checksums", checksums, "--train-sets", "train-clean-100",
               "--dev-sets", "", "--test-sets", "", "--stop-stage", "0"]
    workdir = tmp_path / "work"
    downloads = workdir / "downloads"
    unpacked = downloads / "LibriSpeech" / "train-clean-100" / "2412" / "153948" / "2412-153948-0000.flac"
    marker = downloads / ".train-clean-100.tar.gz.extracted"

    # the connection drops half-way: the run fails and keeps what arrived
    openslr.cut.add(path)
    cut = run_recipe(workdir, *options)
    assert cut.returncode != 0
    part = downloads / "train-clean-100.tar.gz.part"
    assert 0 < part.stat().st_size < len(archive)
    assert not (downloads / "LibriSpeech").exists() and not marker.exists()

    # the rerun asks for the rest only, checks the MD5 and unpacks
    resumed = run_recipe(workdir, *options)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert openslr.requests[-1] == (path, f"bytes={len(archive) // 2}-")
    assert openslr.bytes_sent == len(archive)
    assert (downloads / "train-clean-100.tar.gz").read_bytes() == archive and not part.exists()
    assert unpacked.read_bytes() == (REAL_CHAPTER / unpacked.name).read_bytes() and marker.exists()

    # done is done: no request, nothing run
    count = len(openslr.requests)
    again = run_recipe(workdir, *options)
    assert again.returncode == 0 and commands_run(again.stderr) == [] and "skipped" in again.stderr
    assert len(openslr.requests) == count

    # an archive damaged on disk before its unpack completed is detected and fetched again
    damaged = bytearray(archive)
    damaged[len(damaged) // 2] ^= 0xFF
    (downloads / "train-clean-100.tar.gz").write_bytes(bytes(damaged))
    marker.unlink()
    refetched = run_recipe(workdir, *options)
    assert refetched.returncode == 0, refetched.stderr[-3000:]
    assert (downloads / "train-clean-100.tar.gz").read_bytes() == archive and marker.exists()
    assert openslr.requests[-1] == (path, None)

    # a server with a corrupted archive: MD5 error, nothing kept, nothing unpacked ...
    other = tmp_path / "other"
    openslr.files[path] = bytes(damaged)
    bad = run_recipe(other, *options)
    assert bad.returncode != 0 and "MD5 mismatch" in bad.stderr
    assert not (other / "downloads" / "LibriSpeech").exists()
    assert sorted(p.name for p in (other / "downloads").iterdir()) == []
    # ... and once it serves the right file, the rerun fetches and unpacks it
    openslr.files[path] = archive
    fixed = run_recipe(other, *options)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert (other / "downloads" / "LibriSpeech" / "train-clean-100" / "2412" / "153948").is_dir()

    # stage 3 fetches the LM corpus the same way, from the first mirror that answers, and trains
    # the LM on the training transcripts (first: a max_sentences cap never drops them) + the corpus
    with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    lm = run_recipe(workdir, *options[:-2], "--mirror", f"{dead} {openslr.url}", "--stage", "1",
                    "--stop-stage", "3", "--device", "cpu", "--lm-overrides", TINY_LM)
    assert lm.returncode == 0, lm.stderr[-3000:]
    assert (downloads / "librispeech-lm-norm.txt.gz").read_bytes() == lm_text
    train_lm = [c for c in commands_run(lm.stderr) if c.startswith("asr train-lm")]
    assert len(train_lm) == 1 and "--dev" not in train_lm[0]  # no dev sets: no dev perplexity
    assert re.search(r"--text data/train_clean-100.jsonl --text \S*downloads/librispeech-lm-norm.txt.gz ",
                     train_lm[0]), train_lm
    lm_log = (workdir / "exp" / "lm_librispeech_char_clean-100" / "train.log").read_text()
    assert "training text: 4 sentences" in lm_log  # 2 transcripts + the corpus's 2 sentences
    assert (workdir / "exp" / "lm_librispeech_char_clean-100" / "model.pt").is_file()


# ------------------------------------------------------------------------------ mini recipe

@pytest.mark.slow
def test_mini_librispeech_shares_the_stages(corpus, tmp_path):
    root = tmp_path / "mini"
    (root / "LibriSpeech").mkdir(parents=True)
    (root / "LibriSpeech" / "train-clean-5").symlink_to(corpus / "LibriSpeech" / "train-clean-100")
    (root / "LibriSpeech" / "dev-clean-2").symlink_to(corpus / "LibriSpeech" / "dev-clean")
    done = run_recipe(tmp_path / "work", "--data-root", root, "--lm-corpus", "none", "--stop-stage", "3",
                      "--device", "cpu", "--lm-overrides", TINY_LM, script=MINI_RECIPE)
    assert done.returncode == 0, done.stderr[-3000:]
    data = tmp_path / "work" / "data"
    assert len(read_jsonl(data / "train-clean-5.jsonl")) == 32
    assert len(read_jsonl(data / "dev-clean-2.jsonl")) == 6
    assert (data / "tokens_char_clean-5.json").is_file() and (data / "cmvn_clean-5.pt").is_file()
    # the mini recipe's LM config, with the overrides on top
    lm_exp = tmp_path / "work" / "exp" / "lm_mini_librispeech_char_clean-5_transcripts"
    lm_config = (lm_exp / "config.yaml").read_text()
    assert re.search(r"max_sentences: 300000\b", lm_config) and re.search(r"hidden_size: 32\b", lm_config)
    assert (lm_exp / "model.pt").is_file()

    usage = subprocess.run(["bash", str(MINI_RECIPE), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "--train-sets" in usage.stdout and "OpenSLR 31" in usage.stdout
    wrong = run_recipe(tmp_path / "work", "--units", "phones", script=MINI_RECIPE)
    assert wrong.returncode != 0 and "--units must be char, bpe or unigram" in wrong.stderr


def test_recipes_are_valid_bash_with_help():
    for script in (RECIPE, MINI_RECIPE, REPO / "recipes" / "lib" / "librispeech_stages.sh"):
        subprocess.run(["bash", "-n", str(script)], check=True)
    usage = subprocess.run(["bash", str(RECIPE), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0
    for option in ("--stage", "--stop-stage", "--data-root", "--mirror", "--train-sets", "--dev-sets",
                   "--test-sets", "--units", "--nbpe", "--ngpu", "--nnodes", "--node-rank",
                   "--master-addr", "--master-port", "--speed-perturb", "--checksums", "--lm-corpus",
                   "--lm-config", "--lm-overrides", "--lm-exp-name", "--beam", "--lm-weights",
                   "--word-bonuses"):
        assert option in usage.stdout, option
    for mirror in ("us.openslr.org", "openslr.elda.org", "openslr.magicdatatech.com"):
        assert mirror in usage.stdout
    checksums = (REPO / "recipes" / "librispeech" / "checksums.md5").read_text().split("\n")
    names = {line.split()[1] for line in checksums if line and not line.startswith("#")}
    assert names == {"dev-clean.tar.gz", "dev-other.tar.gz", "test-clean.tar.gz", "test-other.tar.gz",
                     "train-clean-100.tar.gz", "train-clean-360.tar.gz", "train-other-500.tar.gz",
                     "dev-clean-2.tar.gz", "train-clean-5.tar.gz", "librispeech-lm-norm.txt.gz"}
