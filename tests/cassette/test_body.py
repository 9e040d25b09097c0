"""Bodies are stored readably and always come back as the exact bytes that were on the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crs.cassette._body import decode_body, encode_body, sse_chunks

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.binary(max_size=200))
def test_any_bytes_round_trip(raw: bytes) -> None:
    assert decode_body(encode_body(raw, "application/octet-stream")) == raw


@given(st.text(max_size=200))
def test_any_text_round_trips_even_as_an_event_stream(text: str) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    assert decode_body(encode_body(raw, "text/event-stream")) == raw


@given(
    JSON, st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 2}, {"ensure_ascii": False}])
)
def test_json_in_common_styles_is_stored_parsed_and_round_trips(
    value: Any, style: dict[str, Any]
) -> None:
    raw = json.dumps({"v": value}, **style).encode()

    body = encode_body(raw, "application/json")

    assert body is not None
    assert body["json"] == {"v": value}
    assert decode_body(body) == raw


def test_json_keeps_its_key_order() -> None:
    body = encode_body(b'{"z":1,"a":2}')
    assert body is not None
    assert list(body["json"]) == ["z", "a"]


def test_an_openai_stream_is_stored_event_by_event() -> None:
    chunks = [
        b'data: {"id":"c1","choices":[{"delta":{"content":"Hel"}}]}\n\n',
        b'data: {"id":"c1","choices":[{"delta":{"content":"lo"}}]}\n\n',
        b"data: [DONE]\n\n",
    ]
    body = encode_body(b"".join(chunks), "text/event-stream; charset=utf-8")

    assert body is not None
    events = body["sse"]
    assert [e["data"] for e in events][2] == "[DONE]"
    assert events[0]["data"]["choices"][0]["delta"]["content"] == "Hel"
    assert sse_chunks(body) == chunks


def test_a_responses_api_stream_keeps_its_event_names() -> None:
    raw = b'event: response.created\ndata: {"type":"response.created"}\n\n'
    body = encode_body(raw, "text/event-stream")
    assert body == {
        "sse": [
            {
                "event": "response.created",
                "data": {"type": "response.created"},
                "data_style": "compact",
            }
        ]
    }
    assert decode_body(body) == raw


def test_no_body_is_none() -> None:
    assert encode_body(b"") is None
    assert decode_body(None) == b""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"json": {}, "style": "fancy"}, "style 'fancy'"),
        ({"base64": "!!"}, "not valid base64"),
        ({"text": 3}, "text must be a string"),
        ({"yaml": 1}, "needs one of json, sse, text, base64"),
        ({"sse": [{"data": {"a": 1}}]}, "must be a string when it has no data_style"),
        ("plain", "must be a mapping"),
    ],
)
def test_malformed_bodies_are_named(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_body(body, where="interactions[3].response.body")
