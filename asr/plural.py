"""Counts in messages: "1 layer", "2 layers", never "1 layers"."""

from __future__ import annotations


def plural(count: int | float, noun: str, plural_form: str | None = None) -> str:
    """`count` and `noun`, the noun in the plural unless count is 1: plural(1, "utterance") ->
    "1 utterance", plural(0, "utterance") -> "0 utterances"; irregular plurals are given:
    plural(2, "process", "processes")."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"
