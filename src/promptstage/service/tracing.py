"""The tracing seam: spans around the use cases, for an exporter such as OpenTelemetry.

``create_app(settings, tracer=...)`` puts a :class:`Tracer` on the context; the use cases open
spans through it (a write transaction, a promotion, a label move, a controller look) with
``promptstage.*`` attributes. The default tracer does nothing and costs one ``nullcontext``;
``promptstage.telemetry`` plugs OpenTelemetry in when the server is configured to export.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

Attribute = str | int | float | bool


class Tracer(Protocol):
    """Opens a span named ``name`` with ``attributes`` for the duration of a ``with`` block."""

    def span(
        self, name: str, attributes: Mapping[str, Attribute]
    ) -> AbstractContextManager[object]:
        """The span as a context manager; an exception leaving the block marks it failed."""
        ...


def annotate(span: object, attributes: Mapping[str, Attribute]) -> None:
    """Add ``attributes`` to the object a tracer's ``span()`` yielded, when it takes them
    (an OpenTelemetry span's ``set_attributes``); the default tracer's ``None`` ignores them."""
    setter = getattr(span, "set_attributes", None)
    if setter is not None:
        setter(attributes)


class NoTracer:
    """The default tracer: no spans."""

    __slots__ = ()

    def span(
        self, name: str, attributes: Mapping[str, Attribute]
    ) -> AbstractContextManager[object]:
        return nullcontext()
