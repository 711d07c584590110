"""The dependency catalog service: registration, references, impact, bump and deprecations,
on SQLite and Postgres."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptstage.domain.deps import DepKind, DepRef, parse_spec
from promptstage.errors import ConflictError, InvalidInputError, NotFoundError
from promptstage.service import audit, dep_bump, deps, labels, prompts
from promptstage.service.context import Context

GPT = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}
BOOK = {
    "description": "Book a slot",
    "parameters": {"type": "object", "properties": {"day": {"type": "string"}}},
}


def _catalog(ctx: Context, project: str) -> None:
    prompts.create_project(ctx, "ana", project)
    deps.register(ctx, "ana", project, "tool", "book", "3", BOOK)
    deps.register(ctx, "ana", project, "index", "kb", "7", {"document_count": 100})
    deps.register(ctx, "ana", project, "index", "kb", "8", {"document_count": 120})
    deps.register(ctx, "ana", project, "model", "openai/gpt-4o", "2024-08-06")
    deps.register(ctx, "ana", project, "ruleset", "redact", "2")


def _prompt(ctx: Context, project: str, name: str, config: dict[str, Any]) -> int:
    prompts.create_prompt(ctx, "ana", project, name, "text")
    version, _ = prompts.write_version(
        ctx, "ana", project, name, template="Hi {{ who }}", config=config
    )
    return version.number


def test_register_is_idempotent_and_immutable(ctx: Context, project: str) -> None:
    _catalog(ctx, project)
    again = deps.register(ctx, "ana", project, "tool", "book", 3, BOOK)
    assert not again.created and again.entry.version == "3"
    with pytest.raises(ConflictError) as caught:
        deps.register(ctx, "ana", project, "tool", "book", "3", {**BOOK, "description": "x"})
    assert caught.value.field == "version"
    with pytest.raises(InvalidInputError) as bad:
        deps.register(ctx, "ana", project, "model", "gpt-4o", "1")
    assert "PROVIDER/NAME" in bad.value.message
    with pytest.raises(InvalidInputError) as bad:
        deps.register(ctx, "ana", project, "tool", "t", "1", {"parameters": {"type": "blob"}})
    assert bad.value.field and "parameters" in bad.value.field
    actions = [r.action for r in audit.list_audit(ctx, project, limit=50)[0]]
    assert actions.count("dep.register") == 5  # the idempotent and refused ones wrote nothing


def test_references_resolve_at_write_and_the_digest_is_the_inline_one(
    ctx: Context, project: str
) -> None:
    _catalog(ctx, project)
    prompts.create_prompt(ctx, "ana", project, "agent", "text")
    referenced = {
        "model": {"model": "openai/gpt-4o@2024-08-06"},
        "tools": [{"tool": "book@3"}],
        "retrieval": {"index": "kb@7"},
        "postprocess": {"ruleset": "redact@2"},
    }
    v1, created = prompts.write_version(
        ctx, "ana", project, "agent", template="Hi", config=referenced
    )
    assert created
    assert v1.config["tools"] == [{"name": "book", **BOOK}]
    assert v1.config["retrieval"] == {"index": "kb", "version": "7"}
    inline = {
        "model": GPT,
        "tools": [{"name": "book", **BOOK}],
        "retrieval": {"index": "kb", "version": "7"},
        "postprocess": {"name": "redact", "version": "2"},
    }
    v_again, created = prompts.write_version(
        ctx, "ana", project, "agent", template="Hi", config=inline
    )
    assert not created and v_again.digest == v1.digest


def test_a_missing_reference_names_the_field_and_the_versions(ctx: Context, project: str) -> None:
    _catalog(ctx, project)
    prompts.create_prompt(ctx, "ana", project, "agent", "text")
    with pytest.raises(NotFoundError) as caught:
        prompts.write_version(
            ctx, "ana", project, "agent", template="Hi",
            config={"model": GPT, "retrieval": {"index": "kb@9"}},
        )  # fmt: skip
    assert caught.value.field == "config.retrieval"
    assert "['7', '8']" in caught.value.message
    with pytest.raises(InvalidInputError) as bad:
        prompts.write_version(
            ctx, "ana", project, "agent", template="Hi",
            config={"model": GPT, "tools": [{"tool": "book"}]},
        )  # fmt: skip
    assert bad.value.field == "config.tools[0]"


_versions = st.sampled_from(["7", "8"])
_params = st.dictionaries(
    st.text("abc", min_size=1, max_size=3), st.integers(-5, 5) | st.booleans(), max_size=3
)


# Text the API would accept and the static checks pass: no control (NUL), format (bidi) or
# surrogate characters; the property is about the config, not the template's text.
_template = st.text(st.characters(exclude_categories=("Cc", "Cf", "Cs")), max_size=20)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(index=_versions, params=_params, use_tool=st.booleans(), template=_template)
def test_property_reference_and_inline_share_one_digest(
    ctx: Context, index: str, params: dict[str, Any], use_tool: bool, template: str
) -> None:
    project = f"prop-{abs(hash((index, str(params), use_tool, template))) % 10**12}"
    with contextlib.suppress(ConflictError):  # the same example again
        _catalog(ctx, project)
    ref_cfg: dict[str, Any] = {
        "model": {"model": "openai/gpt-4o@2024-08-06"},
        "params": params,
        "retrieval": {"index": f"kb@{index}"},
        "tools": [{"tool": "book@3"}] if use_tool else [],
    }
    inline_cfg: dict[str, Any] = {
        "model": GPT,
        "params": params,
        "retrieval": {"index": "kb", "version": index},
        "tools": [{"name": "book", **BOOK}] if use_tool else [],
    }
    for name in ("by-ref", "inline"):
        with contextlib.suppress(ConflictError):
            prompts.create_prompt(ctx, "ana", project, name, "text")
    tpl = template.replace("{", "").replace("}", "")
    a, _ = prompts.write_version(ctx, "ana", project, "by-ref", template=tpl, config=ref_cfg)
    b, _ = prompts.write_version(ctx, "ana", project, "inline", template=tpl, config=inline_cfg)
    assert a.digest == b.digest
    assert a.config == b.config


def test_impact_finds_versions_labels_and_tools_by_content(ctx: Context, project: str) -> None:
    _catalog(ctx, project)
    cfg = {"model": GPT, "retrieval": {"index": "kb@7"}, "tools": [{"tool": "book@3"}]}
    _prompt(ctx, project, "booking", cfg)
    _prompt(ctx, project, "support", {**cfg, "retrieval": {"index": "kb@8"}})
    _prompt(ctx, project, "other", {"model": GPT, "tools": [{"name": "book"}]})
    labels.move_label(ctx, "ana", project, "booking", "staging", 1)
    labels.move_label(ctx, "ana", project, "support", "staging", 1)
    at7 = deps.impact(ctx, project, parse_spec("index:kb@7"))
    assert [(u.prompt, u.version) for u in at7.versions] == [("booking", 1)]
    assert [(u.prompt, u.label) for u in at7.labels] == [("booking", "staging")]
    anyv = deps.impact(ctx, project, parse_spec("index:kb"))
    assert {(u.prompt, u.pinned) for u in anyv.versions} == {("booking", "7"), ("support", "8")}
    tool = deps.impact(ctx, project, parse_spec("tool:book@3"))
    assert [u.prompt for u in tool.versions] == ["booking", "support"]  # not the other content
    every_book = deps.impact(ctx, project, parse_spec("tool:book"))
    assert {u.prompt: u.pinned for u in every_book.versions}["other"] is None
    with pytest.raises(NotFoundError) as caught:
        deps.impact(ctx, project, parse_spec("index:kb@9"))
    assert "['7', '8']" in caught.value.message


def test_registering_a_new_version_lists_the_labels_pinning_the_old_one(
    ctx: Context, project: str
) -> None:
    _catalog(ctx, project)
    _prompt(ctx, project, "booking", {"model": GPT, "retrieval": {"index": "kb@7"}})
    labels.move_label(ctx, "ana", project, "booking", "prod", 1)
    found = deps.register(ctx, "ci", project, "index", "kb", "9", {"document_count": 130})
    assert [(u.prompt, u.label, u.pinned) for u in found.stale] == [("booking", "prod", "7")]


def test_bump_writes_one_version_per_prompt_with_only_that_dependency_changed(
    ctx: Context, project: str
) -> None:
    _catalog(ctx, project)
    cfg = {"model": GPT, "retrieval": {"index": "kb@7"}, "params": {"temperature": 0.2}}
    _prompt(ctx, project, "booking", cfg)
    _prompt(ctx, project, "support", cfg)
    _prompt(ctx, project, "unrelated", {"model": GPT})
    labels.move_label(ctx, "ana", project, "booking", "staging", 1)
    labels.move_label(ctx, "ana", project, "support", "staging", 1)
    out = dep_bump.bump(ctx, "ana", project, parse_spec("index:kb@8"), label="staging")
    assert [(b.prompt, b.base, b.version, b.previous) for b in out] == [
        ("booking", 1, 2, "7"), ("support", 1, 2, "7"),
    ]  # fmt: skip
    old = prompts.get_version(ctx, project, "booking", 1)
    new = prompts.get_version(ctx, project, "booking", 2)
    assert new.config == {**old.config, "retrieval": {"index": "kb", "version": "8"}}
    assert new.template == old.template and new.variables == old.variables
    assert new.message == "deps bump: index:kb 7 -> 8 (from booking@1, label staging)"
    again = dep_bump.bump(ctx, "ana", project, parse_spec("index:kb@8"), label="staging")
    assert [(b.version, b.created) for b in again] == [(2, False), (2, False)]  # idempotent
    labels.move_label(ctx, "ana", project, "booking", "staging", 2)
    assert [
        b.prompt
        for b in dep_bump.bump(ctx, "ana", project, parse_spec("index:kb@8"), label="staging")
    ] == ["support"]
    with pytest.raises(NotFoundError):
        dep_bump.bump(ctx, "ana", project, parse_spec("index:kb@99"))


def test_bump_a_tool_replaces_only_that_tool(ctx: Context, project: str) -> None:
    _catalog(ctx, project)
    other = {"name": "cancel", "description": "", "parameters": {"type": "object"}}
    _prompt(ctx, project, "booking", {"model": GPT, "tools": [{"tool": "book@3"}, other]})
    new_book = {**BOOK, "description": "Book a slot (v4)"}
    deps.register(ctx, "ana", project, "tool", "book", "4", new_book)
    out = dep_bump.bump(ctx, "ana", project, DepRef(DepKind.TOOL, "book", "4"))
    assert [(b.prompt, b.previous, b.version) for b in out] == [("booking", "3", 2)]
    tools = prompts.get_version(ctx, project, "booking", 2).config["tools"]
    assert tools[0]["description"] == "Book a slot (v4)" and tools[1]["name"] == "cancel"


def test_deprecations_list_pinned_versions_and_labels_as_the_date_approaches(
    ctx: Context, project: str
) -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    ctx.clock = lambda: now
    _catalog(ctx, project)
    _prompt(ctx, project, "booking", {"model": GPT})
    labels.move_label(ctx, "ana", project, "booking", "prod", 1)
    model = parse_spec("model:openai/gpt-4o@2024-08-06")
    assert dep_bump.deprecations(ctx, project) == []
    deps.set_retirement(ctx, "ana", project, model, (now + timedelta(days=120)).date())
    assert dep_bump.deprecations(ctx, project, within_days=90) == []
    found = dep_bump.deprecations(ctx, project, within_days=180)
    assert [(d.days_left, [u.label for u in d.labels]) for d in found] == [(120, ["prod"])]
    with pytest.raises(InvalidInputError):
        deps.set_retirement(ctx, "ana", project, parse_spec("index:kb@7"), date(2027, 1, 1))
