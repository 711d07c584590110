"""Run the shared spec cases through the SDK: ``Client.get`` on a bootstrap snapshot.

Every case becomes one prompt of one snapshot (``case-<n>``), with the case's label version and,
when it has one, its release (re-addressed to that prompt and label). The client gets the
snapshot as ``bootstrap=`` and a transport that answers the same snapshot, so nothing leaves
the process; ``get`` must give exactly the answers the server's resolver gives
(``test_resolution_spec.py`` runs the same cases through ``promptstage.rollout.resolve``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from promptstage import Client
from promptstage.domain.canonical import version_digest

from .cases import load_cases

CASES = load_cases()
PROJECT = "spec"
LABEL = "production"
CONFIG = {
    "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"},
    "params": {},
    "tools": [],
    "retrieval": None,
    "postprocess": None,
    "metadata": {},
}


def _version(prompt: str, number: int) -> dict[str, Any]:
    template = f"{prompt} version {number}"
    return {
        "prompt": prompt,
        "version": number,
        "digest": version_digest("text", template, [], CONFIG),
        "type": "text",
        "template": template,
        "variables": [],
        "config": CONFIG,
        "includes": {},
    }


def _prompt_name(index: int) -> str:
    return f"case-{index}"


def snapshot() -> dict[str, Any]:
    """One prompt per case, label ``production`` at the case's version, its release if any."""
    prompts: dict[str, Any] = {}
    versions: dict[str, Any] = {}
    releases: list[dict[str, Any]] = []
    for index, case in enumerate(CASES):
        name = _prompt_name(index)
        numbers = {case["label_version"]}
        release = case["release"]
        if release is not None:
            numbers |= {release["baseline_version"], release["candidate_version"]}
            releases.append({**release, "prompt": name, "label": LABEL})
        for number in numbers:
            versions[f"{name}@{number}"] = _version(name, number)
        prompts[name] = {"type": "text", "labels": {LABEL: case["label_version"]}}
    return {
        "format": 1,
        "project": PROJECT,
        "seq": 1,
        "prompts": prompts,
        "versions": versions,
        "releases": releases,
    }


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """A client holding every case, from ``bootstrap=``; its server answers the same state."""
    snap = snapshot()
    body = json.dumps(snap).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/snapshot"):
            return httpx.Response(200, content=body, headers={"ETag": '"1"'})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})

    ps = Client(
        "http://spec.invalid",
        PROJECT,
        "ps_spec_secret",
        bootstrap=snap,
        cache_path=None,  # served from the bootstrap, never from a file a run left behind
        stream=False,
        poll_interval=3600.0,
        transport=httpx.MockTransport(handler),
        close_timeout=0.5,
    )
    try:
        # Served from the bootstrap at once; the mock server may already have answered the same.
        assert ps.status().source in ("bootstrap", "server")
        yield ps
    finally:
        ps.close()


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case["name"] for case in CASES])
def test_case(client: Client, index: int) -> None:
    case = CASES[index]
    name = _prompt_name(index)
    got = client.get(name, LABEL, unit=case["unit"], context=case["context"])
    answer = {
        "version": got.version,
        "arm": got.arm,
        "release_id": got.release_id,
        "unitless": got.unitless,
    }
    assert answer == case["expect"]
    assert got.template == f"{name} version {case['expect']['version']}"
    # The answer does not depend on the call order (prebuilt arms, identity cache).
    again = client.get(name, LABEL, unit=case["unit"], context=case["context"])
    assert (again.version, again.arm, again.unitless) == (got.version, got.arm, got.unitless)


def test_every_case_is_held(client: Client) -> None:
    assert len(CASES) >= 40
    for index in range(len(CASES)):
        client.get(_prompt_name(index), LABEL)  # raises NotFoundError if a case was dropped
