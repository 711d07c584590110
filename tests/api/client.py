"""A synchronous client of an in-process app, and the seeded project most API tests start from.

Clients talk to the app through ``httpx.ASGITransport`` (no Starlette TestClient), driven from
synchronous tests by one ``asyncio.Runner``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

ADMIN_KEY = "ps_testadmin_" + "0123456789abcdef" * 4
MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}
BASE = "/api/v1/projects"


class Api:
    """A synchronous client of one in-process app, authenticated with one key (or none)."""

    def __init__(self, runner: asyncio.Runner, app: FastAPI, token: str | None) -> None:
        self.runner = runner
        self.app = app
        self.token = token

    def as_key(self, token: str | None) -> Api:
        return Api(self.runner, self.app, token)

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        all_headers.update(headers or {})

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.app), base_url="http://test"
            ) as client:
                return await client.request(method, path, headers=all_headers, **kwargs)

        return self.runner.run(send())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """Send and return the JSON body, failing the test on an unexpected status."""
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response.json()


def text_version(template: str, **extra: Any) -> dict[str, Any]:
    return {"template": template, "config": {"model": MODEL}, **extra}


class Seeded:
    """Project ``acme`` (and an empty ``other``) with prompts, versions, labels and a key per
    role: ``greet`` v1-3 (v3 includes ``shared.tone@1``), ``prod`` moved 1 -> 2, ``staging`` -> 3,
    ``chatty`` (chat) v1, and an ``editor`` key that was revoked."""

    project = "acme"
    other = "other"

    def __init__(self, admin: Api, keys: dict[str, str]) -> None:
        self.admin = admin
        self.keys = keys

    @classmethod
    def build(cls, admin: Api) -> Seeded:
        """Create the seed through the API (tests get a copy of it: see ``database_url``)."""
        seeded = cls(admin, {})
        p = f"{BASE}/{cls.project}"
        admin.ok("POST", BASE, 201, json={"name": cls.project, "description": "Acme agents"})
        admin.ok("POST", BASE, 201, json={"name": cls.other})
        # These suites test label mechanics: four-eyes (default on) is tested in tests/api/test_four_eyes.py.
        admin.ok(
            "PUT",
            f"{BASE}/{cls.project}/settings",
            json={"protected_labels": ["prod"], "four_eyes": False},
        )
        admin.ok("POST", f"{p}/prompts", 201, json={"name": "shared.tone", "type": "text"})
        admin.ok("POST", f"{p}/prompts/shared.tone/versions", 201, json=text_version("Be kind."))
        admin.ok(
            "POST", f"{p}/prompts", 201, json={"name": "greet", "type": "text", "tags": ["demo"]}
        )
        for template in (
            "Hello {{ name }}.",
            "Hi {{ name }}!",
            "{{> shared.tone@1 }} Hey {{ name }}.",
        ):
            admin.ok(
                "POST",
                f"{p}/prompts/greet/versions",
                201,
                json=text_version(template, message=template),
            )
        admin.ok("POST", f"{p}/prompts", 201, json={"name": "chatty", "type": "chat"})
        admin.ok(
            "POST",
            f"{p}/prompts/chatty/versions",
            201,
            json={
                "template": [{"role": "system", "content": "Help {{ user }}."}],
                "variables": [{"name": "user", "type": "string"}],
                "config": {"model": MODEL},
            },
        )
        for label, version, expected in (("prod", 1, None), ("prod", 2, 1), ("staging", 3, None)):
            admin.ok(
                "PUT",
                f"{p}/prompts/greet/labels/{label}",
                json={"version": version, "expected_version": expected, "reason": "seed"},
            )
        for role in ("runtime", "editor", "releaser", "admin"):
            seeded.keys[role] = seeded.make_key(role)
        seeded.keys["other-editor"] = seeded.make_key("editor", cls.other)
        seeded.keys["revoked"] = seeded.make_key("editor")
        admin.ok("DELETE", f"{p}/keys/{seeded.keys['revoked'].split('_')[1]}")
        return seeded

    def make_key(self, role: str, project: str | None = None) -> str:
        body = self.admin.ok(
            "POST", f"{BASE}/{project or self.project}/keys", 201, json={"role": role, "name": role}
        )
        token: str = body["token"]
        return token

    def client(self, who: str | None) -> Api:
        """A client as ``who``: a seeded key's name, ``"instance"`` (the admin key) or ``None``."""
        if who == "instance":
            return self.admin
        return self.admin.as_key(None if who is None else self.keys[who])

    def state(self) -> dict[str, Any]:
        """What the API shows of the project: snapshot, audit, keys, prompts and greet's labels."""
        a, p = self.admin, f"{BASE}/{self.project}"
        out: dict[str, Any] = {
            "projects": a.ok("GET", BASE),
            "snapshot": a.ok("GET", f"{p}/snapshot"),
            "audit": a.ok("GET", f"{p}/audit?limit=500"),
            "keys": a.ok("GET", f"{p}/keys"),
            "prompts": a.ok("GET", f"{p}/prompts?limit=500"),
            "greet": a.ok("GET", f"{p}/prompts/greet"),
            "greet/versions": a.ok("GET", f"{p}/prompts/greet/versions?limit=500"),
        }
        for label in ("prod", "staging", "canary"):
            out[f"greet/{label}/history"] = a.ok(
                "GET", f"{p}/prompts/greet/labels/{label}/history?limit=500"
            )
        return out


def assert_error_shape(body: Any) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message", "field"}}`` (plus optional details)."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) - {"details"} == {"code", "message", "field"}, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["field"] is None or isinstance(error["field"], str), error
    assert isinstance(error.get("details", {}), dict), error
    return error
