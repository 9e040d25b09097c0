"""Cached responses of read-only actions, kept in the Context Reference Store.

Caching is opt-in per action: only the caller knows how stale a repository's issue list may be,
and a side-effecting action must never be answered from a cache (the adapter refuses to enable
one). Entries are keyed by app, action, user and the parameters in canonical JSON (key order and
whitespace do not matter), so two users never see each other's data. Values live in the store —
compressed, deduplicated, and handed back as fresh copies, so a caller mutating a cached result
cannot change what the next caller gets. Expiry runs on the crs clock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crs._options import require_positive_int, require_seconds
from crs.clock import Clock, resolve_clock
from crs.errors import ConfigError, ContentTypeError, ContextLookupError
from crs.store import ContextReferenceStore

__all__ = ["CacheEntry", "ResponseCache"]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """What the cache knows about one cached response (given to invalidation predicates)."""

    app: str
    action: str
    user_id: str
    params: Mapping[str, Any]
    created_at: float
    expires_at: float
    ref: str


class ResponseCache:
    """Opt-in, per-action response cache with TTLs on the clock and hit/miss statistics.

    Args:
        actions: the actions to cache, as action names (the backend's qualified names, e.g.
            ``"GITHUB_LIST_REPOSITORY_ISSUES"``) mapped to a TTL in seconds, or an iterable of
            names cached for ``ttl``. More can be enabled later with :meth:`enable`.
        ttl: default TTL in seconds.
        max_entries: entries kept at most; the least recently used goes first.
        clock: time source; defaults to :func:`crs.clock.get_clock` at each use.

    The cache is attached to a store by the adapter that uses it (one adapter per cache).
    """

    def __init__(
        self,
        actions: Mapping[str, float] | Iterable[str] = (),
        *,
        ttl: float = 300.0,
        max_entries: int = 1024,
        clock: Clock | None = None,
    ) -> None:
        self._ttl = require_seconds(ttl, "ttl", allow_zero=False, finite=True)
        self._max_entries = require_positive_int(max_entries, "max_entries")
        self._clock = clock
        self._lock = threading.Lock()
        self._store: ContextReferenceStore | None = None
        self._ttls: dict[str, float] = {}
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._hits = self._misses = self._expired = self._evicted = self._invalidated = 0
        self._unstorable = 0
        items = actions.items() if isinstance(actions, Mapping) else ((a, ttl) for a in actions)
        for action, seconds in items:
            self.enable(action, seconds)

    # -- configuration ------------------------------------------------------------------------

    def enable(self, action: str, ttl: float | None = None) -> None:
        """Cache ``action`` for ``ttl`` seconds (default: the cache's ``ttl``)."""
        if not isinstance(action, str) or not action:
            raise ConfigError(f"a cached action must be a non-empty name, not {action!r}")
        seconds = (
            self._ttl
            if ttl is None
            else require_seconds(ttl, f"ttl of {action}", allow_zero=False, finite=True)
        )
        with self._lock:
            self._ttls[action] = seconds

    def disable(self, action: str) -> int:
        """Stop caching ``action``; its entries are dropped. Returns how many."""
        with self._lock:
            self._ttls.pop(action, None)
        return self.invalidate(action=action)

    def caches(self, action: str) -> bool:
        return action in self._ttls

    @property
    def actions(self) -> dict[str, float]:
        """Cached actions and their TTLs (a copy)."""
        with self._lock:
            return dict(self._ttls)

    def attach(self, store: ContextReferenceStore) -> None:
        """Keep values in ``store`` (called by the adapter; a cache serves one store)."""
        if self._store is not None and self._store is not store:
            raise ConfigError(
                "this ResponseCache already serves another store",
                hint="give each ComposioAdapter its own ResponseCache",
            )
        self._store = store

    # -- lookups ------------------------------------------------------------------------------

    def get(self, app: str, action: str, user_id: str, params: Mapping[str, Any]) -> Any:
        """The cached data, or :data:`MISS` (counted) when there is none that is still fresh."""
        key = _key(app, action, user_id, params)
        if key is None:
            return MISS
        store = self._attached()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at <= self._now():
                self._drop(key, entry)
                self._expired += 1
                entry = None
            if entry is None:
                self._misses += 1
                return MISS
            self._entries.move_to_end(key)
        try:
            value = store.retrieve(entry.ref)
        except ContextLookupError:  # evicted from a small memory-only store: just a miss
            with self._lock:
                if self._entries.get(key) is entry:
                    self._drop(key, entry)
                self._misses += 1
            return MISS
        with self._lock:
            self._hits += 1
        return value

    def put(
        self, app: str, action: str, user_id: str, params: Mapping[str, Any], data: Any
    ) -> bool:
        """Cache ``data`` if ``action`` is enabled and it can be stored; returns whether it was."""
        ttl = self._ttls.get(action)
        key = _key(app, action, user_id, params)
        if ttl is None or key is None:
            return False
        store = self._attached()
        try:
            ref = store.store(data, {"ttl": ttl, "content_type": "application/vnd.crs.cached"})
        except ContentTypeError:  # not JSON / text / bytes: serve it fresh every time
            with self._lock:
                self._unstorable += 1
            return False
        now = self._now()
        entry = CacheEntry(app, action, user_id, dict(params), now, now + ttl, ref)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                _release(store, old.ref)
            self._entries[key] = entry
            while len(self._entries) > self._max_entries:
                oldest_key, oldest = next(iter(self._entries.items()))
                self._drop(oldest_key, oldest)
                self._evicted += 1
        return True

    # -- invalidation -------------------------------------------------------------------------

    def invalidate(
        self,
        *,
        app: str | None = None,
        action: str | None = None,
        user_id: str | None = None,
        predicate: Callable[[CacheEntry], bool] | None = None,
    ) -> int:
        """Drop the entries matching every given filter (none given: all); returns how many."""
        with self._lock:
            doomed = [
                (key, entry)
                for key, entry in self._entries.items()
                if (app is None or entry.app == app)
                and (action is None or entry.action == action)
                and (user_id is None or entry.user_id == user_id)
                and (predicate is None or predicate(entry))
            ]
            for key, entry in doomed:
                self._drop(key, entry)
            self._invalidated += len(doomed)
        return len(doomed)

    def entries(self) -> list[CacheEntry]:
        """The current entries, least recently used first (expired ones included until read)."""
        with self._lock:
            return list(self._entries.values())

    # -- statistics ---------------------------------------------------------------------------

    @property
    def hit_rate(self) -> float:
        with self._lock:
            lookups = self._hits + self._misses
            return self._hits / lookups if lookups else 0.0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            lookups = self._hits + self._misses
            return {
                "entries": len(self._entries),
                "hits": self._hits,
                "misses": self._misses,
                "hit_rate": self._hits / lookups if lookups else 0.0,
                "expired": self._expired,
                "evicted": self._evicted,
                "invalidated": self._invalidated,
                "unstorable": self._unstorable,
                "actions": dict(self._ttls),
            }

    def __repr__(self) -> str:
        return f"ResponseCache(actions={sorted(self._ttls)}, entries={len(self._entries)})"

    # -- internals ----------------------------------------------------------------------------

    def _attached(self) -> ContextReferenceStore:
        if self._store is None:
            raise ConfigError(
                "this ResponseCache is not attached to a store",
                hint="pass it to ComposioAdapter(cache=...), which attaches it",
            )
        return self._store

    def _drop(self, key: str, entry: CacheEntry) -> None:
        del self._entries[key]
        if self._store is not None:
            _release(self._store, entry.ref)

    def _now(self) -> float:
        return resolve_clock(self._clock).now()


class _Miss:
    """The one value :meth:`ResponseCache.get` returns for "not cached" (``None`` may be data)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISS"


MISS: Any = _Miss()


def _release(store: ContextReferenceStore, ref: str) -> None:
    """Give up this entry's hold on ``ref``; identical data cached elsewhere keeps its own."""
    with contextlib.suppress(ContextLookupError):  # already expired or evicted
        store.delete(ref)


def _key(app: str, action: str, user_id: str, params: Mapping[str, Any]) -> str | None:
    """A digest of the canonical request, or ``None`` when the params are not plain JSON."""
    try:
        canonical = json.dumps(
            [app, action, user_id, params],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(canonical.encode()).hexdigest()
