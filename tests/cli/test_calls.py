"""``promptstage calls list|show|replay`` against calls logged by a real SDK client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptstage import Client, ResolvedPrompt

from .conftest import CliRun, LiveServer

VARS = {"clinic": "Smile Dental", "question": "Any slot on Monday?"}


@dataclass(frozen=True)
class Logged:
    ok: str
    failed: str
    bare: str
    prompt: ResolvedPrompt
    messages: Any


def _client(live_server: LiveServer, project: str) -> Client:
    return Client(
        live_server.url,
        project,
        live_server.admin_key,
        init_timeout=5.0,
        flush_interval=0.05,
        close_timeout=5.0,
    )


@pytest.fixture
def logged(cli: CliRun, chat_file: Path, live_server: LiveServer, project: str) -> Logged:
    """Version 1 at prod; three calls on it (ok + csat score, failed, without variables);
    then version 2 written and prod moved to it."""
    assert cli("prompt", "push", str(chat_file), "--label", "prod").exit_code == 0
    ps = _client(live_server, project)
    try:
        p = ps.get("booking.system", unit="user-7", context={"channel": "sms"})
        messages = p.render(**VARS)
        with ps.call(p, variables=VARS) as call:
            call.finish(
                output="Monday 10:00 works.", tokens_in=40, tokens_out=6, model="gpt-4o-2024-08-06"
            )
        ps.score(call.id, "csat", 5)
        with pytest.raises(TimeoutError), ps.call(p, variables=VARS) as failed:
            raise TimeoutError("model timed out")
        with ps.call(p, record_variables=False) as bare:
            pass
    finally:
        ps.close()
    v2 = chat_file.read_text(encoding="utf-8").replace(
        "You book appointments", "You kindly book appointments"
    )
    chat_file.write_text(v2, encoding="utf-8")
    assert cli("prompt", "push", str(chat_file), "--label", "prod").exit_code == 0
    return Logged(call.id, failed.id, bare.id, p, messages)


def test_list_and_filters(cli: CliRun, logged: Logged) -> None:
    result = cli("calls", "list")
    assert result.exit_code == 0, result.output
    for call_id in (logged.ok, logged.failed, logged.bare):
        assert call_id in result.stdout
    assert "TimeoutError: model timed out" in result.stdout and "40/6" in result.stdout

    doc = json.loads(cli("--json", "calls", "list").stdout)
    assert [c["id"] for c in doc["items"]] == [
        logged.bare,
        logged.failed,
        logged.ok,
    ]  # newest first
    assert {c["version"] for c in doc["items"]} == {1}

    def ids(*args: str) -> list[str]:
        out = cli("--json", "calls", "list", *args)
        assert out.exit_code == 0, out.output
        return [c["id"] for c in json.loads(out.stdout)["items"]]

    assert len(ids("--prompt", "booking.system", "--version", "1")) == 3
    assert ids("--version", "2") == []
    assert ids("--arm", "canary") == []
    assert len(ids("--arm", "baseline")) == 3
    assert ids("--release", "rel_none") == []
    assert ids("--since", "2999-01-01T00:00:00Z") == []
    assert len(ids("--since", "2000-01-01")) == 3
    assert ids("--prompt", "other.prompt") == []

    page = cli("calls", "list", "--limit", "2")
    assert page.exit_code == 0 and "more results: repeat with --cursor" in page.stdout
    first = json.loads(cli("--json", "calls", "list", "--limit", "2").stdout)
    rest = ids("--limit", "2", "--cursor", first["next_cursor"])
    assert rest == [logged.ok]


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--arm", "blue"), "expected one of"), (("--since", "yesterday"), "ISO-8601")],
)
def test_list_rejects_bad_filters(
    cli: CliRun, logged: Logged, args: tuple[str, ...], message: str
) -> None:
    result = cli("calls", "list", *args)
    assert result.exit_code == 2 and message in result.output


def test_show(cli: CliRun, logged: Logged) -> None:
    result = cli("calls", "show", logged.ok)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"call {logged.ok}" in out and "booking.system@1 (label prod)" in out
    assert logged.prompt.digest is not None and logged.prompt.digest in out
    assert "openai/gpt-4o/2024-08-06" in out and "gpt-4o-2024-08-06" in out  # pinned vs reported
    assert "You book appointments for {{ clinic }}." in out  # version 1's template, not 2's
    assert "kindly" not in out
    assert "csat" in out and "Monday 10:00 works." in out

    doc = json.loads(cli("--json", "calls", "show", logged.ok).stdout)
    assert doc["version"] == 1 and doc["version_data"]["digest"] == logged.prompt.digest
    assert [(s["name"], s["value"]) for s in doc["scores"]] == [("csat", 5.0)]


def test_replay_renders_the_exact_messages(cli: CliRun, logged: Logged) -> None:
    result = cli("calls", "replay", logged.ok)
    assert result.exit_code == 0, result.output
    assert f"replay of call {logged.ok}: booking.system@1" in result.stdout
    assert (
        "[system]" in result.stdout and "You book appointments for Smile Dental." in result.stdout
    )
    assert "[user]" in result.stdout and "Any slot on Monday?" in result.stdout

    rendered = json.loads(cli("--json", "calls", "replay", logged.ok).stdout)
    assert rendered == logged.messages  # what the application sent, although prod moved to v2
    failed = json.loads(cli("--json", "calls", "replay", logged.failed).stdout)
    assert failed == logged.messages


def test_replay_needs_logged_variables(cli: CliRun, logged: Logged) -> None:
    result = cli("calls", "replay", logged.bare)
    assert result.exit_code == 1
    assert "logged no variables" in result.stderr


def test_replay_refuses_a_version_that_does_not_match_the_recorded_digest(
    cli: CliRun, logged: Logged, live_server: LiveServer, project: str
) -> None:
    # A record claiming version 1 with another digest (e.g. written by a buggy client).
    body = {
        "calls": [
            {
                "id": "forged1",
                "prompt": "booking.system",
                "label": "prod",
                "version": 1,
                "digest": "sha256:" + "0" * 64,
                "variables": VARS,
            }
        ]
    }
    response = httpx.post(
        f"{live_server.url}/api/v1/projects/{project}/calls",
        json=body,
        headers={"Authorization": f"Bearer {live_server.admin_key}"},
    )
    assert response.status_code == 202
    result = cli("calls", "replay", "forged1")
    assert result.exit_code == 1
    assert "not the one the call used" in result.stderr


def test_unknown_call(cli: CliRun, logged: Logged) -> None:
    for command in ("show", "replay"):
        result = cli("calls", command, "no-such-call")
        assert result.exit_code == 1 and "[not_found]" in result.stderr
