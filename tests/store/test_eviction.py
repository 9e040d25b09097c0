"""Each eviction policy evicts what it promises, priority first, and never the item being stored."""

from __future__ import annotations

import logging

import pytest

from crs import (
    ContextEvictedError,
    ContextReferenceStore,
    EvictionPolicy,
    StoreCapacityError,
    VirtualClock,
)


def _evicted(store: ContextReferenceStore, refs: list[str]) -> set[int]:
    gone = set()
    for index, ref in enumerate(refs):
        if ref not in store:
            gone.add(index)
    return gone


def test_lru_evicts_least_recently_used() -> None:
    with ContextReferenceStore(cache_size=3, eviction_policy="LRU") as store:
        refs = [store.store(f"item {i}") for i in range(3)]
        store.retrieve(refs[0])  # 0 is now the most recent; 1 is the oldest
        refs.append(store.store("item 3"))
        assert _evicted(store, refs) == {1}
        with pytest.raises(ContextEvictedError, match="evicted"):
            store.retrieve(refs[1])


def test_lfu_evicts_least_frequently_used() -> None:
    with ContextReferenceStore(cache_size=3, eviction_policy=EvictionPolicy.LFU) as store:
        refs = [store.store(f"item {i}") for i in range(3)]
        for _ in range(3):
            store.retrieve(refs[0])
        store.retrieve(refs[1])
        refs.append(store.store("item 3"))
        assert _evicted(store, refs) == {2}
        refs.append(store.store("item 4"))  # 3 has no hits yet and is the only cold one left
        assert _evicted(store, refs) == {2, 3}


def test_ttl_policy_evicts_soonest_expiry_first_and_no_ttl_last() -> None:
    clock = VirtualClock()
    with ContextReferenceStore(cache_size=3, eviction_policy="ttl", clock=clock) as store:
        forever = store.store("forever")
        late = store.store("late", {"ttl": 500})
        soon = store.store("soon", {"ttl": 50})
        newest = store.store("newest", {"ttl": 1000})
        assert soon not in store
        assert all(ref in store for ref in (forever, late, newest))
        store.store("another", {"ttl": 2000})
        assert late not in store
        assert forever in store


def test_memory_pressure_policy_evicts_largest_first() -> None:
    with ContextReferenceStore(
        cache_size=3, eviction_policy="memory-pressure", use_compression=False
    ) as store:
        small = store.store("s" * 10)
        large = store.store("l" * 10_000)
        medium = store.store("m" * 1_000)
        store.store("t" * 5)
        assert large not in store
        assert small in store
        assert medium in store


@pytest.mark.parametrize("policy", list(EvictionPolicy))
def test_priority_items_are_evicted_last_under_every_policy(policy: EvictionPolicy) -> None:
    with ContextReferenceStore(cache_size=3, eviction_policy=policy) as store:
        vip = store.store("system prompt", {"priority": 5, "ttl": 10})
        refs = [store.store(f"scratch {i}" * (i + 1)) for i in range(20)]
        assert vip in store
        assert sum(ref in store for ref in refs) == 2


@pytest.mark.parametrize("policy", list(EvictionPolicy))
def test_store_never_returns_an_evicted_reference(policy: EvictionPolicy) -> None:
    """Even when everything else outranks the new item, the new item survives its own store."""
    with ContextReferenceStore(cache_size=2, eviction_policy=policy) as store:
        store.store("high a", {"priority": 9})
        store.store("high b", {"priority": 9})
        for i in range(5):
            ref = store.store(f"low {i}", {"ttl": 1})
            assert ref in store
            assert store.retrieve(ref) == f"low {i}"


def test_raising_priority_on_dedup_protects_an_item() -> None:
    with ContextReferenceStore(cache_size=2) as store:
        first = store.store("shared")
        store.store("other")
        store.store("shared", {"priority": 1})  # another caller marks it important
        store.store("third")
        store.store("fourth")
        assert first in store


def test_memory_threshold_evicts_by_stored_bytes() -> None:
    with ContextReferenceStore(
        cache_size=1_000, memory_threshold_mb=0.01, use_compression=False
    ) as store:  # 10,485 bytes
        refs = [store.store(str(i) * 3_000) for i in range(1, 8)]
        stats = store.get_cache_stats()
        assert stats["memory_bytes"] <= 0.01 * 1024 * 1024
        assert stats["evictions"]["memory"] == 4
        assert stats["evictions"]["capacity"] == 0
        assert [ref in store for ref in refs] == [False] * 4 + [True] * 3


def test_item_larger_than_threshold_without_disk_is_refused_and_nothing_changes() -> None:
    with ContextReferenceStore(memory_threshold_mb=0.001, use_compression=False) as store:
        kept = store.store("small")
        with pytest.raises(StoreCapacityError, match="memory_threshold_mb"):
            store.store("x" * 5_000)
        assert len(store) == 1
        assert kept in store


def test_item_larger_than_threshold_goes_to_disk_only() -> None:
    with ContextReferenceStore(
        memory_threshold_mb=0.001, use_compression=False, use_disk_storage=True
    ) as store:
        big = store.store("x" * 5_000)
        assert store.get_metadata(big).tier == "disk"
        assert store.retrieve(big) == "x" * 5_000
        assert store.get_cache_stats()["memory_bytes"] == 0


def test_eviction_stats_and_single_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="crs.store")
    with ContextReferenceStore(cache_size=2) as store:
        for i in range(6):
            store.store(f"item {i}")
        stats = store.get_cache_stats()
    assert stats["evictions"] == {"capacity": 4, "memory": 0, "expired": 0}
    assert stats["dropped"] == 4
    warnings = [r for r in caplog.records if "evicting items with no disk tier" in r.message]
    assert len(warnings) == 1


def test_evicted_content_stored_again_revives_its_reference() -> None:
    with ContextReferenceStore(cache_size=1) as store:
        first = store.store("first")
        store.store("second")
        with pytest.raises(ContextEvictedError):
            store.retrieve(first)
        assert store.store("first") == first
        assert store.retrieve(first) == "first"


def test_heap_policies_stay_bounded_under_churn() -> None:
    """Lazy invalidation must not let the heap grow with every access."""
    with ContextReferenceStore(cache_size=50, eviction_policy="LFU") as store:
        refs = [store.store(f"doc {i}") for i in range(50)]
        for _ in range(200):
            for ref in refs:
                store.retrieve(ref)
        heap = store._policy._heap  # type: ignore[attr-defined]
        assert len(heap) <= 2 * 50 + 1024
