"""The CLI with a prompt name in folders (``support/triage``) against a real server."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import CHAT_TOML, CliRun


def test_push_show_label_and_resolve_a_folder_prompt(cli: CliRun, tmp_path: Path) -> None:
    chat_file = tmp_path / "triage.toml"
    chat_file.write_text(CHAT_TOML.replace('"booking.system"', '"support/triage"'))
    pushed = cli("prompt", "push", str(chat_file), "-m", "first")
    assert pushed.exit_code == 0, pushed.output
    shown = json.loads(cli("--json", "prompt", "show", "support/triage").stdout)
    assert shown["prompt"]["name"] == "support/triage"
    moved = cli("label", "set", "support/triage", "staging", "1")
    assert moved.exit_code == 0, moved.output
    resolved = json.loads(cli("--json", "resolve", "support/triage", "--label", "staging").stdout)
    assert resolved["version"] == 1


def test_a_bad_folder_name_is_a_clear_error(cli: CliRun) -> None:
    result = cli("prompt", "create", "support//triage", "--type", "text")
    assert result.exit_code != 0
    assert "support/triage" in result.output and "name" in result.output
