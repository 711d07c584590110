"""``promptstage serve`` and ``promptstage db upgrade``: settings from flags over env."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from promptstage.cli import serve as server
from promptstage.cli.main import app
from promptstage.errors import ConfigurationError
from promptstage.settings import Settings

CLEAN_ENV: dict[str, str | None] = dict.fromkeys(
    ("PROMPTSTAGE_HOST", "PROMPTSTAGE_PORT", "PROMPTSTAGE_DATABASE_URL", "PROMPTSTAGE_DEMO")
)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """Replace ``promptstage.cli.serve.run`` with a recorder of the settings it gets."""
    calls: list[Settings] = []
    monkeypatch.setattr(server, "run", calls.append)
    return calls


def test_serve_passes_flags(captured: list[Settings], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    result = CliRunner().invoke(
        app,
        ["serve", "--host", "0.0.0.0", "--port", "9001", "--database-url", url, "--demo"],
        env=CLEAN_ENV,
    )
    assert result.exit_code == 0, result.output
    [settings] = captured
    assert (settings.host, settings.port, settings.database_url, settings.demo) == (
        "0.0.0.0",
        9001,
        url,
        True,
    )


def test_serve_flags_beat_env_which_beats_defaults(captured: list[Settings]) -> None:
    env = {
        **CLEAN_ENV,
        "PROMPTSTAGE_PORT": "9100",
        "PROMPTSTAGE_DEMO": "true",
        "PROMPTSTAGE_HOST": "10.0.0.1",
    }
    result = CliRunner().invoke(app, ["serve", "--no-demo", "--host", "127.0.0.2"], env=env)
    assert result.exit_code == 0, result.output
    [settings] = captured
    assert (settings.host, settings.port, settings.demo) == ("127.0.0.2", 9100, False)
    assert settings.database_url == Settings().database_url


def test_serve_bad_env_is_a_clean_error(captured: list[Settings]) -> None:
    result = CliRunner().invoke(app, ["serve"], env={**CLEAN_ENV, "PROMPTSTAGE_PORT": "eighty"})
    assert result.exit_code == 1
    assert "PROMPTSTAGE_PORT" in result.stderr and "error:" in result.stderr
    assert captured == []


def test_serve_configuration_error_from_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(settings: Settings) -> None:
        raise ConfigurationError("PROMPTSTAGE_ADMIN_KEY must look like ps_<prefix>_<secret>")

    monkeypatch.setattr(server, "run", refuse)
    result = CliRunner().invoke(app, ["serve"], env=CLEAN_ENV)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: PROMPTSTAGE_ADMIN_KEY must look like")


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    result = CliRunner().invoke(
        app, ["db", "upgrade", "--database-url", f"sqlite:///{database}"], env=CLEAN_ENV
    )
    assert result.exit_code == 0, result.output
    assert "newest schema" in result.stdout
    with sqlite3.connect(database) as db:
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    assert {"prompts", "versions", "labels", "audit"} <= tables
    again = CliRunner().invoke(
        app,
        ["db", "upgrade"],
        env={**CLEAN_ENV, "PROMPTSTAGE_DATABASE_URL": f"sqlite:///{database}"},
    )
    assert again.exit_code == 0, again.output


def test_db_upgrade_unsupported_url() -> None:
    result = CliRunner().invoke(
        app, ["db", "upgrade", "--database-url", "mysql://u:secret@h/db"], env=CLEAN_ENV
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "secret" not in result.stderr


def test_db_upgrade_unreachable_database(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory", encoding="utf-8")
    url = f"sqlite:///{tmp_path}/blocker/x.db"
    result = CliRunner().invoke(app, ["db", "upgrade", "--database-url", url], env=CLEAN_ENV)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")


def banner(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> str:
    """What ``run`` prints before serving (uvicorn is not started)."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    server.run(settings)
    out: str = capsys.readouterr().out
    return out


def test_an_admin_key_the_operator_set_is_printed_by_its_prefix_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Issue 11, defect 8: the key set in PROMPTSTAGE_ADMIN_KEY was printed in full on every
    # start, so it landed in production logs.
    key = "ps_ab12cd34ef56_" + "0123456789abcdef" * 4
    settings = Settings(admin_key=key, database_url=f"sqlite:///{tmp_path}/x.db")
    for _ in range(2):
        out = banner(settings, monkeypatch, capsys)
        assert key not in out and "0123456789abcdef" not in out
        assert "  admin key (PROMPTSTAGE_ADMIN_KEY): ps_ab12cd34ef56_… (prefix only)" in out


def test_a_generated_admin_key_is_printed_once_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/x.db")
    first = banner(settings, monkeypatch, capsys)
    line = next(x for x in first.splitlines() if "admin key (shown once, store it now): " in x)
    key = line.split(": ", 1)[1].strip()
    assert key.startswith("ps_") and key.count("_") == 2 and len(key.split("_")[2]) == 64
    again = banner(settings, monkeypatch, capsys)
    assert key not in again and key.split("_")[2] not in again
    assert "admin key: created on first start and shown then" in again


def test_the_demo_banner_shows_the_ui_and_a_generated_password_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/x.db", demo=True, port=8711)
    first = banner(settings, monkeypatch, capsys)
    assert "  admin UI: http://127.0.0.1:8711/ui/" in first
    assert "  demo UI users: erin (editor), alice (releaser), bob (releaser)" in first
    line = next(x for x in first.splitlines() if x.startswith("  demo password (shown once"))
    assert "promptstage user passwd" in line
    password = line.rsplit(": ", 1)[1]
    assert len(password) >= 12
    again = banner(settings, monkeypatch, capsys)
    assert password not in again and "demo password: shown when first seeded" in again


def test_a_demo_password_the_operator_set_is_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    settings = Settings(database_url=url, demo=True, demo_password="demo passphrase 42")
    for _ in range(2):
        out = banner(settings, monkeypatch, capsys)
        assert "demo passphrase 42" not in out
        assert "  demo password: the value of PROMPTSTAGE_DEMO_PASSWORD" in out
    changed = Settings(database_url=url, demo=True, demo_password="another passphrase")
    out = banner(changed, monkeypatch, capsys)
    assert "another passphrase" not in out and "not PROMPTSTAGE_DEMO_PASSWORD" in out


def test_a_weak_demo_password_is_a_configuration_error(tmp_path: Path) -> None:
    env = {**CLEAN_ENV, "PROMPTSTAGE_DEMO_PASSWORD": "short"}
    url = f"sqlite:///{tmp_path}/x.db"
    result = CliRunner().invoke(app, ["serve", "--demo", "--database-url", url], env=env)
    assert result.exit_code == 1
    assert "PROMPTSTAGE_DEMO_PASSWORD" in result.stderr and "12" in result.stderr


@pytest.mark.parametrize("level", ["verbose", "trace", "5"])
def test_an_unknown_log_level_names_the_variable_without_a_traceback(
    captured: list[Settings], level: str
) -> None:
    result = CliRunner().invoke(app, ["serve"], env={**CLEAN_ENV, "PROMPTSTAGE_LOG_LEVEL": level})
    assert result.exit_code == 1
    assert "PROMPTSTAGE_LOG_LEVEL" in result.stderr and "debug, info, warning" in result.stderr
    assert "Traceback" not in result.output and captured == []


def test_the_log_level_is_read_in_any_case(captured: list[Settings]) -> None:
    result = CliRunner().invoke(app, ["serve"], env={**CLEAN_ENV, "PROMPTSTAGE_LOG_LEVEL": "DEBUG"})
    assert result.exit_code == 0, result.output
    assert captured[0].log_level == "debug"


def test_with_demo_the_controller_looks_every_few_seconds(captured: list[Settings]) -> None:
    result = CliRunner().invoke(app, ["serve", "--demo"], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    assert captured[0].controller_interval == server.DEMO_CONTROLLER_INTERVAL <= 5
    plain = CliRunner().invoke(app, ["serve", "--no-demo"], env=CLEAN_ENV)
    assert plain.exit_code == 0
    assert captured[1].controller_interval == Settings().controller_interval


def test_an_interval_the_operator_set_wins_over_the_demo_default(captured: list[Settings]) -> None:
    env = {**CLEAN_ENV, "PROMPTSTAGE_CONTROLLER_INTERVAL": "30"}
    result = CliRunner().invoke(app, ["serve", "--demo"], env=env)
    assert result.exit_code == 0, result.output
    assert captured[0].controller_interval == 30.0


def test_the_demo_banner_says_how_often_the_controller_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    settings = server.demo_defaults(
        Settings(database_url=f"sqlite:///{tmp_path}/x.db", demo=True), environ={}
    )
    out = banner(settings, monkeypatch, capsys)
    assert "release controller: looks at running releases every 2 s (demo;" in out


def test_the_server_heap_is_settled_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Issue 16: a full pass of the cyclic garbage collector over a server's heap held the GIL
    # ~0.2 s (its imports and app alone), every request waiting; what is alive when serving
    # starts is frozen out of those passes.
    import gc

    import uvicorn

    frozen: list[int] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: frozen.append(gc.get_freeze_count()))
    gc.unfreeze()
    try:
        server.run(Settings(database_url=f"sqlite:///{tmp_path}/x.db"))
        monkeypatch.setenv("PROMPTSTAGE_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
        gc.unfreeze()
        assert server.worker_app() is not None
        frozen.append(gc.get_freeze_count())
    finally:
        gc.unfreeze()
    capsys.readouterr()
    assert len(frozen) == 2 and all(n > 0 for n in frozen), frozen
