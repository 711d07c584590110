"""Shared setup of the ship pages' tests: prompts with history in project ``shop``."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from promptstage.service import labels, prompts
from promptstage.service.context import Context

from .conftest import PROJECT, csrf_of, sign_in

MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}
BASE = f"/ui/p/{PROJECT}/prompts"


def seed(ctx: Context) -> None:
    """``greet`` (text): v1, v2; ``prod`` moved 1 -> 2, ``staging`` at 1. ``chat`` (chat): v1."""
    prompts.create_prompt(ctx, "test", PROJECT, "greet", "text")
    for text in ("Hello {{ who }}", "Hi {{ who }}!"):
        prompts.write_version(
            ctx, "test", PROJECT, "greet", template=text, config={"model": MODEL}, message=text
        )
    labels.move_label(ctx, "test", PROJECT, "greet", "prod", 1)
    labels.move_label(ctx, "test", PROJECT, "greet", "prod", 2)
    labels.move_label(ctx, "test", PROJECT, "greet", "staging", 1)
    prompts.create_prompt(ctx, "test", PROJECT, "chat", "chat")
    prompts.write_version(
        ctx,
        "test",
        PROJECT,
        "chat",
        template=[{"role": "system", "content": "Help {{ who }}"}],
        config={"model": MODEL},
    )


def as_user(client: TestClient, name: str, page: str = "/ui/") -> str:
    """Sign ``client`` in as ``name``; returns the CSRF token of ``page``."""
    assert sign_in(client, name).status_code == 303
    return csrf_of(client, page)


def hidden_fields(page: str) -> dict[str, str]:
    """The fields of the page's forms as a browser would send them (inputs, textareas, the
    selected options, checked boxes); the last form wins where names repeat."""
    fields: dict[str, str] = {}
    for tag in re.finditer(r"<input([^>]*)>", page):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag.group(1)))
        if "name" not in attrs or attrs.get("type") in ("submit",):
            continue
        if attrs.get("type") == "checkbox" and "checked" not in tag.group(1):
            continue
        fields[attrs["name"]] = html.unescape(attrs.get("value", ""))
    for area in re.finditer(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        fields[area.group(1)] = html.unescape(area.group(2))
    for select in re.finditer(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', select.group(2))
        first = re.search(r'<option value="([^"]*)"', select.group(2))
        fields[select.group(1)] = html.unescape(
            (chosen or first).group(1) if (chosen or first) else ""
        )
    return fields
