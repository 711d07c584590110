"""The values a provider takes and returns: a rendered prompt in, a completion or an error out.

A provider never raises for something the model service did: every failure becomes a
``ProviderError`` value with a ``kind``, so a runner records it and the gate fails closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from promptstage.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation: ``role`` is ``user`` or ``assistant``."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A rendered version: the system prompt (or ``None``) and the conversation after it."""

    system: str | None
    messages: tuple[Message, ...]

    @classmethod
    def from_render(cls, rendered: str | Iterable[Mapping[str, Any]]) -> RenderedPrompt:
        """Build from what a template renders to.

        A text template renders to a string: one user message. A chat template renders to
        ``[{role, content}, ...]``: its ``system`` messages are joined (blank line between) into
        the system prompt, the other messages keep their order.

        Raises:
            InvalidInputError: a message is not ``{role, content}`` with string values.
        """
        if isinstance(rendered, str):
            return cls(None, (Message("user", rendered),))
        system: list[str] = []
        messages: list[Message] = []
        for i, item in enumerate(rendered):
            role, content = item.get("role"), item.get("content")
            if not isinstance(role, str) or not isinstance(content, str):
                raise InvalidInputError(
                    f"rendered[{i}] must be {{role, content}} with string values",
                    field=f"rendered[{i}]",
                )
            if role == "system":
                system.append(content)
            else:
                messages.append(Message(role, content))
        return cls("\n\n".join(system) if system else None, tuple(messages))


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model asked for.

    ``arguments`` is the JSON text as the model sent it; ``parsed`` its value when it is a JSON
    object, else ``None`` with ``parse_error`` saying why (a grader treats that as a failure).
    """

    name: str
    arguments: str
    parsed: dict[str, Any] | None
    parse_error: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer to one case.

    ``cost_usd`` is ``None`` when the model is not in the price table (unknown, not free).
    ``latency_seconds`` is the successful attempt's; ``attempts`` counts retries too.
    """

    text: str
    tool_calls: tuple[ToolCall, ...]
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    latency_seconds: float
    model: str
    finish_reason: str | None
    provider: str
    attempts: int = 1


class ErrorKind(StrEnum):
    """Why a call did not produce a completion."""

    TIMEOUT = "timeout"  # no answer within the per-call timeout (not retried)
    RATE_LIMITED = "rate_limited"  # 429 after every attempt, or a Retry-After over the cap
    SERVER_ERROR = "server_error"  # 5xx after every attempt
    CONNECTION = "connection"  # the endpoint could not be reached, after every attempt
    MALFORMED = "malformed"  # a 2xx answer that is not a valid response of the protocol
    AUTH = "auth"  # 401/403: the key is missing, wrong or lacks access
    REQUEST = "request"  # another 4xx, or a request we refuse to send (reserved params)


RETRYABLE = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.SERVER_ERROR, ErrorKind.CONNECTION})


@dataclass(frozen=True, slots=True)
class ProviderError:
    """A failed call, as a value. Its message never holds the API key."""

    kind: ErrorKind
    message: str
    provider: str
    status: int | None = None
    attempts: int = 1
    retry_after: float | None = field(default=None, compare=False)

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


Outcome = Completion | ProviderError
