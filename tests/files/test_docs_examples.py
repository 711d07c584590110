"""The examples in docs/files.md are real: the prompt files parse, the CI workflow is YAML."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from promptstage.files.layout import parse_file
from promptstage.files.lock import parse_lock

DOC = (Path(__file__).resolve().parents[2] / "docs" / "files.md").read_text(encoding="utf-8")


def _block(language: str, index: int = 0) -> str:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)[index]


def test_the_dotprompt_example_parses() -> None:
    spec = parse_file(_block("handlebars"), "booking.system.prompt").spec
    assert spec.config["model"]["version"] == "2024-08-06"
    assert [t["name"] for t in spec.config["tools"]] == ["find_slot"]


def test_the_prompty_example_parses() -> None:
    spec = parse_file(_block("prompty"), "booking.prompty").spec
    assert spec.config["params"] == {"temperature": 0.2, "max_tokens": 300, "logprobs": True}
    assert [m["role"] for m in spec.template] == ["system", "user"]


def test_the_ci_workflow_runs_diff_and_push() -> None:
    workflow = yaml.safe_load(_block("yaml"))
    steps = [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]
    assert "promptstage files diff prompts/" in steps
    assert any(s.startswith("promptstage files push prompts/ --label staging") for s in steps)


def test_the_lock_example_has_the_written_shape() -> None:
    lock = parse_lock(_block("json"))
    assert lock.prompts["booking.system"].labels["prod"] == 2
