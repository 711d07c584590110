"""The README's quickstart works as written, against a real `promptstage serve --demo` process."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from promptstage.sdk.cache_dir import CACHE_DIR_ENV, default_cache_path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def section_of(title: str) -> str:
    """The text of the README's ``## {title}`` section (up to the next ``## ``)."""
    readme = (ROOT / "README.md").read_text()
    return readme.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def sh_blocks(title: str) -> list[str]:
    """Every ```sh block of a README section, in order."""
    blocks = re.findall(r"```sh\n(.*?)```", section_of(title), flags=re.S)
    assert blocks, f"the README section {title!r} has no ```sh blocks"
    return blocks


def quickstart_script() -> str:
    """Every ```sh block of the README's CLI and API quickstart, in order."""
    return "\n".join(sh_blocks("Quickstart: the CLI and the API"))


@contextmanager
def serving_demo(
    tmp_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[int, Path]]:
    """`promptstage serve --demo` in a working directory laid out like a fresh clone."""
    work = tmp_path / "clone"
    (work / ".promptstage").mkdir(parents=True)
    (work / ".venv").symlink_to(BIN.parent)
    key = f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
    (work / ".promptstage" / "dev-admin-key").write_text(key + "\n")
    port = _free_port()
    env = {**os.environ, **(extra_env or {}), "PROMPTSTAGE_ADMIN_KEY": key}
    server = subprocess.Popen(
        [
            str(BIN / "promptstage"),
            "serve",
            "--demo",
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{work}/.promptstage/promptstage.db",
        ],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", server)
        yield port, work
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=10)
        assert key not in out, "serve must not print a key it was given"
        assert f"ps_{key.split('_')[1]}_… (prefix only)" in out, "serve names the key it uses"


def run_as_written(
    script: str,
    port: int,
    work: Path,
    *,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run README shell blocks with ``bash -euo pipefail`` in ``work``, against the server on
    ``port`` (the README says 127.0.0.1:8700), by default without any PROMPTSTAGE_ variable
    of this process (the README's own exports are what the blocks see) but the suite's cache
    directory: an SDK client of a block keeps its last-known-good file out of the user's."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTSTAGE_")}
        env[CACHE_DIR_ENV] = os.environ[CACHE_DIR_ENV]
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace("127.0.0.1:8700", f"127.0.0.1:{port}")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _wait_for(url: str, process: subprocess.Popen[str], *, any_answer: bool = False) -> None:
    """Until ``url`` answers 200 (or anything at all, ``any_answer``) while ``process`` lives."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200 or any_answer:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, f"{url} did not answer within 30 s"
        time.sleep(0.1)


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    with serving_demo(tmp_path) as served:
        yield served


def test_readme_quickstart_runs_as_written(demo_server: tuple[int, Path]) -> None:
    port, work = demo_server
    result = run_as_written(quickstart_script(), port, work)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "booking.system" in result.stdout
    assert '"rendered"' in result.stdout  # the curl resolve with render=1
    key = (work / ".promptstage" / "dev-admin-key").read_text().strip()
    labels = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/projects/clinic/prompts/booking.system",
        headers={"Authorization": f"Bearer {key}"},
    ).json()["labels"]
    assert labels["prod"] == 2  # shipped 3 with curl, then rolled back


GATE_SECTION = "Quickstart: the evaluation gate"
ANOTHER_TERMINAL = "# in another terminal"


def makefile_eval_env(port: int) -> dict[str, str]:
    """The eval settings `make run` gives the server (the Makefile's ``PROMPTSTAGE_* ?=``
    defaults), with the fake model on ``port``."""
    makefile = (ROOT / "Makefile").read_text()
    found = dict(re.findall(r"^(PROMPTSTAGE_[A-Z_]+) \?= (.*)$", makefile, flags=re.M))
    assert {"PROMPTSTAGE_EVAL_OPENAI_BASE_URL", "PROMPTSTAGE_EVAL_ANTHROPIC_BASE_URL"} <= set(found)
    return {k: v.replace("$(FAKE_MODEL_PORT)", str(port)) for k, v in found.items()}


def test_readme_evaluation_gate_runs_as_written(tmp_path: Path) -> None:
    """The gate quickstart, after the CLI quickstart, against `serve --demo` with the Makefile's
    eval settings and the README's own fake-model command running in the background."""
    blocks = sh_blocks(GATE_SECTION)
    background = [b for b in blocks if b.startswith(ANOTHER_TERMINAL)]
    assert len(background) == 1, f"one ```sh block of {GATE_SECTION!r} starts {ANOTHER_TERMINAL!r}"
    (command,) = [line for line in background[0].splitlines() if line and line[0] != "#"]
    assert "promptstage dev fake-model" in command
    model_port = _free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTSTAGE_")}
    fake = subprocess.Popen(
        ["bash", "-c", f"exec {command} --port {model_port}"],
        cwd=BIN.parent.parent,
        env={**child_env, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{model_port}/", fake, any_answer=True)
        with serving_demo(tmp_path, makefile_eval_env(model_port)) as (port, work):
            steps = [quickstart_script(), *(b for b in blocks if b not in background)]
            result = run_as_written(
                "\n".join(steps), port, work, timeout=300, env={**child_env, "COLUMNS": "100"}
            )
    finally:
        fake.terminate()
        fake.communicate(timeout=10)
    out = result.stdout
    assert result.returncode == 0, f"stdout:\n{out}\nstderr:\n{result.stderr}"
    assert "refused by the evaluation gate" in out
    assert "HTTP 409" in out and '"gate_refused"' in out
    assert "suite builtin/security: no eval run for this version" in result.stderr + out
    # The summary the README shows, line by line (the run id and the progress bar aside).
    shown = re.findall(r"```text\n(.*?)```", section_of(GATE_SECTION), flags=re.S)
    summary = next(t for t in shown if "pass rate" in t)
    printed = {" ".join(line.split()) for line in out.splitlines()}
    for line in summary.splitlines():
        if line.strip() and not line.startswith(("run ", "passed ")):
            assert " ".join(line.split()) in printed, f"the README shows {line!r}; got:\n{out}"
    assert "prod -> version 3 (was 2)" in out  # the move passed after the run
    assert "a case failed" in out and "no-medical-advice" in out
    assert "overridden" in out and "incident 42" in out


CANARY_SECTION = "Quickstart: a canary that rolls itself back"


def test_readme_canary_rolls_itself_back_in_under_a_minute(demo_server: tuple[int, Path]) -> None:
    """`serve --demo`'s controller looks every few seconds, so the README's `demo traffic`
    canary is rolled back while the user watches."""
    port, work = demo_server
    script = "\n".join([quickstart_script(), *sh_blocks(CANARY_SECTION)])
    started = time.monotonic()
    result = run_as_written(script, port, work, timeout=180)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    found = re.search(r"rolled_back ([0-9.]+) s after the start", result.stdout)
    assert found, result.stdout
    assert float(found.group(1)) < 60
    assert "serves booking.system:staging version 3 to every simulated user" in result.stdout
    assert time.monotonic() - started < 170
    # `promptstage demo traffic` runs an SDK client: its file goes to the suite's directory
    users = {k: v for k, v in os.environ.items() if k != CACHE_DIR_ENV}
    users_own, _ = default_cache_path(f"http://127.0.0.1:{port}", "clinic", environ=users)
    assert users_own is None or not users_own.exists(), f"written into the user's {users_own}"


DEPS_SECTION = "Quickstart: dependencies"


def test_readme_dependencies_run_as_written(demo_server: tuple[int, Path]) -> None:
    port, work = demo_server
    exports = sh_blocks("Quickstart: the CLI and the API")[0]
    result = run_as_written("\n".join([exports, *sh_blocks(DEPS_SECTION)]), port, work)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "support.system" in result.stdout and "bumped to index:kb@9" in result.stdout
    assert "model:openai/gpt-4o@2024-08-06 retires on 2027-02-26" in result.stdout
