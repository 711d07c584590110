"""A Server-Sent Events parser fed one line at a time (no I/O).

Follows the WHATWG event-stream rules the ``/events`` endpoint relies on: ``field: value``
lines, one optional space after the colon, several ``data:`` lines joined by ``\\n``, a blank
line dispatches, a line starting with ``:`` is a comment (the server's heartbeat). Lines come
from ``httpx.Response.iter_lines()``, which already split on ``\\r\\n``, ``\\n`` and ``\\r``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event.

    Attributes:
        event: The ``event:`` field, ``"message"`` when absent.
        data: The ``data:`` lines joined with newlines.
        id: The ``id:`` field of this event, or ``None`` when it had none.
    """

    event: str
    data: str
    id: str | None


class SSEParser:
    """Accumulates lines and returns an :class:`SSEEvent` when a blank line ends one."""

    __slots__ = ("_data", "_event", "_id", "comments")

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self.comments = 0

    def feed(self, line: str) -> SSEEvent | None:
        """Take one line (without its line break); return the event it completes, if any."""
        if not line:
            return self._dispatch()
        if line[0] == ":":
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        # "retry" and unknown fields are ignored: reconnection uses the client's own backoff.
        return None

    def _dispatch(self) -> SSEEvent | None:
        event, data, id_ = self._event, self._data, self._id
        self._event, self._data, self._id = "", [], None
        if not data and not event and id_ is None:
            return None
        return SSEEvent(event or "message", "\n".join(data), id_)
