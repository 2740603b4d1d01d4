"""The voices of the synthetic corpus: a fixed catalogue, its train/dev/test split, and one
call per text-to-speech engine (espeak-ng, flite, festival, and Kokoro's neural voices when
its files are given: see `kokoro`).

Every voice has a fixed LibriSpeech-style speaker id and a fixed split, so that a corpus made
on any machine, with any subset of the engines installed, keeps dev and test voices out of
train. The held-out voices cover several engines and accents: dev and test measure how well
a model does on voices (and, for espeak-ng, on accents) it never heard.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.data.synth import kokoro
from asr.errors import AsrError

FAMILIES = ("espeak", "flite", "festival", "kokoro")
SPLITS = ("train", "dev", "test")
INSTALL_HINT = {"espeak": "apt-get install -y espeak-ng", "flite": "apt-get install -y flite",
                "festival": "apt-get install -y festival festvox-kallpc16k festvox-kdlpc16k",
                "kokoro": kokoro.INSTALL_HINT}

# espeak-ng: English accents x voice variants (formant, pitch and synthesis-method presets).
# Append only: a voice's speaker id is its position, and ids must not change between versions.
ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
                  "en-gb-x-gbclan", "en-gb-x-gbcwmd"]
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "klatt4", "grandma", "grandpa", "linda", "steph",
                   "paul", "rob", "michel", "quincy", "anika", "belinda", "travis"]
# Held out: a whole accent each (every variant of it), plus a few variants in every accent.
# A voice whose accent and variant point to different splits goes with its accent.
ESPEAK_HELD_OUT_ACCENTS = {"en-gb-x-gbcwmd": "dev", "en-029": "test"}
ESPEAK_HELD_OUT_VARIANTS = {"m6": "dev", "f4": "dev", "klatt3": "dev", "linda": "dev",
                            "m7": "test", "f5": "test", "klatt4": "test", "steph": "test"}
# flite's English voices: split, and the voice's own mean F0 in Hz (measured with librosa's
# pYIN on a sentence) which the random pitch factor scales.
FLITE_VOICES = {"awb": ("train", 130.0), "kal16": ("train", 95.0), "rms": ("dev", 102.0),
                "slt": ("test", 167.0)}
# festival's diphone voices. kal_diphone is the talker of flite's kal16: same split, so that
# no held-out voice is a train voice by another engine.
FESTIVAL_VOICES = {"kal_diphone": "train", "ked_diphone": "test"}
FESTIVAL_F0_MEAN = 105.0  # target_f0_mean of both voices' intonation models (festvox/*.scm)


@dataclass(frozen=True)
class Voice:
    """One synthetic talker."""

    family: str   # espeak | flite | festival | kokoro
    name: str     # the engine's voice: "en-gb-scotland+f3", "slt", "kal_diphone", "af_heart",
                  # or a Kokoro blend "af_heart*0.600+am_adam"
    speaker: str  # LibriSpeech-style numeric speaker id, fixed per voice
    split: str    # train | dev | test

    @property
    def label(self) -> str:
        return f"{self.family}:{self.name}"


def _espeak_split(accent: str, variant: str) -> str:
    return ESPEAK_HELD_OUT_ACCENTS.get(accent) or ESPEAK_HELD_OUT_VARIANTS.get(variant) or "train"


@functools.lru_cache(maxsize=1)
def voice_catalogue() -> tuple[Voice, ...]:
    """Every voice the tool knows, installed or not, with its fixed speaker id and split."""
    voices = [Voice("espeak", f"{accent}+{variant}", str(1000 + 100 * a + v), _espeak_split(accent, variant))
              for a, accent in enumerate(ESPEAK_ACCENTS) for v, variant in enumerate(ESPEAK_VARIANTS)]
    voices += [Voice("flite", name, str(2001 + i), split) for i, (name, (split, _)) in enumerate(FLITE_VOICES.items())]
    voices += [Voice("festival", name, str(3001 + i), split) for i, (name, split) in enumerate(FESTIVAL_VOICES.items())]
    voices += [Voice("kokoro", name, kokoro.speaker_id(name), kokoro.voice_split(name)) for name in kokoro.VOICES]
    return tuple(voices)


def kokoro_blend(first: Voice, second: Voice, weight: float) -> Voice:
    """The Kokoro talker `weight` x first + (1 - weight) x second, in their (common) split."""
    name, speaker = kokoro.blend_name(first.name, second.name, weight)
    return Voice("kokoro", name, speaker, first.split)


def find_voice(label: str) -> Voice:
    """The catalogue voice named `family:name`, or a bare espeak-ng name ("en-us+f3")."""
    if ":" not in label:
        label = f"espeak:{label}"
    for voice in voice_catalogue():
        if voice.label == label:
            return voice
    raise AsrError(f"unknown voice {label!r} (voices are family:name, e.g. espeak:en-us+f3, flite:slt, "
                   "festival:kal_diphone; see SPEAKERS.TXT of a corpus for the list)")


def _run(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


@functools.lru_cache(maxsize=1)
def installed_voices() -> frozenset[str]:
    """Labels of the catalogue voices whose engine and voice data are installed here."""
    found = set()
    if shutil.which("espeak-ng"):
        found |= {v.label for v in voice_catalogue() if v.family == "espeak"}
    if shutil.which("flite"):
        listed = _run(["flite", "-lv"]).stdout.split()  # "Voices available: kal awb ..."
        found |= {f"flite:{name}" for name in FLITE_VOICES if name in listed}
    if shutil.which("festival") and shutil.which("text2wave"):
        listed = _run(["festival", "-b", "(print (voice.list))"]).stdout.strip("()\n ").split()
        found |= {f"festival:{name}" for name in FESTIVAL_VOICES if name in listed}
    found |= {f"kokoro:{name}" for name in kokoro.available_voices() - kokoro.UNINTELLIGIBLE}
    return frozenset(found)


def split_voices(split: str, families: list[str] | None = None) -> list[Voice]:
    """The installed voices of one split (optionally only of some engine families)."""
    families = list(FAMILIES) if families is None else families
    installed = installed_voices()
    return [v for v in voice_catalogue() if v.split == split and v.family in families and v.label in installed]


class SynthesisError(AsrError):
    """A text-to-speech engine failed on one utterance."""


def speak(voice: Voice, text: str, rate: float = 1.0, pitch: float = 1.0) -> tuple[np.ndarray, int]:
    """Synthesize `text` with `voice`: (samples [N] float32 mono, sample rate of the engine).

    `rate` scales the speaking rate (1.2: 20 % faster), `pitch` the mean F0 (not Kokoro's:
    its voices have no pitch control). The text is spoken as lower case: all-capital words
    are read as acronyms by some engines.
    """
    if voice.family == "kokoro":
        try:
            return kokoro.speak(voice.name, text, rate)
        except (ValueError, RuntimeError) as err:  # kokoro-onnx / onnxruntime failures
            raise SynthesisError(f"{voice.label} failed: {str(err)[:200]}") from None
    with tempfile.TemporaryDirectory(prefix="asr-synth-") as tmp:
        txt, wav = os.path.join(tmp, "text.txt"), os.path.join(tmp, "speech.wav")
        Path(txt).write_text(text.lower() + "\n", encoding="utf-8")
        if voice.family == "espeak":
            # -s words per minute (default 175), -p pitch 0-99 (default 50)
            command = ["espeak-ng", "-v", voice.name, "-s", str(round(175 * rate)),
                       "-p", str(min(99, max(0, round(50 + 133 * (pitch - 1))))), "-f", txt, "-w", wav]
        elif voice.family == "flite":
            f0 = FLITE_VOICES[voice.name][1] * pitch
            command = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1 / rate:.4f}",
                       "--setf", f"int_f0_target_mean={f0:.1f}", "-f", txt, "-o", wav]
        elif voice.family == "festival":
            f0 = FESTIVAL_F0_MEAN * pitch
            intonation = (f"(set! int_lr_params '((target_f0_mean {f0:.1f}) (target_f0_std {f0 / 7:.1f}) "
                          "(model_f0_mean 170) (model_f0_std 34)))")
            command = ["text2wave", "-eval", f"(voice_{voice.name})",
                       "-eval", f"(Parameter.set 'Duration_Stretch {1 / rate:.4f})", "-eval", intonation,
                       txt, "-o", wav]
        else:
            raise ValueError(f"unknown voice family {voice.family!r}")
        proc = _run(command)
        # text2wave exits 0 even when its Scheme code fails; an empty or missing file tells
        if proc.returncode != 0 or not os.path.exists(wav) or os.path.getsize(wav) <= 44:
            detail = (proc.stderr.strip() or f"exit status {proc.returncode}").splitlines()[-1][:200]
            raise SynthesisError(f"{voice.label} failed: {detail}")
        samples, sample_rate = sf.read(wav, dtype="float32", always_2d=True)
    if len(samples) == 0:
        raise SynthesisError(f"{voice.label} produced no audio")
    return samples.mean(axis=1), sample_rate
