"""Suites shipped in the package (``builtin/security``), read from package data.

Reading them is the only file access in ``evals``: the YAML files sit beside this module and
are parsed once per process.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from promptstage.errors import NotFoundError

from ..suite import Suite, parse_suite

BUILTIN_SUITES = {"builtin/security": "security.yaml"}


@lru_cache(maxsize=len(BUILTIN_SUITES))
def builtin_suite(name: str) -> Suite:
    """The built-in suite called ``name`` (``builtin/security``).

    Raises:
        NotFoundError: for a name that is not a built-in suite.
    """
    if name not in BUILTIN_SUITES:
        raise NotFoundError(
            f"suite {name!r} is not a built-in suite; built-ins: {sorted(BUILTIN_SUITES)}",
            field="suite",
        )
    text = resources.files(__package__).joinpath(BUILTIN_SUITES[name]).read_text("utf-8")
    return parse_suite(text, "yaml", allow_builtin=True)
