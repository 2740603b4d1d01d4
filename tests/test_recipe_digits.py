"""The digits recipe end to end on the real FSDD recordings, with a tiny, quick config."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import FSDD, REPO


def run_recipe(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(REPO / "recipes" / "digits" / "run.sh"), "--data", str(FSDD),
                           "--workdir", str(workdir), "--results", str(workdir / "RESULTS.md"), *args],
                          env=env, capture_output=True, text=True, timeout=900)


def test_digits_recipe_runs_all_stages_and_is_idempotent(tmp_path):
    tiny = "run.epochs=1 model.num_layers=1 model.hidden_size=32 features.cmvn_max_utterances=100"
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
    assert "machine:" in results and "recipes/digits/run.sh" in results

    # a second run finds everything done and changes nothing it does not have to
    model_mtime = (tmp_path / "exp" / "digits" / "model.pt").stat().st_mtime_ns
    again = run_recipe(tmp_path, "--overrides", tiny, "--stage", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already in data/" in again.stderr and "already trained" in again.stderr
    assert "up to date" in again.stderr
    assert (tmp_path / "exp" / "digits" / "model.pt").stat().st_mtime_ns == model_mtime
