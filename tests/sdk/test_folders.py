"""The SDK serves a prompt whose name has folders, from a real server's snapshot and stream."""

from __future__ import annotations

from urllib.parse import quote

from promptstage import Client
from support.live import MODEL, Server, server  # noqa: F401  (the live server fixture)

from .helpers import wait_for

NAME = "support/triage"


def test_get_a_folder_prompt_and_follow_a_label_move(server: Server) -> None:  # noqa: F811
    base = "/api/v1/projects"
    server.api("POST", base, 201, json={"name": "folders"})
    p = f"{base}/folders/prompts"
    server.api("POST", p, 201, json={"name": NAME, "type": "text"})
    q = quote(NAME, safe="")
    for text in ("One {{ x }}", "Two {{ x }}"):
        server.api(
            "POST", f"{p}/{q}/versions", 201, json={"template": text, "config": {"model": MODEL}}
        )
    server.api("PUT", f"{p}/{q}/labels/staging", json={"version": 1, "reason": "t"})
    with Client(server.url, "folders", server.admin) as ps:
        assert ps.get(NAME, label="staging").version == 1
        server.api("PUT", f"{p}/{q}/labels/staging", json={"version": 2, "reason": "t"})
        assert wait_for(lambda: ps.get(NAME, label="staging").version == 2, timeout=5)
        assert ps.get(NAME, label="staging").render(x="a") == "Two a"
