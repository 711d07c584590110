"""Factories for the storage tests: fixed timestamps, prompts, versions, a seeded project."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from promptstage.domain.canonical import version_digest
from promptstage.domain.models import Prompt, Version
from promptstage.store.sql import SqlStore

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def at(seconds: float = 0) -> datetime:
    """A fixed timestamp (with microseconds) plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def make_prompt(project: str, name: str, **overrides: Any) -> Prompt:
    """A text prompt with no versions yet."""
    fields: dict[str, Any] = {
        "project": project, "name": name, "type": "text", "description": f"about {name}",
        "tags": ("a", "b"), "created_at": at(), "latest_version": 0,
    }  # fmt: skip
    fields.update(overrides)
    return Prompt(**fields)


def make_version(prompt: str, number: int, **overrides: Any) -> Version:
    """Version ``number`` of a text prompt, its digest computed from its content."""
    template = overrides.pop("template", f"Hello {{{{ name }}}} v{number}")
    variables = overrides.pop("variables", [{"name": "name", "type": "string", "required": True}])
    config = overrides.pop(
        "config",
        {"model": {"provider": "openai", "name": "gpt-4o"}, "params": {"temperature": 0.2}},
    )
    fields: dict[str, Any] = {
        "prompt": prompt, "number": number,
        "digest": version_digest("text", template, variables, config), "type": "text",
        "template": template, "variables": variables, "config": config, "author": "ana",
        "message": f"v{number}", "parent": number - 1 or None, "created_at": at(number),
        "includes": {},
    }  # fmt: skip
    fields.update(overrides)
    return Version(**fields)


def seed(
    store: SqlStore, project: str = "clinic", prompt: str = "greet", versions: int = 3
) -> None:
    """A project with one prompt and ``versions`` versions."""
    with store.unit_of_work(write=True) as uow:
        uow.create_project(project, "a project", at())
        uow.add_prompt(make_prompt(project, prompt))
        for number in range(1, versions + 1):
            uow.add_version(project, make_version(prompt, number))
