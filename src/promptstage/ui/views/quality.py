"""Quality per version and per label of a prompt over a chosen period, as small SVG charts and
a table, so a version can be judged after its release ended."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from promptstage.service import quality as svc
from promptstage.service.quality import Quality, Row

from .. import charts
from ..session import Viewer, acting, config
from ..templating import render

router = APIRouter()

METRICS = (
    ("calls", "Calls"),
    ("error_rate", "Error rate"),
    ("p50", "Latency p50 (ms)"),
    ("p95", "Latency p95 (ms)"),
    ("p99", "Latency p99 (ms)"),
    ("tokens_out", "Output tokens"),
    ("cost", "Cost"),
)


def _charts(quality: Quality, rows: list[Row], what: str) -> list[dict[str, Any]]:
    out = []
    metrics = [*METRICS, *((name, f"Score {name} (mean)") for name in quality.score_names)]
    for row in rows:
        label = f"v{row.key}" if what == "version" else str(row.key)
        out.append(
            {
                "key": row.key,
                "label": label,
                "period": row.period,
                "charts": [
                    (
                        title,
                        charts.series_chart(
                            [
                                (day, fig.metric(metric) if fig is not None else None)
                                for day, fig in zip(quality.days, row.daily, strict=True)
                            ],
                            metric=f"{label} {title}",
                        ),
                    )
                    for metric, title in metrics
                ],
            }
        )
    return out


@router.get("/p/{project}/prompts/{name}/quality")
def quality_page(
    request: Request, project: str, name: str, user: Viewer, days: str = "7"
) -> Response:
    who = acting(user, project)
    quality = svc.prompt_quality(config(request).ctx, who, project, name, svc.parse_days(days))
    return render(
        request,
        "quality.html",
        project=project,
        nav="overview",
        quality=quality,
        days=len(quality.days),
        versions=_charts(quality, quality.versions, "version"),
        labels=_charts(quality, quality.labels, "label"),
        calls_bars=charts.bars(
            [(f"v{r.key}", float(r.period.calls)) for r in quality.versions],
            metric="calls per version",
        ),
    )
