"""Fixtures of the provider tests: a fake model server and providers pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.fake_model import FakeModel, running_fake_model


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeModel]:
    """One fake model server (default behaviour ``refuse``) for the module's tests."""
    with running_fake_model("refuse", slow_seconds=0.05) as server:
        yield server
