"""The global options of one invocation, shared by every command through the Typer context."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote as url_quote

import typer

from .http import ApiClient
from .output import fail

DEFAULT_URL = "http://127.0.0.1:8700"


@dataclass(slots=True)
class CliState:
    """What the root callback read from flags and environment (flags win)."""

    url: str = DEFAULT_URL
    api_key: str | None = None
    project_name: str | None = None
    json_output: bool = False
    _client: ApiClient | None = field(default=None, repr=False)

    @property
    def project(self) -> str:
        """The project to act on; exits with a hint when none was given."""
        if not self.project_name:
            fail("no project given: pass --project/-p NAME or set PROMPTSTAGE_PROJECT")
        return self.project_name

    def client(self) -> ApiClient:
        """The API client, built on first use; exits with a hint when no API key was given."""
        if self._client is None:
            if not self.api_key:
                fail("no API key given: pass --api-key KEY or set PROMPTSTAGE_API_KEY")
            self._client = ApiClient(self.url, self.api_key, echo_errors=self.json_output)
        return self._client

    def close(self) -> None:
        """Close the HTTP connection pool, if one was opened."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def project_path(self, suffix: str = "") -> str:
        """``/api/v1/projects/{project}`` plus ``suffix``."""
        return f"/api/v1/projects/{quote(self.project)}{suffix}"

    def prompt_path(self, name: str, suffix: str = "") -> str:
        """``/api/v1/projects/{project}/prompts/{name}`` plus ``suffix``."""
        return self.project_path(f"/prompts/{quote(name)}{suffix}")


def get_state(ctx: typer.Context) -> CliState:
    """The ``CliState`` the root callback stored on the context."""
    state = ctx.find_root().obj
    if not isinstance(state, CliState):  # a command invoked without the root callback
        state = CliState()
        ctx.find_root().obj = state
    return state


def quote(segment: str) -> str:
    """Escape one path segment (names may hold characters that mean something in a URL)."""
    return url_quote(segment, safe="")
