"""The suite never writes into the user's own directories, whatever the fixture's scope.

CI failed when a module-scoped SDK client (created before any function-scoped fixture runs)
loaded a last-known-good file that an earlier run had left in the user's cache directory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from promptstage.sdk.cache_dir import default_cache_path

BASE_URL, PROJECT = "http://isolation.invalid", "isolation"


@pytest.fixture(scope="module")
def module_scoped_default_file() -> Path | None:
    """The default last-known-good file as a module-scoped fixture sees it."""
    return default_cache_path(BASE_URL, PROJECT)[0]


def test_a_module_scoped_client_keeps_its_lkg_file_out_of_the_users_cache(
    module_scoped_default_file: Path | None,
) -> None:
    users_own, _ = default_cache_path(BASE_URL, PROJECT, environ={})
    assert module_scoped_default_file is not None
    assert module_scoped_default_file != users_own
    assert module_scoped_default_file.is_relative_to(Path(tempfile.gettempdir()).resolve())
