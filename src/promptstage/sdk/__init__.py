"""The runtime SDK: resolve prompt labels from memory, keep them current, record calls.

Public names are re-exported by :mod:`promptstage`; see ``docs/sdk.md``. Each loads on first
use, so a sync-only program never imports ``asyncio`` for ``AsyncClient``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .aclient import AsyncClient
    from .calls import Call
    from .client import Client
    from .prompt import ResolvedPrompt
    from .status import Status

__all__ = ["AsyncClient", "Call", "Client", "ResolvedPrompt", "Status"]

_MODULES = {
    "AsyncClient": "aclient",
    "Call": "calls",
    "Client": "client",
    "ResolvedPrompt": "prompt",
    "Status": "status",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
