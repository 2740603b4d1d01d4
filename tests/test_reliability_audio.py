"""Bad and unusual audio: each file is either read into the same signal as a reference version
of the same recording, or reported in one line naming it; batch jobs (`asr decode`, `asr
transcribe`) report and skip the bad ones, finish the rest and count them.

The reference is a real FSDD recording (8 kHz, 16-bit); the variants are written from its
samples with soundfile, and the 48 kHz one with sox (an independent resampler)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import load_audio
from asr.errors import AudioError
from asr.features import LogMel
from conftest import FSDD, run_cli

SOURCE = FSDD / "7_george_3.wav"


def features(wave: torch.Tensor) -> torch.Tensor:
    feats, _ = LogMel()(wave[None], torch.tensor([wave.numel()]))
    return feats[0]


@pytest.fixture(scope="module")
def variants(tmp_path_factory, shared_data) -> dict[str, object]:
    """name -> path of each variant of SOURCE, and of the broken files."""
    folder = tmp_path_factory.mktemp("audio")
    data, rate = sf.read(SOURCE, dtype="int16")
    out = {}

    def write(name, samples, **kwargs):
        out[name] = folder / name
        sf.write(out[name], samples, rate, **kwargs)

    write("stereo.wav", np.stack([data, data], axis=1))
    write("six channels.wav", np.stack([data] * 6, axis=1))
    write("pcm24.wav", data, subtype="PCM_24")
    write("float.wav", data.astype(np.float32) / 32768, subtype="FLOAT")
    write("lossless.flac", data)
    write("lossy.mp3", data, format="MP3")
    write("lossy.ogg", data, format="OGG", subtype="VORBIS")
    write("lossy.opus", data, format="OGG", subtype="OPUS")
    write("spaces é 音 .wav", data)  # a path with spaces and non-ASCII characters
    out["48k.wav"] = folder / "48k.wav"
    subprocess.run(["sox", str(SOURCE), "-r", "48000", str(out["48k.wav"])], check=True)
    # the unusable ones
    flac = out["lossless.flac"].read_bytes()
    (folder / "truncated.flac").write_bytes(flac[: len(flac) * 2 // 3])
    (folder / "zero.wav").touch()
    (folder / "text.wav").write_text("RIFF? no, just some text\n")
    for name, bad in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        samples = data.astype(np.float32) / 32768
        samples[1000] = bad
        sf.write(folder / name, samples, rate, subtype="FLOAT")
    # odd but usable
    sf.write(folder / "silence.wav", np.zeros(16000, dtype=np.int16), 16000)
    sf.write(folder / "short.wav", data[:400], rate)  # 0.05 s
    for name in ("truncated.flac", "zero.wav", "text.wav", "nan.wav", "inf.wav", "silence.wav", "short.wav"):
        out[name] = folder / name
    return out


LOSSLESS = ["stereo.wav", "six channels.wav", "pcm24.wav", "float.wav", "lossless.flac", "spaces é 音 .wav"]
LOSSY = ["lossy.mp3", "lossy.ogg", "lossy.opus"]
BROKEN = {"truncated.flac": "damaged or truncated", "zero.wav": "empty file", "text.wav": "not a readable audio file",
          "nan.wav": "NaN or infinite", "inf.wav": "NaN or infinite"}


@pytest.mark.parametrize("name", LOSSLESS)
def test_lossless_variants_read_into_the_same_samples(variants, name):
    # the mean of equal channels, 24-bit and float copies of 16-bit samples are exact
    assert torch.equal(load_audio(variants[name]), load_audio(SOURCE))


@pytest.mark.parametrize("name", ["48k.wav"] + LOSSY)
def test_resampled_and_lossy_variants_give_the_same_features(variants, name):
    reference, wave = load_audio(SOURCE), load_audio(variants[name])
    assert wave.numel() == reference.numel()  # the codecs' padding is trimmed
    ref_feats, feats = features(reference), features(wave)
    loud = ref_feats.mean(dim=1) > ref_feats.mean(dim=1).median()  # the codecs drop the quietest detail
    difference = float((feats - ref_feats).abs()[loud].mean())
    # sox's resampler and soxr agree closely; the codecs are lossy (measured: about 0.2-0.3)
    assert difference < (0.01 if name == "48k.wav" else 0.5), difference
    assert np.corrcoef(wave.numpy(), reference.numpy())[0, 1] > 0.97


@pytest.mark.parametrize("name, reason", sorted(BROKEN.items()))
def test_unusable_files_raise_one_line_naming_the_file(variants, name, reason):
    with pytest.raises(AudioError) as err:
        load_audio(variants[name])
    message = str(err.value)
    assert message.startswith(str(variants[name])) and reason in message and "\n" not in message


def test_silence_and_a_short_clip_are_usable(variants):
    silence = load_audio(variants["silence.wav"])
    assert silence.numel() == 16000 and torch.all(silence == 0)
    short = load_audio(variants["short.wav"])
    assert short.numel() == 800  # 0.05 s at 16 kHz
    for wave in (silence, short):
        assert torch.isfinite(features(wave)).all() and features(wave).shape[0] >= 1


def test_batch_jobs_skip_bad_files_finish_the_rest_and_count(variants, tiny_package, tmp_path):
    names = sorted(variants)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": n, "audio": str(variants[n]), "duration": 0.6}) + "\n"
                                for n in names))
    out = tmp_path / "hyp.jsonl"
    proc = run_cli("decode", "--model", str(tiny_package), "--manifest", str(manifest), "--out", str(out),
                   "--num-workers", "0")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    good = [n for n in names if n not in BROKEN]
    assert sorted(json.loads(line)["id"] for line in out.read_text().splitlines()) == good
    assert f"decoded {len(good)} of {len(names)} utterances" in proc.stderr
    assert f"({len(BROKEN)} skipped: unreadable)" in proc.stderr
    for name, reason in BROKEN.items():
        line = next(line for line in proc.stderr.splitlines() if line.startswith(f"asr: error: skipped {name}:"))
        assert reason in line

    # transcribe: one line per bad file on stderr, a text for every other one, exit status 1;
    # the copies of the same samples (odd paths included) get the reference's text
    files = [str(SOURCE)] + [str(variants[n]) for n in names]
    proc = run_cli("transcribe", *files, "--model", str(tiny_package), "--format", "json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    texts = {r["file"]: r["text"] for r in map(json.loads, proc.stdout.splitlines())}
    assert sorted(texts) == sorted([str(SOURCE)] + [str(variants[n]) for n in good])
    for name in LOSSLESS:
        assert texts[str(variants[name])] == texts[str(SOURCE)], name
    errors = [line for line in proc.stderr.splitlines() if line.startswith("asr: ")]
    assert errors[-1] == (f"asr: transcribed {len(files) - len(BROKEN)} of {len(files)} files "
                          f"({len(BROKEN)} could not be read)")
    errors = errors[:-1]
    assert len(errors) == len(BROKEN)
    for name, reason in BROKEN.items():
        assert any(str(variants[name]) in e and reason in e for e in errors), name
