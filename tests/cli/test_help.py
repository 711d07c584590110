"""``--help`` of every command: flags that take no value show no value type."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from promptstage.cli.main import app


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            found += _paths(sub, (*prefix, name))
    return found


def test_no_flag_shows_a_bool_value_in_help() -> None:
    root = typer.main.get_command(app)
    runner = CliRunner()
    paths = _paths(root)
    assert ("serve",) in paths and len(paths) > 30
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, path


def test_options_that_take_a_value_keep_their_type() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    port = [line for line in result.output.splitlines() if "--port" in line]
    assert port and "<int" in port[0]
