"""JSONL manifests: one utterance a line.

    {"id": str, "audio": path, "duration": seconds, "text": str, "speaker": str,
     "offset"?: seconds, "chapter"?: str}

Audio paths relative to the manifest's folder are allowed; `read_manifest` resolves them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from asr.atomic import atomic_open
from asr.errors import ManifestError
from asr.text import normalize_text


@dataclass
class Utterance:
    """One manifest record. `audio` is resolved to a usable path when read."""

    id: str
    audio: str
    duration: float
    text: str = ""
    speaker: str = ""
    offset: float = 0.0
    chapter: str = ""  # LibriSpeech's chapter (book section); empty for other corpora

    def to_json(self) -> dict:
        record = dataclasses.asdict(self)
        for optional in ("offset", "chapter"):
            if not record[optional]:
                del record[optional]
        return record


_REQUIRED = {"id": str, "audio": str, "duration": (int, float)}
_OPTIONAL = {"text": str, "speaker": str, "offset": (int, float), "chapter": str}


def parse_json_record(line: str, where: str, required: dict, optional: dict) -> dict:
    """Parse one JSONL line into a dict with the `required` fields and type-checked fields.

    `required`/`optional` map field names to accepted types. Raises `ManifestError` naming
    `where` (file:line) on malformed JSON, a non-object, a missing field or a wrong type.
    """
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ManifestError(f"{where}: malformed JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for key in required:
        if key not in record:
            raise ManifestError(f"{where}: missing field {key!r}")
    for key, kind in {**required, **optional}.items():
        # bool is an int subclass; a boolean duration or score is certainly a mistake
        if key in record and (not isinstance(record[key], kind) or isinstance(record[key], bool)):
            raise ManifestError(f"{where}: field {key!r} has the wrong type ({type(record[key]).__name__})")
    return record


def read_jsonl_lines(path: Path, what: str) -> list[str]:
    """The lines of a JSONL file; `ManifestError` when it is missing or unreadable."""
    if not path.is_file():
        raise ManifestError(f"{path}: {what} not found")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: cannot read {what} ({err})") from None


def _parse_line(line: str, where: str, base: Path) -> Utterance:
    record = parse_json_record(line, where, _REQUIRED, _OPTIONAL)
    if record["duration"] <= 0:
        raise ManifestError(f"{where}: duration must be positive, got {record['duration']}")
    audio = record["audio"]
    if not os.path.isabs(audio):
        audio = str(base / audio)
    return Utterance(
        id=record["id"], audio=audio, duration=float(record["duration"]),
        text=record.get("text", ""), speaker=record.get("speaker", ""),
        offset=float(record.get("offset", 0.0)), chapter=record.get("chapter", ""),
    )


def read_manifest(path: str | os.PathLike, require_text: bool = False) -> list[Utterance]:
    """Read and validate a manifest. Raises `ManifestError` naming the file and line on any
    problem: missing file, no utterances, malformed JSON, missing or mistyped fields,
    duplicate ids, and (with `require_text`) an empty transcript or one with nothing left after
    `normalize_text` (characters outside the token set are normalized: é -> E, 42 -> FORTY TWO,
    others become word breaks)."""
    path = Path(path)
    lines = read_jsonl_lines(path, "manifest")
    base = path.resolve().parent
    utterances: list[Utterance] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        utt = _parse_line(line, where, base)
        if utt.id in seen:
            raise ManifestError(f"{where}: duplicate id {utt.id!r} (first on line {seen[utt.id]})")
        if require_text and not utt.text.strip():
            raise ManifestError(f"{where}: utterance {utt.id!r} has an empty transcript")
        if require_text and not normalize_text(utt.text):
            # e.g. a transcript in another script: training on it would teach the model silence
            raise ManifestError(f"{where}: utterance {utt.id!r}: transcript {utt.text[:40]!r} has no "
                                "characters of the token set (A-Z, apostrophe) after normalization")
        seen[utt.id] = number
        utterances.append(utt)
    if not utterances:
        raise ManifestError(f"{path}: manifest is empty (no utterances)")
    return utterances


def manifest_line(utt: Utterance) -> str:
    """The JSONL line (newline included) that write_manifest writes for `utt`."""
    return json.dumps(utt.to_json(), ensure_ascii=False) + "\n"


def write_manifest(path: str | os.PathLike, utterances: Iterable[Utterance]) -> int:
    """Write utterances as JSONL, atomically. Returns the number written."""
    count = 0
    with atomic_open(path, "w") as f:
        for utt in utterances:
            f.write(manifest_line(utt))
            count += 1
    return count
