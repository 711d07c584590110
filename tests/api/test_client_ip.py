"""The client address behind proxies: the right-most untrusted hop (issue 11, defect 7)."""

from __future__ import annotations

import pytest

from promptstage.api.client_ip import TrustedProxies, parse_hop


@pytest.mark.parametrize(
    ("value", "host"),
    [("1.2.3.4", "1.2.3.4"), (" 1.2.3.4:8080 ", "1.2.3.4"), ("[::1]:80", "::1"), ("::1", "::1")],
)
def test_parse_hop(value: str, host: str) -> None:
    assert parse_hop(value) == host


def test_the_right_most_untrusted_hop_is_the_client() -> None:
    trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    chain = ["6.6.6.6, 203.0.113.7", "10.1.1.1"]  # spoofed, client, inner proxy (two headers)
    assert trusted.client("127.0.0.1", chain) == "203.0.113.7"
    assert trusted.client("127.0.0.1", ["10.2.2.2, 10.1.1.1"]) == "10.2.2.2"  # all proxies
    assert trusted.client("127.0.0.1", []) == "127.0.0.1"
    assert trusted.client("127.0.0.1", ["garbage, 203.0.113.7"]) == "203.0.113.7"
    assert trusted.client("198.51.100.1", chain) == "198.51.100.1"  # an untrusted peer: ignored
    assert trusted.client(None, chain) is None


def test_star_believes_only_the_entry_the_peer_appended() -> None:
    trusted = TrustedProxies("*")
    assert trusted.client("198.51.100.1", ["6.6.6.6, 203.0.113.7"]) == "203.0.113.7"
    assert trusted.client("198.51.100.1", []) == "198.51.100.1"
