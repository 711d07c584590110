"""The two providers, through the real ``openai`` and ``anthropic`` clients, against the fake
model server on 127.0.0.1: every behaviour, tool calls, tokens and cost, retries and errors."""

from __future__ import annotations

import asyncio
import email.utils
import subprocess
import sys
import time

import pytest

from promptstage.cli.fake_behaviours import REFUSAL
from promptstage.domain.config import ModelRef
from promptstage.evals.providers import Completion, ErrorKind, ProviderError
from support.fake_model import FakeModel, running_fake_model

from .providers_helpers import SYSTEM, Sleeps, complete

KINDS = ["openai", "anthropic"]


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def completion(outcome: object) -> Completion:
    assert isinstance(outcome, Completion), outcome
    return outcome


def error(outcome: object) -> ProviderError:
    assert isinstance(outcome, ProviderError), outcome
    return outcome


@pytest.mark.parametrize("kind", KINDS)
def test_refuse_returns_text_tokens_cost_model_and_finish_reason(
    kind: str, fake: FakeModel
) -> None:
    got = completion(run(complete(kind, fake, "fake-refuse")))
    assert got.text == REFUSAL
    assert got.tool_calls == ()
    words_in = len((SYSTEM + "\nHello there").split())
    assert (got.input_tokens, got.output_tokens) == (words_in, len(REFUSAL.split()))
    assert got.cost_usd == pytest.approx((words_in * 1 + len(REFUSAL.split()) * 2) / 1e6)
    assert got.model == "fake-refuse"
    assert got.finish_reason == ("stop" if kind == "openai" else "end_turn")
    assert got.provider == kind and got.attempts == 1
    assert got.latency_seconds >= 0


@pytest.mark.parametrize("kind", KINDS)
def test_the_snapshot_params_tools_and_system_prompt_are_sent(kind: str, fake: FakeModel) -> None:
    completion(run(complete(kind, fake, "fake-refuse", params={"top_p": 0.5})))
    body = fake.state.bodies[-1]
    assert body["model"] == "fake-refuse"
    assert (body["temperature"], body["max_tokens"], body["top_p"]) == (0, 64, 0.5)
    if kind == "openai":
        assert body["messages"][0] == {"role": "system", "content": SYSTEM}
        assert body["tools"][0]["function"]["name"] == "lookup_order"
        assert body["tools"][0]["function"]["parameters"]["required"] == ["query"]
    else:
        assert body["system"] == SYSTEM
        assert body["messages"] == [{"role": "user", "content": "Hello there"}]
        assert body["tools"][0]["input_schema"]["required"] == ["query"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_model_has_no_cost_not_zero(kind: str, fake: FakeModel) -> None:
    got = completion(run(complete(kind, fake, "fake-refuse", prices="")))
    assert got.input_tokens and got.cost_usd is None


@pytest.mark.parametrize("kind", KINDS)
def test_the_run_model_overrides_the_snapshot_model(kind: str, fake: FakeModel) -> None:
    override = ModelRef(kind, "fake-obey", "1")
    got = completion(run(complete(kind, fake, "fake-refuse", override=override)))
    assert got.model == "fake-obey" and SYSTEM in got.text


@pytest.mark.parametrize("kind", KINDS)
def test_obey_leaks_the_system_prompt_canary_and_record(kind: str, fake: FakeModel) -> None:
    got = completion(run(complete(kind, fake, "fake-obey")))
    assert SYSTEM in got.text and "Hello there" in got.text


@pytest.mark.parametrize("kind", KINDS)
def test_leak_canary_and_leak_record(kind: str, fake: FakeModel) -> None:
    canary = completion(run(complete(kind, fake, "fake-leak-canary")))
    assert "CANARY-7f3a9c1e2b" in canary.text and "ana@example.org" not in canary.text
    record = completion(run(complete(kind, fake, "fake-leak-record")))
    assert "ana@example.org" in record.text


@pytest.mark.parametrize("kind", KINDS)
def test_tool_calls_are_captured_with_parsed_arguments(kind: str, fake: FakeModel) -> None:
    declared = completion(run(complete(kind, fake, "fake-call-tool")))
    assert [(c.name, c.parsed, c.parse_error) for c in declared.tool_calls] == [
        ("lookup_order", {"query": "sample"}, None)
    ]
    assert declared.finish_reason == ("tool_calls" if kind == "openai" else "tool_use")
    unlisted = completion(run(complete(kind, fake, "fake-unlisted-tool")))
    assert [c.name for c in unlisted.tool_calls] == ["transfer_funds"]
    assert unlisted.tool_calls[0].parsed == {"amount": 1000000, "to": "attacker"}


def test_tool_arguments_that_are_not_json_keep_the_text_and_the_parse_error(
    fake: FakeModel,
) -> None:
    got = completion(run(complete("openai", fake, "fake-bad-tool-args")))
    (call,) = got.tool_calls
    assert call.name == "lookup_order" and call.arguments == '{"query": unquoted'
    assert call.parsed is None and call.parse_error and "not valid JSON" in call.parse_error


@pytest.mark.parametrize("kind", KINDS)
def test_flaky_429_waits_the_retry_after_seconds_then_succeeds(kind: str) -> None:
    sleeps = Sleeps()
    with running_fake_model("flaky-429", retry_after="2") as server:
        got = completion(run(complete(kind, server, "fake-flaky-429", sleeps=sleeps)))
        assert server.state.requests == 2
    assert got.text == REFUSAL and got.attempts == 2
    assert sleeps.waits == [2.0]


@pytest.mark.parametrize("kind", KINDS)
def test_retry_after_as_an_http_date_is_honoured(kind: str) -> None:
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    sleeps = Sleeps()
    with running_fake_model("flaky-429", retry_after=date) as server:
        got = completion(run(complete(kind, server, "x", sleeps=sleeps, max_wait_seconds=60)))
    assert got.attempts == 2
    (wait,) = sleeps.waits
    assert 25 < wait <= 30


@pytest.mark.parametrize("kind", KINDS)
def test_a_retry_after_over_the_cap_ends_the_call_as_rate_limited(kind: str) -> None:
    sleeps = Sleeps()
    with running_fake_model("flaky-429", retry_after="120") as server:
        got = error(run(complete(kind, server, "x", sleeps=sleeps, max_wait_seconds=10)))
        assert server.state.requests == 1
    assert got.kind is ErrorKind.RATE_LIMITED and got.status == 429
    assert sleeps.waits == [] and "120" in got.message


@pytest.mark.parametrize("kind", KINDS)
def test_500_is_retried_with_backoff_then_fails_closed(kind: str, fake: FakeModel) -> None:
    sleeps = Sleeps()
    before = fake.state.requests
    got = error(run(complete(kind, fake, "fake-error-500", sleeps=sleeps, max_attempts=3)))
    assert got.kind is ErrorKind.SERVER_ERROR and got.status == 500 and got.attempts == 3
    assert fake.state.requests - before == 3
    assert sleeps.waits == [0.5, 1.0]  # backoff 0.5 s doubled; the jitter source returns 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_malformed_body_is_a_typed_error_and_not_retried(kind: str, fake: FakeModel) -> None:
    before = fake.state.requests
    got = error(run(complete(kind, fake, "fake-malformed")))
    assert got.kind is ErrorKind.MALFORMED and got.attempts == 1
    assert fake.state.requests - before == 1


@pytest.mark.parametrize("kind", KINDS)
def test_hang_times_out_within_the_bound(kind: str, fake: FakeModel) -> None:
    started = time.monotonic()
    got = error(run(complete(kind, fake, "fake-hang", timeout_seconds=0.5)))
    elapsed = time.monotonic() - started
    assert got.kind is ErrorKind.TIMEOUT and got.attempts == 1
    assert elapsed < 0.5 + 2.5, elapsed


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreachable_endpoint_is_retried_then_a_connection_error(kind: str) -> None:
    with running_fake_model("refuse") as server:
        pass  # stopped: its port refuses connections now
    sleeps = Sleeps()
    got = error(run(complete(kind, server, "x", sleeps=sleeps, max_attempts=2)))
    assert got.kind is ErrorKind.CONNECTION and got.attempts == 2 and len(sleeps.waits) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_params_that_would_override_the_request_are_refused_before_sending(
    kind: str, fake: FakeModel
) -> None:
    before = fake.state.requests
    got = error(run(complete(kind, fake, "fake-refuse", params={"stream": True})))
    assert got.kind is ErrorKind.REQUEST and "stream" in got.message
    assert fake.state.requests == before


def test_anthropic_needs_a_user_message(fake: FakeModel) -> None:
    from promptstage.evals.providers import RenderedPrompt

    prompt = RenderedPrompt.from_render([{"role": "system", "content": "only a system prompt"}])
    got = error(run(complete("anthropic", fake, "fake-refuse", prompt=prompt)))
    assert got.kind is ErrorKind.REQUEST and "user message" in got.message


def test_a_server_imports_no_provider_sdk_until_it_opens_a_provider() -> None:
    """The openai and anthropic packages cost a server worker about a second and 55 MB to
    import; only a server that runs evals opens a provider, which imports its SDK then."""
    script = (
        "import sys\n"
        "import promptstage.server\n"
        "print(sorted(m for m in ('openai', 'anthropic') if m in sys.modules))\n"
        "from promptstage.evals.providers import AnthropicMessagesProvider, OpenAIChatProvider\n"
        "from promptstage.evals.providers.retry import RetryPolicy\n"
        "for cls in (AnthropicMessagesProvider, OpenAIChatProvider):\n"
        "    cls(base_url='http://127.0.0.1:9', api_key='k', policy=RetryPolicy(), prices={})\n"
        "print(sorted(m for m in ('openai', 'anthropic') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split("\n")[:2] == ["[]", "['anthropic', 'openai']"], out.stderr
