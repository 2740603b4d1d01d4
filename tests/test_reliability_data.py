"""Bad data: manifests, configs and model packages that are wrong in one way each give one clear
error naming the file (and line or key) and the problem, or are handled as documented."""

from __future__ import annotations

import json

import pytest
import torch

from asr.config import load_config
from asr.data.dataset import SpeechDataset
from asr.data.manifest import read_manifest
from asr.errors import ConfigError, ManifestError, ModelPackageError
from asr.package import LmPackage, ModelPackage
from asr.text import CharTokenizer, normalize_text
from asr.train.config import AcousticTrainConfig, LmTrainConfig
from conftest import run_cli

GOOD = {"id": "a", "audio": "a.wav", "duration": 1.0, "text": "HELLO"}


@pytest.mark.parametrize("second, message", [
    ("{not json", "m.jsonl:2: malformed JSON"),
    ("[1, 2]", "m.jsonl:2: expected a JSON object, got list"),
    (json.dumps({"id": "b", "duration": 1.0}), "m.jsonl:2: missing field 'audio'"),
    (json.dumps({**GOOD, "id": "b", "duration": "1.0"}), "m.jsonl:2: field 'duration' has the wrong type (str)"),
    (json.dumps({**GOOD, "id": "b", "duration": True}), "m.jsonl:2: field 'duration' has the wrong type (bool)"),
    (json.dumps({**GOOD, "id": "b", "duration": -2}), "m.jsonl:2: duration must be positive"),
    (json.dumps({**GOOD, "id": 7}), "m.jsonl:2: field 'id' has the wrong type (int)"),
    (json.dumps(GOOD), "m.jsonl:2: duplicate id 'a' (first on line 1)"),
    (json.dumps({**GOOD, "id": "b", "text": " "}), "m.jsonl:2: utterance 'b' has an empty transcript"),
    (json.dumps({**GOOD, "id": "b", "text": "日本語"}), "m.jsonl:2: utterance 'b': transcript '日本語' has no characters"),
])
def test_bad_manifest_lines_name_file_line_and_problem(tmp_path, second, message):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + second + "\n", encoding="utf-8")
    with pytest.raises(ManifestError) as err:
        read_manifest(path, require_text=True)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_manifest_text_outside_the_token_set_is_normalized_and_missing_audio_is_left_to_loading(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({**GOOD, "text": "Café, 42 naïve 😀!", "audio": "nowhere/x.flac"}) + "\n",
                    encoding="utf-8")
    (utt,) = read_manifest(path, require_text=True)
    tokenizer = CharTokenizer()
    # the characters the token set lacks are normalized, not fatal ...
    assert tokenizer.decode(tokenizer.encode(normalize_text(utt.text))) == "CAFE FORTY TWO NAIVE"
    # ... and a missing audio file is reported when the utterance is loaded, and skipped
    failure = SpeechDataset([utt], tokenizer)[0]
    assert "nowhere/x.flac" in failure.reason and "no such file" in failure.reason


def test_manifest_that_is_not_utf8(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"id": "\xff\xfe", "audio": "a.wav", "duration": 1}\n')
    with pytest.raises(ManifestError, match="m.jsonl: cannot read manifest"):
        read_manifest(path)


@pytest.mark.parametrize("yaml_text, message", [
    ("optim:\n  lr: fast\n", "config key 'optim.lr': expected float, got 'fast'"),
    ("model: 3\n", "config key 'model': expected a mapping"),
    ("run:\n  epochs: [1, 2]\n", "config key 'run.epochs': expected int"),
    ("data:\n  speed_perturb: 1.1\n", "config key 'data.speed_perturb': expected a list"),
    ("optim:\n  betas: [0.9, x]\n", "config key 'optim.betas[1]'"),
    ("model:\n  hidden_size: 10\n  hiden_size: 10\n", "unknown config key 'model.hiden_size'"),
])
def test_config_files_with_wrong_types_or_unknown_keys(tmp_path, yaml_text, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_config(AcousticTrainConfig, path)
    assert message in str(err.value)


def test_lm_config_rejects_acoustic_keys(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'features'"):
        load_config(LmTrainConfig, None, ["features.n_mels=40"])


@pytest.mark.parametrize("version, message", [
    (None, "has no valid version number (None)"),
    ("1", "has no valid version number ('1')"),
    (0, "has no valid version number (0)"),
    (2, "version 2 is newer than this asr supports (1); upgrade asr"),
])
def test_packages_from_another_version(tiny_package, tiny_lm, tmp_path, version, message):
    for path, cls in ((tiny_package, ModelPackage), (tiny_lm, LmPackage)):
        data = torch.load(path, weights_only=True)
        data["version"] = version
        other = tmp_path / f"other_{path.name}"
        torch.save(data, other)
        with pytest.raises(ModelPackageError) as err:
            cls.load(other)
        assert str(err.value).startswith(str(other)) and message in str(err.value)


def test_truncated_lm_package_and_lm_given_as_model(tiny_package, tiny_lm, tmp_path):
    truncated = tmp_path / "lm_truncated.pt"
    truncated.write_bytes(tiny_lm.read_bytes()[:-100])
    with pytest.raises(ModelPackageError, match="lm_truncated.pt: not an asr language-model package"):
        LmPackage.load(truncated)
    with pytest.raises(ModelPackageError, match="lm.pt: not an asr model package"):
        ModelPackage.load(tiny_lm)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps(GOOD) + "\n")
    proc = run_cli("decode", "--model", str(tiny_package), "--lm", str(truncated), "--decoder", "beam",
                   "--manifest", str(manifest), "--out", str(tmp_path / "h.jsonl"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"asr: error: {truncated}: not an asr language-model package")
