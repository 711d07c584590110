"""Objects for the fuzzer to find: without them, every operation on a release, a change request,
a webhook, a key, a user, an eval run or a call would only ever answer 404.

``seed_objects`` creates them through the public API of a running server (after ``seed_demo``)
and returns, per path parameter, the values that name an existing object. ``hooks.py`` puts
them into the generated requests.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import httpx

from promptstage.service.demo import PROJECT
from promptstage.service.demo_evals import DEMO_SUITE

# Path parameters shared by several resources: which values to use depends on the path.
PROMPTS = ["booking.system", "router.intent", "support.system", "sales.system"]
LABELS = ["prod", "staging", "canary"]
VERSIONS = [1, 2, 3]
USERS = ["fuzz-editor", "fuzz-releaser", "fuzz-admin"]
SUITES = [DEMO_SUITE, "builtin/security"]
KEYS_TO_SEED = 4  # DELETE and rotate consume them; a few survive a short run
BASE = f"/api/v1/projects/{PROJECT}"


class SeedError(RuntimeError):
    """The server refused a request the seeding needs (the fuzz run would be meaningless)."""


def _ok(response: httpx.Response, *expected: int) -> Any:
    if response.status_code not in expected:
        raise SeedError(
            f"seeding the fuzz server: {response.request.method} {response.request.url.path} "
            f"answered {response.status_code}: {response.text[:500]}"
        )
    return response.json() if response.content else None


def seed_objects(url: str, admin_key: str, releaser_keys: list[str]) -> dict[str, list[Any]]:
    """Create releases, a change request, webhooks, keys, users, a principal, an eval run, a
    replay and calls in the demo project; return the values of each path parameter."""
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30)
    with admin:
        return {
            "project": [PROJECT],
            "name": PROMPTS,
            "label": LABELS,
            "number": VERSIONS,
            "user": USERS if _users(admin) else [],
            "suite": SUITES,
            "prefix": _keys(admin),
            "webhook_id": _webhooks(admin),
            "release_id": _releases(admin),
            "call_id": _calls(admin),
            "run_id": _eval_runs(admin),
            "replay_id": _replays(admin),
            "request_id": _change_requests(admin, url, releaser_keys),
        }


def _users(admin: httpx.Client) -> bool:
    for name, role in zip(USERS, ("editor", "releaser", "admin"), strict=True):
        body = {"name": name, "role": role, "password": secrets.token_urlsafe(16)}
        _ok(admin.post(f"{BASE}/users", json=body), 201)
    _ok(admin.post(f"{BASE}/principals", json={"name": "fuzz-agent", "kind": "service"}), 201)
    return True


def _keys(admin: httpx.Client) -> list[str]:
    made = [
        _ok(admin.post(f"{BASE}/keys", json={"role": "runtime", "name": f"fuzz-{n}"}), 201)
        for n in range(KEYS_TO_SEED)
    ]
    return [str(key["prefix"]) for key in made]


def _webhooks(admin: httpx.Client) -> list[str]:
    # Nothing listens on port 9 of loopback: a delivery fails at once and is recorded.
    made = [
        _ok(admin.post(f"{BASE}/webhooks", json={"url": f"http://127.0.0.1:9/hook-{n}"}), 201)
        for n in range(2)
    ]
    return [str(hook["id"]) for hook in made]


def _releases(admin: httpx.Client) -> list[str]:
    """An active canary on each of three prompts' ``prod``, and one aborted (a finished one)."""
    ids = []
    for prompt, candidate in (("booking.system", 3), ("router.intent", 3), ("support.system", 2)):
        body = {"prompt": prompt, "label": "prod", "candidate_version": candidate}
        made = _ok(admin.post(f"{BASE}/releases", json={**body, "strategy": "canary"}), 201)
        ids.append(str(made["id"]))
    _ok(admin.post(f"{BASE}/releases/{ids[-1]}/abort", json={"reason": "fuzz seed"}), 200)
    return ids


def _calls(admin: httpx.Client) -> list[str]:
    snapshot = _ok(admin.get(f"{BASE}/snapshot"), 200)
    version = snapshot["versions"][
        f"booking.system@{snapshot['prompts']['booking.system']['labels']['prod']}"
    ]
    ids = [f"fuzz-call-{uuid.uuid4().hex}" for _ in range(3)]
    calls = [
        {
            "id": call_id,
            "prompt": "booking.system",
            "label": "prod",
            "version": version["version"],
            "digest": version["digest"],
            "variables": {"clinic_name": "Sunrise Clinic", "message": "Tuesday morning?"},
            "output": "Tuesday 9:00 is free.",
        }
        for call_id in ids
    ]
    _ok(admin.post(f"{BASE}/calls", json={"calls": calls}), 202)
    return ids


def _eval_runs(admin: httpx.Client) -> list[str]:
    body = {"suite": DEMO_SUITE, "prompt": "booking.system", "version": 3}
    made = _ok(admin.post(f"{BASE}/evals/runs", json=body), 201, 202)
    return [str(made["id"])]


def _replays(admin: httpx.Client) -> list[str]:
    body = {"prompt": "booking.system", "candidate_version": 3, "sample": 2}
    made = _ok(admin.post(f"{BASE}/evals/replays", json=body), 201, 202)
    return [str(made["id"])]


def _change_requests(admin: httpx.Client, url: str, releaser_keys: list[str]) -> list[str]:
    """Protect ``staging`` with four eyes; a releaser's move of it then waits for approval."""
    settings = {"protected_labels": ["staging"], "four_eyes": True, "reason": "fuzz seed"}
    _ok(admin.put(f"{BASE}/settings", json=settings), 200)
    ids = []
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {releaser_keys[0]}"}, timeout=30
    ) as releaser:
        for prompt, version, current in (("booking.system", 1, 3), ("sales.system", 1, 2)):
            body = {"version": version, "expected_version": current, "reason": "fuzz seed"}
            made = _ok(releaser.put(f"{BASE}/prompts/{prompt}/labels/staging", json=body), 202)
            ids.append(
                str(made["change_request"]["id"] if "change_request" in made else made["id"])
            )
    return ids
