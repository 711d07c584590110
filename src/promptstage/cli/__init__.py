"""The ``promptstage`` command line: a thin client of the REST API (plus ``serve`` and ``db``)."""

from __future__ import annotations

import sys


def main() -> None:
    """Console entry point; explains the missing extra instead of a traceback."""
    try:
        from .main import main as run
    except ModuleNotFoundError as exc:
        if exc.name in ("typer", "rich", "click"):
            sys.exit(
                "error: the promptstage command needs the CLI extra: "
                "pip install 'promptstage[cli]' (or 'promptstage[server]' to run a server)"
            )
        raise
    run()
