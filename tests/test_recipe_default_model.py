"""The default model's recipe (recipes/default_model) on a tiny slice of the shared corpora.

The end-to-end run takes the first 6 utterances of every set (`--slice 6`): real corpora from
../shared/data/real, FSDD, the LibriSpeech sample and a few espeak-ng/flite/festival sentences
made by `asr synth`; a tiny AM and LM; all stages 0-7 in about two minutes. The set making
(make_sets.py) is also checked on its own against the manifests it reads.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import DATA, FSDD, LIBRISPEECH, REPO, needs_shared_data
from test_recipe_librispeech import TINY, TINY_LM, commands_run, recipe_env

RECIPE = REPO / "recipes" / "default_model" / "run.sh"
REAL = DATA / "real"
pytestmark = needs_shared_data


def load_make_sets():
    spec = importlib.util.spec_from_file_location("make_sets", REPO / "recipes" / "default_model" / "make_sets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run(workdir: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(RECIPE), "--workdir", str(workdir), "--results", str(workdir / "RESULTS.md"),
         "--real", str(REAL), "--fsdd", str(FSDD), "--librispeech-sample", str(LIBRISPEECH),
         "--text-dir", str(DATA / "text"), *map(str, args)],
        env=recipe_env(), capture_output=True, text=True, timeout=900)


def test_make_sets_holds_out_whole_speakers_and_keeps_ids_unique(tmp_path):
    make_sets = load_make_sets()
    real = tmp_path / "real"
    subprocess.run(["asr", "prepare", "real", str(REAL), "--out", str(real)], env=recipe_env(), check=True,
                   capture_output=True)
    subprocess.run(["asr", "prepare", "fsdd", str(FSDD), "--out", str(tmp_path / "fsdd")], env=recipe_env(),
                   check=True, capture_output=True)
    counts = make_sets.make_sets({"speechocean762_train": real / "speechocean762_train.jsonl",
                                  "speechocean762_test": real / "speechocean762_test.jsonl",
                                  "fsdd_dev": tmp_path / "fsdd" / "dev.jsonl"},
                                 tmp_path / "data", dev_speaker_every=16, test_every=10)
    source = read_jsonl(real / "speechocean762_train.jsonl")
    speakers = sorted({r["speaker"] for r in source})
    train = read_jsonl(tmp_path / "data" / "speechocean762_train.jsonl")
    dev = read_jsonl(tmp_path / "data" / "speechocean762_dev.jsonl")
    # every 16th speaker of the sorted list, all of their utterances, none left in train
    assert {r["speaker"] for r in dev} == set(speakers[::16])
    assert not {r["speaker"] for r in dev} & {r["speaker"] for r in train}
    assert len(train) + len(dev) == len(source)
    assert all(r["id"].startswith("speechocean762-") for r in train + dev)
    test = read_jsonl(tmp_path / "data" / "speechocean762_test.jsonl")
    assert len(test) == len(range(0, len(read_jsonl(real / "speechocean762_test.jsonl")), 10))
    # dev = the speechocean762 dev speakers + FSDD's dev split, in that order
    fsdd_dev = read_jsonl(tmp_path / "fsdd" / "dev.jsonl")
    assert [r["id"] for r in read_jsonl(tmp_path / "data" / "dev.jsonl")] == \
        [r["id"] for r in dev] + [f"fsdd-{r['id']}" for r in fsdd_dev]
    assert counts["dev"] == len(dev) + len(fsdd_dev)
    # an unchanged rerun rewrites nothing (later stages go by file times)
    before = (tmp_path / "data" / "dev.jsonl").stat().st_mtime_ns
    make_sets.make_sets({"speechocean762_train": real / "speechocean762_train.jsonl",
                         "fsdd_dev": tmp_path / "fsdd" / "dev.jsonl"}, tmp_path / "data")
    assert (tmp_path / "data" / "dev.jsonl").stat().st_mtime_ns == before


def test_default_model_recipe_runs_all_stages_on_a_slice_and_is_idempotent(tmp_path):
    workdir = tmp_path / "w"
    args = ["--slice", 6, "--synth-hours", 0.01, "--eval-hours", 0.005, "--kokoro-hours", 0, "--synth-jobs", 1,
            "--overrides", TINY + " data.epoch_utterances=48", "--lm-corpus", "none", "--lm-overrides", TINY_LM,
            "--beam", 4, "--lm-weights", "0,0.5", "--word-bonuses", "0,1",
            "--weights", "speechocean762_train=4 wakewords_train=0.5"]
    first = run(workdir, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    exp = workdir / "exp" / "default_cpu_both"
    # stage 4 trained on every training set as a weighted mix, at the --weights given (others 1)
    config = yaml.safe_load((exp / "config.yaml").read_text())
    weights = {Path(c["manifest"]).stem: c["weight"] for c in config["data"]["train"]}
    assert weights["speechocean762_train"] == 4 and weights["wakewords_train"] == 0.5
    assert {"fsdd_train", "ljspeech_train", "synth_train", "librispeech_pseudo_train"} <= set(weights)
    assert all(w == 1 for name, w in weights.items() if name not in ("speechocean762_train", "wakewords_train"))
    assert all(len(read_jsonl(workdir / "data" / f"{name}.jsonl")) == 6 for name in weights)
    # the comparison table holds every real test set, and its figures are asr score's
    results = (workdir / "RESULTS.md").read_text()
    table = results[results.index("Side by side"):]
    for name, label in (("speechocean762_test", "speechocean762 test"), ("fsdd_test", "FSDD digits test split"),
                        ("librispeech_sample", "LibriSpeech dev-clean sample"), ("ljspeech_test", "LJ Speech"),
                        ("commonvoice_test", "Common Voice")):
        ours = json.loads((exp / "decode_beam_lm" / f"{name}.score.json").read_text())
        old = json.loads((workdir / "exp" / "compare" / "baseline" / f"{name}.score.json").read_text())
        row = re.search(rf"^\| {label}[^|]*\| (\d+) \|(.*)$", table, re.M)
        assert row, (label, table)
        cells = [c.strip().replace("*", "") for c in row.group(2).split("|") if c.strip()]
        assert cells[1] == f"{ours['wer']:.1f} / {ours['cer']:.1f}"
        assert cells[3] == f"{old['wer']:.1f} / {old['cer']:.1f}"
    assert "## Default model (both): default_cpu_both" in results  # the experiment's own tables too
    # a rerun finds everything done: no command that does work runs again
    again = run(workdir, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    redone = [c for c in commands_run(again.stderr)
              if re.match(r"asr (train|train-lm|decode|tune|cmvn|tokenizer|prepare fsdd)", c)]
    assert redone == [], redone


@pytest.mark.parametrize("args, message", [
    (["--mix", "all"], "--mix must be real, synth or both"),
    (["--weights", "speechocean762_train"], "is not SET=WEIGHT"),
    (["--init", "/no/such/model.pt"], "--init /no/such/model.pt: no such file"),
    (["--synth-hours", "two"], "--synth-hours takes a number of hours"),
])
def test_default_model_recipe_refuses_bad_options_in_one_line(tmp_path, args, message):
    done = run(tmp_path / "w", "--stop-stage", 1, "--synth-hours", 0, "--kokoro-hours", 0, *args)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
