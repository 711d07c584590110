"""The SSE line parser."""

from __future__ import annotations

from promptstage.sdk.sse import SSEEvent, SSEParser


def feed(text: str) -> list[SSEEvent]:
    parser = SSEParser()
    out = [parser.feed(line) for line in text.split("\n")]
    return [e for e in out if e is not None]


def test_events_ids_and_multiline_data():
    events = feed(
        'id: 43\nevent: label.moved\ndata: {"a":\ndata: 1}\n\nevent: hello\ndata:{"seq":1}\n\n'
    )
    assert events == [
        SSEEvent("label.moved", '{"a":\n1}', "43"),
        SSEEvent("hello", '{"seq":1}', None),
    ]


def test_comments_count_as_heartbeats_and_dispatch_nothing():
    parser = SSEParser()
    assert parser.feed(": heartbeat") is None
    assert parser.feed("") is None
    assert parser.comments == 1


def test_defaults_and_ignored_fields():
    events = feed("data: x\nretry: 10\nfoo: bar\n\nid: 7\n\n")
    assert events == [SSEEvent("message", "x", None), SSEEvent("message", "", "7")]


def test_only_one_leading_space_is_stripped():
    assert feed("data:  two\n\n") == [SSEEvent("message", " two", None)]
