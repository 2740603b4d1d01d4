"""Corpus importers, checked against facts read independently of the importer."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.data.importers import prepare_folder, prepare_fsdd, prepare_kaldi, prepare_librispeech
from asr.data.manifest import read_manifest
from asr.errors import AsrError

from conftest import FSDD, LIBRISPEECH, needs_shared_data
DIGITS = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"]



def write_wav(path: Path, seconds: float, rate: int = 16000, fmt: str | None = None) -> Path:
    """A short sine tone; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.1 * np.sin(2 * np.pi * 440 * t), rate, format=fmt)
    return path


def warnings_of(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records
                     if r.name == "asr.data" and r.levelno == logging.WARNING)


# --------------------------------------------------------------------------- LibriSpeech

@pytest.mark.parametrize("start", ["", "LibriSpeech", "LibriSpeech/dev-clean"])
@needs_shared_data
def test_librispeech_sample_matches_transcripts_and_headers(tmp_path, start):
    counts = prepare_librispeech(LIBRISPEECH / start, tmp_path)
    assert counts == {"dev-clean": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev-clean.jsonl"]

    chapter = LIBRISPEECH / "LibriSpeech/dev-clean/2412/153948"
    expected = dict(line.split(" ", 1) for line in
                    (chapter / "2412-153948.trans.txt").read_text().splitlines() if line)
    assert sorted(expected) == ["2412-153948-0000", "2412-153948-0001"]

    utts = read_manifest(tmp_path / "dev-clean.jsonl")
    assert [u.id for u in utts] == sorted(expected)
    for utt in utts:
        assert utt.text == expected[utt.id].strip()
        assert utt.speaker == "2412" and utt.chapter == "153948"
        assert Path(utt.audio).is_absolute()
        assert Path(utt.audio) == chapter / f"{utt.id}.flac"
        info = sf.info(utt.audio)
        assert utt.duration == pytest.approx(info.frames / info.samplerate, abs=1e-6)
    # the manifest line itself stores the absolute path, not only read_manifest's resolution
    assert str(chapter) in (tmp_path / "dev-clean.jsonl").read_text()


def test_librispeech_several_subsets_and_missing_flac(tmp_path, caplog):
    root = tmp_path / "corpus" / "LibriSpeech"
    for subset, spk in [("dev-clean", "84"), ("train-clean-100", "19")]:
        chapter = root / subset / spk / "121"
        write_wav(chapter / f"{spk}-121-0000.flac", 0.5, fmt="FLAC")
        (chapter / f"{spk}-121.trans.txt").write_text(
            f"{spk}-121-0000 HELLO WORLD\n{spk}-121-0001 NO AUDIO FOR THIS ONE\n")
    (root / "LICENSE.TXT").write_text("license")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="asr.data"):
        counts = prepare_librispeech(tmp_path / "corpus", out)
    assert counts == {"dev-clean": 1, "train-clean-100": 1}
    assert [u.id for u in read_manifest(out / "train-clean-100.jsonl")] == ["19-121-0000"]
    assert read_manifest(out / "dev-clean.jsonl")[0].duration == pytest.approx(0.5)
    assert "84-121-0001" in warnings_of(caplog) and "19-121-0001" in warnings_of(caplog)


def test_librispeech_missing_or_empty_source_raises(tmp_path):
    with pytest.raises(AsrError, match="not found"):
        prepare_librispeech(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AsrError, match="no usable utterances"):
        prepare_librispeech(tmp_path / "empty", tmp_path / "out")


# --------------------------------------------------------------------------- FSDD

@pytest.fixture(scope="module")
def fsdd_manifests(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("fsdd")
    counts = prepare_fsdd(FSDD, out)
    return counts, {split: read_manifest(out / f"{split}.jsonl") for split in counts}


def _fsdd_name(utt_id: str) -> tuple[int, str, int]:
    digit, speaker, index = re.fullmatch(r"(\d)_(\w+?)_(\d+)", utt_id).groups()
    return int(digit), speaker, int(index)


def test_fsdd_split_sizes_and_disjoint(fsdd_manifests):
    counts, splits = fsdd_manifests
    assert counts == {"train": 2150, "dev": 100, "test": 250}
    ids = {split: {u.id for u in utts} for split, utts in splits.items()}
    assert not ids["train"] & ids["dev"]
    assert not ids["train"] & ids["test"]
    assert not ids["dev"] & ids["test"]
    assert ids["train"] | ids["dev"] | ids["test"] == {p.stem for p in FSDD.glob("*.wav")}


def test_fsdd_split_rules_text_and_speaker(fsdd_manifests):
    _, splits = fsdd_manifests
    speakers = {"george", "jackson", "lucas", "nicolas", "yweweler"}
    for split, utts in splits.items():
        for utt in utts:
            digit, speaker, index = _fsdd_name(utt.id)
            assert utt.text == DIGITS[digit]
            assert utt.speaker == speaker
            assert Path(utt.audio) == FSDD / f"{utt.id}.wav"
            assert {"test": index <= 4, "dev": index in (5, 6), "train": index >= 7}[split], utt.id
    assert {u.speaker for u in splits["test"]} == speakers
    # dev: every (speaker, digit) pair exactly twice
    pairs = [(_fsdd_name(u.id)[1], _fsdd_name(u.id)[0]) for u in splits["dev"]]
    assert sorted(set(pairs)) == sorted((s, d) for s in speakers for d in range(10))
    assert all(pairs.count(p) == 2 for p in set(pairs))
    sample = splits["test"][0]
    info = sf.info(sample.audio)
    assert sample.duration == pytest.approx(info.frames / info.samplerate, abs=1e-6)


def test_fsdd_dev_per_speaker_and_bad_files(tmp_path, caplog):
    rec = tmp_path / "recordings"
    for digit in range(10):
        for index in range(0, 9):
            write_wav(rec / f"{digit}_alice_{index}.wav", 0.05, rate=8000)
    (rec / "3_alice_5.wav").write_bytes(b"not audio at all")  # corrupt dev candidate
    write_wav(rec / "README.wav", 0.05, rate=8000)  # wrong name pattern
    with caplog.at_level(logging.WARNING, logger="asr.data"):
        counts = prepare_fsdd(rec, tmp_path / "out", dev_per_speaker=10)
    assert counts == {"test": 50, "dev": 10, "train": 29}
    dev = {u.id for u in read_manifest(tmp_path / "out" / "dev.jsonl")}
    # index 5 of every digit, with the corrupt 3_alice_5 replaced by the next lowest (0_alice_6)
    assert dev == {f"{d}_alice_5" for d in range(10) if d != 3} | {"0_alice_6"}
    assert "3_alice_5" in warnings_of(caplog) and "README.wav" in warnings_of(caplog)


# --------------------------------------------------------------------------- plain folder

def test_folder_texts_speakers_and_warnings(tmp_path, caplog):
    src = tmp_path / "mydata"
    write_wav(src / "spk1" / "a.wav", 0.25)
    (src / "spk1" / "a.txt").write_text("Hello, world 42!\n")
    write_wav(src / "spk2" / "b.flac", 0.5, fmt="FLAC")
    (src / "spk2" / "b.txt").write_text("good bye")
    write_wav(src / "spk2" / "c.WAV", 0.75)  # no transcript, upper-case extension
    (src / "spk2" / "corrupt.wav").write_bytes(b"RIFF....garbage")
    (src / "spk2" / "corrupt.txt").write_text("never used")
    (src / "notes.txt").write_text("not a transcript of anything")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="asr.data"):
        counts = prepare_folder(src, out)
    assert counts == {"mydata": 3}
    utts = {u.id: u for u in read_manifest(out / "mydata.jsonl")}
    assert list(utts) == ["spk1/a", "spk2/b", "spk2/c"]
    assert utts["spk1/a"].text == "HELLO WORLD FORTY TWO"
    assert utts["spk2/b"].text == "GOOD BYE"
    assert utts["spk2/c"].text == ""
    assert [u.speaker for u in utts.values()] == ["spk1", "spk2", "spk2"]
    assert [u.duration for u in utts.values()] == pytest.approx([0.25, 0.5, 0.75])
    warnings = warnings_of(caplog)
    assert "corrupt.wav" in warnings
    assert "1 audio files have no .txt" in warnings


def test_folder_name_override_and_errors(tmp_path):
    src = tmp_path / "x"
    write_wav(src / "u.wav", 0.1)
    assert prepare_folder(src, tmp_path / "out", name="custom") == {"custom": 1}
    assert (tmp_path / "out" / "custom.jsonl").is_file()
    (tmp_path / "empty").mkdir()
    with pytest.raises(AsrError, match="no usable utterances"):
        prepare_folder(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(AsrError, match="not found"):
        prepare_folder(tmp_path / "missing", tmp_path / "out")
    # only corrupt audio: nothing usable is an error too, not an empty manifest
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "z.wav").write_bytes(b"junk")
    with pytest.raises(AsrError, match="1 entries skipped"):
        prepare_folder(tmp_path / "bad", tmp_path / "out")


# --------------------------------------------------------------------------- Kaldi

def _kaldi_dir(tmp_path: Path) -> Path:
    """data/train with: a long recording in segments, a relative path, a piped entry, a
    corrupt file and an utterance without text."""
    root = tmp_path / "egs"
    long_wav = write_wav(root / "wav" / "long.wav", 3.0)
    write_wav(root / "wav" / "short.wav", 1.5)
    (root / "wav" / "corrupt.wav").write_bytes(b"\x00" * 100)
    data = root / "data" / "train"
    data.mkdir(parents=True)
    (data / "wav.scp").write_text(
        f"recA {long_wav}\n"
        "recB wav/short.wav\n"  # relative to the recipe folder, like Kaldi's egs
        "recC sox wav/short.wav -t wav - |\n"
        "recD wav/corrupt.wav\n")
    (data / "segments").write_text(
        "spk1-recA-0000 recA 0.00 1.20\n"
        "spk1-recA-0001 recA 1.50 2.75\n"
        "spk1-recA-0002 recA 2.50 9.00\n"  # ends far past the recording
        "spk2-recB-0000 recB 0.25 -1\n"     # -1: to the end
        "spk2-recC-0000 recC 0 1\n"
        "spk2-recD-0000 recD 0 1\n")
    (data / "text").write_text(
        "spk1-recA-0000 hello there\n"
        "spk1-recA-0001 general\tkenobi\n"
        "spk1-recA-0002 too long\n"
        "spk2-recB-0000 from B\n"
        "spk2-recC-0000 piped\n"
        "spk2-recD-0000 corrupt\n")
    (data / "utt2spk").write_text(
        "spk1-recA-0000 spk1\nspk1-recA-0001 spk1\nspk1-recA-0002 spk1\n"
        "spk2-recB-0000 spk2\nspk2-recC-0000 spk2\nspk2-recD-0000 spk2\n")
    return data


def test_kaldi_segments_offsets_and_skips(tmp_path, caplog, monkeypatch):
    data = _kaldi_dir(tmp_path)
    monkeypatch.chdir(tmp_path)  # not the recipe folder: the parent fallback must find recB
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="asr.data"):
        counts = prepare_kaldi(data, out)
    assert counts == {"train": 3}
    utts = {u.id: u for u in read_manifest(out / "train.jsonl")}
    assert list(utts) == ["spk1-recA-0000", "spk1-recA-0001", "spk2-recB-0000"]
    a0, a1, b0 = utts.values()
    assert (a0.offset, a0.duration) == pytest.approx((0.0, 1.2))
    assert (a1.offset, a1.duration) == pytest.approx((1.5, 1.25))
    assert (b0.offset, b0.duration) == pytest.approx((0.25, 1.25))
    assert a0.audio == a1.audio == str(tmp_path / "egs" / "wav" / "long.wav")
    assert b0.audio == str(tmp_path / "egs" / "wav" / "short.wav")
    assert a1.text == "GENERAL KENOBI" and b0.text == "FROM B"
    assert (a0.speaker, b0.speaker) == ("spk1", "spk2")
    warnings = warnings_of(caplog)
    assert "recC" in warnings and "piped" in warnings
    assert "corrupt.wav" in warnings
    assert "spk1-recA-0002" in warnings
    assert "skipped 3" in warnings


def test_kaldi_without_segments_uses_cwd_and_whole_files(tmp_path, monkeypatch, caplog):
    write_wav(tmp_path / "audio" / "r1.wav", 0.5)
    write_wav(tmp_path / "audio" / "r2.wav", 0.7)
    data = tmp_path / "elsewhere" / "deep" / "dev"
    data.mkdir(parents=True)
    r3 = write_wav(data.parent / "aud" / "r3.wav", 0.3)  # relative to the data dir's parent
    (data / "wav.scp").write_text("r1 audio/r1.wav\nr2 audio/r2.wav\nr3 aud/r3.wav\n")
    (data / "text").write_text("r1 one\nr3 three\n")  # r2 has no text
    monkeypatch.chdir(tmp_path)  # Kaldi resolves relative paths against the cwd
    with caplog.at_level(logging.WARNING, logger="asr.data"):
        counts = prepare_kaldi(data, tmp_path / "out", name="mydev")
    assert counts == {"mydev": 2}
    r1, r3_utt = read_manifest(tmp_path / "out" / "mydev.jsonl")
    assert (r1.id, r1.text, r1.offset, r1.speaker) == ("r1", "ONE", 0.0, "")
    assert r1.audio == str(tmp_path / "audio" / "r1.wav")
    assert r1.duration == pytest.approx(0.5)
    assert (r3_utt.audio, r3_utt.duration) == (str(r3), pytest.approx(0.3))
    assert "r2" in warnings_of(caplog) and "no entry in text" in warnings_of(caplog)


def test_kaldi_errors(tmp_path):
    with pytest.raises(AsrError, match="not found"):
        prepare_kaldi(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "d").mkdir()
    with pytest.raises(AsrError, match="no wav.scp"):
        prepare_kaldi(tmp_path / "d", tmp_path / "out")
    (tmp_path / "d" / "wav.scp").write_text("r1 gunzip -c x.wav.gz |\n")
    (tmp_path / "d" / "text").write_text("r1 hi\n")
    with pytest.raises(AsrError, match="no usable utterances"):
        prepare_kaldi(tmp_path / "d", tmp_path / "out")
