"""The Context Reference Store: store large contexts once, pass short references around.

A reference is ``"ctx_"`` plus the hex of a 128-bit BLAKE2b fingerprint of the content, so
identical content maps to the same reference through a single dictionary lookup (O(1), however
many items are stored). The fingerprint is only a way in: before reusing an entry the stored bytes
are compared with the new ones, and on a (practically impossible) collision the next free
reference (fingerprint plus a suffix byte) is used instead. Nothing is ever scanned.

Layout of the state, chosen so the common item (no ttl, default priority, no tags) costs one
ordered-dict slot beyond its bytes:

* :class:`~crs.store._policy.MemoryTier` — blobs by priority, in recency order.
* ``_holders`` / ``_expiry`` / ``_extras`` — side tables holding only the items that need them.
* ``_expiry_heap`` — (expires_at, key), lazily invalidated, for O(log n) expiry sweeps.
* ``_gone`` — a bounded record of evicted and expired keys, so a lookup can say *why* content
  is missing instead of a bare "not found". Each record keeps a seal (a second, independent hash
  of the item's bytes), so content stored again revives its old reference, while different
  content that happens to share the fingerprint can never take that reference over.
* :class:`~crs.store._disk.DiskTier` — optional, written through, so eviction never loses data.
* :class:`~crs.store._redis.RedisTier` — optional, *instead of* all of the above: state shared
  with other processes cannot be cached here without going stale, so every operation is
  delegated to it (``_shared``) and the in-process structures stay empty.

One lock guards all of it. Encoding, hashing and compressing happen before taking the lock and
decoding after releasing it, so threads contend only for the index updates.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import heapq
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeVar

from crs._options import require_positive_int
from crs.clock import Clock, resolve_clock
from crs.errors import (
    ConfigError,
    ContextCorruptedError,
    ContextEvictedError,
    ContextExpiredError,
    ContextLookupError,
    ContextNotFoundError,
    CrsError,
    StoreCapacityError,
    StoreClosedError,
)
from crs.store._codec import (
    CompressionAlgorithm,
    Encoded,
    Kind,
    codec_of,
    decode,
    digest_of,
    encode,
    kind_of,
    make_compressor,
    raw_size,
)
from crs.store._disk import DiskRow, DiskTier, EntryState
from crs.store._metadata import (
    ContextMetadata,
    Extras,
    later_expiry,
    merge_extras,
    parse_metadata,
)
from crs.store._policy import EvictionPolicy, MemoryTier, make_policy
from crs.store._redis import RedisTier, extra_matches

__all__ = ["ContextReferenceStore"]

_log = logging.getLogger("crs.store")
_P = ParamSpec("_P")
_T = TypeVar("_T")

REF_PREFIX: Final = "ctx_"
_DIGEST_HEX: Final = 32
_MAX_PROBES: Final = 256
_MIN_TOMBSTONES: Final = 4096
_HEAP_SLACK: Final = 1024
_EVICTED: Final = "evicted"
_EXPIRED: Final = "expired"


class ContextReferenceStore:
    """Content-addressed, deduplicating, thread-safe store for agent contexts.

    Args:
        cache_size: items kept in memory. Without a disk tier this is the store's capacity;
            beyond it items are evicted and their references raise
            :class:`~crs.errors.ContextEvictedError`.
        use_compression: ``False`` is the same as ``compression_algorithm="none"``.
        compression_algorithm: ``"lz4"`` (default), ``"zstd"`` (extra), ``"zlib"`` or
            ``"none"``. Content is compressed only when that makes it smaller.
        eviction_policy: ``"LRU"``, ``"LFU"``, ``"TTL"`` or ``"memory_pressure"`` (see
            :class:`~crs.store.EvictionPolicy`). Higher ``priority`` is always evicted later.
        use_disk_storage: also keep every item in a SQLite disk tier; evicted items are then
            read back from disk transparently. Without ``disk_path`` the tier lives in a
            temporary directory removed by :meth:`close`.
        disk_path: directory of a persistent disk tier; a store opened later on the same path
            finds everything stored before.
        memory_threshold_mb: also evict when the memory tier's stored bytes exceed this.
        clock: time source for ttl; defaults to :func:`crs.clock.get_clock` at each use.
        compression_level: codec-specific level (lz4 1-16 selects high-compression mode).
        redis_url: keep every item in Redis instead (extra ``redis``), e.g.
            ``"redis://127.0.0.1:6379/0"``: every store on the same URL and prefix sees the same
            contexts, across processes and machines. Redis is then the only tier (nothing is
            cached in this process, so ``cache_size`` and ``eviction_policy`` have no effect and
            nothing is evicted by the store); ttl is judged on ``clock`` at every read, with the
            Redis key expiry as cleanup (see :mod:`crs.store._redis`).
        redis_prefix: namespace of the store's keys in that database (default ``"crs:"``);
            stores with different prefixes are independent.
    """

    def __init__(
        self,
        cache_size: int = 10_000,
        use_compression: bool = True,
        compression_algorithm: CompressionAlgorithm | str = CompressionAlgorithm.LZ4,
        eviction_policy: EvictionPolicy | str = EvictionPolicy.LRU,
        use_disk_storage: bool = False,
        disk_path: str | Path | None = None,
        memory_threshold_mb: float | None = None,
        clock: Clock | None = None,
        *,
        compression_level: int | None = None,
        redis_url: str | None = None,
        redis_prefix: str | None = None,
    ) -> None:
        require_positive_int(cache_size, "cache_size")
        self._threshold = _threshold_bytes(memory_threshold_mb)
        algorithm = CompressionAlgorithm.parse(compression_algorithm)
        if not use_compression:
            algorithm = CompressionAlgorithm.NONE
        self._compressor = make_compressor(algorithm, compression_level)
        self._policy_kind = EvictionPolicy.parse(eviction_policy)
        if disk_path is not None and not use_disk_storage:
            raise ConfigError(
                f"disk_path={str(disk_path)!r} was given but use_disk_storage=False",
                hint="pass use_disk_storage=True to keep items on disk",
            )
        _check_redis_options(redis_url, redis_prefix, use_disk_storage, memory_threshold_mb)
        self._cache_size = cache_size
        self._clock = clock
        self._lock = threading.Lock()
        self._tier = MemoryTier()
        self._holders: dict[bytes, int] = {}
        self._expiry: dict[bytes, float] = {}
        self._expiry_heap: list[tuple[float, bytes]] = []
        self._extras: dict[bytes, Extras] = {}
        self._policy = make_policy(self._policy_kind, self._tier, self._expiry.get)
        self._gone: OrderedDict[bytes, tuple[str, bytes]] = OrderedDict()
        self._gone_limit = max(_MIN_TOMBSTONES, 4 * cache_size)
        self._disk = DiskTier(disk_path) if use_disk_storage else None
        self._closed = False
        self._warned_about_dropping = False
        self._stores = self._dedup_hits = 0
        self._hits = self._disk_hits = self._misses = 0
        self._dropped = 0
        self._evictions = {"capacity": 0, "memory": 0, "expired": 0}
        # Seam for tests that need two contents with one fingerprint.
        self._fingerprint: Callable[[Kind, bytes], bytes] = digest_of
        self._shared: RedisTier | None = None
        if redis_url is not None:
            self._shared = RedisTier(
                redis_url,
                "crs:" if redis_prefix is None else redis_prefix,
                compressor=self._compressor,
                # looked up at each call, not bound now: tests replace the seam after __init__
                fingerprint=lambda kind, raw: self._fingerprint(kind, raw),  # noqa: PLW0108
                now=self._now,
            )

    # -- public API ---------------------------------------------------------------------------

    def store(self, content: object, metadata: Mapping[str, Any] | None = None) -> str:
        """Store ``content`` and return its reference.

        Identical content returns the same reference; the metadata of both calls is merged
        (see :mod:`crs.store._metadata`) and the content gains a holder, so an earlier caller's
        reference keeps working until every holder has called :meth:`delete`.

        Raises:
            ContentTypeError: the content would not come back unchanged.
            MetadataError: a metadata field has the wrong type or value.
            StoreCapacityError: the item alone exceeds ``memory_threshold_mb`` and there is no
                disk tier.
        """
        if self._shared is not None:
            self._check_open()
            return REF_PREFIX + self._shared.store(content, metadata).hex()
        request = parse_metadata(metadata)
        encoded = encode(content, self._compressor)
        digest = self._fingerprint(encoded.kind, encoded.raw)
        with self._lock:
            self._check_open()
            now = self._now()
            self._purge_expired(now)
            expires_at = None if request.ttl is None else now + request.ttl
            incoming = EntryState(request.priority, expires_at, 1, request.extras)
            key, row = self._locate(digest, encoded, now)
            if row is not None:
                self._promote(key, row)
            if key in self._tier:
                self._merge(key, self._memory_state(key), incoming)
            elif row is not None:  # too large for the memory tier: it stays on disk
                self._merge(key, row.state, incoming)
            else:
                self._insert(key, encoded.blob, incoming)
            self._stores += 1
        return REF_PREFIX + key.hex()

    def retrieve(self, ref: str) -> Any:
        """The content behind ``ref``: a fresh object each time, equal to what was stored.

        Raises:
            ContextNotFoundError: unknown, deleted or malformed reference.
            ContextEvictedError: evicted, and there is no disk tier to bring it back from.
            ContextExpiredError: its ttl has passed.
        """
        key = _parse_ref(ref)
        if self._shared is not None:
            self._check_open()
            return self._shared.retrieve(key, ref)
        with self._lock:
            self._check_open()
            blob = self._tier.get(key)
            if blob is None:
                try:
                    blob = self._load(key, ref)
                except ContextLookupError:
                    self._misses += 1
                    raise
                self._disk_hits += 1
            else:
                expires_at = self._expiry.get(key)
                if expires_at is not None and expires_at <= self._now():
                    self._expire(key, blob)
                    self._misses += 1
                    raise self._missing(key, ref)
                self._tier.touch(key)
                self._policy.accessed(key)
                self._hits += 1
        return decode(blob, self._compressor)

    def get_metadata(self, ref: str) -> ContextMetadata:
        """What the store knows about ``ref``; does not count as an access for eviction."""
        key = _parse_ref(ref)
        if self._shared is not None:
            self._check_open()
            return self._shared.get_metadata(key, ref)
        with self._lock:
            self._check_open()
            blob = self._tier.get(key)
            if blob is not None:
                state, tier = self._memory_state(key), "memory"
            else:
                row = self._disk.get(key) if self._disk is not None else None
                if row is None:
                    raise self._missing(key, ref)
                blob, state, tier = row.blob, row.state, "disk"
            if state.expires_at is not None and state.expires_at <= self._now():
                self._expire(key, blob)
                raise self._missing(key, ref)
        extras = state.extras or Extras()
        return ContextMetadata(
            ref=REF_PREFIX + key.hex(),
            kind=kind_of(blob).label,
            size=raw_size(blob),
            stored_size=len(blob),
            codec=codec_of(blob).value,
            tier=tier,
            holders=state.holders,
            priority=state.priority,
            expires_at=state.expires_at,
            tags=extras.tags,
            content_type=extras.content_type,
            extra=copy.deepcopy(dict(extras.extra or {})),
        )

    def delete(self, ref: str, *, force: bool = False) -> bool:
        """Release one holder of ``ref``; the content goes when the last holder releases it.

        Returns ``True`` when the content is gone from the store (also for an already evicted or
        expired reference), ``False`` when other holders keep it. ``force=True`` removes it
        regardless of holders.

        Raises:
            ContextNotFoundError: the reference was never issued by this store, or was deleted.
        """
        key = _parse_ref(ref)
        if self._shared is not None:
            self._check_open()
            return self._shared.delete(key, ref, force=force)
        with self._lock:
            self._check_open()
            self._purge_expired(self._now())
            if key in self._tier:
                state = self._memory_state(key)
            else:
                row = self._disk.get(key) if self._disk is not None else None
                if row is None:
                    if self._gone.pop(key, None) is not None:
                        return True
                    raise self._missing(key, ref)
                state = row.state
            if state.holders > 1 and not force:
                released = EntryState(
                    state.priority, state.expires_at, state.holders - 1, state.extras
                )
                if self._disk is not None:
                    self._disk.update(key, released)
                if key in self._tier:
                    self._set_holders(key, released.holders)
                return False
            self._remove(key)
            return True

    def purge_expired(self) -> int:
        """Remove every expired item now (expiry is otherwise lazy); returns how many."""
        if self._shared is not None:
            self._check_open()
            return self._shared.purge_expired()
        with self._lock:
            self._check_open()
            return self._purge_expired(self._now())

    def find(self, content: object) -> str | None:
        """The reference ``content`` has in the store now, or ``None`` — without storing it.

        No holder is taken and nothing is written, which is what lets named state (the head
        slots behind checkpoints and indexes) be looked up while another process may be creating
        it: a store-then-delete probe could delete that process's first write.
        """
        if self._shared is not None:
            self._check_open()
            found = self._shared.find(content)
            return None if found is None else REF_PREFIX + found.hex()
        encoded = encode(content, self._compressor)
        digest = self._fingerprint(encoded.kind, encoded.raw)
        with self._lock:
            self._check_open()
            now = self._now()
            self._purge_expired(now)
            key, row = self._locate(digest, encoded, now)
            if key in self._tier or row is not None:
                return REF_PREFIX + key.hex()
        return None

    def swap_metadata(
        self,
        content: object,
        metadata: Mapping[str, Any] | None,
        *,
        expect: Mapping[str, Any],
    ) -> str | None:
        """Compare-and-swap: replace the metadata of ``content``'s item if it is as expected.

        Each ``expect`` key must have that value in the item's extra metadata (a missing key, or
        a missing item, reads as ``None``); then the item gets exactly ``metadata`` (no merge),
        keeping its holders, or is created with one holder. The check and the write are one
        atomic step, also across processes sharing a Redis tier, so two writers expecting the
        same old value cannot both win: this is what makes a head slot update safe.

        Returns the reference, or ``None`` (and changes nothing) when the expectation failed.
        """
        if not isinstance(expect, Mapping):
            raise TypeError(
                f"expect must be a mapping of extra fields, got {type(expect).__name__}"
            )
        if self._shared is not None:
            self._check_open()
            key = self._shared.swap(content, metadata, expect)
            return None if key is None else REF_PREFIX + key.hex()
        request = parse_metadata(metadata)
        encoded = encode(content, self._compressor)
        digest = self._fingerprint(encoded.kind, encoded.raw)
        with self._lock:
            self._check_open()
            now = self._now()
            self._purge_expired(now)
            key, row = self._locate(digest, encoded, now)
            in_memory = key in self._tier
            current = self._memory_state(key) if in_memory else row.state if row else None
            if not extra_matches(current, expect):
                return None
            expires_at = None if request.ttl is None else now + request.ttl
            holders = 1 if current is None else current.holders
            new = EntryState(request.priority, expires_at, holders, request.extras)
            if current is None:
                self._insert(key, encoded.blob, new)
            else:
                if self._disk is not None:
                    self._disk.update(key, new)
                if in_memory:
                    self._apply(key, current, new)
                    if new.extras is None:
                        self._extras.pop(key, None)
                    self._policy.changed(key)
        return REF_PREFIX + key.hex()

    def get_cache_stats(self) -> dict[str, Any]:
        """Counters for dashboards and tests; reading them never changes the store."""
        if self._shared is not None:
            return self._shared_stats()
        with self._lock:
            disk = self._disk
            raw = disk.raw_bytes if disk else self._tier.raw_bytes
            stored = disk.stored_bytes if disk else self._tier.stored_bytes
            lookups = self._hits + self._disk_hits + self._misses
            return {
                "entries": disk.count if disk else self._tier.count,
                "memory_entries": self._tier.count,
                "disk_entries": disk.count if disk else 0,
                "stores": self._stores,
                "dedup_hits": self._dedup_hits,
                "hits": self._hits,
                "disk_hits": self._disk_hits,
                "misses": self._misses,
                "hit_rate": self._hits / lookups if lookups else 0.0,
                "evictions": dict(self._evictions),
                "dropped": self._dropped,
                "bytes_raw": raw,
                "bytes_stored": stored,
                "memory_bytes": self._tier.stored_bytes,
                "compression_ratio": raw / stored if stored else 1.0,
                "eviction_policy": self._policy_kind.value,
                "compression_algorithm": self._compressor.algorithm.value,
            }

    def close(self) -> None:
        """Release memory and the disk tier (a temporary one is deleted). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._tier = MemoryTier()
            self._holders.clear()
            self._expiry.clear()
            self._expiry_heap.clear()
            self._extras.clear()
            self._gone.clear()
            if self._disk is not None:
                self._disk.close()
            if self._shared is not None:
                self._shared.close()

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, str):
            return False
        try:
            key = _parse_ref(ref)
        except ContextNotFoundError:
            return False
        if self._shared is not None:
            self._check_open()
            return self._shared.contains(key)
        with self._lock:
            self._check_open()
            if key in self._tier:
                expires_at = self._expiry.get(key)
            elif self._disk is not None and (row := self._disk.get(key)) is not None:
                expires_at = row.state.expires_at
            else:
                return False
            return expires_at is None or expires_at > self._now()

    def __len__(self) -> int:
        """Live items (in both tiers); expired ones are swept first so the count is exact."""
        if self._shared is not None:
            self._check_open()
            self._shared.purge_expired()
            return self._shared.count()
        with self._lock:
            self._check_open()
            self._purge_expired(self._now())
            return self._disk.count if self._disk is not None else self._tier.count

    def __enter__(self) -> ContextReferenceStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "closed" if self._closed else f"{self._tier.count} in memory"
        disk = "" if self._disk is None else f", disk={str(self._disk.path)!r}"
        if self._shared is not None:
            disk = f", redis={self._shared.url!r}, prefix={self._shared.prefix!r}"
        return (
            f"ContextReferenceStore({where}, cache_size={self._cache_size}, "
            f"policy={self._policy_kind.value}, compression={self._compressor.algorithm.value}"
            f"{disk})"
        )

    # -- async twin -----------------------------------------------------------------------------
    # In-memory operations are microseconds of CPU, cheaper than a thread hop, so they run
    # inline; with a disk or Redis tier they may wait on I/O and go to a worker thread instead.

    async def astore(self, content: object, metadata: Mapping[str, Any] | None = None) -> str:
        return await self._offload(self.store, content, metadata)

    async def aretrieve(self, ref: str) -> Any:
        return await self._offload(self.retrieve, ref)

    async def aget_metadata(self, ref: str) -> ContextMetadata:
        return await self._offload(self.get_metadata, ref)

    async def adelete(self, ref: str, *, force: bool = False) -> bool:
        return await self._offload(self.delete, ref, force=force)

    async def apurge_expired(self) -> int:
        return await self._offload(self.purge_expired)

    async def aclose(self) -> None:
        await self._offload(self.close)

    async def __aenter__(self) -> ContextReferenceStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _offload(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self._disk is None and self._shared is None:
            return fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _shared_stats(self) -> dict[str, Any]:
        """The stats of a Redis-backed store: the same keys, counted in Redis and here."""
        shared = self._shared
        assert shared is not None
        self._check_open()
        entries = shared.count()
        raw, stored = shared.byte_totals()
        lookups = shared.hits + shared.misses
        return {
            "entries": entries,
            "memory_entries": 0,
            "disk_entries": 0,
            "stores": shared.stores,
            "dedup_hits": shared.dedup_hits,
            "hits": shared.hits,
            "disk_hits": 0,
            "misses": shared.misses,
            "hit_rate": shared.hits / lookups if lookups else 0.0,
            "evictions": {"capacity": 0, "memory": 0, "expired": shared.expired},
            "dropped": 0,
            "bytes_raw": raw,
            "bytes_stored": stored,
            "memory_bytes": 0,
            "compression_ratio": raw / stored if stored else 1.0,
            "eviction_policy": self._policy_kind.value,
            "compression_algorithm": self._compressor.algorithm.value,
        }

    # -- internals (all called with the lock held) ---------------------------------------------

    def _now(self) -> float:
        return resolve_clock(self._clock).now()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(
                "the ContextReferenceStore is closed",
                hint="create a new store, or reopen its disk_path",
            )

    def _locate(self, digest: bytes, encoded: Encoded, now: float) -> tuple[bytes, DiskRow | None]:
        """The key for ``encoded``: where identical content lives already, or the first free one.

        Returns the disk row when the content exists only on disk.
        """
        for probe in range(_MAX_PROBES):
            key = digest if probe == 0 else digest + bytes((probe,))
            blob = self._tier.get(key)
            row = None
            if blob is None and self._disk is not None:
                row = self._disk.get(key)
                if row is not None and _expired(row.state, now):
                    self._expire(key, row.blob)
                    row = None
                blob = row.blob if row is not None else None
            if blob is None:
                gone = self._gone.get(key)
                if gone is not None and gone[1] != _seal(encoded.blob):
                    continue  # the old reference of other content: never hand it out again
                return key, None
            if kind_of(blob) is encoded.kind and self._compressor.unpack_raw(blob) == encoded.raw:
                return key, row
        raise CrsError(f"{_MAX_PROBES} different contents share the fingerprint {digest.hex()}")

    def _insert(self, key: bytes, blob: bytes, state: EntryState) -> None:
        oversized = self._threshold is not None and len(blob) > self._threshold
        if oversized and self._disk is None:
            raise StoreCapacityError(
                f"an item of {len(blob)} stored bytes exceeds memory_threshold_mb "
                f"({self._threshold} bytes) and there is no disk tier",
                hint="raise memory_threshold_mb or pass use_disk_storage=True",
            )
        if self._disk is not None:
            self._disk.insert(key, blob, state)  # first: a failed write leaves memory unchanged
        self._gone.pop(key, None)
        if not oversized:
            self._admit(key, blob, state)

    def _admit(self, key: bytes, blob: bytes, state: EntryState) -> None:
        """Put an item into the memory tier, then evict others until the limits hold."""
        self._tier.put(key, blob, state.priority)
        self._apply(key, EntryState(priority=state.priority), state)
        self._policy.added(key)
        while self._tier.count > self._cache_size or (
            self._threshold is not None and self._tier.stored_bytes > self._threshold
        ):
            victim = self._policy.victim(exclude=key)
            if victim is None:
                break
            self._evict(victim, "capacity" if self._tier.count > self._cache_size else "memory")

    def _promote(self, key: bytes, row: DiskRow) -> None:
        if self._threshold is None or len(row.blob) <= self._threshold:
            self._admit(key, row.blob, row.state)

    def _merge(self, key: bytes, old: EntryState, incoming: EntryState) -> None:
        """Fold a duplicate store into the existing item (metadata rules in ``_metadata``)."""
        self._dedup_hits += 1
        new = EntryState(
            max(old.priority, incoming.priority),
            later_expiry(old.expires_at, incoming.expires_at),
            old.holders + 1,
            merge_extras(old.extras, incoming.extras),
        )
        if self._disk is not None:
            self._disk.update(key, new)
        if key in self._tier:
            self._apply(key, old, new)
            if new.priority != old.priority or new.expires_at != old.expires_at:
                self._policy.changed(key)
            self._tier.touch(key)
            self._policy.accessed(key)

    def _memory_state(self, key: bytes) -> EntryState:
        return EntryState(
            self._tier.priority(key),
            self._expiry.get(key),
            self._holders.get(key, 1),
            self._extras.get(key),
        )

    def _apply(self, key: bytes, old: EntryState, new: EntryState) -> None:
        """Write ``new`` into the side tables of a memory-tier item currently at ``old``."""
        if new.priority != old.priority:
            self._tier.reprioritize(key, new.priority)
        if new.expires_at != old.expires_at:
            if new.expires_at is None:
                del self._expiry[key]
            else:
                self._expiry[key] = new.expires_at
                heapq.heappush(self._expiry_heap, (new.expires_at, key))
                if len(self._expiry_heap) > 2 * len(self._expiry) + _HEAP_SLACK:
                    self._expiry_heap = [(t, k) for k, t in self._expiry.items()]
                    heapq.heapify(self._expiry_heap)
        self._set_holders(key, new.holders)
        if new.extras is not None:
            self._extras[key] = new.extras

    def _set_holders(self, key: bytes, holders: int) -> None:
        if holders > 1:
            self._holders[key] = holders
        else:
            self._holders.pop(key, None)

    def _load(self, key: bytes, ref: str) -> bytes:
        """Read an item that is not in memory from the disk tier, checking it is intact."""
        disk = self._disk
        row = disk.get(key) if disk is not None else None
        if disk is None or row is None:
            raise self._missing(key, ref)
        if _expired(row.state, self._now()):
            self._expire(key, row.blob)
            raise self._missing(key, ref)
        try:
            raw = self._compressor.unpack_raw(row.blob)
            intact = self._fingerprint(kind_of(row.blob), raw) == key[:16]
        except Exception:  # any decoding failure means the bytes are damaged
            intact = False
        if not intact:
            raise ContextCorruptedError(
                f"{ref} is damaged on disk: its bytes no longer match its fingerprint",
                ref=ref,
                hint=f"the disk tier at {disk.path} was modified outside the store; delete the "
                "reference and store the content again",
            )
        self._promote(key, row)
        return row.blob

    def _missing(self, key: bytes, ref: str) -> ContextLookupError:
        cause = self._gone.get(key, ("", b""))[0]
        if cause == _EVICTED:
            return ContextEvictedError(
                f"{ref} was evicted to make room (cache_size={self._cache_size})",
                ref=ref,
                hint="raise cache_size, give the content a higher priority, or pass "
                "use_disk_storage=True so evicted items are kept on disk",
            )
        if cause == _EXPIRED:
            return ContextExpiredError(f"{ref} expired (its ttl has passed)", ref=ref)
        return ContextNotFoundError(
            f"{ref} is not in this store",
            ref=ref,
            hint="it was deleted, never stored here, or evicted/expired too long ago to remember",
        )

    def _evict(self, key: bytes, cause: str) -> None:
        self._evictions[cause] += 1
        blob = self._forget(key)
        if self._disk is None and blob is not None:
            self._dropped += 1
            self._remember(key, _EVICTED, blob)
            if not self._warned_about_dropping:
                self._warned_about_dropping = True
                _log.warning(
                    "ContextReferenceStore is evicting items with no disk tier: their "
                    "references now raise ContextEvictedError (cache_size=%d)",
                    self._cache_size,
                )

    def _expire(self, key: bytes, blob: bytes) -> None:
        self._evictions["expired"] += 1
        self._remove(key)
        self._remember(key, _EXPIRED, blob)

    def _remove(self, key: bytes) -> None:
        """Remove an item from both tiers (disk first, so a failed write changes nothing)."""
        if self._disk is not None:
            self._disk.delete(key)
        self._forget(key)
        self._gone.pop(key, None)

    def _forget(self, key: bytes) -> bytes | None:
        """Drop an item from the memory tier and side tables; returns its blob if it was there."""
        blob = self._tier.pop(key)
        if blob is not None:
            self._policy.removed(key)
        self._holders.pop(key, None)
        self._expiry.pop(key, None)
        self._extras.pop(key, None)
        return blob

    def _remember(self, key: bytes, cause: str, blob: bytes) -> None:
        self._gone[key] = (cause, _seal(blob))
        self._gone.move_to_end(key)
        if len(self._gone) > self._gone_limit:
            self._gone.popitem(last=False)

    def _purge_expired(self, now: float) -> int:
        purged = 0
        heap = self._expiry_heap
        while heap and heap[0][0] <= now:
            expires_at, key = heapq.heappop(heap)
            blob = self._tier.get(key)
            if blob is not None and self._expiry.get(key) == expires_at:
                self._expire(key, blob)
                purged += 1
        if self._disk is not None:
            for key, blob in self._disk.purge_expired(now):
                self._evictions["expired"] += 1
                self._forget(key)
                self._remember(key, _EXPIRED, blob)
                purged += 1
        return purged


def _seal(blob: bytes) -> bytes:
    """A second fingerprint, independent of the reference, to recognise evicted content."""
    return hashlib.blake2b(blob, digest_size=16, person=b"crs-tombstone").digest()


def _expired(state: EntryState, now: float) -> bool:
    return state.expires_at is not None and state.expires_at <= now


def _check_redis_options(
    redis_url: str | None,
    redis_prefix: str | None,
    use_disk_storage: bool,
    memory_threshold_mb: float | None,
) -> None:
    """Refuse combinations that would silently not do what they say (Redis is the only tier)."""
    if redis_url is None:
        if redis_prefix is not None:
            raise ConfigError(
                f"redis_prefix={redis_prefix!r} was given without redis_url",
                hint="pass redis_url='redis://host:port/db' to keep items in Redis",
            )
        return
    if use_disk_storage:
        raise ConfigError(
            "use_disk_storage=True and redis_url were both given; a store has one persistent tier",
            hint="drop use_disk_storage: with redis_url every item already lives in Redis",
        )
    if memory_threshold_mb is not None:
        raise ConfigError(
            f"memory_threshold_mb={memory_threshold_mb!r} limits the in-process memory tier, "
            "which a store with redis_url does not have",
            hint="limit Redis itself (maxmemory, with maxmemory-policy noeviction)",
        )


def _threshold_bytes(memory_threshold_mb: float | None) -> int | None:
    if memory_threshold_mb is None:
        return None
    if (
        isinstance(memory_threshold_mb, bool)
        or not isinstance(memory_threshold_mb, (int, float))
        or not math.isfinite(memory_threshold_mb)
        or memory_threshold_mb <= 0
    ):
        raise ConfigError(
            f"memory_threshold_mb must be a positive number of megabytes, got "
            f"{memory_threshold_mb!r}",
            hint="omit it to limit the memory tier by cache_size alone",
        )
    return int(memory_threshold_mb * 1024 * 1024)


def _parse_ref(ref: str) -> bytes:
    if not isinstance(ref, str):
        raise TypeError(f"a reference is a str returned by store(), got {type(ref).__name__}")
    hex_part = ref[len(REF_PREFIX) :]
    if ref.startswith(REF_PREFIX) and len(hex_part) in (_DIGEST_HEX, _DIGEST_HEX + 2):
        try:
            return bytes.fromhex(hex_part)
        except ValueError:
            pass
    raise ContextNotFoundError(
        f"{ref!r} is not a reference this store issues",
        ref=ref,
        hint=f"references look like {REF_PREFIX}<32 hex digits> and come from store()",
    )
