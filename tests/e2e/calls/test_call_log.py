"""The call log end to end: Client.call/score -> POST /calls, /scores -> GET /calls/{id}."""

from __future__ import annotations

import hashlib

import pytest

from promptstage import Client

from ..servers import FAST, Api, ServerProcess


def test_call_and_score_reach_the_server_with_the_exact_version(
    api: Api, shared_server: ServerProcess
) -> None:
    project, (v1, v2) = api.setup(texts=("Hello v1 {{ name }}.", "Hello v2 {{ name }}."))
    token, _ = api.key(project)
    ps = Client(shared_server.url, project, token, **FAST)
    try:
        p = ps.get("greet", unit="user-42", context={"channel": "sms"})
        assert p.version == v1
        with ps.call(p, variables={"name": "Ana"}) as call:
            reply = p.render(name="Ana")
            call.finish(
                output=reply, tokens_in=12, tokens_out=3, cost=0.002, model="gpt-4o-2024-08-06"
            )
        ps.score(call.id, "csat", 4)
        ps.score(call.id, "thumbs_down", False, source="evaluator")
        with pytest.raises(ValueError, match="model timed out"), ps.call(p) as failed:
            raise ValueError("model timed out")
        # The label moves on; the calls still name the version they used.
        api.move(project, "greet", "prod", v2)
    finally:
        ps.close()  # flushes the queue
    assert ps.status().pending_calls == 0 and ps.status().dropped_calls == 0

    got = api.get_call(project, call.id)
    assert (got["prompt"], got["label"], got["version"], got["digest"]) == (
        "greet",
        "prod",
        v1,
        p.digest,
    )
    assert got["arm"] == "baseline" and got["release_id"] is None
    assert got["unit_hash"] == hashlib.sha256(f"{project}:user-42".encode()).hexdigest()[:32]
    assert got["context"] == {"channel": "sms"} and got["variables"] == {"name": "Ana"}
    assert got["output"] == "Hello v1 Ana." and got["model"] == "gpt-4o-2024-08-06"
    assert (got["tokens_in"], got["tokens_out"], got["cost"]) == (12, 3, 0.002)
    assert got["latency_ms"] >= 0 and got["error"] is None
    version = got["version_data"]
    assert version["version"] == v1 and version["digest"] == p.digest
    assert version["template"] == p.template == "Hello v1 {{ name }}."
    scores = sorted((s["name"], s["value"], s["source"]) for s in got["scores"])
    assert scores == [("csat", 4.0, "user"), ("thumbs_down", 0.0, "evaluator")]

    bad = api.get_call(project, failed.id)
    assert bad["error"] == "ValueError: model timed out"
    assert bad["version"] == v1 and bad["output"] is None and bad["scores"] == []
