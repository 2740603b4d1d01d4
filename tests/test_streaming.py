"""Streaming: the chunked (latency-controlled) BiLSTM, incremental features, StreamingRecognizer.

References: the full-utterance model (a chunk longer than the utterance), a step-by-step
LSTMCell implementation of the chunked model written here, LogMel + CMVN over the whole wave.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import FSDD, LIBRISPEECH, needs_shared_data, run_cli
from torch import nn

from asr.audio import audio_info, load_audio
from asr.decode.stream import IncrementalFeatures, StreamingRecognizer
from asr.features import LEVEL_WINDOW, LogMel
from asr.model.acoustic import AcousticModel, AcousticModelConfig
from asr.package import ModelPackage
from asr.pretrained import default_model_path
from asr.transcribe import Recognizer


def random_model(layers: int = 2, hidden: int = 12, input_dim: int = 6, stack: int = 2) -> AcousticModel:
    torch.manual_seed(3)
    config = AcousticModelConfig(input_dim=input_dim, stack=stack, num_layers=layers, hidden_size=hidden,
                                 dropout=0.0, vocab_size=5)
    return AcousticModel(config).eval()


def reference_chunked(model: AcousticModel, x: torch.Tensor, chunk: int, right: int) -> torch.Tensor:
    """The chunked model by definition, one frame at a time with LSTMCells: stacked frames
    x [T, D] -> log_probs [T, V]."""
    lstm, hidden = model.lstm, model.config.hidden_size

    def cell(layer: int, suffix: str) -> nn.LSTMCell:
        c = nn.LSTMCell(getattr(lstm, f"weight_ih_l{layer}{suffix}").shape[1], hidden)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(c, name).data.copy_(getattr(lstm, f"{name}_l{layer}{suffix}"))
        return c

    layers = model.config.num_layers
    forward_cells = [cell(layer, "") for layer in range(layers)]
    backward_cells = [cell(layer, "_reverse") for layer in range(layers)]
    carried = [(torch.zeros(1, hidden), torch.zeros(1, hidden)) for _ in range(layers)]
    outputs = []
    for start in range(0, len(x), chunk):
        end = min(start + chunk, len(x))
        window_end = min(end + right, len(x)) if end - start == chunk else end
        inputs = [x[t][None] for t in range(start, window_end)]
        for layer in range(layers):
            state, forward = carried[layer], []
            for t, frame in enumerate(inputs):
                state = forward_cells[layer](frame, state)
                forward.append(state[0])
                if t == end - start - 1:
                    carried[layer] = state  # only the chunk's end state goes on to the next chunk
            state, backward = (torch.zeros(1, hidden), torch.zeros(1, hidden)), [None] * len(inputs)
            for t in reversed(range(len(inputs))):
                state = backward_cells[layer](inputs[t], state)
                backward[t] = state[0]
            inputs = [torch.cat([f, b], dim=1) for f, b in zip(forward, backward)]
        outputs += [model.output(h).log_softmax(-1)[0] for h in inputs[: end - start]]
    return torch.stack(outputs)


def padded_features(lengths: list[int], dim: int = 6) -> torch.Tensor:
    """Random features [B, T, dim], zero past each length (as CMVN leaves them)."""
    feats = torch.randn(len(lengths), max(lengths), dim)
    return feats * (torch.arange(max(lengths)) < torch.tensor(lengths)[:, None])[:, :, None]


def stacked(model: AcousticModel, feats: torch.Tensor, length: int) -> torch.Tensor:
    from asr.model.acoustic import stack_frames

    x, _ = stack_frames(feats[None, :length], torch.tensor([length]), model.config.stack)
    return x[0]


@torch.no_grad()
@pytest.mark.parametrize("chunk, right", [(3, 0), (3, 2), (4, 7), (1, 1)])
def test_chunked_model_equals_step_by_step_reference(chunk, right):
    model = random_model()
    lengths = torch.tensor([29, 17, 3])
    feats = padded_features(lengths.tolist())
    log_probs, out_lengths = model(feats, lengths, chunk=chunk, right_context=right)
    for b, length in enumerate(lengths.tolist()):
        expected = reference_chunked(model, stacked(model, feats[b], length), chunk, right)
        torch.testing.assert_close(log_probs[b, : out_lengths[b]], expected, atol=1e-5, rtol=1e-5)


def streamed_log_probs(model: AcousticModel, x: torch.Tensor, chunk: int, right: int) -> torch.Tensor:
    """One utterance's stacked frames x [T, D] through forward_chunk, chunk after chunk (what
    streaming runs; differentiable) -> log_probs [T, V]."""
    state, pieces = model.initial_state(1), []
    for start in range(0, len(x), chunk):
        chunk_length = min(chunk, len(x) - start)
        window_length = min(chunk + right, len(x) - start) if chunk_length == chunk else chunk_length
        log_probs, state = model.forward_chunk(x[None, start: start + window_length], torch.tensor([chunk_length]),
                                               torch.tensor([window_length]), state)
        pieces.append(log_probs[0, :chunk_length])
    return torch.cat(pieces)


@pytest.mark.parametrize("chunk, right", [(3, 2), (4, 0)])
def test_chunked_training_gradients_equal_streaming_step_gradients(chunk, right):
    """Chunked training computes all windows of a batch at once (index_put / index_copy between
    layers); its gradients must equal those of forward_chunk run chunk by chunk per utterance."""
    model = random_model(layers=3)
    lengths = torch.tensor([23, 14, 2])
    feats = padded_features(lengths.tolist()).requires_grad_()
    log_probs, out_lengths = model(feats, lengths, chunk=chunk, right_context=right)
    weights = torch.randn_like(log_probs)
    params = [feats, model.lstm.weight_ih_l0, model.lstm.weight_hh_l1, model.lstm.bias_ih_l2_reverse,
              model.output.weight]
    batched = torch.autograd.grad((log_probs * weights).sum(), params)
    total = 0
    for b, length in enumerate(lengths.tolist()):
        x, n = stacked(model, feats[b], length), int(out_lengths[b])
        total = total + (streamed_log_probs(model, x, chunk, right) * weights[b, :n]).sum()
    for ours, reference in zip(batched, torch.autograd.grad(total, params)):
        torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-4)


@torch.no_grad()
def test_chunk_longer_than_utterance_is_the_full_model_and_right_context_limits_lookahead():
    model = random_model(layers=3)
    lengths = torch.tensor([40, 25, 9])
    feats = padded_features(lengths.tolist())
    full, out_lengths = model(feats, lengths)
    chunked, _ = model(feats, lengths, chunk=1000, right_context=0)
    for b, length in enumerate(out_lengths.tolist()):
        torch.testing.assert_close(chunked[b, :length], full[b, :length], atol=1e-5, rtol=1e-5)
    # Outputs of chunk k (3 output frames) may only depend on stacked frames before 3(k+1) + 2.
    chunk, right, changed_from = 3, 2, 12  # stacked frames 12.. differ (feature frames 24..)
    before, _ = model(feats, lengths, chunk=chunk, right_context=right)
    altered = feats.clone()
    altered[0, 2 * changed_from:] += 1.0
    after, _ = model(altered, lengths, chunk=chunk, right_context=right)
    unaffected = (changed_from - right) // chunk * chunk  # chunks ending + right context before 12
    torch.testing.assert_close(after[0, :unaffected], before[0, :unaffected], atol=0, rtol=0)
    assert not torch.allclose(after[0, unaffected:changed_from], before[0, unaffected:changed_from])


@torch.no_grad()
def test_incremental_features_equal_features_of_the_whole_wave(tiny_package):
    recognizer = Recognizer.from_file(str(tiny_package), device="cpu")
    rng = np.random.default_rng(0)
    for num_samples in (250, 400, 1234, 16000 + 77):
        wave = rng.normal(0, 0.1, num_samples).astype(np.float32)
        expected, lengths = recognizer.logmel(torch.from_numpy(wave)[None], torch.tensor([num_samples]))
        expected = recognizer.cmvn(expected, lengths)[0]
        features = IncrementalFeatures(recognizer.logmel, recognizer.cmvn, block_frames=9)
        pieces, position = [], 0
        while position < num_samples:
            step = int(rng.integers(1, 700))
            pieces.append(features.push(wave[position: position + step]))
            position += step
            assert features.samples.size <= 700 + 9 * 160 + 400  # old samples are dropped
        pieces.append(features.flush())
        torch.testing.assert_close(torch.cat(pieces), expected, atol=1e-5, rtol=1e-5)


def stream(recognizer: Recognizer, wave: np.ndarray, pieces: list[int], **options) -> list:
    streaming = StreamingRecognizer(recognizer, **options)
    segments, position = [], 0
    for size in pieces:
        segments += streaming.accept_waveform(wave[position: position + size])
        position += size
    return segments + streaming.final()


@needs_shared_data
def test_random_pieces_give_exactly_the_output_of_fixed_pieces(tiny_package):
    recognizer = Recognizer.from_file(str(tiny_package), device="cpu", options={"decoder": "beam", "beam_size": 4})
    wave = load_audio(FSDD / "3_jackson_7.wav").numpy()
    wave = np.concatenate([wave, np.zeros(8000, np.float32), wave])
    rng = np.random.default_rng(1)
    fixed = [1600] * (len(wave) // 1600 + 1)
    options = {"chunk_ms": 150, "right_context_ms": 60, "endpoint_ms": 150}
    expected = stream(recognizer, wave, fixed, **options)
    assert expected  # the random model does emit tokens
    for _ in range(3):
        sizes = rng.integers(1, 3000, size=len(wave)).tolist()
        assert stream(recognizer, wave, sizes, **options) == expected


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
@needs_shared_data
def test_chunk_longer_than_the_utterance_gives_the_full_utterance_result(tiny_package, tiny_lm, decoder):
    options = {"decoder": decoder} if decoder == "greedy" else {"decoder": decoder, "lm_weight": 0.5,
                                                                  "word_bonus": 0.5}
    recognizer = Recognizer.from_file(str(tiny_package), device="cpu", options=options,
                                      lm_path=str(tiny_lm) if decoder == "beam" else None)
    wave = load_audio(FSDD / "8_lucas_2.wav")
    full = recognizer.decode_waveforms([wave])[0]
    assert full
    segments = stream(recognizer, wave.numpy(), [3000] * (len(wave) // 3000 + 1), chunk_ms=60_000,
                      right_context_ms=0, endpoint_ms=0)
    assert [s.text for s in segments] == [full]


@needs_shared_data
def test_stream_cli_prints_segments_and_reports_bad_input(tiny_package, tmp_path):
    done = run_cli("stream", str(FSDD / "8_lucas_2.wav"), "--model", str(tiny_package), "--as-fast-as-possible",
                   "--format", "json", "--endpoint-ms", "0")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 1 and set(records[0]) == {"start", "end", "text"}
    duration = audio_info(FSDD / "8_lucas_2.wav")[0]
    assert 0 <= records[0]["start"] < records[0]["end"] <= duration + 0.03
    missing = run_cli("stream", str(tmp_path / "nothing.wav"), "--model", str(tiny_package))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "no such file" in missing.stderr
    no_source = run_cli("stream", "--model", str(tiny_package))
    assert no_source.returncode == 1 and "--mic" in no_source.stderr
    # --mic without the sounddevice extra (not installed for the tests) or a device:
    mic = run_cli("stream", "--mic", "--model", str(tiny_package), timeout=60)
    assert mic.returncode == 1 and mic.stderr.count("\n") == 1 and "--mic" in mic.stderr, mic.stderr


@needs_shared_data
def test_endpointing_splits_three_utterances_into_three_segments(tmp_path):
    """A tiny model overfit (in full and chunked mode) on three real digits and on pairs of
    them separated by silence; streaming a new arrangement of the three with pauses gives three
    segments with the right words and times."""
    from asr.config import load_config
    from asr.package import ModelPackage
    from asr.train.am import AcousticTrainer
    from asr.train.config import AcousticTrainConfig

    words = {"1_george_10": "ONE", "4_jackson_12": "FOUR", "9_nicolas_20": "NINE"}
    waves = {name: load_audio(FSDD / f"{name}.wav").numpy() for name in words}
    pause = np.zeros(16000, np.float32)
    records = []

    def add(names: list[str], copies: int) -> None:
        path = tmp_path / f"{'+'.join(names)}.wav"
        wave = np.concatenate([part for name in names for part in (waves[name], pause)][:-1])
        sf.write(path, wave, 16000)
        text = " ".join(words[name] for name in names)
        records.extend({"id": f"{path.stem}-{i}", "audio": str(path), "duration": len(wave) / 16000,
                        "text": text} for i in range(copies))

    for name in words:
        add([name], 12)
    for pair in (["9_nicolas_20", "1_george_10"], ["4_jackson_12", "1_george_10"], ["9_nicolas_20", "4_jackson_12"]):
        add(pair, 6)
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    config = load_config(AcousticTrainConfig, None, [
        "model.num_layers=2", "model.hidden_size=64", "model.dropout=0.0", "data.num_workers=0", "run.threads=1",
        "specaugment.enabled=false", "optim.lr=3e-3", "optim.warmup_steps=20", "optim.schedule=constant",
        "optim.weight_decay=0.0", "data.max_batch_size=6", "run.epochs=60", "run.checkpoint_every=0",
        "run.average_last=1", "run.final_model=last", "streaming.chunk_prob=0.5", "streaming.chunk_sizes=[4,8]",
        "streaming.right_contexts=[2]"])
    model_path = AcousticTrainer(config, str(manifest), None, str(tmp_path / "exp")).train()
    recognizer = Recognizer(ModelPackage.load(model_path), device="cpu")

    order = ["1_george_10", "4_jackson_12", "9_nicolas_20"]  # never seen in this order
    test_wave = np.concatenate([waves[order[0]], pause, waves[order[1]], pause, waves[order[2]]])
    segments = stream(recognizer, test_wave, [1600] * (len(test_wave) // 1600 + 1), chunk_ms=240,
                      right_context_ms=120, endpoint_ms=450)
    assert [s.text for s in segments] == [words[name] for name in order]
    begin = 0.0
    for segment, name in zip(segments, order):  # each segment lies within its word's audio
        end = begin + len(waves[name]) / 16000
        assert begin - 0.1 <= segment.start < segment.end <= end + 0.1
        begin = end + 1.0


@needs_shared_data
def test_transcribe_reads_long_files_in_segments_in_the_order_given(tiny_package, tmp_path):
    short = FSDD / "8_lucas_2.wav"
    long_path = tmp_path / "long file.flac"
    wave = load_audio(FSDD / "3_jackson_7.wav").numpy()
    long_wave = np.concatenate([wave, np.zeros(16000, np.float32)] * 4)
    sf.write(long_path, long_wave, 16000)
    done = run_cli("transcribe", str(short), str(long_path), str(short), "--model", str(tiny_package),
                   "--segment-over", "3", "--endpoint-ms", "0")
    assert done.returncode == 0, done.stderr
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    assert [line[0] for line in lines] == [str(short), str(long_path), str(short)]
    assert [len(line) for line in lines] == [2, 2, 2]  # PATH<TAB>TEXT whatever the length
    recognizer = Recognizer.from_file(str(tiny_package), device="cpu")
    expected = stream(recognizer, long_wave, [160_000] * 2, endpoint_ms=0)
    assert lines[1][1] == expected[0].text
    as_json = run_cli("transcribe", str(long_path), "--model", str(tiny_package), "--segment-over", "3",
                      "--endpoint-ms", "0", "--format", "json")
    segments = json.loads(as_json.stdout)["segments"]  # one segment: endpointing is off
    assert len(segments) == 1 and segments[0]["text"] == expected[0].text
    assert 0 <= segments[0]["start"] < segments[0]["end"] <= len(long_wave) / 16000 + 0.03


@needs_shared_data
def test_integer_pcm_is_scaled_and_other_types_refused(tiny_package):
    """int16 (what a microphone or a socket gives) must not be read as float: same segments
    as the float samples it stands for; int32 and uint8 likewise; complex is an error."""
    recognizer = Recognizer.from_file(str(tiny_package), device="cpu")
    pcm = (np.clip(load_audio(FSDD / "3_jackson_7.wav").numpy(), -1, 32767 / 32768) * 32768).astype(np.int16)
    options = {"chunk_ms": 150, "right_context_ms": 60, "endpoint_ms": 150}
    expected = stream(recognizer, pcm.astype(np.float32) / 32768, [1600] * 20, **options)
    assert expected
    assert stream(recognizer, pcm, [1600] * 20, **options) == expected
    assert stream(recognizer, pcm.astype(np.int32) * 65536, [1600] * 20, **options) == expected
    as_uint8 = (pcm // 256 + 128).astype(np.uint8)
    assert stream(recognizer, as_uint8, [1600] * 20, **options) == \
        stream(recognizer, (as_uint8.astype(np.float32) - 128) / 128, [1600] * 20, **options)
    with pytest.raises(TypeError, match="complex"):
        StreamingRecognizer(recognizer).accept_waveform(np.zeros(160, np.complex64))


# ---------------------------------------------------------------------- level normalization
def causal_level_features(logmel, cmvn, wave: np.ndarray, block_frames: int) -> torch.Tensor:
    """Brute force: block k of the stream scaled by the 0.95 quantile (numpy's) of the mean mel
    power of all frames up to the block's end (at most LEVEL_WINDOW of them)."""
    mel, lengths = logmel.mel_power(torch.from_numpy(wave)[None])
    mel = mel[0].double()
    power = mel.mean(dim=1).numpy()
    blocks = []
    for start in range(0, mel.shape[0], block_frames):
        end = min(start + block_frames, mel.shape[0])
        level = np.quantile(power[max(0, end - LEVEL_WINDOW): end], 0.95)
        blocks.append(torch.log(mel[start:end] * (0.1 / level) + logmel.log_offset))
    feats = torch.cat(blocks).float()[None]
    return cmvn(feats, lengths)[0]


@needs_shared_data
@torch.no_grad()
def test_streamed_level_is_that_of_the_frames_heard_so_far_and_ignores_the_gain(tiny_package):
    recognizer = Recognizer.from_file(str(tiny_package), device="cpu")
    logmel = LogMel(normalize_level=True)
    wave = load_audio(FSDD / "3_jackson_7.wav").numpy()
    hiss = np.random.default_rng(0).normal(0, 3e-3, 3000).astype(np.float32)
    wave = np.concatenate([hiss, wave, wave * 0.1])  # a quiet start, then the level changes
    expected = causal_level_features(logmel, recognizer.cmvn, wave, block_frames=9)
    rng = np.random.default_rng(2)
    for gain_db in (0, -30, 10):
        features = IncrementalFeatures(logmel, recognizer.cmvn, block_frames=9)
        scaled, pieces, position = wave * 10 ** (gain_db / 20), [], 0
        while position < len(wave):
            step = int(rng.integers(1, 3000))
            pieces.append(features.push(scaled[position: position + step]))
            position += step
        pieces.append(features.flush())
        torch.testing.assert_close(torch.cat(pieces), expected, atol=2e-4, rtol=1e-4)


@needs_shared_data
def test_a_level_normalized_model_gives_the_same_text_at_any_level(tmp_path):
    """-30 to +10 dB: the same words from whole-utterance and streamed decoding (the shipped
    model's weights under level-normalized features: it was not trained with them, so the words
    are not the spoken ones, but they must not change with the level)."""
    package = ModelPackage.load(default_model_path())
    package.features = {**package.features, "normalize_level": True}
    package.save(tmp_path / "model.pt")
    recognizer = Recognizer.from_file(str(tmp_path / "model.pt"), device="cpu")
    wave = load_audio(next(LIBRISPEECH.rglob("*.flac"))).numpy()
    texts = {}
    for gain_db in (-30, -20, -10, 0, 10):
        scaled = wave * np.float32(10 ** (gain_db / 20))
        streamed = stream(recognizer, scaled, [1600] * (len(wave) // 1600 + 1))
        texts[gain_db] = (recognizer.decode_waveforms([torch.from_numpy(scaled)])[0],
                          " ".join(segment.text for segment in streamed))
    assert len(texts[0][0].split()) >= 5 and len(texts[0][1].split()) >= 5
    assert all(pair == texts[0] for pair in texts.values()), texts


@needs_shared_data
@torch.no_grad()
def test_training_with_causal_gains_sees_the_features_a_stream_computes(tiny_package):
    """LogMel(..., causal_block) over a padded batch (what chunked training batches get) equals
    IncrementalFeatures fed each utterance (what asr stream computes)."""
    recognizer = Recognizer.from_file(str(tiny_package), device="cpu")
    logmel = LogMel(normalize_level=True)
    hiss = np.random.default_rng(1).normal(0, 3e-3, 4000).astype(np.float32)
    waves = [np.concatenate([hiss, load_audio(FSDD / "3_jackson_7.wav").numpy()]),
             load_audio(FSDD / "8_george_12.wav").numpy() * 0.05]
    lengths = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(2, int(lengths.max()))
    for i, w in enumerate(waves):
        batch[i, : len(w)] = torch.from_numpy(w)
    feats, frame_lengths = logmel(batch, lengths, causal_block=12)
    feats = recognizer.cmvn(feats, frame_lengths)
    for i, w in enumerate(waves):
        features = IncrementalFeatures(logmel, recognizer.cmvn, block_frames=12)
        streamed = torch.cat([features.push(w), features.flush()])
        torch.testing.assert_close(feats[i, : frame_lengths[i]], streamed, atol=1e-4, rtol=1e-4)
    whole = recognizer.cmvn(*logmel(batch, lengths))
    assert not torch.allclose(whole[0, :30], feats[0, :30], atol=1e-2)  # the hiss is scaled differently
