"""Prompt names with folders (``support/triage``): sent as ``%2F`` in path segments."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from .client import BASE, Seeded, assert_error_shape, text_version

P = f"{BASE}/acme"
NAME = "support/triage"
Q = quote(NAME, safe="")  # support%2Ftriage


def _create(seeded: Seeded, name: str = NAME) -> None:
    seeded.admin.ok("POST", f"{P}/prompts", 201, json={"name": name, "type": "text"})
    seeded.admin.ok(
        "POST", f"{P}/prompts/{quote(name, safe='')}/versions", 201, json=text_version("Hi {{ x }}")
    )


def test_a_folder_prompt_is_created_read_labelled_resolved_and_in_the_snapshot(
    seeded: Seeded,
) -> None:
    _create(seeded)
    a = seeded.admin
    assert a.ok("GET", f"{P}/prompts/{Q}")["name"] == NAME
    assert a.ok("GET", f"{P}/prompts/{Q}/versions/1")["template"] == "Hi {{ x }}"
    assert [v["version"] for v in a.ok("GET", f"{P}/prompts/{Q}/versions")["items"]] == [1]
    moved = a.ok("PUT", f"{P}/prompts/{Q}/labels/staging", json={"version": 1, "reason": "t"})
    assert moved["version"] == 1
    runtime = seeded.client("runtime")
    resolved = runtime.ok("GET", f"{P}/prompts/{Q}/resolve", params={"label": "staging"})
    assert resolved["version"] == 1
    names = set(a.ok("GET", f"{P}/snapshot")["prompts"])
    assert NAME in names
    assert NAME in {p["name"] for p in a.ok("GET", f"{P}/prompts")["items"]}


def test_lowercase_percent_encoding_works_too(seeded: Seeded) -> None:
    _create(seeded)
    assert seeded.admin.ok("GET", f"{P}/prompts/support%2ftriage")["name"] == NAME


def test_an_unencoded_slash_is_a_different_path(seeded: Seeded) -> None:
    _create(seeded)
    assert seeded.admin.get(f"{P}/prompts/{NAME}").status_code == 404


def test_an_encoded_percent_is_not_taken_for_a_slash(seeded: Seeded) -> None:
    _create(seeded)
    # "support%2Ftriage" sent as support%252Ftriage is a name with a '%': not ours.
    response = seeded.admin.get(f"{P}/prompts/support%252Ftriage")
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("bad", ["support//triage", "/support", "support/", "a/../b", "a/.b"])
def test_bad_folder_names_are_rejected_naming_the_field(seeded: Seeded, bad: str) -> None:
    response = seeded.admin.post(f"{P}/prompts", json={"name": bad, "type": "text"})
    assert response.status_code == 422, response.text
    error = assert_error_shape(response.json())
    assert error["field"] == "name" and "support/triage" in error["message"]


def test_path_routes_still_take_encoded_slashes(seeded: Seeded) -> None:
    # {name:path} routes (eval suites such as builtin/security) read %2F as before.
    encoded = seeded.admin.get(f"{P}/evals/suites/builtin%2Fsecurity")
    plain = seeded.admin.get(f"{P}/evals/suites/builtin/security")
    assert encoded.status_code == plain.status_code == 200
    assert encoded.json() == plain.json()
