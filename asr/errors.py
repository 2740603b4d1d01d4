"""User-facing errors.

Every error a user can cause (a bad file, a bad manifest, a bad config, a wrong model file)
is an `AsrError`. The CLI prints it as one line and exits non-zero; anything else is a bug
and keeps its traceback.
"""


class AsrError(Exception):
    """An error caused by the user's input, reported as one line without a traceback."""


class AudioError(AsrError):
    """An audio file that is missing, unreadable or unusable; the message names the file."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ManifestError(AsrError):
    """A manifest that is missing, empty or malformed."""


class ConfigError(AsrError):
    """A config with unknown keys, wrong types or bad values."""


class ModelPackageError(AsrError):
    """A --model file that is not a readable asr model package."""
