"""Acoustic augmentation of synthetic speech: speed, room reverberation, additive noise at a
given SNR and a telephone channel. Pure functions over 1-D float arrays; randomness comes
only from the `numpy.random.Generator` passed in, so a seed fixes the result.
"""

from __future__ import annotations

import numpy as np
import soxr


def resample_speed(samples: np.ndarray, rate: int, out_rate: int, speed: float = 1.0) -> np.ndarray:
    """Resample [N] from `rate` to `out_rate` and play it `speed` times faster.

    Like Kaldi's and torchaudio's speed perturbation, tempo and pitch change together: the
    signal is resampled to `out_rate / speed` and then read as `out_rate`, in one soxr call.
    Returns [round(N * out_rate / (rate * speed))] float32.
    """
    target = out_rate / speed
    if target == rate:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples, rate, target, quality="HQ").astype(np.float32, copy=False)


def room_impulse_response(rng: np.random.Generator, rt60: float, sample_rate: int) -> np.ndarray:
    """A synthetic room impulse response [L]: a direct path and a diffuse tail of Gaussian
    noise whose energy decays by 60 dB in `rt60` seconds (the usual exponential model of a
    diffuse field). Direct and tail have equal energy (a direct-to-reverberant ratio of 0 dB),
    so the reverberated speech keeps about its level."""
    length = max(2, int(rt60 * sample_rate))
    t = np.arange(length) / sample_rate
    # energy ~ exp(-2 k t) falls by 60 dB (a factor 1e6) at t = rt60: k = 3 ln(10) / rt60
    tail = rng.standard_normal(length) * np.exp(-3 * np.log(10) * t / rt60)
    tail[0] = 0.0
    tail /= np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    return (tail / np.sqrt(2.0)).astype(np.float32)


def convolve(samples: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Linear convolution by FFT, cut to the input's length [N] (the reverberation tail
    after the last sample is dropped, so the utterance keeps its duration)."""
    n = len(samples) + len(kernel) - 1
    size = 1 << (n - 1).bit_length()
    out = np.fft.irfft(np.fft.rfft(samples, size) * np.fft.rfft(kernel, size), size)
    return out[: len(samples)].astype(np.float32)


def white_noise(rng: np.random.Generator, length: int) -> np.ndarray:
    return rng.standard_normal(length).astype(np.float32)


def pink_noise(rng: np.random.Generator, length: int) -> np.ndarray:
    """Noise [length] with a 1/f power spectrum (-3 dB per octave), by shaping white noise's
    spectrum; the DC bin is zeroed."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = np.inf
    return np.fft.irfft(spectrum / np.sqrt(freqs), length).astype(np.float32)


def babble(rng: np.random.Generator, talkers: list[np.ndarray], length: int) -> np.ndarray:
    """Babble [length]: other utterances at equal level, each looped to `length` from a random
    start, summed."""
    out = np.zeros(length, dtype=np.float64)
    for speech in talkers:
        speech = speech / (np.sqrt(np.mean(speech.astype(np.float64) ** 2)) + 1e-12)
        start = int(rng.integers(len(speech)))
        out += np.resize(np.roll(speech, -start), length)
    return out.astype(np.float32)


def power(samples: np.ndarray) -> float:
    return float(np.mean(samples.astype(np.float64) ** 2))


def add_noise(samples: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """samples + g * noise, with g chosen so that 10 log10(P(samples) / P(g * noise)) is
    `snr_db` (powers are means over the whole utterance). Shapes [N] and [N]."""
    gain = np.sqrt(power(samples) / (power(noise) * 10 ** (snr_db / 10) + 1e-20))
    return (samples + gain * noise).astype(np.float32)


def band_pass(samples: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Zero the spectrum outside [low_hz, high_hz] (an FFT brick-wall filter over the whole
    signal: exact band limits, which is what a telephone-band simulation needs)."""
    spectrum = np.fft.rfft(samples)
    freqs = np.fft.rfftfreq(len(samples), 1 / sample_rate)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0
    return np.fft.irfft(spectrum, len(samples)).astype(np.float32)


def telephone_band(samples: np.ndarray, sample_rate: int, low_hz: float = 300.0,
                   high_hz: float = 3400.0) -> np.ndarray:
    """Narrow-band telephone channel: down to 8 kHz, band-pass `low_hz`-`high_hz`, back up
    to `sample_rate`. Returns [N'] at `sample_rate` (N' = N up to rounding)."""
    narrow = soxr.resample(samples, sample_rate, 8000, quality="HQ")
    narrow = band_pass(narrow, 8000, low_hz, high_hz)
    # The FFT filter leaves the ends at arbitrary values; read as a finite signal, those jumps
    # have energy up to 4 kHz that the up-sampler's transition band lets through above 4 kHz.
    # A 10 ms raised-cosine fade at each end removes them.
    fade = min(80, len(narrow) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    narrow[:fade] *= ramp
    narrow[len(narrow) - fade:] *= ramp[::-1]
    return soxr.resample(narrow, 8000, sample_rate, quality="HQ").astype(np.float32)
