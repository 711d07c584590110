"""Where the last-known-good file lives when the caller did not say (``cache_path`` default).

One file per server and project: ``<dir>/<project>-<12 hex of sha256(base_url)>.json``, with
``<dir>`` = ``$PROMPTSTAGE_CACHE_DIR`` if set, else the platform's user cache directory plus
``promptstage`` (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS,
``%LOCALAPPDATA%`` on Windows). No file I/O here: the directory is created (mode 0700) when
the file is first written, and a location that cannot be written is a warning in the
client's status, never a failure.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["CACHE_DIR_ENV", "DEFAULT_CACHE", "DefaultCache", "default_cache_path"]

CACHE_DIR_ENV: Final = "PROMPTSTAGE_CACHE_DIR"


class DefaultCache:
    """The type of :data:`DEFAULT_CACHE`: "use the default last-known-good file"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT_CACHE"


DEFAULT_CACHE: Final = DefaultCache()
"""``cache_path``'s default: a per-project file under the user's cache directory."""


def _platform_dir(environ: Mapping[str, str], platform: str) -> Path:
    if platform == "win32":
        base = environ.get("LOCALAPPDATA")
        if base:
            return Path(base) / "promptstage" / "Cache"
    elif platform == "darwin":
        return Path.home() / "Library" / "Caches" / "promptstage"
    xdg = environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "promptstage"
    return Path.home() / ".cache" / "promptstage"


def default_cache_path(
    base_url: str,
    project: str,
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> tuple[Path | None, str | None]:
    """The default last-known-good file of ``project`` on ``base_url``.

    Returns:
        ``(path, None)``, or ``(None, why)`` when no cache directory can be found (no home
        directory): the client then runs without the file and says why in its status.
    """
    env = os.environ if environ is None else environ
    name = f"{project}-{hashlib.sha256(base_url.encode()).hexdigest()[:12]}.json"
    chosen = env.get(CACHE_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser() / name, None
    try:
        return _platform_dir(env, platform or sys.platform) / name, None
    except (RuntimeError, KeyError, OSError) as exc:
        return None, (
            f"no last-known-good file: cannot find a cache directory ({exc}); set "
            f"{CACHE_DIR_ENV} or cache_path="
        )
