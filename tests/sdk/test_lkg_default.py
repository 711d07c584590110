"""The last-known-good file is on by default: a per-project file under the user's cache
directory, so a client restarted during an outage still serves (issue 14 item 4)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from promptstage import Client
from promptstage.sdk.cache_dir import CACHE_DIR_ENV, default_cache_path

from .helpers import FAST, PROJECT, refuse, wait_for

URL = "http://promptstage.test"


def _files(directory: Path) -> list[Path]:
    return list(directory.rglob("*.json")) if directory.exists() else []


def test_a_client_restarted_during_an_outage_serves_from_the_default_file(
    make_client, tmp_path, monkeypatch
):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    first = make_client()
    assert first.get("router.intent", label="prod").version == 1
    assert wait_for(lambda: len(_files(tmp_path / "cache")) == 1)
    first.close()
    (written,) = _files(tmp_path / "cache")
    assert written.name.startswith(f"{PROJECT}-") and written.parent == tmp_path / "cache"

    restarted = Client(URL, PROJECT, "k", **FAST, transport=httpx.MockTransport(refuse))
    try:
        assert restarted.get("router.intent", label="prod").version == 1
        status = restarted.status()
        assert status.source == "lkg" and status.cache_warning is None
    finally:
        restarted.close()


def test_cache_path_none_turns_it_off(make_client, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    ps = make_client(cache_path=None)
    assert ps.get("router.intent", label="prod").version == 1
    ps.close()
    assert _files(tmp_path / "cache") == []


def test_an_unwritable_location_is_a_warning_in_the_status_never_a_failure(
    make_client, tmp_path, monkeypatch
):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv(CACHE_DIR_ENV, str(blocker))
    ps = make_client()
    assert ps.get("router.intent", label="prod").version == 1
    assert wait_for(lambda: ps.status().cache_warning is not None)
    warning = ps.status().cache_warning
    assert warning is not None and "cannot write last-known-good file" in warning
    assert str(blocker) in warning
    assert ps.status().state == "connected"
    ps.close()


def test_the_default_file_is_per_project_and_per_server(tmp_path):
    env = {CACHE_DIR_ENV: str(tmp_path)}
    a, _ = default_cache_path("http://a:8700", "clinic", env)
    b, _ = default_cache_path("http://b:8700", "clinic", env)
    c, _ = default_cache_path("http://a:8700", "bank", env)
    assert a is not None and b is not None and c is not None
    assert len({a, b, c}) == 3 and {a.parent, b.parent, c.parent} == {tmp_path}
    assert a == default_cache_path("http://a:8700", "clinic", env)[0]


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"XDG_CACHE_HOME": "/xdg"}, Path("/xdg/promptstage")),
        ("linux", {}, Path.home() / ".cache" / "promptstage"),
        ("darwin", {}, Path.home() / "Library" / "Caches" / "promptstage"),
        ("win32", {"LOCALAPPDATA": "C:/Users/a/AppData/Local"}, None),
    ],
)
def test_the_platform_cache_directory(platform, env, expected):
    path, problem = default_cache_path("http://x", "clinic", env, platform)
    assert problem is None and path is not None
    if expected is None:
        assert path.parent == Path("C:/Users/a/AppData/Local") / "promptstage" / "Cache"
    else:
        assert path.parent == expected


def test_no_home_directory_means_no_file_and_says_why(monkeypatch):
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    path, problem = default_cache_path("http://x", "clinic", {}, "linux")
    assert path is None and problem is not None and CACHE_DIR_ENV in problem
