"""Real speech corpora (asr/data/real_corpora.py, recipes/real): importers for the layouts the
public downloads arrive in, arranging into the shared layout, `asr prepare real`, and the
recipe's download stage against a local HTTP server serving tiny fake archives.

The corpora here are made by the tests: sine tones in the corpora's own formats (WAV for LJ
Speech, MP3 for Common Voice — this soundfile/libsndfile writes MP3 — NIST SPHERE for AN4,
FLAC for the wake words) with transcripts in the corpora's own files.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import soundfile as sf
from conftest import DATA, REPO, write_tone
from range_server import range_server

from asr.cli import main
from asr.data.download import extract
from asr.data.manifest import read_manifest
from asr.data.real_corpora import arrange_corpus, prepare_corpus, prepare_real
from asr.errors import AsrError

RECIPE = REPO / "recipes" / "real" / "run.sh"
SHARED_REAL = DATA / "real"


def cv_split(speaker: str) -> str:
    """The documented rule, computed independently: MD5 of the speaker, first 8 hex digits, mod 100 < 15."""
    return "test" if int(hashlib.md5(speaker.encode()).hexdigest()[:8], 16) % 100 < 15 else "train"


def manifests(out: Path) -> dict[str, list]:
    return {p.stem: read_manifest(p) for p in sorted(out.glob("*.jsonl"))}


def warnings_of(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


# --------------------------------------------------------------------------- fake raw corpora

LJ = {  # id -> (raw text, normalized text, seconds)
    "LJ001-0001": ("Printing, in the only sense", "Printing, in the only sense", 0.4),
    "LJ001-0002": ("in being comparatively modern.", "in being comparatively modern.", 0.5),
    "LJ001-0003": ("from 1450 to 1500", "from fourteen fifty to fifteen hundred", 0.6),
    "LJ001-0004": ("produced the block books, which were", "", 0.3),  # no normalized text: the raw one
    "LJ002-0001": ("the Marshalsea & the Fleet", "the Marshalsea and the Fleet", 0.7),
    "LJ002-0002": ("Mr. Neild's account", "Mister Neild's account", 0.35),
    "LJ002-0003": ("in 1813 the prison", "in eighteen thirteen the prison", 0.45),
}


def make_ljspeech(root: Path, ids=tuple(LJ)) -> Path:
    corpus = root / "LJSpeech-1.1"
    lines = []
    for clip in ids:
        raw, normalized, seconds = LJ[clip]
        write_tone(corpus / "wavs" / f"{clip}.wav", seconds, rate=22050)
        lines.append(f"{clip}|{raw}|{normalized}")
    (corpus / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


CV_CLIENTS = [hashlib.sha256(f"client {n}".encode()).hexdigest() for n in range(12)]
CV_SENTENCES = ['He said "stop" at 5 o\'clock.', "It's 2 miles away!", "Don't panic; it's fine.",
                "The telephone didn't work without electricity."]


def make_commonvoice(root: Path) -> Path:
    """A release in its own layout (cv-corpus-x/en/validated.tsv + clips/), two clips a speaker."""
    lang = root / "cv-corpus-6.1-2020-12-11" / "en"
    rows = ["client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccent"]
    for n, client in enumerate(CV_CLIENTS):
        for k in range(2):
            clip = f"common_voice_en_{1000 + 10 * n + k}.mp3"
            write_tone(lang / "clips" / clip, 0.5 + 0.1 * k, rate=48000)
            rows.append(f"{client}\t{clip}\t{CV_SENTENCES[(n + k) % 4]}\t2\t0\t\t\t")
    (lang / "validated.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


AN4 = {  # split -> [(speaker, utterance id, transcript)]
    "train": [("fash", "an251-fash-b", "RUBOUT G M E F THREE NINE"), ("fash", "cen1-fash-b", "YES"),
              ("mgah", "an86-mgah-b", "ENTER SIXTY TWO")],
    "test": [("fcaw", "an406-fcaw-b", "STOP"), ("mmxg", "cen7-mmxg-b", "TWENTY ONE")],
}


def make_an4(root: Path) -> Path:
    """an4/ as an4_sphere.tar.gz unpacks: etc/ lists, wav/an4*_clstk/<spk>/<utt>.sph, LICENSE."""
    an4 = root / "an4"
    for split, utts in AN4.items():
        wav_dir = "an4_clstk" if split == "train" else "an4test_clstk"
        fileids, lines = [], []
        for n, (speaker, utt, text) in enumerate(utts):
            write_tone(an4 / "wav" / wav_dir / speaker / f"{utt}.sph", 0.3 + 0.1 * n, format="NIST",
                       subtype="PCM_16")
            fileids.append(f"{wav_dir}/{speaker}/{utt}")
            # the id in parentheses is the file's; the last line writes it speaker first, as some copies do
            shown = utt if n < len(utts) - 1 else "-".join(utt.split("-")[i] for i in (1, 0, 2))
            lines.append(f"<s> {text} </s> ({shown})")
        (an4 / "etc").mkdir(parents=True, exist_ok=True)
        (an4 / "etc" / f"an4_{split}.fileids").write_text("\n".join(fileids) + "\n")
        (an4 / "etc" / f"an4_{split}.transcription").write_text("\n".join(lines) + "\n")
    (an4 / "LICENSE").write_text("AN4 license terms\n")
    return root


WAKEWORD_FOLDERS = {"alexa": 2, "smart mirror": 2, "view_glass": 1}


def make_wakewords(root: Path) -> Path:
    """wake-word-benchmark-master/ as GitHub's archive unpacks, one folder named with a space."""
    repo = root / "wake-word-benchmark-master"
    for folder, count in WAKEWORD_FOLDERS.items():
        for n in range(count):
            write_tone(repo / "audio" / folder / f"{n}.flac", 0.4 + 0.1 * n)
    write_tone(repo / "audio" / "background" / "noise.flac", 0.5)  # not a keyword: left out
    (repo / "LICENSE").write_text("Apache License 2.0\n")
    (repo / "README.md").write_text("benchmark\n")
    return root


SO762 = {"train": {"0001": ["000010011", "000010035"], "0002": ["000020011"]},
         "test": {"0003": ["000030012", "000030013"]}}
SO762_TEXT = {"000010011": "WE CALL IT BEAR", "000010035": "ZERO THREE FIVE ONE", "000020011": "MARK IS GOING",
              "000030012": "ELEPHANT", "000030013": "TWO TWO SEVEN"}


def make_speechocean762(root: Path) -> Path:
    """speechocean762/ as OpenSLR's archive unpacks: Kaldi dirs with wav.scp relative to it."""
    corpus = root / "speechocean762"
    for split, speakers in SO762.items():
        scp, text, utt2spk = [], [], []
        for speaker, utts in speakers.items():
            for n, utt in enumerate(utts):
                write_tone(corpus / "WAVE" / f"SPEAKER{speaker}" / f"{utt}.WAV", 0.3 + 0.1 * n, format="WAV")
                scp.append(f"{utt}\tWAVE/SPEAKER{speaker}/{utt}.WAV")
                text.append(f"{utt}\t{SO762_TEXT[utt]}")
                utt2spk.append(f"{utt}\t{speaker}")
        (corpus / split).mkdir(parents=True)
        for name, lines in (("wav.scp", scp), ("text", text), ("utt2spk", utt2spk)):
            (corpus / split / name).write_text("\n".join(lines) + "\n")
    (corpus / "README.md").write_text("speechocean762\n")
    return root


MAKERS = {"speechocean762": make_speechocean762, "ljspeech": make_ljspeech, "commonvoice": make_commonvoice,
          "an4": make_an4, "wakewords": make_wakewords}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> dict[str, Path]:
    """Each corpus unpacked into a folder of its own, as the recipe's download stage leaves it."""
    base = tmp_path_factory.mktemp("raw")
    return {name: make(base / name) for name, make in MAKERS.items()}


# --------------------------------------------------------------------------- raw importers

def test_soundfile_reads_nist_sphere(tmp_path):
    path = write_tone(tmp_path / "a.sph", 0.75, format="NIST", subtype="PCM_16")
    assert path.read_bytes().startswith(b"NIST_1A")
    info = sf.info(path)
    assert info.format == "NIST" and info.samplerate == 16000 and info.duration == pytest.approx(0.75)


def test_ljspeech_ids_normalized_text_durations_and_split(raw, tmp_path):
    counts = prepare_corpus("ljspeech", raw["ljspeech"], tmp_path)
    assert counts == {"ljspeech_train": 6, "ljspeech_test": 1}  # round(7 * 15%) = 1: the last id
    found = manifests(tmp_path)
    assert [u.id for u in found["ljspeech_test"]] == ["LJ002-0003"]
    utts = {u.id: u for m in found.values() for u in m}
    assert sorted(utts) == sorted(LJ)
    assert utts["LJ001-0003"].text == "FROM FOURTEEN FIFTY TO FIFTEEN HUNDRED"  # the normalized column
    assert utts["LJ001-0004"].text == "PRODUCED THE BLOCK BOOKS WHICH WERE"  # its raw column
    assert utts["LJ002-0002"].text == "MISTER NEILD'S ACCOUNT"
    for clip, utt in utts.items():
        assert utt.speaker == "LJ" and utt.duration == pytest.approx(LJ[clip][2], abs=1e-4)
        assert Path(utt.audio) == raw["ljspeech"] / "LJSpeech-1.1" / "wavs" / f"{clip}.wav"


def test_commonvoice_speakers_text_and_speaker_disjoint_split(raw, tmp_path):
    prepare_corpus("commonvoice", raw["commonvoice"], tmp_path)
    found = manifests(tmp_path)
    expected = {client[:12]: cv_split(client[:12]) for client in CV_CLIENTS}
    assert set(expected.values()) == {"train", "test"}  # these clients give both parts
    assert set(found) == {"commonvoice_train", "commonvoice_test"}
    for name, utts in found.items():
        for utt in utts:
            assert expected[utt.speaker] == name.split("_")[1] and len(utt.speaker) == 12
            assert utt.id.startswith("common_voice_en_") and Path(utt.audio).suffix == ".mp3"
            assert utt.duration == pytest.approx(sf.info(utt.audio).duration, abs=1e-6)
            assert 0.4 < utt.duration < 0.8
    assert sum(map(len, found.values())) == 2 * len(CV_CLIENTS)
    texts = {u.text for utts in found.values() for u in utts}
    # quotes kept by QUOTE_NONE, then normalized away; digits spelled out
    assert texts == {"HE SAID STOP AT FIVE O'CLOCK", "IT'S TWO MILES AWAY", "DON'T PANIC IT'S FINE",
                     "THE TELEPHONE DIDN'T WORK WITHOUT ELECTRICITY"}


def test_an4_split_speakers_and_transcripts(raw, tmp_path):
    assert prepare_corpus("an4", raw["an4"], tmp_path) == {"an4_test": 2, "an4_train": 3}
    found = manifests(tmp_path)
    for split, utts in AN4.items():
        got = {u.id: u for u in found[f"an4_{split}"]}
        assert sorted(got) == sorted(utt for _, utt, _ in utts)
        for n, (speaker, utt, text) in enumerate(utts):
            assert got[utt].speaker == speaker and got[utt].text == text
            assert got[utt].duration == pytest.approx(0.3 + 0.1 * n, abs=1e-4)
            assert got[utt].audio.endswith(f"/{speaker}/{utt}.sph")


def test_wakewords_keywords_no_speakers(raw, tmp_path, caplog):
    assert prepare_corpus("wakewords", raw["wakewords"], tmp_path) == {"wakewords_train": 5}
    utts = {u.id: u for u in manifests(tmp_path)["wakewords_train"]}
    assert sorted(utts) == ["alexa-0", "alexa-1", "smart_mirror-0", "smart_mirror-1", "view_glass-0"]
    assert utts["smart_mirror-1"].text == "SMART MIRROR" and utts["view_glass-0"].text == "VIEW GLASS"
    assert {u.speaker for u in utts.values()} == {""}
    assert utts["alexa-1"].duration == pytest.approx(0.5, abs=1e-4)
    assert "background" in warnings_of(caplog)


def test_speechocean762_keeps_its_split_and_speakers(raw, tmp_path):
    assert prepare_corpus("speechocean762", raw["speechocean762"], tmp_path) == {
        "speechocean762_train": 3, "speechocean762_test": 2}
    found = manifests(tmp_path)
    assert {u.speaker for u in found["speechocean762_train"]} == {"0001", "0002"}
    assert {u.speaker for u in found["speechocean762_test"]} == {"0003"}
    assert {u.id: u.text for m in found.values() for u in m} == SO762_TEXT


def test_unreadable_audio_is_skipped_and_counted(tmp_path, caplog):
    src = make_ljspeech(tmp_path / "lj")
    wavs = src / "LJSpeech-1.1" / "wavs"
    (wavs / "LJ001-0002.wav").write_bytes(b"RIFF but not really audio")
    (wavs / "LJ002-0001.wav").unlink()
    counts = prepare_corpus("ljspeech", src, tmp_path / "out")
    assert sum(counts.values()) == 5
    log = warnings_of(caplog)
    assert "LJ001-0002" in log and "LJ002-0001" in log and "skipped 2" in log
    # ... and the arranged layout leaves them out too
    data = tmp_path / "data"
    assert arrange_corpus("ljspeech", src, data) == 5
    assert sorted(p.stem for p in (data / "ljspeech").glob("*.wav")) == sorted(
        set(LJ) - {"LJ001-0002", "LJ002-0001"})


# --------------------------------------------------------------------------- arranging + shared layout

def comparable(found: dict[str, list]) -> dict[str, list]:
    """Manifests without the audio path (raw and arranged audio live in different places)."""
    return {name: [(u.id, u.text, u.speaker, u.duration) for u in utts] for name, utts in found.items()}


def test_arranged_layout_reads_back_as_the_raw_import(raw, tmp_path):
    data = tmp_path / "real"
    for corpus, src in raw.items():
        arrange_corpus(corpus, src, data)
        assert (data / f".{corpus}.arranged").is_file()
    # the shared layout: audio linked as is (same file), the corpus's own transcript beside it
    lj = data / "ljspeech" / "LJ001-0003.wav"
    assert lj.samefile(raw["ljspeech"] / "LJSpeech-1.1" / "wavs" / "LJ001-0003.wav")
    assert (data / "ljspeech" / "LJ001-0003.txt").read_text() == "from fourteen fifty to fifteen hundred\n"
    speaker = CV_CLIENTS[0][:12]
    assert (data / "commonvoice" / speaker / "common_voice_en_1000.txt").read_text() == CV_SENTENCES[0] + "\n"
    assert (data / "commonvoice" / speaker / "common_voice_en_1000.mp3").is_file()
    assert (data / "an4" / "train" / "fash" / "an251-fash-b.sph").is_file()
    assert (data / "an4" / "train" / "fash" / "an251-fash-b.txt").read_text() == "RUBOUT G M E F THREE NINE\n"
    assert (data / "an4" / "LICENSE").is_file() and (data / "wakewords" / "LICENSE").is_file()
    assert (data / "wakewords" / "smart_mirror" / "1.txt").read_text() == "smart mirror\n"
    assert (data / "speechocean762" / "train" / "wav.scp").read_text().startswith("000010011\tWAVE/SPEAKER0001/")
    assert not list(data.rglob(".*.tmp"))

    from_layout = tmp_path / "from_layout"
    counts = prepare_real(data, from_layout)
    from_raw = tmp_path / "from_raw"
    for corpus, src in raw.items():
        prepare_corpus(corpus, src, from_raw)
    assert counts == {k: len(v) for k, v in manifests(from_raw).items()}
    assert comparable(manifests(from_layout)) == comparable(manifests(from_raw))
    assert all(u.audio.startswith(str(data)) for m in manifests(from_layout).values() for u in m)


def test_finished_arrange_is_skipped_half_done_one_redone(raw, tmp_path):
    data = tmp_path / "real"
    assert arrange_corpus("wakewords", raw["wakewords"], data) == 5
    marker = data / ".wakewords.arranged"
    assert json.loads(marker.read_text())["utterances"] == 5
    # done is done: nothing is touched, even what is missing
    (data / "wakewords" / "alexa" / "1.flac").unlink()
    assert arrange_corpus("wakewords", raw["wakewords"], data) == 5
    assert not (data / "wakewords" / "alexa" / "1.flac").exists()
    # without the marker (a killed run) every file is placed again
    marker.unlink()
    (data / "wakewords" / "alexa" / "0.txt").write_text("half")
    assert arrange_corpus("wakewords", raw["wakewords"], data) == 5
    assert (data / "wakewords" / "alexa" / "1.flac").is_file() and marker.is_file()
    assert (data / "wakewords" / "alexa" / "0.txt").read_text() == "alexa\n"


def test_prepare_real_skips_untranscribed_and_misplaced_files(raw, tmp_path, caplog):
    data = tmp_path / "real"
    arrange_corpus("an4", raw["an4"], data)
    (data / "an4" / "test" / "fcaw" / "an406-fcaw-b.txt").unlink()
    write_tone(data / "an4" / "stray.flac")
    counts = prepare_real(data, tmp_path / "out")
    assert counts == {"an4_test": 1, "an4_train": 3}
    log = warnings_of(caplog)
    assert "an406-fcaw-b" in log and "no .txt" in log and "stray.flac" in log


# --------------------------------------------------------------------------- user errors: one line, exit 1

def error_line(capsys, *argv) -> str:
    assert main(list(map(str, argv))) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("asr: error: ") and "Traceback" not in "\n".join(err)
    return err[-1]


def test_wrong_layouts_and_missing_transcript_files(tmp_path, capsys):
    out = tmp_path / "out"
    # a Common Voice folder of the shared layout with the clips not in speaker folders
    bad = tmp_path / "real"
    write_tone(bad / "commonvoice" / "clip.mp3")
    (bad / "commonvoice" / "clip.txt").write_text("hello")
    assert "not the commonvoice layout" in error_line(capsys, "prepare", "real", bad, "--out", out)
    (tmp_path / "empty").mkdir()
    assert "none of the corpus folders" in error_line(capsys, "prepare", "real", tmp_path / "empty", "--out", out)
    (tmp_path / "kaldi" / "speechocean762" / "train").mkdir(parents=True)
    assert "not the speechocean762 layout" in error_line(capsys, "prepare", "real", tmp_path / "kaldi", "--out", out)
    # transcript files missing from the raw layouts
    lj = make_ljspeech(tmp_path / "lj", ids=["LJ001-0001"])
    (lj / "LJSpeech-1.1" / "metadata.csv").unlink()
    assert "no metadata.csv" in error_line(capsys, "prepare", "ljspeech", lj, "--out", out)
    (tmp_path / "cv" / "en" / "clips").mkdir(parents=True)
    assert "no validated.tsv" in error_line(capsys, "prepare", "commonvoice", tmp_path / "cv", "--out", out)
    (tmp_path / "cv" / "en" / "validated.tsv").write_text("path\tsentence\nx.mp3\thi\n")
    assert "no column client_id" in error_line(capsys, "prepare", "commonvoice", tmp_path / "cv", "--out", out)
    an4 = make_an4(tmp_path / "an4")
    (an4 / "an4" / "etc" / "an4_test.fileids").unlink()
    assert "an4_test.fileids: not found" in error_line(capsys, "prepare", "an4", an4, "--arrange", tmp_path / "d")
    assert not (tmp_path / "d" / "an4").exists()
    assert "not the Picovoice" in error_line(capsys, "prepare", "wakewords", tmp_path / "cv", "--out", out)


def test_damaged_archive_is_one_line_and_nothing_arranged(tmp_path, capsys):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:bz2") as tar:
        lj = make_ljspeech(tmp_path / "src")
        tar.add(lj / "LJSpeech-1.1", arcname="LJSpeech-1.1")
    good = tmp_path / "LJSpeech-1.1.tar.bz2"
    good.write_bytes(archive.getvalue())
    extract(good, tmp_path / "ok")  # .tar.bz2 unpacks
    assert (tmp_path / "ok" / "LJSpeech-1.1" / "metadata.csv").is_file()
    bad = tmp_path / "bad" / "LJSpeech-1.1.tar.bz2"
    bad.parent.mkdir()
    bad.write_bytes(archive.getvalue()[: len(archive.getvalue()) // 2])
    with range_server({"/LJSpeech-1.1.tar.bz2": bad.read_bytes()}) as server:
        line = error_line(capsys, "download", f"{server.url}/LJSpeech-1.1.tar.bz2", "--out",
                          tmp_path / "dl" / "LJSpeech-1.1.tar.bz2", "--extract", tmp_path / "dl" / "lj")
    assert "cannot extract" in line
    assert not (tmp_path / "dl" / "lj" / ".LJSpeech-1.1.tar.bz2.extracted").exists()
    with pytest.raises(AsrError, match="cannot extract"):
        extract(bad, tmp_path / "bad_out")


def test_cli_arrange_and_manifests_in_one_call(raw, tmp_path, capsys):
    assert main(["prepare", "an4", str(raw["an4"]), "--out", str(tmp_path / "out"),
                 "--arrange", str(tmp_path / "real")]) == 0
    printed = capsys.readouterr().out
    assert f"{tmp_path / 'real' / 'an4'}: 5 utterances" in printed
    assert "an4_train.jsonl: 3 utterances" in printed and (tmp_path / "real" / ".an4.arranged").is_file()


# --------------------------------------------------------------------------- the shared copy

@pytest.mark.skipif(not SHARED_REAL.is_dir(), reason=f"no shared real speech in {SHARED_REAL}")
def test_prepare_real_on_the_shared_copy(tmp_path):
    counts = prepare_real(SHARED_REAL, tmp_path)  # reads only: manifests go to tmp_path
    found = manifests(tmp_path)
    assert set(counts) == {"speechocean762_train", "speechocean762_test", "ljspeech_train", "ljspeech_test",
                           "commonvoice_train", "commonvoice_test", "an4_train", "an4_test",
                           "wakewords_train", "librispeech_pseudo_train"}
    # the README's utterance counts
    total = {c: sum(n for name, n in counts.items() if name.startswith(c + "_"))
             for c in ("speechocean762", "ljspeech", "commonvoice", "an4", "wakewords", "librispeech_pseudo")}
    assert total == {"speechocean762": 5000, "ljspeech": 340, "commonvoice": 196, "an4": 40,
                     "wakewords": 2279, "librispeech_pseudo": 237}

    def speakers(name):
        return {u.speaker for u in found[name]}

    assert not speakers("speechocean762_train") & speakers("speechocean762_test")
    assert len(speakers("speechocean762_test")) == 125
    assert not speakers("commonvoice_train") & speakers("commonvoice_test")
    assert {cv_split(s) for s in speakers("commonvoice_test")} == {"test"}
    lj_train, lj_test = ({u.id for u in found[n]} for n in ("ljspeech_train", "ljspeech_test"))
    assert not lj_train & lj_test and max(lj_train) < min(lj_test)
    assert len(lj_test) == round(340 * 0.15)
    assert all(u.duration > 0 and u.text for m in found.values() for u in m)


# --------------------------------------------------------------------------- the recipe's download stage

def tar_bytes(src: Path, mode: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for child in sorted(src.iterdir()):
            tar.add(child, arcname=child.name)
    return buffer.getvalue()


def zip_bytes(src: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(src.rglob("*")):
            zf.write(path, path.relative_to(src).as_posix())
    return buffer.getvalue()


PATHS = {"speechocean762": "/resources/101/speechocean762.tar.gz", "ljspeech": "/data/speech/LJSpeech-1.1.tar.bz2",
         "an4": "/databases/an4/an4_sphere.tar.gz",
         "wakewords": "/Picovoice/wake-word-benchmark/archive/refs/heads/master.zip"}


def run_recipe(workdir: Path, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(["bash", str(RECIPE), "--workdir", str(workdir), *map(str, args)],
                          env=environ, capture_output=True, text=True, timeout=600, check=False)


def commands_run(log: str) -> list[str]:
    return re.findall(r"^\[[0-9:]+\] \+ (.*)$", log, re.MULTILINE)


@pytest.mark.slow
def test_recipe_downloads_resumes_verifies_and_arranges(raw, tmp_path):
    archives = {"speechocean762": tar_bytes(raw["speechocean762"], "w:gz"),
                "ljspeech": tar_bytes(raw["ljspeech"], "w:bz2"), "an4": tar_bytes(raw["an4"], "w:gz"),
                "wakewords": zip_bytes(raw["wakewords"])}
    names = {c: PATHS[c].rsplit("/", 1)[1] for c in PATHS}
    names["wakewords"] = "wake-word-benchmark-master.zip"
    md5_file = tmp_path / "checksums.md5"  # LJ Speech's MD5 known, the others not
    md5_file.write_text(f"# test\n{hashlib.md5(archives['ljspeech']).hexdigest()}  LJSpeech-1.1.tar.bz2\n")
    with range_server({PATHS[c]: body for c, body in archives.items()}) as server:
        urls = [arg for c in PATHS for arg in (f"--{c}-url", server.url + PATHS[c])]
        workdir = tmp_path / "work"
        options = [*urls, "--md5-file", md5_file]

        # the LJ Speech download breaks off half-way: the run stops, keeps what arrived, arranges nothing of it
        server.cut.add(PATHS["ljspeech"])
        cut = run_recipe(workdir, *options)
        assert cut.returncode != 0
        part = workdir / "downloads" / "LJSpeech-1.1.tar.bz2.part"
        assert 0 < part.stat().st_size < len(archives["ljspeech"])
        assert (workdir / "corpora" / ".speechocean762.arranged").is_file()
        assert not (workdir / "corpora" / "ljspeech").exists()

        # the rerun fetches the rest only, verifies it, unpacks and arranges every corpus, then manifests
        cv = make_commonvoice(tmp_path / "cv")
        resumed = run_recipe(workdir, *options, "--commonvoice", cv)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert (PATHS["ljspeech"], f"bytes={len(archives['ljspeech']) // 2}-") in server.requests
        assert (workdir / "downloads" / names["ljspeech"]).read_bytes() == archives["ljspeech"]
        assert "an4_sphere.tar.gz is not in" in resumed.stderr and "NOT verified" in resumed.stderr
        assert hashlib.md5(archives["an4"]).hexdigest() in resumed.stderr
        assert "librispeech_pseudo has no public source" in resumed.stderr
        data = workdir / "data"
        counts = {p.stem: len(read_manifest(p)) for p in data.glob("*.jsonl")}
        assert counts["speechocean762_train"] == 3 and counts["ljspeech_test"] == 1
        assert counts["an4_train"] == 3 and counts["wakewords_train"] == 5
        assert counts["commonvoice_train"] + counts["commonvoice_test"] == 24
        assert (workdir / "corpora" / "ljspeech" / "LJ001-0001.txt").is_file()

        # done is done: no request, no command
        requests = len(server.requests)
        again = run_recipe(workdir, *options, "--commonvoice", cv)
        assert again.returncode == 0 and commands_run(again.stderr) == [], again.stderr
        assert len(server.requests) == requests

        # a wrong MD5: the download is deleted, nothing is unpacked or arranged
        md5_file.write_text(f"{'0' * 32}  an4_sphere.tar.gz\n")
        other = tmp_path / "other"
        bad = run_recipe(other, *options, "--corpora", "an4")
        assert bad.returncode != 0 and "MD5 mismatch" in bad.stderr
        assert list((other / "downloads").iterdir()) == [] and not (other / "corpora").exists()

        # a damaged archive (no MD5 to catch it): one clear error, nothing arranged
        server.files[PATHS["wakewords"]] = archives["wakewords"][: len(archives["wakewords"]) // 2]
        damaged = run_recipe(tmp_path / "third", *options, "--corpora", "wakewords")
        assert damaged.returncode != 0 and "cannot extract" in damaged.stderr
        assert "Traceback" not in damaged.stderr
        assert not (tmp_path / "third" / "corpora").exists()

    # base URLs from the environment too: an unreachable one fails the stage
    env_run = run_recipe(tmp_path / "fourth", "--corpora", "an4", "--md5-file", md5_file,
                         env={"ASR_REAL_AN4_URL": "http://127.0.0.1:9/an4_sphere.tar.gz"})
    assert env_run.returncode != 0 and "127.0.0.1:9/an4_sphere.tar.gz" in env_run.stderr


def test_recipe_with_local_data_and_help(raw, tmp_path):
    subprocess.run(["bash", "-n", str(RECIPE)], check=True)
    usage = subprocess.run(["bash", str(RECIPE), "--help"], capture_output=True, text=True, check=False)
    assert usage.returncode == 0
    for option in ("--stage", "--stop-stage", "--data", "--commonvoice", "--md5-file", "--ljspeech-url",
                   "--speechocean762-url", "--an4-url", "--wakewords-url", "us.openslr.org"):
        assert option in usage.stdout, option
    data = tmp_path / "real"
    arrange_corpus("wakewords", raw["wakewords"], data)
    done = run_recipe(tmp_path / "work", "--data", data)
    assert done.returncode == 0, done.stderr
    assert "no download: skipped" in done.stderr
    assert len(read_manifest(tmp_path / "work" / "data" / "wakewords_train.jsonl")) == 5
    again = run_recipe(tmp_path / "work", "--data", data)
    assert again.returncode == 0 and commands_run(again.stderr) == []
    wrong = run_recipe(tmp_path / "work", "--corpora", "commonvoice")
    assert wrong.returncode != 0 and "cannot be downloaded" in wrong.stderr
