"""Downloading and unpacking corpora: resumable HTTP(S) with mirrors and MD5, safe extraction.

A download goes to `<dest>.part` and is renamed into place only once complete and verified,
so `dest` existing means a good file. An interrupted download resumes with an HTTP Range
request; a server that ignores Range gets a clean restart. Extraction writes a marker file
after success, so a re-run skips finished work and redoes half-done work.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from http.client import HTTPException
from pathlib import Path


from asr import __version__
from asr.atomic import atomic_open
from asr.errors import AsrError
from asr.progress_bar import progress_bar

logger = logging.getLogger("asr.data")

_CHUNK = 1 << 20
_TIMEOUT_S = 60


def md5sum(path: str | os.PathLike) -> str:
    """Hex MD5 of a file, read in chunks (corpus archives do not fit in memory)."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- download

def _part_path(dest: Path) -> Path:
    return dest.with_suffix(dest.suffix + ".part")


def _content_range_start(response) -> int | None:
    """First byte of a 206 response's `Content-Range: bytes START-END/TOTAL`, if present."""
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None


def _open(url: str, start: int):
    """Open `url`, asking for bytes from `start` on when resuming."""
    headers = {"User-Agent": f"asr/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S)


def _fetch(url: str, part: Path, desc: str) -> None:
    """Download `url` into `part`, appending to what is there when the server allows it.

    Raises urllib/OSError errors on failure; what arrived stays in `part` for a later resume.
    """
    start = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, start)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not start:
            raise
        # 416 Range Not Satisfiable: the .part is already complete, or larger than the file
        total = re.match(r"bytes \*/(\d+)", err.headers.get("Content-Range", ""))
        if total and int(total[1]) == start:
            return
        part.unlink()
        start = 0
        response = _open(url, start)
    with response:
        if start and (response.status != 206 or _content_range_start(response) != start):
            start = 0  # the server ignored the Range request: restart from byte 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        written = start
        with open(part, "ab" if start else "wb") as f, progress_bar(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
        ) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                f.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
    # http.client returns a short body without complaint when the connection drops
    if total is not None and written < total:
        raise ConnectionError(f"connection closed after {written} of {total} bytes")


def _error_text(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return str(err) or type(err).__name__


def download(url: str | list[str], dest: Path, md5: str | None = None,
             desc: str | None = None) -> Path:
    """Download `url` (or the first mirror in a list that works) to `dest` and return `dest`.

    Skips the download when `dest` exists and matches `md5` (or no `md5` is given). Resumes
    a previous `<dest>.part` with an HTTP Range request. With `md5`, a mismatch deletes the
    download and raises `AsrError`; so does failing on every mirror.
    """
    dest = Path(dest)
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise AsrError(f"{dest}: no URL to download from")
    md5 = md5.lower() if md5 else None
    if dest.exists():
        if md5 is None or md5sum(dest) == md5:
            logger.info("%s: already downloaded", dest)
            return dest
        logger.warning("%s: MD5 does not match, downloading again", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    errors = []
    for candidate in urls:
        try:
            _fetch(candidate, part, desc or dest.name)
            break
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as err:
            # ValueError: a malformed URL; try the next mirror like any other failure
            errors.append(f"{candidate}: {_error_text(err)}")
            logger.warning("download failed: %s", errors[-1])
    else:
        raise AsrError(f"{dest.name}: download failed from every URL ({'; '.join(errors)})")
    if md5 is not None:
        actual = md5sum(part)
        if actual != md5:
            part.unlink()
            raise AsrError(f"{dest.name}: MD5 mismatch (expected {md5}, got {actual}); "
                           f"the download was deleted")
    os.replace(part, dest)  # atomic: dest is either absent or complete and verified
    return dest


# --------------------------------------------------------------------------- extract

def _check_inside(dest_dir: Path, archive: Path, member: str, target: Path) -> None:
    """Refuse a member (or link target) that would land outside `dest_dir` ("zip slip")."""
    if not target.resolve().is_relative_to(dest_dir.resolve()):
        raise AsrError(f"{archive}: member {member!r} would be written outside {dest_dir}; "
                       f"refusing to extract")


def _extract_tar(archive: Path, dest_dir: Path) -> None:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            _check_inside(dest_dir, archive, m.name, dest_dir / m.name)
            if m.issym():
                _check_inside(dest_dir, archive, m.name, (dest_dir / m.name).parent / m.linkname)
            elif m.islnk():
                _check_inside(dest_dir, archive, m.name, dest_dir / m.linkname)
        # the "data" filter also guards against tricks the checks above cannot see
        # (a member written through a symlink created by an earlier member, device files)
        tar.extractall(dest_dir, members=members, filter="data")


def _extract_zip(archive: Path, dest_dir: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            _check_inside(dest_dir, archive, name, dest_dir / name)
        zf.extractall(dest_dir)


def extract(archive: Path, dest_dir: Path) -> Path:
    """Unpack a .tar.gz/.tgz/.tar.bz2/.tbz2/.tar/.zip archive into `dest_dir`; returns `dest_dir`.

    Members that would escape `dest_dir` make it fail with `AsrError` before anything is
    written. A marker file `.<archive name>.extracted` is written after success: a re-run
    with the marker does nothing, one without it (an interrupted run) extracts again.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    marker = dest_dir / f".{archive.name}.extracted"
    if marker.exists():
        return dest_dir
    if not archive.is_file():
        raise AsrError(f"{archive}: archive not found")
    name = archive.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar")):
        unpack = _extract_tar  # tarfile detects the compression itself
    elif name.endswith(".zip"):
        unpack = _extract_zip
    else:
        raise AsrError(f"{archive}: unsupported archive type "
                       f"(expected .tar.gz, .tgz, .tar.bz2, .tbz2, .tar or .zip)")
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        unpack(archive, dest_dir)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as err:
        # tarfile.FilterError (from the "data" filter) is a TarError too; a damaged compressed
        # stream surfaces mid-way as EOFError, zlib.error or OSError (bz2: "Invalid data
        # stream"), as do a full disk and permissions
        reason = str(err) or type(err).__name__
        if isinstance(err, tarfile.ReadError):  # its message lists every decompressor it tried
            reason = "damaged, or not a tar archive"
        raise AsrError(f"{archive}: cannot extract ({reason})") from None
    with atomic_open(marker, "w") as f:
        f.write(f"{archive}\n")
    return dest_dir
