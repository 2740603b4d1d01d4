"""Every numeric option of every `asr` command has a range (asr/option_ranges.py), and a value
outside it ends with one error line, exit status 1 and no file written."""

from __future__ import annotations

import argparse
import math

import pytest

from asr.cli import build_parser, main
from asr.option_ranges import RANGES, Range

NUMERIC_TYPES = {"int", "float", "_floats", "_range"}


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command words, its parser) for every leaf command, e.g. (("prepare", "fsdd"), parser)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for name, sub in subs[0].choices.items():
        yield from commands(sub, prefix + (name,))


def numeric_options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if action.option_strings and getattr(action.type, "__name__", "") in NUMERIC_TYPES:
            yield action


def minimal_arguments(parser: argparse.ArgumentParser, tmp_path, tested: argparse.Action) -> list[str]:
    """Placeholder values for what the command requires (the range check comes before any use)."""
    words = []
    for action in parser._actions:
        if not action.option_strings and action.nargs != 0 and not isinstance(action, argparse._SubParsersAction):
            words.append(str(tmp_path / "in.wav"))
        elif action.required and action.dest != tested.dest:
            if action.choices:
                value = list(action.choices)[0]
            else:
                value = "x=1" if action.dest in ("score", "timing") else str(tmp_path / f"{action.dest}.out")
            words += [action.option_strings[0], value]
    for group in parser._mutually_exclusive_groups:  # e.g. synth's --num | --hours
        if group.required and tested.dest not in {a.dest for a in group._group_actions}:
            words += [group._group_actions[0].option_strings[0], "1"]
    return words


def bad_values(allowed: Range, is_int: bool) -> list[str]:
    """Values just outside the range, and NaN/inf where the type takes them."""
    values = []
    if allowed.low is not None:
        values.append(str(int(allowed.low) if allowed.low_open else int(math.floor(allowed.low)) - 1)
                      if is_int else str(allowed.low if allowed.low_open else allowed.low - 0.5))
    if allowed.high is not None:
        values.append(str(int(allowed.high) + 1) if is_int else str(allowed.high + 0.5))
    if not is_int:
        values.append("nan")
        if not allowed.allow_infinite:
            values.append("inf")
    return values


ALL = [(words, action) for words, parser in commands(build_parser()) for action in numeric_options(parser)]


def test_every_numeric_option_has_a_range():
    missing = sorted({f"asr {' '.join(w)} {max(a.option_strings, key=len)}" for w, a in ALL if a.dest not in RANGES})
    assert not missing, f"options without an entry in asr/option_ranges.py RANGES: {missing}"
    assert len(ALL) > 40  # the walk below really walks


@pytest.mark.parametrize("words,action", ALL, ids=[f"{' '.join(w)} {a.option_strings[-1]}" for w, a in ALL])
def test_out_of_range_value_is_one_line_and_exit_1(words, action, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = dict(commands(build_parser()))[words]
    is_int = action.type is int
    flag = max(action.option_strings, key=len)
    for value in bad_values(RANGES[action.dest], is_int):
        if getattr(action.type, "__name__", "") == "_range":
            value = f"{value},{value}"
        code = main([*words, *minimal_arguments(parser, tmp_path, action), f"{flag}={value}"])
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == 1, (flag, value)
        assert len(err) == 1 and err[0].startswith("asr: error:") and flag in err[0], (flag, value, err)
        assert list(tmp_path.iterdir()) == [], f"{flag}={value} left files behind"


@pytest.mark.parametrize("argv,fragment", [
    (["--nbest", "20", "--beam", "2"], "--nbest 20 is more than --beam 2"),
    (["--device", "foo"], "--device foo: expected auto, cpu, cuda or cuda:N"),
    (["--lm-weight", "nan"], "--lm-weight nan"),
    (["--word-bonus", "inf"], "--word-bonus inf"),
])
def test_cross_checks_and_devices(argv, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command in (["transcribe", "a.wav"], ["decode", "--model", "m", "--manifest", "m", "--out", "o"],
                    ["stream", "a.wav"]):
        assert main([*command, *argv]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_are_one_line(capsys):
    for argv in (["transcribe", "a.wav", "--beam", "ten"], ["frobnicate"], ["decode", "--model", "m"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and len(err) == 1 and err[0].startswith("asr: error:"), err
        assert "--help" in err[0]
