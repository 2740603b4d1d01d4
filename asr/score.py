"""Word and character error rates, with per-utterance alignments (jiwer underneath).

`asr score` (`score_files`) normalizes references and hypotheses alike with
`asr.text.normalize_text`, as `asr prepare` normalizes transcripts: "the quick brown fox." and
"THE QUICK BROWN FOX" are the same words. `normalize=False` (--no-normalize) compares texts as
given, beyond whitespace; `score_texts`, which training and tuning call on texts that are
normalized already, does so by default.

- Words: the text split on whitespace.
- Characters (CER): the words joined by single spaces, compared as a character sequence
  *with the spaces included*, so a missing word boundary ("THE CAT" -> "THECAT") costs
  one deletion. Leading/trailing and repeated whitespace is not counted.

Totals are the sums of the per-utterance counts (errors over all reference tokens, the
usual corpus-level WER), not the mean of per-utterance rates.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import jiwer

from asr.data.hypotheses import read_texts
from asr.data.manifest import read_jsonl_lines
from asr.errors import ManifestError
from asr.text import normalize_text


@dataclass
class ErrorCounts:
    """Edit operations of a minimal alignment. `ref_len` = hits + substitutions + deletions."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    hits: int = 0
    ref_len: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """errors / ref_len; 0.0 for nothing against nothing, `inf` for insertions against an
        empty reference (the rate is undefined there, and inf keeps it from looking good)."""
        if self.ref_len == 0:
            return math.inf if self.errors else 0.0
        return self.errors / self.ref_len

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.substitutions + other.substitutions, self.deletions + other.deletions,
            self.insertions + other.insertions, self.hits + other.hits, self.ref_len + other.ref_len,
        )


@dataclass
class UtteranceScore:
    id: str
    ref: str
    hyp: str
    words: ErrorCounts
    chars: ErrorCounts


@dataclass
class ScoreReport:
    words: ErrorCounts
    chars: ErrorCounts
    utterances: list[UtteranceScore] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # reference ids with no hypothesis
    extra: list[str] = field(default_factory=list)  # hypothesis ids with no reference (ignored)
    normalized: bool = False  # texts were normalized with normalize_text before scoring

    @property
    def all_empty(self) -> bool:
        """No words on either side: there is nothing to score (the rates read 0)."""
        return self.words.ref_len == 0 and self.words.insertions == 0

    @property
    def wer(self) -> float:
        """Word error rate in percent."""
        return 100.0 * self.words.rate

    @property
    def cer(self) -> float:
        """Character error rate in percent (spaces count as characters)."""
        return 100.0 * self.chars.rate


# An alignment is a list of (op, ref token, hyp token); op is "=", "S", "D" or "I", and the
# missing side of a deletion/insertion is None.
Alignment = list[tuple[str, str | None, str | None]]

_OPS = {"equal": "=", "substitute": "S", "delete": "D", "insert": "I"}


def _words(text: str) -> list[str]:
    return text.split()


def _chars(text: str) -> list[str]:
    return list(" ".join(text.split()))


def _align(ref: Sequence[str], hyp: Sequence[str], process: Callable) -> Alignment:
    """Minimal-edit alignment of two token sequences with a jiwer `process_*` function.

    Empty sides are handled here: older jiwer versions refuse an empty reference, and the
    answer (all insertions / all deletions) needs no search anyway.
    """
    if not ref or not hyp:
        return [("D", r, None) for r in ref] + [("I", None, h) for h in hyp]
    # The tokens were normalized by _words/_chars, so jiwer's default transforms (strip,
    # collapse spaces, split) give back exactly these tokens.
    joiner = " " if process is jiwer.process_words else ""
    output = process(joiner.join(ref), joiner.join(hyp))
    assert list(output.references[0]) == list(ref) and list(output.hypotheses[0]) == list(hyp)
    alignment: Alignment = []
    for chunk in output.alignments[0]:
        op = _OPS[chunk.type]
        ref_part = ref[chunk.ref_start_idx:chunk.ref_end_idx]
        hyp_part = hyp[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if op == "D":
            alignment += [(op, r, None) for r in ref_part]
        elif op == "I":
            alignment += [(op, None, h) for h in hyp_part]
        else:  # equal and substitute chunks have the same length on both sides
            alignment += [(op, r, h) for r, h in zip(ref_part, hyp_part)]
    return alignment


def _count(alignment: Alignment) -> ErrorCounts:
    ops = [op for op, _, _ in alignment]
    counts = ErrorCounts(ops.count("S"), ops.count("D"), ops.count("I"), ops.count("="))
    counts.ref_len = counts.hits + counts.substitutions + counts.deletions
    return counts


def score_utterance(utt_id: str, ref: str, hyp: str) -> UtteranceScore:
    """Word and character counts for one reference/hypothesis pair."""
    return UtteranceScore(
        id=utt_id, ref=ref, hyp=hyp,
        words=_count(_align(_words(ref), _words(hyp), jiwer.process_words)),
        chars=_count(_align(_chars(ref), _chars(hyp), jiwer.process_characters)),
    )


def score_texts(refs: dict[str, str], hyps: dict[str, str], normalize: bool = False) -> ScoreReport:
    """Score hypotheses against references, matched by id; with `normalize`, both sides go
    through `normalize_text` first.

    A reference without a hypothesis is scored against an empty hypothesis (all deletions)
    and listed in `missing`: a recognizer that skips hard utterances must not look better
    for it. A hypothesis without a reference is listed in `extra` and otherwise ignored.
    Utterances appear in the report in reference order.
    """
    if normalize:
        refs = {utt_id: normalize_text(text) for utt_id, text in refs.items()}
        hyps = {utt_id: normalize_text(text) for utt_id, text in hyps.items()}
    utterances = [score_utterance(utt_id, ref, hyps.get(utt_id, "")) for utt_id, ref in refs.items()]
    words, chars = ErrorCounts(), ErrorCounts()
    for utt in utterances:
        words += utt.words
        chars += utt.chars
    return ScoreReport(
        words=words, chars=chars, utterances=utterances,
        missing=[utt_id for utt_id in refs if utt_id not in hyps],
        extra=[utt_id for utt_id in hyps if utt_id not in refs], normalized=normalize,
    )


def _no_records(path: str | os.PathLike) -> bool:
    path = Path(path)
    return path.is_file() and not any(line.strip() for line in read_jsonl_lines(path, "file"))


def score_files(ref_path: str | os.PathLike, hyp_path: str | os.PathLike, normalize: bool = True) -> ScoreReport:
    """`score_texts` on a reference file (manifest, JSONL with id/text or Kaldi `text`) and a
    hypotheses file (JSONL with id/text or Kaldi `text`), normalized alike unless `normalize`
    is False. Two empty files are an error that says so (`ManifestError`)."""
    if _no_records(ref_path) and _no_records(hyp_path):
        raise ManifestError(f"{ref_path} and {hyp_path} are both empty (no utterances): nothing to score")
    return score_texts(read_texts(ref_path, references=True), read_texts(hyp_path), normalize=normalize)


def format_alignment(alignment: Alignment) -> str:
    """sclite-style three lines: REF and HYP in aligned columns, `*` filling the gaps, and a
    line marking each column S, D or I (blank for a match)."""
    refs, hyps, marks = [], [], []
    for op, r, h in alignment:
        width = max(len(r or ""), len(h or ""), 1)
        refs.append((r if r is not None else "*" * width).ljust(width))
        hyps.append((h if h is not None else "*" * width).ljust(width))
        marks.append(("" if op == "=" else op).ljust(width))
    return "\n".join(
        (prefix + " ".join(cells)).rstrip()
        for prefix, cells in (("REF: ", refs), ("HYP: ", hyps), ("     ", marks))
    )


def _rate_line(name: str, counts: ErrorCounts, unit: str) -> str:
    rate = "n/a" if counts.ref_len == 0 else f"{100.0 * counts.rate:.2f}%"  # no reference: undefined
    return (f"{name}: {rate} ({counts.errors} errors: S={counts.substitutions} D={counts.deletions} "
            f"I={counts.insertions}; {counts.ref_len} ref {unit})")


def format_report(report: ScoreReport, worst: int = 10) -> str:
    """A human-readable summary: totals, then the `worst` utterances by word errors (most
    first; ties broken by word error rate, then id) with their word alignments."""
    lines = [f"utterances: {len(report.utterances)}"]
    if report.all_empty:
        lines.append("nothing to score: the references and the hypotheses are all empty (no words)")
    lines += [
        _rate_line("WER", report.words, "words"),
        _rate_line("CER", report.chars, "chars"),
        f"missing hypotheses: {len(report.missing)} (scored as deletions)",
        f"extra hypotheses: {len(report.extra)} (ignored)",
        "texts: " + ("normalized as asr prepare does (upper case, punctuation dropped, numbers spelled out)"
                     if report.normalized else "compared as given"),
    ]
    ranked = sorted(
        (u for u in report.utterances if u.words.errors > 0),
        key=lambda u: (-u.words.errors, -u.words.rate, u.id),
    )[:max(worst, 0)]
    if ranked:
        lines += ["", f"worst {len(ranked)} utterances by word errors:"]
    for utt in ranked:
        missing = " [missing hypothesis]" if utt.id in report.missing else ""
        plural = "" if utt.words.errors == 1 else "s"
        lines += ["", f"{utt.id}: {utt.words.errors} word error{plural}{missing}"]
        lines.append(format_alignment(_align(_words(utt.ref), _words(utt.hyp), jiwer.process_words)))
    return "\n".join(lines)


def _json_rate(counts: ErrorCounts) -> float | None:
    # JSON has no infinity; an undefined rate (insertions against no reference) becomes null
    return None if math.isinf(counts.rate) else round(100.0 * counts.rate, 4)


def _counts_dict(counts: ErrorCounts) -> dict:
    return {
        "substitutions": counts.substitutions, "deletions": counts.deletions,
        "insertions": counts.insertions, "hits": counts.hits, "ref_len": counts.ref_len,
        "errors": counts.errors,
    }


def report_to_dict(report: ScoreReport) -> dict:
    """A JSON-serializable summary for recipes and RESULTS tables: WER/CER in percent (null
    when undefined), the counts behind them, and the unmatched ids."""
    return {
        "wer": _json_rate(report.words),
        "cer": _json_rate(report.chars),
        "words": _counts_dict(report.words),
        "chars": _counts_dict(report.chars),
        "num_utterances": len(report.utterances),
        "missing": list(report.missing),
        "extra": list(report.extra),
        "normalized": report.normalized,
    }
