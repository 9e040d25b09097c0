"""Faults on Python tools: the plan at the adapter's tool seam, with the adapter's own retries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crs.clock import VirtualClock
from crs.resilience import ErrorType, RetryPolicy, classify, stop_after_attempt, wait_fixed
from crs.store import ContextReferenceStore
from crs.tools import CallableBackend, ComposioAdapter
from pytest_crs.faults import (
    FaultPlan,
    InjectedFault,
    auth_expired,
    connection_reset,
    latency,
    rate_limit,
    server_error,
    succeed,
    timeout,
    tool,
    tool_failure,
)


@pytest.fixture
def sent() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def adapter(crs_store: ContextReferenceStore, sent: list[dict[str, Any]]) -> ComposioAdapter:
    def lookup(q: str) -> dict[str, str]:
        return {"answer": q.upper()}

    def send_message(to: str, text: str) -> str:
        sent.append({"to": to, "text": text})
        return "sent"

    async def lookup_async(q: str) -> dict[str, str]:
        return {"answer": q[::-1]}

    backend = CallableBackend(
        {"lookup": lookup, "send_message": send_message, "lookup_async": lookup_async}
    )
    return ComposioAdapter(crs_store, backend)


def test_a_rate_limit_is_retried_after_the_announced_wait(
    adapter: ComposioAdapter, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(tool(app="local", action="lookup"), rate_limit(retry_after=7).times(2))
    execution = adapter.execute_tool_with_context("local", "lookup", {"q": "hi"}, "u1")
    assert execution.successful
    assert execution.data == {"answer": "HI"}
    assert execution.attempts == 3
    assert crs_clock.sleeps == [7.0, 7.0]
    assert crs_faults.attempts(tool("LOCAL_LOOKUP")) == 3
    assert [i.at for i in crs_faults.injected] == [0.0, 7.0]


def test_injected_errors_classify_like_real_ones() -> None:
    from pytest_crs.faults._tools import injected_error

    cases = {
        rate_limit(retry_after=3): (ErrorType.RATE_LIMIT, True, 3.0, False),
        server_error(502): (ErrorType.SERVER, True, None, True),
        timeout("connect"): (ErrorType.TIMEOUT, True, None, False),
        timeout("read"): (ErrorType.TIMEOUT, True, None, True),
        connection_reset(after_send=True): (ErrorType.CONNECTION, True, None, True),
        auth_expired(): (ErrorType.AUTH, False, None, False),
    }
    for fault, (kind, retryable, retry_after, executed) in cases.items():
        error = injected_error(fault, "LOCAL_LOOKUP")
        verdict = classify(error)
        assert isinstance(error, InjectedFault)
        assert error.fault is fault
        seen = (verdict.kind, verdict.retryable, verdict.retry_after, verdict.may_have_executed)
        assert seen == (kind, retryable, retry_after, executed), fault
    assert injected_error(server_error(502), "X").status_code == 502


def test_an_expired_credential_is_not_retried(
    adapter: ComposioAdapter, crs_faults: FaultPlan
) -> None:
    crs_faults.on(tool(app="local"), auth_expired())
    execution = adapter.execute_tool_with_context("local", "lookup", {"q": "hi"}, "u1")
    assert not execution.successful
    assert execution.attempts == 1
    assert execution.failure is not None
    assert execution.failure.kind is ErrorType.AUTH
    assert isinstance(execution.exception, InjectedFault)


def test_tool_failure_is_an_unsuccessful_result_not_an_exception(
    adapter: ComposioAdapter, crs_faults: FaultPlan
) -> None:
    crs_faults.on(tool(action="lookup"), tool_failure("quota exceeded for today"))
    execution = adapter.execute_tool_with_context("local", "lookup", {"q": "hi"}, "u1")
    assert not execution.successful
    assert execution.error == "quota exceeded for today"
    assert execution.exception is None


def test_a_read_timeout_on_a_write_is_not_retried_and_not_duplicated(
    adapter: ComposioAdapter, crs_faults: FaultPlan, sent: list[dict[str, Any]]
) -> None:
    crs_faults.on(tool(action="send_message"), timeout("read"))
    execution = adapter.execute_tool_with_context(
        "local", "send_message", {"to": "bob", "text": "hi"}, "u1"
    )
    assert not execution.successful
    assert execution.attempts == 1
    assert sent == []
    assert crs_faults.duplicates == []


def test_a_policy_that_retries_ambiguous_writes_shows_up_as_a_duplicate(
    adapter: ComposioAdapter, crs_faults: FaultPlan, sent: list[dict[str, Any]]
) -> None:
    crs_faults.on(tool(action="send_message"), timeout("read").then(succeed()))
    careless = RetryPolicy(stop=stop_after_attempt(3), wait=wait_fixed(1), retry_ambiguous=True)
    execution = adapter.execute_tool_with_context(
        "local", "send_message", {"to": "bob", "text": "hi"}, "u1", retry_policy=careless
    )
    assert execution.successful
    assert execution.attempts == 2
    [duplicate] = crs_faults.duplicates
    assert duplicate.slug == "LOCAL_SEND_MESSAGE"
    assert duplicate.arguments == {
        "to": "bob",
        "text": "hi",
    }


def test_latency_costs_virtual_time_only(
    adapter: ComposioAdapter, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(tool(action="lookup"), latency(42))
    execution = adapter.execute_tool_with_context("local", "lookup", {"q": "hi"}, "u1")
    assert execution.successful
    assert execution.attempts == 1
    assert crs_clock.sleeps == []  # the tool's slowness, not a wait of the caller
    assert execution.latency_ms == pytest.approx(42_000)


def test_async_tools_go_through_the_same_plan(
    adapter: ComposioAdapter, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(tool(action="lookup_async"), server_error(503).then(latency(5)))

    execution = asyncio.run(
        adapter.aexecute_tool_with_context("local", "lookup_async", {"q": "abc"}, "u1")
    )
    assert execution.successful
    assert execution.data == {"answer": "cba"}
    assert execution.attempts == 2
    assert [i.fault.kind.value for i in crs_faults.injected] == ["server_error", "latency"]
    assert crs_clock.total_slept > 0  # the backoff after the 503
    assert execution.latency_ms == pytest.approx((crs_clock.total_slept + 5) * 1000)


@pytest.mark.crs_faults(tool(action="lookup"), rate_limit(retry_after=1).times(1))
def test_the_marker_form(adapter: ComposioAdapter, crs_faults: FaultPlan) -> None:
    execution = adapter.execute_tool_with_context("local", "lookup", {"q": "hi"}, "u1")
    assert execution.successful
    assert execution.attempts == 2
    assert len(crs_faults.injected) == 1
