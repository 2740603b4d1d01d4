"""Transcript writers (asr/output.py): SRT, WebVTT, TSV, JSON and txt documents, subtitle line
cutting and timestamps."""

from __future__ import annotations

import io
import json
import re

import pytest

from asr.decode.alignment import Word
from asr.decode.stream import Segment
from asr.output import (Transcript, format_timestamp, subtitle_cues, transcript_line, wrap_words,
                        write_transcript)

SRT_TIME = r"\d\d:\d\d:\d\d,\d\d\d"
VTT_TIME = r"\d\d:\d\d:\d\d\.\d\d\d"


def words_at(text: str, start: float, step: float = 0.4, gap: float = 0.1) -> list[Word]:
    """Words of `text` one after another from `start`: each `step - gap` long, `gap` apart."""
    return [Word(w, start + i * step, start + i * step + step - gap, 0.9) for i, w in enumerate(text.split())]


def transcript() -> Transcript:
    first = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG AND THEN RUNS AWAY INTO THE DEEP DARK FOREST"
    second = "A SUPERCALIFRAGILISTICEXPIALIDOCIOUSLY LONG WORD"
    segments = [Segment(0.5, 0.5 + 0.4 * 18, first, words_at(first, 0.5)),
                Segment(3700.0, 3701.2, second, words_at(second, 3700.0))]
    return Transcript("talk.flac", f"{first} {second}", segments, duration=3702.0)


def render(fmt: str, t: Transcript | None = None, **options) -> str:
    out = io.StringIO()
    write_transcript(t or transcript(), fmt, out, **options)
    return out.getvalue()


def test_timestamps():
    assert format_timestamp(0) == "00:00:00,000"
    assert format_timestamp(3723.4567) == "01:02:03,457"
    assert format_timestamp(59.9996, ".") == "00:01:00.000"
    assert format_timestamp(-0.01) == "00:00:00,000"


def test_srt_is_numbered_timed_and_cut_into_short_lines():
    text = render("srt")
    blocks = text.strip("\n").split("\n\n")
    assert text.endswith("\n\n") and not text.startswith("\n")
    previous_end = -1.0
    seen = []
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert lines[0] == str(number)
        match = re.fullmatch(f"({SRT_TIME}) --> ({SRT_TIME})", lines[1])
        assert match, lines[1]
        start, end = (sum(float(x) * f for x, f in zip(t.replace(",", ".").split(":"), (3600, 60, 1)))
                      for t in match.groups())
        assert previous_end <= start < end
        previous_end = end
        assert 1 <= len(lines[2:]) <= 2
        for line in lines[2:]:
            assert line and line == line.strip() and "  " not in line
            assert len(line) <= 42 or " " not in line  # only a single over-long word may exceed it
        seen += " ".join(lines[2:]).split()
    assert seen == transcript().text.split()  # every word once, in order
    assert "01:01:40,000 --> " in text  # the second segment's first cue, past an hour
    assert len(blocks) >= 3  # 18 words do not fit one two-line cue of 42 characters


def test_vtt_has_its_header_and_dotted_times():
    text = render("vtt", max_line_width=20, max_line_count=1)
    assert text.startswith("WEBVTT\n\n")
    cues = text[len("WEBVTT\n\n"):].strip("\n").split("\n\n")
    for cue in cues:
        timing, *lines = cue.split("\n")
        assert re.fullmatch(f"{VTT_TIME} --> {VTT_TIME}", timing), timing
        assert len(lines) == 1 and (len(lines[0]) <= 20 or " " not in lines[0])


def test_a_long_pause_between_words_starts_a_new_cue():
    words = words_at("ONE TWO", 0.0) + words_at("THREE", 5.0)
    cues = subtitle_cues([Segment(0.0, 5.3, "ONE TWO THREE", words)])
    assert [c.lines for c in cues] == [["ONE TWO"], ["THREE"]]
    assert (cues[1].start, cues[1].end) == (5.0, pytest.approx(5.3))


def test_cues_without_word_times_share_out_the_segment():
    segment = Segment(10.0, 20.0, "AAAA BBBB CCCC DDDD")
    cues = subtitle_cues([segment], max_line_width=9, max_line_count=1)
    assert [c.lines for c in cues] == [["AAAA BBBB"], ["CCCC DDDD"]]
    assert cues[0].start == 10.0 and cues[-1].end == 20.0 and cues[0].end <= cues[1].start


def test_wrap_words():
    assert wrap_words(["AB", "CD", "EF"], 5) == [[0, 1], [2]]
    assert wrap_words(["ABCDEFG", "H"], 3) == [[0], [1]]
    assert wrap_words([], 10) == []


def test_tsv_json_and_txt_layouts():
    t = transcript()
    tsv = render("tsv").splitlines()
    assert tsv[0] == "start\tend\ttext" and len(tsv) == 3
    assert tsv[1].split("\t")[:2] == ["500", "7700"] and all(len(row.split("\t")) == 3 for row in tsv)
    record = json.loads(render("json"))
    assert render("json").count("\n") == 1
    assert record["file"] == "talk.flac" and record["text"] == t.text and record["duration"] == 3702.0
    assert [s["text"] for s in record["segments"]] == [s.text for s in t.segments]
    assert set(record["segments"][0]["words"][0]) == {"word", "start", "end", "confidence"}
    assert render("txt").splitlines() == [s.text for s in t.segments]
    assert transcript_line(t) == f"talk.flac\t{t.text}"


def test_an_empty_transcript_writes_empty_documents():
    empty = Transcript("quiet.wav", "", [], duration=2.0)
    assert render("srt", empty) == "" and render("vtt", empty) == "WEBVTT\n\n"
    assert json.loads(render("json", empty))["segments"] == []
