"""ResolvedPrompt: rendering, per-call copies, fallbacks."""

from __future__ import annotations

import dataclasses
import tracemalloc

import pytest

from promptstage.errors import ConfigurationError, TemplateError
from promptstage.sdk.prompt import FALLBACK_ARM, ResolvedPrompt, for_call, from_fallback
from promptstage.sdk.state import build_state

from .helpers import PROJECT, basic_snapshot, snapshot, var, version


@pytest.fixture
def state():
    return build_state(basic_snapshot(), PROJECT, source="bootstrap")


def test_render_chat_returns_fresh_messages(state):
    p = state.entries[("booking.system", "prod")].base
    first = p.render(clinic="Ana")
    assert first == [{"role": "system", "content": "You book for Ana."}]
    first[0]["content"] = "changed"
    assert p.render(clinic="Ana")[0]["content"] == "You book for Ana."
    assert p.render_messages(clinic="Bo") == [{"role": "system", "content": "You book for Bo."}]
    with pytest.raises(TemplateError, match="chat prompt"):
        p.render_text(clinic="Bo")


def test_render_text_and_variable_errors(state):
    p = state.entries[("router.intent", "prod")].base
    assert p.render(text="hi") == "Route: hi"
    assert p.render_text(text="hi") == "Route: hi"
    with pytest.raises(TemplateError, match="missing required variable 'text'"):
        p.render()
    with pytest.raises(TemplateError, match="unknown variable 'other'"):
        p.render(text="x", other=1)
    with pytest.raises(TemplateError, match="text prompt"):
        p.render_messages(text="hi")


def test_typed_config(state):
    p = state.entries[("booking.system", "prod")].base
    assert p.config.model.name == "gpt-4o"
    assert p.config.params["temperature"] == 0.2
    assert p.digest is not None and p.digest.startswith("sha256:")


def test_for_call_is_a_real_frozen_copy(state):
    base = state.entries[("booking.system", "prod")].base
    assert for_call(base, None, None) is base
    ctx = {"channel": "sms"}
    p = for_call(base, "user-1", ctx)
    assert type(p) is ResolvedPrompt
    assert p == base.replace(unit="user-1", context=ctx)
    assert (p.unit, p.context, p.version, p.name) == ("user-1", ctx, base.version, base.name)
    assert p.render(clinic="X") == base.render(clinic="X")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.unit = "other"  # type: ignore[misc]
    assert "user-1" in repr(p)


def test_fallback_text_infers_variables():
    p = from_fallback("greeting", "prod", "Hello {{ name }}")
    assert (p.version, p.digest, p.arm, p.type) == (None, None, FALLBACK_ARM, "text")
    assert p.render(name="Ana") == "Hello Ana"
    assert p.config.model.name == ""


def test_fallback_chat_and_dict_with_config():
    chat = from_fallback("b", "prod", [{"role": "system", "content": "Be brief."}])
    assert chat.type == "chat" and chat.render() == [{"role": "system", "content": "Be brief."}]
    full = from_fallback(
        "b",
        "prod",
        {
            "template": "Hi {{ who }}",
            "variables": [{"name": "who", "required": False}],
            "config": {"model": {"provider": "openai", "name": "gpt-4o-mini", "version": "1"}},
        },
    )
    assert full.config.model.name == "gpt-4o-mini"
    assert full.render() == "Hi "


@pytest.mark.parametrize(
    "bad", [42, {"no": "template"}, {"template": "x", "type": "html"}, "{{ oops"]
)
def test_fallback_rejects_unusable_values(bad):
    with pytest.raises(ConfigurationError, match="fallback"):
        from_fallback("b", "prod", bad)


def test_render_never_builds_a_text_over_the_limit():
    # Issue 11, defect 3: a 37 KB version including a 100 KB version 2,000 times (200 MB).
    big = version("agent.system", 1, "{{> shared.tone@1 }}" * 2_000 + "{{ user }}")
    big["variables"] = [var("user")]
    big["digest"] = version("agent.system", 1, big["template"], variables=[var("user")])["digest"]
    big["includes"] = {"shared.tone@1": "x" * 100_000}
    router = version("router.intent", 1, "{{ text }}" * 1_000, variables=[var("text")])
    snap = snapshot([big, router], {"agent.system": {"prod": 1}, "router.intent": {"prod": 1}})
    tracemalloc.start()
    try:
        state = build_state(snap, PROJECT, source="bootstrap")
        p = state.entries[("agent.system", "prod")].base
        assert p.version == 1  # still served: only rendering it is refused
        with pytest.raises(TemplateError, match=r"`shared\.tone@1` appears 2,000 times"):
            p.render(user="Ana")
        routed = state.entries[("router.intent", "prod")].base
        with pytest.raises(TemplateError, match=r"variable 'text' .* appears 1,000 times") as err:
            routed.render(text="y" * 1_000_000)  # 1 GB if it were built
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.field == "text"
    assert peak < 20_000_000, f"render must stop before building ({peak} bytes allocated)"
    assert routed.render_text(text="y") == "y" * 1_000
