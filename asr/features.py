"""Features: 80-dim log-mel frames (torch.stft, CPU or GPU), global CMVN and SpecAugment.

Shapes: waveforms [B, N] with lengths [B] in samples -> features [B, T, n_mels] with
lengths [B] in frames. Frames are taken without centering (Kaldi's snip-edges): frame t
covers samples [t * hop, t * hop + win), so a frame depends only on the samples around it
and the same frames come out whether audio arrives at once or in pieces.
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn
from asr import SAMPLE_RATE
from asr.atomic import atomic_torch_save
from asr.errors import AsrError


def _hz_to_mel(freq: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f_sp, min_log_hz, min_log_mel = 200.0 / 3, 1000.0, 15.0
    logstep = math.log(6.4) / 27.0
    linear = freq / f_sp
    log = min_log_mel + torch.log(torch.clamp(freq, min=min_log_hz) / min_log_hz) / logstep
    return torch.where(freq >= min_log_hz, log, linear)


def _mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    f_sp, min_log_hz, min_log_mel = 200.0 / 3, 1000.0, 15.0
    logstep = math.log(6.4) / 27.0
    linear = mel * f_sp
    log = min_log_hz * torch.exp(logstep * (mel - min_log_mel))
    return torch.where(mel >= min_log_mel, log, linear)


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Triangular mel filters with Slaney's area normalization, shape [n_mels, n_fft // 2 + 1]."""
    f_max = sample_rate / 2 if f_max is None else f_max
    fft_freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    mel_edges = torch.linspace(
        _hz_to_mel(torch.tensor(f_min, dtype=torch.float64)).item(),
        _hz_to_mel(torch.tensor(f_max, dtype=torch.float64)).item(),
        n_mels + 2, dtype=torch.float64,
    )
    hz_edges = _mel_to_hz(mel_edges)
    widths = hz_edges.diff()  # [n_mels + 1]
    ramps = hz_edges[:, None] - fft_freqs[None, :]  # [n_mels + 2, n_freqs]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    filters *= (2.0 / (hz_edges[2:] - hz_edges[:-2]))[:, None]
    return filters.float()


def frame_count(num_samples: torch.Tensor | int, win_length: int = 400, hop_length: int = 160):
    """Frames produced from `num_samples` samples; inputs shorter than a window give one frame
    (they are zero-padded to a full window)."""
    if isinstance(num_samples, torch.Tensor):
        return torch.clamp(num_samples - win_length, min=0) // hop_length + 1
    return max(num_samples - win_length, 0) // hop_length + 1


# Level normalization: the mel powers of an utterance are scaled so that its loud frames (the
# LEVEL_QUANTILE quantile of the frames' mean mel power) sit at LEVEL_TARGET. The scale follows
# the input gain exactly, so the features (and the text) do not change when a recording is made
# 30 dB quieter or 10 dB louder; without it a quiet speaker's speech sinks towards the log floor
# (`log_offset`) and a model trained at one level fails at another. 0.1 is about where FSDD's and
# LibriSpeech's loud frames are, so the floor stays ~50 dB under speech as before.
LEVEL_QUANTILE = 0.95
LEVEL_TARGET = 0.1
MIN_LEVEL = 1e-10  # digital silence (and anything under -100 dB) is not amplified past this


def level_gains(frame_power: torch.Tensor, lengths: torch.Tensor, first: torch.Tensor | None = None) -> torch.Tensor:
    """Gains [B] that bring each utterance's loud frames to LEVEL_TARGET, from frame_power [B, T]
    (mean mel power of each frame), lengths [B] in frames (frames past a length ignored) and, if
    given, first [B] (frames before it ignored)."""
    index = torch.arange(frame_power.shape[1], device=frame_power.device)[None, :]
    valid = index < lengths[:, None]
    if first is not None:
        valid &= index >= first[:, None]
    level = torch.nanquantile(frame_power.masked_fill(~valid, float("nan")), LEVEL_QUANTILE, dim=1)
    return LEVEL_TARGET / torch.clamp(torch.nan_to_num(level, nan=MIN_LEVEL), min=MIN_LEVEL)


LEVEL_WINDOW = 3000  # frames (30 s): a stream's level comes from its last LEVEL_WINDOW frames


def causal_level_gains(frame_power: torch.Tensor, lengths: torch.Tensor, block: int) -> torch.Tensor:
    """Gains [B, T] as streaming computes them: the frames of block k ([k*block, (k+1)*block)) get
    the `level_gains` of the frames heard by the end of that block (the last LEVEL_WINDOW of them).
    frame_power [B, T] (mean mel power of each frame), lengths [B] in frames. Training a streaming
    model with these lets it hear what `asr stream` will give it at the start of a stream."""
    gains = torch.empty_like(frame_power)
    for start in range(0, frame_power.shape[1], block):
        end = min(start + block, frame_power.shape[1])
        heard = torch.clamp(lengths, max=end)  # frames of each utterance heard by then
        gains[:, start:end] = level_gains(frame_power[:, :end], heard, heard - LEVEL_WINDOW)[:, None]
    return gains


class LogMel(nn.Module):
    """Log mel power spectrogram: 25 ms Hann window, 10 ms hop, 80 bins by default.

    forward(waveforms [B, N] float, lengths [B] samples) -> (features [B, T, n_mels], lengths [B]).
    Frames past an utterance's length are zero. Runs in float32 even under autocast. With
    `normalize_level`, each utterance's mel powers are first scaled by its `level_gains` (the
    features no longer depend on the recording level; streaming computes the same gain from the
    frames heard so far: asr.decode.stream.IncrementalFeatures).
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        n_mels: int = 80,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        f_min: float = 0.0,
        f_max: float | None = None,
        log_offset: float = 1e-6,
        normalize_level: bool = False,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.win_length = int(round(sample_rate * win_ms / 1000))
        self.hop_length = int(round(sample_rate * hop_ms / 1000))
        self.n_fft = self.win_length
        self.log_offset = log_offset
        self.normalize_level = normalize_level
        self.register_buffer("window", torch.hann_window(self.win_length, periodic=True), persistent=False)
        self.register_buffer(
            "filters", mel_filterbank(n_mels, self.n_fft, sample_rate, f_min, f_max), persistent=False
        )

    def num_frames(self, num_samples: torch.Tensor | int):
        return frame_count(num_samples, self.win_length, self.hop_length)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None, causal_block: int | None = None):
        """causal_block: with level normalization, gains as a stream computes them in blocks of
        this many frames (`causal_level_gains`) instead of each whole utterance's."""
        mel, frame_lengths = self.mel_power(waveforms, lengths)
        gains = None
        if self.normalize_level:
            power = mel.mean(dim=2)
            gains = (causal_level_gains(power, frame_lengths, causal_block) if causal_block
                     else level_gains(power, frame_lengths))
        return self.log(mel, frame_lengths, gains), frame_lengths

    def mel_power(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None):
        """(mel powers [B, T, n_mels] float32, lengths [B] in frames); waveforms [B, N] or [N]."""
        if waveforms.dim() == 1:
            waveforms = waveforms.unsqueeze(0)
        batch, num_samples = waveforms.shape
        if lengths is None:
            lengths = torch.full((batch,), num_samples, dtype=torch.long, device=waveforms.device)
        with torch.autocast(device_type=waveforms.device.type, enabled=False):
            waveforms = waveforms.float()
            if num_samples < self.win_length:
                waveforms = nn.functional.pad(waveforms, (0, self.win_length - num_samples))
            spec = torch.stft(
                waveforms, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                window=self.window, center=False, return_complex=True,
            )  # [B, n_freqs, T]
            power = spec.real.square() + spec.imag.square()
            mel = torch.matmul(self.filters, power).transpose(1, 2)  # [B, T, n_mels]
        return mel, self.num_frames(lengths.to(mel.device))

    def log(self, mel: torch.Tensor, frame_lengths: torch.Tensor, gains: torch.Tensor | None = None) -> torch.Tensor:
        """Log features [B, T, n_mels] of mel powers [B, T, n_mels] scaled by gains [B] (if any);
        zero past each length."""
        if gains is not None:  # [B] per utterance, or [B, T] per frame
            mel = mel * (gains[:, None, None] if gains.dim() == 1 else gains[:, :, None])
        feats = torch.log(mel + self.log_offset)
        mask = torch.arange(feats.shape[1], device=feats.device)[None, :] < frame_lengths[:, None]
        return feats * mask[:, :, None]


class GlobalCMVN(nn.Module):
    """Per-dimension mean and variance normalization with statistics of the training data.

    forward(features [B, T, D], lengths [B]) -> normalized features; frames past each
    length are set to 0 so that batching never changes an utterance's result.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.float().clone())
        self.register_buffer("inv_std", 1.0 / torch.clamp(std.float(), min=1e-5))

    @classmethod
    def identity(cls, dim: int = 80) -> "GlobalCMVN":
        return cls(torch.zeros(dim), torch.ones(dim))

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(feats.shape[1], device=feats.device)[None, :] < lengths[:, None]
        return (feats - self.mean) * self.inv_std * mask[:, :, None]

    def stats(self) -> dict:
        return {"mean": self.mean.cpu(), "std": (1.0 / self.inv_std).cpu()}


MIN_CMVN_STD = 1.0  # nats; log-mel features of speech vary by 2-4 nats per dimension


class CmvnAccumulator:
    """Running per-dimension sums (float64) for computing CMVN statistics."""

    def __init__(self, dim: int = 80):
        self.count = 0
        self.total = torch.zeros(dim, dtype=torch.float64)
        self.total_sq = torch.zeros(dim, dtype=torch.float64)

    def update(self, feats: torch.Tensor) -> None:
        """Add frames [T, D]."""
        feats = feats.detach().to("cpu", torch.float64)
        self.count += feats.shape[0]
        self.total += feats.sum(0)
        self.total_sq += feats.square().sum(0)

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean [D], std [D]) of everything added."""
        if self.count == 0:
            raise ValueError("no frames to compute CMVN statistics from")
        mean = self.total / self.count
        var = torch.clamp(self.total_sq / self.count - mean.square(), min=1e-10)
        # A feature that hardly varies in training (the empty 4-8 kHz band of 8 kHz recordings
        # sits at the log floor) must not be divided by its near-zero spread: at test time the
        # faintest noise there (16-bit rounding of a quiet recording) would become huge inputs.
        return mean.float(), torch.clamp(var.sqrt(), min=MIN_CMVN_STD).float()


def save_cmvn_stats(mean: torch.Tensor, std: torch.Tensor, path: str | os.PathLike,
                    features: dict | None = None) -> None:
    """Write CMVN statistics ({"mean": [D], "std": [D], "features": LogMel arguments}) atomically."""
    atomic_torch_save({"mean": mean.cpu().float(), "std": std.cpu().float(), "features": dict(features or {})}, path)


def load_cmvn_stats(path: str | os.PathLike) -> dict:
    """Read statistics written by `save_cmvn_stats` (`asr cmvn`); "features" is {} in files
    written before they recorded it (made without level normalization)."""
    try:
        stats = torch.load(path, map_location="cpu", weights_only=True)
        if not (isinstance(stats, dict) and stats["mean"].shape == stats["std"].shape):
            raise ValueError("missing mean/std")
    except FileNotFoundError:
        raise AsrError(f"{path}: CMVN statistics file not found") from None
    except Exception as err:
        raise AsrError(f"{path}: not a CMVN statistics file ({err})") from None
    stats.setdefault("features", {})
    return stats


def check_cmvn_features(stats: dict, logmel_args: dict, source: str) -> None:
    """AsrError unless statistics from `source` were computed with these feature settings
    (the level normalization changes every feature value; the mel count their size)."""
    made_with = {"normalize_level": False, **stats["features"]}
    for key in ("normalize_level", "n_mels", "win_ms", "hop_ms"):
        if key in made_with and key in logmel_args and made_with[key] != logmel_args[key]:
            raise AsrError(f"{source}: CMVN statistics were computed with features.{key}={made_with[key]}, "
                           f"the training config has {logmel_args[key]}; rerun asr cmvn with the same --config")
    if stats["mean"].shape[0] != logmel_args.get("n_mels", stats["mean"].shape[0]):
        raise AsrError(f"{source}: CMVN statistics have {stats['mean'].shape[0]} dimensions, "
                       f"the features {logmel_args['n_mels']}")


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al., 2019) on normalized features; training only.

    forward(features [B, T, D], lengths [B]) -> masked features (masked values set to 0,
    the mean after CMVN). Time-mask widths are capped by a fraction of each utterance's length
    so that short utterances are not wiped out. Identity in eval mode.
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 27, time_masks: int = 2,
                 time_width: int = 40, time_width_ratio: float = 0.05):
        super().__init__()
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width, self.time_width_ratio = time_masks, time_width, time_width_ratio

    @staticmethod
    def _band_mask(size: int, extent: torch.Tensor, max_width: torch.Tensor, count: int) -> torch.Tensor:
        """[B, size] bool: union of `count` random bands per row, each at most max_width [B] wide,
        inside [0, extent [B])."""
        device = extent.device
        batch = extent.shape[0]
        widths = (torch.rand(batch, count, device=device) * (max_width[:, None] + 1)).floor()
        starts = (torch.rand(batch, count, device=device) * (extent[:, None] - widths + 1).clamp(min=1)).floor()
        pos = torch.arange(size, device=device)[None, None, :]
        band = (pos >= starts[:, :, None]) & (pos < (starts + widths)[:, :, None])
        return band.any(dim=1)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return feats
        batch, time, dim = feats.shape
        keep = torch.ones(batch, time, dim, dtype=torch.bool, device=feats.device)
        if self.freq_masks > 0 and self.freq_width > 0:
            dims = torch.full((batch,), dim, device=feats.device, dtype=torch.float)
            freq = self._band_mask(dim, dims, torch.full_like(dims, self.freq_width), self.freq_masks)
            keep &= ~freq[:, None, :]
        if self.time_masks > 0 and self.time_width > 0:
            lens = lengths.to(feats.device).float()
            max_width = torch.clamp(lens * self.time_width_ratio, max=self.time_width).floor()
            timemask = self._band_mask(time, lens, max_width, self.time_masks)
            keep &= ~timemask[:, :, None]
        return feats * keep
