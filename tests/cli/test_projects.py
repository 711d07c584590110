"""``promptstage project``."""

from __future__ import annotations

import json
import secrets

from .conftest import CliRun


def test_create_then_list(cli: CliRun) -> None:
    name = f"p-{secrets.token_hex(4)}"
    created = cli("project", "create", name, "--description", "Dental clinics")
    assert created.exit_code == 0, created.output
    assert f"created project {name}" in created.output

    listed = cli("project", "list")
    assert listed.exit_code == 0
    assert name in listed.output and "Dental clinics" in listed.output


def test_json_output_is_the_api_document(cli: CliRun) -> None:
    name = f"p-{secrets.token_hex(4)}"
    created = json.loads(cli("--json", "project", "create", name).stdout)
    assert created["name"] == name and "created_at" in created

    listed = json.loads(cli("--json", "project", "list").stdout)
    assert name in [p["name"] for p in listed["items"]]
    assert set(listed) == {"items", "next_cursor"}


def test_duplicate_project_is_a_clean_error(cli: CliRun, project: str) -> None:
    result = cli("project", "create", project)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "[conflict]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_name_names_the_problem(cli: CliRun) -> None:
    result = cli("project", "create", "Not Valid")
    assert result.exit_code == 1
    assert "error:" in result.stderr


def _admin_key(cli: CliRun) -> str:
    created = json.loads(cli("--json", "key", "create", "--role", "admin", "--name", "ann").stdout)
    token: str = created["token"]
    return token


def test_settings_strengthen_at_once_and_a_weakening_waits_for_another_admin(
    cli: CliRun,
) -> None:
    ann = {"PROMPTSTAGE_API_KEY": _admin_key(cli)}
    stronger = cli("project", "settings", "--protect", "prod", "--protect", "staging", env=ann)
    assert stronger.exit_code == 0, stronger.output
    assert "protected labels: prod, staging; four-eyes: on" in stronger.stdout
    weaker = cli("project", "settings", "--no-four-eyes", env=ann)
    assert weaker.exit_code == 0, weaker.output
    assert "weakens governance" in weaker.stdout and "another admin" in weaker.stdout
    shown = json.loads(cli("--json", "project", "settings").stdout)
    assert shown == {
        "protected_labels": ["prod", "staging"],
        "four_eyes": True,
        "max_key_lifetime_days": None,
    }
