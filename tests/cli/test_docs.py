"""docs/cli.md documents every command, and its example prompt file really pushes."""

from __future__ import annotations

import re
from pathlib import Path

from typer.main import get_command

from promptstage.cli.main import app

from .conftest import CliRun

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _command_paths() -> list[str]:
    paths: list[str] = []

    def walk(command: object, prefix: str) -> None:
        children = getattr(command, "commands", None)
        if not children:
            paths.append(prefix)
            return
        for name, child in children.items():
            walk(child, f"{prefix} {name}".strip())

    walk(get_command(app), "")
    return paths


def test_every_command_has_a_section() -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = re.findall(r"^### `promptstage ([^`]*)`", text, flags=re.MULTILINE)
    documented = {h.split(" [")[0].split(" --")[0] for h in headings}
    paths = _command_paths()
    assert len(paths) >= 19
    for path in paths:
        assert any(d == path or d.startswith(path + " ") for d in documented), (
            f"docs/cli.md lacks `promptstage {path}`"
        )


def test_environment_variables_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in (
        "PROMPTSTAGE_URL",
        "PROMPTSTAGE_API_KEY",
        "PROMPTSTAGE_PROJECT",
        "PROMPTSTAGE_JSON",
    ):
        assert f"`{name}`" in text


def test_the_example_prompt_file_pushes(cli: CliRun, tmp_path: Path) -> None:
    [block] = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    path = tmp_path / "booking.toml"
    path.write_text(block, encoding="utf-8")
    first = cli(
        "prompt", "push", str(path), "-m", "offer at most three slots", "--label", "staging"
    )
    assert first.exit_code == 0, first.output
    assert "version 1 (new)" in first.stdout and "staging -> version 1 (new label)" in first.stdout
    again = cli("prompt", "push", str(path), "--label", "staging")
    assert "version 1 (unchanged: same digest)" in again.stdout
    assert "staging already at version 1 (unchanged)" in again.stdout
