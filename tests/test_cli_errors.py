"""Bad input at the command line: one clear line on stderr, a non-zero exit, no traceback.
Batch jobs report a bad file, skip it and decode the rest."""

from __future__ import annotations

import json
import os

import pytest

from conftest import FSDD, needs_shared_data, run_cli, write_tone


def assert_one_line_error(proc, *fragments: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_transcribe_missing_file(tiny_package, tmp_path):
    proc = run_cli("transcribe", str(tmp_path / "nope.wav"), "--model", str(tiny_package))
    assert_one_line_error(proc, "nope.wav", "no such file")


def test_transcribe_text_file_named_wav(tiny_package, tmp_path):
    fake = tmp_path / "fake.wav"
    fake.write_text("this is not audio\n")
    proc = run_cli("transcribe", str(fake), "--model", str(tiny_package))
    assert_one_line_error(proc, "fake.wav", "not a readable audio file")


def test_transcribe_empty_file(tiny_package, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.touch()
    proc = run_cli("transcribe", str(empty), "--model", str(tiny_package))
    assert_one_line_error(proc, "empty.wav", "empty file")


def test_random_file_as_model(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(4096))
    wav = write_tone(tmp_path / "a.wav")
    proc = run_cli("transcribe", str(wav), "--model", str(junk))
    assert_one_line_error(proc, "junk.pt", "not an asr model package")


def test_truncated_and_foreign_model_packages(tiny_package, tmp_path):
    import torch

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_package.read_bytes()[:2000])
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}, "epoch": 3}, foreign)  # someone else's checkpoint
    wav = write_tone(tmp_path / "a.wav")
    for model in (truncated, foreign):
        proc = run_cli("transcribe", str(wav), "--model", str(model))
        assert_one_line_error(proc, model.name, "not an asr model package")


def test_empty_manifest(tiny_package, tmp_path):
    manifest = tmp_path / "empty.jsonl"
    manifest.write_text("\n")
    proc = run_cli("decode", "--model", str(tiny_package), "--manifest", str(manifest),
                   "--out", str(tmp_path / "hyp.jsonl"))
    assert_one_line_error(proc, "empty.jsonl", "empty")


def test_malformed_manifest_line(tiny_package, tmp_path):
    manifest = tmp_path / "bad.jsonl"
    wav = write_tone(tmp_path / "a.wav")
    manifest.write_text(json.dumps({"id": "a", "audio": str(wav), "duration": 0.5}) + "\n{not json\n")
    proc = run_cli("decode", "--model", str(tiny_package), "--manifest", str(manifest),
                   "--out", str(tmp_path / "hyp.jsonl"))
    assert_one_line_error(proc, "bad.jsonl:2", "malformed JSON")


def test_unknown_config_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  num_layer: 3\n")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "a", "audio": "a.wav", "duration": 1.0, "text": "A"}) + "\n")
    proc = run_cli("train", "--config", str(config), "--train", str(manifest), "--exp", str(tmp_path / "exp"))
    assert_one_line_error(proc, "unknown config key 'model.num_layer'")
    proc = run_cli("train", "--train", str(manifest), "--exp", str(tmp_path / "exp"), "optim.lrr=1")
    assert_one_line_error(proc, "unknown config key 'optim.lrr'")


def test_missing_manifest_for_training(tmp_path):
    proc = run_cli("train", "--train", str(tmp_path / "none.jsonl"), "--exp", str(tmp_path / "exp"))
    assert_one_line_error(proc, "none.jsonl", "not found")


@needs_shared_data
def test_decode_skips_bad_files_and_decodes_the_rest(tiny_package, tmp_path):
    good = [FSDD / "1_george_0.wav", FSDD / "2_lucas_3.wav"]
    bad = tmp_path / "broken.wav"
    bad.write_text("garbage")
    lines = [{"id": p.stem, "audio": str(p), "duration": 0.5} for p in good]
    lines.insert(1, {"id": "broken", "audio": str(bad), "duration": 0.5})
    lines.append({"id": "gone", "audio": str(tmp_path / "gone.flac"), "duration": 0.5})
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "hyp.jsonl"
    proc = run_cli("decode", "--model", str(tiny_package), "--manifest", str(manifest), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    hyps = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(h["id"] for h in hyps) == sorted(p.stem for p in good)
    assert "broken" in proc.stderr and "gone" in proc.stderr
    assert "decoded 2 of 4 utterances" in proc.stderr and "2 skipped" in proc.stderr


@needs_shared_data
def test_transcribe_many_files_with_one_bad(tiny_package, tmp_path):
    good = [str(FSDD / "5_nicolas_1.wav"), str(write_tone(tmp_path / "tone 1 é.flac", rate=44100))]
    bad = str(tmp_path / "missing.wav")
    proc = run_cli("transcribe", good[0], bad, good[1], "--model", str(tiny_package), "--format", "json")
    assert proc.returncode == 1  # like cat: the others are done, the status says one failed
    assert "Traceback" not in proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["file"] for r in records] == good
    assert all(isinstance(r["text"], str) for r in records)
    assert "missing.wav" in proc.stderr


@pytest.mark.parametrize("args", [["score", "nope.jsonl", "nope2.jsonl"],
                                  ["prepare", "fsdd", "no/such/dir", "--out", "x"]])
def test_other_commands_missing_inputs(args, tmp_path):
    proc = run_cli(*args, cwd=tmp_path)
    assert_one_line_error(proc, "no")


@pytest.mark.parametrize("content,kind", [(b"hello, this is text\n", "it is a text file"),
                                          (b"\x89PNG\r\n\x1a\n" + bytes(64), "it is a PNG image"),
                                          (b"RIFF" + bytes(64), "it is a RIFF file")])
def test_model_or_lm_that_is_another_kind_of_file_says_what_it_is(content, kind, tiny_package, tmp_path):
    wrong = tmp_path / "wrong.pt"
    wrong.write_bytes(content)
    wav = write_tone(tmp_path / "a.wav")
    proc = run_cli("transcribe", str(wav), "--model", str(wrong))
    assert_one_line_error(proc, "wrong.pt", "not an asr model package", kind)
    proc = run_cli("transcribe", str(wav), "--model", str(tiny_package), "--lm", str(wrong), "--decoder", "beam")
    assert_one_line_error(proc, "wrong.pt", "not an asr language-model package", kind)
