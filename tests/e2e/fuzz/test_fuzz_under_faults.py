"""Fault test 17: schemathesis against a server whose Postgres link adds latency and resets
connections every few hundred milliseconds. No 5xx but the documented 503 ``unavailable``
(the database could not be reached for that request), no auth bypass, answers match the schema.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, unsupported_method
from sqlalchemy.engine import make_url

from ..proxy import FaultProxy
from .server import LiveServer, live_server
from .test_openapi_fuzz import EXCLUDED, schema

pytestmark = [pytest.mark.fuzz]

# `make test` fuzzes the runtime surface and the writes of the fault table (label moves,
# rollbacks, versions, keys, health); PROMPTSTAGE_FUZZ_FAULTS_ALL=1 fuzzes every operation.
FOCUS = r"/(resolve|snapshot|labels/\{label\}(/rollback)?|versions|keys|readyz|healthz)$"
faulty_schema = (
    schema if os.environ.get("PROMPTSTAGE_FUZZ_FAULTS_ALL") else schema.include(path_regex=FOCUS)
)
RESET_EVERY = 0.4  # seconds between two resets of every open database connection
LATENCY = 0.002  # added to every chunk either way


@pytest.fixture(scope="module")
def faulty_server(
    make_postgres_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    url = make_url(make_postgres_database())
    with FaultProxy(url.port or 5432) as proxy:
        through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        folder: Path = tmp_path_factory.mktemp("fuzz-faults")
        with live_server(folder, database_url=through) as server:
            stop = threading.Event()

            def injure() -> None:
                while not stop.wait(RESET_EVERY):
                    proxy.reset_connections()

            proxy.set_latency(LATENCY)
            injurer = threading.Thread(target=injure, daemon=True)
            injurer.start()
            try:
                yield server
            finally:
                stop.set()
                injurer.join(5)
                proxy.set_latency(0)


@faulty_schema.parametrize()
@settings(max_examples=1, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_under_database_faults(case: schemathesis.Case, faulty_server: LiveServer) -> None:
    response = case.call(base_url=faulty_server.url, headers=faulty_server.headers_for(case.path))
    if response.status_code >= 500:
        assert response.status_code == 503, (case.method, case.path, response.text)
        body = response.json()
        if case.path == "/readyz":  # readiness answers its own shape (docs/operations.md)
            assert body["status"] == "unavailable", response.text
        else:
            assert body["error"]["code"] == "unavailable", response.text
    # unsupported_method is left out here: a request carrying an Idempotency-Key is looked up
    # in the store before routing, so an undeclared method can get the 503 instead of its 405
    # while the database is unreachable (the fault-free run checks the 405s).
    case.validate_response(
        response, excluded_checks=[*EXCLUDED, not_a_server_error, unsupported_method]
    )
