"""Word-level diff: each side spells its text back exactly, and changes are word-sized."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from promptstage.domain.word_diff import MAX_TOKENS, side, text_of, tokens, word_diff

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
wordy = st.lists(
    st.sampled_from(["the", "cat", "sat", " ", "\n", ",", "{{ name }}", "<b>", "é"]), max_size=40
).map("".join)


@given(texts, texts)
def test_the_old_side_spells_a_and_the_new_side_spells_b(a: str, b: str) -> None:
    pieces = word_diff(a, b)
    assert text_of(side(pieces, "old")) == a
    assert text_of(side(pieces, "new")) == b


@given(wordy, wordy)
def test_pieces_are_merged_and_never_empty(a: str, b: str) -> None:
    pieces = word_diff(a, b)
    assert all(text for _, text in pieces)
    assert all(x[0] != y[0] for x, y in itertools.pairwise(pieces))
    assert text_of(side(pieces, "old")) == a and text_of(side(pieces, "new")) == b


@given(texts)
def test_tokens_join_back_to_the_text(text: str) -> None:
    assert "".join(tokens(text)) == text


@given(wordy)
def test_equal_texts_are_one_equal_piece(text: str) -> None:
    assert word_diff(text, text) == ([("equal", text)] if text else [])


def test_a_changed_word_is_marked_alone() -> None:
    assert word_diff("You are a helpful assistant.", "You are a terse assistant.") == [
        ("equal", "You are a "),
        ("delete", "helpful"),
        ("insert", "terse"),
        ("equal", " assistant."),
    ]


def test_huge_texts_are_compared_as_blocks() -> None:
    a = "w " * (MAX_TOKENS + 1)
    assert word_diff(a, "x") == [("delete", a), ("insert", "x")]
