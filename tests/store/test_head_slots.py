"""Head slots: commits are compare-and-swaps, and a loser gives back only its own hold."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from crs import ContextReferenceStore, VirtualClock
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


def test_find_looks_up_without_storing_or_holding(open_store: Factory) -> None:
    store = open_store()
    assert store.find({"not": "stored"}) is None
    ref = store.store({"a": 1})
    assert store.find({"a": 1}) == ref
    assert store.get_metadata(ref).holders == 1  # no holder taken by the lookup
    store.delete(ref)
    assert store.find({"a": 1}) is None


def test_find_treats_expired_content_as_absent(
    open_store: Factory, crs_clock: VirtualClock
) -> None:
    store = open_store()
    store.store("scratch", {"ttl": 60})
    crs_clock.advance(61)
    assert store.find("scratch") is None


def test_reading_slots_that_do_not_exist_writes_nothing(open_store: Factory) -> None:
    store = open_store()
    assert HeadSlots(store, "fresh").read() == []
    assert len(store) == 0  # no probe item left behind, none created and deleted


def test_a_reader_never_removes_a_first_commit_made_while_it_reads(open_store: Factory) -> None:
    store = open_store()
    writer, reader = HeadSlots(store, "busy"), HeadSlots(store, "busy")
    writer.read()
    target = store.store("generation 1")
    stop = threading.Event()

    def read_repeatedly() -> None:
        while not stop.is_set():
            reader.read()

    thread = threading.Thread(target=read_repeatedly)
    thread.start()
    try:
        writer.write(1, target)
    finally:
        stop.set()
        thread.join()
    assert HeadSlots(store, "busy").read() == [(1, target)]
