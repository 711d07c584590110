"""``promptstage files pull/diff/push`` against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from .conftest import CliRun, LiveServer

PROMPTY = """---
model:
  api: chat
  configuration:
    type: openai
    name: gpt-4o-mini
    api_key: sk-live-should-never-leave-the-laptop
  parameters:
    temperature: 0.1
metadata:
  promptstage:
    modelVersion: "2024-07-18"
---
system:
You triage tickets for {{team}}.

user:
{{ticket}}
"""


def _api(server: LiveServer, project: str, path: str) -> dict:
    response = httpx.get(
        f"{server.url}/api/v1/projects/{project}{path}",
        headers={"Authorization": f"Bearer {server.admin_key}"},
    )
    response.raise_for_status()
    return response.json()


def _latest(server: LiveServer, project: str, name: str) -> int:
    return _api(server, project, f"/prompts/{name}")["latest_version"]


@pytest.fixture
def pulled(cli: CliRun, chat_file: Path, tmp_path: Path) -> Path:
    """A project with two prompts, pulled into a directory."""
    assert cli("prompt", "push", str(chat_file), "-l", "staging").exit_code == 0
    second = chat_file.read_text().replace('"booking.system"', '"booking.followup"')
    other = tmp_path / "followup.toml"
    other.write_text(second.replace("You book", "You follow up"))
    assert cli("prompt", "push", str(other)).exit_code == 0
    directory = tmp_path / "prompts"
    result = cli("files", "pull", str(directory))
    assert result.exit_code == 0, result.output
    return directory


def test_pull_writes_files_and_lock(pulled: Path, live_server: LiveServer, project: str) -> None:
    assert sorted(p.name for p in pulled.iterdir()) == [
        "booking.followup.prompt",
        "booking.system.prompt",
        "promptstage.lock",
    ]
    lock = json.loads((pulled / "promptstage.lock").read_text())
    entry = lock["prompts"]["booking.system"]
    version = _api(live_server, project, "/prompts/booking.system/versions/1")
    assert entry["digest"] == version["digest"]
    assert entry["labels"]["staging"] == 1
    text = (pulled / "booking.system.prompt").read_text()
    assert "model: openai/gpt-4o" in text and "promptstage" not in text.split("---")[2]
    assert "digest" not in text  # identity stays in the lock file


def test_round_trip_push_writes_nothing_then_exactly_one(
    cli: CliRun, pulled: Path, live_server: LiveServer, project: str
) -> None:
    assert cli("files", "diff", str(pulled)).exit_code == 0
    result = cli("files", "push", str(pulled))
    assert result.exit_code == 0, result.output
    assert "pushed 0 version(s); 2 file(s) unchanged" in result.output
    assert _latest(live_server, project, "booking.system") == 1

    path = pulled / "booking.system.prompt"
    path.write_text(path.read_text().replace("You book appointments", "You book visits"))
    changed = cli("files", "diff", str(pulled))
    assert changed.exit_code == 1
    assert "booking.system changed (pulled at version 1)" in changed.output
    assert "+You book visits" in changed.output
    assert "followup" not in changed.output

    result = cli("files", "push", str(pulled), "--label", "staging", "-m", "shorter")
    assert result.exit_code == 0, result.output
    assert _latest(live_server, project, "booking.system") == 2
    assert _latest(live_server, project, "booking.followup") == 1
    prompt = _api(live_server, project, "/prompts/booking.system")
    assert prompt["labels"]["staging"] == 2
    assert _api(live_server, project, "/prompts/booking.system/versions/2")["message"] == "shorter"
    lock = json.loads((pulled / "promptstage.lock").read_text())
    assert lock["prompts"]["booking.system"]["version"] == 2
    assert cli("files", "diff", str(pulled)).exit_code == 0
    assert "pushed 0" in cli("files", "push", str(pulled)).output


def test_a_renamed_file_is_refused_with_a_clear_message(cli: CliRun, pulled: Path) -> None:
    (pulled / "booking.system.prompt").rename(pulled / "booking.main.prompt")
    for command in ("diff", "push"):
        result = cli("files", command, str(pulled))
        assert result.exit_code == 1
        assert "booking.system.prompt was renamed to booking.main.prompt" in result.output
        assert "cannot be renamed" in result.output


def test_malformed_and_unknown_fields_stop_the_push_before_any_write(
    cli: CliRun, pulled: Path, live_server: LiveServer, project: str
) -> None:
    path = pulled / "booking.system.prompt"
    path.write_text(
        path.read_text()
        .replace("model: openai", "model: [openai")
        .replace("You book", "You now book")
    )
    (pulled / "booking.followup.prompt").write_text(
        (pulled / "booking.followup.prompt")
        .read_text()
        .replace("config:", "temprature: 1\nconfig:")
    )
    result = cli("files", "push", str(pulled))
    assert result.exit_code == 1
    assert "booking.system.prompt:" in result.output and "malformed front matter" in result.output
    assert "unknown field 'temprature'" in result.output
    assert _latest(live_server, project, "booking.system") == 1


def test_a_new_prompty_file_creates_a_prompt_without_its_secret(
    cli: CliRun, pulled: Path, live_server: LiveServer, project: str
) -> None:
    (pulled / "support").mkdir()
    (pulled / "support" / "triage.prompty").write_text(PROMPTY)
    (pulled / "triage.prompty").write_text(PROMPTY)
    (pulled / "support" / "triage.prompty").unlink()  # folders wait for folder names
    diff = cli("files", "diff", str(pulled))
    assert diff.exit_code == 1 and "new prompt triage" in diff.output
    result = cli("files", "push", str(pulled))
    assert result.exit_code == 0, result.output
    assert "api_key is a secret and was not imported" in result.output
    version = _api(live_server, project, "/prompts/triage/versions/1")
    assert "sk-live-should-never-leave-the-laptop" not in json.dumps(version)
    assert version["config"]["model"] == {
        "provider": "openai",
        "name": "gpt-4o-mini",
        "version": "2024-07-18",
    }
    assert version["template"][0] == {
        "role": "system",
        "content": "You triage tickets for {{team}}.",
    }


def test_push_refuses_when_the_server_moved_since_pull(
    cli: CliRun, pulled: Path, chat_file: Path, live_server: LiveServer, project: str
) -> None:
    chat_file.write_text(chat_file.read_text().replace("temperature = 0.2", "temperature = 0.3"))
    assert cli("prompt", "push", str(chat_file)).exit_code == 0  # someone else, meanwhile
    path = pulled / "booking.system.prompt"
    path.write_text(path.read_text().replace("You book", "We book"))
    result = cli("files", "push", str(pulled))
    assert result.exit_code == 1
    assert "is at version 2 on the server, not 1 as pulled" in result.output
    assert _latest(live_server, project, "booking.system") == 2


def test_pull_as_prompty_and_lock_of_another_project(
    cli: CliRun, chat_file: Path, tmp_path: Path
) -> None:
    assert cli("prompt", "push", str(chat_file)).exit_code == 0
    directory = tmp_path / "p"
    assert cli("files", "pull", str(directory), "--format", "prompty").exit_code == 0
    assert (directory / "booking.system.prompty").exists()
    assert cli("files", "diff", str(directory)).exit_code == 0
    other = cli("files", "diff", str(directory), env={"PROMPTSTAGE_PROJECT": "elsewhere"})
    assert other.exit_code == 1 and "was pulled from project" in other.output


def test_diff_json_and_pull_warns_about_foreign_files(cli: CliRun, pulled: Path) -> None:
    path = pulled / "booking.followup.prompt"
    path.write_text(path.read_text().replace("You follow up", "You gently follow up"))
    result = cli("--json", "files", "diff", str(pulled))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["changes"] == [
        {
            "name": "booking.followup",
            "file": "booking.followup.prompt",
            "action": "modified",
            "from_version": 1,
            "server_moved": None,
        }
    ]
    (pulled / "stray.prompt").write_text(PROMPTY)
    again = cli("files", "pull", str(pulled))
    assert again.exit_code == 0
    assert "stray.prompt is not a prompt of" in again.output
    assert "You follow up" in path.read_text()  # pull restores the server's version


def test_a_refused_version_keeps_the_versions_written_before_it_in_the_lock(
    cli: CliRun, pulled: Path, live_server: LiveServer, project: str
) -> None:
    first = pulled / "booking.followup.prompt"
    first.write_text(first.read_text().replace("You follow up", "You follow up kindly"))
    second = pulled / "booking.system.prompt"  # uses a variable its schema does not declare
    second.write_text(second.read_text().replace("{{ question }}", "{{ question }} {{undeclared}}"))
    result = cli("files", "push", str(pulled))
    assert result.exit_code == 1
    assert "undeclared" in result.output
    lock = json.loads((pulled / "promptstage.lock").read_text())
    assert lock["prompts"]["booking.followup"]["version"] == 2
    assert _latest(live_server, project, "booking.followup") == 2
    second.write_text(second.read_text().replace(" {{undeclared}}", ""))
    assert cli("files", "diff", str(pulled)).exit_code == 0
