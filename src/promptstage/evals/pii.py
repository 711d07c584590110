"""PII in text: payment cards (Luhn + issuer prefixes), IBANs (mod 97), e-mail addresses,
phone numbers (E.164 and North American), and US Social Security numbers (format rules).

Regexes find candidates; validators keep only the ones that pass their checksum or rules, so
``4111 1111 1111 1112`` (bad Luhn) and ``GB00 WEST ...`` (bad mod 97) are not reported.
Every pattern here is linear (no nested quantifiers) and the input is bounded by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

PII_KINDS = ("card", "iban", "email", "phone", "ssn")

_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}\b"
)
_PHONE = re.compile(
    r"(?<![\w+])(?:\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"
    r"|\(?[2-9]\d{2}\)?[ .-]?[2-9]\d{2}[ .-]\d{4})(?![\w])"
)
_SSN = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")

# Lengths of IBANs per country (ISO 13616 registry, the common ones); others: 15-34.
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: str
    start: int
    end: int
    value: str


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum."""
    if not digits.isdigit() or not digits:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The card network an all-digit number belongs to by prefix and length, or ``None``."""
    n = len(digits)
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    two, four = int(digits[:2]), int(digits[:4])
    if n == 16 and (51 <= two <= 55 or 2221 <= four <= 2720):
        return "mastercard"
    if n == 15 and two in (34, 37):
        return "amex"
    if n in (16, 19) and (digits.startswith(("6011", "65")) or 644 <= int(digits[:3]) <= 649):
        return "discover"
    if n in (16, 19) and 3528 <= four <= 3589:
        return "jcb"
    if n == 14 and (two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305):
        return "diners"
    if 16 <= n <= 19 and two == 62:
        return "unionpay"
    return None


def is_card(text: str) -> bool:
    """A card number: 13-19 digits (spaces or dashes allowed), a known prefix, valid Luhn."""
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and card_brand(digits) is not None and luhn_valid(digits)


def iban_valid(text: str) -> bool:
    """Whether ``text`` (spaces allowed) is an IBAN with the right length and mod-97 check."""
    iban = text.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """US SSN format rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return (
        area not in ("000", "666")
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
    )


def _overlaps(span: tuple[int, int], taken: Iterable[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def find_pii(text: str, kinds: Iterable[str] = PII_KINDS) -> Iterator[PiiMatch]:
    """Every validated PII value in ``text``, in the order of ``kinds`` then of position.

    A span reported for one kind is not reported again for a later kind (a card number is not
    also a phone number).
    """
    wanted = set(kinds)
    taken: list[tuple[int, int]] = []

    def emit(kind: str, m: re.Match[str]) -> Iterator[PiiMatch]:
        if not _overlaps(m.span(), taken):
            taken.append(m.span())
            yield PiiMatch(kind, m.start(), m.end(), m.group(0))

    if "card" in wanted:
        for m in _CARD.finditer(text):
            if is_card(m.group(0)):
                yield from emit("card", m)
    if "iban" in wanted:
        for m in _IBAN.finditer(text):
            if iban_valid(m.group(0)):
                yield from emit("iban", m)
    if "ssn" in wanted:
        for m in _SSN.finditer(text):
            if ssn_valid(m.group(1), m.group(3), m.group(4)):
                yield from emit("ssn", m)
    if "email" in wanted:
        for m in _EMAIL.finditer(text):
            yield from emit("email", m)
    if "phone" in wanted:
        for m in _PHONE.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            if 10 <= len(digits) <= 15:
                yield from emit("phone", m)
