"""The dependency lines of ``/metrics``: drift counters and model retirement gauges.

Read from the store at scrape time (the counts live in the database, so every replica answers
the same). Label values are escaped as the Prometheus text format requires.
"""

from __future__ import annotations

from collections import defaultdict

from promptstage.domain.deps import DepKind

from .context import Context
from .deps import impact_in

RETIREMENT_WINDOW_DAYS = 365


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_text(ctx: Context) -> str:
    """``promptstage_deps_drift_calls_total`` per (project, prompt, label, kind), and, for each
    model retiring within a year, ``promptstage_deps_model_retirement_days`` and
    ``promptstage_deps_retiring_labels`` (labels serving a version pinned to it)."""
    today = ctx.clock().date()
    drift: dict[tuple[str, str, str, str], int] = defaultdict(int)
    retiring: list[tuple[str, str, int, int]] = []
    with ctx.store.unit_of_work() as uow:
        for d in uow.list_drift(None):
            drift[(d.project, d.prompt, d.label, d.kind)] += d.count
        for project in uow.list_projects():
            for entry in uow.list_dep_entries(project.name, DepKind.MODEL.value):
                if entry.retires_on is None:
                    continue
                left = (entry.retires_on - today).days
                if left > RETIREMENT_WINDOW_DAYS:
                    continue
                labels = impact_in(uow, project.name, entry.ref).labels
                retiring.append((project.name, str(entry.ref), left, len(labels)))
    lines = [
        "# HELP promptstage_deps_drift_calls_total Calls that reported a model, index or tool "
        "their version did not pin.",
        "# TYPE promptstage_deps_drift_calls_total counter",
    ]
    lines += [
        f'promptstage_deps_drift_calls_total{{project="{_esc(p)}",prompt="{_esc(pr)}",'
        f'label="{_esc(lb)}",kind="{k}"}} {n}'
        for (p, pr, lb, k), n in sorted(drift.items())
    ]
    lines += [
        "# HELP promptstage_deps_model_retirement_days Days until a catalogued model retires.",
        "# TYPE promptstage_deps_model_retirement_days gauge",
    ]
    lines += [
        f'promptstage_deps_model_retirement_days{{project="{_esc(p)}",model="{_esc(m)}"}} {d}'
        for p, m, d, _ in retiring
    ]
    lines += [
        "# HELP promptstage_deps_retiring_labels Labels serving a version pinned to a model "
        "that retires within a year.",
        "# TYPE promptstage_deps_retiring_labels gauge",
    ]
    lines += [
        f'promptstage_deps_retiring_labels{{project="{_esc(p)}",model="{_esc(m)}"}} {n}'
        for p, m, _, n in retiring
    ]
    return "\n".join(lines) + "\n"
