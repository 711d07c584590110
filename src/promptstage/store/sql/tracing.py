"""Statement spans: an engine's SQL statements, each inside a span opened by the caller's
``open_span(statement, dialect)`` (the server's OpenTelemetry tracer; ``store`` knows no tracer)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine, event

__all__ = ["OpenSpan", "trace_statements"]

OpenSpan = Callable[[str, str], AbstractContextManager[object]]
"""``open_span(statement, dialect)``: a context manager around the statement's execution;
``dialect`` is SQLAlchemy's name of the database (``sqlite``, ``postgresql``)."""

_KEY = "promptstage.statement_spans"


def trace_statements(engine: Engine, open_span: OpenSpan) -> None:
    """Open a span before each statement ``engine`` runs and close it after, or with the
    error when the statement fails. The open spans wait on the connection's ``info``."""
    dialect = engine.dialect.name

    @event.listens_for(engine, "before_cursor_execute")
    def _before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        span = open_span(statement, dialect)
        span.__enter__()
        conn.info.setdefault(_KEY, []).append(span)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        spans = conn.info.get(_KEY)
        if spans:
            spans.pop().__exit__(None, None, None)

    @event.listens_for(engine, "handle_error")
    def _error(ctx: Any) -> None:
        conn = ctx.connection
        spans = conn.info.get(_KEY) if conn is not None else None
        if spans:
            exc = ctx.original_exception
            spans.pop().__exit__(type(exc), exc, exc.__traceback__)
