"""Server-side faults: each kind, in each API's dialect, through the Python and HTTP APIs."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from crs import ConfigError, VirtualClock, classify
from crs.resilience import ErrorType
from crs.sandbox import FaultKind, Sandbox

EXECUTE_CORE = "/api/v2/actions/GMAIL_SEND_EMAIL/execute"
EXECUTE_CURRENT = "/api/v3.1/tools/execute/GMAIL_SEND_EMAIL"
EMAIL = {"recipient_email": "ada@example.com", "subject": "hi", "body": "hello"}


def chat(sandbox: Sandbox) -> httpx.Response:
    return httpx.post(
        f"{sandbox.openai_base_url}/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {sandbox.api_key}"},
    )


def send_email(sandbox: Sandbox, path: str = EXECUTE_CURRENT) -> httpx.Response:
    body: dict[str, Any]
    if path == EXECUTE_CURRENT:
        body = {"user_id": "default", "version": "latest", "arguments": EMAIL}
    else:
        body = {"entityId": "default", "input": EMAIL, "appName": "gmail"}
    return httpx.post(f"{sandbox.url}{path}", json=body, headers={"x-api-key": sandbox.api_key})


def test_rate_limit_with_headers_reaches_the_sdk_as_rate_limit_error(
    crs_sandbox: Sandbox,
) -> None:
    rule = crs_sandbox.fault("rate_limit", api="openai", retry_after=7)
    client = crs_sandbox.openai_client(max_retries=0)

    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])

    headers = caught.value.response.headers
    assert headers["retry-after"] == "7"
    assert headers["retry-after-ms"] == "7000"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert caught.value.code == "rate_limit_exceeded"
    assert rule.hits == 1
    assert rule.remaining == 0
    # The next request is fine: the rule was for one request.
    assert client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}]
    ).choices


def test_times_and_after_select_which_requests_fail(crs_sandbox: Sandbox) -> None:
    crs_sandbox.fault("server_error", api="openai", status=502, times=2, after=1)

    statuses = [chat(crs_sandbox).status_code for _ in range(4)]

    assert statuses == [200, 502, 502, 200]
    assert [entry.fault for entry in crs_sandbox.requests] == [None, "server_error",
                                                               "server_error", None]


def test_composio_rate_limits_come_in_both_shapes(crs_sandbox: Sandbox) -> None:
    crs_sandbox.fault("rate_limit", api="composio", retry_after=2.5)
    crs_sandbox.fault("rate_limit", api="composio", headers=False)

    documented = send_email(crs_sandbox)
    undocumented = send_email(crs_sandbox)

    assert documented.status_code == 429
    assert documented.headers["retry-after"] == "3"
    assert documented.headers["x-ratelimit-remaining"] == "0"
    assert int(documented.headers["x-ratelimit-reset"]) > 0
    assert undocumented.status_code == 429
    assert "retry-after" not in undocumented.headers
    assert undocumented.json() == {"code": 10429, "slug": "HTTP_TooManyRequests"}
    # Both are recognised by the resilience kit as rate limits.
    for response in (documented, undocumented):
        assert classify(response).kind is ErrorType.RATE_LIMIT
    assert crs_sandbox.composio.sent_emails() == []


def test_tool_and_api_narrow_the_match(crs_sandbox: Sandbox) -> None:
    crs_sandbox.fault("server_error", api="composio-core", tool="gmail_send_email")

    assert send_email(crs_sandbox, EXECUTE_CURRENT).status_code == 200  # other generation
    assert send_email(crs_sandbox, EXECUTE_CORE).status_code == 503
    assert len(crs_sandbox.composio.sent_emails()) == 1


def test_auth_envelope_is_a_200_that_reports_401(crs_sandbox: Sandbox) -> None:
    crs_sandbox.fault("auth_envelope", api="composio")

    response = send_email(crs_sandbox)

    assert response.status_code == 200
    body = response.json()
    assert body["successful"] is False
    assert "401" in str(body)
    assert classify(response).kind is ErrorType.AUTH


def test_unauthorized_fault_uses_the_dialect_error_shape(crs_sandbox: Sandbox) -> None:
    crs_sandbox.fault("unauthorized", times=2)

    openai_error = chat(crs_sandbox)
    composio_error = send_email(crs_sandbox)

    assert openai_error.status_code == composio_error.status_code == 401
    assert openai_error.json()["error"]["code"] == "invalid_api_key"
    assert composio_error.json()["error"]["status"] == 401


def test_expire_account_fault_fails_that_request_as_expired(crs_sandbox: Sandbox) -> None:
    crs_sandbox.fault("expire_account", tool="GMAIL_SEND_EMAIL", app="gmail")

    response = send_email(crs_sandbox)

    assert response.status_code == 400
    assert "is EXPIRED" in response.json()["error"]["message"]
    assert crs_sandbox.composio.accounts(user_ids=["default"], apps=["gmail"])[0]["status"] == (
        "EXPIRED"
    )


def test_delay_waits_on_the_virtual_clock(crs_sandbox: Sandbox, crs_clock: VirtualClock) -> None:
    crs_sandbox.fault("delay", api="openai", seconds=30)

    response = chat(crs_sandbox)

    assert response.status_code == 200
    assert crs_clock.sleeps == [30.0]


def test_dropped_connection_surfaces_as_a_connection_error(crs_sandbox: Sandbox) -> None:
    crs_sandbox.fault("drop", api="openai")
    client = crs_sandbox.openai_client(max_retries=0)

    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])

    assert chat(crs_sandbox).status_code == 200, "the server survives a drop"


def test_unfired_faults_are_reported_unless_optional(crs_sandbox: Sandbox) -> None:
    crs_sandbox.fault("server_error", api="openai")
    crs_sandbox.fault("server_error", api="composio", strict=False)

    assert [rule.kind for rule in crs_sandbox.unfired_faults()] == [FaultKind.SERVER_ERROR]
    assert crs_sandbox.unfired_faults()[0].api == "openai"
    crs_sandbox.reset()  # left unfired on purpose


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("meltdown", {}, "kind='meltdown' is not one of"),
        ("rate_limit", {"status": 500}, "does not take status"),
        ("server_error", {"status": 404}, "status must be an int from 500 to 599"),
        ("delay", {}, "needs seconds="),
        ("delay", {"seconds": -1}, "seconds must be"),
        ("expire_account", {}, "needs app="),
        ("auth_envelope", {"api": "openai"}, "needs api='composio'"),
        ("drop", {"api": "anthropic"}, "api='anthropic' is not one of"),
        ("drop", {"times": 0}, "times must be a positive int"),
    ],
)
def test_bad_fault_options_are_refused_by_name(
    crs_sandbox: Sandbox, kind: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        crs_sandbox.fault(kind, **options)


class TestControlApi:
    def test_faults_over_http(self, crs_sandbox: Sandbox) -> None:
        created = httpx.post(
            f"{crs_sandbox.url}/_sandbox/faults",
            json={"kind": "server_error", "api": "openai", "status": 500},
        )
        failed = chat(crs_sandbox)
        listed = httpx.get(f"{crs_sandbox.url}/_sandbox/faults").json()["faults"]

        assert created.status_code == 201
        assert failed.status_code == 500
        assert listed[0]["hits"] == 1
        assert listed[0]["remaining"] == 0

    def test_bad_fault_is_a_400_naming_the_option(self, crs_sandbox: Sandbox) -> None:
        response = httpx.post(
            f"{crs_sandbox.url}/_sandbox/faults", json={"kind": "delay", "seconds": "soon"}
        )

        assert response.status_code == 400
        assert "seconds" in response.json()["error"]["message"]

    def test_scripts_accounts_log_and_reset_over_http(self, crs_sandbox: Sandbox) -> None:
        base = f"{crs_sandbox.url}/_sandbox"
        scripted = httpx.post(
            f"{base}/scripts",
            json={"model": "gpt-4o", "turns": [
                {"tool_calls": [{"name": "lookup", "arguments": {"q": "x"}}]}, "done"
            ]},
        )
        first = chat(crs_sandbox).json()["choices"][0]["message"]
        second = chat(crs_sandbox).json()["choices"][0]["message"]
        account = httpx.post(
            f"{base}/accounts", json={"user_id": "bob", "app": "github", "status": "EXPIRED"}
        )
        log = httpx.get(f"{base}/requests").json()["requests"]
        reset = httpx.post(f"{base}/reset")

        assert scripted.status_code == 201
        assert first["tool_calls"][0]["function"]["name"] == "lookup"
        assert second["content"] == "done"
        assert account.json()["status"] == "EXPIRED"
        assert [entry["path"] for entry in log] == ["/v1/chat/completions"] * 2
        assert log[0]["body"]["model"] == "gpt-4o"
        assert reset.status_code == 204
        assert crs_sandbox.requests == []
        assert crs_sandbox.composio.accounts(user_ids=["bob"]) == []

    def test_bad_script_turn_is_a_400(self, crs_sandbox: Sandbox) -> None:
        response = httpx.post(
            f"{crs_sandbox.url}/_sandbox/scripts",
            json={"model": "m", "turns": [{"tool_calls": [{"arguments": {}}]}]},
        )

        assert response.status_code == 400
        assert "turns[0].tool_calls[0] needs a 'name'" in response.json()["error"]["message"]
