"""The editor's unsaved draft: check it as ``write_version`` would, render it with sample values
(the SDK's renderer, ``domain/template.py``), and diff it against the version it started from.
Nothing here writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptstage.domain.config import check_tool_schemas
from promptstage.domain.diff import diff_versions
from promptstage.domain.models import Version
from promptstage.domain.template import CompiledTemplate
from promptstage.errors import InvalidInputError

from .context import Context
from .dep_refs import resolve_config
from .prompts import draft_in, require_prompt, require_version


@dataclass(frozen=True, slots=True)
class Draft:
    """What the editor's form holds: the template (text, or chat messages), the declared
    variables (``None``: every placeholder, as a required string) and the config."""

    template: Any
    variables: list[dict[str, Any]] | None
    config: Any


@dataclass(frozen=True, slots=True)
class Review:
    """A checked draft: the version it would become, its diff against ``base``, and the
    existing version with the same content (saving it would return that one), if any."""

    version: Version
    base: Version
    diff: dict[str, Any]
    existing: Version | None


def _checked(ctx: Context, project: str, prompt: str, draft: Draft, actor: str) -> Version:
    with ctx.store.unit_of_work() as uow:
        config = resolve_config(uow, project, draft.config)
        check_tool_schemas(config["tools"])
        return draft_in(
            ctx,
            uow,
            project,
            prompt,
            draft.template,
            draft.variables,
            config,
            actor,
            "",
            ctx.clock(),
        )


def review(ctx: Context, actor: str, project: str, prompt: str, base: int, draft: Draft) -> Review:
    """Check ``draft`` and diff it against version ``base``.

    Raises:
        InvalidInputError: naming the field to fix (as ``write_version`` would).
        NotFoundError: the prompt or the base version does not exist.
    """
    version = _checked(ctx, project, prompt, draft, actor)
    with ctx.store.unit_of_work() as uow:
        require_prompt(uow, project, prompt)
        old = require_version(uow, project, prompt, base, "from")
        existing = uow.get_version_by_digest(project, prompt, version.digest)
    return Review(version, old, diff_versions(old, version), existing)


def sample_values(variables: list[dict[str, Any]], raw: Mapping[str, str]) -> dict[str, Any]:
    """The preview's sample values: text for string variables, JSON for the other types; an
    empty sample is left out (a required variable then fails the render, by name).

    Raises:
        InvalidInputError: naming ``sample.<name>``: not JSON of the variable's type.
    """
    values: dict[str, Any] = {}
    for spec in variables:
        name = spec["name"]
        text = raw.get(name, "")
        if text == "":
            continue
        if spec.get("type") in (None, "string"):
            values[name] = text
            continue
        try:
            values[name] = json.loads(text)
        except ValueError:
            raise InvalidInputError(
                f"sample value of {name!r} must be JSON of type {spec['type']} (e.g. 3, true, "
                '["a"], {"k": 1}); write it as JSON',
                field=f"sample.{name}",
            ) from None
    return values


def preview(
    ctx: Context,
    actor: str,
    project: str,
    prompt: str,
    draft: Draft,
    samples: Mapping[str, str],
    *,
    max_rendered_bytes: int,
) -> Any:
    """Render ``draft`` with ``samples`` exactly as the SDK would render the saved version.

    Returns:
        The rendered text, or the rendered chat messages.

    Raises:
        InvalidInputError: the draft is invalid, or the render fails (a missing variable, a
            value of the wrong type, over ``max_rendered_bytes``), naming the variable.
    """
    version = _checked(ctx, project, prompt, draft, actor)
    compiled = CompiledTemplate(
        version.type,
        version.template,
        version.variables,
        version.includes,
        max_bytes=max_rendered_bytes,
    )
    return compiled.render(sample_values(version.variables, samples))
