"""The push plan (files vs lock), the lock file, paths, and front matter safety."""

from __future__ import annotations

import time

import pytest

from promptstage.files.layout import FORMATS, path_for, write_file
from promptstage.files.lock import Entry, Lock, parse_lock
from promptstage.files.plan import make_plan
from promptstage.files.spec import FileFormatError, split_front_matter

from .samples import spec


def _files() -> tuple[Lock, dict[str, str]]:
    a, b = spec(), spec("text")
    files = {
        "a.prompt": write_file(a, "a", FORMATS["dotprompt"]),
        "dir/b.prompty": write_file(b, "dir/b", FORMATS["prompty"]),
    }
    lock = Lock(
        "p", {"a": Entry("a.prompt", 2, a.digest), "dir/b": Entry("dir/b.prompty", 1, b.digest)}
    )
    return lock, files


def test_unchanged_files_plan_nothing() -> None:
    lock, files = _files()
    plan = make_plan(lock, files)
    assert not plan.errors and not plan.pending
    assert [(c.name, c.action, c.base_version) for c in plan.changes] == [
        ("a", "unchanged", 2),
        ("dir/b", "unchanged", 1),
    ]


def test_an_edit_is_one_modification_and_a_new_file_a_new_prompt() -> None:
    lock, files = _files()
    files["a.prompt"] = files["a.prompt"].replace("You book", "We book")
    files["c.prompt"] = files["a.prompt"]
    plan = make_plan(lock, files)
    assert [(c.name, c.action) for c in plan.pending] == [("a", "modified"), ("c", "new")]


def test_renamed_and_missing_files_are_errors() -> None:
    lock, files = _files()
    files["renamed.prompt"] = files.pop("a.prompt")
    del files["dir/b.prompty"]
    plan = make_plan(lock, files)
    assert any("a.prompt was renamed to renamed.prompt" in e for e in plan.errors)
    assert any("dir/b.prompty (prompt 'dir/b') is missing" in e for e in plan.errors)


def test_two_files_for_one_prompt_is_an_error() -> None:
    lock, files = _files()
    files["a.prompty"] = write_file(spec(), "a", FORMATS["prompty"])
    assert any("also has the file" in e for e in make_plan(lock, files).errors)


def test_every_bad_file_is_reported_not_only_the_first() -> None:
    lock, files = _files()
    files["a.prompt"] = "no front matter"
    files["dir/b.prompty"] = "---\nmodel: {id: m, provider: p}\n---\nuser:\nx\n"
    assert len(make_plan(lock, files).errors) == 2


def test_lock_round_trip_and_errors() -> None:
    lock, _ = _files()
    lock.prompts["a"] = Entry("a.prompt", 2, "sha256:x", {"prod": 2})
    assert parse_lock(lock.to_text()) == lock
    with pytest.raises(FileFormatError, match="not valid JSON"):
        parse_lock("{")
    with pytest.raises(FileFormatError, match="lock_version 1"):
        parse_lock('{"project": "p"}')


@pytest.mark.parametrize("name", ["../escape", "a/../../b", "/abs", "a//b", "c:\\\\x", "C:/x"])
def test_names_that_leave_the_directory_have_no_path(name: str) -> None:
    with pytest.raises(FileFormatError):
        path_for(name, FORMATS["dotprompt"])


def test_yaml_aliases_are_refused_before_they_expand() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        levels.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    text = "---\n" + "\n".join(levels) + "\n---\nHi\n"
    started = time.monotonic()
    with pytest.raises(FileFormatError, match=r"x.prompt:3: YAML anchors and aliases"):
        split_front_matter(text, "x.prompt")
    assert time.monotonic() - started < 1
