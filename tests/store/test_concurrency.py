"""Many threads at once: no spurious errors, no lost items, dedup stays exact."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from crs import ContextReferenceStore

THREADS = 4
PER_THREAD = 2_000


@pytest.fixture(autouse=True)
def _switch_threads_often() -> Iterator[None]:
    """Make the interpreter switch threads every few bytecodes, so races actually happen."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def _run_all(work: Callable[[int], Any]) -> list[Any]:
    """Start every worker at the same moment and re-raise the first error any of them hit."""
    barrier = threading.Barrier(THREADS)

    def start(worker: int) -> Any:
        barrier.wait()
        return work(worker)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(start, range(THREADS)))


def _doc(worker: int, i: int) -> dict[str, Any]:
    return {"worker": worker, "i": i, "payload": [worker * i, "x" * (i % 50)]}


def test_four_threads_storing_2000_items_each_lose_nothing() -> None:
    with ContextReferenceStore() as store:

        def work(worker: int) -> list[str]:
            refs = []
            for i in range(PER_THREAD):
                refs.append(store.store(_doc(worker, i)))
                if i % 7 == 0:
                    assert store.retrieve(refs[i // 2]) == _doc(worker, i // 2)
            return refs

        results = _run_all(work)
        assert len(store) == THREADS * PER_THREAD
        for worker, refs in enumerate(results):
            assert len(set(refs)) == PER_THREAD
            for i, ref in enumerate(refs):
                assert store.retrieve(ref) == _doc(worker, i)
        assert store.get_cache_stats()["evictions"]["capacity"] == 0


def test_concurrent_duplicates_share_one_reference_and_count_every_holder() -> None:
    shared = [{"shared": i, "body": "y" * 200} for i in range(100)]
    with ContextReferenceStore() as store:
        results = _run_all(lambda _worker: [store.store(doc) for _ in range(20) for doc in shared])
        assert all(refs == results[0] for refs in results)
        assert len(store) == 100
        for ref in results[0][:100]:
            assert store.get_metadata(ref).holders == THREADS * 20


def test_store_retrieve_delete_with_disk_tier_under_contention() -> None:
    with ContextReferenceStore(cache_size=64, use_disk_storage=True) as store:

        def work(worker: int) -> list[str]:
            kept = []
            for i in range(500):
                ref = store.store(_doc(worker, i))
                if i % 3 == 0:
                    assert store.delete(ref) is True
                else:
                    kept.append(ref)
                    assert store.retrieve(ref) == _doc(worker, i)
            return kept

        results = _run_all(work)
        assert len(store) == sum(len(refs) for refs in results)
        for refs in results:
            for ref in refs:
                assert store.retrieve(ref)["i"] % 3 != 0
        assert store.get_cache_stats()["memory_entries"] <= 64
