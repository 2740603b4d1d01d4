"""Hypotheses: the recognizer's output, JSONL, one utterance a line.

    {"id": str, "text": str, "score"?: float, "nbest"?: [...], "words"?: [{"word", "start", "end"}, ...]}

`asr score ref.jsonl hyp.jsonl` compares hypotheses with references by id. References are
either a manifest or a file in this same format (only "id" and "text" are used).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from asr.atomic import atomic_open
from asr.data.manifest import parse_json_record, read_jsonl_lines, read_manifest
from asr.errors import ManifestError

# Type checks for the optional fields; their contents are the decoder's business, but a
# wrong container type means the file was not written by us and is worth reporting early.
_OPTIONAL = {"score": (int, float), "nbest": list, "words": list}


def _parse_record(line: str, where: str) -> dict:
    record = parse_json_record(line, where, {"id": str, "text": str}, _OPTIONAL)
    if not record["id"]:
        raise ManifestError(f"{where}: empty id")
    return record


def read_hypotheses(path: str | os.PathLike) -> dict[str, dict]:
    """Read and validate a hypotheses file; returns the records keyed by id, in file order.

    Raises `ManifestError` naming the file (and line) for: a missing or unreadable file,
    a file with no records, malformed JSON, a missing or non-string id/text, a mistyped
    optional field, and a duplicate id. Blank lines are skipped; an empty "text" is a valid
    (empty) hypothesis.
    """
    path = Path(path)
    records: dict[str, dict] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(read_jsonl_lines(path, "hypotheses file"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record = _parse_record(line, where)
        utt_id = record["id"]
        if utt_id in records:
            raise ManifestError(f"{where}: duplicate id {utt_id!r} (first on line {first_line[utt_id]})")
        records[utt_id] = record
        first_line[utt_id] = number
    if not records:
        raise ManifestError(f"{path}: hypotheses file is empty (no records)")
    return records


def write_hypotheses(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write hypothesis records as JSONL, atomically. Returns the number written.

    Each record needs a string "id" and "text"; other fields are written as given. A bad
    record or a duplicate id raises `ValueError` before the target file is touched, so a
    file written here can always be read back by `read_hypotheses`.
    """
    seen: set[str] = set()
    count = 0
    with atomic_open(path, "w") as f:
        for index, record in enumerate(records):
            if not isinstance(record.get("id"), str) or not record["id"] or not isinstance(record.get("text"), str):
                raise ValueError(f"hypothesis record {index} needs a non-empty string 'id' and a string 'text': {record!r}")
            if record["id"] in seen:
                raise ValueError(f"hypothesis record {index}: duplicate id {record['id']!r}")
            seen.add(record["id"])
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def _looks_like_manifest(path: Path) -> bool:
    """True when the first record has an "audio" field. Anything unparsable is left to
    `read_hypotheses`, which reports it with a line number."""
    for line in read_jsonl_lines(path, "reference file"):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                return False
            return isinstance(record, dict) and "audio" in record
    return False


def read_references(path: str | os.PathLike) -> dict[str, str]:
    """Reference transcripts keyed by id, from a manifest or a hypotheses-style JSONL file.

    A manifest (records with "audio") is read with `read_manifest`, so it gets the same
    validation as everywhere else; any other file must have "id" and "text" on every line.
    """
    path = Path(path)
    if _looks_like_manifest(path):
        return {utt.id: utt.text for utt in read_manifest(path)}
    return {utt_id: record["text"] for utt_id, record in read_hypotheses(path).items()}
