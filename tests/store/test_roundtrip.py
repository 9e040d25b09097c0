"""retrieve(store(x)) == x, byte for byte, for everything the type model admits."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crs import ContentTypeError, ContextReferenceStore

# Any code point, surrogates included: a Python str may hold them and must come back intact.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(any_text, inner, max_size=6),
    max_leaves=40,
)


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


# Text the previous generation altered: code, markup, pretty JSON, whitespace-heavy content.
tricky_text = st.one_of(
    any_text,
    json_values.map(_pretty_json),
    st.builds(
        lambda name, body: f"def {name}():\n\t'''doc'''\r\n    return {body!r}  # ✓\n\n",
        st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
        any_text,
    ),
    st.builds(
        lambda tag, text: f'<{tag} class="x">&amp; {text}</{tag}>\n<!-- {text} -->',
        st.sampled_from(["div", "p", "svg", "script"]),
        any_text,
    ),
    st.text(alphabet=" \t\r\n\x00\x0b\x0c\u2028\u2029\ufeff", max_size=50),
)


@pytest.fixture(scope="module")
def shared_store() -> Iterator[ContextReferenceStore]:
    with ContextReferenceStore(cache_size=100_000) as store:
        yield store


@settings(max_examples=300)
@given(text=tricky_text)
def test_text_round_trips_exactly(shared_store: ContextReferenceStore, text: str) -> None:
    out = shared_store.retrieve(shared_store.store(text))
    assert type(out) is str
    assert out == text
    assert out.encode("utf-8", "surrogatepass") == text.encode("utf-8", "surrogatepass")


@settings(max_examples=200)
@given(data=st.binary(max_size=4096))
def test_bytes_round_trip_exactly(shared_store: ContextReferenceStore, data: bytes) -> None:
    out = shared_store.retrieve(shared_store.store(data))
    assert type(out) is bytes
    assert out == data


def _same(a: Any, b: Any) -> bool:
    """Equality that also checks types (1 vs 1.0 vs True) and float signs (0.0 vs -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


@settings(max_examples=300)
@given(value=json_values)
@pytest.mark.parametrize("algorithm", ["lz4", "zlib", "zstd", "none"])
def test_json_round_trips_with_types_order_and_signs(algorithm: str, value: Any) -> None:
    with ContextReferenceStore(compression_algorithm=algorithm) as store:
        out = store.retrieve(store.store(value))
    assert _same(out, value)


def test_large_compressible_text_is_compressed_and_exact() -> None:
    text = "def handler(event):\n    return event['body']\n" * 5_000
    with ContextReferenceStore() as store:
        ref = store.store(text)
        meta = store.get_metadata(ref)
        assert store.retrieve(ref) == text
    assert meta.codec == "lz4"
    assert meta.stored_size < meta.size / 10


@given(data=st.binary(min_size=64, max_size=2048))
def test_compression_never_stores_more_than_raw(data: bytes) -> None:
    with ContextReferenceStore() as store:
        meta = store.get_metadata(store.store(data))
    assert meta.stored_size <= meta.size + 1  # one header byte at most


def test_retrieved_objects_are_fresh_copies() -> None:
    doc = {"items": [{"id": 1}], "meta": {"page": 1}}
    with ContextReferenceStore() as store:
        ref = store.store(doc)
        doc["items"].append({"id": 2})  # the caller mutates its own object after storing
        first = store.retrieve(ref)
        first["items"].clear()
        first["meta"]["page"] = 99
        second = store.retrieve(ref)
    assert second == {"items": [{"id": 1}], "meta": {"page": 1}}
    assert first is not second


def test_subclasses_come_back_as_their_base_type() -> None:
    class Name(str):
        pass

    class Row(dict[str, Any]):
        pass

    with ContextReferenceStore() as store:
        text = store.retrieve(store.store(Name("agent")))
        row = store.retrieve(store.store(Row(a=[1])))
    assert type(text) is str
    assert text == "agent"
    assert type(row) is dict
    assert row == {"a": [1]}


@pytest.mark.parametrize(
    ("content", "path", "type_name"),
    [
        ((1, 2), "$", "tuple"),
        ({"a": (1, 2)}, "$.a", "tuple"),
        ({"items": [1, {"when": {3}}]}, "$.items[1].when", "set"),
        ({"a": {1: "x"}}, "$.a", "int"),
        ({"a b": [float("nan")]}, '$["a b"][0]', "float"),
        ([float("inf")], "$[0]", "float"),
        ({"blob": b"\x00"}, "$.blob", "bytes"),
        (bytearray(b"x"), "$", "bytearray"),
        (object(), "$", "object"),
    ],
)
def test_unroundtrippable_content_is_rejected_with_path(
    content: Any, path: str, type_name: str
) -> None:
    with ContextReferenceStore() as store:
        with pytest.raises(ContentTypeError) as info:
            store.store(content)
        assert len(store) == 0
    assert info.value.path == path
    assert info.value.type_name == type_name
    assert path in str(info.value)
    assert isinstance(info.value, TypeError)


def test_circular_structures_are_rejected() -> None:
    loop: list[Any] = [1]
    loop.append({"back": loop})
    with ContextReferenceStore() as store, pytest.raises(ContentTypeError, match="circular"):
        store.store(loop)
