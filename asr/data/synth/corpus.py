"""A synthetic speech corpus from text: many voices, augmented, in LibriSpeech's layout.

    OUT/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac   16 kHz 16-bit FLAC
    OUT/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    OUT/<split>.jsonl          manifest; each record also has "synth": how it was made
    OUT/<split>/settings.json  the settings a rerun must match
    OUT/SPEAKERS.TXT           speaker id -> split, engine and voice

One call makes one split (train, dev or test) from the installed voices of that split (see
`voices`), so dev and test voices are never heard in train. Everything about an utterance
(sentence, voice, speaking rate and pitch, speed, room, noise, channel, level) is drawn from a
random generator seeded by (seed, split, index): the corpus is the same for a seed however
many processes make it, and utterance i is the same whatever the corpus size, so a rerun
with more hours adds utterances and a rerun after a crash makes only the missing files.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import gzip
import json
import logging
import os
import random
import subprocess
from array import array
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from asr import SAMPLE_RATE
from asr.atomic import atomic_open
from asr.data.manifest import Utterance
from asr.data.synth import augment
from asr.data.synth import kokoro
from asr.data.synth.voices import (
    FAMILIES,
    INSTALL_HINT,
    SPLITS,
    SynthesisError,
    Voice,
    find_voice,
    installed_voices,
    kokoro_blend,
    speak,
    split_voices,
    voice_catalogue,
)
from asr.errors import AsrError
from asr.progress_bar import progress_bar
from asr.text import normalize_text

log = logging.getLogger("asr.data")

# Characters of normalized text (plus one for the gap) per second of speech at rate 1 and
# speed 1: about 18 for espeak-ng and flite and 16.5 for festival on lm_train.txt.gz sentences.
# It turns --hours into a number of sentences; the hours actually made are reported at the end.
CHARS_PER_SECOND = 18.0
BABBLE_POOL = 256  # babble talkers say sentences from the first N of the chosen order
NOISE_KINDS = ("white", "pink", "babble")


@dataclass(frozen=True)
class SynthOptions:
    """How voices are varied and speech is augmented; ranges are (low, high), drawn uniformly."""

    rate: tuple[float, float] = (0.85, 1.15)      # speaking-rate factor of the engine
    pitch: tuple[float, float] = (0.85, 1.15)     # mean-F0 factor of the engine
    # share of the utterances per engine, renormalized over the engines a split has
    family_weights: dict[str, float] = field(default_factory=lambda: {"espeak": 0.6, "flite": 0.25,
                                                                      "festival": 0.15})
    speed: tuple[float, float] = (0.9, 1.1)       # speed perturbation (tempo and pitch)
    reverb_prob: float = 0.3                      # share of utterances in a synthetic room
    rt60: tuple[float, float] = (0.2, 0.8)        # its reverberation time, seconds
    noise_prob: float = 0.5                       # share with additive noise (white, pink, babble)
    snr_db: tuple[float, float] = (5.0, 30.0)     # its signal-to-noise ratio
    babble_talkers: tuple[int, int] = (3, 6)      # other utterances summed into babble
    telephone_prob: float = 0.1                   # share through an 8 kHz 300-3400 Hz channel
    peak: tuple[float, float] = (0.3, 0.95)       # final peak level (random gain)

    @classmethod
    def clean(cls) -> SynthOptions:
        """Voice variation only: no speed change, room, noise or telephone; peak 0.9."""
        return cls(speed=(1.0, 1.0), reverb_prob=0.0, noise_prob=0.0, telephone_prob=0.0, peak=(0.9, 0.9))

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def check(self) -> None:
        """`AsrError` for a range that is reversed or out of bounds, or a share outside 0-1."""
        for name in ("rate", "pitch", "speed", "rt60", "peak"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise AsrError(f"{name.replace('_', '-')} range {low},{high}: expected 0 < LOW <= HIGH")
        if self.snr_db[0] > self.snr_db[1]:
            raise AsrError(f"snr range {self.snr_db[0]},{self.snr_db[1]}: expected LOW <= HIGH")
        for name in ("reverb_prob", "noise_prob", "telephone_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise AsrError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected a share from 0 to 1")


@dataclass(frozen=True)
class SynthUtterance:
    """Everything needed to make one utterance; `render` turns it into audio."""

    id: str
    path: str                 # relative to the corpus folder
    text: str                 # normalized transcript, also what is spoken
    voice: Voice
    rate: float
    pitch: float
    speed: float
    rt60: float               # 0: no reverberation
    noise: str                # "", white, pink or babble
    snr_db: float
    telephone: bool
    peak: float
    seed: int                 # of the noise, room and babble generator
    babble: tuple[tuple[str, Voice, float, float], ...] = ()  # (text, voice, rate, pitch) per talker

    def info(self) -> dict:
        """What the manifest records of how the utterance was made."""
        pitch = None if self.voice.family == "kokoro" else round(self.pitch, 4)  # Kokoro has no pitch control
        return {"voice": self.voice.label, "rate": round(self.rate, 4), "pitch": pitch,
                "speed": round(self.speed, 4), "rt60": round(self.rt60, 4) if self.rt60 else None,
                "noise": self.noise or None, "snr_db": round(self.snr_db, 3) if self.noise else None,
                "telephone": self.telephone, "peak": round(self.peak, 4)}


# ---------------------------------------------------------------------------- sentences
def _open_text(path: Path):
    if not path.is_file():
        raise AsrError(f"{path}: text file not found")
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _lines(path: Path, skip: int, stop: int | None) -> Iterator[tuple[int, str]]:
    """(line number, line) for lines skip .. stop - 1; `AsrError` if unreadable."""
    try:
        with _open_text(path) as f:
            for number, line in enumerate(f):
                if stop is not None and number >= stop:
                    break
                if number >= skip:
                    yield number, line
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise AsrError(f"{path}: cannot read text ({err})") from None


def choose_sentences(path: Path, split: str, seed: int, num: int | None, hours: float | None,
                     min_words: int, max_words: int, skip: int = 0, stop: int | None = None
                     ) -> tuple[list[str], list[str]]:
    """(sentences to speak, babble pool): the lines of `min_words`..`max_words` words, in an
    order drawn from (seed, split), cut after `num` sentences or an estimated `hours` of speech.

    The order does not depend on the size asked for, so a larger corpus extends a smaller one.
    """
    numbers, lengths = array("q"), array("q")
    for number, line in _lines(path, skip, stop):
        if min_words <= len(line.split()) <= max_words:
            numbers.append(number)
            lengths.append(len(line.strip()))
    if not numbers:
        raise AsrError(f"{path}: no line of {min_words}-{max_words} words"
                       + (f" in lines {skip}-{stop}" if skip or stop is not None else ""))
    order = np.random.default_rng([seed, SPLITS.index(split)]).permutation(len(numbers))
    if num is None:
        seconds = np.cumsum((np.asarray(lengths)[order] + 1) / CHARS_PER_SECOND)
        num = int(np.searchsorted(seconds, hours * 3600)) + 1
    if num > len(order):
        log.warning("synth: %s has only %d sentences of %d-%d words; making %d utterances, not %d",
                    path, len(order), min_words, max_words, len(order), num)
    chosen = np.asarray(numbers)[order[:num]]
    pool = np.asarray(numbers)[order[:BABBLE_POOL]]
    wanted = set(chosen.tolist()) | set(pool.tolist())
    text = {number: normalize_text(line) for number, line in _lines(path, skip, stop) if number in wanted}
    return [text[n] for n in chosen.tolist()], [text[n] for n in pool.tolist() if text[n]]


# ---------------------------------------------------------------------------- planning
def utterance_id(voice: Voice, index: int) -> tuple[str, str]:
    """(id, chapter) of utterance `index`: chapters are blocks of 1,000 indices."""
    chapter = str(100 + index // 1000)
    return f"{voice.speaker}-{chapter}-{index % 1000:04d}", chapter


def plan_utterance(index: int, text: str, split: str, voices: list[Voice], pool: list[str], seed: int,
                   options: SynthOptions) -> SynthUtterance:
    """Draw how utterance `index` is made, from a generator seeded by (seed, split, index)."""
    rng = random.Random(f"{seed}/{split}/{index}")
    families = [f for f in FAMILIES if any(v.family == f for v in voices)]
    # a family without a weight (Kokoro, which came later: the defaults stay as they were) weighs 1
    family = rng.choices(families, [options.family_weights.get(f, 1.0) for f in families])[0]
    voice = rng.choice([v for v in voices if v.family == family])
    rate, pitch, speed = (rng.uniform(*options.rate), rng.uniform(*options.pitch), rng.uniform(*options.speed))
    reverb, noisy, telephone = (rng.random() < p for p in (options.reverb_prob, options.noise_prob,
                                                            options.telephone_prob))
    rt60 = rng.uniform(*options.rt60) if reverb else 0.0
    noise = rng.choice(NOISE_KINDS) if noisy else ""
    if noise == "babble" and not [t for t in pool if t != text]:
        noise = "pink"  # no other sentence to babble
    snr_db = rng.uniform(*options.snr_db) if noise else 0.0
    babble_voices = _babble_voices(voices, split)
    if noise == "babble" and not babble_voices:
        noise = "pink"
    babble = ()
    if noise == "babble":
        others = [t for t in pool if t != text]
        babble = tuple((rng.choice(others), rng.choice(babble_voices), rng.uniform(*options.rate),
                        rng.uniform(*options.pitch)) for _ in range(rng.randint(*options.babble_talkers)))
    peak, seed = rng.uniform(*options.peak), rng.getrandbits(63)
    partners = [v for v in voices if v.family == "kokoro" and v != voice]
    if voice.family == "kokoro" and partners and rng.random() < kokoro.BLEND_PROB:
        voice = kokoro_blend(voice, rng.choice(partners), rng.uniform(*kokoro.BLEND_WEIGHT))
    utt_id, chapter = utterance_id(voice, index)
    return SynthUtterance(
        id=utt_id, path=f"{split}/{voice.speaker}/{chapter}/{utt_id}.flac", text=text, voice=voice,
        rate=rate, pitch=pitch, speed=speed, rt60=rt60, noise=noise, snr_db=snr_db, telephone=telephone,
        peak=peak, seed=seed, babble=babble)


def _babble_voices(voices: list[Voice], split: str) -> list[Voice]:
    """Talkers for babble noise. Kokoro runs about 50x slower than the other engines, so a
    Kokoro utterance babbles with the split's espeak-ng, flite or festival voices (none
    installed: pink noise instead); corpora without Kokoro use their own voices as before."""
    if all(v.family != "kokoro" for v in voices):
        return voices
    return [v for v in voices if v.family != "kokoro"] or split_voices(split, ["espeak", "flite", "festival"])


def plan_split(text: Path, split: str, voices: list[Voice], num: int | None, hours: float | None, seed: int,
               min_words: int, max_words: int, skip: int, stop: int | None,
               options: SynthOptions) -> list[SynthUtterance]:
    """Every utterance of a split, in index order (see `choose_sentences`, `plan_utterance`)."""
    sentences, pool = choose_sentences(text, split, seed, num, hours, min_words, max_words, skip, stop)
    return [plan_utterance(i, t, split, voices, pool, seed, options) for i, t in enumerate(sentences) if t]


# ---------------------------------------------------------------------------- rendering
def render(utt: SynthUtterance) -> np.ndarray:
    """The utterance's audio [N] float32 at 16 kHz: speech, speed, room, noise, channel, level."""
    samples, rate = speak(utt.voice, utt.text, utt.rate, utt.pitch)
    x = augment.resample_speed(samples, rate, SAMPLE_RATE, utt.speed)
    rng = np.random.default_rng(utt.seed)
    if utt.rt60:
        x = augment.convolve(x, augment.room_impulse_response(rng, utt.rt60, SAMPLE_RATE))
    if utt.noise:
        if utt.noise == "babble":
            talkers = [augment.resample_speed(*speak(voice, text, r, p), SAMPLE_RATE)
                       for text, voice, r, p in utt.babble]
            noise = augment.babble(rng, talkers, len(x))
        elif utt.noise == "pink":
            noise = augment.pink_noise(rng, len(x))
        else:
            noise = augment.white_noise(rng, len(x))
        x = augment.add_noise(x, noise, utt.snr_db)
    if utt.telephone:
        x = augment.telephone_band(x, SAMPLE_RATE)
    return (x * (utt.peak / (np.max(np.abs(x)) + 1e-9))).astype(np.float32)


def _make(job: tuple[str, SynthUtterance]) -> str | None:
    """Render one utterance and write its FLAC atomically; an error message or None."""
    out, utt = job
    try:
        audio = render(utt)
    except (SynthesisError, subprocess.TimeoutExpired) as err:
        return f"{utt.id}: {err}"
    with atomic_open(Path(out) / utt.path, "wb") as f:
        sf.write(f, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return None


# ---------------------------------------------------------------------------- the corpus
@dataclass
class SynthSummary:
    split: str
    manifest: Path
    made: int      # files written by this run
    existing: int  # files already there (a resumed run)
    failed: int
    hours: float   # of the whole split, as on disk


def _check_settings(path: Path, settings: dict) -> None:
    """Refuse to mix corpora: a rerun into a split folder must use the settings it was made with."""
    settings = json.loads(json.dumps(settings))
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        if changed:
            raise AsrError(f"{path.parent} was made with other settings ({', '.join(changed)} differ; see {path}): "
                           "use another --out, or the same settings to extend or resume it")
        return
    with atomic_open(path) as f:
        json.dump(settings, f, indent=2)
        f.write("\n")


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        with atomic_open(path) as f:
            f.write(text)


def _speakers_table() -> str:
    lines = ["; Synthetic voices (asr synth): speaker id | subset | engine | voice"]
    lines += [f"{v.speaker} | {v.split} | {v.family} | {v.name}" for v in voice_catalogue()]
    return "\n".join(lines) + "\n"


def _describe(voices: list[Voice]) -> str:
    """'espeak 120 (6 accents x 20 variants); flite 2 (awb, kal16); ...' for the log."""
    parts = []
    for family in FAMILIES:
        names = [v.name for v in voices if v.family == family]
        if family == "espeak" and names:
            accents = sorted({n.split("+")[0] for n in names})
            variants = {n.split("+")[1] for n in names}
            parts.append(f"espeak-ng {len(names)} (accents {', '.join(accents)}; {len(variants)} variants)")
        elif names:
            parts.append(f"{family} {len(names)} ({', '.join(names)})")
    return "; ".join(parts)


def resolve_voices(split: str, families: list[str] | None, labels: list[str] | None) -> list[Voice]:
    """The voices to use: the installed voices of `split` (of `families`), or exactly `labels`."""
    installed = installed_voices()
    if labels:
        voices = [find_voice(label) for label in labels]
        missing = [v.label for v in voices if v.label not in installed]
        if missing:
            raise AsrError(f"voices not installed: {', '.join(missing)}")
        log.warning("synth: --voices given: %s uses exactly these voices, whatever their split", split)
        return voices
    for family in families or []:
        if family not in FAMILIES:
            raise AsrError(f"unknown voice family {family!r} (choose from {', '.join(FAMILIES)})")
        if not any(label.startswith(family + ":") for label in installed):
            raise AsrError(f"no {family} voice is installed ({INSTALL_HINT[family]})")
    voices = split_voices(split, families)
    if not voices:
        raise AsrError(f"no text-to-speech voice for {split} is installed ({INSTALL_HINT['espeak']}; "
                       f"also: {INSTALL_HINT['flite']}, {INSTALL_HINT['festival']})")
    absent = [f for f in families or FAMILIES if not any(v.family == f for v in voices)]
    log.info("synth: %s voices: %s%s", split, _describe(voices),
             f"; none of {', '.join(absent)} (not installed or no {split} voice)" if absent else "")
    return voices


def synthesize_corpus(text: str | os.PathLike, out: str | os.PathLike, split: str, num: int | None = None,
                      hours: float | None = None, seed: int = 0, min_words: int = 4, max_words: int = 24,
                      skip: int = 0, stop: int | None = None, families: list[str] | None = None,
                      voices: list[str] | None = None, options: SynthOptions | None = None, jobs: int = 1,
                      progress: bool = True, kokoro_files: tuple[str, str] | None = None) -> SynthSummary:
    """Make (or complete) split `split` of the corpus in `out` from the sentences in `text`;
    exactly one of `num` (utterances) and `hours` (estimated) sets the size. `kokoro_files`
    (model, voices) adds Kokoro's neural voices (see `kokoro`)."""
    if split not in SPLITS:
        raise AsrError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    if (num is None) == (hours is None):
        raise AsrError("give exactly one of --num and --hours")
    if (num is not None and num <= 0) or (hours is not None and hours <= 0):
        raise AsrError("--num and --hours must be positive")
    options = options or SynthOptions()
    options.check()
    out, text = Path(out), Path(text).resolve()
    if not text.is_file():  # before the voices are looked up and logged: the error is the one line
        raise AsrError(f"{text}: text file not found")
    files = kokoro.configure(*kokoro_files) if kokoro_files else None
    if files is None:
        kokoro.use(None)
    installed_voices.cache_clear()
    chosen = resolve_voices(split, families, voices)
    plan = plan_split(text, split, chosen, num, hours, seed, min_words, max_words, skip, stop, options)
    settings = {"text": str(text), "text_bytes": text.stat().st_size, "seed": seed, "min_words": min_words,
                "max_words": max_words, "skip": skip, "stop": stop, "voices": [v.label for v in chosen],
                "options": options.to_dict()}
    if any(v.family == "kokoro" for v in chosen):  # only then: corpora made before keep their settings
        settings["kokoro"] = files.identity()
    _check_settings(out / split / "settings.json", settings)
    for stale in (out / split).glob("*/*/.*.tmp"):  # left by a killed run (atomic_open's temporaries)
        stale.unlink(missing_ok=True)
    todo = [u for u in plan if not (out / u.path).is_file()]
    work = [(str(out), u) for u in todo]
    with contextlib.ExitStack() as stack:
        if jobs > 1 and len(todo) > 1:
            workers = stack.enter_context(concurrent.futures.ProcessPoolExecutor(
                jobs, initializer=kokoro.use, initargs=(files,)))
            results = workers.map(_make, work, chunksize=4)
        else:
            results = map(_make, work)
        errors = [e for e in progress_bar(results, total=len(work), desc=f"synth {split}", unit="utt",
                                          noun="utterances", disable=not progress) if e]
    for error in errors[:10]:
        log.warning("synth: skipped %s", error)
    done = [u for u in plan if (out / u.path).is_file()]
    if not done:
        raise AsrError(f"{out / split}: no utterance could be made ({errors[0] if errors else 'no sentences'})")
    seconds = _write_index(out, split, done)
    return SynthSummary(split, out / f"{split}.jsonl", len(todo) - len(errors), len(plan) - len(todo),
                        len(errors), seconds / 3600)


def _write_index(out: Path, split: str, done: list[SynthUtterance]) -> float:
    """Write the chapters' .trans.txt, the manifest and SPEAKERS.TXT for the utterances on disk;
    returns their total duration in seconds (read from the files)."""
    chapters = defaultdict(list)
    for utt in done:
        chapters[Path(utt.path).parent].append(utt)
    for folder, utts in chapters.items():
        speaker, chapter = folder.parts[-2:]
        lines = "".join(f"{u.id} {u.text}\n" for u in sorted(utts, key=lambda u: u.id))
        _write_if_changed(out / folder / f"{speaker}-{chapter}.trans.txt", lines)
    total, lines = 0.0, []
    for utt in sorted(done, key=lambda u: u.id):
        info = sf.info(str(out / utt.path))
        duration = info.frames / info.samplerate
        total += duration
        record = Utterance(id=utt.id, audio=utt.path, duration=round(duration, 6), text=utt.text,
                           speaker=utt.voice.speaker, chapter=Path(utt.path).parent.name).to_json()
        lines.append(json.dumps({**record, "synth": utt.info()}, ensure_ascii=False) + "\n")
    # unchanged files keep their time stamps, so a recipe can tell whether the corpus changed
    _write_if_changed(out / f"{split}.jsonl", "".join(lines))
    _write_if_changed(out / "SPEAKERS.TXT", _speakers_table())
    return total
