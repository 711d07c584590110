"""Schemathesis over /openapi.json against a running, seeded server: no 5xx, answers match the
schema, every operation's handler is reached, and stateful sequences follow the links."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from . import hooks  # noqa: F401  (registers the hook that puts seeded ids into paths)
from .server import EXCLUDED_PATHS, LiveServer, fuzzed_operations, openapi_document

pytestmark = [pytest.mark.fuzz]
# Every default check runs except two that cannot hold for this harness:
# - positive_data_acceptance: names, cursors and dates are documented as strings, and the server
#   checks their patterns itself (422 naming the field);
# - negative_data_rejection: the harness always sends a valid Authorization header, so a case
#   whose only violation is a missing header is "accepted"; and unknown query parameters are
#   ignored by design (resolve takes any context attribute). Auth is covered by ignored_auth.
EXCLUDED = [positive_data_acceptance, negative_data_rejection]
EXAMPLES = 8  # per operation, in `make test`; `make fuzz` runs 200
REACH_EXAMPLES = 40  # at most, for an operation the parametrized run did not reach
STATEFUL_SCENARIOS = 20  # `make test`'s short stateful run (`make fuzz` runs the long one)
STATEFUL_STEPS = 8
STATEFUL_RESTARTS = 5

CONFIG = schemathesis.Config.from_path(Path(__file__).with_name("schemathesis.toml"))
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG).exclude(
    path_regex=EXCLUDED_PATHS
)
QUIET = settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_the_server_serves_the_fuzzed_document(fuzz_server: LiveServer) -> None:
    assert httpx.get(f"{fuzz_server.url}/openapi.json").json() == openapi_document()


@schema.parametrize()
@settings(QUIET, max_examples=EXAMPLES)
def test_api(case: schemathesis.Case, fuzz_server: LiveServer) -> None:
    case.call_and_validate(
        base_url=fuzz_server.url,
        headers=fuzz_server.headers_for(case.path),
        excluded_checks=EXCLUDED,
    )


@pytest.mark.timeout(600)  # when it runs before test_api it fuzzes every operation itself
def test_every_operation_is_reached(fuzz_server: LiveServer) -> None:
    """Seeded ids, names and versions get fuzzed requests past routing, auth and validation
    into every operation's handler (reach.py). Operations the parametrized run reached already
    (when it ran first) cost nothing here; the others are fuzzed until reached, within
    ``REACH_EXAMPLES`` requests. The summary also says which were found and answered a 2xx."""
    reach = fuzz_server.reach
    for operation in schema.get_all_operations():
        api = operation.ok()
        label = f"{api.method.upper()} {api.path}"
        _fuzz_until(fuzz_server, api, lambda label=label: label in reach.reached())
    summary = reach.summary(fuzzed_operations())
    print(summary)
    assert not [label for label in fuzzed_operations() if label not in reach.reached()], summary


def _fuzz_until(server: LiveServer, api: Any, done: Callable[[], bool]) -> None:
    @settings(QUIET, max_examples=REACH_EXAMPLES, database=None)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        case = data.draw(api.as_strategy())
        if done():
            return  # drawn all the same: Hypothesis wants every run to draw alike
        case.call_and_validate(
            base_url=server.url, headers=server.headers_for(case.path), excluded_checks=EXCLUDED
        )

    if not done():
        fuzz()


def test_stateful_sequences(fuzz_server: LiveServer) -> None:
    """Sequences that feed one answer into the next request (a created release's id into its
    advance, a key's prefix into its rotation...), along the links schemathesis infers from the
    document: no 5xx, every answer matches the schema.

    A scenario replayed by Hypothesis can meet another server state than when it was first drawn
    (the server keeps what earlier scenarios did) and Hypothesis then calls the strategy flaky:
    as schemathesis's own runner does, such a run is started again; a failed check never is."""
    scenarios = [0]

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            scenarios[0] += 1

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": fuzz_server.url, "headers": fuzz_server.headers_for(case.path)}

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(response, excluded_checks=EXCLUDED, transport_kwargs=kwargs)

    sent = sum(fuzz_server.reach.requests.values())
    for _ in range(STATEFUL_RESTARTS):
        with contextlib.suppress(FlakyStrategyDefinition):
            Sequences.run(
                settings=settings(
                    QUIET,
                    derandomize=False,
                    database=None,
                    phases=[Phase.generate],
                    max_examples=STATEFUL_SCENARIOS,
                    stateful_step_count=STATEFUL_STEPS,
                )
            )
        if scenarios[0] >= STATEFUL_SCENARIOS:
            break
    assert scenarios[0] >= STATEFUL_SCENARIOS, f"only {scenarios[0]} scenarios ran"
    assert sum(fuzz_server.reach.requests.values()) - sent >= STATEFUL_SCENARIOS
