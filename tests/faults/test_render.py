"""Faults in the wire form each API really uses, shared byte for byte with the sandbox."""

from __future__ import annotations

import email.utils
import json
from typing import Any

import httpx
import pytest

from crs._dialects import COMPOSIO, COMPOSIO_CORE, OPENAI, dialect_of, retry_after_headers
from crs.errors import ConfigError
from crs.sandbox import Sandbox
from pytest_crs.faults import (
    FaultPlan,
    auth_expired,
    connection_reset,
    latency,
    llm,
    rate_limit,
    server_error,
    stream_cut,
    timeout,
    tool,
    tool_failure,
)
from pytest_crs.faults._render import render
from pytest_crs.faults._wire import Cut, Delay, Fail, Failure, Reply, WireCall

NOW = 1_700_000_000.0
CHAT = WireCall("httpx2", "POST", "http://127.0.0.1:9/v1/chat/completions", {}, b"{}")
CORE = WireCall("requests", "POST", "http://127.0.0.1:9/api/v2/actions/GMAIL_SEND_EMAIL/execute")
CURRENT = WireCall("httpx", "POST", "http://127.0.0.1:9/api/v3.1/tools/execute/GMAIL_SEND_EMAIL")
OTHER = WireCall("requests", "GET", "http://127.0.0.1:9/weather")


def reply(fault: Any, call: WireCall) -> tuple[int, dict[str, str], Any]:
    decision = render(fault, call, now=NOW)
    assert isinstance(decision, Reply)
    return decision.status, dict(decision.headers), json.loads(decision.body)


def test_paths_belong_to_their_dialects() -> None:
    assert dialect_of("/v1/chat/completions") is OPENAI
    assert dialect_of("/api/v2/actions/X/execute") is COMPOSIO_CORE
    assert dialect_of("/api/v3.1/tools/execute/X") is COMPOSIO
    assert dialect_of("/api/v3/tools") is COMPOSIO
    assert dialect_of("/v10/other") is None
    assert dialect_of("/weather") is None
    assert COMPOSIO.tool_slug("/api/v3.1/tools/execute/gmail_send_email") == "GMAIL_SEND_EMAIL"
    assert COMPOSIO.tool_slug("/api/v3/tools/execute/proxy") is None
    assert COMPOSIO_CORE.tool_slug("/api/v2/actions/GITHUB_LIST/execute") == "GITHUB_LIST"
    assert OPENAI.tool_slug("/v1/chat/completions") is None


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ("seconds", {"retry-after": "3"}),
        ("ms", {"retry-after-ms": "2500"}),
        ("both", {"retry-after": "3", "retry-after-ms": "2500"}),
        ("http-date", {"retry-after": "Tue, 14 Nov 2023 22:13:23 GMT"}),
        ("none", {}),
    ],
)
def test_retry_after_forms(form: str, expected: dict[str, str]) -> None:
    assert retry_after_headers(2.5, form, now=NOW) == expected


def test_an_http_date_never_announces_less_than_the_wait() -> None:
    date = retry_after_headers(2.0, "http-date", now=NOW + 0.4)["retry-after"]
    announced = email.utils.parsedate_to_datetime(date).timestamp() - (NOW + 0.4)
    assert 2.0 <= announced < 3.0


def test_an_llm_rate_limit_is_openais_429() -> None:
    status, headers, body = reply(rate_limit(retry_after=2, form="ms"), CHAT)
    assert status == 429
    assert headers["retry-after-ms"] == "2000"
    assert "retry-after" not in headers
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["content-type"] == "application/json"
    assert body["error"]["type"] == "requests"
    assert body["error"]["code"] == "rate_limit_exceeded"


def test_a_tool_rate_limit_speaks_the_generation_of_the_request() -> None:
    _, headers, core = reply(rate_limit(retry_after=5), CORE)
    assert headers["retry-after"] == "5"
    assert headers["x-ratelimit-reset"] == str(int(NOW) + 5)
    assert core["slug"] == "HTTP_TooManyRequests"
    assert core["code"] == 10429
    _, _, current = reply(rate_limit(retry_after=5), CURRENT)
    assert current["error"]["slug"] == "HTTP_TooManyRequests"
    assert current["error"]["status"] == 429


def test_the_undocumented_composio_rate_limit_has_no_headers() -> None:
    status, headers, body = reply(rate_limit(shape="composio-10429"), CURRENT)
    assert status == 429
    assert headers == {"content-type": "application/json"}
    assert body == {"code": 10429, "slug": "HTTP_TooManyRequests"}


def test_server_errors_and_unknown_services() -> None:
    status, _, body = reply(server_error(502), CHAT)
    assert status == 502
    assert body["error"]["type"] == "server_error"
    status, _, body = reply(server_error(), OTHER)
    assert status == 503
    assert body == {"error": {"message": body["error"]["message"], "status": 503}}
    assert "injected by crs_faults" in body["error"]["message"]


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        (timeout("connect"), Failure.CONNECT_TIMEOUT),
        (timeout("read"), Failure.READ_TIMEOUT),
        (connection_reset(), Failure.CONNECT_ERROR),
        (connection_reset(after_send=True), Failure.RESET_AFTER_SEND),
    ],
)
def test_transport_failures(fault: Any, failure: Failure) -> None:
    decision = render(fault, CHAT, now=NOW)
    assert isinstance(decision, Fail)
    assert decision.failure is failure
    assert decision.message == ""  # the transport words it as the client library would


def test_latency_and_stream_cuts_let_the_request_go_on() -> None:
    assert render(latency(12), CHAT, now=NOW) == Delay(12)
    assert render(stream_cut(after_events=3), CHAT, now=NOW) == Cut(3)


def test_expired_credentials_in_each_form() -> None:
    status, _, body = reply(auth_expired(), CHAT)
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    status, _, body = reply(auth_expired("expired-account"), CURRENT)
    assert status == 400
    assert body["error"]["slug"] == "ActionExecute_ConnectedAccountNotActive"
    assert body["error"]["code"] == 1804
    assert "GMAIL_SEND_EMAIL" in body["error"]["message"]
    status, _, body = reply(auth_expired("401-in-200"), CORE)
    assert status == 200
    assert body["successfull"] is False
    assert json.loads(body["error"])["error"]["code"] == 401


def test_tool_failure_is_a_successful_http_answer_that_reports_failure() -> None:
    status, _, current = reply(tool_failure("mailbox full"), CURRENT)
    assert status == 200
    assert current["successful"] is False
    assert current["error"] == "mailbox full"
    assert "log_id" in current
    _, _, core = reply(tool_failure("mailbox full"), CORE)
    assert core["successfull"] is False
    assert core["successful"] is False


def test_faults_only_composio_produces_are_refused_for_llm_calls() -> None:
    plan = FaultPlan()
    for fault in (tool_failure(), auth_expired("expired-account"), auth_expired("401-in-200")):
        with pytest.raises(ConfigError, match="cannot happen to an LLM call"):
            plan.on(llm(), fault)
    with pytest.raises(ConfigError, match="composio-10429"):
        plan.on(llm(), rate_limit(shape="composio-10429"))
    plan.on(tool("GMAIL_SEND_EMAIL"), tool_failure())  # fine for tools


def test_injected_and_sandbox_faults_are_the_same_bytes(crs_sandbox: Sandbox) -> None:
    """The sandbox and fault injection share their dialects, so they fail identically."""
    crs_sandbox.fault("rate_limit", api="composio", headers=False)
    crs_sandbox.fault("auth_envelope", api="composio")
    crs_sandbox.fault("auth_envelope", api="composio-core")
    url = crs_sandbox.url
    key = {"x-api-key": crs_sandbox.api_key}
    current = httpx.post(url + CURRENT.path, json={"arguments": {}}, headers=key)
    envelope = httpx.post(url + CURRENT.path, json={"arguments": {}}, headers=key)
    core_envelope = httpx.post(url + CORE.path, json={"input": {}}, headers=key)
    injected = render(rate_limit(shape="composio-10429"), CURRENT, now=NOW)
    assert isinstance(injected, Reply)
    assert current.content == injected.body
    for response, call in ((envelope, CURRENT), (core_envelope, CORE)):
        decision = render(auth_expired("401-in-200"), call, now=NOW)
        assert isinstance(decision, Reply)
        assert response.content == decision.body
