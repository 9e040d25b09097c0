"""Agent-aware matching: what must agree, and what may change between runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crs.cassette._body import encode_body
from crs.cassette._match import MatchRules, normalise_url, request_signature, tool_signature
from crs.errors import ConfigError

RULES = MatchRules()


def request(url: str, body: Any = None, **headers: str) -> dict[str, Any]:
    raw = None if body is None else json.dumps(body).encode()
    return {"method": "post", "url": url, "headers": headers, "body": encode_body(raw)}


def same(a: dict[str, Any], b: dict[str, Any], rules: MatchRules = RULES) -> bool:
    return request_signature(a, rules) == request_signature(b, rules)


CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_chat_completions_differ_by_body() -> None:
    other = {**CHAT, "messages": [{"role": "user", "content": "bye"}]}
    assert not same(
        request("http://127.0.0.1:1/v1/chat", CHAT), request("http://127.0.0.1:1/v1/chat", other)
    )


def test_volatile_headers_ports_key_order_and_keys_do_not_matter() -> None:
    recorded = request(
        "http://127.0.0.1:53117/v1/chat?b=2&a=1",
        CHAT,
        authorization="Bearer sk-real-aaaaaaaaaaaa",
        **{"x-stainless-retry-count": "0", "user-agent": "OpenAI/Python 3.54"},
    )
    live = request(
        "http://localhost:8080/v1/chat?a=1&b=2",
        {"messages": CHAT["messages"], "model": "gpt-4o"},
        authorization="Bearer sk-fake-bbbbbbbbbbbb",
        **{"x-stainless-retry-count": "2", "x-request-id": "r-1"},
    )
    assert same(recorded, live)


def test_composio_core_session_ids_are_ignored_and_users_add_their_own() -> None:
    a = request(
        "https://backend.composio.dev/api/v2/actions/X/execute",
        {"input": {"t": 1}, "sessionInfo": {"sessionId": "s-1"}, "trace": "t-1"},
    )
    b = request(
        "https://backend.composio.dev/api/v2/actions/X/execute",
        {"input": {"t": 1}, "sessionInfo": {"sessionId": "s-2"}, "trace": "t-2"},
    )
    assert not same(a, b)
    assert same(a, b, RULES.extended(ignore_json=["trace"]))


def test_wildcards_in_ignored_paths() -> None:
    a = request("http://loopback/x", {"items": [{"id": "a", "v": 1}, {"id": "b", "v": 2}]})
    b = request("http://loopback/x", {"items": [{"id": "c", "v": 1}, {"id": "d", "v": 2}]})
    assert same(a, b, RULES.extended(ignore_json=["items.*.id"]))


def test_hosts_and_methods_still_matter() -> None:
    assert not same(
        request("https://api.openai.com/v1/x", CHAT), request("https://evil.test/v1/x", CHAT)
    )
    other = request("http://loopback/v1/x", CHAT)
    other["method"] = "PUT"
    assert not same(request("http://loopback/v1/x", CHAT), other)


def test_normalised_urls() -> None:
    assert normalise_url("http://[::1]:9/v1/models?x=1") == "http://loopback/v1/models?x=1"
    assert normalise_url("https://API.openai.com:443/v1") == "https://api.openai.com/v1"
    assert normalise_url("http://example.test:8080") == "http://example.test:8080/"


def test_tool_calls_match_on_app_action_user_and_params() -> None:
    call = {"app": "shop", "action": "lookup", "user_id": "u", "params": {"b": 1, "a": 2}}
    reordered = {**call, "params": {"a": 2, "b": 1}}
    assert tool_signature(call, RULES) == tool_signature(reordered, RULES)
    assert tool_signature(call, RULES) != tool_signature({**call, "user_id": "v"}, RULES)


def test_unknown_match_parts_are_refused() -> None:
    with pytest.raises(ConfigError, match="'bodyy'"):
        MatchRules(on=("method", "bodyy"))


def test_ignored_values_are_stored_masked() -> None:
    from crs.cassette._match import mask_ignored

    body = {"sessionInfo": {"sessionId": "9f2c"}, "items": [{"id": 1}, {"id": 2}], "keep": 3}
    masked = mask_ignored(body, ["sessionInfo.sessionId", "items.*.id"])
    assert masked == {
        "sessionInfo": {"sessionId": "[IGNORED]"},
        "items": [{"id": "[IGNORED]"}, {"id": "[IGNORED]"}],
        "keep": 3,
    }
    assert body["sessionInfo"]["sessionId"] == "9f2c"  # type: ignore[index]
