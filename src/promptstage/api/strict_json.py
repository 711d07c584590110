"""Strict JSON for request bodies: no ``NaN``/``Infinity``, no duplicate keys.

Python's ``json`` module accepts both by default, but they are not JSON (RFC 8259): ``NaN``
cannot be stored or canonicalised (digests), and with duplicate keys two parsers can read two
different documents from the same bytes (the last key wins here, the first in others), which
breaks what was reviewed against what is stored.
"""

from __future__ import annotations

import json
from typing import Any

JSON_TYPES = (b"application/json",)


class _Refused(ValueError):
    """A strictness rule the body breaks (carries the message for the client)."""


def _no_constants(name: str) -> Any:
    raise _Refused(
        f"request body contains {name}, which is not valid JSON; send a finite number or null"
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(
                f"request body has the key {key!r} twice in one object; send each key once"
            )
        out[key] = value
    return out


def is_json(content_type: bytes | None) -> bool:
    """Whether a ``Content-Type`` header value names JSON (``None``: absent, parsed as JSON)."""
    if content_type is None:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith(b"application/") and media.endswith(b"+json"))


PARSED = "promptstage.json"
"""Scope key under which the strictly parsed body is kept, so a route need not parse again."""


def parse(body: bytes) -> tuple[Any, str | None]:
    """``(document, None)`` for strict JSON, ``(None, problem)`` when a strictness rule is
    broken, and ``(None, None)`` for an empty body or one that is not JSON at all (left to the
    route, which answers its own 400)."""
    if not body.strip():
        return None, None
    try:
        return json.loads(
            body, object_pairs_hook=_no_duplicates, parse_constant=_no_constants
        ), None
    except _Refused as exc:
        return None, str(exc)
    except RecursionError:
        return None, "request body is nested too deeply to parse; flatten it"
    except ValueError:  # not JSON (or not UTF-8): the route's own parsing explains it
        return None, None


def problem(body: bytes) -> str | None:
    """What makes ``body`` non-strict JSON, or ``None`` if it is strict (or empty)."""
    return parse(body)[1]
