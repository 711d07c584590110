"""``promptstage release ...`` and ``promptstage demo traffic`` against a real server."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from promptstage.cli.main import app
from support import live
from support.live import MODEL, Server

pytestmark = pytest.mark.slow
server = live.server  # the fixture


@pytest.fixture
def project(server: Server) -> str:
    """A project with ``booking.system`` (versions 1-3) and ``prod`` -> 1."""
    name = f"cli-{secrets.token_hex(3)}"
    server.api("POST", "/api/v1/projects", 201, json={"name": name})
    p = f"/api/v1/projects/{name}"
    server.api("POST", f"{p}/prompts", 201, json={"name": "booking.system", "type": "text"})
    for n in (1, 2, 3):
        server.api(
            "POST",
            f"{p}/prompts/booking.system/versions",
            201,
            json={"template": f"v{n}", "config": {"model": MODEL}},
        )
    server.api(
        "PUT",
        f"{p}/prompts/booking.system/labels/prod",
        json={"version": 1, "expected_version": None},
    )
    return name


@pytest.fixture
def run(server: Server, project: str) -> Any:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        env = {
            "PROMPTSTAGE_URL": server.url,
            "PROMPTSTAGE_API_KEY": server.admin,
            "PROMPTSTAGE_PROJECT": project,
            "COLUMNS": "250",
            "NO_COLOR": "1",
            "PROMPTSTAGE_JSON": None,
        }
        result = runner.invoke(app, list(args), env=env)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        return result

    return invoke


def test_release_lifecycle_from_the_cli(run: Any) -> None:
    started = run(
        "release",
        "start",
        "booking.system",
        "prod",
        "2",
        "--strategy",
        "ramp",
        "--steps",
        "500,2500,10000",
        "--min-duration",
        "60",
        "-g",
        "thumbs_down",
        "-g",
        "csat:decrease:0.1",
        "--targeting",
        '{"combinator": "and", "rules": [{"field": "channel", "operator": "=", "value": "sms"}]}',
    )
    assert started.exit_code == 0, started.output
    assert "started rel_" in started.output and "1 -> 2" in started.output
    rid = started.output.split("started ")[1].split(":")[0]
    body = json.loads(run("--json", "release", "list", "--state", "running").output)
    (item,) = body["items"]
    assert item["id"] == rid and [s["min_duration_seconds"] for s in item["steps"]] == [60, 60, 60]
    assert [g["metric"] for g in item["guardrails"]] == ["thumbs_down", "csat"]
    listed = run("release", "list")
    assert rid in listed.output and "running" in listed.output
    status = run("release", "status", rid)
    assert status.exit_code == 0 and "thumbs_down" in status.output and "csat" in status.output
    assert "step 1/3 at 5 %" in status.output
    assert run("release", "advance", rid).output.startswith(f"{rid} advanced: running at 25 %")
    assert "paused" in run("release", "pause", rid, "--reason", "checking").output
    again = run("release", "pause", rid)
    assert again.exit_code == 1 and "cannot pause a paused release" in again.output
    assert "running" in run("release", "resume", rid).output
    assert "completed at 100 %" in run("release", "promote", rid).output
    watched = run("release", "status", rid, "--watch", "--interval", "0.2")
    assert watched.exit_code == 0 and "ended:" in watched.output
    assert (
        json.loads(run("--json", "release", "status", rid).output)["release"]["state"]
        == "completed"
    )


def test_rollback_abort_and_errors(run: Any) -> None:
    rid = json.loads(run("--json", "release", "start", "booking.system", "prod", "3").output)["id"]
    second = run("release", "start", "booking.system", "prod", "2")
    assert second.exit_code == 1 and "already has an active release" in second.output
    assert "rolled_back at 0 %" in run("release", "rollback", rid, "--reason", "bad").output
    rid2 = json.loads(
        run("--json", "release", "start", "booking.system", "prod", "3", "--strategy", "ab").output
    )["id"]
    assert "aborted at 0 %" in run("release", "abort", rid2).output
    bad = run("release", "start", "booking.system", "prod", "3", "--targeting", "{not json")
    assert bad.exit_code == 1 and "--targeting" in bad.output
    missing = run("release", "status", "rel_nope")
    assert missing.exit_code == 1 and "no release" in missing.output


def test_start_says_what_insufficient_data_does(run: Any) -> None:
    started = run(
        "--json",
        "release",
        "start",
        "booking.system",
        "prod",
        "2",
        "--on-insufficient-data",
        "pause",
    )
    assert started.exit_code == 0, started.output
    assert json.loads(started.output)["on_insufficient_data"] == "pause"
    rid = json.loads(started.output)["id"]
    assert "rolled_back" in run("release", "rollback", rid).output
    bad = run("release", "start", "booking.system", "prod", "2", "--on-insufficient-data", "wait")
    assert bad.exit_code == 1 and "on_insufficient_data must be rollback or pause" in bad.output


def test_demo_traffic_rolls_a_worse_candidate_back(run: Any, project: str) -> None:
    result = run(
        "demo", "traffic", "--project", project, "--rate", "1000", "--duration", "20", "--seed", "7"
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("SIMULATION")
    assert "rolled_back" in result.output and "fast-path" in result.output
    assert "serves booking.system:prod version 1" in result.output
