"""The playground: render a saved version with sample variables and call its pinned model (or
an override) through the eval runner's provider clients, so a person can try a version.

Nothing is stored and nothing is promoted: the answer (output, tool calls, tokens, cost,
latency) or the provider's error goes back to the caller. The provider factory comes from the
edge (``server.create_app`` builds it from the settings; this module never reads settings),
and the API key it uses never appears in what this module returns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from promptstage.domain.config import Config, ModelRef
from promptstage.domain.models import Role, Version
from promptstage.domain.template import CompiledTemplate
from promptstage.errors import ConfigurationError, PromptstageError
from promptstage.evals.providers import Provider, ProviderError, RenderedPrompt

from . import drafts
from .access import check
from .context import Context
from .drafts import Draft, sample_values
from .eval_runs import parse_model
from .keys import Principal
from .prompts import require_prompt, require_version

ProviderFactory = Callable[[str], Provider]
"""Opens the client of a ``config.model.provider`` (raises ``ConfigurationError``)."""


@dataclass(frozen=True, slots=True)
class TryResult:
    """What one try gave: the messages sent, and the answer or the error."""

    system: str | None
    messages: list[dict[str, str]]
    model: dict[str, str]
    text: str | None = None
    tool_calls: tuple[dict[str, str], ...] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    finish_reason: str | None = None
    error: str | None = None


async def try_version(
    ctx: Context,
    who: Principal,
    project: str,
    prompt: str,
    number: int,
    samples: Mapping[str, str],
    *,
    providers: ProviderFactory | None,
    model: Mapping[str, str] | None = None,
    max_rendered_bytes: int,
) -> TryResult:
    """Render version ``number`` with ``samples`` and send it to its model (or ``model``).

    Raises:
        PermissionDeniedError: ``who`` is not an editor of ``project``.
        NotFoundError: no such prompt or version. InvalidInputError: a sample or the model
            override is invalid, or the render fails (naming the variable).
        ConfigurationError: this server has no provider clients (``providers`` is ``None``).
    """
    check(who, project, Role.editor)
    override = parse_model(dict(model)) if model else None

    def load() -> Version:
        with ctx.store.unit_of_work() as uow:
            require_prompt(uow, project, prompt)
            return require_version(uow, project, prompt, number)

    version = await asyncio.to_thread(load)  # a store read never blocks the event loop
    return await _call(version, samples, providers, override, max_rendered_bytes)


async def try_draft(
    ctx: Context,
    who: Principal,
    project: str,
    prompt: str,
    base: int,
    draft: Draft,
    samples: Mapping[str, str],
    *,
    providers: ProviderFactory | None,
    max_rendered_bytes: int,
) -> TryResult:
    """Like :func:`try_version` for an unsaved draft (checked as ``drafts.review`` checks it,
    against version ``base``), with the draft's own model. Nothing is written.

    Raises:
        PermissionDeniedError: ``who`` is not an editor of ``project``.
        InvalidInputError: the draft or a sample is invalid, or the render fails.
    """
    check(who, project, Role.editor)
    found = await asyncio.to_thread(drafts.review, ctx, who.actor, project, prompt, base, draft)
    return await _call(found.version, samples, providers, None, max_rendered_bytes)


async def _call(
    version: Version,
    samples: Mapping[str, str],
    providers: ProviderFactory | None,
    override: Mapping[str, str] | None,
    max_rendered_bytes: int,
) -> TryResult:
    compiled = CompiledTemplate(
        version.type,
        version.template,
        version.variables,
        version.includes,
        max_bytes=max_rendered_bytes,
    )
    rendered = RenderedPrompt.from_render(
        compiled.render(sample_values(version.variables, samples))
    )
    used = dict(override or version.config["model"])
    sent = [{"role": m.role, "content": m.content} for m in rendered.messages]
    base = TryResult(rendered.system, sent, used)
    if providers is None:
        raise ConfigurationError(
            "this server has no model provider clients configured for the playground "
            "(PROMPTSTAGE_EVAL_OPENAI_BASE_URL, PROMPTSTAGE_EVAL_ANTHROPIC_BASE_URL)",
            field="model",
        )
    try:
        provider = providers(used["provider"])
    except PromptstageError as exc:  # an unset key variable: the page says which to set
        return replace(base, error=exc.message)
    started = time.monotonic()
    try:
        config = Config.from_dict(version.config)
        outcome = await provider.complete(
            rendered, config, model=ModelRef(used["provider"], used["name"], used["version"])
        )
    finally:
        await provider.aclose()
    if isinstance(outcome, ProviderError):
        return replace(
            base,
            error=f"provider {outcome.kind.value} after {outcome.attempts} attempt(s): "
            f"{outcome.message}",
            latency_ms=round((time.monotonic() - started) * 1000, 3),
        )
    return replace(
        base,
        text=outcome.text,
        tool_calls=tuple({"name": c.name, "arguments": c.arguments} for c in outcome.tool_calls),
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        cost_usd=outcome.cost_usd,
        latency_ms=round(outcome.latency_seconds * 1000, 3),
        finish_reason=outcome.finish_reason,
    )
