"""The acoustic-model training config. Every field here is a YAML key in conf/am/*.yaml and
can be overridden on the command line as `section.key=value`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ModelSection:
    stack: int = 3  # frames stacked (and subsampling factor): 3 -> 30 ms per output frame
    num_layers: int = 5  # bidirectional LSTM layers
    hidden_size: int = 320  # LSTM units per direction
    dropout: float = 0.2  # between LSTM layers and before the output layer
    # a model package (EXP/model.pt, asr/pretrained/model.pt) whose acoustic weights start the run
    # instead of random ones: fine-tuning. Its layers and token set must match these; a resumed
    # run continues from its checkpoint instead.
    init: str = ""


@dataclass
class FeaturesSection:
    n_mels: int = 80
    win_ms: float = 25.0
    hop_ms: float = 10.0
    # scale each utterance's mel powers to one level before the log (asr.features.level_gains), so
    # that the model hears speech the same at any recording level; false: the features of models
    # trained before it existed
    normalize_level: bool = True
    cmvn_max_utterances: int = 2000  # CMVN statistics from at most this many training utterances

    def logmel_args(self) -> dict:
        """The LogMel keyword arguments these settings stand for (kept in model packages)."""
        return {"n_mels": self.n_mels, "win_ms": self.win_ms, "hop_ms": self.hop_ms,
                "normalize_level": self.normalize_level}


@dataclass
class SpecAugmentSection:
    enabled: bool = True
    freq_masks: int = 2
    freq_width: int = 27  # max width of a frequency mask, in mel bins
    time_masks: int = 2
    time_width: int = 40  # max width of a time mask, in 10 ms frames
    time_width_ratio: float = 0.05  # ... and at most this fraction of the utterance


@dataclass
class OptimSection:
    lr: float = 1e-3  # peak learning rate (AdamW)
    betas: tuple[float, float] = (0.9, 0.98)
    weight_decay: float = 1e-2
    warmup_steps: int = 500  # linear warm-up from 0 to `lr`
    schedule: Literal["cosine", "constant", "inverse_sqrt"] = "cosine"  # decay after warm-up
    final_lr_ratio: float = 0.02  # cosine decays to lr * final_lr_ratio at the last step
    grad_clip: float = 5.0  # max global gradient norm


@dataclass
class CorpusSection:
    """One training corpus of a weighted mix (asr/data/mix.py)."""

    manifest: str = ""  # training manifest (JSONL)
    weight: float = 1.0  # share of each epoch's utterances, relative to the other corpora's weights


@dataclass
class DataSection:
    # Training corpora, e.g. [{manifest: a.jsonl, weight: 3}, {manifest: b.jsonl, weight: 0.1}]: each
    # epoch draws weight/sum(weights) of its utterances from a corpus, walking through each corpus
    # in seeded order across epochs (a small one is used up before any utterance repeats).
    # `asr train --train MANIFEST[:WEIGHT]` (repeatable) replaces this list; the saved config
    # (EXP/config.yaml, model packages) always records the corpora trained on.
    train: list[CorpusSection] = field(default_factory=list)
    epoch_utterances: int = 0  # utterances drawn per epoch from all corpora (0: their total)
    max_frames: int = 40000  # padded 10 ms frames per batch (per GPU with DDP)
    max_batch_size: int = 256
    max_duration: float = 30.0  # longer training utterances are skipped (seconds)
    num_workers: int = 2  # DataLoader worker processes for audio loading
    speed_perturb: list[float] = field(default_factory=list)  # e.g. [0.9, 1.0, 1.1]: one drawn per utterance and epoch
    # recordings at other levels: with probability level_prob an utterance (per epoch) is scaled by
    # a gain drawn uniformly from level_gain_db and rounded to 16 bits, clipped at full scale, as a
    # quieter or louder recording would be (with features.normalize_level the gain itself cancels,
    # what is left is the rounding noise and clipping that come with it)
    level_prob: float = 0.0
    level_gain_db: list[float] = field(default_factory=lambda: [-40.0, 10.0])  # [lowest, highest]


@dataclass
class StreamingSection:
    """Training one model for both full-utterance and streaming (chunked) recognition."""

    chunk_prob: float = 0.0  # share of training batches run in chunked mode (0: full utterances only)
    chunk_sizes: list[int] = field(default_factory=lambda: [8, 16, 32])  # chunk sizes drawn per batch (output frames)
    right_contexts: list[int] = field(default_factory=lambda: [4])  # right contexts drawn per batch (output frames)
    eval_chunk: int = 8  # chunked-mode dev WER (dev_wer_streaming) uses this chunk ...
    eval_right_context: int = 4  # ... and this right context, when chunk_prob > 0


@dataclass
class RunSection:
    epochs: int = 30
    seed: int = 1
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: Literal["bf16", "fp16", "none"] = "bf16"  # autocast dtype on CUDA (ignored on CPU)
    # bf16 autocast on CPU too: the LSTM runs in bfloat16 (1.35x faster forward + backward on an AMD
    # EPYC with avx512_bf16, BENCHMARKS.md), weights, optimizer and CTC stay float32
    cpu_amp: bool = False
    threads: int = 0  # torch CPU threads; 0 = one per core (waiting passively: asr/threads.py)
    log_every: int = 50  # steps between loss lines in the log / tensorboard
    checkpoint_every: int = 1000  # steps between mid-epoch checkpoints (0: epoch ends only)
    average_last: int = 5  # epochs averaged for model_avg.pt
    final_model: Literal["average", "best", "last"] = "average"  # which one becomes model.pt
    max_nonfinite: int = 20  # consecutive non-finite losses/gradients before the run stops


@dataclass
class AcousticTrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    features: FeaturesSection = field(default_factory=FeaturesSection)
    specaugment: SpecAugmentSection = field(default_factory=SpecAugmentSection)
    optim: OptimSection = field(default_factory=OptimSection)
    data: DataSection = field(default_factory=DataSection)
    streaming: StreamingSection = field(default_factory=StreamingSection)
    run: RunSection = field(default_factory=RunSection)


# ---------------------------------------------------------------------------- language model
@dataclass
class LmModelSection:
    embed_dim: int = 256  # token embedding size
    hidden_size: int = 1024  # LSTM units
    num_layers: int = 2  # LSTM layers
    dropout: float = 0.2  # on embeddings, between layers and before the output layer


@dataclass
class LmDataSection:
    max_tokens: int = 40000  # padded tokens per batch (per GPU with DDP)
    max_batch_size: int = 512
    max_length: int = 600  # longer sentences (in tokens) are skipped
    max_sentences: int = 0  # use only the first N training sentences (0: all)
    num_workers: int = 0  # DataLoader workers (the corpus is in memory; 0 is usually fastest)


@dataclass
class LmTrainConfig:
    model: LmModelSection = field(default_factory=LmModelSection)
    data: LmDataSection = field(default_factory=LmDataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    run: RunSection = field(default_factory=RunSection)
