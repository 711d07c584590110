"""The Langfuse-compatible API in process: shapes, auth, governance, releases and audit."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from promptstage.domain.langfuse import key_pair

from .client import BASE, Api, Seeded

P = f"{BASE}/acme"
LF = "/api/public"


def basic(token: str) -> dict[str, str]:
    public, secret = key_pair(token)
    return {"Authorization": "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode()}


def lf(seeded: Seeded, who: str = "releaser") -> Any:
    api: Api = seeded.admin.as_key(None)
    headers = basic(seeded.keys[who])

    def call(method: str, path: str, status: int = 200, **kwargs: Any) -> httpx.Response:
        extra = kwargs.pop("headers", {})
        response = api.request(method, f"{LF}{path}", headers={**headers, **extra}, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response

    return call


def assert_langfuse_error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert isinstance(body["message"], str) and body["message"]
    assert body["error"].endswith("Error")
    return body


def test_get_maps_prod_to_production_and_lists_labels(seeded: Seeded) -> None:
    call = lf(seeded, "runtime")
    body = call("GET", "/v2/prompts/greet").json()
    assert body["version"] == 2 and body["labels"] == ["production"]
    assert body["type"] == "text" and body["tags"] == ["demo"]
    assert body["config"] == {"model": "gpt-4o", "model_version": "2024-08-06"}
    assert call("GET", "/v2/prompts/greet", params={"label": "staging"}).json()["labels"] == [
        "staging",
        "latest",
    ]
    assert call("GET", "/v2/prompts/greet", params={"version": 1}).json()["labels"] == []


def test_production_label_is_configurable(make_app: Any, seeded: Seeded, runner: Any) -> None:
    app = make_app(langfuse_production_label="staging")
    api = Api(runner, app, None)
    answer = api.get(f"{LF}/v2/prompts/greet", headers=basic(seeded.keys["runtime"]))
    assert answer.status_code == 200 and answer.json()["version"] == 3
    assert "production" in answer.json()["labels"]


def test_errors_are_in_langfuse_shape(seeded: Seeded) -> None:
    call = lf(seeded, "runtime")
    missing = assert_langfuse_error(call("GET", "/v2/prompts/nope", 404))
    assert missing["error"] == "NotFoundError" and "nope" in missing["message"]
    no_label = assert_langfuse_error(call("GET", "/v2/prompts/greet", 404, params={"label": "x"}))
    assert "x" in no_label["message"]
    both = call("GET", "/v2/prompts/greet", 422, params={"label": "prod", "version": 1})
    assert assert_langfuse_error(both)["field"] == "version"
    bad = call("GET", "/v2/prompts/greet", 422, params={"version": "two"})
    assert assert_langfuse_error(bad)["field"] == "version"
    denied = assert_langfuse_error(
        call("POST", "/v2/prompts", 403, json={"name": "x", "prompt": "y"})
    )
    assert denied["error"] == "AccessDeniedError"


def test_instance_keys_are_refused_with_the_fix(seeded: Seeded) -> None:
    answer = seeded.admin.get(f"{LF}/projects")
    assert answer.status_code == 403
    assert "key create --langfuse" in answer.json()["message"]


def test_another_projects_key_sees_nothing_here(seeded: Seeded) -> None:
    call = lf(seeded, "other-editor")
    assert call("GET", "/projects").json()["data"][0]["id"] == "other"
    call("GET", "/v2/prompts/greet", 404)


def test_revoked_key_pair_is_refused(seeded: Seeded) -> None:
    call = lf(seeded, "revoked")
    assert_langfuse_error(call("GET", "/projects", 401))


def test_list_is_paged_with_data_and_meta(seeded: Seeded) -> None:
    call = lf(seeded, "runtime")
    body = call("GET", "/v2/prompts", params={"limit": 2}).json()
    assert body["meta"] == {"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert [p["name"] for p in body["data"]] == ["chatty", "greet"]
    greet = body["data"][1]
    assert greet["versions"] == [1, 2, 3] and greet["labels"] == ["latest", "production", "staging"]
    assert greet["lastConfig"] == {"model": "gpt-4o", "model_version": "2024-08-06"}
    second = call("GET", "/v2/prompts", params={"limit": 2, "page": 2}).json()
    assert [p["name"] for p in second["data"]] == ["shared.tone"]
    tagged = call("GET", "/v2/prompts", params={"tag": "demo"}).json()
    assert [p["name"] for p in tagged["data"]] == ["greet"]
    labelled = call("GET", "/v2/prompts", params={"label": "production"}).json()
    assert [p["name"] for p in labelled["data"]] == ["greet"]
    refused = call("GET", "/v2/prompts", 422, params={"filter": "[]"})
    assert assert_langfuse_error(refused)["field"] == "filter"


def test_create_and_label_moves_are_audited_as_the_key(seeded: Seeded) -> None:
    call = lf(seeded)
    created = call(
        "POST",
        "/v2/prompts",
        201,
        json={"name": "greet", "type": "text", "prompt": "Yo {{name}}", "labels": ["production"]},
    ).json()
    assert created["version"] == 4 and created["labels"] == ["production", "latest"]
    audit = seeded.admin.ok("GET", f"{P}/audit?limit=20")["items"]
    actions = [(a["action"], a["actor"]) for a in audit[:3]]
    prefix = seeded.keys["releaser"].split("_")[1]
    assert any(action.startswith("label") and prefix in actor for action, actor in actions)
    assert any(action.startswith("version") and prefix in actor for action, actor in actions)


def test_type_mismatch_and_bad_chat_items_name_the_field(seeded: Seeded) -> None:
    call = lf(seeded)
    chat = [{"role": "user", "content": "x"}]
    wrong = call("POST", "/v2/prompts", 409, json={"name": "greet", "type": "chat", "prompt": chat})
    assert assert_langfuse_error(wrong)["field"] == "type"
    bad = call(
        "POST",
        "/v2/prompts",
        422,
        json={"name": "c2", "type": "chat", "prompt": [{"role": "user", "content": "x", "z": 1}]},
    )
    assert assert_langfuse_error(bad)["field"] == "prompt[0]"


def test_patch_rejects_latest_and_unknown_versions(seeded: Seeded) -> None:
    call = lf(seeded)
    call("PATCH", "/v2/prompts/greet/versions/1", 422, json={"newLabels": ["latest"]})
    call("PATCH", "/v2/prompts/greet/versions/99", 404, json={"newLabels": ["staging"]})


def test_delete_archives_the_prompt_and_never_a_version(seeded: Seeded) -> None:
    call = lf(seeded)
    refused = call("DELETE", "/v2/prompts/greet", 409, params={"version": 1})
    assert "never deletes a version" in assert_langfuse_error(refused)["message"]
    served = call("DELETE", "/v2/prompts/greet", 409)  # a label still serves it
    assert_langfuse_error(served)
    call("DELETE", "/v2/prompts/shared.tone", 204)
    assert seeded.admin.ok("GET", f"{P}/prompts/shared.tone")["archived_at"] is not None


def test_a_running_release_resolves_by_the_unit_header(seeded: Seeded) -> None:
    seeded.client("releaser").ok(
        "POST",
        f"{P}/releases",
        201,
        json={"prompt": "greet", "label": "prod", "candidate_version": 3, "strategy": "canary"},
    )
    call = lf(seeded, "runtime")
    # No unit: always the baseline, so a conversation never changes version mid-way.
    assert {call("GET", "/v2/prompts/greet").json()["version"] for _ in range(5)} == {2}
    served = {
        call("GET", "/v2/prompts/greet", headers={"X-Promptstage-Unit": f"user-{i}"}).json()[
            "version"
        ]
        for i in range(300)
    }
    assert served == {2, 3}
    again = call("GET", "/v2/prompts/greet", headers={"X-Promptstage-Unit": "user-7"}).json()
    assert (
        again == call("GET", "/v2/prompts/greet", headers={"X-Promptstage-Unit": "user-7"}).json()
    )


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + base64.b64encode(b"pk-lf-x").decode()])
def test_malformed_basic_credentials_are_a_401(seeded: Seeded, header: str) -> None:
    answer = seeded.admin.as_key(None).get(f"{LF}/projects", headers={"Authorization": header})
    assert answer.status_code == 401 and "message" in answer.json()


def test_spans_of_a_canary_unit_are_counted_on_its_arm(seeded: Seeded) -> None:
    release = seeded.client("releaser").ok(
        "POST",
        f"{P}/releases",
        201,
        json={"prompt": "greet", "label": "prod", "candidate_version": 3, "strategy": "canary"},
    )
    call = lf(seeded, "runtime")
    units = {
        f"user-{i}": call(
            "GET", "/v2/prompts/greet", headers={"X-Promptstage-Unit": f"user-{i}"}
        ).json()["version"]
        for i in range(200)
    }
    # Two units the release placed apart: their spans name the version each was served.
    canary = next(u for u, v in units.items() if v == 3)
    other = next(u for u, v in units.items() if v == 2)
    spans = [
        {
            "traceId": f"{i:032x}",
            "spanId": f"{i:016x}",
            "startTimeUnixNano": "1",
            "endTimeUnixNano": "2000001",
            "attributes": [
                {"key": "langfuse.observation.prompt.name", "value": {"stringValue": "greet"}},
                {"key": "langfuse.observation.prompt.version", "value": {"intValue": str(v)}},
                {"key": "user.id", "value": {"stringValue": unit}},
            ],
        }
        for i, (unit, v) in enumerate([(canary, 3), (other, 2)], start=1)
    ]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    assert call("POST", "/otel/v1/traces", json=body).json() == {}
    calls = seeded.admin.ok("GET", f"{P}/calls?limit=10")["items"]
    placed = {c["version"]: (c["label"], c["release_id"], c["arm"]) for c in calls}
    assert placed[3] == ("prod", release["id"], "canary")
    assert placed[2][0:2] == ("prod", release["id"]) and placed[2][2] in ("control", "baseline")


@pytest.mark.parametrize("name", ["greet", "brand-new"])
def test_a_runtime_key_cannot_write_a_version(seeded: Seeded, name: str) -> None:
    call = lf(seeded, "runtime")
    denied = call("POST", "/v2/prompts", 403, json={"name": name, "prompt": "x {{name}}"})
    assert assert_langfuse_error(denied)["error"] == "AccessDeniedError"
    versions = seeded.admin.ok("GET", f"{P}/prompts/greet/versions")["items"]
    assert len(versions) == 3
    call("PATCH", "/v2/prompts/greet/versions/1", 403, json={"newLabels": ["staging"]})
    call("DELETE", "/v2/prompts/shared.tone", 403)
