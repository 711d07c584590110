"""Canonical JSON and content digests (SPEC §2).

The digest of a version is ``sha256:<hex>`` of the canonical JSON (sorted keys, no whitespace,
UTF-8, no NaN) of ``{type, template, variables, config}``. The SDK recomputes it to reject
tampered payloads, so this module must stay dependency-free and byte-for-byte stable.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Serialize ``value`` to canonical JSON bytes: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_digest(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``value``."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


def version_digest(
    type_: str, template: Any, variables: list[dict[str, Any]], config: dict[str, Any]
) -> str:
    """The digest that identifies a version: its template, variables and config (the
    dependency snapshot). ``includes`` is not covered: it is derived from the pinned
    ``{{> name@N }}`` references in the template, and each included version has its own digest."""
    return sha256_digest(
        {"type": type_, "template": template, "variables": variables, "config": config}
    )
