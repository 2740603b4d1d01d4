"""The digits recipe end to end on the real FSDD recordings, with a tiny, quick config."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import FSDD, REPO, needs_shared_data
from level_check import assert_level_independent, fsdd_clip_per_speaker


def run_recipe(workdir: Path, *args: str, data: str | Path = FSDD, cwd: Path | None = None
               ) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(REPO / "recipes" / "digits" / "run.sh"), "--data", str(data),
                           "--workdir", str(workdir), "--results", str(workdir / "RESULTS.md"), *args],
                          env=env, capture_output=True, text=True, timeout=900, cwd=cwd)


@needs_shared_data
def test_digits_recipe_runs_all_stages_and_is_idempotent(tmp_path):
    # small, but trained enough to be sure of its words: the level check below needs that
    tiny = "run.epochs=8 model.num_layers=2 model.hidden_size=96 features.cmvn_max_utterances=100"
    first = run_recipe(tmp_path, "--overrides", tiny)
    assert first.returncode == 0, first.stderr[-3000:]
    manifests = {name: (tmp_path / "data" / f"{name}.jsonl").read_text().splitlines()
                 for name in ("train", "dev", "test")}
    assert [len(manifests[n]) for n in ("train", "dev", "test")] == [2150, 100, 250]
    hyps = (tmp_path / "exp" / "digits" / "test.hyp.jsonl").read_text().splitlines()
    assert len(hyps) == 250
    score = json.loads((tmp_path / "exp" / "digits" / "test.score.json").read_text())
    assert score["num_utterances"] == 250 and score["words"]["ref_len"] == 250
    results = (tmp_path / "RESULTS.md").read_text()
    row = re.search(r"^\| test \| 250 \| \*\*([0-9.]+)\*\* \| ([0-9.]+) \|", results, re.M)
    assert row and float(row.group(1)) == score["wer"]
    quiet = json.loads((tmp_path / "exp" / "digits" / "test_m20db.score.json").read_text())
    assert quiet["num_utterances"] == 250
    assert re.search(rf"^\| test, 20 dB quieter \| 250 \| \*\*{quiet['wer']:.2f}\*\* \|", results, re.M)
    assert "machine:" in results and "recipes/digits/run.sh" in results

    assert_level_independent(tmp_path / "exp" / "digits" / "model.pt", fsdd_clip_per_speaker(FSDD))

    # a second run finds everything done and changes nothing it does not have to
    model_mtime = (tmp_path / "exp" / "digits" / "model.pt").stat().st_mtime_ns
    again = run_recipe(tmp_path, "--overrides", tiny, "--stage", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already in data/" in again.stderr and "already trained" in again.stderr
    assert "up to date" in again.stderr
    assert (tmp_path / "exp" / "digits" / "model.pt").stat().st_mtime_ns == model_mtime


def test_results_name_the_data_relative_to_the_repository(tiny_package, tmp_path):
    """RESULTS.md is tracked: its command must not carry a path of the machine it ran on."""
    (tmp_path / "data" / "test_m20db").mkdir(parents=True)
    exp = tmp_path / "exp" / "digits"
    exp.mkdir(parents=True)
    shutil.copy(tiny_package, exp / "model.pt")
    for manifest, hyps in (("test.jsonl", "test.hyp.jsonl"), ("test_m20db/manifest.jsonl", "test_m20db.hyp.jsonl")):
        (tmp_path / "data" / manifest).write_text(json.dumps(
            {"id": "0_a_0", "audio": "0_a_0.wav", "duration": 0.5, "text": "ZERO", "speaker": "a"}) + "\n")
        (exp / hyps).write_text(json.dumps({"id": "0_a_0", "text": "ZERO"}) + "\n")
    shared = REPO.parent / "shared" / "data" / "fsdd" / "recordings"  # need not exist for stage 4
    for data, cwd, shown in [(shared, None, "../shared/data/fsdd/recordings"),
                             (os.path.relpath(shared, REPO / "recipes"), REPO / "recipes", "../shared/data/fsdd/recordings"),
                             (REPO / "recipes" / "fsdd", None, "recipes/fsdd"),
                             # two levels above any clone: tmp_path itself is beside a clone made in
                             # `mktemp -d`, and a path beside the repository is shown relative to it
                             (Path("/elsewhere/fsdd/recordings"), None, "path/to/fsdd/recordings")]:
        done = run_recipe(tmp_path, "--stage", "4", data=data, cwd=cwd)
        assert done.returncode == 0, done.stderr[-3000:]
        results = (tmp_path / "RESULTS.md").read_text()
        command = results.split("## Command", 1)[1]
        assert f"recipes/digits/run.sh --data {shown}\n" in command, (data, command)
        assert str(tmp_path) not in results and str(REPO) not in results
