"""promptstage: versioned prompts with environment labels, instant rollback and releases.

This package's top level is the runtime SDK only::

    from promptstage import Client

    ps = Client("http://127.0.0.1:8700", project="clinic", api_key="ps_...")
    p = ps.get("booking.system", label="prod", unit="user-42")

The client classes load lazily (on first attribute access), so ``import promptstage.errors``
or the server's own imports do not pay for the SDK's HTTP stack; nothing runs at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptstage.errors import (
    AuthenticationError,
    ConfigurationError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PromptstageError,
    PromptUnavailableError,
    SDKError,
    TemplateError,
    TransportError,
)

if TYPE_CHECKING:
    from promptstage.sdk import AsyncClient, Call, Client, ResolvedPrompt, Status

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "Call",
    "Client",
    "ConfigurationError",
    "IntegrityError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "PromptUnavailableError",
    "PromptstageError",
    "ResolvedPrompt",
    "SDKError",
    "Status",
    "TemplateError",
    "TransportError",
]

_LAZY = frozenset({"AsyncClient", "Call", "Client", "ResolvedPrompt", "Status"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from promptstage import sdk

        value = getattr(sdk, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'promptstage' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
