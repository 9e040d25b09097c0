"""Tool faults against the real current ``composio`` SDK (>= 0.8), via the sandbox.

Runs in the environment that has the current SDK (the README's second test command). Its HTTP
client is a Stainless one, like openai's: it retries 429s, 5xx and transport failures itself,
honouring Retry-After, with sleeps the plugin makes virtual — except for tool executions, which
it deliberately never retries (``Composio.without_retries``: a retry after a read timeout could
send the email twice). These tests pin both halves down.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pytest

try:
    metadata.version("composio")
except metadata.PackageNotFoundError:
    pytest.skip("the current composio SDK has its own environment", allow_module_level=True)

from composio_client import (
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
)

from crs import VirtualClock
from crs.sandbox import Sandbox
from crs.sandbox._composio_catalog import TOOLKIT_VERSION
from pytest_crs.faults import (
    FaultPlan,
    auth_expired,
    http,
    rate_limit,
    server_error,
    timeout,
    tool,
    tool_failure,
)

EMAIL = {"recipient_email": "ada@example.com", "subject": "Invoice", "body": "Attached."}
SEND = tool("GMAIL_SEND_EMAIL")
#: The tool's schema, which the SDK fetches before executing it: a read, retried.
SCHEMA = http(path="/api/v3.1/tools/GMAIL_SEND_EMAIL", method="GET")


@pytest.fixture
def composio(crs_sandbox: Sandbox) -> Any:
    return crs_sandbox.composio_client()


def send(client: Any, **options: Any) -> Any:
    return client.tools.execute(
        "GMAIL_SEND_EMAIL", EMAIL, user_id="default", version=TOOLKIT_VERSION, **options
    )


def test_reads_are_retried_honouring_retry_after_on_virtual_time(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock, composio: Any
) -> None:
    crs_faults.on(SCHEMA, rate_limit(retry_after=9).times(2))
    assert send(composio)["successful"] is True
    assert crs_faults.attempts(SCHEMA) == 3
    assert crs_clock.sleeps == [9.0, 9.0]
    assert len(crs_sandbox.composio.sent_emails()) == 1


def test_the_undocumented_429_gets_the_sdks_own_backoff(
    crs_faults: FaultPlan, crs_clock: VirtualClock, composio: Any
) -> None:
    crs_faults.on(SCHEMA, rate_limit(shape="composio-10429").always())
    with pytest.raises(RateLimitError) as caught:
        send(composio)
    assert caught.value.body == {"code": 10429, "slug": "HTTP_TooManyRequests"}
    assert crs_faults.attempts(SCHEMA) == 3  # the SDK's default: two retries
    assert len(crs_clock.sleeps) == 2
    assert all(0 < wait <= 8 for wait in crs_clock.sleeps)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (rate_limit(retry_after=1), RateLimitError),
        (server_error(503), InternalServerError),
        (timeout("read"), APITimeoutError),
    ],
)
def test_executions_are_never_retried(
    crs_faults: FaultPlan, crs_clock: VirtualClock, composio: Any, fault: Any, error: type
) -> None:
    crs_faults.on(SEND, fault)
    with pytest.raises(error):
        send(composio)
    assert crs_faults.attempts(SEND) == 1
    assert crs_faults.duplicates == []  # so a read timeout cannot send the email twice
    assert crs_clock.sleeps == []


def test_errors_the_sdk_does_not_retry(crs_faults: FaultPlan, composio: Any) -> None:
    crs_faults.on(SEND, auth_expired())
    crs_faults.on(SEND, auth_expired("expired-account"))
    with pytest.raises(AuthenticationError):
        send(composio)
    with pytest.raises(BadRequestError, match="not active"):
        send(composio)
    assert crs_faults.attempts(SEND) == 2


def test_results_that_report_failure(crs_faults: FaultPlan, composio: Any) -> None:
    crs_faults.on(SEND, tool_failure("Mailbox full"))
    crs_faults.on(SEND, auth_expired("401-in-200"))
    failed = send(composio)
    assert (failed["successful"], failed["error"]) == (False, "Mailbox full")
    envelope = send(composio)
    assert envelope["successful"] is False
    assert envelope["data"]["status_code"] == 401
