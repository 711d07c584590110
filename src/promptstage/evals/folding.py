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
_CONFUSABLES = (
    "\u0261\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1"
    "\u03a4\u03a5\u03a7\u03b1\u03b2\u03b5\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4"
    "\u03c5\u03c7\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422"
    "\u0425\u0430\u0432\u0435\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443"
    "\u0445\u0455\u0456\u0458\u0501\u051d\u0578\u057d"
)
_LATIN = "gabezhikmnoptyxabeikvoptuxabekmhopctxabekmhopctyxsijdwnu"
_HOMOGLYPHS = str.maketrans(_CONFUSABLES, _LATIN)
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
    if not text or sum(
        ch != "\ufffd" and (ch.isprintable() or ch.isspace()) for ch in text
    ) < 0.8 * len(text):
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
