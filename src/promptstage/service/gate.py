"""The promotion gate seam: what the promotion door asks before a label serves a new version.

The evaluation gate (SPEC §9) plugs in here: ``create_app(settings, gate=...)`` puts a
:class:`Gate` on the :class:`~promptstage.service.context.Context`, and the promotion door
(``service/promotion.py``) asks it, inside the promoting transaction, about every candidate
before anything is written. The default gate lets everything through; the evaluation gate is
``service/eval_gate.py``. A gate may answer with a :class:`GateReport`: what gated the
candidate (kept in the promotion's audit row) and, when an admin's override let a refused
candidate through, what was overridden (its own ``gate.override`` audit row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from promptstage.domain.events import AuditAction
from promptstage.domain.models import Version
from promptstage.store.base import UnitOfWork

# How a candidate gets to serve: named by the audit action that promotes it.
PromotionPath = Literal[
    AuditAction.LABEL_MOVE, AuditAction.RELEASE_START, AuditAction.RELEASE_PROMOTE
]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A version about to serve traffic of ``label``, and how it gets there.

    ``path`` is ``label.move`` (a direct or approved move), ``release.start`` (the candidate
    of a new release gets its first share of traffic) or ``release.promote`` (a release
    completes and the label moves to its candidate). ``change_request`` names the approved
    request that applies it, if any; ``release_id`` the release it belongs to, if any.
    """

    project: str
    prompt: str
    label: str
    version: Version
    path: PromotionPath
    actor: str
    change_request: str | None = None
    release_id: str | None = None
    override: str | None = None


@dataclass(frozen=True, slots=True)
class GateReport:
    """What a gate says about a candidate it lets through.

    ``evidence`` goes into the promotion's audit row as ``after.gate`` (the eval runs that
    gated it). ``overridden`` is set when the candidate was refused and an admin's override
    let it through: the promotion door records it as a ``gate.override`` audit row.
    """

    evidence: dict[str, Any]
    overridden: dict[str, Any] | None = None


class Gate(Protocol):
    """Decides whether a candidate may be promoted."""

    def check(self, uow: UnitOfWork, candidate: Candidate) -> GateReport | None:
        """Return to let ``candidate`` through; raise a ``PromptstageError`` to refuse it.

        Runs inside the promoting transaction: a refusal rolls the whole change back, and
        ``uow`` reads what that transaction sees (for example stored evaluation results).
        """
        ...


class OpenGate:
    """The default gate: every candidate passes."""

    __slots__ = ()

    def check(self, uow: UnitOfWork, candidate: Candidate) -> GateReport | None:
        return None
