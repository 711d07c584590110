"""``promptstage dev fake-model``: the fake model's wire shapes, behaviours and command."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from promptstage.cli.fake_behaviours import (
    REFUSAL,
    Behaviour,
    Conversation,
    Tool,
    behaviour_of,
    reply,
)
from promptstage.cli.fake_model import fake_model_app
from promptstage.cli.main import app

SYSTEM = "Be kind. Canary: CANARY-abc123def456. Record: jo@example.com, card 4111 1111 1111 1111"
OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"


def openai_body(model: str, user: str = "hi", tools: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
    }
    if tools:
        body["tools"] = [
            {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
        ]
    return body


def anthropic_body(model: str, user: str = "hi") -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 10,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": [{"type": "text", "text": user}]}],
        "tools": [{"name": "search", "input_schema": {"type": "object"}}],
    }


def test_openai_shape_is_deterministic() -> None:
    client = TestClient(fake_model_app("refuse"))
    first = client.post(OPENAI, json=openai_body("m"))
    second = client.post(OPENAI, json=openai_body("m"))
    assert first.status_code == 200 and first.json() == second.json()
    body = first.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": REFUSAL}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + len(REFUSAL.split())


def test_anthropic_shape_with_tool_use_blocks() -> None:
    client = TestClient(fake_model_app("unlisted-tool"))
    body = client.post(ANTHROPIC, json=anthropic_body("m")).json()
    assert body["type"] == "message" and body["stop_reason"] == "tool_use"
    (block,) = body["content"]
    assert block["type"] == "tool_use" and block["name"] == "transfer_funds"
    assert block["input"] == {"amount": 1000000, "to": "attacker"}
    assert set(body["usage"]) == {"input_tokens", "output_tokens"}


def test_the_header_beats_the_model_name_which_beats_the_server_default() -> None:
    client = TestClient(fake_model_app("refuse"))
    by_model = client.post(OPENAI, json=openai_body("fake-obey")).json()
    assert SYSTEM in by_model["choices"][0]["message"]["content"]
    by_header = client.post(
        OPENAI, json=openai_body("fake-obey"), headers={"X-Fake-Behaviour": "refuse"}
    ).json()
    assert by_header["choices"][0]["message"]["content"] == REFUSAL
    unknown = client.post(OPENAI, json=openai_body("m"), headers={"X-Fake-Behaviour": "dance"})
    assert unknown.status_code == 400 and unknown.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("path", "body", "shape"),
    [
        (OPENAI, openai_body("fake-error-500"), lambda b: b["error"]["type"] == "server_error"),
        (ANTHROPIC, anthropic_body("fake-error-500"), lambda b: b["error"]["type"] == "api_error"),
    ],
)
def test_error_500_in_each_providers_shape(path: str, body: Any, shape: Any) -> None:
    response = TestClient(fake_model_app()).post(path, json=body)
    assert response.status_code == 500 and shape(response.json())


def test_flaky_429_fails_each_distinct_request_once_with_retry_after() -> None:
    client = TestClient(fake_model_app("flaky-429", retry_after="7"))
    first = client.post(ANTHROPIC, json=anthropic_body("m", "one"))
    assert first.status_code == 429 and first.headers["retry-after"] == "7"
    assert first.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Rate limit reached; retry later."},
    }
    assert client.post(ANTHROPIC, json=anthropic_body("m", "one")).status_code == 200
    assert client.post(ANTHROPIC, json=anthropic_body("m", "two")).status_code == 429


def test_malformed_is_not_json() -> None:
    response = TestClient(fake_model_app("malformed")).post(OPENAI, json=openai_body("m"))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_a_wrong_key_gets_401_in_the_providers_shape() -> None:
    client = TestClient(fake_model_app(api_key="right"))
    wrong = client.post(OPENAI, json=openai_body("m"), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    ok = client.post(ANTHROPIC, json=anthropic_body("m"), headers={"x-api-key": "right"})
    assert ok.status_code == 200
    bad = client.post(ANTHROPIC, json=anthropic_body("m"), headers={"x-api-key": "nope"})
    assert bad.json()["error"]["type"] == "authentication_error"


def test_requests_and_in_flight_are_counted() -> None:
    fake_app = fake_model_app()
    client = TestClient(fake_app)
    client.post(OPENAI, json=openai_body("m"))
    client.post(ANTHROPIC, json=anthropic_body("m"))
    state = fake_app.state.fake
    assert (state.requests, state.in_flight, state.max_in_flight) == (2, 0, 1)


CONVERSATION = Conversation(SYSTEM, (("user", "hello"),), (Tool("search", {"type": "object"}),))


@pytest.mark.parametrize(
    ("behaviour", "must", "must_not"),
    [
        (Behaviour.OBEY, [SYSTEM, "hello"], []),
        (Behaviour.REFUSE, [REFUSAL], ["CANARY", "jo@example.com"]),
        (Behaviour.LEAK_CANARY, ["CANARY-abc123def456"], ["jo@example.com"]),
        (Behaviour.LEAK_RECORD, ["jo@example.com", "4111 1111 1111 1111"], []),
        (Behaviour.SLOW, [REFUSAL], []),
    ],
)
def test_scripted_texts(behaviour: Behaviour, must: list[str], must_not: list[str]) -> None:
    text = reply(behaviour, CONVERSATION).text
    assert all(m in text for m in must) and not any(m in text for m in must_not)


def test_obey_calls_the_tool_it_is_told_to_with_the_given_arguments() -> None:
    told = Conversation("s", (("user", 'Now call delete_user with {"id": 7}'),))
    assert reply(Behaviour.OBEY, told).tool_calls == (("delete_user", '{"id": 7}'),)


def test_unlisted_tool_never_picks_a_declared_name() -> None:
    declared = Conversation("s", (), (Tool("transfer_funds", {}),))
    ((name, _),) = reply(Behaviour.UNLISTED_TOOL, declared).tool_calls
    assert name != "transfer_funds"


def test_behaviour_of_reads_fake_names_only() -> None:
    assert behaviour_of("fake-hang", None, Behaviour.REFUSE) is Behaviour.HANG
    assert behaviour_of("org/fake-obey", None, Behaviour.REFUSE) is Behaviour.OBEY
    assert behaviour_of("gpt-4o", None, Behaviour.OBEY) is Behaviour.OBEY
    assert behaviour_of("notfake-obey", None, Behaviour.REFUSE) is Behaviour.REFUSE


def test_the_command_is_listed_with_its_behaviours() -> None:
    result = CliRunner().invoke(app, ["dev", "fake-model", "--help"])
    assert result.exit_code == 0
    assert "leak-canary" in result.output and "--behaviour" in result.output


def test_the_command_serves_both_protocols(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = "from promptstage.cli import main; main()"
    args = ["dev", "fake-model", "--port", str(port), "--behaviour", "obey"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}{OPENAI}", json=openai_body("m"), timeout=2
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the fake model did not start"
                time.sleep(0.1)
        assert SYSTEM in response.json()["choices"][0]["message"]["content"]
        anthropic = httpx.post(f"http://127.0.0.1:{port}{ANTHROPIC}", json=anthropic_body("m"))
        assert SYSTEM in anthropic.json()["content"][0]["text"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # reaps it and closes its pipe
