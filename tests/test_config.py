"""Typed configs: unknown keys, wrong types, overrides, and the shipped YAML files."""

from __future__ import annotations

import re

from pathlib import Path

import pytest

from asr.config import dump_config, find_config, load_config, shipped_config_dir
from asr.errors import ConfigError
from asr.train.config import AcousticTrainConfig

CONF = Path(__file__).resolve().parents[1] / "conf" / "am"


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_set_every_field(path):
    config = load_config(AcousticTrainConfig, path)
    assert isinstance(config, AcousticTrainConfig)


def test_overrides_and_types(tmp_path):
    config = load_config(AcousticTrainConfig, None, ["model.num_layers=2", "optim.lr=5e-4",
                                                    "optim.betas=[0.8, 0.9]", "run.amp=none"])
    assert config.model.num_layers == 2 and config.optim.lr == 5e-4
    assert config.optim.betas == (0.8, 0.9) and config.run.amp == "none"
    # the dumped config loads back to the same thing
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(config))
    assert load_config(AcousticTrainConfig, path) == config


@pytest.mark.parametrize("override, message", [
    ("model.hiden_size=3", "unknown config key 'model.hiden_size'"),
    ("nosuch.key=1", "unknown config key 'nosuch'"),
    ("model.num_layers=two", "model.num_layers"),
    ("model.num_layers=2.5", "model.num_layers"),
    ("run.amp=fp8", "run.amp"),
    ("specaugment.enabled=3", "specaugment.enabled"),
    ("novalue", "key=value"),
])
def test_bad_configs_name_the_problem(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("[", r"\[")):
        load_config(AcousticTrainConfig, None, [override])


def test_bad_yaml_files(tmp_path):
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(AcousticTrainConfig, tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(AcousticTrainConfig, tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(AcousticTrainConfig, tmp_path / "bad.yaml")


def test_shipped_configs_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the checkout: names resolve to the configs shipped with asr
    digits = shipped_config_dir() / "am" / "digits.yaml"
    assert digits.samefile(CONF / "digits.yaml")
    for name in ("digits", "digits.yaml", "am/digits", "am/digits.yaml", "conf/am/digits.yaml"):
        assert find_config(name, "am") == digits, name
    assert find_config("char_small", "lm") == shipped_config_dir() / "lm" / "char_small.yaml"
    # the same name in am/ and lm/: the kind decides
    assert find_config("synth_cpu", "am").parent.name == "am" and find_config("synth_cpu", "lm").parent.name == "lm"
    # a file that exists wins over a shipped name
    (tmp_path / "digits.yaml").write_text("model: {num_layers: 1}\n")
    assert find_config("digits.yaml", "am") == Path("digits.yaml")
    for missing, kind in [("nosuch", "am"), ("char_small", "am"), ("lm/digits", "am"), ("/abs/digits.yaml", "am")]:
        names = ", ".join(sorted(p.stem for p in (shipped_config_dir() / kind).glob("*.yaml")))
        assert "digits" in names
        with pytest.raises(ConfigError, match=re.escape(f"not the name of a shipped config (conf/{kind}: {names})")):
            find_config(missing, kind)
