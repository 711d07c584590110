"""Rate limits: auth failures per IP, writes per key and per IP, reads off by default (429 + Retry-After)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI

from promptstage.api.ratelimit import Limiter, MemoryLimiter, RedisLimiter, gcra
from support import hardening as hardening_helpers
from support.hardening import ADMIN_KEY, BASE, Caller, FakeClock, random_ip, random_token

# The hardening fixtures (tests/support/hardening.py), resolved here before this folder's conftest.
database_url = hardening_helpers.database_url
make_store = hardening_helpers.make_store
runner = hardening_helpers.runner
clock = hardening_helpers.clock
make_clocked_app = hardening_helpers.make_clocked_app
call = hardening_helpers.call

REDIS_URL = "redis://127.0.0.1:6379/0"
OFF = {"rate_limit_auth_failures": 0, "rate_limit_writes_per_key": 0, "rate_limit_writes_per_ip": 0}


def assert_rate_limited(response: object, *, at_most: float) -> None:
    status = getattr(response, "status_code", None)
    assert status == 429, getattr(response, "text", "")
    headers = response.headers  # type: ignore[attr-defined]
    retry = int(headers["Retry-After"])
    assert 1 <= retry <= at_most
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "rate_limited" and error["field"] is None
    assert "retry after" in error["message"]


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The local Redis (tests needing it are skipped when it is not reachable)."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def close_limiters(runner: asyncio.Runner) -> Iterator[Callable[[FastAPI], FastAPI]]:
    """Register apps whose limiter (a Redis pool) is closed after the test."""
    apps: list[FastAPI] = []
    yield lambda app: apps.append(app) or app  # type: ignore[func-returns-value]
    for app in apps:
        runner.run(app.state.rate_limiter.aclose())


# -- the bucket ------------------------------------------------------------------------------


def test_gcra_allows_a_burst_then_one_per_interval() -> None:
    tat = None
    for _ in range(4):
        decision, tat = gcra(tat, 100.0, 4, 60.0)
        assert decision.allowed
    assert decision.retry_after == pytest.approx(15.0)  # the bucket is empty: next token in 60/4 s
    refused, unchanged = gcra(tat, 100.0, 4, 60.0)
    assert not refused.allowed and unchanged is None and refused.retry_after == pytest.approx(15.0)
    later, _ = gcra(tat, 115.0, 4, 60.0)
    assert later.allowed
    full, _ = gcra(tat, 160.0, 4, 60.0)
    assert full.allowed and full.retry_after == 0.0


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest, runner: asyncio.Runner) -> Iterator[Limiter]:
    if request.param == "memory":
        yield MemoryLimiter()
        return
    made = RedisLimiter(request.getfixturevalue("redis_url"))
    yield made
    runner.run(made.aclose())


def test_limiters_agree_and_reset_after_the_window(
    limiter: Limiter, runner: asyncio.Runner
) -> None:
    bucket = f"test:{random_ip()}"
    now = 1_000_000.0
    decisions = [runner.run(limiter.hit(bucket, 3, 30.0, now)) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after == pytest.approx(10.0, abs=1e-3)
    assert runner.run(limiter.hit(bucket, 3, 30.0, now + 10.0)).allowed
    assert not runner.run(limiter.hit(bucket, 3, 30.0, now + 10.0)).allowed
    for _ in range(3):
        assert runner.run(limiter.hit(bucket, 3, 30.0, now + 60.0)).allowed


# -- auth failures per IP ----------------------------------------------------------------------


def test_auth_failures_block_the_ip_before_its_key_is_checked(
    make_clocked_app: Callable[..., FastAPI],
    call: Caller,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_clocked_app(clock, rate_limit_auth_failures=3, rate_limit_window_seconds=60.0)
    for _ in range(3):
        assert call(app, "GET", BASE, token=random_token()).status_code == 401
    checked: list[str | None] = []
    authenticate = app.state.authenticator.authenticate
    monkeypatch.setattr(
        app.state.authenticator, "authenticate", lambda t: checked.append(t) or authenticate(t)
    )
    refused = call(app, "GET", BASE, token=ADMIN_KEY)  # even the right key: the IP is blocked
    assert_rate_limited(refused, at_most=20)
    assert checked == []
    assert (
        call(app, "GET", BASE, token=ADMIN_KEY, ip="10.9.9.9").status_code == 200
    )  # other IPs are not
    assert call(app, "GET", "/healthz").status_code == 200  # nor are health checks
    clock.advance(int(refused.headers["Retry-After"]))
    assert call(app, "GET", BASE, token=ADMIN_KEY).status_code == 200
    assert call(app, "GET", BASE).status_code == 401  # one token back: one more failure...
    assert_rate_limited(
        call(app, "GET", BASE, token=ADMIN_KEY), at_most=20
    )  # ...then blocked again
    clock.advance(60)
    for _ in range(3):
        assert call(app, "GET", BASE, token=random_token()).status_code == 401


def test_a_blocked_ip_is_logged_without_the_token(
    make_clocked_app: Callable[..., FastAPI],
    call: Caller,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_clocked_app(clock, rate_limit_auth_failures=1)
    token = random_token()
    with caplog.at_level(logging.DEBUG):
        assert call(app, "GET", BASE, token=token, ip="10.1.2.3").status_code == 401
    assert "blocking 10.1.2.3" in caplog.text
    assert token.split("_")[2] not in caplog.text


# -- writes per key and per IP, reads ----------------------------------------------------------


def _project_with_key(
    app: FastAPI, call: Caller, role: str = "editor", admin: str = ADMIN_KEY
) -> tuple[str, str]:
    project = f"p{random_ip().replace('.', '-')}"
    assert call(app, "POST", BASE, token=admin, json={"name": project}).status_code == 201
    made = call(app, "POST", f"{BASE}/{project}/keys", token=admin, json={"role": role})
    assert made.status_code == 201, made.text
    return project, made.json()["token"]


def test_writes_per_key_burst_then_429_then_reset(
    make_clocked_app: Callable[..., FastAPI],
    call: Caller,
    clock: FakeClock,
) -> None:
    app = make_clocked_app(clock, rate_limit_writes_per_key=3, rate_limit_writes_per_ip=0)
    project, editor = _project_with_key(app, call)
    prefix = editor.split("_")[1]
    for _ in range(
        5
    ):  # a wrong secret with the editor's (public) prefix spends nothing of its budget
        assert (
            call(
                app, "POST", f"{BASE}/{project}/prompts", token=f"ps_{prefix}_{'0' * 64}", json={}
            ).status_code
            == 401
        )
    for i in range(3):
        response = call(
            app,
            "POST",
            f"{BASE}/{project}/prompts",
            token=editor,
            json={"name": f"p{i}", "type": "text"},
        )
        assert response.status_code == 201, response.text
    bare = call(
        app,
        "POST",
        f"{BASE}/{project}/prompts",
        headers={"Authorization": editor},
        json={"name": "p3", "type": "text"},
    )
    assert_rate_limited(bare, at_most=20)  # the key without "Bearer " is the same key
    refused = call(
        app, "POST", f"{BASE}/{project}/prompts", token=editor, json={"name": "p3", "type": "text"}
    )
    assert_rate_limited(refused, at_most=20)
    assert prefix in refused.json()["error"]["message"]
    assert (
        call(app, "GET", f"{BASE}/{project}/prompts", token=editor).status_code == 200
    )  # reads are not limited
    assert (
        call(
            app,
            "POST",
            f"{BASE}/{project}/prompts",
            token=ADMIN_KEY,
            json={"name": "a", "type": "text"},
        ).status_code
        == 201
    )
    clock.advance(60)
    assert (
        call(
            app,
            "POST",
            f"{BASE}/{project}/prompts",
            token=editor,
            json={"name": "p3", "type": "text"},
        ).status_code
        == 201
    )


def test_writes_per_ip_count_every_key(
    make_clocked_app: Callable[..., FastAPI], call: Caller, clock: FakeClock
) -> None:
    app = make_clocked_app(clock, rate_limit_writes_per_key=0, rate_limit_writes_per_ip=4)
    project, editor = _project_with_key(app, call)  # two writes from 127.0.0.1
    ip = random_ip()
    assert (
        call(
            app,
            "POST",
            f"{BASE}/{project}/prompts",
            token=editor,
            ip=ip,
            json={"name": "a", "type": "text"},
        ).status_code
        == 201
    )
    for token in (ADMIN_KEY, editor, None):
        assert (
            call(
                app, "DELETE", f"{BASE}/{project}/prompts/a/labels/x", token=token, ip=ip
            ).status_code
            != 429
        )
    assert_rate_limited(
        call(
            app,
            "PUT",
            f"{BASE}/{project}/prompts/a/labels/x",
            token=ADMIN_KEY,
            ip=ip,
            json={"version": 1},
        ),
        at_most=15,
    )
    assert call(app, "GET", f"{BASE}/{project}/prompts", token=editor, ip=ip).status_code == 200


def test_runtime_reads_are_not_limited_by_default(
    make_clocked_app: Callable[..., FastAPI], call: Caller, clock: FakeClock
) -> None:
    app = make_clocked_app(clock, rate_limit_writes_per_key=1, rate_limit_writes_per_ip=1)
    project = "reads"
    assert call(app, "POST", BASE, token=ADMIN_KEY, json={"name": project}).status_code == 201
    for _ in range(50):
        assert call(app, "GET", f"{BASE}/{project}/snapshot", token=ADMIN_KEY).status_code == 200


def test_reads_per_key_when_switched_on(
    make_clocked_app: Callable[..., FastAPI], call: Caller, clock: FakeClock
) -> None:
    app = make_clocked_app(clock, rate_limit_reads_per_key=5)
    project, runtime = _project_with_key(app, call, "runtime")
    for _ in range(5):
        assert call(app, "GET", f"{BASE}/{project}/snapshot", token=runtime).status_code == 200
    assert_rate_limited(call(app, "GET", f"{BASE}/{project}/snapshot", token=runtime), at_most=12)
    clock.advance(12)
    assert call(app, "GET", f"{BASE}/{project}/snapshot", token=runtime).status_code == 200


def test_limits_switched_off(
    make_clocked_app: Callable[..., FastAPI], call: Caller, clock: FakeClock
) -> None:
    app = make_clocked_app(clock, **OFF)
    for _ in range(30):
        assert call(app, "GET", BASE, token=random_token()).status_code == 401
        assert (
            call(app, "POST", BASE, token=ADMIN_KEY, json={"name": "Bad Name"}).status_code == 422
        )


# -- shared through Redis --------------------------------------------------------------------


def test_two_replicas_share_limits_through_redis(
    make_clocked_app: Callable[..., FastAPI],
    call: Caller,
    redis_url: str,
    close_limiters: Callable[[FastAPI], FastAPI],
) -> None:
    admin = random_token()  # a fresh admin key: buckets in Redis outlive the test by up to a window
    shared = {
        "redis_url": redis_url,
        "admin_key": admin,
        "rate_limit_writes_per_key": 4,
        "rate_limit_auth_failures": 4,
    }
    one = close_limiters(make_clocked_app(**shared))
    two = close_limiters(make_clocked_app(**shared))
    ip = random_ip()
    project, editor = _project_with_key(one, call, admin=admin)
    for i, replica in enumerate((one, two, one, two)):
        response = call(
            replica,
            "POST",
            f"{BASE}/{project}/prompts",
            token=editor,
            ip=ip,
            json={"name": f"p{i}", "type": "text"},
        )
        assert response.status_code == 201, response.text
    assert_rate_limited(
        call(
            one,
            "POST",
            f"{BASE}/{project}/prompts",
            token=editor,
            json={"name": "x", "type": "text"},
        ),
        at_most=15,
    )
    assert_rate_limited(
        call(
            two,
            "POST",
            f"{BASE}/{project}/prompts",
            token=editor,
            json={"name": "x", "type": "text"},
        ),
        at_most=15,
    )
    # Auth failures: four in all across both replicas; the one that saw the last blocks at once,
    # the other after at most one more failure (it learns from Redis on its next count).
    for replica in (one, two, one, two):
        assert call(replica, "GET", BASE, token=random_token(), ip=ip).status_code == 401
    assert_rate_limited(call(two, "GET", BASE, token=admin, ip=ip), at_most=15)
    assert call(one, "GET", BASE, token=random_token(), ip=ip).status_code == 401
    assert_rate_limited(call(one, "GET", BASE, token=admin, ip=ip), at_most=15)


def test_redis_down_fails_open_with_a_warning(
    make_clocked_app: Callable[..., FastAPI],
    call: Caller,
    caplog: pytest.LogCaptureFixture,
    close_limiters: Callable[[FastAPI], FastAPI],
) -> None:
    pytest.importorskip("redis")
    app = close_limiters(
        make_clocked_app(
            redis_url="redis://127.0.0.1:1/0",
            rate_limit_writes_per_key=1,
            rate_limit_auth_failures=1,
        )
    )
    with caplog.at_level(logging.WARNING, logger="promptstage.ratelimit"):
        for name in ("a", "b", "c"):
            assert call(app, "POST", BASE, token=ADMIN_KEY, json={"name": name}).status_code == 201
        for _ in range(3):
            assert call(app, "GET", BASE, token=random_token()).status_code == 401
    warnings = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once, then Redis is left alone for a few seconds


# -- client address behind a proxy (issue 11, defect 7) ----------------------------------------


@pytest.mark.parametrize("trusted", ["127.0.0.1", "10.0.0.0/8,127.0.0.1", "*"])
def test_rotating_x_forwarded_for_through_a_trusted_proxy_stays_blocked(
    make_clocked_app: Callable[..., FastAPI], call: Caller, clock: FakeClock, trusted: str
) -> None:
    """A client that writes a new left-most X-Forwarded-For entry on each request is still one
    client: the proxy (127.0.0.1, trusted) appends the address it saw, and that is what counts.

    Reproduces issue 11 defect 7: uvicorn's ``FORWARDED_ALLOW_IPS=*`` took the left-most entry,
    so each spoofed value was a fresh, unblocked client.
    """
    app = make_clocked_app(clock, rate_limit_auth_failures=3, trusted_proxies=trusted)
    attacker = "203.0.113.7"

    def via_proxy(token: str, forwarded_for: str) -> int:
        headers = {"X-Forwarded-For": forwarded_for}
        return call(app, "GET", BASE, token=token, headers=headers).status_code

    spoofed = [via_proxy(random_token(), f"{random_ip()}, {attacker}") for _ in range(3)]
    assert spoofed == [401, 401, 401]
    assert via_proxy(ADMIN_KEY, f"{random_ip()}, {attacker}") == 429  # a new entry does not help
    assert via_proxy(ADMIN_KEY, attacker) == 429
    assert via_proxy(ADMIN_KEY, "198.51.100.9") == 200  # another client behind the proxy is not
    direct = call(
        app, "GET", BASE, token=ADMIN_KEY, ip="198.51.100.10", headers={"X-Forwarded-For": attacker}
    )
    assert direct.status_code == (
        200 if trusted != "*" else 429
    )  # an untrusted peer's header is ignored


def test_the_buckets_clock_is_the_one_the_app_was_given() -> None:
    """Read from the system clock directly when that is the clock, else from the one given."""
    from datetime import UTC, datetime

    from promptstage.api.ratelimit import Limits, RateLimits
    from promptstage.service.context import utc_now

    def policy(clock: Callable[[], datetime]) -> RateLimits:
        return RateLimits(limits=Limits(), limiter=MemoryLimiter(), authenticator=None, clock=clock)  # type: ignore[arg-type]

    assert abs(policy(utc_now).now() - datetime.now(UTC).timestamp()) < 5
    fixed = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert policy(lambda: fixed).now() == fixed.timestamp()
