"""Every tool fault against the real composio-core SDK (and crs's adapter on it), via the sandbox.

composio-core 0.7 does its own, very particular, retrying: a read timeout is retried up to three
times at once — for every request, an ``execute`` that sends an email included. These tests pin
that down, because it is exactly what the duplicate detector is for.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pytest

try:
    metadata.version("composio-core")
except metadata.PackageNotFoundError:
    pytest.skip("composio-core is not installed here", allow_module_level=True)

from composio.client.exceptions import HTTPError
from composio.exceptions import SDKTimeoutError

from crs import ContextReferenceStore, RetryPolicy, VirtualClock
from crs.resilience import stop_after_attempt, wait_fixed
from crs.sandbox import Sandbox
from crs.tools import ComposioAdapter
from pytest_crs.faults import (
    FaultPlan,
    auth_expired,
    connection_reset,
    fail,
    rate_limit,
    server_error,
    timeout,
    tool,
    tool_failure,
)

EMAIL = {"recipient_email": "ada@example.com", "subject": "Invoice", "body": "Attached."}
SEND = tool("GMAIL_SEND_EMAIL")


@pytest.fixture
def toolset(crs_sandbox: Sandbox) -> Any:
    return crs_sandbox.composio_toolset()


def send(toolset: Any) -> Any:
    return toolset.execute_action("GMAIL_SEND_EMAIL", EMAIL)


def test_a_read_timeout_on_send_is_retried_by_the_sdk_and_delivered_twice(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, toolset: Any
) -> None:
    crs_faults.on(SEND, timeout("read"))
    result = send(toolset)
    assert result["successful"] is True
    assert crs_faults.attempts(SEND) == 2
    [duplicate] = crs_faults.duplicates
    assert duplicate.slug == "GMAIL_SEND_EMAIL"
    assert [a.fault is None for a in duplicate.attempts] == [False, True]
    assert "read" in duplicate.describe()
    # The injected timeout never reached the sandbox, so only one email went out here; in
    # production the first one may well have been sent too — that is the point of the report.
    assert len(crs_sandbox.composio.sent_emails()) == 1


def test_three_read_timeouts_exhaust_the_sdks_retries(crs_faults: FaultPlan, toolset: Any) -> None:
    crs_faults.on(SEND, timeout("read").always())
    with pytest.raises(SDKTimeoutError):
        send(toolset)
    assert crs_faults.attempts(SEND) == 3


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (rate_limit(retry_after=3), 429),
        (rate_limit(shape="composio-10429"), 429),
        (server_error(502), 502),
        (auth_expired(), 401),
        (auth_expired("expired-account"), 400),
    ],
)
def test_http_errors_are_not_retried_by_composio_core(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, toolset: Any, fault: Any, status: int
) -> None:
    crs_faults.on(SEND, fault)
    with pytest.raises(HTTPError) as caught:
        send(toolset)
    assert caught.value.status_code == status
    assert crs_faults.attempts(SEND) == 1
    assert crs_sandbox.composio.sent_emails() == []


def test_a_connection_reset_surfaces_as_the_requests_error(
    crs_faults: FaultPlan, toolset: Any
) -> None:
    import requests

    crs_faults.on(SEND, connection_reset())
    with pytest.raises(requests.ConnectionError, match="injected by crs_faults"):
        send(toolset)
    assert crs_faults.duplicates == []  # nothing went out


def test_tool_failures_and_the_401_envelope_come_back_as_results(
    crs_faults: FaultPlan, toolset: Any
) -> None:
    crs_faults.on(SEND, fail(tool_failure("Mailbox full")).then(auth_expired("401-in-200")))
    failed = send(toolset)
    assert (failed["successful"], failed["error"]) == (False, "Mailbox full")
    envelope = send(toolset)
    assert envelope["successful"] is False
    assert envelope["data"]["status_code"] == 401


def test_the_adapter_retries_injected_rate_limits_with_its_own_wait(
    crs_sandbox: Sandbox,
    crs_faults: FaultPlan,
    crs_clock: VirtualClock,
    crs_store: ContextReferenceStore,
) -> None:
    crs_faults.on(SEND, rate_limit(retry_after=3).times(2))
    policy = RetryPolicy(stop=stop_after_attempt(4), wait=wait_fixed(1))
    adapter = ComposioAdapter(crs_store, crs_sandbox.tool_backend(), retry_policy=policy)
    execution = adapter.execute_tool_with_context("gmail", "SEND_EMAIL", EMAIL, "default")
    assert execution.successful
    # composio-core's HTTPError keeps the 429's status and body, not its Retry-After header,
    # so the adapter can only fall back on the policy's own wait.
    assert crs_clock.sleeps == [1.0, 1.0]
    assert crs_faults.attempts(SEND) == 3
    assert len(crs_sandbox.composio.sent_emails()) == 1
