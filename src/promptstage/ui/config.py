"""What the UI's views need besides the request, built once by ``ui.app.install``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from promptstage.domain.webhooks import HostPolicy
from promptstage.service.context import Context
from promptstage.service.keys import Authenticator
from promptstage.service.playground import ProviderFactory


class FailureGuard(Protocol):
    """Failed authentications per client IP, shared with the API's keys (``api/ratelimit.py``
    ``AuthFailures``): a refused sign-in counts like a refused key."""

    def blocked_for(self, ip: str, now: float) -> float: ...

    async def failed(self, ip: str, now: float) -> float: ...


@dataclass(frozen=True, slots=True)
class UiConfig:
    """The service context, the key authenticator (the instance admin signs in with a key),
    the failed-sign-in guard, the session lifetimes, the render bound and the settings the
    services take as arguments."""

    ctx: Context
    authenticator: Authenticator
    failures: FailureGuard
    idle: timedelta
    absolute: timedelta
    max_rendered_bytes: int
    change_request_ttl: timedelta
    """How long a change request opened from the UI stays open (``change_request_ttl_hours``)."""
    webhook_policy: HostPolicy
    """Where webhooks may point (``webhook_allowed_hosts``)."""
    eval_providers: ProviderFactory | None = None
    """The playground's model clients (the eval runner's, built from the settings by
    ``server.create_app``); ``None``: the playground says none is configured."""
