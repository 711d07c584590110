"""The demo's dependency catalog: shared tools, the kb index at 7 and 8, one retiring model."""

from __future__ import annotations

from datetime import UTC, datetime

from promptstage.domain.deps import parse_spec
from promptstage.service import demo, dep_bump, deps
from promptstage.service.context import Context


def test_the_demo_catalog_answers_impact_and_deprecation_queries(ctx: Context) -> None:
    ctx.clock = lambda: datetime(2026, 12, 7, tzinfo=UTC)
    demo.seed_demo(ctx)
    demo.seed_demo(ctx)  # idempotent: nothing new is written the second time
    p = demo.PROJECT
    entries = deps.list_entries(ctx, p)
    assert len(entries) == 11
    shared = deps.impact(ctx, p, parse_spec("tool:find_slots@1"))
    assert {u.prompt for u in shared.versions} == {"booking.system", "support.system"}
    kb7 = deps.impact(ctx, p, parse_spec("index:kb@7"))
    assert [(u.prompt, u.label) for u in kb7.labels] == [("support.system", "prod")]
    kb = deps.impact(ctx, p, parse_spec("index:kb"))
    assert {(u.label, u.pinned) for u in kb.labels} == {("prod", "7"), ("staging", "8")}
    soon = dep_bump.deprecations(ctx, p, within_days=90)
    assert [str(d.entry.ref) for d in soon] == ["model:openai/gpt-4o@2024-08-06"]
    assert soon[0].days_left == 81 and soon[0].labels
    support = deps.impact(ctx, p, parse_spec("model:anthropic/claude-3-5-sonnet"))
    assert {u.prompt for u in support.versions} >= {"support.system"}
