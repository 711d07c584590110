"""``call()`` records the variables ``render()`` was given, so every call can be replayed."""

from __future__ import annotations

import asyncio
import threading

from promptstage.sdk.prompt import rendered_with


def _sent(ps, server):
    assert ps.flush(2.0)
    return server.calls


def test_call_records_what_render_was_given(make_client, server):
    ps = make_client()
    p = ps.get("booking.system", unit="user-42")
    p.render(clinic="Sunrise")
    with ps.call(p) as call:
        call.finish(output="ok")
    assert _sent(ps, server)[0]["variables"] == {"clinic": "Sunrise"}


def test_the_shared_prompt_object_records_the_last_render_of_its_own_thread(make_client, server):
    ps = make_client()
    p = ps.get("router.intent")  # no unit or context: the prebuilt object, shared
    assert ps.get("router.intent") is p
    p.render(text="mine")
    other: list[object] = []

    def elsewhere() -> None:
        p.render(text="theirs")
        other.append(rendered_with(p))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert other == [{"text": "theirs"}]
    with ps.call(p):
        pass
    assert _sent(ps, server)[0]["variables"] == {"text": "mine"}


def test_async_tasks_do_not_see_each_others_renders(make_client):
    ps = make_client()
    p = ps.get("router.intent")

    async def task(value: str) -> object:
        p.render(text=value)
        await asyncio.sleep(0)
        return rendered_with(p)

    async def both() -> list[object]:
        return list(await asyncio.gather(task("a"), task("b")))

    assert asyncio.run(both()) == [{"text": "a"}, {"text": "b"}]


def test_a_render_of_another_prompt_is_not_recorded(make_client, server):
    ps = make_client()
    router, booking = ps.get("router.intent"), ps.get("booking.system", unit="u")
    router.render(text="hello")
    with ps.call(booking):
        pass
    assert _sent(ps, server)[0]["variables"] is None


def test_explicit_variables_win_and_recording_can_be_turned_off(make_client, server):
    ps = make_client()
    p = ps.get("router.intent")
    p.render(text="secret")
    with ps.call(p, variables={"text": "given"}):
        pass
    with ps.call(p, record_variables=False):
        pass
    assert [c["variables"] for c in _sent(ps, server)] == [{"text": "given"}, None]


def test_the_redactor_still_sees_the_recorded_variables(make_client, server):
    def redact(field, value):
        return dict.fromkeys(value, "[redacted]") if field == "variables" else value

    ps = make_client(redact=redact)
    p = ps.get("router.intent")
    p.render(text="card 4111")
    with ps.call(p):
        pass
    assert _sent(ps, server)[0]["variables"] == {"text": "[redacted]"}


def test_the_readme_example_records_every_rendered_variable():
    """The README's agent example records what it rendered (a partial ``variables=`` could
    not be replayed: the candidate needs every variable)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Using it from an agent", 1)[1].split("```", 2)[1]
    assert "p.render(" in block and "ps.call(p)" in block
    assert "variables=" not in block
