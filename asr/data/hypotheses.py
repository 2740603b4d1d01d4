"""Hypotheses: the recognizer's output, JSONL, one utterance a line.

    {"id": str, "text": str, "score"?: float, "nbest"?: [...],
     "words"?: [{"word", "start", "end", "confidence"}, ...]}     (times in seconds)

`asr score ref.jsonl hyp.jsonl` compares hypotheses with references by id. References are
either a manifest or a file in this same format (only "id" and "text" are used). Both may also be
Kaldi `text` files, one utterance a line: `utt-id word word ...` (`read_texts` tells them apart).
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


def read_kaldi_text(path: str | os.PathLike, what: str = "text file") -> dict[str, str]:
    """{utt-id: text} from a Kaldi `text` file: `utt-id words...` a line, the id separated by
    spaces or a tab; a line with the id alone is an empty text. Raises `ManifestError` naming
    the file (and line) when it is missing, has no lines, or repeats an id."""
    path = Path(path)
    texts: dict[str, str] = {}
    for number, line in enumerate(read_jsonl_lines(path, what), start=1):
        fields = line.split(maxsplit=1)
        if not fields:
            continue
        if fields[0] in texts:
            raise ManifestError(f"{path}:{number}: duplicate id {fields[0]!r}")
        texts[fields[0]] = " ".join(fields[1].split()) if len(fields) > 1 else ""
    if not texts:
        raise ManifestError(f"{path}: {what} is empty (no utterances)")
    return texts


def is_kaldi_text(path: str | os.PathLike) -> bool:
    """True when the first non-blank line is not a JSON object: a Kaldi `text` file. Missing
    files are left to the readers, which report them."""
    path = Path(path)
    if not path.is_file():
        return False
    for line in read_jsonl_lines(path, "file"):
        if line.strip():
            return not line.lstrip().startswith("{")
    return False


def read_texts(path: str | os.PathLike, references: bool = False) -> dict[str, str]:
    """{id: text} from a Kaldi `text` file, a hypotheses file or (`references`) a manifest."""
    if is_kaldi_text(path):
        return read_kaldi_text(path, "reference file" if references else "hypotheses file")
    if references:
        return read_references(path)
    return {utt_id: record["text"] for utt_id, record in read_hypotheses(path).items()}
