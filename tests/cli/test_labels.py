"""``promptstage label``: set (compare-and-set), rollback, history, delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import CHAT_TOML, CliRun


@pytest.fixture
def three_versions(cli: CliRun, chat_file: Path) -> str:
    """booking.system with versions 1..3 and no labels."""
    for temperature in ("0.2", "0.4", "0.6"):
        chat_file.write_text(CHAT_TOML.replace("0.2", temperature), encoding="utf-8")
        assert cli("prompt", "push", str(chat_file)).exit_code == 0
    return "booking.system"


def test_set_and_compare_and_set(cli: CliRun, three_versions: str) -> None:
    first = cli(
        "label", "set", three_versions, "prod", "1", "--expected", "none", "--reason", "launch"
    )
    assert first.exit_code == 0, first.output
    assert "prod -> version 1 (new label)" in first.stdout

    moved = cli("label", "set", three_versions, "prod", "2", "--expected", "1")
    assert "prod -> version 2 (was 1)" in moved.stdout

    same = cli("label", "set", three_versions, "prod", "2")
    assert "prod already at version 2 (unchanged)" in same.stdout

    stale = cli("label", "set", three_versions, "prod", "3", "--expected", "1")
    assert stale.exit_code == 1
    assert "[version_mismatch]" in stale.stderr and "version 2" in stale.stderr
    assert stale.stdout == ""

    absent = cli("label", "set", three_versions, "prod", "3", "--expected", "none")
    assert absent.exit_code == 1 and "[version_mismatch]" in absent.stderr


def test_cas_mismatch_with_json_prints_the_error_document(cli: CliRun, three_versions: str) -> None:
    cli("label", "set", three_versions, "staging", "1")
    result = cli("--json", "label", "set", three_versions, "staging", "2", "--expected", "3")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "version_mismatch"
    assert "[version_mismatch]" in result.stderr


def test_expected_must_be_a_version_or_none(cli: CliRun, three_versions: str) -> None:
    result = cli("label", "set", three_versions, "prod", "1", "--expected", "soon")
    assert result.exit_code == 2
    assert "'none'" in result.output


def test_set_unknown_version(cli: CliRun, three_versions: str) -> None:
    result = cli("label", "set", three_versions, "prod", "9")
    assert result.exit_code == 1 and "[not_found]" in result.stderr


def test_rollback_history_delete(cli: CliRun, three_versions: str) -> None:
    cli("label", "set", three_versions, "prod", "1")
    cli("label", "set", three_versions, "prod", "3", "--reason", "ship v3")

    back = cli("label", "rollback", three_versions, "prod", "--reason", "regression")
    assert back.exit_code == 0, back.output
    assert "prod rolled back to version 1 (was 3)" in back.stdout

    to = json.loads(cli("--json", "label", "rollback", three_versions, "prod", "--to", "2").stdout)
    assert to["version"] == 2 and to["previous"] == 1 and to["move"]["kind"] == "rollback"

    history = cli("label", "history", three_versions, "prod")
    assert (
        "regression" in history.stdout
        and "ship v3" in history.stdout
        and "rollback" in history.stdout
    )
    items = json.loads(cli("--json", "label", "history", three_versions, "prod").stdout)["items"]
    assert [m["version"] for m in items] == [2, 1, 3, 1]

    deleted = cli("label", "delete", three_versions, "prod", "--reason", "retire")
    assert deleted.exit_code == 0
    assert f"removed label prod of {three_versions}" in deleted.stdout
    shown = json.loads(cli("--json", "prompt", "show", three_versions).stdout)
    assert "prod" not in shown["prompt"]["labels"]

    again = cli("label", "delete", three_versions, "prod")
    assert again.exit_code == 1 and "[not_found]" in again.stderr


def test_delete_json(cli: CliRun, three_versions: str) -> None:
    cli("label", "set", three_versions, "canary", "3")
    doc = json.loads(cli("--json", "label", "delete", three_versions, "canary").stdout)
    assert doc == {"prompt": three_versions, "label": "canary", "deleted": True}


def test_rollback_without_history_is_a_clean_error(cli: CliRun, three_versions: str) -> None:
    cli("label", "set", three_versions, "prod", "1")
    result = cli("label", "rollback", three_versions, "prod")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")


def test_history_of_unknown_prompt(cli: CliRun) -> None:
    result = cli("label", "history", "nope", "prod")
    assert result.exit_code == 1 and "[not_found]" in result.stderr


def test_set_without_expected_sends_the_version_it_read(cli: CliRun, three_versions: str) -> None:
    # prod is protected: the server refuses a move that does not say what it replaces (428).
    first = cli("label", "set", three_versions, "prod", "1")
    assert first.exit_code == 0, first.output
    assert "prod does not exist yet; moving it to version 1" in first.stdout
    second = cli("label", "set", three_versions, "prod", "2")
    assert second.exit_code == 0, second.output
    assert "prod points at version 1; moving it to version 2" in second.stdout
    assert "prod -> version 2 (was 1)" in second.stdout
    body = json.loads(cli("--json", "label", "set", three_versions, "prod", "3").stdout)
    assert body["move"]["previous"] == 2


def test_a_break_glass_move_of_a_protected_label_says_so(cli: CliRun, three_versions: str) -> None:
    """Under four-eyes, the instance admin key (this CLI's) moves prod at once: break-glass."""
    assert cli("project", "settings", "--four-eyes").exit_code == 0
    moved = cli("label", "set", three_versions, "prod", "1")
    assert moved.exit_code == 0, moved.output
    assert "prod -> version 1" in moved.stdout and "break-glass" in moved.stdout
    unprotected = cli("label", "set", three_versions, "staging", "1")
    assert unprotected.exit_code == 0 and "break-glass" not in unprotected.stdout
    document = json.loads(cli("--json", "label", "set", three_versions, "prod", "2").stdout)
    assert document["bypass"] == "break_glass"


def test_not_found_errors_list_what_exists_and_the_closest_name(
    cli: CliRun, three_versions: str
) -> None:
    assert cli("label", "set", three_versions, "prod", "1").exit_code == 0
    assert cli("label", "set", three_versions, "staging", "2").exit_code == 0
    typo = cli("label", "delete", three_versions, "prdo")
    assert typo.exit_code == 1
    assert "its labels: latest, prod, staging" in typo.stderr
    assert "did you mean prod?" in typo.stderr
    rollback = cli("label", "rollback", three_versions, "stagin")
    assert "did you mean staging?" in rollback.stderr
    prompt = cli("label", "history", "booking.sytem", "prod")
    assert "did you mean booking.system?" in prompt.stderr


def test_an_unknown_project_points_at_project_create(cli: CliRun) -> None:
    result = cli("--project", "nosuch", "prompt", "list")
    assert result.exit_code == 1
    assert "promptstage project create nosuch" in result.stderr
