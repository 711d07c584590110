"""Planner settings for one statement or read, on Postgres only.

``SET LOCAL`` lasts until the end of the transaction; :func:`planner_settings` sets what a
statement needs and puts the transaction's own values back after it, so a unit of work that
goes on with other statements plans them as the server is configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

_SET = "SELECT set_config(%(name)s, %(value)s, true)"


@contextmanager
def planner_settings(conn: Connection, **values: str) -> Iterator[None]:
    """Run the block with Postgres settings ``values`` (e.g. ``jit="off"``); SQLite: nothing.

    The previous values come back when the block ends normally. After an error the
    transaction is rolled back, which undoes the ``SET LOCAL`` anyway (restoring then would
    fail on the aborted transaction and hide the error).
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    prior = {
        name: conn.exec_driver_sql("SELECT current_setting(%(name)s)", {"name": name}).scalar_one()
        for name in values
    }
    for name, value in values.items():
        conn.exec_driver_sql(_SET, {"name": name, "value": value})
    yield
    for name, value in prior.items():
        conn.exec_driver_sql(_SET, {"name": name, "value": value})
