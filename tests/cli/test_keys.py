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
