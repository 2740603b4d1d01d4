"""Text normalization (LibriSpeech style) and the tokenizers (characters, sentencepiece).

Normalized text is upper case A-Z, apostrophes and single spaces, with digits spelled out,
like LibriSpeech's transcripts and its LM corpus.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import unicodedata
from typing import Iterable, Sequence, Union

from asr.atomic import atomic_open
from asr.errors import AsrError

_ONES = ("ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN ELEVEN TWELVE THIRTEEN "
         "FOURTEEN FIFTEEN SIXTEEN SEVENTEEN EIGHTEEN NINETEEN").split()
_TENS = "_ _ TWENTY THIRTY FORTY FIFTY SIXTY SEVENTY EIGHTY NINETY".split()
_SCALES = [(10**12, "TRILLION"), (10**9, "BILLION"), (10**6, "MILLION"), (1000, "THOUSAND")]
_ORDINAL_WORDS = {"ONE": "FIRST", "TWO": "SECOND", "THREE": "THIRD", "FIVE": "FIFTH",
                  "EIGHT": "EIGHTH", "NINE": "NINTH", "TWELVE": "TWELFTH"}


def number_to_words(n: int) -> str:
    """Spell out a non-negative integer: 1905 -> 'ONE THOUSAND NINE HUNDRED AND FIVE'."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} HUNDRED" + (f" AND {number_to_words(rest)}" if rest else "")
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            words = f"{number_to_words(high)} {name}"
            if rest:
                words += (" AND " if rest < 100 else " ") + number_to_words(rest)
            return words
    raise AssertionError("unreachable")


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("Y"):
        last = last[:-1] + "IETH"
    else:
        last += "TH"
    return f"{head} {last}".strip()


def _spell_number(match: re.Match) -> str:
    digits, suffix = match.group(1).replace(",", ""), (match.group(2) or "").lower()
    if len(digits) > 15:  # spell very long digit strings digit by digit
        return " " + " ".join(_ONES[int(d)] for d in digits) + " "
    words = number_to_words(int(digits))
    return f" {_ordinal(words) if suffix else words} "


_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(st|nd|rd|th)?\b", re.IGNORECASE)
_SYMBOLS = {"&": " AND ", "%": " PERCENT ", "+": " PLUS ", "@": " AT "}


def normalize_text(text: str) -> str:
    """LibriSpeech-style normalization: 'Hello, World! 42 cats' -> 'HELLO WORLD FORTY TWO CATS'.

    Accents are stripped (é -> E), digits spelled out (ordinals too: 21st -> TWENTY FIRST),
    '&' '%' '+' '@' spelled out, curly apostrophes straightened, every other character that
    is not A-Z or an apostrophe inside a word becomes a word break.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = re.sub(r"(\d)\.(\d)", r"\1 POINT \2", text)
    text = _NUMBER.sub(_spell_number, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = text.upper()
    text = re.sub(r"[^A-Z']+", " ", text)
    # keep apostrophes only inside words (DON'T); at word edges they are quotation marks
    text = re.sub(r"(^|\s)'+", r"\1", text)
    text = re.sub(r"'+(\s|$)", r"\1", text)
    return " ".join(text.split())


class CharTokenizer:
    """Characters as CTC tokens: id 0 is the blank, then the symbols in `symbols` order.

    The default symbol set is the normalized alphabet: space, apostrophe, A-Z.
    """

    BLANK = 0
    DEFAULT_SYMBOLS = " '" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def __init__(self, symbols: Sequence[str] | None = None):
        symbols = list(self.DEFAULT_SYMBOLS if symbols is None else symbols)
        if len(set(symbols)) != len(symbols):
            raise ValueError("duplicate symbols in tokenizer")
        self.symbols: list[str] = symbols
        self._index = {s: i + 1 for i, s in enumerate(symbols)}

    @property
    def vocab_size(self) -> int:
        """Number of outputs of the model: the symbols plus the blank."""
        return len(self.symbols) + 1

    def unknown_symbols(self, text: str) -> set[str]:
        return {c for c in text if c not in self._index}

    def encode(self, text: str) -> list[int]:
        """Token ids of normalized text; raises ValueError on characters outside the set."""
        try:
            return [self._index[c] for c in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the tokenizer's symbol set") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids (blanks dropped, no CTC collapsing: that is the decoder's job)."""
        return "".join(self.symbols[i - 1] for i in ids if i != self.BLANK)

    def to_dict(self) -> dict:
        return {"type": "char", "symbols": self.symbols}

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        if d.get("type") != "char":
            raise ValueError(f"unsupported tokenizer type {d.get('type')!r}")
        return cls(d["symbols"])


class SentencePieceTokenizer:
    """Sentencepiece subwords (BPE or unigram) as CTC tokens, with the same interface as
    `CharTokenizer`: id 0 is the blank and sentencepiece's id i becomes i + 1.

    Trained on normalized text with full character coverage and no BOS/EOS, so encoding
    normalized text never needs the unknown piece; `encode` refuses text that does.
    """

    BLANK = 0

    def __init__(self, model_proto: bytes):
        import sentencepiece

        self.model_proto = bytes(model_proto)
        self._sp = sentencepiece.SentencePieceProcessor(model_proto=self.model_proto)
        self.symbols: list[str] = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size() + 1

    def unknown_symbols(self, text: str) -> set[str]:
        pieces = self._sp.encode(text, out_type=str)
        return {p for p, i in zip(pieces, self._sp.encode(text)) if self._sp.is_unknown(i)}

    def encode(self, text: str) -> list[int]:
        ids = self._sp.encode(text)
        if any(self._sp.is_unknown(i) for i in ids):
            raise ValueError(f"text {text[:40]!r} has characters the sentencepiece model does not know")
        return [i + 1 for i in ids]

    def decode(self, ids: Iterable[int]) -> str:
        return self._sp.decode([i - 1 for i in ids if i != self.BLANK])

    def to_dict(self) -> dict:
        return {"type": "sentencepiece", "model": base64.b64encode(self.model_proto).decode("ascii")}

    @classmethod
    def from_dict(cls, d: dict) -> "SentencePieceTokenizer":
        if d.get("type") != "sentencepiece":
            raise ValueError(f"unsupported tokenizer type {d.get('type')!r}")
        return cls(base64.b64decode(d["model"]))

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, model_type: str = "bpe",
              max_sentences: int = 2_000_000) -> "SentencePieceTokenizer":
        """Train on normalized sentences (one string each)."""
        import sentencepiece

        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size,
                model_type=model_type, character_coverage=1.0, bos_id=-1, eos_id=-1, unk_id=0,
                input_sentence_size=max_sentences, shuffle_input_sentence=True, minloglevel=2)
        except RuntimeError as err:  # e.g. a vocabulary larger than the text allows
            raise AsrError(f"sentencepiece training failed: {str(err).splitlines()[0]}") from None
        return cls(model.getvalue())


Tokenizer = Union[CharTokenizer, SentencePieceTokenizer]
_TOKENIZERS = {"char": CharTokenizer, "sentencepiece": SentencePieceTokenizer}


def tokenizer_from_dict(d: dict) -> Tokenizer:
    """The tokenizer a `to_dict()` came from."""
    kind = d.get("type") if isinstance(d, dict) else None
    if kind not in _TOKENIZERS:
        raise ValueError(f"unknown tokenizer type {kind!r}")
    return _TOKENIZERS[kind].from_dict(d)


def save_tokenizer(tokenizer: Tokenizer, path: str | os.PathLike) -> None:
    """Write a tokenizer as JSON, atomically."""
    with atomic_open(path) as f:
        json.dump(tokenizer.to_dict(), f, ensure_ascii=False)
        f.write("\n")


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Read a tokenizer written by `save_tokenizer` (`asr tokenizer`)."""
    try:
        with open(path, encoding="utf-8") as f:
            return tokenizer_from_dict(json.load(f))
    except FileNotFoundError:
        raise AsrError(f"{path}: tokenizer file not found") from None
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise AsrError(f"{path}: not a tokenizer file ({err})") from None
