"""A small client of the promptstage API that turns every failure into one clean line.

Error responses (``{"error": {"code", "message", "field"}}``) exit with code 1 and the server's
message on stderr (with ``--json``, the error document is also printed on stdout); an
unreachable server exits with code 2 and a hint to start it. No traceback reaches the user.

Every ``POST`` and ``PUT`` carries an ``Idempotency-Key``, made once per command request and
sent again on each retry, so retrying a write whose answer was lost (a timeout, a dropped
connection, a 502-504 from a proxy) never writes twice: the server answers with the first
result. Reads are retried the same way; ``DELETE`` is never retried.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from promptstage.domain.idempotency import HEADER as IDEMPOTENCY_HEADER

from .output import fail, print_json

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "promptstage-cli"
RETRIES = 2  # further attempts after the first, for reads and keyed writes
BACKOFF = 0.5  # seconds before the first retry, doubled after each
MAX_WAIT = 10.0  # longest wait for a Retry-After
RETRY_STATUSES = frozenset({502, 503, 504})

Params = Mapping[str, str | int] | Sequence[tuple[str, str | int]]


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """A successful (or explicitly allowed) response: status code and decoded JSON body."""

    status: int
    body: Any

    def get(self, key: str, default: Any = None) -> Any:
        """``body[key]`` when the body is an object, else ``default``."""
        return self.body.get(key, default) if isinstance(self.body, dict) else default


class ApiClient:
    """Authenticated JSON requests against one server.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8700``.
        api_key: sent as ``Authorization: Bearer <api_key>``.
        timeout: per-request timeouts.
        echo_errors: also print an error response's JSON document on stdout (``--json``).
        retries: further attempts of a read or a keyed write after a transient failure.
        transport: the httpx transport (tests pass a mock one).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout = TIMEOUT,
        echo_errors: bool = False,
        retries: int = RETRIES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.echo_errors = echo_errors
        self.retries = retries
        try:
            self._http = httpx.Client(
                base_url=self.base_url,
                timeout=timeout,
                headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
                transport=transport,
            )
        except (httpx.InvalidURL, ValueError) as exc:
            fail(f"invalid server URL {base_url!r} ({exc}); pass --url or set PROMPTSTAGE_URL", 2)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def get(
        self, path: str, *, params: Params | None = None, allow: Collection[int] = ()
    ) -> ApiResponse:
        """``GET path``; see :meth:`request`."""
        return self.request("GET", path, params=params, allow=allow)

    def post(self, path: str, body: Any = None, *, allow: Collection[int] = ()) -> ApiResponse:
        """``POST path`` with a JSON body; see :meth:`request`."""
        return self.request("POST", path, body=body, allow=allow)

    def put(self, path: str, body: Any = None, *, allow: Collection[int] = ()) -> ApiResponse:
        """``PUT path`` with a JSON body; see :meth:`request`."""
        return self.request("PUT", path, body=body, allow=allow)

    def delete(
        self, path: str, *, params: Params | None = None, allow: Collection[int] = ()
    ) -> ApiResponse:
        """``DELETE path``; see :meth:`request`."""
        return self.request("DELETE", path, params=params, allow=allow)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Params | None = None,
        allow: Collection[int] = (),
    ) -> ApiResponse:
        """Send one request and return its decoded JSON.

        Args:
            method: HTTP method.
            path: path under the base URL, e.g. ``/api/v1/projects``.
            body: JSON body, or ``None`` for none.
            params: query parameters (a sequence of pairs repeats a name).
            allow: error statuses returned to the caller instead of exiting (e.g. ``{404}``).

        Returns:
            The status and JSON body (``None`` for an empty body).

        Exits:
            1 with the server's message on an error status not in ``allow``; 2 when the server
            cannot be reached or does not answer in time.
        """
        query: list[tuple[str, str | int | float | bool | None]] = []
        if params is not None:
            query.extend(params.items() if isinstance(params, Mapping) else params)
        try:
            response = self._send(method, path, body, query or None)
        except httpx.TimeoutException:
            fail(f"the server at {self.base_url} did not answer in time ({method} {path})", 2)
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.NetworkError):
            fail(f"cannot reach the server at {self.base_url}: is `promptstage serve` running?", 2)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            fail(
                f"invalid server URL {self.base_url!r} ({exc}); pass --url or set PROMPTSTAGE_URL",
                2,
            )
        except httpx.HTTPError as exc:
            fail(f"request to {self.base_url} failed: {exc}", 2)
        decoded = _decode(response)
        if response.status_code >= 400 and response.status_code not in allow:
            if self.echo_errors and isinstance(decoded, dict) and "error" in decoded:
                print_json(decoded)
            fail(error_message(response.status_code, decoded, response.text))
        return ApiResponse(response.status_code, decoded)

    def _send(self, method: str, path: str, body: Any, query: Any) -> httpx.Response:
        """Send, retrying reads and keyed writes after a transient failure with one key."""
        headers = {IDEMPOTENCY_HEADER: str(uuid.uuid4())} if method in ("POST", "PUT") else {}
        retries = self.retries if headers or method in ("GET", "HEAD") else 0
        for attempt in range(retries + 1):
            wait = BACKOFF * 2**attempt
            try:
                response = self._http.request(
                    method, path, json=body, params=query, headers=headers
                )
            except httpx.ConnectError:
                raise  # nothing was sent; a server that is down stays down for a while
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError):
                if attempt == retries:
                    raise
            else:
                later = _retry_after(response)
                if attempt == retries or later is None:
                    return response
                wait = max(wait, later)
            time.sleep(min(wait, MAX_WAIT))
        raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait before sending again, or ``None`` when the answer is final: a gateway
    error, or the server still running the first attempt of this key (409 + Retry-After)."""
    try:
        seconds = float(response.headers.get("Retry-After", "0"))
    except ValueError:  # an HTTP date: not worth parsing for a wait capped at MAX_WAIT
        seconds = 0.0
    if response.status_code in RETRY_STATUSES:
        return seconds
    if response.status_code == 409 and "Retry-After" in response.headers:
        try:
            field = response.json()["error"]["field"]
        except (ValueError, KeyError, TypeError):
            return None
        if field == IDEMPOTENCY_HEADER:
            return seconds
    return None


def _decode(response: httpx.Response) -> Any:
    """The JSON body, ``None`` when empty; exit when a success answer is not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        if response.status_code < 400:
            fail(
                f"the server answered {response.request.method} {response.request.url.path} "
                f"with HTTP {response.status_code} but not JSON; is --url a promptstage server?"
            )
        return None


def error_message(status: int, body: Any, text: str = "") -> str:
    """One line for an error response: ``<message> [<code>]`` plus a hint where useful."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        message = str(error["message"])
        code = str(error.get("code") or status)
        field = error.get("field")
        line = f"{message} [{code}]"
        if field and str(field) not in message:
            line += f" (field: {field})"
    else:
        snippet = " ".join(text.split())[:200]
        line = f"the server answered HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 401:
        line += "; check --api-key / PROMPTSTAGE_API_KEY"
    return line
