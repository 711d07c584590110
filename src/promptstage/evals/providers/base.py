"""The ``Provider`` protocol and what its two implementations share: the request parameters a
snapshot may set, the mapping of SDK exceptions to ``ProviderError`` kinds, and key redaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from promptstage.domain.config import Config, ModelRef

from .retry import retry_after_seconds
from .types import ErrorKind, Outcome, ProviderError, RenderedPrompt, ToolCall

# Keys a snapshot's params may not set: the provider builds them, and a stream is not parsed.
RESERVED_PARAMS = frozenset({"model", "messages", "system", "tools", "stream"})
MAX_MESSAGE_CHARS = 500


@runtime_checkable
class Provider(Protocol):
    """A model endpoint. ``complete`` never raises for what the endpoint did: it returns a
    ``Completion`` or a ``ProviderError``."""

    name: str

    async def complete(
        self, prompt: RenderedPrompt, config: Config, *, model: ModelRef | None = None
    ) -> Outcome:
        """Send ``prompt`` with ``config``'s params and tools to
        ``model`` (default: ``config.model``)."""
        ...

    async def aclose(self) -> None:
        """Close the connections."""
        ...


class Redactor:
    """Removes an API key from any text that may reach a log, a repr or a stored result."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str | None) -> None:
        self._secret = secret if secret and len(secret) >= 4 else None

    def __call__(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "[redacted]")
        return text

    def __repr__(self) -> str:
        return "Redactor(...)"


def reserved_params_error(params: Mapping[str, Any], provider: str) -> ProviderError | None:
    """A ``request`` error when the snapshot's params set a key the provider owns."""
    clash = sorted(RESERVED_PARAMS & set(params))
    if not clash:
        return None
    return ProviderError(
        ErrorKind.REQUEST,
        f"config.params may not set {clash}: the provider builds them from the prompt and "
        "config.tools; remove them from the version's params",
        provider,
    )


def parse_tool_arguments(name: str, arguments: str) -> ToolCall:
    """A ``ToolCall`` with ``arguments`` parsed, or the reason they do not parse."""
    try:
        value = json.loads(arguments)
    except ValueError as exc:
        return ToolCall(name, arguments, None, f"arguments are not valid JSON: {exc}")
    if not isinstance(value, dict):
        return ToolCall(name, arguments, None, "arguments are not a JSON object")
    return ToolCall(name, arguments, value)


def classify(
    exc: Exception, sdk: Any, *, provider: str, redact: Redactor, now: float
) -> ProviderError | None:
    """Map an exception of the ``openai`` or ``anthropic`` package (``sdk``) to an error value.

    ``None`` for an exception that is not the SDK's: the caller re-raises it (a bug is not a
    model failure).
    """
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError(ErrorKind.TIMEOUT, "the request timed out", provider)
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError(
            ErrorKind.CONNECTION,
            redact(f"could not reach the endpoint: {type(exc).__name__}")[:MAX_MESSAGE_CHARS],
            provider,
        )
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        detail = redact(_error_message(exc))[:MAX_MESSAGE_CHARS]
        message = f"HTTP {status}: {detail}"
        if status in (401, 403):
            kind = ErrorKind.AUTH
            message += (
                " (check the API key in the environment variable that "
                f"PROMPTSTAGE_EVAL_{provider.upper()}_API_KEY_ENV names)"
            )
        elif status == 429:
            kind = ErrorKind.RATE_LIMITED
        elif status >= 500 or status == 408:
            kind = ErrorKind.SERVER_ERROR
        else:
            kind = ErrorKind.REQUEST
        headers = dict(exc.response.headers.items())
        return ProviderError(
            kind, message, provider, status=status, retry_after=retry_after_seconds(headers, now)
        )
    if isinstance(exc, sdk.APIResponseValidationError | ValueError):
        return malformed(f"{type(exc).__name__}", provider, redact)
    return None


def malformed(detail: str, provider: str, redact: Redactor) -> ProviderError:
    """A 2xx answer that is not a response of the protocol."""
    return ProviderError(
        ErrorKind.MALFORMED,
        redact(f"the endpoint answered with a malformed response: {detail}")[:MAX_MESSAGE_CHARS],
        provider,
    )


def _error_message(exc: Any) -> str:
    """The ``error.message`` of an OpenAI or Anthropic error body, else the SDK's message."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(getattr(exc, "message", "") or type(exc).__name__)
