"""Corpus importers: turn a corpus on disk into JSONL manifests (see `asr.data.manifest`).

Each importer reads one layout (LibriSpeech, the Free Spoken Digit Dataset, a plain folder of
audio + .txt files, a Kaldi data dir), writes one manifest per subset into `out_dir` and
returns {subset: number of utterances}. All of them share `_Collector`, which builds an
`Utterance` from an audio path and a transcript, reads the duration from the file header and
reports unusable entries: a bad entry is logged as a warning on the "asr.data" logger and
skipped, never fatal. A source that does not exist or yields nothing raises `AsrError`.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from collections import defaultdict
from pathlib import Path

from asr.audio import audio_info
from asr.data.manifest import Utterance, write_manifest
from asr.errors import AsrError, AudioError
from asr.text import normalize_text, number_to_words

logger = logging.getLogger("asr.data")

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3")

# Kaldi segments and file headers disagree by a few milliseconds in real corpora;
# a segment ending this little past the end of its recording is clipped, not rejected.
_SEGMENT_END_TOLERANCE_S = 0.1


class _Collector:
    """Builds the utterances of one source, counting and logging the entries it skips."""

    def __init__(self, source: str | os.PathLike):
        self.source = str(source)
        self.utterances: dict[str, Utterance] = {}
        self.skipped = 0
        self._durations: dict[str, float | AudioError] = {}  # segments share recordings

    def skip(self, what: str, reason: str, quiet: bool = False) -> None:
        """Count one unusable entry and report it (`quiet`: the cause was reported already)."""
        if not quiet:
            logger.warning("%s: skipped %s: %s", self.source, what, reason)
        self.skipped += 1

    def _file_duration(self, audio: str) -> float:
        if audio not in self._durations:
            try:
                self._durations[audio] = audio_info(audio)[0]
            except AudioError as err:
                self._durations[audio] = err
        result = self._durations[audio]
        if isinstance(result, AudioError):
            raise result
        return result

    def add(
        self,
        utt_id: str,
        audio: str | os.PathLike,
        text: str,
        speaker: str = "",
        offset: float = 0.0,
        end: float | None = None,
        chapter: str = "",
    ) -> Utterance | None:
        """Add the utterance `audio[offset:end]` (whole file by default); None if skipped.

        The path is made absolute (without resolving symlinks, so a linked corpus keeps its
        layout), the text normalized, the duration read from the header.
        """
        if utt_id in self.utterances:
            self.skip(utt_id, f"duplicate id (already from {self.utterances[utt_id].audio})")
            return None
        audio = os.path.abspath(audio)
        try:
            file_duration = self._file_duration(audio)
        except AudioError as err:
            self.skip(utt_id, str(err))
            return None
        duration = _segment_duration(file_duration, offset, end)
        if duration is None:
            self.skip(utt_id, f"segment {offset}-{end}s does not fit in {audio} "
                              f"({file_duration:.3f}s)")
            return None
        utt = Utterance(id=utt_id, audio=audio, duration=round(duration, 6),
                        text=normalize_text(text), speaker=speaker, offset=offset, chapter=chapter)
        self.utterances[utt_id] = utt
        return utt


def _segment_duration(file_duration: float, offset: float, end: float | None) -> float | None:
    """Duration of [offset, end) inside a file (end None or < 0: to the end); None if it
    does not fit."""
    if end is None or end < 0:
        end = file_duration
    if end > file_duration + _SEGMENT_END_TOLERANCE_S:
        return None
    end = min(end, file_duration)
    if offset < 0 or end <= offset:
        return None
    return end - offset


def _check_source(src: Path, kind: str) -> Path:
    src = Path(src)
    if not src.is_dir():
        raise AsrError(f"{src}: {kind} folder not found")
    return src


def _write_subsets(src: Path, out_dir: Path, subsets: dict[str, list[Utterance]],
                   skipped: int) -> dict[str, int]:
    """Write `out_dir/<subset>.jsonl` for each subset (sorted by id); AsrError if all are empty."""
    if not any(subsets.values()):
        detail = f" ({skipped} entries skipped, see warnings above)" if skipped else ""
        raise AsrError(f"{src}: no usable utterances found{detail}")
    counts = {}
    for name, utterances in sorted(subsets.items()):
        counts[name] = write_manifest(Path(out_dir) / f"{name}.jsonl",
                                      sorted(utterances, key=lambda u: u.id))
    if skipped:
        logger.warning("%s: wrote %d utterances, skipped %d (see warnings above)",
                       src, sum(counts.values()), skipped)
    return counts


# --------------------------------------------------------------------------- LibriSpeech

def _is_librispeech_subset(folder: Path) -> bool:
    """A subset folder holds <speaker>/<chapter>/<speaker>-<chapter>.trans.txt."""
    return next(folder.glob("*/*/*.trans.txt"), None) is not None


def _librispeech_subsets(src: Path) -> list[Path]:
    """Subset folders under any accepted starting point (parent, LibriSpeech/, one subset)."""
    if _is_librispeech_subset(src):
        return [src]
    root = src / "LibriSpeech" if (src / "LibriSpeech").is_dir() else src
    return sorted(d for d in root.iterdir() if d.is_dir() and _is_librispeech_subset(d))


def _read_librispeech_subset(subset: Path, collector: _Collector) -> list[Utterance]:
    """Utterances of one subset, one per line of its chapters' .trans.txt files."""
    utterances = []
    for trans in sorted(subset.glob("*/*/*.trans.txt")):
        for number, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            utt_id, _, text = line.strip().partition(" ")
            if not text.strip():
                collector.skip(f"{trans.name}:{number} ({utt_id})", "empty transcript")
                continue
            speaker, chapter = (utt_id.split("-") + ["", ""])[:2]
            utt = collector.add(utt_id, trans.parent / f"{utt_id}.flac", text, speaker, chapter=chapter)
            if utt is not None:
                utterances.append(utt)
    return utterances


def prepare_librispeech(src: Path, out_dir: Path) -> dict[str, int]:
    """Write `out_dir/<subset>.jsonl` for each LibriSpeech subset found under `src`.

    `src` may be the folder containing `LibriSpeech/`, `LibriSpeech/` itself, or one subset
    folder such as `.../dev-clean`. Ids are LibriSpeech's (`2412-153948-0000`), text comes
    from the chapter's `.trans.txt`, speaker is the speaker id, duration from the FLAC
    header. Returns {subset: number of utterances}.
    """
    src = _check_source(src, "LibriSpeech")
    collector = _Collector(src)
    subsets = {d.name: _read_librispeech_subset(d, collector) for d in _librispeech_subsets(src)}
    return _write_subsets(src, out_dir, subsets, collector.skipped)


# --------------------------------------------------------------------------- FSDD

_FSDD_NAME = re.compile(r"^(\d)_([^_]+)_(\d+)$")
FSDD_TEST_INDICES = range(0, 5)  # the dataset's own split: 0-4 test, 5-49 train


def _fsdd_dev_ids(train: list[tuple[int, int, str]], dev_per_speaker: int) -> set[str]:
    """Hold out, per speaker, the `dev_per_speaker` lowest train indices, evenly over digits.

    `train` holds (index, digit, id) of one speaker. Sorting by (index, digit) walks the
    digits round-robin, so 20 gives indices 5 and 6 of every digit; a missing or unreadable
    file is replaced by the next one rather than leaving a digit short.
    """
    return {utt_id for _, _, utt_id in sorted(train)[:dev_per_speaker]}


def prepare_fsdd(src: Path, out_dir: Path, dev_per_speaker: int = 20) -> dict[str, int]:
    """Write train/dev/test manifests for the Free Spoken Digit Dataset's `recordings/` folder.

    Files are `{digit}_{speaker}_{index}.wav`; text is the digit as a word (ZERO ... NINE),
    speaker the name, id the file stem. Index 0-4 is test and 5-49 train (the dataset's own
    split); dev is held out of train (see `_fsdd_dev_ids`). Returns {split: count}.
    """
    src = _check_source(src, "FSDD recordings")
    if dev_per_speaker < 0:
        raise AsrError(f"dev_per_speaker must be >= 0, got {dev_per_speaker}")
    collector = _Collector(src)
    split_of: dict[str, str] = {}
    train_by_speaker: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for path in sorted(src.glob("*.wav")):
        match = _FSDD_NAME.match(path.stem)
        if not match:
            collector.skip(path.name, "name is not {digit}_{speaker}_{index}.wav")
            continue
        digit, speaker, index = int(match[1]), match[2], int(match[3])
        if collector.add(path.stem, path, number_to_words(digit), speaker) is None:
            continue
        if index in FSDD_TEST_INDICES:
            split_of[path.stem] = "test"
        else:
            split_of[path.stem] = "train"
            train_by_speaker[speaker].append((index, digit, path.stem))
    for train in train_by_speaker.values():
        for utt_id in _fsdd_dev_ids(train, dev_per_speaker):
            split_of[utt_id] = "dev"

    splits: dict[str, list[Utterance]] = {"train": [], "dev": [], "test": []}
    for utt in collector.utterances.values():
        splits[split_of[utt.id]].append(utt)
    return _write_subsets(src, out_dir, splits, collector.skipped)


# --------------------------------------------------------------------------- plain folder

def audio_with_transcripts(src: Path, extensions: tuple[str, ...] = AUDIO_EXTENSIONS
                           ) -> list[tuple[Path, str | None]]:
    """Every audio file under `src` (recursive, sorted) with the text of the same-named `.txt`
    beside it, or None where there is none."""
    found = []
    for path in sorted(p for p in src.rglob("*") if p.suffix.lower() in extensions and p.is_file()):
        transcript = path.with_suffix(".txt")
        found.append((path, transcript.read_text(encoding="utf-8", errors="replace")
                      if transcript.is_file() else None))
    return found


def prepare_folder(src: Path, out_dir: Path, name: str | None = None) -> dict[str, int]:
    """Write `out_dir/<name>.jsonl` for every audio file under `src` (recursive).

    Audio is wav, flac, ogg, opus or mp3; the transcript is the same-named `.txt` beside it
    (a file without one gets empty text, counted in one warning). Id is the path relative to
    `src` without extension, speaker the parent folder's name; `name` defaults to the
    folder's name. Returns {name: count}.
    """
    src = _check_source(src, "audio")
    name = name or src.resolve().name
    collector = _Collector(src)
    untranscribed: list[str] = []
    for path, text in audio_with_transcripts(src):
        if text is None:
            untranscribed.append(str(path.relative_to(src)))
        utt_id = path.relative_to(src).with_suffix("").as_posix()
        collector.add(utt_id, path, text or "", path.parent.name)
    if untranscribed:
        # one line for the lot: a folder of untranscribed audio (for decoding) is legitimate
        logger.warning("%s: %d audio files have no .txt transcript and get empty text (e.g. %s)",
                       src, len(untranscribed), untranscribed[0])
    return _write_subsets(src, out_dir, {name: list(collector.utterances.values())},
                          collector.skipped)


# --------------------------------------------------------------------------- Kaldi data dir

def _read_kaldi_table(path: Path, min_fields: int = 2) -> dict[str, str]:
    """{key: rest of line} from a Kaldi table file (`key value...`); {} if the file is absent."""
    table: dict[str, str] = {}
    if not path.is_file():
        return table
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split(maxsplit=1)  # Kaldi separates the key by a space or a tab
        if not fields:
            continue
        if len(line.split()) < min_fields:
            logger.warning("%s:%d: skipped malformed line %r", path, number, line)
            continue
        table[fields[0]] = fields[1].strip() if len(fields) > 1 else ""
    return table


def _resolve_kaldi_path(path: str, data_dir: Path) -> Path | None:
    """Resolve a wav.scp path: absolute, else relative to the current directory (as Kaldi
    does), else relative to the data dir's parent and grandparent (the recipe folder Kaldi
    scripts run from, for data dirs like `data/train`). None if it exists nowhere."""
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate if candidate.exists() else None
    for base in (Path.cwd(), data_dir.parent, data_dir.parent.parent):
        if (base / candidate).exists():
            return base / candidate
    return None


def _kaldi_recording(value: str, data_dir: Path) -> tuple[str | None, str]:
    """(audio path, "") for one wav.scp value, or (None, reason) when it cannot be used."""
    if value.endswith("|"):
        return None, f"piped commands are not supported ({value})"
    words = shlex.split(value)  # a quoted path may contain spaces
    if len(words) != 1:
        return None, f"not a file path ({value})"
    resolved = _resolve_kaldi_path(words[0], data_dir)
    if resolved is None:
        return None, (f"{words[0]}: no such file (tried relative to {Path.cwd()}, "
                      f"{data_dir.parent} and {data_dir.parent.parent})")
    return str(resolved), ""


def _kaldi_recordings(data_dir: Path) -> dict[str, tuple[str | None, str]]:
    """{recording id: (audio path or None, reason)} from wav.scp; each unusable recording is
    reported once here, however many segments it has."""
    recordings = {}
    for rec_id, value in _read_kaldi_table(data_dir / "wav.scp").items():
        recordings[rec_id] = _kaldi_recording(value, data_dir)
        if recordings[rec_id][0] is None:
            logger.warning("%s: wav.scp entry %s skipped: %s",
                           data_dir, rec_id, recordings[rec_id][1])
    return recordings


def _kaldi_segments(data_dir: Path, recordings: dict) -> dict[str, tuple[str, float, float]]:
    """{utt id: (recording id, start, end)}; without a segments file each recording is one
    utterance (end -1 = to the end of the recording)."""
    segments_file = data_dir / "segments"
    if not segments_file.is_file():
        return {rec_id: (rec_id, 0.0, -1.0) for rec_id in recordings}
    segments = {}
    for utt_id, value in _read_kaldi_table(segments_file, min_fields=4).items():
        try:
            rec_id, start, end = value.split()[:3]
            segments[utt_id] = (rec_id, float(start), float(end))
        except ValueError:
            logger.warning("%s: skipped malformed segment %s %s", segments_file, utt_id, value)
    return segments


def prepare_kaldi(src: Path, out_dir: Path, name: str | None = None) -> dict[str, int]:
    """Write `out_dir/<name>.jsonl` from a Kaldi data dir (`wav.scp`, `text`, optional
    `segments` and `utt2spk`); `name` defaults to the data dir's name.

    Piped wav.scp entries (`sox x.wav -t wav - |`) are not supported: they are reported and
    skipped, as are utterances without text or audio. Segments become offset/duration on
    their recording. Returns {name: count}.
    """
    src = _check_source(src, "Kaldi data")
    if not (src / "wav.scp").is_file():
        raise AsrError(f"{src}: not a Kaldi data dir (no wav.scp)")
    name = name or src.resolve().name
    collector = _Collector(src)
    recordings = _kaldi_recordings(src)
    texts = _read_kaldi_table(src / "text", min_fields=1)
    speakers = _read_kaldi_table(src / "utt2spk")
    for utt_id, (rec_id, start, end) in sorted(_kaldi_segments(src, recordings).items()):
        audio, reason = recordings.get(rec_id, (None, f"recording {rec_id!r} is not in wav.scp"))
        if audio is None:
            collector.skip(utt_id, reason, quiet=rec_id in recordings)
        elif utt_id not in texts:
            collector.skip(utt_id, "no entry in text")
        else:
            collector.add(utt_id, audio, texts[utt_id], speakers.get(utt_id, ""),
                          offset=start, end=end)
    return _write_subsets(src, out_dir, {name: list(collector.utterances.values())},
                          collector.skipped)
