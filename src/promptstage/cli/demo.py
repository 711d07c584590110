"""``promptstage demo traffic``: simulated conversations that exercise a release end to end.

This is a **simulation**: no model is called and no user exists. Synthetic users resolve the
prompt through the real SDK (``promptstage.Client``), their calls and scores are recorded by it
and sent to the server, and the server's release controller judges the release on them:

* ``--scenario worse`` (default): a canary (5 %) whose candidate errors 35 % of the time and
  gets more thumbs-down; the controller rolls it back automatically (fast path on
  ``error_rate``) within seconds of enough canary calls, and every user is back on baseline.
* ``--scenario better``: a ramp 5 → 25 → 50 → 100 % with 10 s steps whose candidate is better
  on every metric; the controller advances it step by step and promotes it (the label moves).

``promptstage serve --demo`` (``make run``) has the controller look every 2 s, so it happens
while you watch::

    promptstage serve --demo
    promptstage --api-key ps_... demo traffic --project clinic
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from .output import fail, say
from .state import CliState, get_state, quote

app = typer.Typer(help="Demo helpers (simulated traffic).", no_args_is_help=True)

FINAL = ("completed", "rolled_back", "aborted")
CHANNELS = ("whatsapp", "sms", "web")


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a simulated version behaves: error rate, thumbs-down rate and mean CSAT."""

    error: float
    thumbs_down: float
    csat: float


SCENARIOS: dict[str, tuple[Behaviour, Behaviour]] = {
    # (baseline, candidate)
    "worse": (Behaviour(0.02, 0.10, 4.1), Behaviour(0.35, 0.30, 3.2)),
    "better": (Behaviour(0.03, 0.12, 4.0), Behaviour(0.01, 0.07, 4.4)),
}


class SimulatedFailure(Exception):
    """The error a simulated LLM call raises (recorded by the SDK as the call's error)."""


def _versions(state: CliState, prompt: str, label: str, candidate: int | None) -> tuple[int, int]:
    client = state.client()
    found = client.get(state.prompt_path(prompt)).body
    baseline = (found.get("labels") or {}).get(label)
    if baseline is None:
        fail(
            f"prompt {prompt!r} has no label {label!r}; start the server with --demo or pick --prompt/--label"
        )
    if candidate is None:
        # The newest version that is not the baseline (after a completed demo, an older one).
        versions = client.get(state.prompt_path(prompt, "/versions"), params={"limit": 2}).body
        others = [v["version"] for v in versions.get("items", []) if v["version"] != baseline]
        if not others:
            fail(
                f"no candidate: {prompt!r} has no version other than {label!r}'s {baseline}; pass --candidate"
            )
        candidate = int(others[0])
    return int(baseline), candidate


def _clear_active(state: CliState, prompt: str, label: str) -> None:
    client = state.client()
    active = client.get(
        state.project_path("/releases"), params={"state": "active", "prompt": prompt}
    ).body
    for r in active.get("items", []):
        if r["label"] == label:
            say(
                f"aborting the earlier release {r['id']} on {prompt}:{label} to start a fresh demo",
                style="yellow",
            )
            client.post(
                state.project_path(f"/releases/{quote(r['id'])}/abort"),
                {"reason": "demo traffic restarted"},
            )


def _start(
    state: CliState, scenario: str, prompt: str, label: str, candidate: int
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": prompt,
        "label": label,
        "candidate_version": candidate,
        "reason": f"demo traffic ({scenario} candidate, simulated)",
    }
    if scenario == "better":
        body["strategy"] = "ramp"
        body["steps"] = [
            {"weight_bps": w, "min_duration_seconds": 10, "min_units": 100}
            for w in (500, 2500, 5000, 10000)
        ]
    else:
        body["strategy"] = "canary"
    release: dict[str, Any] = state.client().post(state.project_path("/releases"), body).body
    return release


def _simulate_call(
    ps: Any,
    rng: random.Random,
    prompt: str,
    label: str,
    candidate: int,
    behaviours: tuple[Behaviour, Behaviour],
    users: int,
) -> str:
    """One simulated conversation turn: resolve, 'call the model', record, maybe score."""
    unit = f"sim-user-{rng.randrange(users)}"
    p = ps.get(prompt, label=label, unit=unit, context={"channel": rng.choice(CHANNELS)})
    how = behaviours[1] if p.version == candidate else behaviours[0]
    try:
        with ps.call(p) as call:
            if rng.random() < how.error:
                raise SimulatedFailure("simulated model error")
            call.finish(
                output="(simulated reply)",
                tokens_in=rng.randint(300, 900),
                tokens_out=rng.randint(20, 200),
                cost=round(rng.uniform(0.001, 0.004), 5),
            )
    except SimulatedFailure:
        return str(p.arm)
    ps.score(call.id, "thumbs_down", 1 if rng.random() < how.thumbs_down else 0)
    if rng.random() < 0.5:
        ps.score(call.id, "csat", min(5, max(1, round(rng.gauss(how.csat, 0.8)))))
    return str(p.arm)


@app.command("traffic")
def traffic(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Project (default: the global --project).")
    ] = None,
    scenario: Annotated[
        str, typer.Option("--scenario", help="worse (rolled back) or better (ramps to 100 %).")
    ] = "worse",
    prompt: Annotated[str, typer.Option("--prompt", help="Prompt to release.")] = "booking.system",
    label: Annotated[str, typer.Option("--label", help="Label to release on.")] = "prod",
    candidate: Annotated[
        int | None,
        typer.Option("--candidate", min=1, help="Candidate version (default: the latest)."),
    ] = None,
    rate: Annotated[
        float, typer.Option("--rate", min=1, help="Simulated calls per second.")
    ] = 200.0,
    duration: Annotated[
        float, typer.Option("--duration", min=1, help="Stop after this many seconds at most.")
    ] = 180.0,
    users: Annotated[
        int, typer.Option("--users", min=10, help="Size of the simulated user pool.")
    ] = 20000,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (repeatable runs).")
    ] = None,
) -> None:
    """SIMULATION: drive synthetic conversations through the SDK against a release."""
    if scenario not in SCENARIOS:
        fail(f"--scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    state = get_state(ctx)
    if project:
        state.project_name = project
    if not state.api_key:
        fail("no API key given: pass --api-key KEY or set PROMPTSTAGE_API_KEY (a releaser key)")
    say(
        "SIMULATION: synthetic users and a fake model; no real traffic is involved.",
        style="bold magenta",
    )
    baseline, cand = _versions(state, prompt, label, candidate)
    _clear_active(state, prompt, label)
    release = _start(state, scenario, prompt, label, cand)
    rid = release["id"]
    say(
        f"started {rid}: {prompt}:{label} {baseline} -> {cand} ({release['strategy']}, "
        f"{scenario} candidate); simulating {rate:g} calls/s from {users} users"
    )
    from promptstage import Client

    rng = random.Random(seed)
    # Full batches (the server takes 1000 items a request), sent once a second: far below the
    # per-key write limit.
    ps = Client(
        state.url,
        state.project,
        state.api_key,
        flush_interval=1.0,
        batch_size=1000,
        queue_size=100_000,
    )
    try:
        _run(state, ps, rng, rid, prompt, label, (baseline, cand), scenario, rate, duration, users)
    finally:
        ps.close()


def _wait_for_release(ps: Any, prompt: str, label: str, rid: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(
                ps.get(prompt, label=label, unit=f"probe-{i}").release_id == rid for i in range(50)
            ):
                return
        except Exception:  # not synced yet
            pass
        time.sleep(0.1)
    fail(f"the SDK did not see release {rid} within {timeout:g} s; is the server reachable?")


def _run(
    state: CliState,
    ps: Any,
    rng: random.Random,
    rid: str,
    prompt: str,
    label: str,
    versions: tuple[int, int],
    scenario: str,
    rate: float,
    duration: float,
    users: int,
) -> None:
    baseline, candidate = versions
    _wait_for_release(ps, prompt, label, rid)
    behaviours = SCENARIOS[scenario]
    counts: dict[str, int] = {}
    started = time.monotonic()
    next_report = started + 2.0
    sent = 0
    while True:
        now = time.monotonic()
        if now - started > duration:
            say(
                f"stopped after {duration:g} s; the release is still {state_of(state, rid)['state']}."
                " The server's release controller judges it when it looks: every 2 s with "
                "`promptstage serve --demo`, every 60 s by default (PROMPTSTAGE_CONTROLLER_INTERVAL)",
                style="yellow",
            )
            return
        target = int((now - started) * rate)
        while sent < target:
            arm = _simulate_call(ps, rng, prompt, label, candidate, behaviours, users)
            counts[arm] = counts.get(arm, 0) + 1
            sent += 1
        if now >= next_report:
            next_report = now + 2.0
            r = state_of(state, rid)
            arms = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            say(
                f"[sim {now - started:5.1f}s] calls: {arms} | release {r['state']} at "
                f"{r['weight_bps'] / 100:g} % | {r['reason']}"
            )
            if r["state"] in FINAL:
                style = "bold green" if r["state"] == "completed" else "bold red"
                say(
                    f"release {rid} {r['state']} {now - started:.1f} s after the start: {r['reason']}",
                    style=style,
                )
                expected = candidate if r["state"] == "completed" else baseline
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and _served(ps, prompt, label, users) != {
                    expected
                }:
                    time.sleep(0.05)
                served = ", ".join(str(v) for v in sorted(_served(ps, prompt, label, users)))
                say(f"the SDK now serves {prompt}:{label} version {served} to every simulated user")
                return
        time.sleep(min(0.05, max(0.0, (sent + 1) / rate - (time.monotonic() - started))))


def _served(ps: Any, prompt: str, label: str, users: int) -> set[int]:
    """The versions the SDK serves to a sample of the simulated users."""
    return {
        ps.get(prompt, label=label, unit=f"sim-user-{i}").version for i in range(min(users, 500))
    }


def state_of(state: CliState, rid: str) -> dict[str, Any]:
    """The release as the server has it now."""
    body: dict[str, Any] = state.client().get(state.project_path(f"/releases/{quote(rid)}")).body
    return body
