"""The client's address behind proxies: the right-most hop that is not a trusted proxy.

Each proxy appends the address it received the request from to ``X-Forwarded-For``, so only
the entries on the right, written by proxies we trust, are facts; anything further left was
sent by the client and may be made up. Walking from the TCP peer leftwards and stopping at the
first address that is not a trusted proxy finds the client without believing the client.
Rate limits key on that address, so rotating the left-most entry does not make a new client.

The server does this itself (uvicorn runs with ``proxy_headers=False``): uvicorn's own
middleware answers the left-most entry when every proxy is trusted (``*``).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from promptstage.api.metrics import ASGIApp, Receive, Scope, Send

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_hop(value: str) -> str:
    """The host of one ``X-Forwarded-For`` entry (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``)."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        return value.split(":", 1)[0]
    return value


class TrustedProxies:
    """The peers whose ``X-Forwarded-For`` entries are believed.

    Args:
        spec: Comma-separated addresses and networks (``127.0.0.1,10.0.0.0/8``), or ``*``:
            any peer is a proxy, and only the entry it appended (the right-most) is believed.
    """

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.everyone = "*" in items
        self._networks: list[IPNetwork] = []
        self._literals: set[str] = set()
        for item in items:
            try:
                self._networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self._literals.add(item)  # a unix socket path or a host name, compared as text

        # Every request asks about its peer: remember the answers (bounded, since hops of
        # X-Forwarded-For, which anyone can write, are asked about too).
        self._contains = functools.lru_cache(maxsize=4096)(self._check)

    def __contains__(self, host: str) -> bool:
        return self.everyone or self._contains(host)

    def _check(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self._literals
        return any(address in network for network in self._networks)

    def client(self, peer: str | None, forwarded_for: Iterable[str]) -> str | None:
        """The client's address: ``peer`` unless it is a trusted proxy, else the right-most
        ``X-Forwarded-For`` hop that is not one (the left-most when all are).

        Args:
            peer: The TCP peer's address (``None`` when the server does not know it).
            forwarded_for: The ``X-Forwarded-For`` header values, in the order received.
        """
        if peer is None or peer not in self:
            return peer
        hops = [parse_hop(hop) for value in forwarded_for for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        if not hops:
            return peer
        if self.everyone:
            return hops[-1]
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0]


class ClientAddress:
    """ASGI middleware: set ``scope["client"]`` (and the scheme) from a trusted proxy's headers.

    Everything after it (rate limits, metrics, logs) sees the client's address, not the proxy's.
    """

    def __init__(self, app: ASGIApp, *, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _peer(scope)
            if host is not None and host in self.trusted:
                client = _behind(host, scope, self.trusted)
                if client != host:
                    scope = {**scope, "client": (client, 0)}
                headers = scope.get("headers", ())
                proto = next((v for k, v in headers if k == b"x-forwarded-proto"), b"").strip()
                if proto in (b"http", b"https") and scope["type"] == "http":
                    scope = {**scope, "scheme": proto.decode("ascii")}
        await self.app(scope, receive, send)


def client_address(scope: Scope, trusted: TrustedProxies) -> str | None:
    """The client's address, as :class:`ClientAddress` puts it in ``scope["client"]``."""
    host = _peer(scope)
    if host is None or host not in trusted:
        return host
    return _behind(host, scope, trusted)


def _peer(scope: Scope) -> str | None:
    peer = scope.get("client")
    return str(peer[0]) if peer else None


def _behind(proxy: str, scope: Scope, trusted: TrustedProxies) -> str | None:
    """The client behind ``proxy``, a trusted peer, from the request's X-Forwarded-For."""
    headers = scope.get("headers", ())
    return trusted.client(
        proxy, [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
    )
