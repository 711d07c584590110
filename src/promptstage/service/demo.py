"""The demo project ``clinic``: four agents' prompts with realistic dependency snapshots.

Seeding is idempotent: versions are content-addressed (same digest, same version) and labels
are only set when missing, so re-running never undoes what a user did in the demo.
"""

from __future__ import annotations

from typing import Any

from promptstage.domain.principals import PrincipalKind

from . import keys, labels, passwords, principals, prompts, users
from .context import Context
from .demo_deps import BOOK_APPOINTMENT, CANCEL_APPOINTMENT, FIND_SLOTS, seed_demo_catalog
from .demo_evals import seed_demo_suite

PROJECT = "clinic"
RELEASERS = ("alice", "bob")  # two releasers: one requests, the other approves
ACTOR = "system:demo-seed"
# The people who sign in to the UI: an editor and the two releasers, so four-eyes works at once.
UI_USERS = (("erin", "editor"), ("alice", "releaser"), ("bob", "releaser"))

_ROUTER_TOOLS: list[dict[str, Any]] = []
_BOOKING_TOOLS = [
    {"name": "find_slots", **FIND_SLOTS},
    {"name": "book_appointment", **BOOK_APPOINTMENT},
]
_CANCEL_TOOL = {"name": "cancel_appointment", **CANCEL_APPOINTMENT}

_GPT = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}
_GPT_NEW = {"provider": "openai", "name": "gpt-4o", "version": "2024-11-20"}
_MINI = {"provider": "openai", "name": "gpt-4o-mini", "version": "2024-07-18"}

_ROUTER = (
    "Classify the customer's message into one intent: booking, support, sales or other.\n"
    "Channel: {{ channel }}.\nReply with the intent only, in lowercase.\n\nMessage: {{ message }}"
)

DEMO: list[dict[str, Any]] = [
    {
        "name": "router.intent",
        "type": "text",
        "description": "Routes each inbound message to an agent.",
        "versions": [
            {
                "template": _ROUTER,
                "config": {"model": _MINI, "params": {"temperature": 0, "max_tokens": 5}},
                "message": "first router",
            },
            {
                "template": _ROUTER.replace(
                    "booking, support, sales or other",
                    "booking, cancellation, support, sales or other",
                ),
                "config": {"model": _MINI, "params": {"temperature": 0, "max_tokens": 5}},
                "message": "add cancellation intent",
            },
            {
                "template": _ROUTER.replace(
                    "booking, support, sales or other",
                    "booking, cancellation, support, sales or other",
                )
                + "\nIf unsure, answer other.",
                "config": {
                    "model": _MINI,
                    "params": {"temperature": 0, "max_tokens": 5},
                    "metadata": {"owner": "routing-team"},
                },
                "message": "fall back to other when unsure",
            },
        ],
        "labels": {"prod": [1, 2], "staging": [3]},
    },
    {
        "name": "booking.system",
        "type": "chat",
        "description": "Books, moves and cancels appointments over WhatsApp, SMS and web chat.",
        "versions": [
            {
                "template": [
                    {
                        "role": "system",
                        "content": "You are the booking assistant of {{ clinic_name }}. "
                        "Offer free slots with find_slots and book with book_appointment. Be brief.",
                    },
                    {"role": "user", "content": "{{ message }}"},
                ],
                "variables": [
                    {"name": "clinic_name", "type": "string"},
                    {"name": "message", "type": "string"},
                ],
                "config": {
                    "model": _GPT,
                    "params": {"temperature": 0.3, "max_tokens": 400},
                    "tools": _BOOKING_TOOLS,
                },
                "message": "first booking agent",
            },
            {
                "template": [
                    {
                        "role": "system",
                        "content": "You are the booking assistant of {{ clinic_name }}. "
                        "Greet {{ customer }} by first name. Offer at most three free slots with find_slots, "
                        "confirm the choice, then book with book_appointment. Never give medical advice.",
                    },
                    {"role": "user", "content": "{{ message }}"},
                ],
                "variables": [
                    {"name": "clinic_name", "type": "string"},
                    {"name": "customer", "type": "string"},
                    {"name": "message", "type": "string"},
                ],
                "config": {
                    "model": _GPT,
                    "params": {"temperature": 0.2, "max_tokens": 400},
                    "tools": _BOOKING_TOOLS,
                },
                "message": "tone fix after feedback: greet by name, at most three slots",
            },
            {
                "template": [
                    {
                        "role": "system",
                        "content": "You are the booking assistant of {{ clinic_name }}. "
                        "Greet {{ customer }} by first name. Offer at most three free slots with find_slots, "
                        "confirm the choice, then book with book_appointment; cancel with cancel_appointment. "
                        "Never give medical advice.",
                    },
                    {"role": "user", "content": "{{ message }}"},
                ],
                "variables": [
                    {"name": "clinic_name", "type": "string"},
                    {"name": "customer", "type": "string"},
                    {"name": "message", "type": "string"},
                ],
                "config": {
                    "model": _GPT_NEW,
                    "params": {"temperature": 0.2, "max_tokens": 400},
                    "tools": [*_BOOKING_TOOLS, _CANCEL_TOOL],
                },
                "message": "new model version; add cancellations",
            },
        ],
        "labels": {"prod": [1, 2], "staging": [3]},
    },
    {
        "name": "support.system",
        "type": "chat",
        "description": "Answers questions from the clinic's knowledge base.",
        "versions": [
            {
                "template": [
                    {
                        "role": "system",
                        "content": "Answer questions about {{ clinic_name }} using only the retrieved "
                        "articles. If the answer is not there, offer a human agent.",
                    },
                    {"role": "user", "content": "{{ message }}"},
                ],
                # Written with catalog references (docs/dependencies.md); stored resolved.
                "config": {
                    "model": {"model": "anthropic/claude-3-5-sonnet@20241022"},
                    "params": {"temperature": 0.1, "max_tokens": 600},
                    "tools": [{"tool": "find_slots@1"}],
                    "retrieval": {"index": "kb@7"},
                    "postprocess": {"ruleset": "strip-pii@1.2.0"},
                },
                "message": "first support agent",
            },
            {
                "template": [
                    {
                        "role": "system",
                        "content": "Answer questions about {{ clinic_name }} using only the retrieved "
                        "articles and cite their titles. If the answer is not there, offer a human agent. "
                        "Never share another patient's data.",
                    },
                    {"role": "user", "content": "{{ message }}"},
                ],
                "config": {
                    "model": {"model": "anthropic/claude-3-5-sonnet@20241022"},
                    "params": {"temperature": 0.1, "max_tokens": 600},
                    "tools": [{"tool": "find_slots@1"}],
                    "retrieval": {"index": "kb@8"},
                    "postprocess": {"ruleset": "strip-pii@1.3.0"},
                },
                "message": "re-indexed knowledge base; cite sources; stricter guardrail",
            },
        ],
        "labels": {"prod": [1], "staging": [2]},
    },
    {
        "name": "sales.system",
        "type": "chat",
        "description": "Answers pricing questions and offers packages.",
        "versions": [
            {
                "template": [
                    {
                        "role": "system",
                        "content": "You help visitors of {{ clinic_name }} choose a check-up package. "
                        "Quote prices from the price list only.",
                    },
                    {"role": "user", "content": "{{ message }}"},
                ],
                "config": {"model": _GPT, "params": {"temperature": 0.5, "max_tokens": 300}},
                "message": "first sales agent",
            },
            {
                "template": [
                    {
                        "role": "system",
                        "content": "You help visitors of {{ clinic_name }} choose a check-up package. "
                        "Quote prices from the price list only and never promise discounts.",
                    },
                    {"role": "user", "content": "{{ message }}"},
                ],
                "config": {"model": _GPT, "params": {"temperature": 0.4, "max_tokens": 300}},
                "message": "no discount promises",
            },
        ],
        "labels": {"prod": [1, 2], "staging": [2]},
    },
]


def seed_demo(ctx: Context) -> list[str]:
    """Create or top up the ``clinic`` demo project (idempotent), with its eval suite
    ``clinic/booking-basics`` (``demo_evals``); ``prod`` has the default evaluation gate.

    Returns:
        Two releaser tokens (``alice``, ``bob``) when this call created the project, so the
        four-eyes flow can be tried at once; ``[]`` afterwards (tokens are shown once, stored
        only hashed).
    """
    with ctx.store.unit_of_work() as uow:
        exists = uow.get_project(PROJECT) is not None
    tokens: list[str] = []
    if not exists:
        prompts.create_project(
            ctx, ACTOR, PROJECT, "Demo: a clinic's booking, support and sales agents"
        )
        for name in RELEASERS:  # two people, so four-eyes in the demo is two people
            principals.create_principal(ctx, ACTOR, PROJECT, name, PrincipalKind.person)
        tokens = [
            keys.create_key(ctx, ACTOR, PROJECT, name, "releaser", principal=name)[1]
            for name in RELEASERS
        ]
    seed_demo_catalog(ctx, ACTOR, PROJECT)  # before the prompts: they reference it
    for spec in DEMO:
        with ctx.store.unit_of_work() as uow:
            found = uow.get_prompt(PROJECT, spec["name"])
            current = uow.get_labels(PROJECT, spec["name"]) if found else {}
        if found is None:
            prompts.create_prompt(
                ctx, ACTOR, PROJECT, spec["name"], spec["type"], spec["description"]
            )
        numbers = []
        for v in spec["versions"]:
            version, _ = prompts.write_version(
                ctx,
                ACTOR,
                PROJECT,
                spec["name"],
                template=v["template"],
                variables=v.get("variables"),
                config=v["config"],
                message=v["message"],
            )
            numbers.append(version.number)
        for label, steps in spec["labels"].items():
            if label in current:
                continue
            for index in steps:  # several steps leave a history to roll back through
                labels.move_label(
                    ctx,
                    ACTOR,
                    PROJECT,
                    spec["name"],
                    label,
                    numbers[index - 1],
                    reason="demo seed",
                )
    seed_demo_suite(ctx, ACTOR, PROJECT)
    return tokens


def seed_demo_users(ctx: Context, password: str | None) -> str | None:
    """Create the demo's UI users (``UI_USERS``) in the demo project if missing (idempotent).

    A user who exists keeps her password: re-seeding never undoes a ``user passwd``.

    Args:
        password: the demo password (``Settings.demo_password``); ``None``: one is generated
            when a user has to be created.

    Returns:
        The password to show: ``password`` when it signs the demo users in, or the generated
        one when this call created them; ``None`` when it cannot be told (they were created
        before, with another password).

    Raises:
        InvalidInputError: naming ``password``: it breaks the password policy.
    """
    generated = None
    for name, role in UI_USERS:
        with ctx.store.unit_of_work() as uow:
            credential = uow.get_credential(name)
            member = uow.get_membership(PROJECT, name) is not None
        if member:
            continue
        if credential is not None:
            users.grant(ctx, ACTOR, PROJECT, name, role)
            continue
        if password is None and generated is None:
            generated = passwords.generate()
        users.create_user(ctx, ACTOR, PROJECT, name, password or generated, role)
    if password is None:
        return generated
    with ctx.store.unit_of_work() as uow:
        stored = uow.get_credential(UI_USERS[0][0])
    return password if stored and passwords.verify(stored.password_hash, password) else None
