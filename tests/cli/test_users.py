"""``promptstage user``."""

from __future__ import annotations

import json

from .conftest import CliRun

PASSWORD = "correct horse battery"


def test_create_prompts_twice_hidden_then_list_grant_passwd_revoke(cli: CliRun) -> None:
    created = cli("user", "create", "erin", "--role", "editor", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert created.exit_code == 0, created.output
    assert "created user erin (editor)" in created.stdout
    assert PASSWORD not in created.stdout  # the prompt hides what is typed
    listed = json.loads(cli("--json", "user", "list").stdout)["items"]
    assert [(u["name"], u["role"], u["has_password"]) for u in listed] == [("erin", "editor", True)]
    table = cli("user", "list")
    assert "erin" in table.stdout and "editor" in table.stdout and "argon2" not in table.stdout
    granted = cli("user", "grant", "erin", "--role", "releaser")
    assert granted.exit_code == 0 and "erin is now releaser" in granted.stdout
    changed = cli("user", "passwd", "erin", "--password-stdin", input="a new passphrase\n")
    assert changed.exit_code == 0, changed.output
    revoked = cli("user", "revoke", "erin")
    assert (
        revoked.exit_code == 0 and json.loads(cli("--json", "user", "list").stdout)["items"] == []
    )


def test_mismatched_prompts_and_weak_passwords_are_refused(cli: CliRun) -> None:
    mismatch = cli("user", "create", "erin", "--role", "editor", input=f"{PASSWORD}\nother one!!\n")
    assert mismatch.exit_code != 0
    weak = cli("user", "create", "erin", "--role", "editor", "--password-stdin", input="short\n")
    assert weak.exit_code == 1 and "password" in weak.stderr and "12" in weak.stderr
    assert json.loads(cli("--json", "user", "list").stdout)["items"] == []


def test_runtime_is_refused_before_anything_is_asked(cli: CliRun) -> None:
    result = cli("user", "create", "erin", "--role", "runtime", input="")
    assert (
        result.exit_code == 2 and "runtime" in result.output and "cannot sign in" in result.output
    )


def test_project_option_after_the_command(cli: CliRun, project: str) -> None:
    result = cli(
        "user", "create", "bob", "--project", project, "--role", "releaser", "--password-stdin",
        input=f"{PASSWORD}\n", env={"PROMPTSTAGE_PROJECT": None},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = cli("--json", "user", "list", "-p", project, env={"PROMPTSTAGE_PROJECT": None})
    assert [u["name"] for u in json.loads(listed.stdout)["items"]] == ["bob"]
