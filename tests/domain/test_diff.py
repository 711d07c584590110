"""What changed between two versions: unified template diff, per-field config and variables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from promptstage.domain.canonical import version_digest
from promptstage.domain.config import parse_config
from promptstage.domain.diff import diff_versions
from promptstage.domain.models import Version
from promptstage.domain.template import parse_variables

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}


def make_version(
    number: int, template: Any, *, type_: str = "text", variables: Any = (), **config: Any
) -> Version:
    declared = parse_variables(list(variables))
    normalized = parse_config({"model": MODEL, **config})
    return Version(
        prompt="p",
        number=number,
        digest=version_digest(type_, template, declared, normalized),
        type=type_,
        template=template,
        variables=declared,
        config=normalized,
        author="a",
        message="",
        parent=number - 1 or None,
        created_at=AT,
    )


def test_identical_versions_have_an_empty_diff() -> None:
    v = make_version(1, "Hello\n")
    assert diff_versions(v, make_version(2, "Hello\n")) == {
        "from": 1,
        "to": 2,
        "type_changed": False,
        "template": "",
        "variables": [],
        "config": [],
    }


def test_template_is_a_unified_diff() -> None:
    old = make_version(1, "Hello {{ name }}.\nBye.\n", variables=["name"])
    new = make_version(3, "Hi {{ name }}!\nBye.\n", variables=["name"])
    out = diff_versions(old, new)
    assert out["template"].splitlines() == [
        "--- p@1",
        "+++ p@3",
        "@@ -1,2 +1,2 @@",
        "-Hello {{ name }}.",
        "+Hi {{ name }}!",
        " Bye.",
    ]


def test_chat_templates_diff_by_message_with_role_headers() -> None:
    old = make_version(
        1,
        [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "q"}],
        type_="chat",
    )
    new = make_version(
        2,
        [{"role": "system", "content": "Be kind.\nBe brief."}, {"role": "user", "content": "q"}],
        type_="chat",
    )
    lines = diff_versions(old, new)["template"].splitlines()
    assert "+Be brief." in lines
    assert " [system]" in lines
    assert not any(line.startswith("-") and not line.startswith("---") for line in lines)


def test_type_change_is_flagged() -> None:
    old = make_version(1, "x")
    new = make_version(2, [{"role": "user", "content": "x"}], type_="chat")
    assert diff_versions(old, new)["type_changed"] is True


def test_config_changes_are_listed_per_field() -> None:
    old = make_version(
        1,
        "x",
        params={"temperature": 0.2, "top_p": 1},
        tools=[{"name": "a", "description": "A"}, {"name": "b"}],
        retrieval={"index": "kb", "version": "1"},
    )
    new = make_version(
        2,
        "x",
        model={**MODEL, "version": "2024-11-20"},
        params={"temperature": 0.3, "max_tokens": 5},
        tools=[{"name": "b"}, {"name": "a", "description": "A!"}, {"name": "c"}],
        metadata={"owner": "ops"},
    )
    rows = {row["field"]: row for row in diff_versions(old, new)["config"]}
    assert rows["model.version"] == {
        "field": "model.version",
        "from": "2024-08-06",
        "to": "2024-11-20",
        "change": "changed",
    }
    assert rows["params.temperature"]["change"] == "changed"
    assert rows["params.top_p"] == {
        "field": "params.top_p",
        "from": 1,
        "to": None,
        "change": "removed",
    }
    assert rows["params.max_tokens"] == {
        "field": "params.max_tokens",
        "from": None,
        "to": 5,
        "change": "added",
    }
    # tools are matched by name, not position: reordering "a" and "b" is not a change
    assert rows["tools[a].description"] == {
        "field": "tools[a].description",
        "from": "A",
        "to": "A!",
        "change": "changed",
    }
    assert not any(key.startswith("tools[b]") for key in rows)
    assert rows["tools[c].description"]["change"] == "added"
    assert rows["retrieval.index"]["change"] == "removed"
    assert rows["metadata.owner"] == {
        "field": "metadata.owner",
        "from": None,
        "to": "ops",
        "change": "added",
    }
    assert list(rows) == sorted(rows)


def test_variable_changes_are_listed_per_variable() -> None:
    old = make_version(1, "{{ a }}{{ b }}", variables=["a", {"name": "b", "type": "string"}])
    new = make_version(2, "{{ a }}{{ c }}", variables=[{"name": "a", "required": False}, "c"])
    rows = {row["field"]: row["change"] for row in diff_versions(old, new)["variables"]}
    assert rows == {
        "a.required": "changed",
        "b.name": "removed",
        "b.required": "removed",
        "b.type": "removed",
        "c.name": "added",
        "c.required": "added",
        "c.type": "added",
    }


def test_a_last_line_without_a_newline_stays_its_own_line() -> None:
    lines = diff_versions(make_version(1, "Hi."), make_version(2, "Hey."))["template"].splitlines()
    assert lines[-2:] == ["-Hi.", "+Hey."]
