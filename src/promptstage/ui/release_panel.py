"""What the release panel shows, read defensively from the service's answers.

The analysis (``service.releases.analysis``) and the stored looks are JSON-like dicts whose
statistics may grow fields (issue 15 changes ``rollout/analysis`` in parallel): only the fields
named here are read, each with a fallback, and a missing one shows as "no data".
"""

from __future__ import annotations

import math
from typing import Any

from markupsafe import Markup

from promptstage.service import release_reads
from promptstage.service import releases as svc
from promptstage.service.context import Context
from promptstage.service.keys import Principal

from . import charts


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def guardrail_rows(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per guardrail of an analysis: metric, decision, reason, arms, interval chart."""
    rows: list[dict[str, Any]] = []
    for item in analysis.get("guardrails") or []:
        g = _dict(item)
        guard = _dict(g.get("guardrail"))
        metric = str(g.get("metric") or guard.get("metric") or "?")
        harmful = "decrease" if guard.get("harmful") == "decrease" else "increase"
        tolerance = _num(guard.get("tolerance")) or 0.0
        interval = _dict(g.get("interval"))
        estimate = _num(interval.get("delta"))
        lower, upper = _num(interval.get("lower")), _num(interval.get("upper"))
        canary, control = _dict(g.get("canary")), _dict(g.get("control"))
        rows.append(
            {
                "metric": metric,
                "harmful": harmful,
                "tolerance": tolerance,
                "decision": str(g.get("decision") or ""),
                "reason": str(g.get("reason") or ""),
                "canary_n": _num(canary.get("n")),
                "canary_mean": _num(canary.get("mean")),
                "control_n": _num(control.get("n")),
                "control_mean": _num(control.get("mean")),
                "estimate": estimate,
                "lower": lower,
                "upper": upper,
                "chart": charts.interval_chart(
                    metric=metric,
                    estimate=estimate,
                    lower=lower,
                    upper=upper,
                    tolerance=tolerance,
                    harmful=harmful,
                )
                if interval
                else Markup(""),
            }
        )
    return rows


def srm_status(analysis: dict[str, Any]) -> dict[str, Any]:
    """The sample-ratio check as the panel shows it."""
    srm = _dict(analysis.get("srm"))
    return {
        "checked": bool(srm.get("checked")),
        "mismatch": bool(srm.get("mismatch")),
        "p_value": _num(srm.get("p_value")),
        "reason": str(srm.get("reason") or ""),
    }


def panel_values(ctx: Context, who: Principal, project: str, release_id: str) -> dict[str, Any]:
    """Everything the release panel template needs."""
    release, history, looks = svc.get_release(ctx, project, release_id)
    analysis: dict[str, Any] = {}
    if release.active:
        _, result, _ = svc.analysis(ctx, project, release_id)
        analysis = result.to_dict()
    elif looks:
        analysis = dict(looks[0].data)
    units = _dict(analysis.get("units"))
    return {
        "release": release,
        "history": history,
        "looks": looks,
        "analysis_decision": str(analysis.get("decision") or ""),
        "analysis_reason": str(analysis.get("reason") or ""),
        "units": {arm: _num(units.get(arm)) for arm in ("canary", "control")},
        "guardrails": guardrail_rows(analysis),
        "srm": srm_status(analysis),
        "actions": release_reads.allowed_actions(who, project, release),
        "step_total": len(release.steps),
        "live": release.active,
    }
