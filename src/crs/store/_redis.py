"""The Redis tier: every item in one Redis database, shared by every store that points at it.

The disk tier makes a store survive its own restarts; the Redis tier makes the same state visible
to several processes (and machines) at once. That changes one thing about how it plugs in: a
cache in front of shared state would serve content another process has deleted, and would merge
duplicate stores against stale holder counts. So with ``redis_url`` Redis is the single source of
truth and the store keeps no memory tier; every operation is one optimistic Redis transaction
(``WATCH`` the item, read it, ``MULTI``/``EXEC`` the change, start again if another client
changed the item in between). The merge rules, codecs and errors are the in-process ones,
computed in Python, so the semantics cannot drift between tiers.

Keys, all under ``prefix`` (two prefixes on one database are two independent stores):

* ``{prefix}item:{hex}`` — a hash: ``b`` blob, ``p`` priority, ``e`` expires_at (crs clock,
  empty for never), ``h`` holders, ``x`` extras JSON, ``c`` check (a second hash of kind and raw
  bytes, independent of the reference, so duplicates are recognised without fetching the blob
  and colliding fingerprints are never merged).
* ``{prefix}index`` — a sorted set of every item, scored by expires_at (``+inf`` for never):
  ``len()`` and the expiry sweep read it, never a ``SCAN``.
* ``{prefix}sizes`` — hex → ``"raw stored check"``, and ``{prefix}totals`` — byte counters, so
  statistics never scan either.
* ``{prefix}gone:{hex}`` — a tombstone (the check of the expired content) for a day, so any
  process can say *expired* rather than *not found*, as the in-process tombstones do.
* ``{prefix}format`` — the layout version, refused if newer.

TTL rule: the crs clock decides. An item is live while its ``expires_at`` (set on the storing
store's clock, exactly as in the other tiers) is later than the reading store's ``now()``; reads
check it, so a :class:`~crs.clock.VirtualClock` expires items the moment it is advanced past them.
The Redis key expiry is only the cleanup for items nobody reads again: ``PEXPIRE`` of the
remaining ttl plus :data:`EXPIRY_GRACE` seconds, measured by the Redis server in real time from
the last write. It is an upper bound, so on a virtual clock that does not move an item lives at
most ``ttl + EXPIRY_GRACE`` real seconds.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

from crs.errors import (
    ConfigError,
    ContextCorruptedError,
    ContextExpiredError,
    ContextLookupError,
    ContextNotFoundError,
    CrsError,
)
from crs.store._codec import (
    Encoded,
    Kind,
    codec_of,
    decode,
    encode,
    kind_of,
    raw_size,
)
from crs.store._disk import EntryState
from crs.store._metadata import (
    ContextMetadata,
    Extras,
    later_expiry,
    merge_extras,
    parse_metadata,
)

if TYPE_CHECKING:
    import redis
    from redis.client import Pipeline

    from crs.store._codec import _Compressor

__all__ = ["EXPIRY_GRACE", "RedisTier", "StoreRedisError", "redact_url"]

FORMAT_VERSION: Final = b"1"
EXPIRY_GRACE: Final = 60.0
"""Seconds the Redis key outlives its ttl, so the crs clock, not Redis, reports expiry."""
TOMBSTONE_SECONDS: Final = 24 * 3600
CONNECT_TIMEOUT: Final = 5.0
_MAX_PROBES: Final = 256
_SCHEMES: Final = frozenset({"redis", "rediss", "unix"})
_T = TypeVar("_T")


class StoreRedisError(CrsError):
    """The Redis tier could not be reached or used (the URL is named, its password never)."""

    def __init__(self, message: str, *, url: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url


@dataclass(frozen=True, slots=True)
class _Item:
    """One item's hash as read (without the blob unless asked for)."""

    state: EntryState
    check: bytes
    blob: bytes | None = None


class _Next:
    """Sentinel: this probe slot holds other content; try the next one."""


_NEXT: Final = _Next()


class RedisTier:
    """All items of one store in Redis; see the module docstring for the layout and rules.

    Args:
        url: a redis-py URL (``redis://[:password@]host:port/db``, ``rediss://``, ``unix://``).
        prefix: namespace of every key, so stores can share a database.
        compressor: the store's codec for new items (old items decode whatever their codec).
        fingerprint: the store's fingerprint function (read at each call: tests replace it).
        now: the store's clock reading.
    """

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        compressor: _Compressor,
        fingerprint: Callable[[Kind, bytes], bytes],
        now: Callable[[], float],
    ) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in _SCHEMES:
            raise ConfigError(
                f"redis_url must be a redis://, rediss:// or unix:// URL, got "
                f"{redact_url(url) if isinstance(url, str) else url!r}",
                hint="for example redis://127.0.0.1:6379/0",
            )
        if not isinstance(prefix, str):
            raise ConfigError(
                f"redis_prefix must be a str, got {type(prefix).__name__}",
                hint='the default is "crs:"; stores with different prefixes never see each other',
            )
        self.url = redact_url(url)
        self.prefix = prefix
        self._compressor = compressor
        self._fingerprint = fingerprint
        self._now = now
        self._lock = threading.Lock()
        self.stores = self.dedup_hits = self.hits = self.misses = self.expired = 0
        p = prefix.encode()
        self._index, self._sizes, self._totals = p + b"index", p + b"sizes", p + b"totals"
        redis_module = _import_redis()
        try:
            self._client: redis.Redis = redis_module.Redis.from_url(
                url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=30.0
            )
        except ValueError as exc:
            raise ConfigError(
                f"redis_url={self.url!r} is not a URL redis-py understands: {exc}",
                hint="for example redis://127.0.0.1:6379/0",
            ) from None
        try:
            with self._talking("connect to"):
                self._client.set(p + b"format", FORMAT_VERSION, nx=True)
                version = self._client.get(p + b"format")
        except BaseException:
            self._client.close()
            raise
        if version != FORMAT_VERSION:
            self._client.close()
            raise StoreRedisError(
                f"the keys under prefix {prefix!r} at {self.url} have store format version "
                f"{version!r}; this version of pytest-crs reads version {FORMAT_VERSION!r}",
                url=self.url,
                hint="upgrade pytest-crs, or use another redis_prefix",
            )

    # -- operations ---------------------------------------------------------------------------

    def store(self, content: object, metadata: Mapping[str, Any] | None) -> bytes:
        """Store (or merge into) an item; returns its key."""
        request = parse_metadata(metadata)
        encoded = encode(content, self._compressor)
        now = self._now()
        incoming = EntryState(
            request.priority,
            None if request.ttl is None else now + request.ttl,
            1,
            request.extras,
        )

        def merged(current: EntryState | None) -> EntryState:
            if current is None:
                return incoming
            return EntryState(
                max(current.priority, incoming.priority),
                later_expiry(current.expires_at, incoming.expires_at),
                current.holders + 1,
                merge_extras(current.extras, incoming.extras),
            )

        key, existed = self._write(encoded, now, merged)
        with self._lock:
            self.stores += 1
            self.dedup_hits += existed
        return key

    def find(self, content: object) -> bytes | None:
        """The key ``content`` lives under now, or ``None``: a read, no holder taken."""
        encoded = encode(content, self._compressor)
        digest = self._fingerprint(encoded.kind, encoded.raw)
        check = _check_of(encoded.kind, encoded.raw)
        now = self._now()
        for probe in range(_MAX_PROBES):
            key = digest if probe == 0 else digest + bytes((probe,))
            with self._talking("read from"):
                stored, expiry = _bytes_list(self._client.hmget(self._item(key), [b"c", b"e"]))
                gone = None if stored is not None else _opt_bytes(self._client.get(self._gone(key)))
            if stored is None:
                if gone is not None and gone != check:
                    continue  # another content's old slot: store() would probe past it too
                return None
            if stored == check:
                return None if _expired(_float(expiry), now) else key
        return None

    def swap(
        self, content: object, metadata: Mapping[str, Any] | None, expect: Mapping[str, Any]
    ) -> bytes | None:
        """Replace the item's metadata if its ``extra`` matches ``expect``; None on a mismatch."""
        request = parse_metadata(metadata)
        encoded = encode(content, self._compressor)
        now = self._now()
        expires_at = None if request.ttl is None else now + request.ttl

        def replaced(current: EntryState | None) -> EntryState | None:
            if not extra_matches(current, expect):
                return None
            holders = 1 if current is None else current.holders
            return EntryState(request.priority, expires_at, holders, request.extras)

        try:
            key, _existed = self._write(encoded, now, replaced)
        except _Conflict:
            return None
        return key

    def retrieve(self, key: bytes, ref: str) -> Any:
        with self._talking("read from"):
            blob, expires = _bytes_list(self._client.hmget(self._item(key), [b"b", b"e"]))
        if blob is None:
            self._count_miss()
            raise self._missing(key, ref)
        if _expired(_float(expires), self._now()):
            self._expire(key)
            self._count_miss()
            raise ContextExpiredError(f"{ref} expired (its ttl has passed)", ref=ref)
        self._check_intact(key, ref, blob)
        with self._lock:
            self.hits += 1
        return decode(blob, self._compressor)

    def get_metadata(self, key: bytes, ref: str) -> ContextMetadata:
        from crs.store._store import REF_PREFIX

        with self._talking("read from"):
            fields = _bytes_dict(self._client.hgetall(self._item(key)))
        item = _item_of(fields)
        if item.blob is None:
            raise self._missing(key, ref)
        if _expired(item.state.expires_at, self._now()):
            self._expire(key)
            raise ContextExpiredError(f"{ref} expired (its ttl has passed)", ref=ref)
        blob, state = item.blob, item.state
        extras = state.extras or Extras()
        return ContextMetadata(
            ref=REF_PREFIX + key.hex(),
            kind=kind_of(blob).label,
            size=raw_size(blob),
            stored_size=len(blob),
            codec=codec_of(blob).value,
            tier="redis",
            holders=state.holders,
            priority=state.priority,
            expires_at=state.expires_at,
            tags=extras.tags,
            content_type=extras.content_type,
            extra=dict(extras.extra or {}),
        )

    def delete(self, key: bytes, ref: str, *, force: bool) -> bool:
        def change(pipe: Pipeline) -> bool | None:
            item = self._read(pipe, key)
            gone = _opt_bytes(pipe.get(self._gone(key))) if item is None else None
            sizes = _opt_bytes(pipe.hget(self._sizes, key.hex()))
            pipe.multi()
            if item is None:
                if gone is None:
                    return None
                pipe.delete(self._gone(key))
                return True
            state = item.state
            if _expired(state.expires_at, self._now()):
                self._queue_remove(pipe, key, sizes, tombstone=None)
                with self._lock:
                    self.expired += 1
                return True
            if state.holders > 1 and not force:
                pipe.hset(self._item(key), b"h", str(state.holders - 1))
                return False
            self._queue_remove(pipe, key, sizes, tombstone=None)
            return True

        result = self._transaction(change, self._item(key), self._gone(key))
        if result is None:
            raise self._missing(key, ref)
        return result

    def contains(self, key: bytes) -> bool:
        with self._talking("read from"):
            blob_check, expires = _bytes_list(self._client.hmget(self._item(key), [b"c", b"e"]))
        return blob_check is not None and not _expired(_float(expires), self._now())

    def purge_expired(self) -> int:
        """Remove items expired on the crs clock (and index entries Redis already expired)."""
        now = self._now()
        with self._talking("read from"):
            due = _bytes_list(self._client.zrangebyscore(self._index, "-inf", now))
        purged = 0
        for member in filter(None, due):
            key = bytes.fromhex(member.decode())
            purged += self._expire(key, now)
        return purged

    def count(self) -> int:
        with self._talking("read from"):
            return int(self._client.zcard(self._index))

    def byte_totals(self) -> tuple[int, int]:
        with self._talking("read from"):
            raw, stored = _bytes_list(self._client.hmget(self._totals, [b"raw", b"stored"]))
        return int(raw or 0), int(stored or 0)

    def close(self) -> None:
        self._client.close()

    # -- internals ----------------------------------------------------------------------------

    def _item(self, key: bytes) -> bytes:
        return self.prefix.encode() + b"item:" + key.hex().encode()

    def _gone(self, key: bytes) -> bytes:
        return self.prefix.encode() + b"gone:" + key.hex().encode()

    def _count_miss(self) -> None:
        with self._lock:
            self.misses += 1

    @contextmanager
    def _talking(self, action: str) -> Iterator[None]:
        """Turn redis-py's errors into one crs error that names the (redacted) URL."""
        import redis.exceptions

        try:
            yield
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StoreRedisError(
                f"cannot {action} Redis at {self.url}: {exc}",
                url=self.url,
                hint="check that redis-server is running there and that redis_url has the right "
                "host, port, db and password (tests: use the crs_redis_url fixture)",
            ) from None
        except redis.exceptions.RedisError as exc:
            raise StoreRedisError(
                f"Redis at {self.url} refused a store command: {exc}",
                url=self.url,
                hint="the store needs the hash, sorted-set and transaction commands; check the "
                "user's ACL and that nothing else writes under redis_prefix",
            ) from None

    def _transaction(self, change: Callable[[Pipeline], _T], *watch: bytes) -> _T:
        """Run ``change`` as WATCH / read / MULTI / EXEC, again until no watched key moved.

        ``change`` reads with the pipeline in immediate mode, then calls ``pipe.multi()`` and
        queues its writes. Retrying needs no wait: a retry only happens because another client
        made progress.
        """
        import redis.exceptions

        with self._talking("write to"), self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(*watch)  # type: ignore[no-untyped-call]  # redis-py leaves it bare
                    result = change(pipe)
                    pipe.execute()
                except redis.exceptions.WatchError:
                    continue
                return result

    def _read(self, pipe: Pipeline, key: bytes) -> _Item | None:
        names = (b"p", b"e", b"h", b"x", b"c")
        fields = _bytes_list(pipe.hmget(self._item(key), list(names)))
        if fields[4] is None:
            return None
        return _item_of(dict(zip(names, fields, strict=True)))

    def _write(
        self,
        encoded: Encoded,
        now: float,
        decide: Callable[[EntryState | None], EntryState | None],
    ) -> tuple[bytes, bool]:
        """Find the item's slot, let ``decide`` compute its new state, and write it atomically.

        Returns the key and whether the item existed. ``decide`` gets ``None`` for a new item and
        returns ``None`` to change nothing (raised here as :class:`_Conflict`).
        """
        digest = self._fingerprint(encoded.kind, encoded.raw)
        check = _check_of(encoded.kind, encoded.raw)
        for probe in range(_MAX_PROBES):
            key = digest if probe == 0 else digest + bytes((probe,))

            def change(pipe: Pipeline, key: bytes = key) -> tuple[bool, EntryState | None] | _Next:
                item = self._read(pipe, key)
                sizes = _opt_bytes(pipe.hget(self._sizes, key.hex()))
                expired = item is not None and _expired(item.state.expires_at, now)
                live = None if item is None or expired else item
                gone = _opt_bytes(pipe.get(self._gone(key))) if live is None else None
                pipe.multi()
                if expired:
                    assert item is not None
                    self._queue_remove(pipe, key, sizes, tombstone=item.check)
                    with self._lock:
                        self.expired += 1
                    sizes, gone = None, item.check
                if live is not None and live.check != check:
                    return _NEXT
                if live is None and gone is not None and gone != check:
                    return _NEXT  # the old reference of other content: never hand it out again
                current = None if live is None else live.state
                new = decide(current)
                if new is None:
                    return (current is not None, None)
                if live is None:
                    self._queue_insert(pipe, key, encoded.blob, check, sizes, new)
                else:
                    pipe.hset(self._item(key), mapping=_state_fields(new))
                    pipe.zadd(self._index, {key.hex(): _score(new.expires_at)})
                self._queue_expiry(pipe, key, new.expires_at, now)
                return (current is not None, new)

            outcome = self._transaction(change, self._item(key), self._gone(key))
            if isinstance(outcome, _Next):
                continue
            existed, new = outcome
            if new is None:
                raise _Conflict
            return key, existed
        raise CrsError(f"{_MAX_PROBES} different contents share the fingerprint {digest.hex()}")

    def _queue_insert(
        self,
        pipe: Pipeline,
        key: bytes,
        blob: bytes,
        check: bytes,
        old_sizes: bytes | None,
        state: EntryState,
    ) -> None:
        raw, stored = raw_size(blob), len(blob)
        if old_sizes is not None:  # Redis expired the item itself: its bytes are still counted
            old_raw, old_stored, _check = old_sizes.split()
            raw, stored = raw - int(old_raw), stored - int(old_stored)
        item = self._item(key)
        pipe.delete(item)
        pipe.hset(item, mapping={b"b": blob, b"c": check, **_state_fields(state)})
        pipe.zadd(self._index, {key.hex(): _score(state.expires_at)})
        pipe.hset(self._sizes, key.hex(), f"{raw_size(blob)} {len(blob)} {check.hex()}".encode())
        pipe.hincrby(self._totals, "raw", raw)
        pipe.hincrby(self._totals, "stored", stored)
        pipe.delete(self._gone(key))

    def _queue_expiry(
        self, pipe: Pipeline, key: bytes, expires_at: float | None, now: float
    ) -> None:
        if expires_at is None:
            pipe.persist(self._item(key))
        else:
            pipe.pexpire(self._item(key), math.ceil((expires_at - now + EXPIRY_GRACE) * 1000))

    def _queue_remove(
        self, pipe: Pipeline, key: bytes, sizes: bytes | None, *, tombstone: bytes | None
    ) -> None:
        pipe.delete(self._item(key))
        pipe.zrem(self._index, key.hex())
        pipe.hdel(self._sizes, key.hex())
        if sizes is not None:
            raw, stored, _check = sizes.split()
            pipe.hincrby(self._totals, "raw", -int(raw))
            pipe.hincrby(self._totals, "stored", -int(stored))
        if tombstone is None:
            pipe.delete(self._gone(key))
        else:
            pipe.set(self._gone(key), tombstone, ex=TOMBSTONE_SECONDS)

    def _expire(self, key: bytes, now: float | None = None) -> int:
        """Remove ``key`` if it is (still) expired, leaving a tombstone; returns 1 if it was."""
        at = self._now() if now is None else now

        def change(pipe: Pipeline) -> int:
            item = self._read(pipe, key)
            sizes = _opt_bytes(pipe.hget(self._sizes, key.hex()))
            indexed = pipe.zscore(self._index, key.hex())
            pipe.multi()
            if item is None:  # gone already; an index entry left behind means Redis expired it
                if indexed is None or sizes is None:
                    return 0
                check = bytes.fromhex(sizes.split()[2].decode())
                self._queue_remove(pipe, key, sizes, tombstone=check)
                return 1
            if not _expired(item.state.expires_at, at):
                return 0
            self._queue_remove(pipe, key, sizes, tombstone=item.check)
            return 1

        expired = self._transaction(change, self._item(key))
        with self._lock:
            self.expired += expired
        return expired

    def _missing(self, key: bytes, ref: str) -> ContextLookupError:
        with self._talking("read from"):
            tombstone = _opt_bytes(self._client.get(self._gone(key)))
        if tombstone is not None:
            return ContextExpiredError(f"{ref} expired (its ttl has passed)", ref=ref)
        return ContextNotFoundError(
            f"{ref} is not in this store",
            ref=ref,
            hint="it was deleted, never stored here, or expired too long ago to remember",
        )

    def _check_intact(self, key: bytes, ref: str, blob: bytes) -> None:
        try:
            raw = self._compressor.unpack_raw(blob)
            intact = self._fingerprint(kind_of(blob), raw) == key[:16]
        except Exception:  # any decoding failure means the bytes are damaged
            intact = False
        if not intact:
            raise ContextCorruptedError(
                f"{ref} is damaged in Redis: its bytes no longer match its fingerprint",
                ref=ref,
                hint=f"something other than the store wrote under prefix {self.prefix!r} at "
                f"{self.url}; delete the reference and store the content again",
            )


class _Conflict(Exception):
    """A swap whose expectation did not hold (internal: surfaces as ``None``)."""


def extra_matches(state: EntryState | None, expect: Mapping[str, Any]) -> bool:
    """Whether each ``expect`` key has that value in the item's extra (absent reads as None)."""
    extra = {} if state is None or state.extras is None else (state.extras.extra or {})
    return all(extra.get(name) == value for name, value in expect.items())


def redact_url(url: str) -> str:
    """``url`` with its password (and a lone username-as-password) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return "<unparseable redis URL>"
    if "@" not in netloc:
        return url
    credentials, host = netloc.rsplit("@", 1)
    user = credentials.split(":", 1)[0] if ":" in credentials else ""
    shown = f"{user}:***" if user else "***"
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise ConfigError(
            "redis_url needs the redis-py package, which is not installed",
            hint="pip install 'pytest-crs[redis]'",
        ) from None
    return redis


def _check_of(kind: Kind, raw: bytes) -> bytes:
    return hashlib.blake2b(bytes((kind,)) + raw, digest_size=16, person=b"crs-redis-check").digest()


def _item_of(fields: Mapping[bytes, bytes | None]) -> _Item:
    extras = fields.get(b"x")
    state = EntryState(
        int(fields.get(b"p") or 0),
        _float(fields.get(b"e")),
        int(fields.get(b"h") or 1),
        Extras.from_json(extras.decode()) if extras else None,
    )
    return _Item(state, fields.get(b"c") or b"", fields.get(b"b"))


def _state_fields(state: EntryState) -> dict[Any, bytes]:
    return {
        b"p": str(state.priority).encode(),
        b"e": b"" if state.expires_at is None else repr(state.expires_at).encode(),
        b"h": str(state.holders).encode(),
        b"x": b"" if state.extras is None else state.extras.to_json().encode(),
    }


def _opt_bytes(value: object) -> bytes | None:
    """A reply as bytes (the client never decodes responses; this tells the type checker)."""
    if value is None or isinstance(value, bytes):
        return value
    raise TypeError(f"unexpected Redis reply {type(value).__name__}")


def _bytes_list(values: object) -> list[bytes | None]:
    if not isinstance(values, list):
        raise TypeError(f"unexpected Redis reply {type(values).__name__}")
    return [_opt_bytes(value) for value in values]


def _bytes_dict(values: object) -> dict[bytes, bytes]:
    if not isinstance(values, dict):
        raise TypeError(f"unexpected Redis reply {type(values).__name__}")
    return {bytes(name): bytes(value) for name, value in values.items()}


def _float(value: bytes | None) -> float | None:
    return float(value) if value else None


def _score(expires_at: float | None) -> float:
    return math.inf if expires_at is None else expires_at


def _expired(expires_at: float | None, now: float) -> bool:
    return expires_at is not None and expires_at <= now
