"""The release tests' fixtures live in ``helpers`` so that other test packages can use them."""

from __future__ import annotations

from .helpers import (  # noqa: F401  (fixtures)
    clock,
    ctx,
    published,
    release_store,
    releases_postgres_url,
    releases_sqlite_template,
    seeded,
)
