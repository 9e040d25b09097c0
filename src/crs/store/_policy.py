"""Which item leaves the memory tier when it is full.

Every policy evicts lower ``priority`` first and only then applies its own order, so important
content outlives everything of lower priority regardless of policy.

* ``LRU`` — least recently stored or retrieved first. The memory tier keeps its items in recency
  order already, so this policy costs nothing extra per item: O(1) per operation.
* ``LFU`` — fewest retrievals first, oldest first among equals.
* ``TTL`` — soonest to expire first; items without a ttl go last.
* ``memory_pressure`` — largest stored size first: each eviction frees the most bytes.

The last three keep a binary heap with lazy invalidation: when an item's rank changes a new heap
entry is pushed, and the policy remembers which entry is current, so stale ones are skipped when
they surface. That is O(log n) per change, and the heap is rebuilt when stale entries outnumber
live ones, so it never grows without bound.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Final, Protocol

from crs._options import parse_choice
from crs.store._codec import raw_size

__all__ = ["EvictionPolicy", "MemoryTier", "Policy", "make_policy"]


class EvictionPolicy(StrEnum):
    """How the memory tier picks what to evict."""

    LRU = "LRU"
    LFU = "LFU"
    TTL = "TTL"
    MEMORY_PRESSURE = "memory_pressure"

    @classmethod
    def parse(cls, value: EvictionPolicy | str) -> EvictionPolicy:
        return parse_choice(cls, value, "eviction_policy")


class MemoryTier:
    """Blobs in memory, grouped by priority, each group in recency order (oldest first).

    Grouping by priority makes "lowest priority first" free for every policy, and the recency
    order inside a group *is* the LRU order. Only items with a non-zero priority pay for an entry
    in ``_priority``; the common case costs one ordered-dict slot per item.
    """

    def __init__(self) -> None:
        self._levels: dict[int, OrderedDict[bytes, bytes]] = {0: OrderedDict()}
        self._priority: dict[bytes, int] = {}
        self.count = 0
        self.stored_bytes = 0
        self.raw_bytes = 0

    def get(self, key: bytes) -> bytes | None:
        return self._levels[self._priority.get(key, 0)].get(key)

    def __contains__(self, key: bytes) -> bool:
        return key in self._levels[self._priority.get(key, 0)]

    def priority(self, key: bytes) -> int:
        return self._priority.get(key, 0)

    def put(self, key: bytes, blob: bytes, priority: int) -> None:
        """Add a new item as the most recent of its priority group."""
        level = self._levels.get(priority)
        if level is None:
            level = self._levels[priority] = OrderedDict()
        level[key] = blob
        if priority:
            self._priority[key] = priority
        self.count += 1
        self.stored_bytes += len(blob)
        self.raw_bytes += raw_size(blob)

    def touch(self, key: bytes) -> None:
        self._levels[self._priority.get(key, 0)].move_to_end(key)

    def pop(self, key: bytes) -> bytes | None:
        priority = self._priority.pop(key, 0)
        level = self._levels[priority]
        blob = level.pop(key, None)
        if blob is None:
            return None
        if not level and priority:
            del self._levels[priority]
        self.count -= 1
        self.stored_bytes -= len(blob)
        self.raw_bytes -= raw_size(blob)
        return blob

    def reprioritize(self, key: bytes, priority: int) -> None:
        blob = self.pop(key)
        if blob is not None:
            self.put(key, blob, priority)

    def in_eviction_order(self) -> Iterator[bytes]:
        """Keys lowest priority first, least recently used first within a priority."""
        for priority in sorted(self._levels):
            yield from self._levels[priority]


class Policy(Protocol):
    """Bookkeeping hooks the store calls; ``victim`` names the next item to evict."""

    def added(self, key: bytes) -> None: ...

    def accessed(self, key: bytes) -> None: ...

    def changed(self, key: bytes) -> None: ...

    def removed(self, key: bytes) -> None: ...

    def victim(self, exclude: bytes) -> bytes | None: ...


class _LRU:
    """Recency order is kept by :class:`MemoryTier` itself; nothing to track here."""

    def __init__(self, tier: MemoryTier) -> None:
        self._tier = tier

    def added(self, key: bytes) -> None:
        pass

    def accessed(self, key: bytes) -> None:
        pass

    def changed(self, key: bytes) -> None:
        pass

    def removed(self, key: bytes) -> None:
        pass

    def victim(self, exclude: bytes) -> bytes | None:
        for key in self._tier.in_eviction_order():
            if key != exclude:
                return key
        return None


_Rank = tuple[int, float, int, bytes]  # (priority, policy order, tie-break, key)
_COMPACT_SLACK: Final = 1024


class _HeapPolicy:
    """Evict by ``(priority, order(key))`` using a lazily invalidated min-heap."""

    def __init__(self, tier: MemoryTier, order: Callable[[bytes, _Rank | None], float]) -> None:
        self._tier = tier
        self._order = order
        self._heap: list[_Rank] = []
        self._current: dict[bytes, _Rank] = {}
        self._seq = itertools.count()

    def _install(self, rank: _Rank) -> None:
        self._current[rank[3]] = rank
        heapq.heappush(self._heap, rank)
        if len(self._heap) > 2 * len(self._current) + _COMPACT_SLACK:
            self._heap = list(self._current.values())
            heapq.heapify(self._heap)

    def _push(self, key: bytes) -> None:
        order = self._order(key, self._current.get(key))
        self._install((self._tier.priority(key), order, next(self._seq), key))

    def added(self, key: bytes) -> None:
        self._push(key)

    def accessed(self, key: bytes) -> None:
        pass

    def changed(self, key: bytes) -> None:
        self._push(key)

    def removed(self, key: bytes) -> None:
        self._current.pop(key, None)

    def victim(self, exclude: bytes) -> bytes | None:
        skipped: _Rank | None = None
        found: bytes | None = None
        while self._heap:
            rank = heapq.heappop(self._heap)
            key = rank[3]
            if self._current.get(key) is not rank:
                continue  # stale: the item changed rank or is gone
            if key == exclude:
                skipped = rank
                continue
            found = key
            heapq.heappush(self._heap, rank)  # stays current until the store removes it
            break
        if skipped is not None:
            heapq.heappush(self._heap, skipped)
        return found


class _LFU(_HeapPolicy):
    def __init__(self, tier: MemoryTier) -> None:
        super().__init__(tier, lambda _key, previous: previous[1] if previous else 0)

    def accessed(self, key: bytes) -> None:
        previous = self._current[key]
        self._install((previous[0], previous[1] + 1, next(self._seq), key))


def make_policy(
    policy: EvictionPolicy,
    tier: MemoryTier,
    expiry_of: Callable[[bytes], float | None],
) -> Policy:
    if policy is EvictionPolicy.LRU:
        return _LRU(tier)
    if policy is EvictionPolicy.LFU:
        return _LFU(tier)
    if policy is EvictionPolicy.TTL:

        def soonest_expiry(key: bytes, _previous: _Rank | None) -> float:
            expires_at = expiry_of(key)
            return float("inf") if expires_at is None else expires_at

        return _HeapPolicy(tier, soonest_expiry)

    def largest_first(key: bytes, _previous: _Rank | None) -> float:
        blob = tier.get(key)
        return -float(len(blob)) if blob is not None else 0.0

    return _HeapPolicy(tier, largest_first)
