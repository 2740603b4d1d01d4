"""WER/CER scoring checked against a brute-force edit distance and hand-worked examples."""

from __future__ import annotations

import json
import random

import pytest

from asr.data.hypotheses import read_hypotheses, read_references, write_hypotheses
from asr.errors import ManifestError
from asr.score import ErrorCounts, format_report, report_to_dict, score_files, score_texts


def levenshtein(ref: list[str], hyp: list[str]) -> int:
    """Textbook dynamic programme: d[i][j] = edits turning ref[:i] into hyp[:j]."""
    d = [[0] * (len(hyp) + 1) for _ in range(len(ref) + 1)]
    for i in range(len(ref) + 1):
        d[i][0] = i
    for j in range(len(hyp) + 1):
        d[0][j] = j
    for i in range(1, len(ref) + 1):
        for j in range(1, len(hyp) + 1):
            d[i][j] = min(
                d[i - 1][j] + 1,  # deletion
                d[i][j - 1] + 1,  # insertion
                d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]),  # substitution or match
            )
    return d[len(ref)][len(hyp)]


def random_text(rng: random.Random) -> str:
    # a tiny vocabulary makes matches, near-misses and repeated words common; up to 6
    # words, so empty texts (0 words) come up too
    vocab = ["A", "B", "AB", "BA", "C", "ABC"]
    return " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 6)))


def test_counts_equal_brute_force_levenshtein():
    rng = random.Random(1234)
    refs = {f"u{i}": random_text(rng) for i in range(400)}
    hyps = {f"u{i}": random_text(rng) for i in range(400)}
    report = score_texts(refs, hyps)
    total_words = total_chars = 0
    for utt in report.utterances:
        ref, hyp = refs[utt.id], hyps[utt.id]
        word_distance = levenshtein(ref.split(), hyp.split())
        char_distance = levenshtein(list(ref), list(hyp))  # texts have single spaces already
        assert utt.words.errors == word_distance, (ref, hyp)
        assert utt.chars.errors == char_distance, (ref, hyp)
        # the counts must describe a real alignment of both sequences
        for counts, r, h in ((utt.words, ref.split(), hyp.split()), (utt.chars, list(ref), list(hyp))):
            assert counts.hits + counts.substitutions + counts.deletions == counts.ref_len == len(r)
            assert counts.hits + counts.substitutions + counts.insertions == len(h)
        total_words += word_distance
        total_chars += char_distance
    assert report.words.errors == total_words
    assert report.chars.errors == total_chars
    assert report.words.ref_len == sum(len(t.split()) for t in refs.values())


def test_hand_worked_example():
    # REF: THE CAT SAT ON  THE   MAT
    # HYP: THE CAT SAT MAT TODAY ***
    # THE CAT SAT match (3 hits). The remaining "ON THE MAT" -> "MAT TODAY" needs 3 edits
    # at least (3 words against 2, and no single word lines up and leaves a cheaper rest),
    # and two alignments reach 3: ON->MAT, THE->TODAY, delete MAT (S=2 D=1), or delete ON,
    # delete THE, keep MAT, insert TODAY (D=2 I=1). Either way: 3 errors / 6 words = 50%.
    report = score_texts({"u": "THE CAT SAT ON THE MAT"}, {"u": "THE CAT SAT MAT TODAY"})
    words = report.words
    assert words.errors == 3 and words.ref_len == 6
    assert (words.substitutions, words.deletions, words.insertions) in {(2, 1, 0), (0, 2, 1)}
    assert report.wer == pytest.approx(50.0)


def test_characters_include_spaces():
    # "AB C" -> "ABD": A, B match; " "->D substitution; C deleted -> 2 errors over 4 chars.
    report = score_texts({"u": "AB C"}, {"u": "ABD"})
    assert (report.chars.substitutions, report.chars.deletions, report.chars.insertions) == (1, 1, 0)
    assert report.chars.ref_len == 4
    assert report.cer == pytest.approx(50.0)
    # a lost word boundary costs exactly one character; extra whitespace costs nothing
    assert score_texts({"u": "THE CAT"}, {"u": "THECAT"}).chars.errors == 1
    assert score_texts({"u": "THE CAT"}, {"u": "  THE   CAT "}).chars.errors == 0


def test_missing_hypothesis_counts_as_deletions_and_extras_are_ignored():
    refs = {"a": "ONE TWO THREE", "b": "FOUR FIVE"}
    hyps = {"a": "ONE TWO THREE", "x": "NOT IN THE REFERENCES"}
    report = score_texts(refs, hyps)
    assert report.missing == ["b"]
    assert report.extra == ["x"]
    assert [u.id for u in report.utterances] == ["a", "b"]
    assert report.words == ErrorCounts(substitutions=0, deletions=2, insertions=0, hits=3, ref_len=5)
    assert report.chars.deletions == len("FOUR FIVE")
    assert report.wer == pytest.approx(40.0)


def test_empty_reference_with_hypothesis_counts_insertions():
    report = score_texts({"a": "", "b": "HELLO"}, {"a": "UH HUH", "b": "HELLO"})
    empty = report.utterances[0]
    assert (empty.words.insertions, empty.words.ref_len, empty.words.errors) == (2, 0, 2)
    assert empty.chars.insertions == len("UH HUH")
    assert report.words.errors == 2 and report.words.ref_len == 1
    # nothing to compare against at all: an undefined rate, reported as such
    only_empty = score_texts({"a": ""}, {"a": "UH"})
    assert only_empty.wer == float("inf")
    assert report_to_dict(only_empty)["wer"] is None
    assert score_texts({"a": ""}, {"a": ""}).wer == 0.0


def test_format_report_lists_worst_utterance_first():
    refs = {"ok": "A B C", "bad": "A B C D", "mid": "A B C"}
    hyps = {"ok": "A B C", "bad": "X Y", "mid": "A X C"}
    text = format_report(score_texts(refs, hyps), worst=5)
    assert "WER:" in text and "CER:" in text
    worst_list = text.split("worst", 1)[1]
    assert worst_list.index("bad:") < worst_list.index("mid:")
    assert "ok:" not in worst_list  # utterances without errors are not listed
    assert "REF:" in worst_list and "HYP:" in worst_list and "*" in worst_list


def test_report_to_dict_is_json():
    report = score_texts({"a": "A B", "b": "C"}, {"a": "A", "z": "Q"})
    summary = json.loads(json.dumps(report_to_dict(report)))
    assert summary["wer"] == pytest.approx(200 / 3, abs=1e-3)
    assert summary["num_utterances"] == 2
    assert summary["missing"] == ["b"] and summary["extra"] == ["z"]
    assert summary["words"]["deletions"] == 2


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_hypotheses_round_trip_and_score_files(tmp_path):
    records = [{"id": "a", "text": "HELLO WORLD", "score": -1.5}, {"id": "b", "text": ""}]
    hyp_path = tmp_path / "hyp.jsonl"
    assert write_hypotheses(hyp_path, records) == 2
    assert read_hypotheses(hyp_path) == {r["id"]: r for r in records}

    manifest = write_lines(tmp_path / "ref.jsonl", [
        json.dumps({"id": "a", "audio": "a.wav", "duration": 1.0, "text": "HELLO WORLD"}),
        json.dumps({"id": "b", "audio": "b.wav", "duration": 1.0, "text": "BYE"}),
    ])
    assert read_references(manifest) == {"a": "HELLO WORLD", "b": "BYE"}
    report = score_files(manifest, hyp_path)
    assert report.words.errors == 1 and report.words.deletions == 1
    # a references file in the hypotheses format works too
    assert read_references(hyp_path) == {"a": "HELLO WORLD", "b": ""}


@pytest.mark.parametrize("lines, message", [
    (['{"id": "a", "text": "X"}', '{"id": "b", "text": '], "hyp.jsonl:2: malformed JSON"),
    (['{"id": "a", "text": "X"}', '{"id": "a", "text": "Y"}'], "hyp.jsonl:2: duplicate id 'a'"),
    (['{"id": "a"}'], "hyp.jsonl:1: missing field 'text'"),
    (['{"text": "X"}'], "hyp.jsonl:1: missing field 'id'"),
    (["", "  "], "hypotheses file is empty"),
])
def test_read_hypotheses_errors_name_the_problem(tmp_path, lines, message):
    path = write_lines(tmp_path / "hyp.jsonl", lines)
    with pytest.raises(ManifestError, match=message):
        read_hypotheses(path)


def test_read_hypotheses_missing_file(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_hypotheses(tmp_path / "nope.jsonl")
    with pytest.raises(ManifestError, match="not found"):
        read_references(tmp_path / "nope.jsonl")


def test_score_normalizes_both_sides_as_prepare_does(tmp_path):
    ref = write_lines(tmp_path / "ref.jsonl", [json.dumps({"id": "a", "text": "THE QUICK BROWN FOX"}),
                                               json.dumps({"id": "b", "text": "I HAVE TWENTY ONE CATS"})])
    hyp = write_lines(tmp_path / "hyp.jsonl", [json.dumps({"id": "a", "text": "the quick brown fox."}),
                                               json.dumps({"id": "b", "text": "I have 21 cats!"})])
    report = score_files(ref, hyp)
    assert report.wer == 0.0 and report.cer == 0.0 and report.normalized
    exact = score_files(ref, hyp, normalize=False)
    assert exact.utterances[0].words.substitutions == 4 and not exact.normalized  # as before the fix
    from conftest import run_cli

    done = run_cli("score", str(ref), str(hyp))
    assert done.returncode == 0 and "WER: 0.00%" in done.stdout and "normalized" in done.stdout
    assert "WER: 88.89%" in run_cli("score", str(ref), str(hyp), "--no-normalize").stdout


def test_kaldi_text_files_on_either_side(tmp_path):
    ref = write_lines(tmp_path / "text", ["utt1 HELLO WORLD", "utt2\tGOOD  MORNING", "utt3", ""])
    hyp = write_lines(tmp_path / "hyp.txt", ["utt1 hello world", "utt2 GOOD EVENING", "utt3"])
    report = score_files(ref, hyp)
    assert [u.ref for u in report.utterances] == ["HELLO WORLD", "GOOD MORNING", ""]
    assert (report.words.substitutions, report.words.ref_len) == (1, 4)
    manifest = write_lines(tmp_path / "ref.jsonl", [
        json.dumps({"id": "utt1", "audio": "a.wav", "duration": 1.0, "text": "HELLO WORLD"})])
    assert score_files(manifest, hyp).utterances[0].words.errors == 0  # JSONL against Kaldi text
    duplicate = write_lines(tmp_path / "dup", ["a X", "a Y"])
    with pytest.raises(ManifestError, match="dup:2: duplicate id 'a'"):
        score_files(duplicate, hyp)


def test_score_says_clearly_when_both_sides_are_empty(tmp_path):
    from conftest import run_cli

    empty_ref, empty_hyp = write_lines(tmp_path / "ref.jsonl", []), write_lines(tmp_path / "hyp.jsonl", [])
    done = run_cli("score", str(empty_ref), str(empty_hyp))
    assert done.returncode == 1 and "both empty" in done.stderr and done.stderr.count("\n") == 1
    blank = write_lines(tmp_path / "blank.jsonl", [json.dumps({"id": "a", "text": ""})])
    done = run_cli("score", str(blank), str(blank))
    assert done.returncode == 0
    assert "nothing to score: the references and the hypotheses are all empty" in done.stdout
    assert "WER: n/a" in done.stdout
