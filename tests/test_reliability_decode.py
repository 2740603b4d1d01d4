"""`asr decode` restarts: killed (SIGKILL) twice on a large manifest and run again, it keeps what
it wrote, decodes the rest, and OUT holds every utterance once, equal to an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from asr.data.partial import PartialOutput
from asr.errors import ManifestError
from conftest import FSDD, REPO, needs_shared_data, run_cli

WHAT = {"model": ["m.pt", 1, 2], "options": {"decoder": "greedy"}}


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_partial_output_drops_a_torn_last_line_and_appends_after_it(tmp_path):
    out = tmp_path / "hyp.jsonl"
    first = PartialOutput(out, WHAT)
    for name in "abc":
        first.add({"id": name, "text": name.upper()})
    first.close()
    with open(first.path, "a") as f:
        f.write('{"id": "d", "te')  # what a kill in the middle of a write leaves
    again = PartialOutput(out, WHAT)
    assert list(again.done) == ["a", "b", "c"]
    again.add({"id": "d", "text": "D"})
    again.add({"id": "e", "text": "É"})
    assert not out.exists()  # only the finished job writes OUT
    assert again.finish(["e", "d", "c", "b", "a", "missing"]) == 5
    assert [r["id"] for r in lines(out)] == ["e", "d", "c", "b", "a"]  # the caller's order
    assert lines(out)[0]["text"] == "É"
    assert not again.path.exists()


def test_partial_output_from_another_command_or_overwrite_starts_over(tmp_path):
    out = tmp_path / "hyp.jsonl"
    first = PartialOutput(out, WHAT)
    first.add({"id": "a", "text": "A"})
    first.close()
    assert PartialOutput(out, {**WHAT, "model": ["other.pt", 1, 2]}).done == {}
    second = PartialOutput(out, WHAT)  # the file was rewritten for the other model
    assert second.done == {}
    second.add({"id": "a", "text": "A"})
    second.close()
    assert PartialOutput(out, WHAT, overwrite=True).done == {}


def test_partial_output_with_a_foreign_line_is_an_error(tmp_path):
    out = tmp_path / "hyp.jsonl"
    first = PartialOutput(out, WHAT)
    first.add({"id": "a", "text": "A"})
    first.close()
    with open(first.path, "a") as f:
        f.write("[1, 2]\n{\"id\": \"b\", \"text\": \"B\"}\n")
    with pytest.raises(ManifestError, match=r"hyp\.jsonl\.partial:3: not a line written by asr"):
        PartialOutput(out, WHAT)


def _manifest(tmp_path, count: int):
    files = sorted(FSDD.glob("*.wav"))[:count]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps({"id": f.stem, "audio": str(f), "duration": 0.5}) + "\n" for f in files))
    return path, [f.stem for f in files]


def _kill_when_partial_has(cmd: list[str], partial, count: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "asr", *cmd], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if partial.exists() and partial.read_text().count("\n") > count:  # header + records
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    return proc.wait()


@needs_shared_data
def test_decode_killed_twice_resumes_and_holds_every_utterance_once(tiny_package, tmp_path):
    manifest, ids = _manifest(tmp_path, 160)
    common = ["decode", "--model", str(tiny_package), "--manifest", str(manifest), "--num-workers", "0",
              "--batch-frames", "400", "--threads", "1"]
    out = tmp_path / "hyp.jsonl"
    partial = tmp_path / "hyp.jsonl.partial"
    rng = random.Random(4)
    for low, high in ((10, 60), (80, 130)):
        status = _kill_when_partial_has(common + ["--out", str(out)], partial, rng.randrange(low, high))
        assert status == -signal.SIGKILL, "the decode finished before the kill"
        assert not out.exists()
        assert len(partial.read_text().splitlines()) - 1 >= low
    header = partial.read_text().splitlines()[0]
    with open(partial, "a") as f:
        f.write('{"id": "torn", "text": "HAL')  # as if the kill had cut a line in half
    held = len(partial.read_text().splitlines()) - 2
    final = run_cli(*common, "--out", str(out))
    assert final.returncode == 0, final.stderr
    assert f"resuming: {held} of 160 utterances already decoded" in final.stderr
    assert "decoded 160 of 160 utterances" in final.stderr
    assert [r["id"] for r in lines(out)] == ids  # every utterance once, in manifest order
    assert not partial.exists()
    resumed = out.read_text()

    # what a restart keeps is only what the same command made: with --overwrite, or after the
    # model file changed, a partial file is ignored (its made-up record does not reach OUT).
    # Either way that is an uninterrupted run, and the resumed output equals it.
    made_up = json.dumps({"id": ids[0], "text": "MADE UP"})
    partial.write_text(header + "\n" + made_up + "\n")
    again = run_cli(*common, "--out", str(out), "--overwrite")
    assert again.returncode == 0 and "resuming" not in again.stderr
    assert out.read_text() == resumed
    partial.write_text(header + "\n" + made_up + "\n")
    os.utime(tiny_package, ns=(time.time_ns(), time.time_ns()))
    again = run_cli(*common, "--out", str(out))
    assert again.returncode == 0 and "resuming" not in again.stderr
    assert out.read_text() == resumed
