"""Head slots: commits are compare-and-swaps, and a loser gives back only its own hold."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crs import ContextReferenceStore
from crs.errors import HeadConflictError
from crs.store._heads import HeadSlots, give_back

Factory = Callable[..., ContextReferenceStore]  # what the open_store fixture gives


def test_a_second_writer_on_a_stale_view_loses_and_keeps_the_winners_document(
    open_store: Factory,
) -> None:
    store = open_store()
    first, second = HeadSlots(store, "race"), HeadSlots(store, "race")
    first.read()
    second.read()
    document = '{"generation": 1, "state": "same bytes from both writers"}'
    winner_ref = store.store(document)
    loser_ref = store.store(document)  # identical content: the same reference, two holders
    assert winner_ref == loser_ref

    first.write(1, winner_ref)
    with pytest.raises(HeadConflictError, match="moved by another writer"):
        second.write(1, loser_ref)
    give_back(store, loser_ref)

    assert store.retrieve(winner_ref) == document  # the winner's head still resolves
    assert HeadSlots(store, "race").read() == [(1, winner_ref)]
