"""``promptstage prompt``: create, list, show, versions, diff and push."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import CHAT_TOML, CliRun


def test_create_list_show_empty_prompt(cli: CliRun) -> None:
    created = cli(
        "prompt",
        "create",
        "router.intent",
        "--type",
        "text",
        "-d",
        "Routes",
        "--tag",
        "a",
        "--tag",
        "b",
    )
    assert created.exit_code == 0, created.output
    assert "created prompt router.intent (text)" in created.stdout

    listed = cli("prompt", "list")
    assert "router.intent" in listed.stdout and "a, b" in listed.stdout

    shown = cli("prompt", "show", "router.intent")
    assert shown.exit_code == 0
    assert "no versions yet" in shown.stdout

    document = json.loads(cli("--json", "prompt", "show", "router.intent").stdout)
    assert document["prompt"]["tags"] == ["a", "b"] and document["latest"] is None


def test_create_rejects_unknown_type(cli: CliRun) -> None:
    result = cli("prompt", "create", "x", "--type", "image")
    assert result.exit_code == 1 and "text or chat" in result.stderr


def test_push_creates_writes_and_is_idempotent(cli: CliRun, chat_file: Path) -> None:
    first = cli("prompt", "push", str(chat_file), "-m", "first")
    assert first.exit_code == 0, first.output
    assert "created prompt booking.system (chat)" in first.stdout
    assert "version 1 (new)" in first.stdout

    again = cli("prompt", "push", str(chat_file), "-m", "again")
    assert again.exit_code == 0
    assert "version 1 (unchanged: same digest)" in again.stdout
    assert "created prompt" not in again.stdout

    doc = json.loads(cli("--json", "prompt", "push", str(chat_file)).stdout)
    assert doc["prompt_created"] is False
    assert doc["version"]["version"] == 1 and doc["version"]["created"] is False
    assert doc["label"] is None


def test_push_with_label_moves_it_once(cli: CliRun, chat_file: Path) -> None:
    first = cli("prompt", "push", str(chat_file), "--label", "staging")
    assert "staging -> version 1 (new label)" in first.stdout
    second = cli("prompt", "push", str(chat_file), "--label", "staging")
    assert "staging already at version 1 (unchanged)" in second.stdout

    chat_file.write_text(CHAT_TOML.replace("0.2", "0.7"), encoding="utf-8")
    third = cli("prompt", "push", str(chat_file), "--label", "staging", "-m", "warmer")
    assert "version 2 (new)" in third.stdout
    assert "staging -> version 2 (was 1)" in third.stdout
    history = json.loads(cli("--json", "label", "history", "booking.system", "staging").stdout)
    assert history["items"][0]["reason"] == "warmer"


def test_push_json_file(cli: CliRun, tmp_path: Path) -> None:
    path = tmp_path / "greet.json"
    path.write_text(
        json.dumps(
            {
                "name": "greet",
                "type": "text",
                "template": "Hello {{ name }}!",
                "config": {
                    "model": {"provider": "openai", "name": "gpt-4o-mini", "version": "2024-07-18"}
                },
            }
        ),
        encoding="utf-8",
    )
    doc = json.loads(cli("--json", "prompt", "push", str(path), "--label", "prod").stdout)
    assert doc["prompt_created"] is True
    assert doc["version"]["digest"].startswith("sha256:")
    assert doc["label"]["version"] == 1 and doc["label"]["changed"] is True


def test_push_type_mismatch(cli: CliRun, chat_file: Path) -> None:
    cli("prompt", "create", "booking.system", "--type", "text")
    result = cli("prompt", "push", str(chat_file))
    assert result.exit_code == 1
    assert "is a text prompt" in result.stderr


def test_push_bad_files(cli: CliRun, tmp_path: Path) -> None:
    cases = {
        "missing.toml": None,
        "bad.toml": "name = ",
        "bad.json": '{"name": ',
        "prompt.yaml": "name: x",
        "nokey.toml": 'name = "x"\ntype = "text"\ntemplate = "hi"\n',
        "extra.toml": 'name = "x"\ntype = "text"\ntemplate = "hi"\nmodel = "gpt"\n[config]\n',
        "badtype.toml": 'name = "x"\ntype = "image"\ntemplate = "hi"\n[config]\n',
        "badchat.toml": 'name = "x"\ntype = "chat"\ntemplate = "hi"\n[config]\n',
    }
    for filename, content in cases.items():
        path = tmp_path / filename
        if content is not None:
            path.write_text(content, encoding="utf-8")
        result = cli("prompt", "push", str(path))
        assert result.exit_code == 1, (filename, result.output)
        assert result.stderr.startswith(f"error: {path}"), (filename, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_push_server_side_validation_error(cli: CliRun, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('name = "p"\ntype = "text"\ntemplate = "hi"\n[config]\n', encoding="utf-8")
    result = cli("prompt", "push", str(path))
    assert result.exit_code == 1
    assert "config.model" in result.stderr and "[invalid_input]" in result.stderr


def test_show_versions_and_diff(cli: CliRun, chat_file: Path) -> None:
    cli("prompt", "push", str(chat_file), "--label", "prod")
    chat_file.write_text(
        CHAT_TOML.replace("0.2", "0.5").replace("You book", "You kindly book"), encoding="utf-8"
    )
    cli("prompt", "push", str(chat_file), "-m", "kinder")

    shown = cli("prompt", "show", "booking.system")
    assert shown.exit_code == 0
    for text in ("prod", "openai/gpt-4o/2024-08-06", "temperature", "version 2 (latest)", "kinder"):
        assert text in shown.stdout, text
    doc = json.loads(cli("--json", "prompt", "show", "booking.system").stdout)
    assert doc["prompt"]["labels"]["prod"] == 1
    assert doc["latest"]["version"] == 2

    versions = cli("prompt", "versions", "booking.system")
    assert "kinder" in versions.stdout and "sha256:" in versions.stdout
    assert [
        v["version"]
        for v in json.loads(cli("--json", "prompt", "versions", "booking.system").stdout)["items"]
    ] == [2, 1]

    diff = cli("prompt", "diff", "booking.system", "1", "2")
    assert diff.exit_code == 0
    assert "-You book appointments" in diff.stdout
    assert "+You kindly book appointments" in diff.stdout
    assert "params.temperature" in diff.stdout and "0.5" in diff.stdout
    assert "variables: unchanged" in diff.stdout
    raw = json.loads(cli("--json", "prompt", "diff", "booking.system", "1", "2").stdout)
    assert raw["from"] == 1 and raw["to"] == 2 and raw["config"]


def test_diff_colors_on_a_terminal(cli: CliRun, chat_file: Path) -> None:
    cli("prompt", "push", str(chat_file))
    chat_file.write_text(CHAT_TOML.replace("You book", "You kindly book"), encoding="utf-8")
    cli("prompt", "push", str(chat_file))
    diff = cli(
        "prompt", "diff", "booking.system", "1", "2", env={"NO_COLOR": None, "FORCE_COLOR": "1"}
    )
    assert "\x1b[32m+You kindly book" in diff.stdout
    assert "\x1b[31m-You book" in diff.stdout


def test_unknown_prompt_is_404(cli: CliRun) -> None:
    for args in (("show", "nope"), ("versions", "nope"), ("diff", "nope", "1", "2")):
        result = cli("prompt", *args)
        assert result.exit_code == 1, args
        assert "[not_found]" in result.stderr and "nope" in result.stderr
        assert result.stdout == ""


def test_list_pagination(cli: CliRun) -> None:
    for i in range(3):
        cli("prompt", "create", f"p{i}", "--type", "text")
    page = json.loads(cli("--json", "prompt", "list", "--limit", "2").stdout)
    assert len(page["items"]) == 2 and page["next_cursor"]
    human = cli("prompt", "list", "--limit", "2")
    assert f"--cursor {page['next_cursor']}" in human.stdout
    rest = json.loads(cli("--json", "prompt", "list", "--cursor", page["next_cursor"]).stdout)
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
