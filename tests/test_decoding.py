"""Decoding options end to end: beam search + LM from the CLI, N-best rescoring, tuning and
packages that carry their LM and decoding defaults."""

from __future__ import annotations

import json
import math

import torch

from asr.decode.beam import Hypothesis
from asr.decode.options import DecodingOptions
from asr.decode.rescore import rescore_nbest
from asr.package import LmPackage
from conftest import FSDD, needs_shared_data, run_cli


def test_rescoring_equals_scores_computed_by_hand(tiny_lm):
    lm = LmPackage.load(tiny_lm).build_model()
    nbest = [Hypothesis([5, 6, 1, 7], -1.0, -1.0, 0.0), Hypothesis([5, 6], -0.5, -0.5, 0.0),
             Hypothesis([], -3.0, -3.0, 0.0)]
    (rescored,) = rescore_nbest([nbest], lm, lm_weight=0.7, length_bonus=0.4, bonus_unit="word",
                                word_delimiter=1)
    expected = []
    for h, words in zip(nbest, [2, 1, 0]):  # token 1 is the word delimiter: "AB C", "AB", ""
        lm_score = float(lm.sentence_log_probs([h.tokens])[0])  # one sentence at a time
        expected.append((h.ctc_score + 0.7 * lm_score + 0.4 * words, h.tokens))
    expected.sort(key=lambda e: e[0], reverse=True)
    assert [h.tokens for h in rescored] == [tokens for _, tokens in expected]
    for h, (score, _) in zip(rescored, expected):
        assert math.isclose(h.score, score, abs_tol=1e-4)


def _manifest(tmp_path, files):
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps({"id": f.stem, "audio": str(f), "duration": 0.5,
                                        "text": ["ZERO", "ONE", "TWO"][int(f.name[0])]}) + "\n" for f in files))
    return path


@needs_shared_data
def test_beam_search_with_lm_from_the_cli(tiny_package, tiny_lm, tmp_path):
    manifest = _manifest(tmp_path, [FSDD / "1_george_0.wav", FSDD / "2_lucas_3.wav"])
    out = tmp_path / "hyp.jsonl"
    proc = run_cli("decode", "--model", str(tiny_package), "--manifest", str(manifest), "--out", str(out),
                   "--decoder", "beam", "--beam", "4", "--nbest", "3", "--lm", str(tiny_lm),
                   "--lm-weight", "0.5", "--word-bonus", "1.0")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2
    for r in records:
        assert 1 <= len(r["nbest"]) <= 3 and r["nbest"][0]["text"] == r["text"]
        scores = [h["score"] for h in r["nbest"]]
        assert scores == sorted(scores, reverse=True)
        top = r["nbest"][0]
        words = len(top["text"].split())
        assert math.isclose(top["score"], top["ctc_score"] + 0.5 * top["lm_score"] + words, abs_tol=1e-3)


@needs_shared_data
def test_inconsistent_decoding_options_are_one_line_errors(tiny_package, tmp_path):
    wav = FSDD / "0_george_0.wav"
    for args, message in ((["--decoder", "beam", "--lm-weight", "0.5"], "needs a language model"),
                          (["--nbest", "3", "--format", "json"], "need --decoder beam"),
                          (["--decoder", "beam", "--rescore"], "needs a language model")):
        proc = run_cli("transcribe", str(wav), "--model", str(tiny_package), *args)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert message in proc.stderr.strip().splitlines()[-1]


@needs_shared_data
def test_tune_writes_a_package_whose_defaults_transcribe_uses(tiny_package, tiny_lm, tmp_path):
    manifest = _manifest(tmp_path, [FSDD / "0_george_5.wav", FSDD / "1_george_5.wav"])
    package, summary = tmp_path / "tuned.pt", tmp_path / "tune.json"
    proc = run_cli("tune", "--model", str(tiny_package), "--manifest", str(manifest), "--lm", str(tiny_lm),
                   "--lm-weights", "0,0.5", "--word-bonuses", "0,1", "--beam", "3",
                   "--out", str(summary), "--package", str(package))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(summary.read_text())
    assert len(result["grid"]) == 4
    best = result["best"]
    assert best["decoder"] == "beam" and best["beam_size"] == 3
    assert min(p["wer"] for p in result["grid"]) == result["grid"][0]["wer"]
    stored = torch.load(package, weights_only=True)
    assert stored["decoding"]["lm_weight"] == best["lm_weight"] and stored["lm"] is not None
    proc = run_cli("transcribe", str(FSDD / "2_george_5.wav"), "--model", str(package), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "score" in json.loads(proc.stdout)  # the beam search ran: only it reports a score
    # --decoder greedy over those defaults drops the stored LM weight and bonus instead of failing
    proc = run_cli("transcribe", str(FSDD / "2_george_5.wav"), "--model", str(package), "--format", "json",
                   "--decoder", "greedy")
    assert proc.returncode == 0, proc.stderr
    assert "score" not in json.loads(proc.stdout)


def test_greedy_over_stored_beam_defaults_drops_only_what_was_not_given():
    stored = DecodingOptions.from_package({"decoder": "beam", "beam_size": 7, "lm_weight": 0.6, "word_bonus": 1.5,
                                           "nbest": 3})
    greedy = stored.updated({"decoder": "greedy"})
    assert (greedy.decoder, greedy.lm_weight, greedy.word_bonus, greedy.nbest) == ("greedy", 0.0, 0.0, 1)
    assert stored.updated({"decoder": "greedy", "lm_weight": 0.2}).lm_weight == 0.2  # given: kept (an error later)
    assert stored.updated({"beam_size": 4}).lm_weight == 0.6  # still beam: the stored values stay
