"""``promptstage audit``: list and verify (including a tampered chain)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .conftest import CliRun, LiveServer


def test_list(cli: CliRun, chat_file: Path) -> None:
    cli("prompt", "push", str(chat_file), "--label", "staging", "-m", "first")
    listed = cli("audit", "list")
    assert listed.exit_code == 0, listed.output
    assert "label.move" in listed.stdout
    items = json.loads(cli("--json", "audit", "list").stdout)["items"]
    seqs = [a["seq"] for a in items]
    assert seqs == sorted(seqs, reverse=True) and seqs[-1] == 1


def test_verify_ok(cli: CliRun, chat_file: Path) -> None:
    cli("prompt", "push", str(chat_file), "--label", "staging")
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "audit chain OK" in result.stdout
    doc = json.loads(cli("--json", "audit", "verify").stdout)
    assert doc["ok"] is True and doc["first_bad_seq"] is None


def test_verify_broken_chain_exits_1_naming_the_row(
    cli: CliRun, live_server: LiveServer, project: str, chat_file: Path
) -> None:
    cli("prompt", "push", str(chat_file), "--label", "staging", "-m", "honest")
    with sqlite3.connect(live_server.database) as db:
        db.execute("UPDATE audit SET reason = 'forged' WHERE project = ? AND seq = 2", (project,))
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN at seq 2" in result.stderr
    as_json = cli("--json", "audit", "verify")
    assert as_json.exit_code == 1
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is False and doc["first_bad_seq"] == 2
