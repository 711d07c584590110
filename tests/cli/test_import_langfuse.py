"""``promptstage import langfuse`` from a second promptstage instance's Langfuse facade, and from
recorded Langfuse response bodies (fields we do not emit)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from langfuse import Langfuse

from promptstage.domain.langfuse import key_pair
from support.http import serving
from support.live import Server, running_server

from .conftest import CliRun, LiveServer

RECORDED = json.loads((Path(__file__).parent / "data" / "langfuse_prompts.json").read_text())


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    """A second promptstage with prompts written through its Langfuse facade by the real SDK."""
    with running_server(f"sqlite:///{tmp_path_factory.mktemp('src') / 'db.sqlite'}") as src:
        src.api("POST", "/api/v1/projects", 201, json={"name": "origin"})
        src.api("PUT", "/api/v1/projects/origin/settings", json={"four_eyes": False})
        token = src.api(
            "POST", "/api/v1/projects/origin/keys", 201, json={"role": "admin", "name": "x"}
        )["token"]
        public, secret = key_pair(token)
        lf = Langfuse(public_key=public, secret_key=secret, base_url=src.url, tracing_enabled=False)
        for n, labels in ((1, []), (2, ["production"]), (3, ["staging"])):
            lf.create_prompt(
                name="faq",
                prompt=f"v{n}: answer {{{{question}}}}",
                labels=labels,
                tags=["help"],
                config={"model": "gpt-4o-mini", "temperature": 0.1 * n},
                commit_message=f"version {n}",
            )
        lf.create_prompt(
            name="support/triage",
            type="chat",
            prompt=[
                {"role": "system", "content": "Triage for {{team}}."},
                {"type": "placeholder", "name": "history"},
            ],
            labels=["production"],
        )
        lf.shutdown()
        yield src, public, secret


def _import(cli: CliRun, url: str, public: str, secret: str, *extra: str) -> dict[str, Any]:
    result = cli(
        "--json", "import", "langfuse", "--url", url, "--public-key", public,
        "--secret-key", secret, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _get(live: LiveServer, path: str) -> Any:
    response = httpx.get(
        f"{live.url}{path}", headers={"Authorization": f"Bearer {live.admin_key}"}, timeout=10
    )
    response.raise_for_status()
    return response.json()


def test_import_copies_versions_in_order_labels_and_tags_once(
    cli: CliRun, live_server: LiveServer, project: str, source: tuple[Server, str, str]
) -> None:
    src, public, secret = source
    first = _import(cli, src.url, public, secret)
    assert first["prompts"] == 2 and first["versions_written"] == 4 and first["failed"] == []
    assert first["labels_moved"] == 3
    base = f"/api/v1/projects/{project}/prompts"
    faq = _get(live_server, f"{base}/faq")
    assert faq["tags"] == ["help"] and faq["labels"] == {"latest": 3, "prod": 2, "staging": 3}
    versions = _get(live_server, f"{base}/faq/versions")["items"]
    assert [(v["version"], v["message"]) for v in versions] == [
        (3, "version 3"),
        (2, "version 2"),
        (1, "version 1"),
    ]
    assert versions[0]["template"] == "v3: answer {{question}}"
    assert versions[0]["config"]["model"]["name"] == "gpt-4o-mini"
    triage = _get(live_server, f"{base}/support%2Ftriage/versions/1")
    assert triage["template"] == [{"role": "system", "content": "Triage for {{team}}."}]
    audit = _get(live_server, f"/api/v1/projects/{project}/audit?limit=50")["items"]
    assert any("langfuse import from" in json.dumps(a) for a in audit)
    again = _import(cli, src.url, public, secret)
    assert again["versions_written"] == 0 and again["labels_moved"] == 0
    assert again["versions_found"] == 4 and again["labels_in_place"] == 3
    assert len(_get(live_server, f"{base}/faq/versions")["items"]) == 3


def test_the_imported_chat_prompt_keeps_its_placeholder(
    cli: CliRun, live_server: LiveServer, project: str, source: tuple[Server, str, str]
) -> None:
    src, public, secret = source
    _import(cli, src.url, public, secret)
    token = httpx.post(
        f"{live_server.url}/api/v1/projects/{project}/keys",
        json={"role": "runtime"},
        headers={"Authorization": f"Bearer {live_server.admin_key}"},
    ).json()["token"]
    body = httpx.get(
        f"{live_server.url}/api/public/v2/prompts/support%2Ftriage", auth=key_pair(token)
    ).json()
    assert body["prompt"] == [
        {"type": "chatmessage", "role": "system", "content": "Triage for {{team}}."},
        {"type": "placeholder", "name": "history"},
    ]


def test_bad_keys_are_a_clear_error(cli: CliRun, source: tuple[Server, str, str]) -> None:
    src, public, _ = source
    result = cli("import", "langfuse", "--url", src.url, "--public-key", public,
                 "--secret-key", "sk-lf-" + secrets.token_hex(8))  # fmt: skip
    assert result.exit_code == 1 and "refused the keys" in result.output


class _Recorded(BaseHTTPRequestHandler):
    """Answers with recorded Langfuse Cloud bodies (ids, timestamps, fields we never emit)."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/api/public/v2/prompts":
            body: Any = RECORDED["list"]
        else:
            name = unquote(parts.path.removeprefix("/api/public/v2/prompts/"))
            body = RECORDED["versions"][f"{name}@{query['version'][0]}"]
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_import_from_recorded_langfuse_bodies(
    cli: CliRun, live_server: LiveServer, project: str
) -> None:
    with serving(_Recorded) as url:
        summary = _import(cli, url, "pk-lf-recorded", "sk-lf-recorded")
    assert summary["failed"] == [] and summary["versions_written"] == 2
    base = f"/api/v1/projects/{project}/prompts"
    prompt = _get(live_server, f"{base}/movie-critic")
    assert prompt["labels"] == {"latest": 2, "prod": 2, "staging": 1}
    second = _get(live_server, f"{base}/movie-critic/versions/2")
    assert second["config"]["model"] == {
        "provider": "openai",
        "name": "gpt-4o",
        "version": "unpinned",
    }
    assert second["config"]["params"] == {"temperature": 0.7}
    assert second["config"]["metadata"]["langfuse"]["config"]["supported_languages"] == [
        "en",
        "fr",
    ]
