"""The UI's pages, one module per area; ``ROUTERS`` is what ``ui.app`` mounts, in order."""

from __future__ import annotations

from fastapi import APIRouter

from . import (
    admin,
    approvals,
    audit,
    auth,
    calls,
    deps,
    editor,
    evals,
    home,
    labels,
    overview,
    playground,
    prompts,
    quality,
    releases,
    replays,
)

ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        auth,
        home,
        overview,
        prompts,
        editor,
        labels,
        approvals,
        releases,
        quality,
        audit,
        calls,
        deps,
        evals,
        replays,
        playground,
        admin,
    )
)
