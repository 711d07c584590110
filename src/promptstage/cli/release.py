"""``promptstage release``: start, list, watch and steer canary, ramp and A/B releases."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .change import say_request
from .gate import OverrideGate, override_body
from .output import cell, console, fail, fields, more, print_json, say, table
from .state import CliState, get_state, quote

app = typer.Typer(help="Start, watch and steer releases (canary, ramp, A/B).", no_args_is_help=True)

ReleaseId = Annotated[str, typer.Argument(help="Release id (rel_...).")]
Reason = Annotated[
    str | None,
    typer.Option("--reason", help="Why; kept in the release history and the audit trail."),
]
FINAL = ("completed", "rolled_back", "aborted")


def _pct(bps: Any) -> str:
    return f"{bps / 100:g} %" if isinstance(bps, int | float) else "-"


def _json_option(value: str | None, name: str) -> Any:
    """Parse a JSON option, or ``@file`` holding JSON."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{name}: cannot read {value[1:]!r} ({exc.strerror})")
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"{name}: not valid JSON ({exc}); pass a JSON value or @file.json")


def _guardrail(spec: str) -> dict[str, Any]:
    """``metric[:increase|decrease[:tolerance]]`` -> a guardrail object."""
    parts = spec.split(":")
    out: dict[str, Any] = {"metric": parts[0]}
    if len(parts) > 1 and parts[1]:
        out["harmful"] = parts[1]
    if len(parts) > 2 and parts[2]:
        try:
            out["tolerance"] = float(parts[2])
        except ValueError:
            fail(f"--guardrail {spec!r}: tolerance {parts[2]!r} is not a number")
    if len(parts) > 3:
        fail(f"--guardrail {spec!r}: use metric[:increase|decrease[:tolerance]]")
    return out


@app.command("start")
def start(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="Prompt name.")],
    label: Annotated[
        str, typer.Argument(help="Label to release on (its version is the baseline).")
    ],
    candidate: Annotated[int, typer.Argument(min=1, help="Candidate version.")],
    strategy: Annotated[
        str, typer.Option("--strategy", "-s", help="canary, ramp or ab.")
    ] = "canary",
    steps: Annotated[
        str | None,
        typer.Option(
            "--steps",
            help="Weights in basis points, comma-separated (500 = 5 %), e.g. 500,2500,5000,10000.",
        ),
    ] = None,
    min_duration: Annotated[
        float | None,
        typer.Option(
            "--min-duration", min=0, help="Seconds each step lasts at least (default 3600)."
        ),
    ] = None,
    min_units: Annotated[
        int | None,
        typer.Option("--min-units", min=2, help="Units per arm each step needs (default 100)."),
    ] = None,
    targeting: Annotated[
        str | None,
        typer.Option("--targeting", help="react-querybuilder rule group as JSON, or @file.json."),
    ] = None,
    guardrail: Annotated[
        list[str] | None,
        typer.Option(
            "--guardrail",
            "-g",
            help="metric[:increase|decrease[:tolerance]]; repeat. Default: error_rate + every score with data.",
        ),
    ] = None,
    no_guardrails: Annotated[
        bool, typer.Option("--no-guardrails", help="No guardrail at all (time-based ramp).")
    ] = False,
    auto_rollback: Annotated[
        bool,
        typer.Option(
            "--auto-rollback/--no-auto-rollback", help="Roll back on a regression (else pause)."
        ),
    ] = True,
    on_insufficient_data: Annotated[
        str | None,
        typer.Option(
            "--on-insufficient-data",
            help="rollback or pause: what a step still short of data does at its bake deadline "
            "(4 x its minimum duration, at least 10 min; default rollback).",
        ),
    ] = None,
    on_drift: Annotated[
        str | None,
        typer.Option(
            "--on-drift",
            help="hold, rollback or ignore: what the release does while the candidate's calls "
            "report a model, index or tool its version did not pin (default hold).",
        ),
    ] = None,
    unit_attribute: Annotated[
        str | None,
        typer.Option(
            "--unit-attribute", help="Stickiness key the runtime passes as unit (default user_id)."
        ),
    ] = None,
    reason: Reason = None,
    override_gate: OverrideGate = None,
) -> None:
    """Start a release of LABEL from its current version to CANDIDATE."""
    state = get_state(ctx)
    body: dict[str, Any] = {
        "prompt": prompt,
        "label": label,
        "candidate_version": candidate,
        "strategy": strategy,
    }
    if steps is not None or min_duration is not None or min_units is not None:
        weights: list[int] = []
        if steps is not None:
            try:
                weights = [int(w) for w in steps.split(",") if w.strip()]
            except ValueError:
                fail(
                    f"--steps {steps!r}: use comma-separated integers (basis points), e.g. 500,2500,5000,10000"
                )
        else:
            weights = {"ramp": [500, 2500, 5000, 10000], "ab": [5000]}.get(strategy, [500])
        items: list[dict[str, Any]] = []
        for w in weights:
            item: dict[str, Any] = {"weight_bps": w}
            if min_duration is not None:
                item["min_duration_seconds"] = min_duration
            if min_units is not None:
                item["min_units"] = min_units
            items.append(item)
        body["steps"] = items
    rules = _json_option(targeting, "--targeting")
    if rules is not None:
        body["targeting"] = rules
    if no_guardrails:
        body["guardrails"] = []
    elif guardrail:
        body["guardrails"] = [_guardrail(g) for g in guardrail]
    if not auto_rollback:
        body["auto_rollback"] = False
    if on_insufficient_data is not None:
        body["on_insufficient_data"] = on_insufficient_data
    if on_drift is not None:
        body["on_drift"] = on_drift
    if unit_attribute is not None:
        body["unit_attribute"] = unit_attribute
    if reason is not None:
        body["reason"] = reason
    body.update(override_body(override_gate))
    response = state.client().post(state.project_path("/releases"), body)
    if state.json_output:
        print_json(response.body)
        return
    r = response.body
    if "change_request" in r:
        say_request(r)
        return
    say(
        f"started {r['id']}: {prompt}:{label} {r['baseline_version']} -> {r['candidate_version']} "
        f"({r['strategy']}, {_pct(r['weight_bps'])})",
        style="green",
    )
    say(f"watch it: promptstage release status {r['id']} --watch", style="dim")


@app.command("list")
def list_(
    ctx: typer.Context,
    state_filter: Annotated[
        str | None,
        typer.Option("--state", help="running, paused, completed, rolled_back, aborted or active."),
    ] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Only this prompt's releases.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Page to fetch.")] = None,
) -> None:
    """Releases, newest first."""
    state = get_state(ctx)
    params: dict[str, str | int] = {"limit": limit}
    for key, value in (("state", state_filter), ("prompt", prompt), ("cursor", cursor)):
        if value:
            params[key] = value
    response = state.client().get(state.project_path("/releases"), params=params)
    if state.json_output:
        print_json(response.body)
        return
    table(
        [
            "id",
            "prompt",
            "label",
            "strategy",
            "state",
            "baseline",
            "candidate",
            "weight",
            "updated",
            "reason",
        ],
        (
            [
                r["id"],
                r["prompt"],
                r["label"],
                r["strategy"],
                r["state"],
                r["baseline_version"],
                r["candidate_version"],
                _pct(r["weight_bps"]),
                r["updated_at"],
                r["reason"],
            ]
            for r in response.get("items", [])
        ),
        title="releases",
    )
    more(response.get("next_cursor"))


def _fetch(state: CliState, release_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (
        state.client().get(state.project_path(f"/releases/{quote(release_id)}/analysis")).body
    )
    return body


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render(analysis: dict[str, Any]) -> Group:
    """The status view: the release line, the arms, one row per guardrail, the decision."""
    r = analysis["release"]
    color = {
        "running": "cyan",
        "paused": "yellow",
        "completed": "green",
        "rolled_back": "red",
        "aborted": "red",
    }
    head = Text.assemble(
        (f"{r['id']}  ", "bold"),
        f"{r['prompt']}:{r['label']}  {r['baseline_version']} -> {r['candidate_version']}  ",
        (r["state"], f"bold {color.get(r['state'], '')}"),
        f"  {r['strategy']} step {r['step_index'] + 1}/{len(r['steps'])} at {_pct(r['weight_bps'])}",
        (f"  flags: {', '.join(r['flags'])}" if r["flags"] else "", "bold yellow"),
    )
    units = analysis.get("units", {})
    srm = analysis.get("srm") or {}
    arms = Text(
        f"units: canary {units.get('canary', 0)}, control {units.get('control', 0)}"
        f"   sample ratio: {srm.get('reason', '-')}"
    )
    grid = Table(
        "guardrail",
        "harmful",
        "canary n",
        "canary mean",
        "control n",
        "control mean",
        "Δ",
        "interval",
        "decision",
        header_style="bold",
    )
    for g in analysis.get("guardrails", []):
        interval = g.get("interval") or {}
        low, high = interval.get("lower"), interval.get("upper")
        shown = (
            "-"
            if not interval
            else f"[{_num(low) if low is not None else '-inf'}, {_num(high) if high is not None else '+inf'}]"
        )
        style = {"regressed": "bold red", "ok": "green", "insufficient": "dim"}.get(
            g["decision"], ""
        )
        grid.add_row(
            g["metric"],
            g["guardrail"]["harmful"],
            _num(g["canary"]["n"]),
            _num(g["canary"]["mean"]),
            _num(g["control"]["n"]),
            _num(g["control"]["mean"]),
            _num(interval.get("delta")),
            shown,
            Text(g["decision"], style=style),
        )
    latest = analysis.get("latest_look") or {}
    lines: list[Text | Table] = [
        head,
        arms,
        grid,
        Text(f"now: {analysis.get('reason', '')}", style="dim"),
    ]
    if latest:
        lines.append(
            Text(
                f"controller ({cell(latest.get('at'))}, {latest.get('action')}): {latest.get('reason')}"
            )
        )
    if r["state"] in FINAL:
        lines.append(Text(f"ended: {r['reason']}", style=color.get(r["state"], "")))
    return Group(*lines)


@app.command("status")
def status(
    ctx: typer.Context,
    release_id: ReleaseId,
    watch: Annotated[
        bool,
        typer.Option("--watch", "-w", help="Refresh live until the release ends (Ctrl-C to stop)."),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="Seconds between refreshes with --watch.")
    ] = 2.0,
) -> None:
    """A release's state, per-arm and per-guardrail statistics, and the latest decision."""
    state = get_state(ctx)
    analysis = _fetch(state, release_id)
    if state.json_output:
        print_json(analysis)
        return
    if not watch:
        console().print(render(analysis))
        return
    try:
        with Live(render(analysis), console=console(), refresh_per_second=4) as live:
            while analysis["release"]["state"] not in FINAL:
                time.sleep(interval)
                analysis = _fetch(state, release_id)
                live.update(render(analysis))
    except KeyboardInterrupt:
        return


def _action(name: str, done: str) -> Any:
    def command(ctx: typer.Context, release_id: ReleaseId, reason: Reason = None) -> None:
        state = get_state(ctx)
        body = {"reason": reason} if reason is not None else {}
        response = state.client().post(
            state.project_path(f"/releases/{quote(release_id)}/{name}"), body
        )
        if state.json_output:
            print_json(response.body)
            return
        r = response.body
        say(f"{r['id']} {done}: {r['state']} at {_pct(r['weight_bps'])}", style="green")
        fields(
            [
                ("prompt", f"{r['prompt']}:{r['label']}"),
                ("baseline", r["baseline_version"]),
                ("candidate", r["candidate_version"]),
                ("reason", r["reason"]),
            ]
        )

    command.__doc__ = {
        "advance": "Move a ramp to its next step (into 100 %: promote).",
        "pause": "Pause: keep the split, stop the controller from advancing.",
        "resume": "Resume a paused release (clears its health flags).",
        "promote": "Complete the release: move the label to the candidate.",
        "rollback": "Roll back: the candidate gets 0 %, the label stays (final).",
        "abort": "Abort: end the release without a verdict; the label stays (final).",
    }[name]
    return command


for _name, _done in (
    ("advance", "advanced"),
    ("pause", "paused"),
    ("resume", "resumed"),
    ("promote", "promoted"),
    ("rollback", "rolled back"),
    ("abort", "aborted"),
):
    app.command(_name)(_action(_name, _done))
