"""The synthetic corpus tool (asr synth, asr.data.synth): determinism, resume, manifests that
match the files, held-out voices, and augmentations that do what they say.

Uses espeak-ng, flite and festival with its kal/ked voices (the README's test command
installs them). The corpus is a handful of short sentences from ../shared/data/text.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA, REPO, needs_shared_data

from asr.cli import main
from asr.data.importers import prepare_librispeech
from asr.data.manifest import read_manifest
from asr.data.synth import augment
from asr.data.synth.corpus import (
    SynthOptions,
    plan_split,
    render,
    resolve_voices,
    synthesize_corpus,
)
from asr.data.synth.voices import ESPEAK_ACCENTS, FAMILIES, installed_voices, speak, voice_catalogue
from asr.text import normalize_text

SR = 16000
# every engine equally often, so that a dozen utterances use all three
OPTIONS = dataclasses.replace(SynthOptions(), family_weights={f: 1.0 for f in FAMILIES})
SIZES = {"train": 10, "dev": 4, "test": 4}


@pytest.fixture(scope="module")
def text_file(tmp_path_factory, shared_data) -> Path:
    """Twenty short sentences (4-7 words), so that the corpus is quick to make."""
    if not {"espeak:en-us+m1", "flite:slt", "festival:kal_diphone", "festival:ked_diphone"} <= installed_voices():
        pytest.fail("espeak-ng, flite and festival with its kal and ked voices are needed "
                    "(apt-get install -y espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k)")
    lines = (DATA / "text" / "lm_dev.txt").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("text") / "sentences.txt"
    path.write_text("\n".join([l for l in lines if 4 <= len(l.split()) <= 7][:20]) + "\n", encoding="utf-8")
    return path


def make(text: Path, out: Path, split: str, jobs: int = 1, **kwargs):
    kwargs.setdefault("options", OPTIONS)
    return synthesize_corpus(text, out, split, num=kwargs.pop("num", SIZES[split]), seed=7, max_words=7,
                             jobs=jobs, progress=False, **kwargs)


@pytest.fixture(scope="module")
def corpus(text_file, tmp_path_factory) -> Path:
    """All three splits, made with two processes."""
    out = tmp_path_factory.mktemp("corpus")
    for split in SIZES:
        make(text_file, out, split, jobs=2)
    return out


def corpus_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != "settings.json"}  # settings.json names the text file's path


def test_same_seed_same_bytes_whatever_the_number_of_processes(corpus, text_file, tmp_path):
    for split in SIZES:
        make(text_file, tmp_path, split, jobs=1)
    first, second = corpus_files(corpus), corpus_files(tmp_path)
    assert sorted(first) == sorted(second)
    assert sum(name.endswith(".flac") for name in first) == sum(SIZES.values())
    assert [name for name in first if first[name] != second[name]] == []


def test_another_seed_gives_other_audio(text_file, tmp_path):
    a = make(text_file, tmp_path / "a", "dev", families=["espeak"])
    b = synthesize_corpus(text_file, tmp_path / "b", "dev", num=SIZES["dev"], seed=8, max_words=7,
                          families=["espeak"], options=OPTIONS, progress=False)
    assert a.made == b.made == SIZES["dev"]
    assert corpus_files(tmp_path / "a") != corpus_files(tmp_path / "b")


def test_resume_makes_only_missing_files(corpus, text_file, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(corpus, out)
    flacs = sorted(out.glob("train/*/*/*.flac"))
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in flacs}
    # nothing missing: nothing made, nothing rewritten
    summary = make(text_file, out, "train")
    assert (summary.made, summary.existing, summary.failed) == (0, len(flacs), 0)
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in flacs} == before
    # one file lost (and a temporary of a killed run left over): only that one is made again
    lost = flacs[3]
    original = lost.read_bytes()
    lost.unlink()
    (lost.parent / f".{lost.name}.abc.tmp").write_bytes(b"half a file")
    summary = make(text_file, out, "train")
    assert (summary.made, summary.existing) == (1, len(flacs) - 1)
    assert lost.read_bytes() == original
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in flacs if p != lost} == \
        {p: v for p, v in before.items() if p != lost}
    assert not list(out.rglob("*.tmp"))
    # a larger size extends the split: the first utterances stay as they are
    summary = make(text_file, out, "train", num=SIZES["train"] + 2)
    assert (summary.made, summary.existing) == (2, len(flacs))
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in flacs if p != lost} == \
        {p: v for p, v in before.items() if p != lost}


def test_manifest_matches_the_audio_and_the_transcripts(corpus, text_file):
    sentences = {normalize_text(line) for line in text_file.read_text().splitlines()}
    for split, size in SIZES.items():
        records = [json.loads(line) for line in (corpus / f"{split}.jsonl").read_text().splitlines()]
        assert len(records) == size
        utterances = {u.id: u for u in read_manifest(corpus / f"{split}.jsonl", require_text=True)}
        # the LibriSpeech importer reads the same corpus from its .trans.txt files and FLAC headers
        prepare_librispeech(corpus / split, corpus / "imported")
        imported = {u.id: u for u in read_manifest(corpus / "imported" / f"{split}.jsonl")}
        assert sorted(imported) == sorted(utterances)
        for record in records:
            utt = utterances[record["id"]]
            audio, rate = sf.read(utt.audio)
            assert rate == SR and audio.ndim == 1
            assert utt.duration == pytest.approx(len(audio) / SR, abs=1e-6)
            assert utt.text in sentences
            assert (utt.text, utt.speaker, utt.chapter) == (imported[utt.id].text, imported[utt.id].speaker,
                                                           imported[utt.id].chapter)
            assert imported[utt.id].duration == pytest.approx(utt.duration, abs=1e-6)
            assert Path(utt.audio).parent.parent.name == utt.speaker
            # the voice named in the record is this speaker's, by SPEAKERS.TXT
            assert f"{utt.speaker} | {split} | {record['synth']['voice'].replace(':', ' | ')}" in \
                (corpus / "SPEAKERS.TXT").read_text()
    used = {json.loads(line)["synth"]["voice"].split(":")[0]
            for split in SIZES for line in (corpus / f"{split}.jsonl").read_text().splitlines()}
    assert used == set(FAMILIES) - {"kokoro"}  # Kokoro needs its files: tests/test_kokoro.py


def test_dev_and_test_voices_never_occur_in_train(corpus):
    def voices(split: str) -> set[str]:
        return {json.loads(line)["synth"]["voice"] for line in (corpus / f"{split}.jsonl").read_text().splitlines()}

    def speakers(split: str) -> set[str]:
        return {u.speaker for u in read_manifest(corpus / f"{split}.jsonl")}

    assert not voices("train") & (voices("dev") | voices("test"))
    assert not speakers("train") & (speakers("dev") | speakers("test"))
    assert not speakers("dev") & speakers("test")
    # the same holds for the whole catalogue, and the held-out voices span engines and accents
    split_of = {}
    for v in voice_catalogue():
        assert split_of.setdefault(v.label, v.split) == v.split
    catalogue = {s: {v for v in voice_catalogue() if v.split == s} for s in ("train", "dev", "test")}
    assert len({v.speaker for v in voice_catalogue()}) == len(voice_catalogue())
    for held_out in ("dev", "test"):
        assert len({v.family for v in catalogue[held_out]}) >= 2
        unseen_accents = {v.name.split("+")[0] for v in catalogue[held_out] if v.family == "espeak"} - \
            {v.name.split("+")[0] for v in catalogue["train"] if v.family == "espeak"}
        assert unseen_accents and unseen_accents <= set(ESPEAK_ACCENTS)
    # flite's kal16 and festival's kal_diphone are one talker: never on both sides
    assert {v.split for v in voice_catalogue() if v.name in ("kal16", "kal_diphone")} == {"train"}


def test_telephone_band_leaves_nothing_above_4_khz(text_file, tmp_path):
    options = dataclasses.replace(SynthOptions(), telephone_prob=1.0, noise_prob=1.0)
    make(text_file, tmp_path, "dev", num=3, families=["espeak", "flite"], options=options)
    files = sorted(tmp_path.glob("dev/*/*/*.flac"))
    assert len(files) == 3
    for path in files:
        audio, rate = sf.read(path)
        power = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / rate)
        total = power.sum()
        # 16-bit quantization noise is about -90 dB; the band edges are 3.4 kHz and 300 Hz
        assert power[freqs > 4000].sum() / total < 1e-6
        assert power[freqs < 200].sum() / total < 1e-4
        assert power[(freqs > 250) & (freqs < 3450)].sum() / total > 0.999


def test_noise_is_added_at_the_recorded_snr(corpus, text_file):
    """Each noisy file minus its clean version (same plan, no noise) has the SNR its manifest
    record gives, within the requested 5-30 dB."""
    voices = resolve_voices("train", None, None)
    plan = plan_split(text_file.resolve(), "train", voices, SIZES["train"], None, 7, 4, 7, 0, None, OPTIONS)
    noisy = [u for u in plan if u.noise and not u.telephone]
    assert {u.noise for u in noisy} == {"white", "pink", "babble"}  # this seed's corpus has all three
    records = {json.loads(line)["id"]: json.loads(line)["synth"] for line in (corpus / "train.jsonl").open()}
    for utt in noisy:
        assert 5 <= utt.snr_db <= 30 and records[utt.id]["snr_db"] == pytest.approx(utt.snr_db, abs=1e-3)
        audio, _ = sf.read(corpus / utt.path)
        clean = render(dataclasses.replace(utt, noise=""))
        # the file is gain * (clean + noise); least squares finds the gain of the clean part
        gain = np.dot(audio, clean) / np.dot(clean, clean)
        noise = audio - gain * clean
        measured = 10 * np.log10(np.sum((gain * clean) ** 2) / np.sum(noise ** 2))
        assert measured == pytest.approx(utt.snr_db, abs=0.5), utt.noise


def test_add_noise_sets_the_snr_for_every_noise_kind():
    rng = np.random.default_rng(0)
    speech, rate = speak(voice_catalogue()[0], "the quick brown fox jumps over the lazy dog")
    speech = augment.resample_speed(speech, rate, SR)
    kinds = {"white": augment.white_noise(rng, len(speech)), "pink": augment.pink_noise(rng, len(speech)),
             "babble": augment.babble(rng, [speech[::-1].copy(), np.roll(speech, 5000)], len(speech))}
    for name, noise in kinds.items():
        for snr in (5.0, 17.5, 30.0):
            mixed = augment.add_noise(speech, noise, snr)
            measured = 10 * np.log10(np.sum(speech.astype(np.float64) ** 2) / np.sum((mixed - speech) ** 2.0))
            assert measured == pytest.approx(snr, abs=0.01), name


def test_pink_noise_falls_3_db_per_octave():
    noise = augment.pink_noise(np.random.default_rng(1), 2**18)
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(len(noise), 1 / SR)
    band = (freqs > 50) & (freqs < 6000)
    slope = np.polyfit(np.log10(freqs[band]), np.log10(power[band]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.05)


def test_speed_scales_duration_and_frequency():
    rate = 22050
    tone = np.sin(2 * np.pi * 1000 * np.arange(2 * rate) / rate).astype(np.float32)
    for speed in (0.9, 1.0, 1.1):
        out = augment.resample_speed(tone, rate, SR, speed)
        assert len(out) == pytest.approx(2 * SR / speed, abs=2)
        spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
        peak = np.fft.rfftfreq(len(out), 1 / SR)[np.argmax(spectrum)]
        assert peak == pytest.approx(1000 * speed, abs=1.0)


@pytest.mark.parametrize("rt60", [0.25, 0.7])
def test_room_impulse_response_decays_in_rt60(rt60):
    """The reverberation time measured by Schroeder's backward integration (T20 fit of the
    decay curve from -5 to -25 dB, extrapolated to 60 dB) is the one asked for."""
    rir = augment.room_impulse_response(np.random.default_rng(3), rt60, SR).astype(np.float64)
    tail = rir[1:]
    edc = 10 * np.log10(np.cumsum(tail[::-1] ** 2)[::-1] / np.sum(tail ** 2))
    t = np.arange(len(edc)) / SR
    fit = (edc < -5) & (edc > -25)
    slope = np.polyfit(t[fit], edc[fit], 1)[0]  # dB per second
    assert -60 / slope == pytest.approx(rt60, rel=0.1)
    # equal energy in the direct path and the tail; convolution keeps the length
    assert rir[0] ** 2 == pytest.approx(np.sum(tail ** 2), rel=1e-4)
    x = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    assert np.allclose(augment.convolve(x, rir.astype(np.float32)), np.convolve(x, rir)[:SR], atol=1e-4)


def test_user_errors_are_one_line(text_file, tmp_path, capsys):
    assert main(["synth", "--text", str(tmp_path / "missing.txt"), "--out", str(tmp_path), "--split", "dev",
                 "--num", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("asr: error:") and err.endswith("missing.txt: text file not found") and "\n" not in err
    assert main(["synth", "--text", str(text_file), "--out", str(tmp_path / "c"), "--split", "dev", "--num", "1",
                 "--families", "espeak", "--jobs", "1"]) == 0
    capsys.readouterr()
    # the thin script gives the same command; a rerun with other settings is refused, not mixed in
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(REPO / "tools" / "synth_corpus.py"), "--text", str(text_file),
                           "--out", str(tmp_path / "c"), "--split", "dev", "--num", "1", "--families", "espeak",
                           "--seed", "5"], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after the log line naming the voices
    assert last.startswith("asr: error:") and "other settings (seed differ" in last


@needs_shared_data
def test_recipe_stage_0_makes_the_three_sets_from_disjoint_text(tmp_path):
    """recipes/synth stage 0: train from lm_train.txt.gz, dev from lm_dev.txt lines 0-999 and
    test from lines 1000 on, each with its own voices; a bad --size is one error line."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    # the text is passed explicitly: a clone need not sit beside ../shared (the recipe's default)
    recipe = [str(REPO / "recipes" / "synth" / "run.sh"), "--workdir", str(tmp_path), "--stop-stage", "0",
              "--train-text", str(DATA / "text" / "lm_train.txt.gz"), "--eval-text", str(DATA / "text" / "lm_dev.txt")]
    done = subprocess.run([*recipe, "--train-hours", "0.004", "--dev-hours", "0.002", "--test-hours", "0.002",
                           "--synth-jobs", "1"], env=env, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    dev_lines = (DATA / "text" / "lm_dev.txt").read_text(encoding="utf-8").splitlines()
    corpus = tmp_path / "corpus"
    speakers = {}
    for split, allowed in (("dev", set(dev_lines[:1000])), ("test", set(dev_lines[1000:]))):
        utterances = read_manifest(corpus / f"{split}.jsonl")
        assert utterances and all(u.text in allowed for u in utterances)
        speakers[split] = {u.speaker for u in utterances}
    train = read_manifest(corpus / "train.jsonl")
    assert train and not {u.text for u in train} & set(dev_lines)
    assert not {u.speaker for u in train} & (speakers["dev"] | speakers["test"])
    bad = subprocess.run([*recipe, "--size", "huge"], env=env, capture_output=True, text=True, check=False)
    expected = f"{recipe[0]}: error: --size must be cpu or gpu, not 'huge'"
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [expected]
