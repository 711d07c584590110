"""Text folding for fuzzy leak detection: the forms a model may write a secret in.

``fold`` maps a text to a canonical form: NFKC, homoglyphs to Latin, case folded, leetspeak
digits and symbols to letters, and everything that is not a letter or digit removed (so spaced,
dotted or line-broken spellings fold together). ``decodings`` yields the text as written plus
what it decodes to under rot13, base64 and hex runs, and reversed, so that an encoded or
reversed echo of a secret is still found. The same folding is applied to the secret and to the
output, so a secret's own digits fold consistently.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Iterator

# Confusable letters (Cyrillic, Greek, fullwidth is handled by NFKC) mapped to Latin.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d",
        "ɡ": "g", "ո": "n", "ս": "u", "ԝ": "w", "А": "a", "В": "b", "Е": "e", "К": "k",
        "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t", "Х": "x", "α": "a",
        "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x", "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i",
        "Κ": "k", "Μ": "m", "Ν": "n", "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    }
)  # fmt: skip
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a",
     "$": "s", "!": "i", "|": "i", "+": "t"}
)  # fmt: skip
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
_HEX_RUN = re.compile(r"\b(?:[0-9a-fA-F]{2}){4,}\b|\b[0-9a-fA-F]{2}(?:[ :][0-9a-fA-F]{2}){3,}\b")
MAX_DECODED_RUNS = 200


def fold(text: str) -> str:
    """The canonical form of ``text`` used on both sides of a fuzzy comparison."""
    text = unicodedata.normalize("NFKC", text).translate(_HOMOGLYPHS).casefold()
    text = text.translate(_HOMOGLYPHS).translate(_LEET)
    text = unicodedata.normalize("NFKD", text)
    return _NOT_ALNUM.sub("", text.encode("ascii", "ignore").decode("ascii"))


def rot13(text: str) -> str:
    """ROT13 of ``text`` (letters only)."""
    return codecs.encode(text, "rot13")


def _printable(data: bytes) -> str | None:
    text = data.decode("utf-8", errors="replace")
    if not text or sum(ch != "\ufffd" and (ch.isprintable() or ch.isspace()) for ch in text) < 0.8 * len(text):
        return None
    return text


def _b64(run: str) -> str | None:
    run = run.rstrip("=")
    for alphabet in (None, b"-_"):
        padded = run + "=" * (-len(run) % 4)
        try:
            data = (
                base64.b64decode(padded, validate=True)
                if alphabet is None
                else base64.urlsafe_b64decode(padded)
            )
        except (binascii.Error, ValueError):
            continue
        text = _printable(data)
        if text is not None:
            return text
    return None


def decodings(text: str) -> Iterator[tuple[str, str]]:
    """``(how, text)`` for the text as written and each decoding of it that is printable."""
    yield "plain", text
    yield "rot13", rot13(text)
    yield "reversed", text[::-1]
    found = 0
    for match in _B64_RUN.finditer(text):
        decoded = _b64(match.group(0))
        if decoded is not None:
            found += 1
            yield f"base64 at offset {match.start()}", decoded
        if found >= MAX_DECODED_RUNS:
            break
    for match in _HEX_RUN.finditer(text):
        decoded = _printable(bytes.fromhex(re.sub(r"[ :]", "", match.group(0))))
        if decoded is not None:
            yield f"hex at offset {match.start()}", decoded
