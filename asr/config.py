"""Typed configs from YAML with `key=value` overrides.

Configs are nested dataclasses. Loading checks every key and type, so a typo such as
`model.hiden_size` is an error naming the key instead of a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml

from asr.errors import ConfigError

T = TypeVar("T")

# The YAML configs shipped with the package: `asr/conf` is a link to the repository's top-level
# conf/ (so a source checkout and an editable install read conf/ itself) and a built wheel holds
# a copy of its files (package-data in pyproject.toml). The second place serves a checkout whose
# link did not survive (git on Windows without symlinks writes a small text file instead).
_CONFIG_DIRS = (Path(__file__).resolve().parent / "conf", Path(__file__).resolve().parents[1] / "conf")


def shipped_config_dir() -> Path | None:
    """The folder of the configs shipped with asr (am/, lm/), or None if this install has none."""
    return next((d.resolve() for d in _CONFIG_DIRS if d.is_dir()), None)


def shipped_configs(kind: str) -> list[str]:
    """Names of the shipped configs of one kind ("am", "lm"), sorted: ["digits", ...]."""
    folder = shipped_config_dir()
    return sorted(p.stem for p in (folder / kind).glob("*.yaml")) if folder else []


def find_config(value: str | os.PathLike, kind: str) -> Path:
    """The YAML file `value` names: a path to an existing file, else a shipped config of
    `kind` ("am" for `asr train`, "lm" for `asr train-lm`) by name: "digits", "digits.yaml",
    "am/digits" and "conf/am/digits.yaml" (the path in a checkout, which works from any
    folder this way) all name conf/am/digits.yaml."""
    path = Path(value)
    if path.is_file():
        return path
    folder = shipped_config_dir()
    parts = path.with_suffix(".yaml").parts if path.suffix in ("", ".yaml", ".yml") else ()
    if parts[:1] == ("conf",):
        parts = parts[1:]
    if len(parts) == 1:
        parts = (kind, *parts)
    if folder is not None and len(parts) == 2 and not path.is_absolute():
        candidate = folder.joinpath(*parts)
        if candidate.is_file():
            return candidate
    names = ", ".join(shipped_configs(kind)) or "none in this installation"
    raise ConfigError(f"{value}: config file not found, and not the name of a shipped config "
                      f"(conf/{kind}: {names})")


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def _convert(value: Any, kind: Any, key: str) -> Any:
    """Check `value` against the annotation `kind`, converting int -> float and list -> tuple."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, key)
            except ConfigError:
                pass
        raise ConfigError(f"config key {key!r}: {value!r} is not one of {', '.join(map(_type_name, options))}")
    if origin is typing.Literal:
        if value not in typing.get_args(kind):
            raise ConfigError(f"config key {key!r}: {value!r} is not one of {list(typing.get_args(kind))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r}: expected a list, got {value!r}")
        (item_kind, *_) = typing.get_args(kind) or (Any,)
        items = [_convert(v, item_kind, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r}: expected a mapping, got {value!r}")
        return from_dict(kind, value, prefix=f"{key}.")
    if kind is Any:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is float and isinstance(value, str):
        # YAML 1.1 reads "1e-3" (no dot) as a string; accept it as the number it means
        try:
            return float(value)
        except ValueError:
            pass
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"config key {key!r}: expected {_type_name(kind)}, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
    """Build dataclass `cls` from a (nested) dict; unknown keys and wrong types are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix + unknown[0]!r} (known keys here: {', '.join(sorted(names))})"
        )
    values = {name: _convert(value, hints[name], prefix + name) for name, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"config {prefix or 'root'}: {err}") from None


def to_dict(config: Any) -> dict:
    """Plain dict (lists for tuples) for YAML and model packages."""
    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return plain(dataclasses.asdict(config))


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested dict, in place."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r} is not of the form key=value")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {override!r}: {part!r} is not a section")
        node[leaf] = value
    return data


def load_config(cls: type[T], path: str | os.PathLike | None, overrides: Iterable[str] = ()) -> T:
    """Load a YAML config file (or defaults when `path` is None) with overrides, validated."""
    data: dict = {}
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a config must be a YAML mapping")
    apply_overrides(data, overrides)
    return from_dict(cls, data)


def dump_config(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)
