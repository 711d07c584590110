"""A loopback TCP proxy that injects network faults between an SDK client and a real server.

Modes (switch at any time with :meth:`FaultProxy.set_mode`; existing connections follow):

* ``pass``: bytes flow both ways unchanged.
* ``blackhole``: new connections are accepted and never answered; on existing connections the
  bytes read are held, not delivered (a partition without RST: the peer sees silence). Healing
  (back to ``pass``) delivers what was held on the connections that are still open.
* ``reset``: new connections are reset at once; switching to it resets every open connection.
* ``rewrite``: like ``pass``, but server-to-client bytes ``old`` are replaced by ``new`` (same
  length, so ``Content-Length`` and chunk sizes stay valid): a tampered payload.

:meth:`FaultProxy.set_latency` adds a delay before every chunk forwarded either way, in any mode
that forwards (a slow network or a slow database link).

It counts accepted connections and HTTP requests (request lines the client sent, whether or not
they were delivered), so a test can check that a client does not hammer the server. Threads only; 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Literal

Mode = Literal["pass", "blackhole", "reset", "rewrite"]

_RECV = 65536


def _hard_close(sock: socket.socket) -> None:
    """Close with ``SO_LINGER 0``: the peer gets a TCP RST, not a FIN. ``SHUT_RD`` first wakes a
    thread blocked reading the socket (closing alone would leave it waiting); it sends nothing."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Rewriter:
    """Equal-length byte substitution over a stream split into arbitrary chunks.

    A chunk's tail that could be the start of ``old`` is held back until the next chunk, so a
    match split across two reads is still replaced; anything else is released at once (an SSE
    event ending in ``\\n\\n`` is never delayed).
    """

    def __init__(self, old: bytes, new: bytes) -> None:
        assert len(old) == len(new) and old, "the rewrite must keep the length"
        self.old, self.new = old, new
        self.held = b""

    def feed(self, data: bytes) -> bytes:
        buf = (self.held + data).replace(self.old, self.new)
        keep = 0
        for n in range(min(len(self.old) - 1, len(buf)), 0, -1):
            if self.old.startswith(buf[-n:]):
                keep = n
                break
        self.held = buf[len(buf) - keep :] if keep else b""
        return buf[: len(buf) - keep] if keep else buf

    def flush(self) -> bytes:
        out, self.held = self.held, b""
        return out


class _Conn:
    """One proxied connection: the client socket and, unless blackholed at accept, upstream."""

    def __init__(self, client: socket.socket, upstream: socket.socket | None) -> None:
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.rewriter: _Rewriter | None = None

    def close(self, hard: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            if hard:
                _hard_close(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


class FaultProxy:
    """Listen on ``127.0.0.1:<port>`` and forward to ``127.0.0.1:<upstream_port>``.

    Use as a context manager; :attr:`url` is the base URL to give a client.
    """

    def __init__(self, upstream_port: int, mode: Mode = "pass") -> None:
        self.upstream_port = upstream_port
        self._mode: Mode = mode
        self._old = b""
        self._new = b""
        self._cond = threading.Condition()
        self._conns: set[_Conn] = set()
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self.connections = 0
        self.requests = 0
        self.latency = 0.0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def mode(self) -> Mode:
        """The current mode."""
        return self._mode

    def set_mode(self, mode: Mode, *, old: bytes = b"", new: bytes = b"") -> None:
        """Switch mode; ``old``/``new`` are the bytes ``rewrite`` replaces (same length)."""
        if mode == "rewrite":
            assert len(old) == len(new) and old, "rewrite needs old and new of the same length"
        with self._cond:
            self._mode = mode
            self._old, self._new = old, new
            conns = list(self._conns)
            self._cond.notify_all()
        if mode == "reset":
            for conn in conns:
                conn.close(hard=True)

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk forwarded from now on by ``seconds`` (0: none)."""
        self.latency = seconds

    def reset_connections(self) -> None:
        """Reset every open connection without changing the mode."""
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            conn.close(hard=True)

    def start(self) -> FaultProxy:
        """Start accepting."""
        self._acceptor.start()
        return self

    def close(self) -> None:
        """Stop accepting and reset every connection."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            conns = list(self._conns)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        for conn in conns:
            conn.close(hard=True)
        self._acceptor.join(timeout=5)
        for thread in list(self._threads):
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._cond:
                if self._stopped:
                    _hard_close(client)
                    return
                self.connections += 1
                mode = self._mode
            if mode == "reset":
                _hard_close(client)
                continue
            if mode == "blackhole":
                self._spawn(self._swallow, _Conn(client, None))
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                _hard_close(client)  # the server is down: the client sees a reset
                continue
            conn = _Conn(client, upstream)
            self._spawn(self._pump, conn, client, upstream, False)
            self._spawn(self._pump, conn, upstream, client, True)

    def _spawn(self, target: Callable[..., None], conn: _Conn, *args: object) -> None:
        with self._cond:
            self._conns.add(conn)
        thread = threading.Thread(target=target, args=(conn, *args), daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _forget(self, conn: _Conn) -> None:
        conn.close()
        with self._cond:
            self._conns.discard(conn)

    def _swallow(self, conn: _Conn) -> None:
        """Blackholed at accept: read and drop whatever the client sends, never answer."""
        try:
            while data := conn.client.recv(_RECV):
                self._count(data)
        except OSError:
            pass
        finally:
            self._forget(conn)

    def _count(self, data: bytes) -> None:
        with self._cond:
            self.requests += data.count(b" HTTP/1.1\r\n")

    def _hold(self, conn: _Conn) -> bool:
        """Wait while blackholed; False when the connection or the proxy is going away."""
        with self._cond:
            while self._mode == "blackhole" and not self._stopped and not conn.closed:
                self._cond.wait(0.2)
            return not (self._stopped or conn.closed or self._mode == "reset")

    def _pump(self, conn: _Conn, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        try:
            while True:
                data = src.recv(_RECV)
                if not data:
                    return
                if not downstream:
                    self._count(data)  # when the client sends it, delivered or not
                if self.latency:
                    time.sleep(self.latency)
                if not self._hold(conn):
                    return
                if downstream:
                    data = self._rewrite(conn, data)
                if data:
                    dst.sendall(data)
        except OSError:
            return
        finally:
            self._forget(conn)

    def _rewrite(self, conn: _Conn, data: bytes) -> bytes:
        with self._cond:
            mode, old, new = self._mode, self._old, self._new
        rewriter = conn.rewriter
        if mode != "rewrite":
            if rewriter is not None:  # rewriting stopped: release what was held back
                conn.rewriter = None
                return rewriter.flush() + data
            return data
        if rewriter is None or rewriter.old != old:
            held = rewriter.flush() if rewriter is not None else b""
            rewriter = conn.rewriter = _Rewriter(old, new)
            data = held + data
        return rewriter.feed(data)
