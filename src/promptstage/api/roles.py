"""The role matrix: the least role each route needs, in one machine-readable place.

``ROUTES`` maps ``(method, path template)`` to a :class:`Need`. Routes declare their checks
with ``auth.role``/``auth.check``; ``tests/api/test_roles.py`` walks every route of
``/openapi.json`` with every role and checks the behaviour against this table, and
``docs/roles.md`` is generated from it (``render_markdown``) and compared by the same test.
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC = "public"
ANY_KEY = "any key"
INSTANCE = "instance admin"
P = "/api/v1/projects/{project}"
PR = f"{P}/prompts/{{name}}"
LF = "/api/public"
_LANGFUSE = "a project key (HTTP Basic pair) on its own project; instance keys get 403"


@dataclass(frozen=True, slots=True)
class Need:
    """The least role of a route (``runtime`` < ``editor`` < ``releaser`` < ``admin``, or
    ``public``, ``any key``, ``instance admin``) and what else applies."""

    role: str
    notes: str = ""
    own_project: bool = False  # the Langfuse API: the key's own project, never an instance key


_PROTECTED = "releaser for protected labels (project setting, default prod)"
_FOUR_EYES = "four-eyes on: a project key gets 202 and a change request"

ROUTES: dict[tuple[str, str], Need] = {
    ("GET", "/healthz"): Need(PUBLIC),
    ("GET", "/readyz"): Need(PUBLIC),
    ("GET", "/metrics"): Need(
        INSTANCE,
        "or the bearer of PROMPTSTAGE_METRICS_TOKEN; public with PROMPTSTAGE_METRICS_PUBLIC",
    ),
    ("GET", "/api/v1/projects"): Need(ANY_KEY, "lists only the key's own project"),
    ("POST", "/api/v1/projects"): Need(INSTANCE),
    ("POST", f"{P}/keys"): Need("admin"),
    ("GET", f"{P}/keys"): Need("admin"),
    ("DELETE", f"{P}/keys/{{prefix}}"): Need("admin"),
    ("POST", f"{P}/keys/{{prefix}}/rotate"): Need("admin"),
    ("POST", f"{P}/principals"): Need("admin"),
    ("GET", f"{P}/principals"): Need("admin"),
    ("POST", f"{P}/users"): Need("admin"),
    ("GET", f"{P}/users"): Need("admin"),
    ("PUT", f"{P}/users/{{name}}/role"): Need("admin"),
    ("DELETE", f"{P}/users/{{name}}"): Need("admin"),
    ("PUT", f"{P}/users/{{name}}/password"): Need(
        "admin", "a project admin key resets only users of that project alone"
    ),
    ("GET", f"{P}/audit"): Need("editor"),
    ("GET", f"{P}/audit/verify"): Need("editor"),
    ("POST", f"{P}/audit/checkpoint"): Need("admin"),
    ("GET", f"{P}/audit/export"): Need("editor"),
    ("POST", f"{P}/prompts"): Need("editor"),
    ("GET", f"{P}/prompts"): Need("editor"),
    ("GET", PR): Need("editor"),
    ("PATCH", PR): Need("editor"),
    ("POST", f"{PR}/archive"): Need("editor"),
    ("POST", f"{PR}/unarchive"): Need("editor"),
    ("POST", f"{PR}/versions"): Need("editor"),
    ("GET", f"{PR}/versions"): Need("editor"),
    ("GET", f"{PR}/versions/{{number}}"): Need("editor"),
    ("GET", f"{PR}/diff"): Need("editor"),
    ("GET", f"{PR}/labels/{{label}}"): Need("editor", "answers the label's ETag"),
    ("PUT", f"{PR}/labels/{{label}}"): Need(
        "editor",
        f"{_PROTECTED}, with expected_version or If-Match (428 without); {_FOUR_EYES}",
    ),
    ("DELETE", f"{PR}/labels/{{label}}"): Need(
        "editor", f"{_PROTECTED}; four-eyes on: instance admin key only (break-glass)"
    ),
    ("GET", f"{PR}/labels/{{label}}/history"): Need("editor"),
    ("POST", f"{PR}/labels/{{label}}/rollback"): Need(
        "editor", f"{_PROTECTED}; never waits for four-eyes (flagged in the audit)"
    ),
    ("GET", f"{PR}/resolve"): Need("runtime"),
    ("GET", f"{P}/snapshot"): Need("runtime"),
    ("GET", f"{P}/events"): Need(
        "runtime", "`key.*` events reach admin keys only; other keys get them as `withheld`"
    ),
    ("POST", f"{P}/calls"): Need("runtime"),
    ("GET", f"{P}/calls"): Need("editor"),
    ("POST", f"{P}/scores"): Need("runtime"),
    ("GET", f"{P}/calls/{{call_id}}"): Need("editor"),
    ("POST", f"{P}/releases"): Need("releaser", _FOUR_EYES + " (protected labels)"),
    ("GET", f"{P}/releases"): Need("editor"),
    ("GET", f"{P}/releases/{{release_id}}"): Need("editor"),
    ("GET", f"{P}/releases/{{release_id}}/looks"): Need("editor"),
    ("GET", f"{P}/releases/{{release_id}}/analysis"): Need("editor"),
    **{
        ("POST", f"{P}/releases/{{release_id}}/{action}"): Need("releaser")
        for action in ("advance", "pause", "resume", "promote", "rollback", "abort")
    },
    ("POST", f"{P}/webhooks"): Need("admin"),
    ("GET", f"{P}/webhooks"): Need("admin"),
    ("DELETE", f"{P}/webhooks/{{webhook_id}}"): Need("admin"),
    ("GET", f"{P}/webhooks/{{webhook_id}}/deliveries"): Need("admin"),
    ("GET", f"{P}/settings"): Need("admin"),
    ("PUT", f"{P}/settings"): Need(
        "admin",
        "a weakening under four-eyes: a project key gets 202 and a change request for another "
        "admin; instance admin key: at once (break-glass)",
    ),
    ("GET", f"{P}/change-requests"): Need("releaser"),
    ("POST", f"{P}/change-requests/{{request_id}}/approve"): Need(
        "releaser", "not the requester, not the version's author (403); admin for a settings change"
    ),
    ("POST", f"{P}/change-requests/{{request_id}}/reject"): Need(
        "releaser", "not the requester (403); admin for a settings change"
    ),
    ("POST", f"{P}/evals/suites"): Need("editor"),
    ("GET", f"{P}/evals/suites"): Need("editor"),
    ("GET", f"{P}/evals/suites/{{name}}"): Need("editor"),
    ("POST", f"{P}/evals/runs"): Need("editor"),
    ("GET", f"{P}/evals/runs"): Need("editor"),
    ("GET", f"{P}/evals/runs/{{run_id}}"): Need("editor"),
    ("POST", f"{P}/evals/runs/{{run_id}}/cancel"): Need("editor"),
    ("POST", f"{P}/evals/runs/{{run_id}}/resume"): Need("editor"),
    ("POST", f"{P}/evals/replays"): Need("editor"),
    ("GET", f"{P}/evals/replays/{{replay_id}}"): Need("editor"),
    ("GET", f"{P}/deps"): Need("editor"),
    ("POST", f"{P}/deps"): Need("editor"),
    ("GET", f"{P}/deps/entry"): Need("editor"),
    ("GET", f"{P}/deps/impact"): Need("editor"),
    ("POST", f"{P}/deps/bump"): Need("editor", "writes versions like POST .../versions"),
    ("PUT", f"{P}/deps/retirement"): Need("editor"),
    ("GET", f"{P}/deps/deprecations"): Need("editor"),
    ("GET", f"{P}/deps/drift"): Need("editor"),
    ("GET", f"{PR}/versions/{{number}}/drift"): Need("editor"),
    ("GET", f"{LF}/projects"): Need("runtime", _LANGFUSE, own_project=True),
    ("GET", f"{LF}/v2/prompts"): Need("runtime", _LANGFUSE, own_project=True),
    ("POST", f"{LF}/v2/prompts"): Need(
        "editor",
        f"{_LANGFUSE}; labels as PUT .../labels: {_PROTECTED}, four-eyes: 403 approval needed",
        own_project=True,
    ),
    ("GET", f"{LF}/v2/prompts/{{name}}"): Need("runtime", _LANGFUSE, own_project=True),
    ("DELETE", f"{LF}/v2/prompts/{{name}}"): Need(
        "editor", f"{_LANGFUSE}; archives the prompt", own_project=True
    ),
    ("PATCH", f"{LF}/v2/prompts/{{name}}/versions/{{version}}"): Need(
        "editor", f"{_LANGFUSE}; {_PROTECTED}; four-eyes: 403 approval needed", own_project=True
    ),
    ("POST", f"{LF}/otel/v1/traces"): Need("runtime", _LANGFUSE, own_project=True),
}


def render_markdown() -> str:
    """``docs/roles.md``: the table above, generated (a test keeps the file in step)."""
    lines = [
        "# Role matrix",
        "",
        "Generated from `promptstage.api.roles.ROUTES` (a test compares this file with it and",
        "walks every route with every role). Roles include the ones before them: runtime <",
        "editor < releaser < admin; `instance admin` is the key `PROMPTSTAGE_ADMIN_KEY` (or the",
        "bootstrap key), which may act on every project. A key of another project gets 403, no",
        "key, a revoked key or an expired key 401.",
        "",
        "## Principals and service accounts",
        "",
        "Every key is issued to a named principal: a person (`alice`) or a service account",
        "(`booking-agent`), created by a project admin (`POST /api/v1/projects/{project}/principals`,",
        "`promptstage principal create`). Four-eyes counts principals, never keys: a change request",
        "cannot be approved or rejected by another key of the principal who opened it, nor approved",
        "by the principal who wrote the version; a service account can approve or reject nothing.",
        "The audit trail, change requests and label history name the principal with the key",
        "prefix beside it: `alice (key:3f2a9c01b7de)`.",
        "",
        "A key created without `principal` gets a principal of its own named `key:<prefix>` (a",
        "person), which is how every key worked before principals; issue keys to named people so",
        "that two keys of one person count once. Migration 0005 gave every existing key such a",
        "principal, named after the key (`key:<prefix>`, the actor its audit rows already show).",
        "Principals are compared by name: a name is one person across the instance and its",
        "projects (the stricter reading), and `instance-admin` is reserved for the instance key.",
        "",
        "Keys may expire (`expires_at`); a project's `max_key_lifetime_days` bounds the keys of",
        "people. `POST .../keys/{prefix}/rotate` (`promptstage key rotate`) issues a successor to",
        "the same principal with the same role, and the old key keeps working for the grace",
        "period (default one hour).",
        "",
        "## People in the admin UI",
        "",
        "A person signs in to the admin UI (`/ui/`) with her name and a password, set by a project",
        "admin (`POST /api/v1/projects/{project}/users`, `promptstage user create`). She holds a",
        "role per project: `editor`, `releaser` or `admin`; `runtime` is for SDK keys and cannot",
        "sign in. The instance admin key signs in too. Her actions are audited as `alice (ui)`,",
        "the same principal as `alice (key:…)`: four-eyes counts her browser and her keys as one",
        "person.",
        "",
        "## Routes",
        "",
        "| method | path | least role | notes |",
        "|---|---|---|---|",
    ]
    for (method, path), need in ROUTES.items():
        lines.append(f"| {method} | `{path}` | {need.role} | {need.notes} |")
    return "\n".join(lines) + "\n"
