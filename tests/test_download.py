"""Downloads against a local HTTP server that supports Range requests, and safe extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from asr.data.download import download, extract, md5sum
from asr.errors import AsrError
from range_server import range_server

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB, not a multiple of the 1 MiB read size


@pytest.fixture
def server():
    with range_server({"/data.bin": PAYLOAD}) as httpd:
        yield httpd


MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_md5sum_matches_hashlib(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD * 3)
    assert md5sum(path) == hashlib.md5(PAYLOAD * 3).hexdigest()


def test_full_download(server, tmp_path):
    dest = tmp_path / "sub" / "data.bin"
    assert download(f"{server.url}/data.bin", dest, md5=MD5) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "sub" / "data.bin.part").exists()
    assert server.requests == [("/data.bin", None)]


def test_resume_from_partial(server, tmp_path):
    dest = tmp_path / "data.bin"
    part = tmp_path / "data.bin.part"
    part.write_bytes(PAYLOAD[:300_000])
    download(f"{server.url}/data.bin", dest, md5=MD5.upper())
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("/data.bin", "bytes=300000-")]
    assert server.bytes_sent == len(PAYLOAD) - 300_000
    assert not part.exists()


def test_complete_partial_is_not_downloaded_again(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    download(f"{server.url}/data.bin", tmp_path / "data.bin", md5=MD5)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD
    assert server.bytes_sent == 0


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.ignore_range = True
    (tmp_path / "data.bin.part").write_bytes(b"stale bytes from somewhere else")
    download(f"{server.url}/data.bin", tmp_path / "data.bin", md5=MD5)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD
    assert server.requests[0][1] is not None  # it did ask to resume
    assert server.bytes_sent == len(PAYLOAD)


def test_md5_mismatch_raises_and_leaves_nothing(server, tmp_path):
    dest = tmp_path / "data.bin"
    with pytest.raises(AsrError, match="MD5 mismatch"):
        download(f"{server.url}/data.bin", dest, md5="0" * 32)
    assert not dest.exists()
    assert not (tmp_path / "data.bin.part").exists()


def test_mirror_fallback_after_404(server, tmp_path):
    dest = tmp_path / "data.bin"
    download([f"{server.url}/missing.bin", f"{server.url}/data.bin"], dest, md5=MD5)
    assert dest.read_bytes() == PAYLOAD
    assert [path for path, _ in server.requests] == ["/missing.bin", "/data.bin"]


def test_all_mirrors_failing_raises(server, tmp_path):
    with pytest.raises(AsrError, match="404"):
        download([f"{server.url}/a", f"{server.url}/b"], tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()


def test_existing_file_skipped_or_redownloaded_by_md5(server, tmp_path):
    dest = tmp_path / "data.bin"
    dest.write_bytes(PAYLOAD)
    download(f"{server.url}/data.bin", dest, md5=MD5)
    download(f"{server.url}/data.bin", dest)  # no md5: existing file is trusted
    assert server.requests == []
    dest.write_bytes(b"corrupted")
    download(f"{server.url}/data.bin", dest, md5=MD5)
    assert dest.read_bytes() == PAYLOAD
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- extract

FILES = {"corpus/a.txt": b"alpha", "corpus/sub/b.txt": b"beta"}


def _make_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("make, suffix", [(_make_tar_gz, ".tar.gz"), (_make_zip, ".zip")])
def test_extract_and_marker(tmp_path, make, suffix):
    archive = make(tmp_path / f"corpus{suffix}", FILES)
    dest = tmp_path / "out"
    assert extract(archive, dest) == dest
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data
    assert (dest / f".corpus{suffix}.extracted").is_file()

    # with the marker, a re-run does nothing (the deleted file stays deleted)
    (dest / "corpus/a.txt").unlink()
    extract(archive, dest)
    assert not (dest / "corpus/a.txt").exists()

    # without it (an interrupted run), extraction is redone over the partial output
    (dest / f".corpus{suffix}.extracted").unlink()
    (dest / "corpus/sub/b.txt").write_bytes(b"half-writ")
    extract(archive, dest)
    assert (dest / "corpus/a.txt").read_bytes() == b"alpha"
    assert (dest / "corpus/sub/b.txt").read_bytes() == b"beta"


@pytest.mark.parametrize("make, suffix", [(_make_tar_gz, ".tar.gz"), (_make_zip, ".zip")])
def test_extract_rejects_escaping_member(tmp_path, make, suffix):
    archive = make(tmp_path / f"evil{suffix}", {"ok.txt": b"fine", "../evil": b"pwned"})
    dest = tmp_path / "out"
    with pytest.raises(AsrError, match="outside"):
        extract(archive, dest)
    assert not (tmp_path / "evil").exists()
    assert not (dest / "ok.txt").exists()  # checked before anything is written
    assert not (dest / f".evil{suffix}.extracted").exists()


def test_extract_rejects_symlink_out_of_dest(tmp_path):
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("corpus/link")
        info.type, info.linkname = tarfile.SYMTYPE, "../../../etc"
        tar.addfile(info)
    with pytest.raises(AsrError, match="outside"):
        extract(archive, tmp_path / "out")


def test_extract_errors(tmp_path):
    with pytest.raises(AsrError, match="not found"):
        extract(tmp_path / "nope.tar.gz", tmp_path / "out")
    (tmp_path / "x.rar").write_bytes(b"x")
    with pytest.raises(AsrError, match="unsupported"):
        extract(tmp_path / "x.rar", tmp_path / "out")
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(AsrError, match="cannot extract"):
        extract(tmp_path / "broken.tar.gz", tmp_path / "out")
