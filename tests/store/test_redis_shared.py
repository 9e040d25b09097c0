"""Shared state: stores on one Redis see each other, and head slot swaps never interleave.

``swap_metadata`` is the compare-and-swap head slots need; its semantics are checked on every
backend, its atomicity under threads on every backend, and across processes on Redis (the case
it exists for: two workers checkpointing the same run).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crs import ContextExpiredError, ContextNotFoundError, ContextReferenceStore, VirtualClock

SLOT = "crs test head A"

Factory = Callable[..., ContextReferenceStore]  # what the open_store fixture gives


# -- two stores, one Redis ------------------------------------------------------------------------


def test_two_stores_on_one_redis_share_contexts_and_holders(crs_redis_url: str) -> None:
    with (
        ContextReferenceStore(redis_url=crs_redis_url) as a,
        ContextReferenceStore(redis_url=crs_redis_url) as b,
    ):
        ref = a.store({"conversation": [1, 2, 3]}, {"tags": ["from-a"]})
        assert b.retrieve(ref) == {"conversation": [1, 2, 3]}
        assert b.store({"conversation": [1, 2, 3]}, {"tags": ["from-b"]}) == ref
        meta = a.get_metadata(ref)
        assert (meta.holders, meta.tags) == (2, frozenset({"from-a", "from-b"}))
        assert a.delete(ref) is False  # b still holds it
        assert b.retrieve(ref) == {"conversation": [1, 2, 3]}
        assert b.delete(ref) is True
        with pytest.raises(ContextNotFoundError):
            a.retrieve(ref)
        assert len(a) == len(b) == 0


def test_expiry_seen_by_one_store_is_reported_by_the_other(crs_redis_url: str) -> None:
    clock = VirtualClock()
    with (
        ContextReferenceStore(redis_url=crs_redis_url, clock=clock) as a,
        ContextReferenceStore(redis_url=crs_redis_url, clock=clock) as b,
    ):
        ref = a.store("brief", {"ttl": 5})
        clock.advance(5)
        with pytest.raises(ContextExpiredError):
            b.retrieve(ref)
        with pytest.raises(ContextExpiredError):  # a never saw it expire; Redis remembers
            a.retrieve(ref)


def test_duplicate_stores_from_two_stores_on_threads_count_every_holder(
    crs_redis_url: str,
) -> None:
    """Holder counts are read-modify-write: a lost update would show up as a short count."""
    docs = [{"shared": i} for i in range(20)]
    with (
        ContextReferenceStore(redis_url=crs_redis_url) as a,
        ContextReferenceStore(redis_url=crs_redis_url) as b,
        ThreadPoolExecutor(8) as pool,
    ):
        stores = [a, b] * 4
        results = list(pool.map(lambda s: [s.store(doc) for doc in docs for _ in range(5)], stores))
        assert all(refs == results[0] for refs in results)
        for ref in set(results[0]):
            assert a.get_metadata(ref).holders == 8 * 5
        assert len(b) == 20


# -- swap_metadata: semantics on every backend ----------------------------------------------------


def test_swap_creates_replaces_and_refuses_on_every_backend(open_store: Factory) -> None:
    clock = VirtualClock()
    store = open_store(clock=clock)
    assert store.swap_metadata(SLOT, {"generation": 1}, expect={"generation": 0}) is None
    assert len(store) == 0  # a refused swap creates nothing
    ref = store.swap_metadata(
        SLOT, {"generation": 0, "tags": ["head"], "priority": 5}, expect={"generation": None}
    )
    assert ref is not None
    assert store.swap_metadata(SLOT, {"generation": 9}, expect={"generation": None}) is None
    store.store(SLOT)  # a second holder, which a swap keeps
    swapped = store.swap_metadata(
        SLOT, {"generation": 1, "ttl": 30, "content_type": "x/y"}, expect={"generation": 0}
    )
    assert swapped == ref
    meta = store.get_metadata(ref)
    assert (meta.extra, meta.tags, meta.priority, meta.holders, meta.content_type) == (
        {"generation": 1},  # replaced, not merged: the old tags and priority are gone
        frozenset(),
        0,
        2,
        "x/y",
    )
    assert meta.expires_at == clock.now() + 30
    assert store.retrieve(ref) == SLOT
    assert store.swap_metadata(SLOT, {"generation": 2}, expect={"generation": 1}) == ref
    assert store.get_metadata(ref).expires_at is None
    clock.advance(1000)
    assert store.retrieve(ref) == SLOT  # the swap dropped the ttl


def test_swap_treats_an_expired_item_as_absent(open_store: Factory) -> None:
    clock = VirtualClock()
    store = open_store(clock=clock)
    store.swap_metadata(SLOT, {"generation": 0, "ttl": 5}, expect={})
    clock.advance(6)
    assert store.swap_metadata(SLOT, {"generation": 1}, expect={"generation": 0}) is None
    ref = store.swap_metadata(SLOT, {"generation": 1}, expect={"generation": None})
    assert ref is not None
    assert store.get_metadata(ref).extra == {"generation": 1}


def test_swap_with_bad_expect_is_a_type_error(open_store: Factory) -> None:
    store = open_store()
    with pytest.raises(TypeError, match="expect must be a mapping"):
        store.swap_metadata(SLOT, {}, expect=[("generation", 1)])  # type: ignore[arg-type]


# -- swap_metadata: atomic under contention -------------------------------------------------------


def _advance(store: ContextReferenceStore, ref: str, wins: int) -> list[int]:
    """Move the slot's generation forward ``wins`` times, re-reading after every lost race."""
    won = []
    while len(won) < wins:
        generation = store.get_metadata(ref).extra["generation"]
        if store.swap_metadata(
            SLOT, {"generation": generation + 1}, expect={"generation": generation}
        ):
            won.append(generation + 1)
    return won


def test_swaps_from_eight_threads_never_interleave(open_store: Factory) -> None:
    """Each generation is won exactly once; a lost update would repeat one and skip another."""
    store = open_store()
    ref = store.swap_metadata(SLOT, {"generation": 0}, expect={"generation": None})
    assert ref is not None
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: _advance(store, ref, 25), range(8)))
    won = sorted(g for result in results for g in result)
    assert won == list(range(1, 8 * 25 + 1))
    assert store.get_metadata(ref).extra == {"generation": 200}


def test_swaps_from_two_stores_on_one_redis_never_interleave(crs_redis_url: str) -> None:
    with (
        ContextReferenceStore(redis_url=crs_redis_url) as a,
        ContextReferenceStore(redis_url=crs_redis_url) as b,
    ):
        ref = a.swap_metadata(SLOT, {"generation": 0}, expect={"generation": None})
        assert ref is not None
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: _advance((a, b)[i % 2], ref, 25), range(8)))
        assert sorted(g for result in results for g in result) == list(range(1, 201))


def test_swaps_from_two_processes_never_interleave(crs_redis_url: str, tmp_path: Path) -> None:
    worker = textwrap.dedent(
        """
        import json, sys
        from crs import ContextReferenceStore
        slot, ref, url, wins = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
        with ContextReferenceStore(redis_url=url) as store:
            print("ready", flush=True)
            sys.stdin.readline()  # both processes start racing at once
            won = []
            while len(won) < wins:
                generation = store.get_metadata(ref).extra["generation"]
                if store.swap_metadata(
                    slot, {"generation": generation + 1}, expect={"generation": generation}
                ):
                    won.append(generation + 1)
            print(json.dumps(won), flush=True)
        """
    )
    with ContextReferenceStore(redis_url=crs_redis_url) as store:
        ref = store.swap_metadata(SLOT, {"generation": 0}, expect={"generation": None})
    assert ref is not None
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", worker, SLOT, ref, crs_redis_url, "150"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [proc.returncode for proc in procs] == [0, 0]
    won = sorted(g for out in outputs for g in json.loads(out.strip().splitlines()[-1]))
    assert won == list(range(1, 301))
    with ContextReferenceStore(redis_url=crs_redis_url) as store:
        assert store.get_metadata(ref).extra == {"generation": 300}
