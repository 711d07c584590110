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
