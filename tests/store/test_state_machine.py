"""The store against a plain-Python model, through random sequences of operations.

``LRUStoreMachine`` models the memory-only store exactly: LRU order within priority groups,
reference-counted dedup, ttl merge, expiry, eviction and the errors each of those implies.
``DiskStoreMachine`` checks the promise of the disk tier: nothing is ever lost to eviction, and
closing and reopening the store on the same path changes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from crs import (
    ContextEvictedError,
    ContextExpiredError,
    ContextNotFoundError,
    ContextReferenceStore,
    VirtualClock,
)

# A small pool, so the same content is stored again often (dedup) and eviction is frequent.
contents = st.sampled_from(
    [
        "alpha",
        "beta" * 40,
        b"\x00\x01bytes",
        {"tool": "github", "result": [1, 2, 3]},
        [{"id": 1}, {"id": 2}],
        "",
        0,
        None,
        "ünïcödé \ud83d",
        {"nested": {"deep": {"deeper": ["x"] * 30}}},
    ]
)
ttls = st.sampled_from([None, None, 5.0, 20.0])
priorities = st.sampled_from([0, 0, 0, 1])


@dataclass
class Item:
    content: Any
    holders: int
    expires_at: float | None
    priority: int


def _later(old: float | None, new: float | None) -> float | None:
    return None if old is None or new is None else max(old, new)


class LRUStoreMachine(RuleBasedStateMachine):
    CACHE_SIZE = 4
    refs = Bundle("refs")

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.store = ContextReferenceStore(cache_size=self.CACHE_SIZE, clock=self.clock)
        self.items: OrderedDict[str, Item] = OrderedDict()  # least recently used first
        self.gone: dict[str, str] = {}
        self.ref_of: dict[str, str] = {}
        self.content_of: dict[str, Any] = {}

    def teardown(self) -> None:
        self.store.close()

    def _purge(self) -> None:
        now = self.clock.now()
        for ref in [r for r, item in self.items.items() if _expired(item, now)]:
            del self.items[ref]
            self.gone[ref] = "expired"

    @rule(target=refs, content=contents, ttl=ttls, priority=priorities)
    def store(self, content: Any, ttl: float | None, priority: int) -> str:
        return self._store(content, ttl, priority)

    @rule(ref=refs, ttl=ttls, priority=priorities)
    def store_again(self, ref: str, ttl: float | None, priority: int) -> None:
        """Re-store known content: every call exercises the dedup merge."""
        assert self._store(self.content_of[ref], ttl, priority) == ref

    def _store(self, content: Any, ttl: float | None, priority: int) -> str:
        self._purge()
        ref = self.store.store(content, {"ttl": ttl, "priority": priority})
        assert self.ref_of.setdefault(repr(content), ref) == ref, "same content, same ref"
        self.content_of[ref] = content
        expires_at = None if ttl is None else self.clock.now() + ttl
        item = self.items.get(ref)
        if item is not None:
            item.holders += 1
            item.expires_at = _later(item.expires_at, expires_at)
            item.priority = max(item.priority, priority)
            self.items.move_to_end(ref)
        else:
            self.items[ref] = Item(content, 1, expires_at, priority)
            self.gone.pop(ref, None)
            while len(self.items) > self.CACHE_SIZE:
                victim = min(
                    (r for r in self.items if r != ref), key=lambda r: self.items[r].priority
                )
                del self.items[victim]
                self.gone[victim] = "evicted"
        return ref

    @rule(ref=refs)
    def retrieve(self, ref: str) -> None:
        item = self.items.get(ref)
        if item is not None and not _expired(item, self.clock.now()):
            assert self.store.retrieve(ref) == item.content
            self.items.move_to_end(ref)
            return
        if item is not None:  # expired but not yet swept
            del self.items[ref]
            self.gone[ref] = "expired"
        expected = {"evicted": ContextEvictedError, "expired": ContextExpiredError}.get(
            self.gone.get(ref, ""), ContextNotFoundError
        )
        with pytest.raises(expected):
            self.store.retrieve(ref)

    @rule(ref=refs)
    def delete(self, ref: str) -> None:
        self._purge()
        item = self.items.get(ref)
        if item is not None:
            if item.holders > 1:
                item.holders -= 1
                assert self.store.delete(ref) is False
            else:
                del self.items[ref]
                assert self.store.delete(ref) is True
        elif self.gone.pop(ref, None) is not None:
            assert self.store.delete(ref) is True
        else:
            with pytest.raises(ContextNotFoundError):
                self.store.delete(ref)

    @rule(ref=consumes(refs))
    def force_delete(self, ref: str) -> None:
        self._purge()
        if ref in self.items or ref in self.gone:
            self.items.pop(ref, None)
            self.gone.pop(ref, None)
            assert self.store.delete(ref, force=True) is True
        else:
            with pytest.raises(ContextNotFoundError):
                self.store.delete(ref, force=True)

    @rule(seconds=st.sampled_from([1.0, 4.0, 6.0, 25.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(ref=refs)
    def metadata(self, ref: str) -> None:
        item = self.items.get(ref)
        if item is None or _expired(item, self.clock.now()):
            with pytest.raises((ContextNotFoundError, ContextEvictedError, ContextExpiredError)):
                self.store.get_metadata(ref)
            if item is not None:
                del self.items[ref]
                self.gone[ref] = "expired"
            return
        meta = self.store.get_metadata(ref)
        assert (meta.holders, meta.expires_at, meta.priority) == (
            item.holders,
            item.expires_at,
            item.priority,
        )

    @rule(ref=refs)
    def contains(self, ref: str) -> None:
        item = self.items.get(ref)
        assert (ref in self.store) == (item is not None and not _expired(item, self.clock.now()))

    @rule()
    def length(self) -> None:
        self._purge()
        assert len(self.store) == len(self.items)

    @invariant()
    def memory_bounded(self) -> None:
        # Expired items linger in both until the same sweep points, so the counts agree exactly.
        assert self.store.get_cache_stats()["memory_entries"] == len(self.items)
        assert len(self.items) <= self.CACHE_SIZE


def _expired(item: Item, now: float) -> bool:
    return item.expires_at is not None and item.expires_at <= now


class DiskStoreMachine(RuleBasedStateMachine):
    """With a disk tier nothing is lost to eviction, and a restart changes nothing."""

    refs = Bundle("refs")

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.path = tempfile.mkdtemp(prefix="crs-sm-")
        self.items: dict[str, Item] = {}
        self.store = self._open()

    def _open(self) -> ContextReferenceStore:
        return ContextReferenceStore(
            cache_size=2, use_disk_storage=True, disk_path=self.path, clock=self.clock
        )

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def _purge(self) -> None:
        now = self.clock.now()
        for ref in [r for r, item in self.items.items() if _expired(item, now)]:
            del self.items[ref]

    @initialize()
    def start(self) -> None:
        assert len(self.store) == 0

    @rule(target=refs, content=contents, ttl=ttls)
    def store(self, content: Any, ttl: float | None) -> str:
        self._purge()
        ref = self.store.store(content, {"ttl": ttl})
        expires_at = None if ttl is None else self.clock.now() + ttl
        item = self.items.get(ref)
        if item is None:
            self.items[ref] = Item(content, 1, expires_at, 0)
        else:
            item.holders += 1
            item.expires_at = _later(item.expires_at, expires_at)
        return ref

    @rule(ref=refs)
    def retrieve(self, ref: str) -> None:
        item = self.items.get(ref)
        if item is None or _expired(item, self.clock.now()):
            self.items.pop(ref, None)
            with pytest.raises((ContextNotFoundError, ContextExpiredError)):
                self.store.retrieve(ref)
        else:
            assert self.store.retrieve(ref) == item.content

    @rule(ref=refs)
    def delete(self, ref: str) -> None:
        self._purge()
        item = self.items.get(ref)
        if item is None:
            return
        item.holders -= 1
        if item.holders == 0:
            del self.items[ref]
        assert self.store.delete(ref) is (item.holders == 0)

    @rule(seconds=st.sampled_from([3.0, 10.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: bool(self.items))
    @rule()
    def restart(self) -> None:
        self.store.close()
        self.store = self._open()
        for ref, item in self.items.items():
            if not _expired(item, self.clock.now()):
                assert self.store.get_metadata(ref).holders == item.holders

    @invariant()
    def everything_is_there(self) -> None:
        self._purge()
        assert len(self.store) == len(self.items)
        assert self.store.get_cache_stats()["memory_entries"] <= 2


TestLRUStore = LRUStoreMachine.TestCase
TestLRUStore.settings = settings(max_examples=200, stateful_step_count=40)
TestDiskStore = DiskStoreMachine.TestCase
TestDiskStore.settings = settings(max_examples=40, stateful_step_count=25)
