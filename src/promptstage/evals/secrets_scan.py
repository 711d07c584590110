"""Secrets in text: detect-secrets' plugins run in memory, plus API-key shapes it lacks.

detect-secrets is used as a library: each plugin's ``analyze_line`` on each line, no files, no
baseline, no network. Its "Public IP" plugin is left out (an address is not a secret). The
key shapes below cover current OpenAI, Anthropic, Google, Hugging Face, GitHub fine-grained and
Stripe keys, AWS secret access keys next to their name, and bearer tokens.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_LINE = 10_000
_SKIPPED_PLUGINS = frozenset({"Public IP (ipv4)"})

KEY_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("OpenAI API key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("GitHub fine-grained token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}")),
    ("Stripe key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    (
        "AWS secret access key",
        re.compile(r"(?i)aws.{0,20}secret.{0,20}[=:]\s*['\"]?[A-Za-z0-9/+]{40}\b"),
    ),
    ("Bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{24,}=*")),
    ("Private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
)


@dataclass(frozen=True, slots=True)
class SecretMatch:
    kind: str
    start: int
    end: int
    value: str


def _is_plugin(attribute: Any) -> bool:
    from detect_secrets.plugins.base import BasePlugin

    return (
        inspect.isclass(attribute)
        and issubclass(attribute, BasePlugin)
        and isinstance(attribute.__dict__.get("secret_type"), str)
    )


@lru_cache(maxsize=1)
def _plugins() -> tuple[Any, ...]:
    """One instance of every built-in detect-secrets plugin. Imported from the package
    directly: detect-secrets' own registry also loads custom plugins named in its global
    settings (from files), which an in-memory scanner must not do."""
    from detect_secrets import plugins
    from detect_secrets.util.importlib import import_types_from_package

    classes = import_types_from_package(plugins, filter=lambda x: not _is_plugin(x))
    unique = {cls.secret_type: cls for cls in classes}
    return tuple(cls() for kind, cls in sorted(unique.items()) if kind not in _SKIPPED_PLUGINS)


def find_secrets(text: str) -> Iterator[SecretMatch]:
    """Every secret-looking value in ``text`` with its offset, without duplicates of a span.

    Raises whatever a detect-secrets plugin raises; assertion and static-check callers turn
    that into a failed (closed) result.
    """
    seen: set[tuple[int, int]] = set()
    for kind, pattern in KEY_SHAPES:
        for m in pattern.finditer(text):
            if m.span() not in seen:
                seen.add(m.span())
                yield SecretMatch(kind, m.start(), m.end(), m.group(0))
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        chunk = line[:MAX_LINE]
        for plugin in _plugins():
            for found in plugin.analyze_line(filename="prompt", line=chunk, line_number=number):
                value = found.secret_value or ""
                at = chunk.find(value) if value else -1
                start = offset + max(at, 0)
                span = (start, start + len(value))
                if any(s <= span[0] and span[1] <= e for s, e in seen):
                    continue
                seen.add(span)
                yield SecretMatch(str(found.type), span[0], span[1], value)
        offset += len(line) + 1
