"""Typed configs: unknown keys, wrong types, overrides, and the shipped YAML files."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.config import dump_config, load_config
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
