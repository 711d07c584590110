"""``promptstage deps``: add, list, impact, bump, retire, deprecations, drift."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import CHAT_TOML, CliRun

WITH_REFS = CHAT_TOML.replace(
    '[config.model]\nprovider = "openai"\nname = "gpt-4o"\nversion = "2024-08-06"\n',
    '[config.model]\nmodel = "openai/gpt-4o@2024-08-06"\n\n'
    '[config.retrieval]\nindex = "kb@7"\n\n'
    '[[config.tools]]\ntool = "book_appointment@3"\n',
)


def test_catalog_impact_and_bump(cli: CliRun, tmp_path: Path) -> None:
    tool = tmp_path / "tool.json"
    tool.write_text(json.dumps({"description": "Book", "parameters": {"type": "object"}}))
    for args in (
        ("index:kb@7", "--documents", "100"),
        ("model:openai/gpt-4o@2024-08-06",),
        ("tool:book_appointment@3", "--body", f"@{tool}"),
    ):
        done = cli("deps", "add", *args)
        assert done.exit_code == 0, done.output
        assert "registered" in done.stdout
    prompt = tmp_path / "booking.toml"
    prompt.write_text(WITH_REFS, encoding="utf-8")
    pushed = cli("prompt", "push", str(prompt))
    assert pushed.exit_code == 0, pushed.output
    assert cli("label", "set", "booking.system", "staging", "1").exit_code == 0

    impact = cli("deps", "impact", "index:kb@7")
    assert impact.exit_code == 0, impact.output
    assert "booking.system" in impact.stdout and "staging" in impact.stdout

    added = cli("deps", "add", "index:kb@8", "--documents", "120")
    assert "1 label(s) serve a version pinning another version of kb" in added.output
    assert "promptstage deps bump index:kb 8 --label LABEL" in added.stdout

    bumped = cli("--json", "deps", "bump", "index:kb", "8", "--label", "staging")
    assert bumped.exit_code == 0, bumped.output
    assert json.loads(bumped.stdout)["items"] == [
        {"prompt": "booking.system", "base": 1, "version": 2, "previous": "7", "created": True}
    ]
    again = cli("deps", "bump", "index:kb", "8", "--label", "prod")
    assert "nothing to bump" in again.stdout

    listed = cli("--json", "deps", "list", "--kind", "index")
    assert [e["ref"] for e in json.loads(listed.stdout)["items"]] == ["index:kb@7", "index:kb@8"]


def test_retire_and_deprecations(cli: CliRun, chat_file: Path) -> None:
    assert cli("prompt", "push", str(chat_file)).exit_code == 0
    assert cli("deps", "add", "model:openai/gpt-4o@2024-08-06").exit_code == 0
    assert "no model pinned here retires" in cli("deps", "deprecations").stdout
    retired = cli("deps", "retire", "model:openai/gpt-4o@2024-08-06", "2020-01-01")
    assert retired.exit_code == 0, retired.output
    listed = cli("deps", "deprecations")
    assert "retires on 2020-01-01" in listed.stdout
    bad = cli("deps", "retire", "index:kb@7", "2020-01-01")
    assert bad.exit_code == 1


def test_bad_spec_is_a_clear_error(cli: CliRun) -> None:
    bad = cli("deps", "add", "kb@7")
    assert bad.exit_code == 1
    assert "KIND:NAME[@VERSION]" in bad.stderr
    assert "Traceback" not in bad.output
