"""Training on a weighted mix of corpora (asr.data.mix): shares, coverage, exact resume, DDP
shards, one corpus as before, and bad `--train` input at the command line."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from asr.config import load_config
from asr.data.mix import WeightedCorpusSampler, draw_epoch, parse_corpus_arg
from asr.data.sampler import DurationBucketSampler
from asr.errors import AsrError
from asr.package import ModelPackage
from asr.train.am import AcousticTrainer
from asr.train.config import AcousticTrainConfig
from conftest import FSDD, needs_shared_data, run_cli
from test_cli_errors import assert_one_line_error
from test_training import TINY, write_manifest


def sizes(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(50, 2000) for _ in range(n)]


def mixed(lengths, weights, epoch_size=0, **kwargs) -> WeightedCorpusSampler:
    flat = [s for i, n in enumerate(lengths) for s in sizes(n, i)]
    return WeightedCorpusSampler(flat, lengths, weights, max_total=20000, max_batch_size=64, seed=4,
                                 epoch_size=epoch_size, **kwargs)


def corpus_of(sampler: WeightedCorpusSampler, index: int) -> int:
    return max(c for c, offset in enumerate(sampler.offsets) if offset <= index)


@pytest.mark.parametrize("lengths, weights, epoch_size", [
    ([5000, 300, 40], [1, 0.1, 3], 1000),  # 1 : 0.1 : 3 over corpora of very different sizes
    ([5000, 300, 40], [1, 0.1, 3], 0),  # an epoch of all 5340 utterances
    ([100, 10000], [2, 1], 700),
    ([2279, 2500, 10000, 170], [0.05, 1, 0.5, 0.3], 0),  # a keyword set kept from swamping the rest
])
def test_each_corpus_drawn_at_its_weight(lengths, weights, epoch_size):
    sampler = mixed(lengths, weights, epoch_size)
    counts, draws, epoch = Counter(), 0, 0
    while draws < 10_000:
        sampler.set_epoch(epoch)
        batches = sampler.epoch_batches()
        items = [i for b in batches for i in b]
        assert sorted(items) == sampler.epoch_items()  # the batches hold exactly the epoch's draw
        counts.update(corpus_of(sampler, i) for i in items)
        draws += len(items)
        epoch += 1
    for corpus, weight in enumerate(weights):
        share = weight / sum(weights)
        assert abs(counts[corpus] / draws - share) <= 0.02 * share, (corpus, counts, draws)


def test_small_corpus_used_up_before_repeats_and_large_one_covered():
    lengths, weights = [40, 5000], [3, 1]  # 40 utterances drawn 750 times an epoch, 5000 only 250 times
    total = [Counter() for _ in lengths]
    for epoch in range(25):
        for corpus, items in enumerate(draw_epoch(lengths, weights, 1000, seed=2, epoch=epoch)):
            total[corpus].update(items)
            # at every epoch end, no utterance has been drawn twice more than another
            used = [total[corpus][i] for i in range(lengths[corpus])]
            assert max(used) - min(used) <= 1, (corpus, epoch)
        if epoch == 19:  # 20 x 250 = 5000: the large corpus once through, nothing repeated
            assert set(total[1].values()) == {1} and len(total[1]) == 5000
    assert len(total[0]) == 40 and min(total[0].values()) == 25 * 750 // 40


def test_resume_mid_epoch_rebuilds_the_same_batches():
    lengths, weights = [700, 60, 3000], [1, 0.5, 2]
    straight = mixed(lengths, weights, epoch_size=900)
    for epoch in range(4):
        straight.set_epoch(epoch)
        full = list(straight)
        assert len(full) > 10
        for start in (0, 3, len(full) - 1):
            resumed = mixed(lengths, weights, epoch_size=900)  # a new process after a restart
            resumed.set_epoch(epoch, start)
            assert list(resumed) == full[start:]
    straight.set_epoch(0)
    first = list(straight)
    straight.set_epoch(1)
    assert list(straight) != first


def test_ddp_ranks_get_disjoint_equal_shards_of_the_epoch():
    lengths, weights = [300, 500, 200], [1, 2, 1]  # 200, 400 and 200 an epoch
    whole = mixed(lengths, weights, epoch_size=800)
    for epoch in range(3):
        whole.set_epoch(epoch)
        batches = whole.epoch_batches()
        usable = len(batches) - len(batches) % 3
        shards = []
        for rank in range(3):
            sampler = mixed(lengths, weights, epoch_size=800, num_replicas=3, rank=rank)
            sampler.set_epoch(epoch)
            shards.append(list(sampler))
        assert len({len(s) for s in shards}) == 1
        seen = [i for s in shards for b in s for i in b]
        assert Counter(seen) == Counter(i for b in batches[:usable] for i in b)  # each draw on one rank
        if epoch == 0:  # no corpus wraps around to its next cycle yet: no utterance twice
            assert len(seen) == len(set(seen))


@pytest.mark.parametrize("weight", [1.0, 2.5])
def test_one_corpus_gives_the_batches_of_the_plain_sampler(weight):
    d = sizes(800, 9)
    for ranks in (1, 2):
        for rank in range(ranks):
            plain = DurationBucketSampler(d, 10000, 32, seed=6, num_replicas=ranks, rank=rank)
            one = WeightedCorpusSampler(d, [800], [weight], 10000, 32, seed=6, num_replicas=ranks, rank=rank)
            for epoch, start in ((0, 0), (1, 0), (5, 7)):
                plain.set_epoch(epoch, start)
                one.set_epoch(epoch, start)
                assert list(one) == list(plain)


def test_parse_corpus_arg(tmp_path):
    assert parse_corpus_arg("data/a.jsonl") == ("data/a.jsonl", 1.0)
    assert parse_corpus_arg("data/a.jsonl:0.25") == ("data/a.jsonl", 0.25)
    assert parse_corpus_arg("x:y/a.jsonl:3") == ("x:y/a.jsonl", 3.0)
    assert parse_corpus_arg("x:y/a.jsonl") == ("x:y/a.jsonl", 1.0)  # a colon in a path
    for bad in ("a.jsonl:0", "a.jsonl:-1", "a.jsonl:nan", "a.jsonl:inf"):
        with pytest.raises(AsrError, match="not a positive number"):
            parse_corpus_arg(bad)
    (tmp_path / "a.jsonl").write_text("")
    with pytest.raises(AsrError, match="weight 'three' is not a positive number"):
        parse_corpus_arg(f"{tmp_path / 'a.jsonl'}:three")


@needs_shared_data
def test_weights_from_the_config_and_recorded_in_the_package(tmp_path):
    small = write_manifest(tmp_path / "small.jsonl", sorted(FSDD.glob("*_jackson_10.wav")))  # 10
    large = write_manifest(tmp_path / "large.jsonl", sorted(FSDD.glob("*_lucas_1[0-3].wav")))  # 40
    config = load_config(AcousticTrainConfig, None, TINY + [
        f"data.train=[{{manifest: {small}, weight: 3}}, {{manifest: {large}, weight: 1}}]",
        "data.epoch_utterances=8", "data.max_batch_size=4", "run.epochs=1", "run.checkpoint_every=0",
        "run.device=cpu"])
    trainer = AcousticTrainer(config, None, None, str(tmp_path / "exp"))
    trainer.sampler.set_epoch(0)
    assert trainer.sampler.epoch_mix()[0][0] == 6 and trainer.sampler.epoch_mix()[1][0] == 2
    assert "8 utterances per epoch" in trainer.describe() and "75.0%" in trainer.describe()
    package = ModelPackage.load(trainer.train())
    assert package.config["data"]["train"] == [{"manifest": str(small), "weight": 3.0},
                                               {"manifest": str(large), "weight": 1.0}]
    assert [(c["manifest"], c["utterances"]) for c in package.info["corpora"]] == [(str(small), 10), (str(large), 40)]
    assert "epoch 1 draws 6 utterances" in (tmp_path / "exp" / "train.log").read_text()


@pytest.mark.parametrize("spec, fragments", [
    ("{good}:-2", ["good.jsonl", "weight -2.0 is not a positive number"]),
    ("{good}:0", ["good.jsonl", "not a positive number"]),
    ("{good}:lots", ["weight 'lots' is not a positive number"]),
    ("{missing}:2", ["missing.jsonl", "not found"]),
    ("{empty}:2", ["empty.jsonl", "empty"]),
])
def test_bad_train_arguments_give_one_line(tmp_path, spec, fragments):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "a", "audio": str(FSDD / "1_george_0.wav"), "duration": 0.4,
                                "text": "ONE"}) + "\n")
    (tmp_path / "empty.jsonl").write_text("")
    spec = spec.format(good=good, missing=tmp_path / "missing.jsonl", empty=tmp_path / "empty.jsonl")
    proc = run_cli("train", "--train", f"{good}:1", "--train", spec, "--exp", str(tmp_path / "exp"))
    assert proc.returncode == 1
    assert_one_line_error(proc, *fragments)
