"""The default English model shipped with the package, and example audio to try it on.

`model.pt` is a model package (acoustic model + its LSTM LM + decoding defaults) trained by
recipes/default_model/run.sh on real and synthetic speech; see MODEL.md beside it for what it was
trained on and what it is good and bad at. `asr transcribe FILE` uses it when no --model is
given. Replaced rarely: every version stays in git history.
"""

from __future__ import annotations

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = PRETRAINED_DIR / "model.pt"
EXAMPLES_DIR = PRETRAINED_DIR / "examples"


def default_model_path() -> Path | None:
    """The shipped model package, or None when this installation has none."""
    return DEFAULT_MODEL if DEFAULT_MODEL.is_file() else None


def example_files() -> list[Path]:
    """The example recordings (FLAC) shipped with the package, sorted by name."""
    return sorted(EXAMPLES_DIR.glob("*.flac"))
