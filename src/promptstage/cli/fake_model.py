"""A local fake model server speaking the OpenAI chat-completions and Anthropic Messages wire
protocols, for development and tests (``promptstage dev fake-model``). Not in the product path.

``fake_model_app(behaviour=...)`` is a Starlette app: ``POST /v1/chat/completions`` (OpenAI,
also under ``/chat/completions``) and ``POST /v1/messages`` (Anthropic). The behaviour of one
request is the ``X-Fake-Behaviour`` header, else a model named ``fake-NAME``, else the server's
(``fake_behaviours.Behaviour``). Everything is deterministic. ``app.state.fake`` counts requests
and the most requests in flight at once. With ``api_key`` set, a request with another key gets
401 in the provider's shape, and the message repeats the key it got (harsher than real services,
which mask it, so the client's redaction is tested).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .fake_behaviours import Behaviour, Conversation, Reply, Tool, behaviour_of, reply


@dataclass
class FakeModelState:
    """What the server saw: for tests and the benchmark."""

    behaviour: Behaviour
    slow_seconds: float = 2.0
    retry_after: str = "1"
    failures_before_success: int = 1
    hang_seconds: float = 3600.0
    api_key: str | None = field(default=None, repr=False)
    served_model: str | None = None
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)

    def remember(self, body: dict[str, Any]) -> None:
        self.bodies.append(body)
        del self.bodies[:-100]


def fake_model_app(
    behaviour: Behaviour | str = Behaviour.REFUSE,
    *,
    slow_seconds: float = 2.0,
    retry_after: str = "1",
    failures_before_success: int = 1,
    hang_seconds: float = 3600.0,
    api_key: str | None = None,
    served_model: str | None = None,
) -> Starlette:
    """The fake model server as an ASGI app; ``app.state.fake`` is its ``FakeModelState``.

    Args:
        behaviour: the default behaviour of every request.
        slow_seconds: how long ``slow`` sleeps (header ``X-Fake-Slow-Seconds`` per request).
        retry_after: the ``Retry-After`` of ``flaky-429``, seconds or an HTTP-date (header
            ``X-Fake-Retry-After`` per request).
        failures_before_success: 429s ``flaky-429`` sends for one request body before answering.
        hang_seconds: how long ``hang`` holds a request.
        api_key: the only key accepted; ``None`` accepts any.
        served_model: the model every answer reports (``response.model``), as a provider does
            when it serves another snapshot than the one asked for; ``None``: the one asked for.
    """
    state = FakeModelState(
        Behaviour(behaviour),
        slow_seconds=slow_seconds,
        retry_after=retry_after,
        failures_before_success=failures_before_success,
        hang_seconds=hang_seconds,
        api_key=api_key,
        served_model=served_model,
    )

    async def openai_chat(request: Request) -> Response:
        return await _serve(request, state, _OpenAIWire())

    async def anthropic_messages(request: Request) -> Response:
        return await _serve(request, state, _AnthropicWire())

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", openai_chat, methods=["POST"]),
            Route("/chat/completions", openai_chat, methods=["POST"]),
            Route("/v1/messages", anthropic_messages, methods=["POST"]),
        ]
    )
    app.state.fake = state
    return app


async def _serve(request: Request, state: FakeModelState, wire: _Wire) -> Response:
    state.requests += 1
    state.in_flight += 1
    state.max_in_flight = max(state.max_in_flight, state.in_flight)
    try:
        return await _answer(request, state, wire)
    finally:
        state.in_flight -= 1


async def _answer(request: Request, state: FakeModelState, wire: _Wire) -> Response:
    raw = await request.body()
    key = wire.key(request)
    if state.api_key is not None and key != state.api_key:
        return wire.error(401, f"Incorrect API key provided: {key}")
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("not an object")
        conversation = wire.conversation(body)
        behaviour = behaviour_of(
            str(body.get("model", "")), request.headers.get("x-fake-behaviour"), state.behaviour
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return wire.error(400, f"invalid request body: {exc}")
    state.remember(body)
    if behaviour is Behaviour.SLOW:
        await asyncio.sleep(float(request.headers.get("x-fake-slow-seconds", state.slow_seconds)))
    elif behaviour is Behaviour.HANG:
        await asyncio.sleep(state.hang_seconds)
    elif behaviour is Behaviour.ERROR_500:
        return wire.error(500, "The server had an error while processing your request.")
    elif behaviour is Behaviour.MALFORMED:
        return Response(b'{"id": "broken", "choices": [', media_type="application/json")
    elif behaviour is Behaviour.FLAKY_429:
        digest = hashlib.sha256(raw).hexdigest()
        seen = state.attempts.get(digest, 0)
        state.attempts[digest] = seen + 1
        if seen < state.failures_before_success:
            retry_after = request.headers.get("x-fake-retry-after", state.retry_after)
            return wire.error(429, "Rate limit reached; retry later.", {"retry-after": retry_after})
    answer = reply(behaviour, conversation)
    model = state.served_model or str(body.get("model", ""))
    return JSONResponse(wire.completion(model, answer, conversation))


class _Wire:
    def key(self, request: Request) -> str | None:
        raise NotImplementedError

    def conversation(self, body: dict[str, Any]) -> Conversation:
        raise NotImplementedError

    def completion(self, model: str, answer: Reply, conversation: Conversation) -> Any:
        raise NotImplementedError

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        raise NotImplementedError


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


class _OpenAIWire(_Wire):
    def key(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth else None

    def conversation(self, body: dict[str, Any]) -> Conversation:
        system: list[str] = []
        turns: list[tuple[str, str]] = []
        for message in body["messages"]:
            role, text = str(message["role"]), _text_of(message.get("content"))
            if role in ("system", "developer"):
                system.append(text)
            else:
                turns.append((role, text))
        tools = tuple(
            Tool(str(t["function"]["name"]), dict(t["function"].get("parameters") or {}))
            for t in body.get("tools") or ()
        )
        return Conversation("\n\n".join(system), tuple(turns), tools)

    def completion(self, model: str, answer: Reply, conversation: Conversation) -> Any:
        calls = [
            {
                "id": f"call_fake_{i}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for i, (name, arguments) in enumerate(answer.tool_calls)
        ]
        message: dict[str, Any] = {"role": "assistant", "content": answer.text or None}
        if calls:
            message["tool_calls"] = calls
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": conversation.input_tokens,
                "completion_tokens": answer.output_tokens,
                "total_tokens": conversation.input_tokens + answer.output_tokens,
            },
        }

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        kind, code = {
            400: ("invalid_request_error", None),
            401: ("invalid_request_error", "invalid_api_key"),
            429: ("requests", "rate_limit_exceeded"),
            500: ("server_error", None),
        }[status]
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return JSONResponse(body, status_code=status, headers=headers)


class _AnthropicWire(_Wire):
    def key(self, request: Request) -> str | None:
        # x-api-key, or a bearer token (newer ``anthropic`` clients send their key so).
        auth = request.headers.get("authorization", "")
        return request.headers.get("x-api-key") or (auth.removeprefix("Bearer ") or None)

    def conversation(self, body: dict[str, Any]) -> Conversation:
        turns = tuple((str(m["role"]), _text_of(m.get("content"))) for m in body["messages"])
        tools = tuple(
            Tool(str(t["name"]), dict(t.get("input_schema") or {})) for t in body.get("tools") or ()
        )
        return Conversation(_text_of(body.get("system", "")), turns, tools)

    def completion(self, model: str, answer: Reply, conversation: Conversation) -> Any:
        content: list[dict[str, Any]] = []
        if answer.text:
            content.append({"type": "text", "text": answer.text})
        for i, (name, arguments) in enumerate(answer.tool_calls):
            try:
                value = json.loads(arguments)
            except ValueError:  # tool_use.input is always an object on this wire
                value = {"raw": arguments}
            content.append(
                {"type": "tool_use", "id": f"toolu_fake_{i}", "name": name, "input": value}
            )
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "tool_use" if answer.tool_calls else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": conversation.input_tokens,
                "output_tokens": answer.output_tokens,
            },
        }

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            429: "rate_limit_error",
            500: "api_error",
        }[status]
        body = {"type": "error", "error": {"type": kind, "message": message}}
        return JSONResponse(body, status_code=status, headers=headers)
