"""The agent loop in docs/sdk.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"


def load_example() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(# example: agent-loop\n.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    return namespace


def fake_llm(model: str, messages: list[dict[str, str]], **params: Any) -> dict[str, Any]:
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    return {"text": f"{model}: ok", "tokens_in": 10, "tokens_out": 2, "model": model}


def test_agent_loop_example(make_client, server):
    example = load_example()
    ps = make_client()
    inbox = [("user-1", "whatsapp", "hola", None), ("user-2", "sms", "book me", 1)]
    example["serve"](ps, fake_llm, inbox)
    assert ps.flush(2.0)
    assert [c["output"] for c in server.calls] == ["gpt-4o: ok", "gpt-4o: ok"]
    assert server.scores == [
        {"call_id": server.calls[1]["id"], "name": "thumbs_down", "value": 1, "source": "user"}
    ]


def test_agent_loop_example_on_fallback(make_client, server):
    server.connect_error = True
    example = load_example()
    ps = make_client(init_timeout=0.1)
    _, text = example["answer"](ps, fake_llm, "user-1", "web", "hi")
    assert text == ": ok"  # the fallback pins no model
