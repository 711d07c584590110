"""The FastAPI dependencies routes share: the context, the page size, who the caller is and
how long a change request stays open.

Each alias is defined once here, so every router asks for a role the same way::

    def list_prompts(project: str, who: Editor, request: Request, limit: Limit = 100): ...
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Query, Request

from promptstage.api.auth import principal, role
from promptstage.domain.models import Role
from promptstage.service.context import Context
from promptstage.service.keys import Principal

Limit = Annotated[int, Query(ge=1, le=500)]
"""A page size: 1 to 500 items."""

Caller = Annotated[Principal, Depends(principal)]
"""Any authenticated key; the role it needs is checked later, by the route or the service."""
Runtime = Annotated[Principal, Depends(role(Role.runtime))]
"""A key holding the runtime role (or above) on the path's project."""
Editor = Annotated[Principal, Depends(role(Role.editor))]
"""A key holding the editor role (or above) on the path's project."""
Releaser = Annotated[Principal, Depends(role(Role.releaser))]
"""A key holding the releaser role (or above) on the path's project."""
Admin = Annotated[Principal, Depends(role(Role.admin))]
"""A key holding the admin role on the path's project."""


def ctx(request: Request) -> Context:
    """The application's service context, built once by ``server.create_app``."""
    context: Context = request.app.state.ctx
    return context


def change_request_ttl(request: Request) -> timedelta:
    """How long a change request opened now stays open (``change_request_ttl_hours``)."""
    return timedelta(hours=request.app.state.settings.change_request_ttl_hours)
