"""Schemathesis hooks of the fuzz runs: path parameters mostly name objects that exist.

Nine generated values in ten are replaced by a value from the seeds of the server under test
(``seed.py``: release ids, change-request ids, key prefixes, versions, user and suite names...),
the tenth is kept as generated, so unknown ids still get their 404 checked. The short run in
``make test`` sets the seeds with :func:`use_seeds`; ``make fuzz`` runs the ``st`` CLI in another
process, which imports this module (``SCHEMATHESIS_HOOKS``) and reads them from ``SEEDS_ENV``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

SEEDS_ENV = "PROMPTSTAGE_FUZZ_SEEDS"
KEEP_GENERATED_ONE_IN = 10

_seeds: dict[str, list[Any]] = json.loads(os.environ.get(SEEDS_ENV) or "{}")


def use_seeds(seeds: dict[str, list[Any]]) -> None:
    """The values of each path parameter that name objects of the server under test."""
    _seeds.clear()
    _seeds.update(seeds)


def pool_for(parameter: str, path: str) -> list[Any]:
    """Seeded values for ``parameter`` of the operation at ``path`` (``name`` names a prompt,
    a user or an eval suite, depending on the path)."""
    if parameter == "name":
        if "/users/" in path:
            return _seeds.get("user", [])
        if "/evals/suites/" in path:
            return _seeds.get("suite", [])
    return _seeds.get(parameter, [])


def _share(pool: list[Any], destructive: bool) -> list[Any]:
    """Operations that delete or replace an object (DELETE, key rotation) draw from the second
    half of each pool, the others from the first half, so the objects that reads and updates
    name are still there after the deletions (a pool of one is shared)."""
    half = max(1, len(pool) // 2)
    return pool[len(pool) - half :] if destructive else pool[:half]


def _seeded_or(generated: Any, pool: list[Any]) -> st.SearchStrategy[Any]:
    return st.integers(0, KEEP_GENERATED_ONE_IN - 1).flatmap(
        # The simplest example (n = 0, Hypothesis's first) uses a seed; the last kept value is
        # the generated one.
        lambda n: st.just(generated) if n == KEEP_GENERATED_ONE_IN - 1 else st.sampled_from(pool)
    )


@schemathesis.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    if not path_parameters:
        return st.just(path_parameters)
    operation = context.operation
    path = operation.path if operation is not None else ""
    method = operation.method.upper() if operation is not None else ""
    destructive = method == "DELETE" or path.endswith("/rotate")
    return st.fixed_dictionaries(
        {
            key: _seeded_or(value, _share(pool, destructive))
            if (pool := pool_for(key, path))
            else st.just(value)
            for key, value in path_parameters.items()
        }
    )
