"""Validation of the names users give to projects, prompts and labels (SPEC §2)."""

from __future__ import annotations

import re

from promptstage.errors import InvalidInputError

PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
# Folders: '/'-separated segments, each starting alphanumeric (so no empty segment, no '..',
# no leading or trailing '/'); at most MAX_PROMPT_NAME characters in all (checked apart, so
# that the pattern can be embedded, as in template includes).
PROMPT_NAME = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
MAX_PROMPT_NAME = 128
LABEL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

LATEST = "latest"


def _check(value: object, pattern: re.Pattern[str], field: str, rule: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
        raise InvalidInputError(f"{field} {shown} is not a valid name: use {rule}", field=field)
    return value


def project_name(value: object, field: str = "project") -> str:
    """Return ``value`` if it is a valid project name, else raise naming the rule."""
    return _check(
        value, PROJECT_NAME, field, "1-63 lowercase letters, digits or '-', starting alphanumeric"
    )


def prompt_name(value: object, field: str = "name") -> str:
    """Return ``value`` if it is a valid prompt name: dots group prompts (``booking.system``),
    ``/`` separates folders (``support/triage``); in URL paths a ``/`` is sent as ``%2F``."""
    rule = (
        "1-128 letters, digits, '.', '_', '-' or '/' (between folders), each folder and the "
        "name starting alphanumeric (e.g. booking.system or support/triage)"
    )
    if isinstance(value, str) and len(value) > MAX_PROMPT_NAME:
        raise InvalidInputError(
            f"{field} {value[:77]!r}... is not a valid name: use {rule} "
            f"(it has {len(value)} characters)",
            field=field,
        )
    return _check(value, PROMPT_NAME, field, rule)


def label_name(value: object, field: str = "label", *, movable: bool = True) -> str:
    """Return ``value`` if it is a valid label name; ``latest`` is implicit and never movable."""
    _check(
        value,
        LABEL_NAME,
        field,
        "1-63 lowercase letters, digits, '.', '_' or '-', starting alphanumeric (e.g. prod)",
    )
    if movable and value == LATEST:
        raise InvalidInputError(
            "'latest' always points at the highest version and cannot be moved or removed; "
            "use another label such as 'prod' or 'staging'",
            field=field,
        )
    return str(value)


def variable_name(value: object, field: str = "variables") -> str:
    """Return ``value`` if it is a valid template variable name (an ASCII identifier)."""
    if isinstance(value, str) and value.isidentifier() and not value.isascii():
        raise InvalidInputError(
            f"{field} {value!r} is not a valid name: use an ASCII name; variable names are ASCII letters, digits "
            "and _ (e.g. customer_name)",
            field=field,
        )
    return _check(
        value, VARIABLE_NAME, field, "an identifier of letters, digits and '_' (e.g. customer_name)"
    )
