"""``promptstage prompt push`` changes nothing when it fails; ``prompt edit``, ``archive`` and
``unarchive``."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import CHAT_TOML, CliRun


def test_a_failed_push_leaves_no_prompt_behind(cli: CliRun, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        CHAT_TOML.replace("{{ question }}", "{% if vip %}{{ question }}{% endif %}"),
        encoding="utf-8",
    )
    failed = cli("prompt", "push", str(bad))
    assert failed.exit_code != 0 and "Jinja-style block" in failed.stderr
    assert cli("prompt", "show", "booking.system").exit_code != 0
    listed = json.loads(cli("--json", "prompt", "list").stdout)
    assert listed["items"] == []
    # Nothing is left that pins the type: the same name can now be pushed as text.
    text = tmp_path / "text.toml"
    text.write_text(
        'name = "booking.system"\ntype = "text"\ntemplate = "Hi"\n\n'
        '[config.model]\nprovider = "openai"\nname = "gpt-4o"\nversion = "2024-08-06"\n',
        encoding="utf-8",
    )
    pushed = cli("prompt", "push", str(text))
    assert pushed.exit_code == 0, pushed.output
    assert "created prompt booking.system (text)" in pushed.stdout


def test_edit_archive_and_unarchive(cli: CliRun, chat_file: Path) -> None:
    assert cli("prompt", "push", str(chat_file)).exit_code == 0
    edited = cli("prompt", "edit", "booking.system", "-d", "Books visits", "--tag", "clinic")
    assert edited.exit_code == 0, edited.output
    shown = json.loads(cli("--json", "prompt", "show", "booking.system").stdout)
    assert shown["prompt"]["description"] == "Books visits"
    assert shown["prompt"]["tags"] == ["clinic"]
    assert cli("prompt", "edit", "booking.system").exit_code != 0  # nothing to change

    assert cli("label", "set", "booking.system", "prod", "1").exit_code == 0
    refused = cli("prompt", "archive", "booking.system")
    assert refused.exit_code != 0 and "prod" in refused.stderr

    assert cli("label", "delete", "booking.system", "prod").exit_code == 0
    archived = cli("prompt", "archive", "booking.system")
    assert archived.exit_code == 0, archived.output
    assert "booking.system" not in cli("prompt", "list").stdout
    assert "booking.system" in cli("prompt", "list", "--archived").stdout

    assert cli("prompt", "unarchive", "booking.system").exit_code == 0
    assert "booking.system" in cli("prompt", "list").stdout
