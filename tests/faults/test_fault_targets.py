"""Targets: which requests and tool calls a rule is about."""

from __future__ import annotations

import json

import pytest

from crs.errors import ConfigError
from pytest_crs.faults import http, llm, tool
from pytest_crs.faults._targets import ToolCall, tool_call_of
from pytest_crs.faults._wire import WireCall


def post(url: str, body: object) -> WireCall:
    return WireCall(
        "httpx2", "POST", url, {"content-type": "application/json"}, json.dumps(body).encode()
    )


CHAT = post("http://127.0.0.1:8123/v1/chat/completions", {"model": "gpt-4o-mini", "messages": []})
CORE_EXECUTE = post(
    "http://127.0.0.1:8123/api/v2/actions/GITHUB_CREATE_AN_ISSUE/execute",
    {"entityId": "alice", "input": {"owner": "o", "repo": "r", "title": "t"}},
)
CURRENT_EXECUTE = post(
    "https://backend.composio.dev/api/v3.1/tools/execute/GMAIL_SEND_EMAIL",
    {"user_id": "bob", "version": "latest", "arguments": {"to": "x@example.com"}},
)


def test_llm_by_model_glob_and_endpoint() -> None:
    assert llm().matches(CHAT)
    assert llm("gpt-4o*").matches(CHAT)
    assert not llm("gpt-5").matches(CHAT)
    assert llm(endpoint="chat.completions").matches(CHAT)
    assert llm(endpoint="/v1/chat/completions").matches(CHAT)
    assert not llm(endpoint="responses").matches(CHAT)
    assert not llm().matches(CORE_EXECUTE)


def test_tool_targets_match_both_composio_generations() -> None:
    assert tool().matches(CORE_EXECUTE)
    assert tool().matches(CURRENT_EXECUTE)
    assert tool("GITHUB_CREATE_AN_ISSUE").matches(CORE_EXECUTE)
    assert tool("github_*").matches(CORE_EXECUTE)
    assert tool(app="GitHub").matches(CORE_EXECUTE)
    assert not tool(app="gmail").matches(CORE_EXECUTE)
    assert tool(app="gmail", action="send_email").matches(CURRENT_EXECUTE)
    assert not tool().matches(CHAT)
    listing = WireCall("requests", "GET", "http://127.0.0.1:1/api/v2/actions/GITHUB_STAR")
    assert not tool().matches(listing)


def test_tool_call_of_reads_user_and_arguments() -> None:
    core = tool_call_of(CORE_EXECUTE)
    current = tool_call_of(CURRENT_EXECUTE)
    assert core == ToolCall(
        "GITHUB_CREATE_AN_ISSUE", "github", "GITHUB_CREATE_AN_ISSUE",
        {"owner": "o", "repo": "r", "title": "t"}, "alice",
    )  # fmt: skip
    assert current is not None
    assert current.user_id == "bob"
    assert current.arguments == {"to": "x@example.com"}
    assert tool_call_of(CHAT) is None


def test_tool_targets_match_python_tools_at_the_seam() -> None:
    call = ToolCall("LOCAL_LOOKUP", "local", "lookup", {}, "u")
    assert tool("LOCAL_LOOKUP").matches_tool(call)
    assert tool(app="local", action="lookup").matches_tool(call)
    assert not tool("OTHER").matches_tool(call)
    assert not llm().matches_tool(call)


def test_http_by_host_path_and_method() -> None:
    assert http().matches(CHAT)
    assert http("127.0.0.1", path="/v1/*", method="post").matches(CHAT)
    assert http("*.composio.dev").matches(CURRENT_EXECUTE)
    assert not http(method="GET").matches(CHAT)
    assert not http(path="/api/*").matches(CHAT)


def test_describe_and_bad_values() -> None:
    assert llm("gpt-4o", endpoint="chat.completions").describe() == (
        "llm(model='gpt-4o', endpoint='chat/completions')"
    )
    assert tool("gmail_send_email").describe() == "tool(slug='GMAIL_SEND_EMAIL')"
    with pytest.raises(ConfigError, match="model must be a non-empty string, got ''"):
        llm("")
    with pytest.raises(ConfigError, match="host must be a non-empty string, got 3"):
        http(3)  # type: ignore[arg-type]
