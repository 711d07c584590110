"""Our retry policy for model calls: bounded attempts, exponential backoff with jitter on 429
and 5xx, ``Retry-After`` honoured (seconds or HTTP-date), a per-attempt timeout.

The SDKs' own retries are switched off (``max_retries=0``) so this is the only policy, and its
sleep, clocks and randomness are parameters: tests count the waits instead of timing them.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from promptstage.errors import ConfigurationError

from .types import Completion, ErrorKind, Outcome, ProviderError

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one call is attempted.

    Attributes:
        max_attempts: attempts in all (1: no retry).
        timeout_seconds: bound of one attempt, from sending to the parsed answer.
        backoff_seconds: wait before the second attempt when the server gave no Retry-After;
            doubled after each failure, with up to 50 % jitter taken off.
        max_wait_seconds: longest wait between attempts; a Retry-After above it ends the call
            as ``rate_limited`` rather than holding the run.
    """

    max_attempts: int = 4
    timeout_seconds: float = 60.0
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError(
                "PROMPTSTAGE_EVAL_MAX_ATTEMPTS must be at least 1",
                field="PROMPTSTAGE_EVAL_MAX_ATTEMPTS",
            )
        if not self.timeout_seconds > 0:
            raise ConfigurationError(
                "PROMPTSTAGE_EVAL_TIMEOUT_SECONDS must be above 0",
                field="PROMPTSTAGE_EVAL_TIMEOUT_SECONDS",
            )

    def wait(
        self, attempt: int, retry_after: float | None, random: Callable[[], float]
    ) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based); ``None``: give up.

        The server's ``Retry-After`` is obeyed exactly; without one, exponential backoff with
        jitter (``random()`` in [0, 1) takes up to half of the wait off).
        """
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait_seconds else None
        base: float = min(self.max_wait_seconds, self.backoff_seconds * 2.0 ** (attempt - 1))
        return base * (1 - 0.5 * random())


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, or ``Retry-After`` as seconds or as an
    HTTP-date (relative to ``now``, a Unix time). ``None`` when absent or unreadable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP-date is GMT
            return None
        return max(0.0, when.timestamp() - now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


async def attempt_with_retries(
    send: Callable[[], Awaitable[Outcome]],
    policy: RetryPolicy,
    *,
    provider: str,
    sleep: Sleep,
    random: Callable[[], float],
) -> Outcome:
    """Call ``send`` until it succeeds, fails for good, or the attempts run out.

    Each attempt is bounded by ``policy.timeout_seconds``; a timeout ends the call (a hanging
    endpoint must not hold a run for ``max_attempts`` times the bound).
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            async with asyncio.timeout(policy.timeout_seconds):
                outcome = await send()
        except TimeoutError:
            outcome = ProviderError(
                ErrorKind.TIMEOUT,
                f"no answer within {policy.timeout_seconds:g} s (PROMPTSTAGE_EVAL_TIMEOUT_SECONDS)",
                provider,
            )
        if isinstance(outcome, Completion):
            return replace(outcome, attempts=attempt)
        if not outcome.retryable or attempt >= policy.max_attempts:
            return replace(outcome, attempts=attempt)
        wait = policy.wait(attempt, outcome.retry_after, random)
        if wait is None:
            return replace(
                outcome,
                kind=ErrorKind.RATE_LIMITED,
                attempts=attempt,
                message=f"{outcome.message}; the server asks to wait {outcome.retry_after:g} s, "
                f"over PROMPTSTAGE_EVAL_MAX_WAIT_SECONDS={policy.max_wait_seconds:g}",
            )
        await sleep(wait)
