"""Transcripts as files people use, in Whisper's formats: txt, json, srt, vtt, tsv.

A `Transcript` is what one audio file became: its text and its timed segments (one for a file
decoded whole, several for a long file cut at pauses), each segment with its words when word
timestamps were computed. The layout does not depend on the file's length: a short file is a
transcript with one segment.

    txt   one line per segment (Whisper's .txt); on standard output `transcript_line` instead:
          PATH<TAB>TEXT, one line per file whatever its length
    json  {"file", "text", "duration", "segments": [{"start", "end", "text", "words": [{"word",
          "start", "end", "confidence"}]}], "score"?, "nbest"?}, on one line
    srt   SubRip cues, numbered from 1, HH:MM:SS,mmm --> HH:MM:SS,mmm
    vtt   WebVTT: a WEBVTT header, then cues HH:MM:SS.mmm --> HH:MM:SS.mmm
    tsv   start<TAB>end<TAB>text, times in integer milliseconds, one row per segment (Whisper's .tsv)

Subtitle cues (`subtitle_cues`) are cut from the words: lines of at most `max_line_width`
characters (a longer word stands alone), at most `max_line_count` lines a cue, and a new cue at
every segment boundary and at every pause of `CUE_PAUSE_SECONDS` or more between words, so a cue
is not on screen over a long silence.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from asr.decode.alignment import Word
    from asr.decode.stream import Segment
    from asr.transcribe import Result

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
MAX_LINE_WIDTH = 42  # characters a subtitle line: the usual broadcast guideline
MAX_LINE_COUNT = 2  # lines a subtitle cue
CUE_PAUSE_SECONDS = 1.0  # a pause this long between words starts a new cue


@dataclass
class Transcript:
    """One audio file's recognition. `file` is the path as given (`-` for standard input)."""

    file: str
    text: str
    segments: list[Segment]
    duration: float | None = None  # seconds of audio
    score: float | None = None  # beam search: fused score of the best hypothesis (whole files)
    nbest: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        record: dict = {"file": self.file, "text": self.text}
        if self.duration is not None:
            record["duration"] = round(self.duration, 3)
        record["segments"] = [s.to_json() for s in self.segments]
        if self.score is not None:
            record["score"] = round(self.score, 4)
        if self.nbest:
            record["nbest"] = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items()}
                               for h in self.nbest]
        return record


@dataclass
class Cue:
    """One subtitle: shown from `start` to `end` seconds, `lines` of text."""

    start: float
    end: float
    lines: list[str]


def format_timestamp(seconds: float, decimal_marker: str = ",") -> str:
    """HH:MM:SS,mmm (SRT) or, with decimal_marker ".", HH:MM:SS.mmm (WebVTT)."""
    milliseconds = max(0, round(seconds * 1000))
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    secs, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{milliseconds:03d}"


def wrap_words(words: list[str], max_line_width: int) -> list[list[int]]:
    """Greedy line filling: indices of the words on each line, every line at most
    `max_line_width` characters (words joined by spaces) unless one word alone is longer."""
    lines: list[list[int]] = []
    width = 0
    for index, word in enumerate(words):
        if lines and width + 1 + len(word) <= max_line_width:
            lines[-1].append(index)
            width += 1 + len(word)
        else:
            lines.append([index])
            width = len(word)
    return lines


def _cues_of_words(words: list[Word], max_line_width: int, max_line_count: int) -> list[Cue]:
    groups: list[list[Word]] = []  # runs of words without a long pause
    for word in words:
        if groups and word.start - groups[-1][-1].end < CUE_PAUSE_SECONDS:
            groups[-1].append(word)
        else:
            groups.append([word])
    cues = []
    for group in groups:
        lines = wrap_words([w.word for w in group], max_line_width)
        for first in range(0, len(lines), max_line_count):
            shown = lines[first: first + max_line_count]
            cues.append(Cue(group[shown[0][0]].start, group[shown[-1][-1]].end,
                            [" ".join(group[i].word for i in line) for line in shown]))
    return cues


def _cues_of_text(segment: Segment, max_line_width: int, max_line_count: int) -> list[Cue]:
    """Without word times: the segment's text wrapped, its time shared out by characters."""
    words = segment.text.split()
    lines = wrap_words(words, max_line_width)
    total = max(1, len(segment.text))
    cues, done = [], 0
    for first in range(0, len(lines), max_line_count):
        texts = [" ".join(words[i] for i in line) for line in lines[first: first + max_line_count]]
        length = sum(len(t) + 1 for t in texts)
        span = segment.end - segment.start
        cues.append(Cue(segment.start + span * done / total, segment.start + span * min(1.0, (done + length) / total),
                        texts))
        done += length
    return cues


def subtitle_cues(segments: list[Segment], max_line_width: int = MAX_LINE_WIDTH,
                  max_line_count: int = MAX_LINE_COUNT) -> list[Cue]:
    """Subtitle cues of a transcript's segments (see the module docstring)."""
    cues: list[Cue] = []
    for segment in segments:
        if segment.words:
            cues += _cues_of_words(segment.words, max_line_width, max_line_count)
        elif segment.text:
            cues += _cues_of_text(segment, max_line_width, max_line_count)
    return cues


def transcript_of_result(result: Result, file: str, duration: float | None = None) -> Transcript:
    """The transcript of a file decoded whole (`Recognizer.decode_utterances`): one segment, from
    its first word's start to its last word's end (the whole file without word times); none
    when nothing was recognized."""
    from asr.decode.stream import Segment

    segments = []
    if result.words:
        segments = [Segment(result.words[0].start, result.words[-1].end, result.text, result.words)]
    elif result.text:
        segments = [Segment(0.0, duration or 0.0, result.text, result.words)]
    return Transcript(file, result.text or "", segments, duration, result.score, result.nbest)


def transcript_line(transcript: Transcript) -> str:
    """PATH<TAB>TEXT: the plain output on standard output, one line per file."""
    return f"{transcript.file}\t{transcript.text}"


def write_txt(transcript: Transcript, f: TextIO, **_) -> None:
    f.writelines(segment.text + "\n" for segment in transcript.segments)


def write_json(transcript: Transcript, f: TextIO, **_) -> None:
    f.write(json.dumps(transcript.to_json(), ensure_ascii=False) + "\n")


def write_srt(transcript: Transcript, f: TextIO, max_line_width: int = MAX_LINE_WIDTH,
              max_line_count: int = MAX_LINE_COUNT) -> None:
    for number, cue in enumerate(subtitle_cues(transcript.segments, max_line_width, max_line_count), start=1):
        f.write(f"{number}\n{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}\n")
        f.write("\n".join(cue.lines) + "\n\n")


def write_vtt(transcript: Transcript, f: TextIO, max_line_width: int = MAX_LINE_WIDTH,
              max_line_count: int = MAX_LINE_COUNT) -> None:
    f.write("WEBVTT\n\n")
    for cue in subtitle_cues(transcript.segments, max_line_width, max_line_count):
        f.write(f"{format_timestamp(cue.start, '.')} --> {format_timestamp(cue.end, '.')}\n")
        f.write("\n".join(cue.lines) + "\n\n")


def write_tsv(transcript: Transcript, f: TextIO, **_) -> None:
    f.write("start\tend\ttext\n")
    f.writelines(f"{round(1000 * s.start)}\t{round(1000 * s.end)}\t{s.text}\n" for s in transcript.segments)


WRITERS = {"txt": write_txt, "json": write_json, "srt": write_srt, "vtt": write_vtt, "tsv": write_tsv}


def write_transcript(transcript: Transcript, fmt: str, f: TextIO, max_line_width: int = MAX_LINE_WIDTH,
                     max_line_count: int = MAX_LINE_COUNT) -> None:
    """Write `transcript` to `f` in format `fmt` (one of FORMATS)."""
    WRITERS[fmt](transcript, f, max_line_width=max_line_width, max_line_count=max_line_count)


def output_path(output_dir: str | os.PathLike, audio: str, fmt: str) -> Path:
    """Where `--output-dir` puts the `fmt` file of an input, as Whisper does: the input's file
    name with its extension replaced (`stdin.FMT` for standard input)."""
    stem = "stdin" if audio == "-" else os.path.splitext(os.path.basename(audio))[0]
    return Path(output_dir) / f"{stem}.{fmt}"
