"""Text normalization and the character tokenizer."""

from __future__ import annotations

import pytest

from asr.text import CharTokenizer, normalize_text, number_to_words


@pytest.mark.parametrize("raw, expected", [
    ("Hello, world!", "HELLO WORLD"),
    ("  many   spaces\tand\nlines ", "MANY SPACES AND LINES"),
    ("I don't know", "I DON'T KNOW"),
    ("'quoted' words", "QUOTED WORDS"),
    ("Café résumé", "CAFE RESUME"),
    ("It’s curly", "IT'S CURLY"),
    ("7 cats", "SEVEN CATS"),
    ("42", "FORTY TWO"),
    ("the 21st day", "THE TWENTY FIRST DAY"),
    ("1,905 people", "ONE THOUSAND NINE HUNDRED AND FIVE PEOPLE"),
    ("100% & more", "ONE HUNDRED PERCENT AND MORE"),
    ("well-known", "WELL KNOWN"),
    ("", ""),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_normalized_text_is_a_fixed_point_and_in_alphabet():
    tokenizer = CharTokenizer()
    for raw in ["Mr. Smith paid $3.50 on 3/4/2021 (about 12:30)!", "Ünïcödé — dash…", "x" * 5]:
        text = normalize_text(raw)
        assert normalize_text(text) == text
        assert not tokenizer.unknown_symbols(text)


def test_number_to_words_hand_checked():
    assert number_to_words(0) == "ZERO"
    assert number_to_words(15) == "FIFTEEN"
    assert number_to_words(90) == "NINETY"
    assert number_to_words(101) == "ONE HUNDRED AND ONE"
    assert number_to_words(2000) == "TWO THOUSAND"
    assert number_to_words(1_000_001) == "ONE MILLION AND ONE"


def test_char_tokenizer_roundtrip_and_blank():
    tokenizer = CharTokenizer()
    assert tokenizer.vocab_size == 29  # blank + space + apostrophe + 26 letters
    ids = tokenizer.encode("DON'T GO")
    assert CharTokenizer.BLANK not in ids
    assert tokenizer.decode(ids) == "DON'T GO"
    assert tokenizer.decode([0] + ids + [0]) == "DON'T GO"
    with pytest.raises(ValueError, match="not in the tokenizer"):
        tokenizer.encode("lower")
    assert CharTokenizer.from_dict(tokenizer.to_dict()).symbols == tokenizer.symbols
