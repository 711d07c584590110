"""Bounded rendering over HTTP (issue 11, defect 3): a version whose expansion is over
``max_rendered_bytes`` is refused when written, and ``/resolve?render=1`` never builds a text
over the limit, whatever the variables or the versions stored before the limit existed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from fastapi import FastAPI

from .client import ADMIN_KEY, BASE, Api, Seeded, text_version

P = f"{BASE}/acme"
SMALL = 100 * 1024


def with_limit(
    seeded: Seeded, runner: asyncio.Runner, make_app: Callable[..., FastAPI], limit: int
) -> Api:
    """An admin client of another app on the seeded database, rendering at most ``limit``."""
    return Api(runner, make_app(max_rendered_bytes=limit), ADMIN_KEY)


def write_blob(admin: Api, size: int) -> None:
    admin.ok("POST", f"{P}/prompts", 201, json={"name": "blob", "type": "text"})
    admin.ok("POST", f"{P}/prompts/blob/versions", 201, json=text_version("x" * size))


def test_a_version_whose_expansion_is_over_the_limit_is_refused(
    seeded: Seeded, runner: asyncio.Runner, make_app: Callable[..., FastAPI]
) -> None:
    # The reproduction's shape (a version including a 100 KB version 2,000 times: 200 MB),
    # scaled down: 2,000 copies of 100 bytes against a 100 KiB limit.
    admin = with_limit(seeded, runner, make_app, SMALL)
    write_blob(admin, 100)
    before = admin.ok("GET", f"{P}/prompts/greet/versions")
    body = admin.ok(
        "POST",
        f"{P}/prompts/greet/versions",
        422,
        json=text_version("{{> blob@1 }}" * 2_000 + "{{ name }}"),
    )
    assert body["error"]["field"] == "template"
    assert body["error"]["details"] == {"include": "blob@1"}
    assert "the include `blob@1` appears 2,000 times" in body["error"]["message"]
    assert "over the 100 KiB limit" in body["error"]["message"]
    assert admin.ok("GET", f"{P}/prompts/greet/versions") == before
    admin.ok("POST", f"{P}/prompts/greet/versions", 201, json=text_version("{{> blob@1 }}" * 1_000))


def test_the_200_mb_version_is_refused_fast_at_the_default_limit(seeded: Seeded) -> None:
    write_blob(seeded.admin, 100_000)
    started = time.monotonic()
    body = seeded.admin.ok(
        "POST", f"{P}/prompts/greet/versions", 422, json=text_version("{{> blob@1 }}" * 2_000)
    )
    assert time.monotonic() - started < 5.0
    assert (
        "appears 2,000 times: the expansion is 190.7 MiB, over the 1 MiB limit"
        in (body["error"]["message"])
    )


def test_nested_include_fan_out_is_refused(
    seeded: Seeded, runner: asyncio.Runner, make_app: Callable[..., FastAPI]
) -> None:
    admin = with_limit(seeded, runner, make_app, SMALL)
    write_blob(admin, 100)  # blob@1: 100 bytes
    for name in ("fan.b", "fan.a"):
        admin.ok("POST", f"{P}/prompts", 201, json={"name": name, "type": "text"})
    # fan.b: 100 x blob (10 KB) fits; fan.a: 100 x fan.b = 10,000 x blob (1 MB) does not.
    admin.ok("POST", f"{P}/prompts/fan.b/versions", 201, json=text_version("{{> blob@1 }}" * 100))
    body = admin.ok(
        "POST", f"{P}/prompts/fan.a/versions", 422, json=text_version("{{> fan.b@1 }}" * 100)
    )
    assert body["error"]["details"] == {"include": "fan.b@1"}
    assert (
        "the include `fan.b@1` appears 100 times: the expansion is 976.6 KiB"
        in (body["error"]["message"])
    )
    admin.ok("POST", f"{P}/prompts/fan.a/versions", 201, json=text_version("{{> fan.b@1 }}" * 10))


def test_resolve_render_is_bounded_for_versions_stored_before_the_limit(
    seeded: Seeded, runner: asyncio.Runner, make_app: Callable[..., FastAPI]
) -> None:
    roomy = with_limit(seeded, runner, make_app, 10 * SMALL)
    write_blob(roomy, 100)
    roomy.ok("POST", f"{P}/prompts/greet/versions", 201, json=text_version("{{> blob@1 }}" * 2_000))
    roomy.ok("PUT", f"{P}/prompts/greet/labels/staging", json={"version": 4, "reason": "big"})
    runtime = with_limit(seeded, runner, make_app, SMALL).as_key(seeded.keys["runtime"])
    params = {"label": "staging", "render": "1"}
    body = runtime.ok("GET", f"{P}/prompts/greet/resolve", 422, params=params)
    assert "the include `blob@1` appears 2,000 times" in body["error"]["message"]
    assert body["error"]["details"] == {"include": "blob@1"}
    served = runtime.ok("GET", f"{P}/prompts/greet/resolve", params={"label": "staging"})
    assert served["version"] == 4 and "rendered" not in served


def test_resolve_render_refuses_a_variable_that_takes_it_over_the_limit(
    seeded: Seeded, runner: asyncio.Runner, make_app: Callable[..., FastAPI]
) -> None:
    runtime = with_limit(seeded, runner, make_app, 1_000).as_key(seeded.keys["runtime"])
    params = {"label": "prod", "render": "1", "var.name": "x" * 1_000}
    body = runtime.ok("GET", f"{P}/prompts/greet/resolve", 422, params=params)
    assert body["error"]["field"] == "name"
    assert (
        "over the 1,000 B limit: variable 'name' (1,000 B) appears 1 times"
        in (body["error"]["message"])
    )
    params["var.name"] = "x" * 900
    assert runtime.ok("GET", f"{P}/prompts/greet/resolve", params=params)["rendered"] == (
        "Hi " + "x" * 900 + "!"
    )
