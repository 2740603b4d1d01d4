"""What a non-editable install holds: the configs (asr/conf is a link to the top-level conf/,
copied into the wheel) and the dependencies (librosa only for the tests)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

SHIPPED = {"am": sorted(p.name for p in (REPO / "conf" / "am").glob("*.yaml")),
           "lm": sorted(p.name for p in (REPO / "conf" / "lm").glob("*.yaml"))}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the package sources (the checkout is left untouched)."""
    pytest.importorskip("setuptools", reason="building a wheel without network needs setuptools installed")
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(REPO / "asr", src / "asr", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "conf", src / "conf")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    assert (src / "asr" / "conf").is_symlink()  # the copy keeps the link, as a clone does
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(src / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = (src / "dist").glob("asr-*.whl")
    return path


@pytest.mark.slow
def test_the_wheel_holds_the_configs_and_needs_no_librosa(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for kind, files in SHIPPED.items():
        assert files and {f"asr/conf/{kind}/{f}" for f in files} <= names
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert all("extra ==" in line for line in requires if "librosa" in line), requires
    assert any("librosa" in line and "extra == \"test\"" in line for line in requires)


@pytest.mark.slow
def test_installed_package_resolves_config_names(wheel, tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                           str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"  # no conf/ here: only the installed copy can answer
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "COLUMNS": "1000"}  # --help unwrapped

    def asr(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "asr", *args], cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=300)

    where = subprocess.run([sys.executable, "-c", "import asr.config as c; print(c.__file__); "
                            "print(c.find_config('digits', 'am')); print(c.find_config('lm/char_small', 'lm'))"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    module, digits, char_small = where.stdout.splitlines()
    assert Path(module).is_relative_to(site)
    assert Path(digits) == site / "asr" / "conf" / "am" / "digits.yaml"
    assert Path(char_small) == site / "asr" / "conf" / "lm" / "char_small.yaml"

    helped = asr("train", "--help")
    assert helped.returncode == 0 and "digits" in helped.stdout and str(site / "asr" / "conf" / "am") in helped.stdout
    # the config is found and read: the error is about a key it lacks, not about the file
    for name in ("digits", "am/digits", "conf/am/digits.yaml"):
        proc = asr("train", "--config", name, "--exp", "exp", "model.hiden_size=1")
        assert proc.returncode == 1
        assert "unknown config key 'model.hiden_size'" in proc.stderr, (name, proc.stderr)
    proc = asr("train-lm", "--config", "char_small", "--text", "t.txt", "--exp", "exp", "model.hiden_size=1")
    assert proc.returncode == 1 and "unknown config key 'model.hiden_size'" in proc.stderr, proc.stderr
    proc = asr("train", "--config", "nosuch", "--exp", "exp")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "nosuch: config file not found" in proc.stderr and "digits" in proc.stderr


def test_nothing_in_the_package_imports_librosa():
    for path in sorted((REPO / "asr").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not any(m.split(".")[0] == "librosa" for m in modules), f"{path} imports librosa"
