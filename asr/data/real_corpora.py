"""Real English speech corpora: importers for the layouts their public downloads arrive in,
arranging them into one shared layout, and the importer of that layout (`asr prepare real`).

The shared layout (what ../shared/data/real holds, and what `arrange_corpus` writes into DATA):

    DATA/speechocean762/{train,test}/  Kaldi data dirs; wav.scp paths relative to speechocean762/
    DATA/ljspeech/<clip>.<ext> + .txt                       LJ Speech 1.1, speaker "LJ"
    DATA/commonvoice/<speaker>/<clip>.<ext> + .txt          speaker = first 12 chars of client_id
    DATA/an4/{train,test}/<speaker>/<utt>.<ext> + .txt      CMU AN4, its own train/test split
    DATA/wakewords/<keyword>/<n>.<ext> + .txt               Picovoice wake-word benchmark
    DATA/librispeech_pseudo/<speaker>/<utt>.<ext> + .txt    machine transcripts (no public source)

Each `.txt` holds the transcript as the corpus writes it; manifests get it normalized. Both
paths into a manifest (raw download, shared layout) give the same ids, speakers and splits, in
files named `<corpus>_<split>.jsonl`. Held-out test parts that the corpora do not define are
fixed rules, not random draws: Common Voice by a hash of the speaker, LJ Speech by clip id.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from asr.atomic import atomic_open
from asr.data.importers import (
    AUDIO_EXTENSIONS,
    _check_source,
    _Collector,
    _read_kaldi_table,
    _write_subsets,
    audio_with_transcripts,
    prepare_kaldi,
)
from asr.data.manifest import Utterance
from asr.errors import AsrError

logger = logging.getLogger("asr.data")

CORPORA = ("speechocean762", "ljspeech", "commonvoice", "an4", "wakewords", "librispeech_pseudo")
RAW_CORPORA = ("speechocean762", "ljspeech", "commonvoice", "an4", "wakewords")
WAKEWORDS = ("alexa", "computer", "jarvis", "smart mirror", "snowboy", "view glass")
# AN4 ships NIST SPHERE (.sph), which libsndfile reads; it is linked as is, never re-encoded
_EXTENSIONS = AUDIO_EXTENSIONS + (".sph",)
TEST_PERCENT = 15


@dataclass(frozen=True)
class Entry:
    """One utterance as a corpus lists it, before its audio is opened."""

    id: str
    audio: Path
    text: str  # as the corpus writes it; normalized only in the manifest
    speaker: str
    split: str  # "train" or "test"; "" for LJ Speech, whose split depends on all its ids
    place: str  # its path in the shared layout below DATA/<corpus>, without extension


# --------------------------------------------------------------------------- held-out splits

def commonvoice_split(speaker: str) -> str:
    """"test" for about 15% of the speakers, by a stable hash of the speaker id (MD5, not
    Python's per-process salted hash()), so that no speaker is in both parts."""
    bucket = int(hashlib.md5(speaker.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "test" if bucket < TEST_PERCENT else "train"


def ljspeech_test_ids(ids) -> set[str]:
    """The last 15% of the clip ids in sorted order: whole stretches of the last book chapters,
    so that test sentences do not sit between train sentences of the same passage."""
    ordered = sorted(set(ids))
    return set(ordered[len(ordered) - round(len(ordered) * TEST_PERCENT / 100):])


# --------------------------------------------------------------------------- raw layouts

def _find(src: Path, relative: str, what: str, expected: str) -> Path:
    """The folder F at or up to two levels below `src` where F/relative exists (an archive
    unpacks into a folder of its own: LJSpeech-1.1/, cv-corpus-*/en/, ...)."""
    src = _check_source(src, what)
    for pattern in (relative, f"*/{relative}", f"*/*/{relative}"):
        found = sorted(src.glob(pattern))
        if len(found) > 1:
            raise AsrError(f"{src}: several {what} copies ({found[0]}, {found[1]}); give one of them")
        if found:
            return found[0].parents[len(Path(relative).parts) - 1]
    raise AsrError(f"{src}: not {what} (no {relative}; expected {expected})")


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise AsrError(f"{path}: cannot read ({err})") from None


def ljspeech_entries(root: Path, collector: _Collector) -> list[Entry]:
    """LJ Speech 1.1: `metadata.csv` lines `ID|raw text|normalized text` + `wavs/ID.wav`."""
    entries = []
    for number, line in enumerate(_lines(root / "metadata.csv"), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("|")]
        # the normalized column spells out numbers and abbreviations; the raw one is a fallback
        text = (fields[2:3] or [""])[0] or (fields[1:2] or [""])[0]
        if not fields[0] or not text:
            collector.skip(f"metadata.csv:{number}", "expected ID|text|normalized text")
            continue
        entries.append(Entry(fields[0], root / "wavs" / f"{fields[0]}.wav", text, "LJ", "", fields[0]))
    return entries


def commonvoice_entries(root: Path, collector: _Collector) -> list[Entry]:
    """A Common Voice release: `validated.tsv` (client_id, path, sentence, ...) + `clips/`."""
    tsv = root / "validated.tsv"
    entries = []
    try:
        with open(tsv, encoding="utf-8", newline="") as f:
            # sentences contain quotes that are not CSV quoting
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = {"client_id", "path", "sentence"} - set(reader.fieldnames or ())
            if missing:
                raise AsrError(f"{tsv}: no column {', '.join(sorted(missing))} "
                               f"(expected Common Voice's header with client_id, path, sentence)")
            for number, row in enumerate(reader, start=2):
                client, clip, sentence = row["client_id"], row["path"], row["sentence"]
                if not client or not clip or not (sentence or "").strip():
                    collector.skip(f"validated.tsv:{number}", "missing client_id, path or sentence")
                    continue
                clip_path = root / "clips" / clip
                if not clip_path.suffix:  # early releases list clips without their .mp3
                    clip_path = clip_path.with_name(clip + ".mp3")
                speaker = client[:12]
                entries.append(Entry(clip_path.stem, clip_path, sentence, speaker,
                                     commonvoice_split(speaker), f"{speaker}/{clip_path.stem}"))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise AsrError(f"{tsv}: cannot read ({err})") from None
    return entries


_AN4_LINE = re.compile(r"^\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^()\s]+)\)\s*$")


def an4_entries(root: Path, collector: _Collector) -> list[Entry]:
    """CMU AN4 (an4_sphere.tar.gz): `etc/an4_{train,test}.{transcription,fileids}` and
    `wav/<fileid>.sph`; a transcription line is `<s> WORDS </s> (utterance id)`."""
    entries = []
    for split in ("train", "test"):
        files = {kind: root / "etc" / f"an4_{split}.{kind}" for kind in ("transcription", "fileids")}
        for path in files.values():
            if not path.is_file():
                raise AsrError(f"{path}: not found (an AN4 folder has etc/an4_{split}.transcription "
                               f"and etc/an4_{split}.fileids)")
        audio = {Path(line.strip()).name: root / "wav" / f"{line.strip()}.sph"
                 for line in _lines(files["fileids"]) if line.strip()}
        for number, line in enumerate(_lines(files["transcription"]), start=1):
            match = _AN4_LINE.match(line)
            if not line.strip():
                continue
            if not match or not match[1].strip():
                collector.skip(f"{files['transcription'].name}:{number}",
                               "expected '<s> WORDS </s> (utterance id)'")
                continue
            utt = match[2]
            parts = utt.split("-")
            if utt not in audio and len(parts) == 3:  # (speaker-an251-b) for file an251-speaker-b
                utt = "-".join((parts[1], parts[0], parts[2]))
            if utt not in audio:
                collector.skip(match[2], f"not listed in {files['fileids'].name}")
                continue
            speaker = audio[utt].parent.name
            entries.append(Entry(utt, audio[utt], match[1].strip(), speaker, split,
                                 f"{split}/{speaker}/{utt}"))
    return entries


def wakeword_entries(root: Path, collector: _Collector) -> list[Entry]:
    """Picovoice wake-word benchmark (its GitHub archive): `audio/<keyword>/*.flac`; the
    keyword folders may be named with spaces or underscores. Speakers are not labelled."""
    entries = []
    for folder in sorted(p for p in (root / "audio").iterdir() if p.is_dir()):
        keyword = folder.name.replace("_", " ").lower()
        if keyword not in WAKEWORDS:
            logger.warning("%s: skipped folder %s: not one of the keywords %s",
                           root, folder.name, ", ".join(WAKEWORDS))
            continue
        name = keyword.replace(" ", "_")
        for path, _ in audio_with_transcripts(folder, _EXTENSIONS):
            entries.append(Entry(f"{name}-{path.stem}", path, keyword, "", "train", f"{name}/{path.stem}"))
    if not entries:
        raise AsrError(f"{root / 'audio'}: no keyword folder with audio ({', '.join(WAKEWORDS)})")
    return entries


_RAW_READERS = {"ljspeech": ljspeech_entries, "commonvoice": commonvoice_entries,
                "an4": an4_entries, "wakewords": wakeword_entries}

# corpus -> (the file that marks the unpacked corpus's root, what it is, the layout expected)
_RAW_ROOTS = {
    "speechocean762": ("train/wav.scp", "speechocean762",
                       "speechocean762/{train,test}/ Kaldi data dirs and WAVE/"),
    "ljspeech": ("metadata.csv", "LJ Speech", "LJSpeech-1.1/metadata.csv and wavs/"),
    "commonvoice": ("validated.tsv", "a Common Voice release",
                    "an extracted release's language folder with validated.tsv and clips/"),
    "an4": ("etc/an4_train.transcription", "CMU AN4",
            "an4/etc/an4_{train,test}.{transcription,fileids} and an4/wav/"),
    "wakewords": ("audio", "the Picovoice wake-word benchmark",
                  "wake-word-benchmark-master/audio/<keyword>/*.flac"),
}


def raw_root(corpus: str, src: Path) -> Path:
    """The root folder of an unpacked corpus at or up to two levels below `src`."""
    return _find(src, *_RAW_ROOTS[corpus])


# --------------------------------------------------------------------------- shared layout

# corpus -> (the path of an audio file below DATA/<corpus>, for messages and depth checks)
_LAYOUTS = {
    "ljspeech": "<clip>.<audio>",
    "commonvoice": "<speaker>/<clip>.<audio>",
    "an4": "{train,test}/<speaker>/<utt>.<audio>",
    "wakewords": "<keyword>/<n>.<audio>",
    "librispeech_pseudo": "<speaker>/<utt>.<audio>",
}


def _layout_entry(corpus: str, parts: tuple[str, ...], path: Path, text: str) -> Entry | None:
    """The entry of one file of the shared layout; None if it is not where the layout puts audio."""
    if len(parts) != _LAYOUTS[corpus].count("/") + 1:
        return None
    stem, place = path.stem, Path(*parts).with_suffix("").as_posix()
    if corpus == "ljspeech":
        return Entry(stem, path, text, "LJ", "", place)
    if corpus == "commonvoice":
        return Entry(stem, path, text, parts[0], commonvoice_split(parts[0]), place)
    if corpus == "an4":
        return Entry(stem, path, text, parts[1], parts[0], place) if parts[0] in ("train", "test") else None
    if corpus == "wakewords":
        return Entry(f"{parts[0].replace(' ', '_')}-{stem}", path, text, "", "train", place)
    return Entry(stem, path, text, parts[0], "train", place)  # librispeech_pseudo


def layout_entries(corpus: str, folder: Path, collector: _Collector) -> list[Entry]:
    """The utterances of DATA/<corpus> in the shared layout (not speechocean762: Kaldi dirs)."""
    found = audio_with_transcripts(folder, _EXTENSIONS)
    expected = f"{corpus}/{_LAYOUTS[corpus]} + .txt"
    entries, misplaced = [], []
    for path, text in found:
        rel = path.relative_to(folder)
        entry = _layout_entry(corpus, rel.parts, path, text or "")
        if entry is None:
            misplaced.append(rel.as_posix())
        elif text is None:
            collector.skip(rel.as_posix(), "no .txt transcript beside it")
        else:
            entries.append(entry)
    if not entries and not any(text is None for _, text in found):
        example = f"; found e.g. {misplaced[0]}" if misplaced else "; found no audio files"
        raise AsrError(f"{folder}: not the {corpus} layout (expected {expected}{example})")
    for rel in misplaced:
        collector.skip(rel, f"not where the layout puts audio ({expected})")
    return entries


# --------------------------------------------------------------------------- manifests

def _write_corpus(corpus: str, src: Path, out_dir: Path, entries: list[Entry],
                  collector: _Collector) -> dict[str, int]:
    """Read the entries' headers and write `out_dir/<corpus>_<split>.jsonl`."""
    kept: list[tuple[Entry, Utterance]] = []
    for entry in entries:
        utt = collector.add(entry.id, entry.audio, entry.text, entry.speaker)
        if utt is not None:
            kept.append((entry, utt))
    # LJ Speech's split is over the clips that are usable, so both layouts agree
    lj_test = ljspeech_test_ids(u.id for _, u in kept) if corpus == "ljspeech" else set()
    splits: dict[str, list[Utterance]] = defaultdict(list)
    for entry, utt in kept:
        split = entry.split or ("test" if utt.id in lj_test else "train")
        splits[f"{corpus}_{split}"].append(utt)
    return _write_subsets(src, out_dir, splits, collector.skipped)


def _log_hours(out_dir: Path, counts: dict[str, int]) -> None:
    """One line per written manifest with its utterances and hours."""
    for name, count in counts.items():
        path = Path(out_dir) / f"{name}.jsonl"
        seconds = sum(json.loads(line)["duration"] for line in _lines(path) if line.strip())
        logger.info("%s: %d utterances, %.2f h", path, count, seconds / 3600)


def _prepare_speechocean762(root: Path, out_dir: Path) -> dict[str, int]:
    counts = {}
    for split in ("train", "test"):
        if (root / split / "wav.scp").is_file():
            counts.update(prepare_kaldi(root / split, out_dir, name=f"speechocean762_{split}"))
    return counts


def prepare_corpus(corpus: str, src: Path, out_dir: Path) -> dict[str, int]:
    """Write `out_dir/<corpus>_<split>.jsonl` from a corpus as its public download unpacks
    (`src` may be the unpacked folder or the folder holding it). Returns {manifest: count}."""
    root = raw_root(corpus, src)
    if corpus == "speechocean762":
        counts = _prepare_speechocean762(root, out_dir)
    else:
        collector = _Collector(root)
        counts = _write_corpus(corpus, root, out_dir, _RAW_READERS[corpus](root, collector), collector)
    _log_hours(out_dir, counts)
    return counts


def prepare_real(data: Path, out_dir: Path) -> dict[str, int]:
    """Write per-corpus, per-split manifests (`<corpus>_<split>.jsonl`) for every corpus
    folder of the shared layout found in `data`. Returns {manifest name: count}."""
    data = _check_source(data, "real speech data")
    present = [c for c in CORPORA if (data / c).is_dir()]
    if not present:
        raise AsrError(f"{data}: none of the corpus folders {', '.join(CORPORA)} found")
    counts = {}
    for corpus in present:
        folder = data / corpus
        if corpus == "speechocean762":
            if not any((folder / s / "wav.scp").is_file() for s in ("train", "test")):
                raise AsrError(f"{folder}: not the speechocean762 layout (expected Kaldi data "
                               f"dirs train/ and test/ with wav.scp)")
            counts.update(_prepare_speechocean762(folder, out_dir))
            continue
        collector = _Collector(folder)
        counts.update(_write_corpus(corpus, folder, out_dir, layout_entries(corpus, folder, collector),
                                    collector))
    _log_hours(out_dir, counts)
    return counts


# --------------------------------------------------------------------------- arranging

def _place(src: Path, dest: Path) -> None:
    """Put `src` at `dest` as it is: a hard link, else a symbolic link (another filesystem),
    else a copy; through a temporary name, so `dest` is never half there."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        try:
            os.symlink(os.path.abspath(src), tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _write_text(path: Path, text: str) -> None:
    # temp + rename without an fsync per file (a corpus has up to a million): one os.sync()
    # before the marker makes them all durable
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _marker(data: Path, corpus: str) -> Path:
    return Path(data) / f".{corpus}.arranged"


def _finish(data: Path, corpus: str, src: Path, count: int) -> int:
    os.sync()  # everything placed above is on disk before the marker says it is done
    with atomic_open(_marker(data, corpus)) as f:
        json.dump({"source": str(Path(src).resolve()), "utterances": count}, f)
        f.write("\n")
    logger.info("%s: arranged %d utterances from %s", Path(data) / corpus, count, src)
    return count


def arrange_corpus(corpus: str, src: Path, data: Path) -> int:
    """Arrange a corpus as its download unpacks (see `prepare_corpus`) into `data/<corpus>` in
    the shared layout: audio linked, never re-encoded, with its transcript in a `.txt` beside
    it (speechocean762: its folder linked file by file). Audio that cannot be read is left out
    and counted. A marker `data/.<corpus>.arranged`, written last, makes a rerun skip finished
    work; without it (an interrupted run) everything is placed again. Returns the utterances."""
    data, src = Path(data), Path(src)
    marker = _marker(data, corpus)
    if marker.exists():
        count = json.loads(marker.read_text(encoding="utf-8"))["utterances"]
        logger.info("%s: already arranged (%s)", data / corpus, marker)
        return count
    dest, root = data / corpus, raw_root(corpus, src)
    if corpus == "speechocean762":  # already the layout: Kaldi dirs, wav.scp relative to root
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            _place(path, dest / path.relative_to(root))
        count = sum(len(_read_kaldi_table(dest / s / "text")) for s in ("train", "test"))
        return _finish(data, corpus, root, count)
    collector = _Collector(root)
    entries = _RAW_READERS[corpus](root, collector)
    count = 0
    for entry in entries:
        if collector.add(entry.id, entry.audio, entry.text, entry.speaker) is None:
            continue  # missing or unreadable audio stays out of the layout, as in the shared copy
        target = dest / f"{entry.place}{entry.audio.suffix}"
        _place(entry.audio, target)
        _write_text(target.with_name(f"{Path(entry.place).name}.txt"), entry.text.strip() + "\n")
        count += 1
    if not count:
        raise AsrError(f"{root}: no usable utterances to arrange ({collector.skipped} skipped, "
                       f"see warnings above)")
    if collector.skipped:
        logger.warning("%s: arranged %d utterances, skipped %d (see warnings above)",
                       root, count, collector.skipped)
    for license_file in sorted(p for p in root.glob("LICENSE*") if p.is_file()):
        _place(license_file, dest / license_file.name)  # AN4's and the wake-word benchmark's terms
    return _finish(data, corpus, root, count)

