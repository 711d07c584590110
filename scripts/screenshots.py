"""Screenshots of every admin UI page for docs/ui.md, taken from the demo data (`make screenshots`).

Starts `promptstage serve --demo` on a throwaway SQLite file with `promptstage dev fake-model` as
the model of its eval runs, gives the demo a little life through the public API (a new version,
a running canary with logged calls and scores, a finished run of the built-in security suite),
then signs in with Debian's Chromium through Playwright and saves one PNG per page in
docs/img/ui/. Nothing here is needed at run time; it only documents the pages.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img" / "ui"
CHROMIUM = os.environ.get("PROMPTSTAGE_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "demo-password-for-screenshots"
PROJECT = "clinic"
PROMPT = "booking.system"
MAX_HEIGHT = 1400  # pixels of a long page kept: the top is what the docs show


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)


@contextmanager
def fake_model() -> Iterator[str]:
    """`promptstage dev fake-model` (a model that refuses what it should): its base URL."""
    port = _free_port()
    exe = Path(sys.executable).with_name("promptstage")
    proc = subprocess.Popen(
        [str(exe), "dev", "fake-model", "--port", str(port), "--behaviour", "refuse"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc, "the fake model")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def demo_server(folder: Path, model_url: str) -> Iterator[tuple[str, str]]:
    """A `promptstage serve --demo` process whose eval runs call the fake model at
    ``model_url``; yields its URL and the instance admin key."""
    port = _free_port()
    key = f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
    env = {
        **os.environ,
        "PROMPTSTAGE_EVAL_OPENAI_BASE_URL": f"{model_url}/v1",
        "PROMPTSTAGE_EVAL_ANTHROPIC_BASE_URL": model_url,
        "PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV": "none",
        "PROMPTSTAGE_EVAL_ANTHROPIC_API_KEY_ENV": "none",
        "PROMPTSTAGE_ADMIN_KEY": key,
        "PROMPTSTAGE_DATABASE_URL": f"sqlite:///{folder / 'demo.sqlite'}",
        "PROMPTSTAGE_DEMO": "true",
        "PROMPTSTAGE_DEMO_PASSWORD": PASSWORD,
        "PROMPTSTAGE_LOG_LEVEL": "warning",
    }
    exe = Path(sys.executable).with_name("promptstage")
    proc = subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/readyz", proc, "the demo server")
        yield url, key
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json() if response.content else None


def give_the_demo_some_life(url: str, admin_key: str) -> dict[str, Any]:
    """A new version on a running canary with calls and scores, and an open change request."""
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"})
    base = f"/api/v1/projects/{PROJECT}"
    prompt = _ok(admin.get(f"{base}/prompts/{PROMPT}"))
    latest = _ok(admin.get(f"{base}/prompts/{PROMPT}/versions/{prompt['latest_version']}"))
    template = latest["template"]
    if isinstance(template, list):
        template = [dict(m) for m in template]
        template[0]["content"] += " Confirm the date and time back to the patient before booking."
    else:
        template += " Confirm the date and time back to the patient before booking."
    new = _ok(
        admin.post(
            f"{base}/prompts/{PROMPT}/versions",
            json={
                "template": template,
                "variables": latest["variables"],
                "config": latest["config"],
                "message": "confirm the slot back before booking",
            },
        )
    )
    release = _ok(
        admin.post(
            f"{base}/releases",
            json={
                "prompt": PROMPT,
                "label": "staging",
                "candidate_version": new["version"],
                "strategy": "canary",
                "reason": "confirm-back wording, as a 5 % canary",
            },
        )
    )
    digests = {
        n: _ok(admin.get(f"{base}/prompts/{PROMPT}/versions/{n}"))["digest"]
        for n in (new["version"], release["baseline_version"])
    }
    runtime = _ok(admin.post(f"{base}/keys", json={"name": "screenshots", "role": "runtime"}))
    rt = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {runtime['token']}"})
    rng = random.Random(7)
    now = datetime.now(UTC)
    calls, scores = [], []
    for i in range(400):
        arm = "canary" if i % 10 == 0 else "control" if i % 10 == 1 else "baseline"
        version = new["version"] if arm == "canary" else release["baseline_version"]
        call_id = uuid.uuid4().hex
        calls.append(
            {
                "id": call_id,
                "at": (now - timedelta(minutes=400 - i)).isoformat(),
                "prompt": PROMPT,
                "label": "staging",
                "version": version,
                "digest": digests[version],
                "release_id": release["id"],
                "arm": arm,
                "unit_hash": f"{rng.randrange(300):016x}",
                "context": {"channel": rng.choice(["whatsapp", "sms", "web"])},
                "latency_ms": rng.lognormvariate(6.4, 0.3),
                "tokens_in": rng.randrange(300, 700),
                "tokens_out": rng.randrange(40, 200),
                "cost": 0.002,
                "variables": {
                    "clinic_name": "Harbour Clinic",
                    "message": "Can I see Dr Lee on Friday?",
                },
                "output": "Dr Lee has a free slot on Friday at 10:30. Shall I book it?",
                "error": None if rng.random() > 0.02 else "timeout",
            }
        )
        scores.append(
            {"call_id": call_id, "name": "thumbs_down", "value": float(rng.random() < 0.1)}
        )
    _ok(rt.post(f"{base}/calls", json={"calls": calls}))
    _ok(rt.post(f"{base}/scores", json={"scores": scores}))
    run = _ok(
        admin.post(
            f"{base}/evals/runs",
            json={"suite": "builtin/security", "prompt": PROMPT, "version": new["version"]},
        )
    )
    deadline = time.monotonic() + 120
    while _ok(admin.get(f"{base}/evals/runs/{run['id']}"))["status"] in ("queued", "running"):
        if time.monotonic() > deadline:
            raise RuntimeError("the eval run did not finish")
        time.sleep(0.5)
    return {
        "release": release["id"],
        "call": calls[-1]["id"],
        "version": new["version"],
        "run": run["id"],
    }


def shoot(url: str, admin_key: str, made: dict[str, Any]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    p = f"/ui/p/{PROJECT}"
    pages = {
        "sign-in": "/ui/sign-in",
        "projects": "/ui/",
        "overview": p,
        "prompt": f"{p}/prompts/{PROMPT}",
        "diff": f"{p}/prompts/{PROMPT}/diff?a=1&b={made['version']}",
        "editor": f"{p}/prompts/{PROMPT}/new",
        "promote": f"{p}/prompts/{PROMPT}/promote?label=prod&version={made['version']}",
        "rollback": f"{p}/prompts/sales.system/labels/prod/rollback",
        "release-new": f"{p}/prompts/{PROMPT}/releases/new?label=staging&version={made['version']}",
        "releases": f"{p}/releases",
        "release": f"{p}/releases/{made['release']}",
        "quality": f"{p}/prompts/{PROMPT}/quality?days=7",
        "approvals": f"{p}/approvals",
        "calls": f"{p}/calls",
        "call": f"{p}/calls/{made['call']}",
        "audit": f"{p}/audit",
        "admin": f"{p}/admin",
        "evals-suites": f"{p}/evals/suites",
        "evals-suite": f"{p}/evals/suites/builtin%2Fsecurity",
        "evals-runs": f"{p}/evals/runs",
        "evals-run": f"{p}/evals/runs/{made['run']}",
        "evals-run-new": f"{p}/evals/runs/new?prompt={PROMPT}&version={made['version']}",
        "playground": f"{p}/prompts/{PROMPT}/playground?version={made['version']}",
    }
    saved = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
            ],
        )
        page = browser.new_page(base_url=url, viewport={"width": 1360, "height": 900})
        page.goto("/ui/sign-in")
        page.screenshot(path=str(OUT / "sign-in.png"))
        page.get_by_text("Sign in with the instance admin key").click()
        page.get_by_label("Instance admin key").fill(admin_key)
        page.get_by_role("button", name="Sign in with the key").click()
        page.wait_for_url("**/ui/")
        for name, path in pages.items():
            if name == "sign-in":
                continue
            page.goto(path)
            page.wait_for_load_state("networkidle")
            target = OUT / f"{name}.png"
            height = min(page.evaluate("document.body.scrollHeight"), MAX_HEIGHT)
            page.screenshot(
                path=str(target),
                full_page=True,
                clip={"x": 0, "y": 0, "width": 1360, "height": height},
            )
            saved.append(target)
        browser.close()
    return saved


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        fake_model() as model_url,
        demo_server(Path(folder), model_url) as (url, key),
    ):
        made = give_the_demo_some_life(url, key)
        for path in shoot(url, key, made):
            print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
