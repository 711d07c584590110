"""Prompt names with folders in URL paths: ``support/triage`` travels as ``support%2Ftriage``.

ASGI servers decode the path before routing, so ``%2F`` would turn into a segment separator
and no route would match. :class:`EncodedSlashes` rebuilds ``scope["path"]`` from the raw path
(what the client sent), keeping an encoded slash encoded (and a literal ``%`` as ``%25`` so the
two cannot be confused); the ``prompt`` path convertor turns them back, so a route declared as
``/prompts/{name:prompt}`` receives ``support/triage``; the ``path`` convertor is replaced by
one that decodes them too, so ``{x:path}`` routes see what they saw before. Every other
character is decoded as before, and a path without ``%`` is left alone. Both convertors are
registered when ``promptstage.api`` is imported (``server.py`` imports it before the UI).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from starlette.convertors import Convertor, PathConvertor, register_url_convertor
from starlette.types import ASGIApp, Receive, Scope, Send

_ENCODED_SLASH = re.compile(rb"%2[fF]")


def route_path(raw_path: bytes) -> str:
    """The path to route on: decoded, except that ``%2F`` stays ``%2F`` and ``%`` is ``%25``."""
    parts = _ENCODED_SLASH.split(raw_path.split(b"?", 1)[0])
    return "%2F".join(
        unquote(part.decode("latin-1"), errors="strict").replace("%", "%25") for part in parts
    )


class PromptNameConvertor(Convertor[str]):
    """One path segment holding a prompt name whose folders are sent as ``%2F``."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return value.replace("%2F", "/").replace("%25", "%")

    def to_string(self, value: str) -> str:
        return value.replace("%", "%25").replace("/", "%2F")


class EncodedPathConvertor(PathConvertor):
    """Starlette's ``path`` convertor (the rest of the path, slashes included), reading the
    ``%2F`` and ``%25`` that :class:`EncodedSlashes` keeps: ``{name:path}`` routes (eval suites
    such as ``builtin/security``, static files) see the same value as before."""

    def convert(self, value: str) -> str:
        return value.replace("%2F", "/").replace("%25", "%")


def route_template(scope: Scope) -> str | None:
    """The template of the route that answered (``/prompts/{name}``, the documented spelling,
    not the convertor's ``{name:prompt}``), or None when no route matched."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None


register_url_convertor("prompt", PromptNameConvertor())
register_url_convertor("path", EncodedPathConvertor())


class EncodedSlashes:
    """ASGI middleware: route ``/api/`` requests on the raw path so that ``%2F`` stays inside its
    segment (the admin UI's paths are left as the server decoded them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # Not UTF-8 once decoded: leave the server's path (no route matches: 404). In place,
            # as the router sets "route": what wraps the app sees the route that answered.
            path = routed_path(scope)
            if path is not None:
                scope["path"] = path
        await self.app(scope, receive, send)


def routed_path(scope: Scope) -> str | None:
    """The path an HTTP request is routed on: for an ``/api/`` path whose raw form holds ``%``,
    rebuilt from it (:func:`route_path`), or ``None`` when that is not UTF-8; else the
    server's."""
    raw: Any = scope.get("raw_path")
    path: str = scope["path"]
    if (
        isinstance(raw, bytes)
        and b"%" in raw
        and path[len(scope.get("root_path", "")) :].startswith("/api/")
    ):
        try:
            return route_path(raw)
        except UnicodeDecodeError:
            return None
    return path
