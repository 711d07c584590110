"""The value ``Client.get`` returns: one prompt version, resolved for one call.

``get`` must cost a few hundred nanoseconds, so what it returns is built ahead of time, one
shared part per (prompt, label, arm), when an entry is built. Only the per-call ``unit`` and
``context`` differ between calls: :func:`for_call` makes an object of three references (the
shared part, the unit, the context) through a mutable twin class with the same slots, and the
other attributes are read through the shared part.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import FrozenInstanceError
from operator import attrgetter
from typing import Any, Final

from promptstage.domain.config import Config, ModelRef, parse_config
from promptstage.domain.template import (
    DEFAULT_MAX_RENDERED_BYTES,
    CompiledTemplate,
    Var,
    check_template,
    parse,
    parse_variables,
)
from promptstage.errors import ConfigurationError, InvalidInputError, TemplateError

__all__ = ["FALLBACK_ARM", "ResolvedPrompt", "for_call", "from_fallback", "rendered_with"]

FALLBACK_ARM: Final = "fallback"
"""The ``arm`` of a prompt built from the caller's ``fallback=`` (nothing was held)."""

Messages = list[dict[str, str]]

# The last render in this thread or task: (the prompt object, the values it was given). A
# prompt object may be shared between threads (``get`` without unit or context returns a
# prebuilt one), so the values live in a context variable, not on the object.
_LAST_RENDER: ContextVar[tuple[object, Mapping[str, Any]] | None] = ContextVar(
    "promptstage_last_render", default=None
)


def rendered_with(prompt: ResolvedPrompt) -> Mapping[str, Any] | None:
    """The values ``prompt.render`` was last given in this thread or task, or ``None`` when
    the last render there was of another prompt object (or none)."""
    last = _LAST_RENDER.get()
    if last is None or last[0] is not prompt:
        return None
    return last[1]


_FIELDS: Final = (
    "name",
    "label",
    "version",
    "digest",
    "type",
    "template",
    "variables",
    "config",
    "arm",
    "release_id",
    "unitless",
)


class _Fixed:
    """What every call served from one (prompt, label, arm) shares: built once per entry."""

    __slots__ = (*_FIELDS, "compiled")

    name: str
    label: str
    version: int | None
    digest: str | None
    type: str
    template: Any
    variables: list[dict[str, Any]]
    config: Config
    arm: str
    release_id: str | None
    unitless: bool
    compiled: CompiledTemplate | None


class ResolvedPrompt:
    """One version of a prompt, chosen for one call.

    Treat ``template``, ``variables`` and ``context`` as read-only: they are shared with the
    client's cache. :meth:`render` returns fresh objects.

    Attributes:
        name: The prompt name, e.g. ``booking.system``.
        label: The label asked for, e.g. ``prod``.
        version: The version number served, or ``None`` for a fallback.
        digest: ``sha256:<hex>`` of the version's content, or ``None`` for a fallback.
        type: ``"text"`` or ``"chat"``.
        template: A string (text) or a list of ``{role, content}`` messages (chat).
        variables: The declared inputs: ``[{name, type, required}]``.
        config: The pinned dependencies: ``config.model.name``, ``config.params``, ...
        arm: ``"baseline"``, ``"canary"``, ``"control"``, or ``"fallback"``.
        release_id: The active release that chose the version, or ``None``.
        unitless: True when a release was active but no unit key was given.
        unit: The unit key given to ``get`` (kept in memory only; hashed in call records).
        context: The context attributes given to ``get``.
    """

    __slots__ = ("_f", "context", "unit")

    _f: _Fixed
    unit: str | None
    context: Mapping[str, Any] | None

    def __init__(
        self,
        name: str,
        label: str,
        version: int | None,
        digest: str | None,
        type: str,
        template: Any,
        variables: list[dict[str, Any]],
        config: Config,
        arm: str,
        release_id: str | None,
        unitless: bool,
        unit: str | None = None,
        context: Mapping[str, Any] | None = None,
        _compiled: CompiledTemplate | None = None,
    ) -> None:
        fixed = _Fixed()
        values = (name, label, version, digest, type, template, variables, config, arm)
        for key, value in zip(_FIELDS, (*values, release_id, unitless), strict=True):
            setattr(fixed, key, value)
        fixed.compiled = _compiled
        _set = object.__setattr__
        _set(self, "_f", fixed)
        _set(self, "unit", unit)
        _set(self, "context", context)

    # The shared attributes, read through the shared part (C-level getters).
    name: str = property(attrgetter("_f.name"))  # type: ignore[assignment]
    label: str = property(attrgetter("_f.label"))  # type: ignore[assignment]
    version: int | None = property(attrgetter("_f.version"))  # type: ignore[assignment]
    digest: str | None = property(attrgetter("_f.digest"))  # type: ignore[assignment]
    type: str = property(attrgetter("_f.type"))  # type: ignore[assignment]
    template: Any = property(attrgetter("_f.template"))
    variables: list[dict[str, Any]] = property(attrgetter("_f.variables"))  # type: ignore[assignment]
    config: Config = property(attrgetter("_f.config"))  # type: ignore[assignment]
    arm: str = property(attrgetter("_f.arm"))  # type: ignore[assignment]
    release_id: str | None = property(attrgetter("_f.release_id"))  # type: ignore[assignment]
    unitless: bool = property(attrgetter("_f.unitless"))  # type: ignore[assignment]

    def __setattr__(self, key: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {key!r}")

    def __delattr__(self, key: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {key!r}")

    def _key(self) -> tuple[Any, ...]:
        f = self._f
        return (*(getattr(f, k) for k in _FIELDS), self.unit, self.context)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not ResolvedPrompt:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={v!r}" for k, v in zip((*_FIELDS, "unit", "context"), self._key(), strict=True)
        )
        return f"ResolvedPrompt({fields})"

    def replace(self, **changes: Any) -> ResolvedPrompt:
        """A copy with some attributes changed (like ``dataclasses.replace``)."""
        values = dict(zip((*_FIELDS, "unit", "context"), self._key(), strict=True))
        values.update(changes)
        return ResolvedPrompt(**values, _compiled=self._f.compiled)

    def render(self, /, **variables: Any) -> str | Messages:
        """Fill the template's placeholders.

        Args:
            **variables: One value per declared variable (strings as they are, other JSON
                values as compact JSON).

        Returns:
            The text of a text prompt, or a new list of ``{role, content}`` messages for a chat
            prompt.

        Raises:
            TemplateError: A required variable is missing, a value is not declared, or it has
                the wrong type; the message names the variable. Or the text would be over
                the client's ``max_rendered_bytes`` (1 MiB by default): the message names
                the include or the variable that makes it so, and the text is never built.
        """
        compiled = self._f.compiled
        if compiled is None:
            compiled = CompiledTemplate(self.type, self.template, self.variables, {})
        result: str | Messages = compiled.render(variables)
        _LAST_RENDER.set((self, variables))  # what Client.call records by default
        return result

    def render_text(self, /, **variables: Any) -> str:
        """Like :meth:`render`, for a text prompt; a chat prompt raises ``TemplateError``."""
        result = self.render(**variables)
        if not isinstance(result, str):
            raise TemplateError(
                f"{self.name} is a chat prompt: use render_messages()", field="type"
            )
        return result

    def render_messages(self, /, **variables: Any) -> Messages:
        """Like :meth:`render`, for a chat prompt; a text prompt raises ``TemplateError``."""
        result = self.render(**variables)
        if isinstance(result, str):
            raise TemplateError(f"{self.name} is a text prompt: use render_text()", field="type")
        return result


class _Draft:
    """Same slots as ResolvedPrompt, mutable: filled, then given ResolvedPrompt's class."""

    __slots__ = ResolvedPrompt.__slots__

    _f: _Fixed
    unit: str | None
    context: Mapping[str, Any] | None


_new = object.__new__


def for_call(
    base: ResolvedPrompt, unit: str | None, context: Mapping[str, Any] | None
) -> ResolvedPrompt:
    """Return ``base`` with ``unit`` and ``context`` replaced (``base`` itself if both are None).

    The shared part is not copied: the new object is three references.
    """
    if unit is None and context is None:
        return base
    d: Any = _new(_Draft)
    d._f = base._f
    d.unit = unit
    d.context = context
    d.__class__ = ResolvedPrompt
    result: ResolvedPrompt = d
    return result


_EMPTY_CONFIG = Config(
    model=ModelRef("", "", ""), params={}, tools=(), retrieval=None, postprocess=None, metadata={}
)


def from_fallback(
    name: str, label: str, fallback: Any, max_bytes: int = DEFAULT_MAX_RENDERED_BYTES
) -> ResolvedPrompt:
    """Wrap the caller's ``fallback=`` into a prompt with ``version=None``, ``arm="fallback"``.

    Args:
        name: The prompt asked for.
        label: The label asked for.
        fallback: A template string (text prompt), a list of ``{role, content}`` messages (chat
            prompt), or a dict ``{"template", "type"?, "variables"?, "config"?}`` where
            ``config`` has the shape of a version's config (``{"model": {...}, ...}``).
            Without declared ``variables`` every placeholder is a required string-or-JSON input.
        max_bytes: The longest text its ``render()`` builds (the client's ``max_rendered_bytes``).

    Raises:
        ConfigurationError: The fallback has none of these shapes or does not parse.
    """
    spec: Mapping[str, Any]
    if isinstance(fallback, str | list):
        spec = {"template": fallback}
    elif isinstance(fallback, Mapping) and "template" in fallback:
        spec = fallback
    else:
        raise ConfigurationError(
            f"fallback for {name!r} must be a template string, a list of {{role, content}} "
            "messages, or a dict with 'template' (and optional 'type', 'variables', 'config')",
            field="fallback",
        )
    template = spec["template"]
    type_ = spec.get("type") or ("text" if isinstance(template, str) else "chat")
    if type_ not in ("text", "chat"):
        raise ConfigurationError(
            f"fallback type {type_!r} must be 'text' or 'chat'", field="fallback"
        )
    try:
        template = check_template(type_, template, "fallback.template")
        if "variables" in spec:
            variables = parse_variables(spec["variables"], "fallback.variables")
        else:
            variables = [
                {"name": var, "type": None, "required": True}
                for var in _placeholders(type_, template)
            ]
        config = (
            Config.from_dict(parse_config(spec["config"])) if "config" in spec else _EMPTY_CONFIG
        )
        compiled = CompiledTemplate(type_, template, variables, {}, max_bytes=max_bytes)
    except InvalidInputError as exc:
        raise ConfigurationError(
            f"fallback for {name!r} is not usable: {exc.message}", field="fallback"
        ) from None
    return ResolvedPrompt(
        name=name,
        label=label,
        version=None,
        digest=None,
        type=type_,
        template=template,
        variables=variables,
        config=config,
        arm=FALLBACK_ARM,
        release_id=None,
        unitless=False,
        _compiled=compiled,
    )


def _placeholders(type_: str, template: Any) -> list[str]:
    texts = [template] if type_ == "text" else [m["content"] for m in template]
    found: dict[str, None] = {}
    for text in texts:
        for seg in parse(text):
            if isinstance(seg, Var):
                found.setdefault(seg.name, None)
    return sorted(found)
