"""Two server processes on one Postgres database: a change through one reaches SDK clients
connected to the other within a second (LISTEN/NOTIFY)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from promptstage import Client

from ..servers import FAST, ServerProcess, admin_token, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_a_move_through_one_replica_reaches_clients_of_the_other(
    make_postgres_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_postgres_database()
    key = admin_token()
    # One after the other: the first start runs the migrations.
    one = ServerProcess(url, tmp_path, admin_key=key)
    two = ServerProcess(url, tmp_path, admin_key=key)
    try:
        one.start()
        two.start()
        api = two.api()
        project, (v1, v2) = api.setup(texts=("Hello v1 {{ name }}.", "Hello v2 {{ name }}."))
        token, _ = api.key(project)
        with Client(one.url, project, token, **FAST) as ps:  # connected to replica one
            assert ps.get("greet").version == v1
            assert wait_for(lambda: ps.status().state == "connected")
            for target in (v2, v1, v2):  # move, roll back, move again, all through replica two
                api.move(project, "greet", "prod", target)
                # Committed on replica two (its answer is back): replica one's client must
                # serve it within a second.
                assert wait_for(
                    lambda t=target: ps.get("greet").version == t, timeout=1.0, interval=0.002
                ), f"replica one's client did not serve v{target} within 1 s of the move"
        api.close()
    finally:
        two.stop()
        one.stop()
