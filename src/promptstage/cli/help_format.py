"""Help output fixes: a flag that takes no value shows no value type.

Typer 0.2x prints the type of every option in ``--help``, so ``--demo/--no-demo`` and
``--help`` itself read ``<bool>``, as if they took a value. :func:`hide_flag_types` makes flags
show no type; every other option keeps its own.
"""

from __future__ import annotations

from typing import Any

import typer.core


def hide_flag_types() -> None:
    """Make ``--help`` show no type for options that take no value (idempotent)."""
    option: Any = typer.core.TyperOption
    original = getattr(option, "display_type_rich", None)
    if original is None or getattr(original, "_hides_flags", False):
        return  # an older Typer that shows no type for flags anyway, or already done

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        result: str | None = original(self, ctx)
        return result

    display_type_rich._hides_flags = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich
