"""The Redis tier keeps the store's semantics: the shared checks run on every backend.

Tests parametrized over ``backend`` run the same assertions on the memory tier, the disk tier and
Redis, so a difference between tiers is a failure, not a judgement call. The rest pin what only
Redis has: the key layout's expiry, restarts on the same URL, tampering, format versions.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crs import (
    ConfigError,
    ContextCorruptedError,
    ContextExpiredError,
    ContextNotFoundError,
    ContextReferenceStore,
    StoreClosedError,
    VirtualClock,
)
from crs.store import StoreRedisError
from crs.store._redis import EXPIRY_GRACE, redact_url

NO_REDIS_PY = importlib.util.find_spec("redis") is None

Factory = Callable[..., ContextReferenceStore]  # what the open_store fixture gives


@pytest.fixture
def client(crs_redis_url: str) -> Iterator[Any]:
    """A raw redis-py client on the test's database, to look at (or damage) the keys."""
    import redis

    with redis.Redis.from_url(crs_redis_url) as raw:
        yield raw


CONTENTS = [
    "plain text",
    "ünïcødé ✓ " * 300,
    b"\x00\xff" * 500,
    {"tool": "search", "hits": list(range(200)), "nested": {"a": [1.5, None, True]}},
    [1, "two", 3.0],
    42,
]


@pytest.mark.parametrize("content", CONTENTS, ids=lambda c: type(c).__name__)
def test_content_round_trips_exactly(open_store: Factory, content: object) -> None:
    store = open_store()
    ref = store.store(content)
    assert store.retrieve(ref) == content
    assert type(store.retrieve(ref)) is type(content)
    assert ref in store
    assert store.store(content) == ref


def test_metadata_merge_rules_are_the_same(open_store: Factory) -> None:
    clock = VirtualClock()
    store = open_store(clock=clock)
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
    assert meta.expires_at == clock.now() + 100
    assert meta.content_type == "text/plain"
    assert meta.extra == {"owner": "x", "team": "y"}
    assert meta.holders == 2
    assert (meta.kind, meta.size) == ("text", len("shared context"))
    store.store("shared context")
    assert store.get_metadata(ref).expires_at is None
    stats = store.get_cache_stats()
    assert (stats["entries"], stats["stores"], stats["dedup_hits"]) == (1, 3, 2)


def test_delete_releases_one_holder_at_a_time(open_store: Factory) -> None:
    store = open_store()
    ref = store.store({"doc": 1})
    store.store({"doc": 1})
    assert store.delete(ref) is False
    assert store.retrieve(ref) == {"doc": 1}
    assert store.delete(ref) is True
    assert ref not in store
    with pytest.raises(ContextNotFoundError, match="is not in this store"):
        store.retrieve(ref)
    with pytest.raises(ContextNotFoundError):
        store.delete(ref)
    forced = store.store("forced")
    store.store("forced")
    assert store.delete(forced, force=True) is True
    assert len(store) == 0


def test_ttl_runs_on_the_crs_clock(open_store: Factory) -> None:
    clock = VirtualClock()
    store = open_store(clock=clock)
    short = store.store("short", {"ttl": 10})
    long = store.store("long", {"ttl": 1000})
    clock.advance(9.5)
    assert store.retrieve(short) == "short"
    clock.advance(1)
    assert short not in store
    with pytest.raises(ContextExpiredError, match="expired"):
        store.retrieve(short)
    with pytest.raises(ContextExpiredError):  # still remembered as expired, not "not found"
        store.get_metadata(short)
    assert len(store) == 1
    assert store.retrieve(long) == "long"
    assert store.store("short", {"ttl": 10}) == short  # stored again: the same reference
    assert store.retrieve(short) == "short"


def test_purge_expired_counts_what_it_removed(open_store: Factory) -> None:
    clock = VirtualClock()
    store = open_store(clock=clock)
    short = [store.store(f"short {i}", {"ttl": 5}) for i in range(5)]
    store.store("long", {"ttl": 500})
    clock.advance(6)
    assert store.purge_expired() == 5
    assert store.purge_expired() == 0
    assert len(store) == 1
    for ref in short:
        with pytest.raises(ContextExpiredError):
            store.retrieve(ref)
    assert store.get_cache_stats()["evictions"]["expired"] == 5


def test_closed_store_refuses_work(open_store: Factory) -> None:
    store = open_store()
    ref = store.store("x")
    store.close()
    store.close()
    with pytest.raises(StoreClosedError):
        store.retrieve(ref)
    with pytest.raises(StoreClosedError):
        store.store("y")


def test_async_api(open_store: Factory) -> None:
    store = open_store()

    async def main() -> None:
        ref = await store.astore({"async": True})
        assert await store.aretrieve(ref) == {"async": True}
        assert (await store.aget_metadata(ref)).holders == 1
        assert await store.adelete(ref) is True

    asyncio.run(main())


# -- Redis only -----------------------------------------------------------------------------------


def test_a_second_store_on_the_same_url_finds_everything(crs_redis_url: str) -> None:
    clock = VirtualClock()
    with ContextReferenceStore(redis_url=crs_redis_url, clock=clock) as store:
        plain = store.store("plain text")
        rich = store.store(
            {"tool": "gmail"}, {"tags": ["mail"], "priority": 3, "ttl": 60, "owner": "u1"}
        )
        store.store({"tool": "gmail"}, {"ttl": 30})
        blob = store.store(b"\x00\xff" * 100)
    with ContextReferenceStore(redis_url=crs_redis_url, clock=clock) as store:
        assert len(store) == 3
        assert store.retrieve(plain) == "plain text"
        assert store.retrieve(blob) == b"\x00\xff" * 100
        meta = store.get_metadata(rich)
        assert (meta.holders, meta.priority, meta.tags, meta.extra, meta.tier) == (
            2,
            3,
            frozenset({"mail"}),
            {"owner": "u1"},
            "redis",
        )
        assert meta.expires_at == clock.now() + 60
        assert store.store("plain text") == plain
        clock.advance(61)
        with pytest.raises(ContextExpiredError):
            store.retrieve(rich)
        assert len(store) == 2


def test_ttl_maps_to_redis_key_expiry_with_grace(crs_redis_url: str, client: Any) -> None:
    clock = VirtualClock()
    with ContextReferenceStore(redis_url=crs_redis_url, clock=clock) as store:
        ref = store.store("expiring", {"ttl": 30})
        key = b"crs:item:" + ref.removeprefix("ctx_").encode()
        assert (30 + EXPIRY_GRACE - 2) * 1000 < client.pttl(key) <= (30 + EXPIRY_GRACE) * 1000
        clock.advance(20)
        store.store("expiring", {"ttl": 300})  # the later expiry wins, and Redis follows
        assert (300 + EXPIRY_GRACE - 2) * 1000 < client.pttl(key) <= (300 + EXPIRY_GRACE) * 1000
        store.store("expiring")  # no ttl: never expires
        assert client.pttl(key) == -1
        forever = store.store("forever")
        assert client.pttl(b"crs:item:" + forever.removeprefix("ctx_").encode()) == -1


def test_an_item_redis_expired_itself_is_cleaned_from_index_and_totals(
    crs_redis_url: str, client: Any
) -> None:
    """Redis dropping the key (its own expiry) must not leave counts behind."""
    clock = VirtualClock()
    with ContextReferenceStore(redis_url=crs_redis_url, clock=clock) as store:
        ref = store.store("x" * 1000, {"ttl": 5})
        kept = store.store("kept")
        client.delete(b"crs:item:" + ref.removeprefix("ctx_").encode())  # what PEXPIRE does
        clock.advance(6)
        assert len(store) == 1
        with pytest.raises(ContextExpiredError):
            store.retrieve(ref)
        stats = store.get_cache_stats()
        assert stats["bytes_raw"] == len("kept")
        assert store.retrieve(kept) == "kept"
        assert store.store("x" * 1000) == ref  # and it can be stored again
        assert store.get_cache_stats()["bytes_raw"] == len("kept") + 1000


def test_reinserting_after_redis_dropped_the_key_keeps_totals_exact(
    crs_redis_url: str, client: Any
) -> None:
    with ContextReferenceStore(redis_url=crs_redis_url) as store:
        ref = store.store("y" * 100, {"ttl": 5})
        client.delete(b"crs:item:" + ref.removeprefix("ctx_").encode())
        assert store.store("y" * 100) == ref
        assert store.get_cache_stats()["bytes_raw"] == 100
        assert len(store) == 1


def test_tampered_bytes_are_detected(crs_redis_url: str, client: Any) -> None:
    with ContextReferenceStore(redis_url=crs_redis_url) as store:
        ref = store.store("the original text " * 10)
        key = b"crs:item:" + ref.removeprefix("ctx_").encode()
        blob = client.hget(key, "b")
        client.hset(key, "b", blob[:-3] + b"XYZ")
        with pytest.raises(ContextCorruptedError, match="damaged in Redis") as info:
            store.retrieve(ref)
        assert info.value.ref == ref
        assert "127.0.0.1" in str(info.value)
        assert store.delete(ref) is True
        assert store.store("the original text " * 10) == ref
        assert store.retrieve(ref) == "the original text " * 10


def test_a_newer_format_version_is_refused(crs_redis_url: str, client: Any) -> None:
    client.set("crs:format", "99")
    with pytest.raises(StoreRedisError, match="format version b'99'"):
        ContextReferenceStore(redis_url=crs_redis_url)
    with ContextReferenceStore(redis_url=crs_redis_url, redis_prefix="other:") as store:
        assert len(store) == 0


def test_prefixes_and_databases_are_independent_stores(crs_redis_url: str) -> None:
    other_db = crs_redis_url.rsplit("/", 1)[0] + "/1"
    with (
        ContextReferenceStore(redis_url=crs_redis_url) as a,
        ContextReferenceStore(redis_url=crs_redis_url, redis_prefix="tenant-b:") as b,
        ContextReferenceStore(redis_url=other_db) as c,
    ):
        ref = a.store("only in a")
        assert ref not in b
        assert ref not in c
        assert (len(a), len(b), len(c)) == (1, 0, 0)


def test_stats_count_redis_items_and_bytes(crs_redis_url: str) -> None:
    with ContextReferenceStore(redis_url=crs_redis_url, compression_algorithm="none") as store:
        ref = store.store("abc")
        store.store("abc")
        store.retrieve(ref)
        with pytest.raises(ContextNotFoundError):
            store.retrieve("ctx_" + "0" * 32)
        stats = store.get_cache_stats()
    assert stats["entries"] == 1
    assert (stats["bytes_raw"], stats["bytes_stored"]) == (3, 4)  # one byte of framing
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (1, 1, 0.5)
    assert stats["memory_entries"] == stats["disk_entries"] == 0


def test_repr_names_the_url_without_its_password(crs_redis_url: str) -> None:
    host = crs_redis_url.removeprefix("redis://")
    with ContextReferenceStore(redis_url=f"redis://{host}", redis_prefix="p:") as store:
        assert f"redis='redis://{host}', prefix='p:'" in repr(store)
    assert redact_url("redis://user:s3cret@127.0.0.1:1/0") == "redis://user:***@127.0.0.1:1/0"
    assert redact_url("redis://:s3cret@127.0.0.1:1/0") == "redis://***@127.0.0.1:1/0"
    assert redact_url("redis://127.0.0.1:1/0") == "redis://127.0.0.1:1/0"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_server_is_a_store_error_naming_the_url() -> None:
    url = f"redis://admin:hunter2@127.0.0.1:{_closed_port()}/0"
    with pytest.raises(
        StoreRedisError, match=r"cannot connect to Redis at redis://admin:\*\*\*@"
    ) as info:
        ContextReferenceStore(redis_url=url)
    assert "hunter2" not in str(info.value)
    assert info.value.url.startswith("redis://admin:***@127.0.0.1:")
    assert "redis-server is running" in str(info.value)


def test_a_server_that_goes_away_is_a_store_error(crs_redis_server: str, tmp_path: Path) -> None:
    """A server of its own, stopped mid-test: every later operation names the URL."""
    from pytest_crs._redis import _free_port, _start, _stop, _wait_until_ready

    binary = shutil.which("redis-server")
    assert binary is not None  # crs_redis_server skipped otherwise
    port = _free_port()
    proc = _start(binary, port, tmp_path)
    try:
        assert _wait_until_ready(proc, port) is None
        with ContextReferenceStore(redis_url=f"redis://127.0.0.1:{port}/0") as store:
            ref = store.store("x")
            _stop(proc)
            with pytest.raises(
                StoreRedisError, match=f"cannot read from Redis at redis://127.0.0.1:{port}/0"
            ):
                store.retrieve(ref)
            with pytest.raises(StoreRedisError, match="cannot write to Redis"):
                store.store("y")
    finally:
        _stop(proc)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"redis_prefix": "x:"}, "redis_prefix='x:' was given without redis_url"),
        (
            {"redis_url": "redis://127.0.0.1:1/0", "use_disk_storage": True},
            "use_disk_storage=True and redis_url were both given",
        ),
        (
            {"redis_url": "redis://127.0.0.1:1/0", "memory_threshold_mb": 5},
            "memory_threshold_mb=5 limits the in-process memory tier",
        ),
        ({"redis_url": "http://u:pw@127.0.0.1:1/"}, "redis_url must be a redis://"),
        pytest.param(
            {"redis_url": "redis://127.0.0.1:notaport/0"},
            "redis_url='redis://127.0.0.1:notaport/0' is not a URL redis-py understands",
            marks=pytest.mark.skipif(NO_REDIS_PY, reason="redis-py parses the URL"),
        ),
        ({"redis_url": "redis://127.0.0.1:1/0", "redis_prefix": 3}, "redis_prefix must be a str"),
    ],
)
def test_bad_redis_configuration_is_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")) as info:
        ContextReferenceStore(**kwargs)
    assert "pw" not in str(info.value)
    assert info.value.hint


def test_without_redis_py_the_store_says_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "import crs\n"
        "from crs import ContextReferenceStore, ConfigError\n"
        "ContextReferenceStore().close()\n"
        "try:\n"
        "    ContextReferenceStore(redis_url='redis://127.0.0.1:1/0')\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "pip install 'pytest-crs[redis]'" in out
