"""Static checks on every version write, before anything is stored (issue 13; security.md rows
6, 7, 11): blocking findings refuse the write naming field, position and fix; warnings come
back with the version; the project's policy decides which is which."""

from __future__ import annotations

from typing import Any

import pytest

from promptstage.domain.governance import ProjectSettings
from promptstage.errors import InvalidInputError
from promptstage.service import prompts
from promptstage.service.context import Context

USER = "key:editor"
MODEL = {"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}}
AWS_KEY = "AKIAZ7Q3XK5TR2P4WJ6M"  # synthetic, AWS-shaped
CARD = "4111 1111 1111 1111"  # a test card number, Luhn-valid


@pytest.fixture
def chat(ctx: Context, project: str) -> str:
    prompts.create_project(ctx, USER, project)
    prompts.create_prompt(ctx, USER, project, "support", "chat")
    prompts.create_prompt(ctx, USER, project, "note", "text")
    return project


def stored(ctx: Context, project: str) -> tuple[int, int]:
    """(versions of support, audit rows): what a refused write must leave unchanged."""
    with ctx.store.unit_of_work() as uow:
        versions = uow.list_versions(project, "support", limit=100, before=None)
        return len(versions), len(list(uow.iter_audit(project)))


def write(ctx: Context, project: str, content: str, **extra: Any) -> prompts.Written:
    return prompts.write_checked(
        ctx,
        USER,
        project,
        "support",
        template=[{"role": "system", "content": content}, {"role": "user", "content": "{{ q }}"}],
        config=extra.pop("config", MODEL),
        **extra,
    )


def refused(ctx: Context, project: str, content: str, **extra: Any) -> InvalidInputError:
    before = stored(ctx, project)
    with pytest.raises(InvalidInputError) as caught:
        write(ctx, project, content, **extra)
    assert stored(ctx, project) == before  # nothing stored, not even an audit row
    return caught.value


def test_a_secret_in_the_template_blocks_the_write_and_nothing_is_stored(
    ctx: Context, chat: str
) -> None:
    error = refused(ctx, chat, f"Call the API with {AWS_KEY}.")
    assert error.status_code == 422 and error.field == "template[0].content"
    assert "line 1 column 19" in error.message and "rotate it" in error.message
    assert AWS_KEY not in error.message  # the finding is redacted
    (finding,) = error.details["findings"]
    assert (finding["kind"], finding["offset"]) == ("secret", 18)


def test_a_secret_in_the_config_blocks_too(ctx: Context, chat: str) -> None:
    config = {**MODEL, "metadata": {"note": f"key {AWS_KEY}"}}
    error = refused(ctx, chat, "Be helpful.", config=config)
    assert error.field == "config.metadata.note"


@pytest.mark.parametrize(
    ("text", "kind"),
    [("Be \U000e0041\U000e0042 kind.", "invisible"), ("Be \u202ekind.", "bidi")],
)
def test_invisible_and_bidi_characters_block_the_write(
    ctx: Context, chat: str, text: str, kind: str
) -> None:
    error = refused(ctx, chat, text)
    assert error.details["findings"][0]["kind"] == kind
    assert "delete them" in error.message and "line 1 column 4" in error.message


def test_pii_only_warns_and_the_version_is_stored_with_the_warning(ctx: Context, chat: str) -> None:
    written = write(ctx, chat, f"Example: the customer paid with {CARD}.")
    assert written.created and stored(ctx, chat)[0] == 1
    (warning,) = written.warnings
    assert (warning.kind, warning.severity, warning.field) == ("pii", "warn", "template[0].content")
    assert CARD not in warning.message


def test_the_projects_static_policy_decides(ctx: Context, chat: str) -> None:
    strict = ProjectSettings(("prod",), True, static_policy={"pii": "block"})
    with ctx.store.unit_of_work(write=True) as uow:
        uow.set_project_settings(chat, strict)
    error = refused(ctx, chat, f"Example card {CARD}.")
    assert error.details["findings"][0]["kind"] == "pii"
    relaxed = ProjectSettings(("prod",), True, static_policy={"pii": "off", "bidi": "warn"})
    with ctx.store.unit_of_work(write=True) as uow:
        uow.set_project_settings(chat, relaxed)
    written = write(ctx, chat, f"Example card {CARD}, be \u202ekind.")
    assert [w.kind for w in written.warnings] == ["bidi"]


def test_a_clean_version_has_no_warning(ctx: Context, chat: str) -> None:
    written = write(ctx, chat, "You help customers book appointments.")
    assert written.created and written.warnings == []


def test_write_version_keeps_its_answer_and_refuses_the_same(ctx: Context, chat: str) -> None:
    version, created = prompts.write_version(
        ctx, USER, chat, "note", template="Hello {{ name }}", config=MODEL
    )
    assert created and version.number == 1
    with pytest.raises(InvalidInputError):
        prompts.write_version(
            ctx, USER, chat, "note", template=f"Hello {{{{ name }}}} {AWS_KEY}", config=MODEL
        )
