"""Kokoro-82M neural voices for the synthetic corpus (optional: `pip install kokoro-onnx`).

Kokoro is a neural text-to-speech model with 54 voice vectors: 28 US and British English
voices and 26 that speak English with another language's accent. Any weighted mix of two
voice vectors is a new, natural-sounding talker, so a corpus draws, per utterance, either one
catalogue voice or a blend of two. Every catalogue voice has a fixed split (train, dev or
test) and a blend only mixes voices of one split, so held-out voices and their blends never
reach train.

Nothing of Kokoro is bundled: the user passes the release files (`kokoro-v1.0.onnx` or its
int8 version, and `voices-v1.0.bin`, an .npz of float32 [510, 1, 256] style tables) with
`asr synth --kokoro-model FILE --kokoro-voices FILE`. The model runs with onnxruntime on one
thread per process (the corpus tool runs one process per core: on 2 shared cores that beats
one process with two threads). It makes 24 kHz audio; `corpus.render` resamples it to 16 kHz.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.errors import AsrError

SAMPLE_RATE = 24000
STYLE_SHAPE = (510, 1, 256)  # one style vector per phoneme-sequence length
INSTALL_HINT = ("pip install kokoro-onnx, then pass --kokoro-model kokoro-v1.0.onnx (or the int8 file) "
                "and --kokoro-voices voices-v1.0.bin")

# The voices of kokoro-v1.0, in a fixed order: a voice's speaker id is 4000 + its position,
# and a blend of voices i < j is speaker 40000 + 100 i + j. Append only.
VOICES = (
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova",
    "af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam",
    "am_michael", "am_onyx", "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily",
    "bm_daniel", "bm_fable", "bm_george", "bm_lewis", "ef_dora", "em_alex", "em_santa", "ff_siwis",
    "hf_alpha", "hf_beta", "hm_omega", "hm_psi", "if_sara", "im_nicola", "jf_alpha", "jf_gongitsune",
    "jf_nezumi", "jf_tebukuro", "jm_kumo", "pf_dora", "pm_alex", "pm_santa", "zf_xiaobei", "zf_xiaoni",
    "zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi", "zm_yunxia", "zm_yunyang",
)
# Held out: in each group (US/British English, female/male; accented voices) a voice or two
# for dev and for test. Every other voice is train.
HELD_OUT = {
    "af_nova": "dev", "am_eric": "dev", "bf_lily": "dev", "bm_fable": "dev", "hf_beta": "dev",
    "im_nicola": "dev", "zf_xiaoni": "dev",
    "af_sarah": "test", "am_michael": "test", "bf_alice": "test", "bm_daniel": "test", "hm_psi": "test",
    "pf_dora": "test", "zm_yunxi": "test",
}
# Voices a recognizer could not follow on clean sentences (tools/screen_voices.py; the figures
# are in BENCHMARKS.md). They would keep their ids but never be used. The 2026-12-01 screen
# dropped none: Whisper tiny.en's CER was 0.6-7.4 % on every voice, accented ones included.
UNINTELLIGIBLE: frozenset[str] = frozenset()
BLEND_PROB = 0.5             # share of Kokoro utterances spoken by a blend of two voices
BLEND_WEIGHT = (0.2, 0.8)    # weight of the first voice of a blend
_BLEND = re.compile(r"^([a-z]{2}_[a-z]+)\*([0-9.]+)\+([a-z]{2}_[a-z]+)$")


def voice_split(name: str) -> str:
    return HELD_OUT.get(name, "train")


def speaker_id(name: str) -> str:
    return str(4000 + VOICES.index(name))


def blend_name(first: str, second: str, weight: float) -> tuple[str, str]:
    """(voice name, speaker id) of `weight` x first + (1 - weight) x second. The pair's
    speaker id does not depend on the order or the weight: one talker family per pair."""
    i, j = sorted((VOICES.index(first), VOICES.index(second)))
    return f"{first}*{weight:.3f}+{second}", str(40000 + 100 * i + j)


@dataclass(frozen=True)
class KokoroFiles:
    """The release files: the ONNX model and the voices table."""

    model: str
    voices: str

    def identity(self) -> dict:
        """What a corpus records of the files it was made with (a rerun must use the same)."""
        return {"model": Path(self.model).name, "model_bytes": os.path.getsize(self.model),
                "voices": Path(self.voices).name, "voices_bytes": os.path.getsize(self.voices)}


_files: KokoroFiles | None = None


def configured() -> KokoroFiles | None:
    """The files set by `configure`, or None: Kokoro voices are then not installed."""
    return _files


def use(files: KokoroFiles | None) -> None:
    """Set the files without checking them (worker processes; `configure` checked them)."""
    global _files
    _files = files


def _import_kokoro():
    try:
        import kokoro_onnx
        import onnxruntime
    except ImportError:
        raise AsrError(f"Kokoro voices need the kokoro-onnx package ({INSTALL_HINT})") from None
    return kokoro_onnx, onnxruntime


def _session(model: str):
    _, ort = _import_kokoro()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # no warnings about unused initializers on every load
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def read_voice_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """{name: float32 [510, 1, 256]} from a Kokoro voices file; `AsrError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise AsrError(f"{path}: Kokoro voices file not found ({INSTALL_HINT})")
    try:
        table = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise AsrError(f"{path}: not a Kokoro voices file (an .npz of voice tables): {err}") from None
    if not isinstance(table, np.lib.npyio.NpzFile):  # one array (.npy), not a table of voices
        raise AsrError(f"{path}: not a Kokoro voices file (one array, not a table of voices)")
    with table:
        voices = {name: table[name] for name in table.files}
    bad = [name for name, table in voices.items() if table.shape != STYLE_SHAPE]
    if not voices or bad:
        raise AsrError(f"{path}: not a Kokoro voices file (expected {STYLE_SHAPE} float32 tables"
                       + (f"; {bad[0]} is {voices[bad[0]].shape})" if bad else "; it is empty)"))
    return voices


def configure(model: str | os.PathLike, voices: str | os.PathLike) -> KokoroFiles:
    """Check the release files and make the Kokoro voices available; `AsrError` naming the
    file and the problem when the package is missing or a file is not what it should be."""
    _import_kokoro()
    model, voices = Path(model), Path(voices)
    if not model.is_file():
        raise AsrError(f"{model}: Kokoro model file not found ({INSTALL_HINT})")
    read_voice_table(voices)
    try:
        session = _session(str(model))
    except Exception as err:  # onnxruntime raises its own types for any unreadable model
        raise AsrError(f"{model}: not an ONNX model ({str(err).splitlines()[0][:200]})") from None
    inputs = {i.name for i in session.get_inputs()}
    if not {"style", "speed"} <= inputs or not inputs & {"tokens", "input_ids"}:
        raise AsrError(f"{model}: not a Kokoro model (its inputs are {', '.join(sorted(inputs))})")
    del session
    files = KokoroFiles(str(model.resolve()), str(voices.resolve()))
    use(files)
    return files


def available_voices() -> frozenset[str]:
    """Catalogue voices present in the configured voices file (none when not configured)."""
    if _files is None:
        return frozenset()
    return frozenset(VOICES) & frozenset(_voice_table(_files.voices))


@functools.lru_cache(maxsize=2)
def _voice_table(path: str) -> dict[str, np.ndarray]:
    return read_voice_table(path)


@functools.lru_cache(maxsize=1)
def _engine(files: KokoroFiles):
    kokoro_onnx, _ = _import_kokoro()
    # phonemizer warns "words count mismatch" for every sentence kokoro-onnx phonemizes whole
    logging.getLogger("phonemizer").setLevel(logging.ERROR)
    return kokoro_onnx.Kokoro.from_session(_session(files.model), files.voices)


def _language(name: str) -> str:
    """espeak-ng phonemizer language: British voices (b*) en-gb, all others en-us."""
    return "en-gb" if name.startswith("b") else "en-us"


def speak(name: str, text: str, rate: float = 1.0) -> tuple[np.ndarray, int]:
    """Speak `text` (lower-cased) with catalogue voice `name` or a blend `a*W+b`, `rate` times
    as fast as the voice's own pace: (samples [N] float32, 24000)."""
    if _files is None:
        raise AsrError(f"Kokoro voices are not configured ({INSTALL_HINT})")
    table = _voice_table(_files.voices)
    match = _BLEND.match(name)
    if match:
        first, weight, second = match[1], float(match[2]), match[3]
        style = weight * table[first] + (1 - weight) * table[second]
        language = _language(first if weight >= 0.5 else second)
    else:
        style, language = table[name], _language(name)
    samples, sample_rate = _engine(_files).create(text.lower(), voice=style, speed=rate, lang=language)
    return np.asarray(samples, dtype=np.float32), sample_rate
