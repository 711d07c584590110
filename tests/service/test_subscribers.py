"""The registry of open event streams: what ``propagation`` counts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from promptstage.service.subscribers import Propagation, Subscribers


def test_streams_are_counted_per_project_and_by_the_last_event_sent() -> None:
    registry = Subscribers()
    a = registry.register("clinic", 5)
    b = registry.register("clinic", 5)
    registry.register("shop", 9)
    registry.sent(a, 7)
    assert registry.count("clinic", 7) == Propagation(connected=2, up_to_date=1)
    registry.sent(a, 6)  # positions never move back
    assert registry.count("clinic", 7).up_to_date == 1
    registry.unregister(b)
    assert registry.count("clinic", 7) == Propagation(connected=1, up_to_date=1)
    registry.unregister(b)  # twice is harmless
    assert registry.count("other", 1) == Propagation(0, 0)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50)), max_size=40))
def test_a_position_is_the_highest_sequence_sent(sends: list[tuple[int, int]]) -> None:
    registry = Subscribers()
    streams = [registry.register("p", 0) for _ in range(4)]
    best = [0, 0, 0, 0]
    for index, seq in sends:
        registry.sent(streams[index], seq)
        best[index] = max(best[index], seq)
    for seq in range(52):
        assert registry.count("p", seq) == Propagation(4, sum(1 for b in best if b >= seq))
