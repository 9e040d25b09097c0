"""Identical content is stored once; every caller's reference and metadata stay valid."""

from __future__ import annotations

import pytest

from crs import ContextNotFoundError, ContextReferenceStore, VirtualClock


def test_identical_content_gets_the_same_reference_and_is_stored_once() -> None:
    doc = {"tool": "search", "hits": list(range(100))}
    with ContextReferenceStore() as store:
        first = store.store(doc)
        second = store.store({"tool": "search", "hits": list(range(100))})
        stats = store.get_cache_stats()
    assert first == second
    assert first.startswith("ctx_")
    assert stats["entries"] == 1
    assert stats["dedup_hits"] == 1
    assert stats["stores"] == 2


def test_kinds_never_collide() -> None:
    with ContextReferenceStore() as store:
        refs = {store.store("1"), store.store(b"1"), store.store(1), store.store([1])}
    assert len(refs) == 4


def test_key_order_is_part_of_the_content() -> None:
    """Dicts that compare equal but iterate differently are different content."""
    with ContextReferenceStore() as store:
        a = store.store({"a": 1, "b": 2})
        b = store.store({"b": 2, "a": 1})
        assert a != b
        assert list(store.retrieve(b)) == ["b", "a"]


def test_metadata_merge_rules() -> None:
    clock = VirtualClock()
    with ContextReferenceStore(clock=clock) as store:
        ref = store.store(
            "shared context",
            {"tags": ["a"], "priority": 1, "ttl": 100, "content_type": "text/plain", "owner": "x"},
        )
        store.store(
            "shared context",
            {"tags": ["b"], "priority": 0, "ttl": 10, "content_type": "text/x", "team": "y"},
        )
        meta = store.get_metadata(ref)
        assert meta.tags == frozenset({"a", "b"})
        assert meta.priority == 1
        assert meta.expires_at == clock.now() + 100  # the later expiry wins
        assert meta.content_type == "text/plain"  # first writer wins
        assert meta.extra == {"owner": "x", "team": "y"}
        assert meta.holders == 2

        store.store("shared context")  # no ttl: never expires, which outlives any ttl
        assert store.get_metadata(ref).expires_at is None
        store.store("shared context", {"ttl": 5})
        assert store.get_metadata(ref).expires_at is None


def test_a_later_short_ttl_never_expires_an_earlier_callers_content() -> None:
    clock = VirtualClock()
    with ContextReferenceStore(clock=clock) as store:
        ref = store.store("report", {"ttl": 3600})
        store.store("report", {"ttl": 1})
        clock.advance(10)
        assert store.retrieve(ref) == "report"


def test_delete_releases_one_holder_at_a_time() -> None:
    with ContextReferenceStore() as store:
        ref = store.store("held twice")
        store.store("held twice")
        assert store.delete(ref) is False
        assert store.retrieve(ref) == "held twice"
        assert store.get_metadata(ref).holders == 1
        assert store.delete(ref) is True
        assert ref not in store
        with pytest.raises(ContextNotFoundError):
            store.retrieve(ref)
        with pytest.raises(ContextNotFoundError):
            store.delete(ref)


def test_force_delete_ignores_holders() -> None:
    with ContextReferenceStore() as store:
        ref = store.store("x")
        store.store("x")
        store.store("x")
        assert store.delete(ref, force=True) is True
        assert len(store) == 0


def _collide(store: ContextReferenceStore) -> None:
    """Make every content share one fingerprint, as a hash collision would."""
    store._fingerprint = lambda _kind, _raw: b"\x42" * 16  # type: ignore[method-assign]


@pytest.mark.parametrize("disk", [False, True])
def test_fingerprint_collisions_never_mix_up_content(disk: bool) -> None:
    with ContextReferenceStore(use_disk_storage=disk, cache_size=2) as store:
        _collide(store)
        refs = [store.store(f"content {i}") for i in range(5)]
        assert len(set(refs)) == 5
        assert refs[0] == "ctx_" + "42" * 16
        assert refs[1] == "ctx_" + "42" * 16 + "01"
        assert store.store("content 3") == refs[3]  # dedup still finds the right slot
        if disk:
            assert [store.retrieve(ref) for ref in refs] == [f"content {i}" for i in range(5)]
        else:
            assert store.retrieve(refs[4]) == "content 4"


def test_dedup_of_content_that_lives_only_on_disk_promotes_it() -> None:
    with ContextReferenceStore(cache_size=1, use_disk_storage=True) as store:
        first = store.store("first", {"tags": ["t1"]})
        store.store("second")
        assert store.get_metadata(first).tier == "disk"
        assert store.store("first", {"tags": ["t2"]}) == first
        meta = store.get_metadata(first)
    assert meta.tier == "memory"
    assert meta.holders == 2
    assert meta.tags == {"t1", "t2"}
