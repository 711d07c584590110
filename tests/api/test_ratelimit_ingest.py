"""Call and score ingest is runtime telemetry: it never spends the write budget."""

from __future__ import annotations

import pytest

from promptstage.api.ratelimit import kind_of


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/api/v1/projects/clinic/calls", "reads"),
        ("POST", "/api/v1/projects/clinic/scores", "reads"),
        ("GET", "/api/v1/projects/clinic/calls", "reads"),
        ("POST", "/api/v1/projects/clinic/prompts", "writes"),
        ("PUT", "/api/v1/projects/clinic/prompts/a/labels/prod", "writes"),
        ("DELETE", "/api/v1/projects/clinic/keys/abc", "writes"),
        ("GET", "/api/v1/projects/clinic/snapshot", "reads"),
        ("OPTIONS", "/api/v1/projects/clinic/snapshot", None),
    ],
)
def test_requests_are_counted_in_the_right_budget(method: str, path: str, kind: str | None) -> None:
    assert kind_of(method, path) == kind
