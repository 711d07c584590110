"""``promptstage key``."""

from __future__ import annotations

import json

from .conftest import CliRun


def test_create_prints_the_token_once_with_a_warning(cli: CliRun) -> None:
    result = cli("key", "create", "--role", "editor", "--name", "ci")
    assert result.exit_code == 0, result.output
    token = next(line for line in result.stdout.splitlines() if line.startswith("ps_"))
    assert "shown only once" in result.stderr
    # The new key works.
    listed = cli("prompt", "list", env={"PROMPTSTAGE_API_KEY": token})
    assert listed.exit_code == 0, listed.output


def test_list_and_revoke(cli: CliRun) -> None:
    created = json.loads(cli("--json", "key", "create", "--role", "runtime").stdout)
    prefix, token = created["prefix"], created["token"]
    assert token.startswith(f"ps_{prefix}_")

    listed = cli("key", "list")
    assert prefix in listed.stdout and "runtime" in listed.stdout
    assert token not in listed.stdout

    revoked = cli("key", "revoke", prefix)
    assert revoked.exit_code == 0
    assert f"revoked key {prefix}" in revoked.stdout
    keys = json.loads(cli("--json", "key", "list").stdout)["items"]
    assert next(k for k in keys if k["prefix"] == prefix)["revoked_at"] is not None

    refused = cli("resolve", "x", env={"PROMPTSTAGE_API_KEY": token})
    assert refused.exit_code == 1 and "revoked" in refused.stderr


def test_revoke_accepts_the_whole_token(cli: CliRun) -> None:
    created = json.loads(cli("--json", "key", "create", "--role", "runtime").stdout)
    result = cli("--json", "key", "revoke", created["token"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["prefix"] == created["prefix"]


def test_revoke_unknown_prefix(cli: CliRun) -> None:
    result = cli("key", "revoke", "000000000000")
    assert result.exit_code == 1 and "[not_found]" in result.stderr


def test_bad_role_is_a_usage_error(cli: CliRun) -> None:
    result = cli("key", "create", "--role", "root")
    assert result.exit_code == 2
    assert "runtime, editor, releaser, admin" in result.output


def test_editor_cannot_manage_keys(cli: CliRun) -> None:
    token = json.loads(cli("--json", "key", "create", "--role", "editor").stdout)["token"]
    result = cli("key", "list", env={"PROMPTSTAGE_API_KEY": token})
    assert result.exit_code == 1
    assert "[permission_denied]" in result.stderr


def test_principals_keys_for_them_and_rotation(cli: CliRun) -> None:
    made = cli("principal", "create", "alice")
    assert made.exit_code == 0 and "created person alice" in made.stdout
    assert cli("principal", "create", "bot", "--kind", "robot").exit_code == 2
    listed = cli("principal", "list")
    assert "alice" in listed.stdout and "person" in listed.stdout
    created = json.loads(
        cli(
            "--json", "key", "create", "--role", "releaser", "--principal", "alice",
            "--expires-at", "2099-01-01T00:00:00Z",
        ).stdout
    )  # fmt: skip
    assert created["principal"] == "alice" and created["expires_at"].startswith("2099-01-01")
    rotated = cli("key", "rotate", created["prefix"], "--grace-seconds", "60")
    assert rotated.exit_code == 0, rotated.output
    assert f"rotated key {created['prefix']}" in rotated.stdout and "alice" in rotated.stdout
    token = next(line for line in rotated.stdout.splitlines() if line.startswith("ps_"))
    assert cli("prompt", "list", env={"PROMPTSTAGE_API_KEY": token}).exit_code == 0
    unknown = cli("key", "create", "--role", "editor", "--principal", "nobody")
    assert unknown.exit_code == 1 and "principal create" in unknown.stderr


def test_create_langfuse_prints_a_pair_that_authenticates(cli: CliRun, live_server) -> None:
    import httpx

    result = cli("key", "create", "--role", "runtime", "--langfuse")
    assert result.exit_code == 0, result.output
    lines = dict(
        line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("LANGFUSE_")
    )
    assert lines["LANGFUSE_PUBLIC_KEY"].startswith("pk-lf-")
    assert lines["LANGFUSE_SECRET_KEY"].startswith("sk-lf-")
    assert lines["LANGFUSE_BASE_URL"] == live_server.url
    answer = httpx.get(
        f"{live_server.url}/api/public/projects",
        auth=(lines["LANGFUSE_PUBLIC_KEY"], lines["LANGFUSE_SECRET_KEY"]),
    )
    assert answer.status_code == 200, answer.text
    document = json.loads(cli("--json", "key", "create", "--role", "editor", "--langfuse").stdout)
    assert document["langfuse_public_key"] == f"pk-lf-{document['prefix']}"
