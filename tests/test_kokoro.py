"""Kokoro neural voices in `asr synth`: the fixed voice split (blends included), deterministic
and resumable synthesis, and one clear line for missing or wrong files.

Synthesis needs `pip install kokoro-onnx` and the release files; the README's test command
installs the package and assembles the files with tools/kokoro_files.py into
~/.cache/asr/kokoro (or $ASR_KOKORO_DIR). Where they are absent those tests are skipped
with the reason; the split and error tests run everywhere.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA

from asr.cli import main
from asr.data.synth import kokoro
from asr.data.synth.corpus import SynthOptions, plan_split, synthesize_corpus
from asr.data.synth.voices import SPLITS, installed_voices, voice_catalogue
from asr.errors import AsrError

KOKORO_DIR = Path(os.environ.get("ASR_KOKORO_DIR", Path.home() / ".cache" / "asr" / "kokoro"))
MODEL, VOICES = KOKORO_DIR / "kokoro-v1.0.int8.onnx", KOKORO_DIR / "voices-v1.0.bin"
HAVE_PACKAGE = importlib.util.find_spec("kokoro_onnx") is not None
needs_kokoro = pytest.mark.skipif(
    not (HAVE_PACKAGE and MODEL.is_file() and VOICES.is_file()),
    reason=f"needs pip install kokoro-onnx and {MODEL.name}, {VOICES.name} in {KOKORO_DIR} "
           "(python tools/kokoro_files.py --out DIR)")


@pytest.fixture(autouse=True)
def no_kokoro_left_configured():
    """The engine choice is process-wide: leave it as the other synth tests expect it."""
    yield
    kokoro.use(None)
    installed_voices.cache_clear()


def kokoro_voices(split: str):
    return [v for v in voice_catalogue() if v.family == "kokoro" and v.split == split]


def components(voice_name: str) -> list[str]:
    """The catalogue voices a Kokoro voice is made of: one, or the two of a blend."""
    return re.findall(r"[a-z]{2}_[a-z]+", voice_name)


@pytest.fixture(scope="module")
def text_file(tmp_path_factory, shared_data) -> Path:
    lines = (DATA / "text" / "lm_dev.txt").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("text") / "sentences.txt"
    path.write_text("\n".join([l for l in lines if 4 <= len(l.split()) <= 6][:300]) + "\n", encoding="utf-8")
    return path


def test_catalogue_splits_are_disjoint_and_cover_every_group():
    by_split = {s: {v.name for v in kokoro_voices(s)} for s in SPLITS}
    assert not (by_split["train"] & by_split["dev"]) and not (by_split["train"] & by_split["test"])
    assert not (by_split["dev"] & by_split["test"])
    assert set().union(*by_split.values()) == set(kokoro.VOICES)
    for held_out in ("dev", "test"):  # US and British, female and male, and accented voices
        prefixes = {name[:2] for name in by_split[held_out]}
        assert {"af", "am", "bf", "bm"} <= prefixes and prefixes - {"af", "am", "bf", "bm"}
    ids = [v.speaker for v in voice_catalogue()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("split", SPLITS)
def test_planned_voices_and_blends_stay_in_their_split(split, text_file):
    voices = kokoro_voices(split)
    plan = plan_split(text_file, split, voices, num=300, hours=None, seed=3, min_words=4, max_words=6,
                      skip=0, stop=None, options=SynthOptions())
    blends = [u for u in plan if "+" in u.voice.name]
    assert 0.35 < len(blends) / len(plan) < 0.65  # kokoro.BLEND_PROB = 0.5
    allowed = {v.name for v in voices}
    for utt in plan:
        parts = components(utt.voice.name)
        assert set(parts) <= allowed, (utt.voice.name, split)
        assert utt.voice.split == split
        if len(parts) == 2:
            weight = float(utt.voice.name.split("*")[1].split("+")[0])
            assert kokoro.BLEND_WEIGHT[0] <= weight <= kokoro.BLEND_WEIGHT[1] and parts[0] != parts[1]
            # one speaker id per pair, whatever the order and weight, and never a single voice's id
            assert utt.voice.speaker == kokoro.blend_name(parts[1], parts[0], 0.5)[1]
            assert int(utt.voice.speaker) >= 40000
        assert 0.85 <= utt.rate <= 1.15
        assert utt.voice not in {b[1] for b in utt.babble} or utt.voice.family != "kokoro"
    # babble talkers of a Kokoro utterance are cheap engines' voices of the same split
    for talker in (b[1] for u in plan for b in u.babble):
        assert talker.family != "kokoro" and talker.split == split


def test_missing_or_wrong_files_are_one_clear_error(tmp_path):
    if not HAVE_PACKAGE:
        with pytest.raises(AsrError, match="kokoro-onnx"):
            kokoro.configure(tmp_path / "m.onnx", tmp_path / "v.bin")
        return
    voices = tmp_path / "voices.bin"
    with open(voices, "wb") as f:  # a file object: np.savez would add .npz to a name
        np.savez(f, af_heart=np.zeros((510, 1, 256), np.float32))
    model = tmp_path / "model.onnx"
    model.write_bytes(b"this is not an onnx model")
    with pytest.raises(AsrError, match="Kokoro model file not found"):
        kokoro.configure(tmp_path / "absent.onnx", voices)
    with pytest.raises(AsrError, match="Kokoro voices file not found"):
        kokoro.configure(model, tmp_path / "absent.bin")
    with pytest.raises(AsrError, match="not an ONNX model"):
        kokoro.configure(model, voices)
    wrong_shape = tmp_path / "wrong_shape.bin"
    with open(wrong_shape, "wb") as f:
        np.savez(f, af_heart=np.zeros((10, 256), np.float32))
    one_array = tmp_path / "one_array.npy"
    np.save(one_array, np.zeros((510, 1, 256), np.float32))
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(1000))
    for bad in (wrong_shape, one_array, garbage):
        with pytest.raises(AsrError, match="not a Kokoro voices file"):
            kokoro.configure(model, bad)


def test_cli_errors_are_one_line(text_file, tmp_path, capsys):
    base = ["synth", "--text", str(text_file), "--out", str(tmp_path / "c"), "--split", "dev", "--num", "2"]
    assert main(base + ["--families", "kokoro"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no kokoro voice is installed" in err[0] and "--kokoro-model" in err[0]
    assert main(base + ["--kokoro-model", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["asr: error: Kokoro voices need both --kokoro-model and --kokoro-voices"]
    assert main(base + ["--kokoro-model", str(tmp_path / "m.onnx"), "--kokoro-voices", str(tmp_path / "v.bin")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("asr: error:") and ("not found" in err[0] or "kokoro-onnx" in err[0])


@needs_kokoro
def test_kokoro_model_of_the_wrong_kind(tmp_path):
    """An ONNX model that is not Kokoro (here: a one-node graph) is named as such."""
    onnx = pytest.importorskip("onnx", reason="needs the onnx package to write a small model")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    with pytest.raises(AsrError, match="not a Kokoro model"):
        kokoro.configure(path, VOICES)


@needs_kokoro
def test_synthesis_is_deterministic_for_a_seed_and_resumable(text_file, tmp_path):
    options = dataclasses.replace(SynthOptions(), noise_prob=0.0)  # babble would call espeak-ng too

    def make(out: Path, seed: int = 5):
        return synthesize_corpus(text_file, out, "test", num=3, seed=seed, max_words=6, families=["kokoro"],
                                 options=options, jobs=2, progress=False, kokoro_files=(MODEL, VOICES))

    first, second = make(tmp_path / "a"), make(tmp_path / "b")
    assert first.made == second.made == 3
    files = sorted((tmp_path / "a").rglob("*.flac"))
    assert len(files) == 3
    for path in files:
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.read_bytes() == twin.read_bytes()
        audio, rate = sf.read(path)
        assert rate == 16000 and len(audio) > 0.5 * rate and np.abs(audio).max() > 0.2
    voices = [line for line in (tmp_path / "a" / "test.jsonl").read_text().splitlines()]
    assert all('"voice": "kokoro:' in line for line in voices)
    files[0].unlink()
    again = make(tmp_path / "a")
    assert (again.made, again.existing) == (1, 2)
    assert files[0].read_bytes() == (tmp_path / "b" / files[0].relative_to(tmp_path / "a")).read_bytes()
    other = make(tmp_path / "c", seed=6)
    assert other.made == 3
    assert {p.read_bytes() for p in (tmp_path / "c").rglob("*.flac")}.isdisjoint(p.read_bytes() for p in files)
