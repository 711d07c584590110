"""``Idempotency-Key`` on writes: a retry after a lost response returns the first result
instead of writing again (issue 11, defect 9)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from promptstage.domain.idempotency import LEASE
from promptstage.service import idempotency as service_idempotency
from promptstage.service.context import utc_now

from .client import BASE, Api, Seeded, text_version

P = f"{BASE}/acme"
KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def _key() -> dict[str, str]:
    return {KEY: str(uuid.uuid4())}


def test_a_retried_key_creation_makes_one_key(seeded: Seeded) -> None:
    """Reproduces defect 9: the same POST sent twice (the first answer lost) made two keys."""
    admin, headers = seeded.admin, _key()
    before = len(admin.ok("GET", f"{P}/keys")["items"])
    first = admin.post(f"{P}/keys", json={"role": "runtime", "name": "agent"}, headers=headers)
    again = admin.post(f"{P}/keys", json={"role": "runtime", "name": "agent"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers[REPLAYED] == "true" and REPLAYED not in first.headers
    assert len(admin.ok("GET", f"{P}/keys")["items"]) == before + 1
    # The token is shown once: a replay answers the same key without it (nothing stores it).
    assert first.json()["token"] and again.json() == {**first.json(), "token": None}
    assert again.headers["Idempotent-Redacted"] == "token"


def test_no_secret_is_kept_in_the_idempotency_table(seeded: Seeded, make_store: Any) -> None:
    admin, headers = seeded.admin, _key()
    token = admin.ok(
        "POST", f"{P}/keys", 201, json={"role": "runtime", "name": "a"}, headers=headers
    )["token"]
    hook = {"url": "https://hooks.example.com/ps", "events": ["label.moved"]}
    secret = admin.ok("POST", f"{P}/webhooks", 201, json=hook, headers=_key())["secret"]
    store = make_store()
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT body FROM idempotency_keys").fetchall()
    stored = b"".join(bytes(row[0]) for row in rows if row[0] is not None)
    assert len(rows) >= 2 and token.encode() not in stored and secret.encode() not in stored


def test_a_retried_rollback_moves_the_label_once(seeded: Seeded) -> None:
    """Reproduces defect 9: a retried rollback rolled back a second time."""
    admin, headers = seeded.admin, _key()
    path = f"{P}/prompts/greet/labels/staging"
    admin.ok("PUT", path, json={"version": 1, "reason": "to 1"})
    admin.ok("PUT", path, json={"version": 2, "reason": "to 2"})
    body = {"reason": "bad"}
    first = admin.ok("POST", f"{path}/rollback", json=body, headers=headers)
    again = admin.post(f"{path}/rollback", json=body, headers=headers)
    assert again.status_code == 200 and again.json() == first
    assert admin.ok("GET", f"{P}/prompts/greet")["labels"]["staging"] == 1
    history = admin.ok("GET", f"{path}/history")["items"]
    assert [m["reason"] for m in history[:2]] == ["bad", "to 2"]


def test_a_retried_version_write_answers_as_the_first_time(seeded: Seeded) -> None:
    editor, headers = seeded.client("editor"), _key()
    body = text_version("Welcome {{ name }}.")
    first = editor.post(f"{P}/prompts/greet/versions", json=body, headers=headers)
    again = editor.post(f"{P}/prompts/greet/versions", json=body, headers=headers)
    assert first.status_code == again.status_code == 201  # not "200, already there"
    assert again.json() == first.json() and again.headers[REPLAYED] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]


def test_the_same_key_with_another_body_is_refused(seeded: Seeded) -> None:
    editor, headers = seeded.client("editor"), _key()
    editor.ok("POST", f"{P}/prompts", 201, json={"name": "a", "type": "text"}, headers=headers)
    refused = editor.post(f"{P}/prompts", json={"name": "b", "type": "text"}, headers=headers)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["field"] == KEY and KEY in error["message"]
    assert editor.get(f"{P}/prompts/b").status_code == 404


def test_keys_are_scoped_to_the_caller_and_the_path(seeded: Seeded) -> None:
    headers = _key()
    for who, name in (("editor", "one"), ("admin", "two")):
        seeded.client(who).ok(
            "POST", f"{P}/prompts", 201, json={"name": name, "type": "text"}, headers=headers
        )
    other = seeded.client("admin").post(
        f"{P}/prompts/one/versions", json=text_version("x"), headers=headers
    )
    assert other.status_code == 201 and REPLAYED not in other.headers


def test_errors_are_replayed_but_server_errors_are_not_stored(seeded: Seeded) -> None:
    editor, headers = seeded.client("editor"), _key()
    body = {"name": "greet", "type": "text"}
    first = editor.post(f"{P}/prompts", json=body, headers=headers)
    again = editor.post(f"{P}/prompts", json=body, headers=headers)
    assert first.status_code == again.status_code == 409
    assert again.headers[REPLAYED] == "true"


def test_without_a_key_nothing_changes(seeded: Seeded) -> None:
    editor = seeded.client("editor")
    body = text_version("Plain {{ name }}.")
    assert editor.post(f"{P}/prompts/greet/versions", json=body).status_code == 201
    assert editor.post(f"{P}/prompts/greet/versions", json=body).status_code == 200


def test_a_malformed_key_is_refused(seeded: Seeded) -> None:
    editor = seeded.client("editor")
    for bad in (b"", b"x" * 256, "caf\u00e9".encode(), b"two words"):
        response = editor.request(
            "POST", f"{P}/prompts", json={"name": "c", "type": "text"}, headers={KEY: bad}
        )
        assert response.status_code == 422, bad
        assert response.json()["error"]["field"] == KEY


def test_two_concurrent_requests_with_one_key_run_once(seeded: Seeded) -> None:
    admin, headers = seeded.admin, _key()
    before = len(admin.ok("GET", f"{P}/keys")["items"])

    async def both() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=admin.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            sends: list[Any] = [
                client.post(
                    f"{P}/keys",
                    json={"role": "runtime"},
                    headers={"Authorization": f"Bearer {admin.token}", **headers},
                )
                for _ in range(4)
            ]
            return list(await asyncio.gather(*sends))

    answers = admin.runner.run(both())
    assert {r.status_code for r in answers} <= {201, 409}
    made = {r.json()["prefix"] for r in answers if r.status_code == 201}
    assert len(made) == 1
    for r in answers:
        if r.status_code == 409:
            assert r.json()["error"]["field"] == KEY and "Retry-After" in r.headers
    assert len(admin.ok("GET", f"{P}/keys")["items"]) == before + 1


def test_openapi_documents_the_header_on_writes(admin: Api) -> None:
    document = admin.ok("GET", "/openapi.json")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            wanted = method in ("post", "put", "patch") and path.startswith("/api/")
            assert (KEY in names) == wanted, (method, path)


def test_a_write_whose_answer_was_lost_is_not_run_again(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kill -9 window: the write committed, the answer was never stored. The claim was
    marked applied in the write's own transaction, so the retry is told, not run again."""
    admin, headers = seeded.admin, _key()
    before = len(admin.ok("GET", f"{P}/keys")["items"])
    monkeypatch.setattr(service_idempotency, "finish", lambda *args: None)  # the process died
    assert admin.post(f"{P}/keys", json={"role": "runtime"}, headers=headers).status_code == 201
    monkeypatch.undo()
    soon = admin.post(f"{P}/keys", json={"role": "runtime"}, headers=headers)
    assert soon.status_code == 409 and "Retry-After" in soon.headers  # it may still be running
    ctx = admin.app.state.ctx
    monkeypatch.setattr(ctx, "clock", lambda: utc_now() + LEASE)  # ...and now it cannot be
    retry = admin.post(f"{P}/keys", json={"role": "runtime"}, headers=headers)
    assert retry.status_code == 409, retry.text
    assert retry.json()["error"]["field"] == KEY and "applied" in retry.json()["error"]["message"]
    assert len(admin.ok("GET", f"{P}/keys")["items"]) == before + 1
