"""``promptstage resolve``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import CliRun


@pytest.fixture
def live_prompt(cli: CliRun, chat_file: Path) -> str:
    assert cli("prompt", "push", str(chat_file), "--label", "prod").exit_code == 0
    return "booking.system"


def test_resolve(cli: CliRun, live_prompt: str) -> None:
    result = cli("resolve", live_prompt, "--unit", "user-1", "--ctx", "channel=sms")
    assert result.exit_code == 0, result.output
    assert "booking.system:prod" in result.stdout
    assert "baseline" in result.stdout and "openai/gpt-4o/2024-08-06" in result.stdout

    doc = json.loads(cli("--json", "resolve", live_prompt).stdout)
    assert doc["version"] == 1 and doc["arm"] == "baseline" and "rendered" not in doc


def test_render(cli: CliRun, live_prompt: str) -> None:
    args = (
        "resolve",
        live_prompt,
        "--render",
        "--var",
        "clinic=Smile Dental",
        "--var",
        "question=a=b?",
    )
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "You book appointments for Smile Dental." in result.stdout
    assert "[user]" in result.stdout and "a=b?" in result.stdout
    rendered = json.loads(cli("--json", *args).stdout)["rendered"]
    assert rendered[1] == {"role": "user", "content": "a=b?"}


def test_render_missing_variable(cli: CliRun, live_prompt: str) -> None:
    result = cli("resolve", live_prompt, "--render", "--var", "clinic=x")
    assert result.exit_code == 1
    assert "question" in result.stderr and "[template_error]" in result.stderr


def test_other_label_and_unknowns(cli: CliRun, live_prompt: str) -> None:
    missing_label = cli("resolve", live_prompt, "--label", "canary")
    assert missing_label.exit_code == 1 and "[not_found]" in missing_label.stderr
    missing_prompt = cli("resolve", "nope")
    assert missing_prompt.exit_code == 1 and "[not_found]" in missing_prompt.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ctx", "channel"), "expected key=value"),
        (("--ctx", "=sms"), "expected key=value"),
        (("--ctx", "unit=u"), "reserved"),
        (("--ctx", "var.x=1"), "reserved"),
        (("--var", "clinic=x"), "--var only applies with --render"),
    ],
)
def test_bad_arguments(cli: CliRun, live_prompt: str, args: tuple[str, ...], message: str) -> None:
    result = cli("resolve", live_prompt, *args)
    assert result.exit_code == 1
    assert message in result.stderr
