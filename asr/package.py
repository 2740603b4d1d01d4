"""The model package: one file with everything needed to transcribe.

A `torch.save`d dict holding a format tag and version, the acoustic model's shape and
weights, the tokenizer, the feature settings and CMVN statistics, the resolved training
config, decoding defaults and (later) a language model. Loading needs no other file.
Loading uses `weights_only=True`, so a package from elsewhere cannot run code.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from asr.atomic import atomic_torch_save
from asr.errors import ModelPackageError
from asr.features import GlobalCMVN, LogMel
from asr.model.acoustic import AcousticModel, AcousticModelConfig
from asr.model.lm import LanguageModelConfig, LstmLM
from asr.text import Tokenizer, tokenizer_from_dict

PACKAGE_FORMAT = "asr-model-package"
PACKAGE_VERSION = 1


@dataclass
class ModelPackage:
    model_config: AcousticModelConfig
    tokenizer: Tokenizer
    cmvn_mean: torch.Tensor  # [n_mels]
    cmvn_std: torch.Tensor  # [n_mels]
    state_dict: dict[str, torch.Tensor]
    features: dict[str, Any] = field(default_factory=dict)  # LogMel keyword arguments
    config: dict[str, Any] = field(default_factory=dict)  # resolved training config
    decoding: dict[str, Any] = field(default_factory=dict)  # default decoding options
    info: dict[str, Any] = field(default_factory=dict)  # provenance: steps, epochs, dev WER
    lm: dict[str, Any] | None = None

    def build_logmel(self) -> LogMel:
        return LogMel(**self.features)

    def build_cmvn(self) -> GlobalCMVN:
        return GlobalCMVN(self.cmvn_mean, self.cmvn_std)

    def build_model(self) -> AcousticModel:
        model = AcousticModel(self.model_config)
        model.load_state_dict(self.state_dict)
        return model.eval()

    def to_dict(self) -> dict:
        return {
            "format": PACKAGE_FORMAT,
            "version": PACKAGE_VERSION,
            "model_config": dataclasses.asdict(self.model_config),
            "tokenizer": self.tokenizer.to_dict(),
            "cmvn": {"mean": self.cmvn_mean.cpu(), "std": self.cmvn_std.cpu()},
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            "features": self.features,
            "config": self.config,
            "decoding": self.decoding,
            "info": self.info,
            "lm": self.lm,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the package atomically."""
        atomic_torch_save(self.to_dict(), path)

    @classmethod
    def from_dict(cls, data: Any, source: str = "model") -> "ModelPackage":
        check_package_header(data, PACKAGE_FORMAT, "model", source)
        try:
            package = cls(
                model_config=AcousticModelConfig(**data["model_config"]),
                tokenizer=tokenizer_from_dict(data["tokenizer"]),
                cmvn_mean=data["cmvn"]["mean"],
                cmvn_std=data["cmvn"]["std"],
                state_dict=data["state_dict"],
                features=data.get("features") or {},
                config=data.get("config") or {},
                decoding=data.get("decoding") or {},
                info=data.get("info") or {},
                lm=data.get("lm"),
            )
            AcousticModel(package.model_config).load_state_dict(package.state_dict)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ModelPackageError(f"{source}: damaged model package ({type(err).__name__}: {err})") from None
        return package

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ModelPackage":
        """Read a package; any problem is a `ModelPackageError` naming the file."""
        path, data = read_package_file(path, "model")
        return cls.from_dict(data, source=path)


def check_package_header(data: Any, expected_format: str, what: str, source: str) -> None:
    """`ModelPackageError` unless `data` is a package dict of `expected_format` that this
    version of asr can read."""
    if not isinstance(data, dict) or data.get("format") != expected_format:
        raise ModelPackageError(f"{source}: not an asr {what} package")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelPackageError(f"{source}: {what} package has no valid version number ({version!r}); "
                                "the file is damaged or was not written by asr")
    if version > PACKAGE_VERSION:
        raise ModelPackageError(f"{source}: {what} package version {version} is newer than this asr "
                                f"supports ({PACKAGE_VERSION}); upgrade asr")


def read_package_file(path: str | os.PathLike, what: str) -> tuple[str, Any]:
    """(path, loaded dict) of a package file or folder (folder/model.pt); `ModelPackageError`
    naming the file when it is missing or not loadable."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelPackageError(f"{path}: {what} file not found")
    if os.path.isdir(path):
        path = os.path.join(path, "model.pt")
        if not os.path.isfile(path):
            raise ModelPackageError(f"{path}: {what} folder has no model.pt")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unpickling errors come in many types, with messages for torch developers
        raise ModelPackageError(f"{path}: not an asr {what} package ({describe_file(path)})") from None
    return path, data


# The first bytes of files people mistake for a model, and what they are.
_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"%PDF", "a PDF document"), (b"RIFF", "a RIFF file (WAV audio?)"), (b"fLaC", "FLAC audio"),
          (b"OggS", "Ogg audio"), (b"ID3", "MP3 audio"), (b"\x1f\x8b", "a gzip file"),
          (b"PK\x03\x04", "a zip archive that is not a readable torch file"), (b"\x80", "a Python pickle"))


def describe_file(path: str) -> str:
    """What a file that failed to load as a package looks like, for the error message."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "the file is empty"
    if head.startswith(b"PK\x03\x04") and b"data.pkl" in head:
        return "a torch file, but not one asr can load safely: it holds Python objects or was cut short"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return f"it is {kind}"
    try:
        head.decode("utf-8")
        return "it is a text file"
    except UnicodeDecodeError:
        return "it is neither a torch file nor text"


LM_PACKAGE_FORMAT = "asr-lm-package"


@dataclass
class LmPackage:
    """A language model: config, tokenizer (must equal the acoustic model's) and weights."""

    model_config: LanguageModelConfig
    tokenizer: Tokenizer
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def build_model(self) -> LstmLM:
        model = LstmLM(self.model_config)
        model.load_state_dict(self.state_dict)
        return model.eval()

    def to_dict(self) -> dict:
        return {
            "format": LM_PACKAGE_FORMAT, "version": PACKAGE_VERSION,
            "model_config": dataclasses.asdict(self.model_config),
            "tokenizer": self.tokenizer.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            "config": self.config, "info": self.info,
        }

    def save(self, path: str | os.PathLike) -> None:
        atomic_torch_save(self.to_dict(), path)

    @classmethod
    def from_dict(cls, data: Any, source: str = "lm") -> "LmPackage":
        check_package_header(data, LM_PACKAGE_FORMAT, "language-model", source)
        try:
            package = cls(LanguageModelConfig(**data["model_config"]), tokenizer_from_dict(data["tokenizer"]),
                          data["state_dict"], data.get("config") or {}, data.get("info") or {})
            LstmLM(package.model_config).load_state_dict(package.state_dict)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ModelPackageError(f"{source}: damaged LM package ({type(err).__name__}: {err})") from None
        return package

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LmPackage":
        path, data = read_package_file(path, "language-model")
        return cls.from_dict(data, source=path)
