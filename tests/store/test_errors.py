"""Every error is typed, rooted in CrsError, names the problem, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from crs import (
    ConfigError,
    ContextEvictedError,
    ContextExpiredError,
    ContextLookupError,
    ContextNotFoundError,
    ContextReferenceStore,
    CrsError,
    MetadataError,
    StoreClosedError,
    VirtualClock,
)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cache_size": 0}, "cache_size must be a positive int, got 0"),
        ({"cache_size": True}, "cache_size must be a positive int, got True"),
        ({"compression_algorithm": "brotli"}, "compression_algorithm='brotli' is not one of"),
        ({"eviction_policy": "FIFO"}, "eviction_policy='FIFO' is not one of"),
        ({"memory_threshold_mb": -1}, "memory_threshold_mb must be a positive number"),
        ({"memory_threshold_mb": float("nan")}, "memory_threshold_mb must be a positive number"),
        ({"compression_level": 99}, "compression_level=99 is out of range for lz4"),
        (
            {"compression_algorithm": "zlib", "compression_level": 10},
            "compression_level=10 is out of range for zlib",
        ),
    ],
)
def test_bad_configuration_is_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        ContextReferenceStore(**kwargs)


def test_policy_and_codec_names_are_case_insensitive() -> None:
    with ContextReferenceStore(eviction_policy="lfu", compression_algorithm="LZ4") as store:
        stats = store.get_cache_stats()
    assert (stats["eviction_policy"], stats["compression_algorithm"]) == ("LFU", "lz4")


def test_use_compression_false_stores_raw() -> None:
    with ContextReferenceStore(use_compression=False) as store:
        meta = store.get_metadata(store.store("a" * 10_000))
    assert meta.codec == "none"
    assert meta.stored_size == 10_001


@pytest.mark.parametrize(
    ("metadata", "field", "message"),
    [
        ({"priority": "high"}, "priority", "'priority' must be an int, got 'high'"),
        ({"priority": True}, "priority", "'priority' must be an int, got True"),
        ({"ttl": 0}, "ttl", "'ttl' must be a positive, finite number of seconds, got 0"),
        ({"ttl": "60"}, "ttl", "'ttl' must be seconds as a number, got '60'"),
        ({"tags": "invoice"}, "tags", "'tags' must be a list of strings, got 'invoice'"),
        ({"tags": ["ok", 3]}, "tags", "'tags' holds 3, which is not a string"),
        ({"content_type": 7}, "content_type", "'content_type' must be a string, got 7"),
        ({"when": {"at": {1, 2}}}, "when.at", "metadata field at metadata.when.at is not JSON"),
    ],
)
def test_bad_metadata_names_field_and_value(
    metadata: dict[str, Any], field: str, message: str
) -> None:
    with ContextReferenceStore() as store:
        with pytest.raises(MetadataError) as info:
            store.store("content", metadata)
        assert len(store) == 0  # nothing was stored
    assert info.value.field == field
    assert message in str(info.value)


def test_metadata_must_be_a_mapping() -> None:
    with ContextReferenceStore() as store, pytest.raises(MetadataError, match="mapping"):
        store.store("x", ["tags"])  # type: ignore[arg-type]


def test_extra_metadata_is_copied_not_aliased() -> None:
    extra = {"trace": {"ids": [1]}}
    with ContextReferenceStore() as store:
        ref = store.store("x", {"ctx": extra})
        extra["trace"]["ids"].append(2)
        got = store.get_metadata(ref).extra
        got["ctx"]["trace"]["ids"].append(3)
        assert store.get_metadata(ref).extra == {"ctx": {"trace": {"ids": [1]}}}


@pytest.mark.parametrize("ref", ["", "ctx_", "ctx_xyz", "nope_" + "0" * 32, "ctx_" + "g" * 32])
def test_malformed_references_are_not_found(ref: str) -> None:
    with ContextReferenceStore() as store:
        with pytest.raises(ContextNotFoundError, match="not a reference this store issues"):
            store.retrieve(ref)
        assert ref not in store


def test_non_string_reference_is_a_type_error() -> None:
    with ContextReferenceStore() as store:
        with pytest.raises(TypeError, match="got int"):
            store.retrieve(42)  # type: ignore[arg-type]
        assert 42 not in store


def test_lookup_errors_share_roots_and_carry_the_reference() -> None:
    clock = VirtualClock()
    with ContextReferenceStore(cache_size=1, clock=clock) as store:
        evicted = store.store("a")
        expired = store.store("b", {"ttl": 1})
        clock.advance(2)
        unknown = "ctx_" + "0" * 32
        for ref, kind in [
            (evicted, ContextEvictedError),
            (expired, ContextExpiredError),
            (unknown, ContextNotFoundError),
        ]:
            with pytest.raises(kind) as info:
                store.retrieve(ref)
            assert isinstance(info.value, ContextLookupError)
            assert isinstance(info.value, LookupError)
            assert isinstance(info.value, CrsError)
            assert not isinstance(info.value, KeyError)
            assert info.value.ref == ref
            assert ref in str(info.value)
            assert info.value.hint is None or info.value.hint in str(info.value)
        stats = store.get_cache_stats()
    assert stats["misses"] == 3


def test_closed_store_refuses_every_operation() -> None:
    store = ContextReferenceStore()
    ref = store.store("x")
    store.close()
    for operation in (
        lambda: store.store("y"),
        lambda: store.retrieve(ref),
        lambda: store.get_metadata(ref),
        lambda: store.delete(ref),
        lambda: len(store),
        lambda: ref in store,
        store.purge_expired,
    ):
        with pytest.raises(StoreClosedError, match="closed"):
            operation()
    assert "closed" in repr(store)


def test_repr_is_short_and_informative() -> None:
    with ContextReferenceStore(cache_size=5, eviction_policy="LFU") as store:
        store.store("secret-ish content that must not appear in repr")
        text = repr(store)
    assert text == "ContextReferenceStore(1 in memory, cache_size=5, policy=LFU, compression=lz4)"


def test_none_means_default_for_every_known_metadata_field() -> None:
    with ContextReferenceStore() as store:
        ref = store.store("x", {"priority": None, "ttl": None, "tags": None, "content_type": None})
        meta = store.get_metadata(ref)
    assert (meta.priority, meta.expires_at, meta.tags, meta.content_type, meta.extra) == (
        0,
        None,
        frozenset(),
        None,
        {},
    )
