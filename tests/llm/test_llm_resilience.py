"""Retries, timeouts, rate limits: crs's policy and crs's clock, never the SDK's.

Faults are injected into the real openai SDK's HTTP requests (``crs_faults``), in OpenAI's wire
form, and everything runs on ``crs_clock``: ``crs_clock.sleeps`` is exactly what crs waited
and ``crs_faults.attempts(llm())`` exactly what it sent. The SDK's own retry loop is off, so
any retry seen here is crs's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from crs import (
    CrsTimeoutError,
    RateLimiter,
    RetryPolicy,
    VirtualClock,
    classify,
    stop_after_attempt,
)
from crs.llm import AsyncLLMClient, LLMClient, LLMConfig, LLMError, LLMResponse
from crs.resilience import ErrorType
from crs.sandbox import Sandbox
from pytest_crs.faults import (
    FaultPlan,
    auth_expired,
    fail,
    latency,
    llm,
    rate_limit,
    server_error,
    succeed,
)

MakeClient = Callable[..., LLMClient]


def test_429s_wait_exactly_retry_after_on_virtual_time(
    make_client: MakeClient, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), rate_limit(retry_after=2).times(2))
    client = make_client()
    response = client.complete("hello")

    assert crs_clock.sleeps == [2.0, 2.0]
    assert crs_faults.attempts(llm()) == 3
    assert response.attempts == 3
    assert [a.classification.kind for a in response.history[:2]] == [ErrorType.RATE_LIMIT] * 2
    assert response.latency == 4.0
    stats = client.stats()
    assert stats.attempt_failures_by_type == {ErrorType.RATE_LIMIT: 2}
    assert stats.failures_by_type == {}
    assert (stats.attempts, stats.retries) == (3, 2)


def test_the_async_client_waits_retry_after_too(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), fail(rate_limit(retry_after=20, form="ms")).then(succeed()))

    async def scenario() -> LLMResponse:
        async with crs_sandbox.async_openai_client() as raw:
            return await AsyncLLMClient(LLMConfig(model="gpt-4o"), client=raw).complete("hi")

    response = asyncio.run(scenario())
    assert crs_clock.sleeps == [20.0]
    assert crs_faults.attempts(llm()) == 2
    assert response.attempts == 2


def test_a_429_that_never_ends_gives_up_after_max_retries(
    make_client: MakeClient, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), rate_limit(retry_after=3).always())
    client = make_client(max_retries=2)

    with pytest.raises(LLMError) as caught:
        client.complete("hello")

    error = caught.value
    assert error.kind is ErrorType.RATE_LIMIT
    assert error.attempts == 3
    assert len(error.history) == 3
    assert "HTTP 429" in str(error)
    assert crs_clock.sleeps == [3.0, 3.0]
    assert crs_faults.attempts(llm()) == 3
    assert classify(error).kind is ErrorType.RATE_LIMIT  # taken at its word
    assert client.stats().failures_by_type == {ErrorType.RATE_LIMIT: 1}


def test_a_retry_after_beyond_the_policys_limit_is_not_waited_out(
    make_client: MakeClient, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), rate_limit(retry_after=600))
    with pytest.raises(LLMError, match="max_retry_after") as caught:
        make_client().complete("hello")
    assert caught.value.attempts == 1
    assert crs_clock.sleeps == []


def test_a_5xx_is_retried_with_crs_backoff(
    make_client: MakeClient, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), server_error(503).times(1))
    response = make_client().complete("hello")
    assert response.attempts == 2
    [wait] = crs_clock.sleeps
    assert 0.5 <= wait <= 0.75  # wait_exponential(0.5) + up to 0.25 s of jitter


def test_latency_past_the_timeout_is_a_timeout_and_is_retried(
    make_client: MakeClient, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    """The read timeout is LLMConfig.timeout, and it runs out in virtual time."""
    crs_faults.on(llm(), latency(45).times(1))
    client = make_client(timeout=10.0)
    response = client.complete("hello")

    assert response.attempts == 2
    assert response.history[0].classification.kind is ErrorType.TIMEOUT
    assert response.history[0].duration == 10.0
    [backoff] = crs_clock.sleeps
    assert response.latency == 10.0 + backoff
    assert client.stats().attempt_failures_by_type == {ErrorType.TIMEOUT: 1}


def test_the_async_client_times_attempts_out_on_the_crs_clock(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), latency(45).times(1))

    async def scenario() -> tuple[LLMResponse, Any]:
        async with crs_sandbox.async_openai_client() as raw:
            client = AsyncLLMClient(LLMConfig(model="gpt-4o", timeout=10.0), client=raw)
            return await client.complete("hello"), client.stats()

    response, stats = asyncio.run(scenario())
    first = response.history[0]
    assert first.classification.kind is ErrorType.TIMEOUT
    assert isinstance(first.error, CrsTimeoutError)
    assert "did not answer within 10 s" in str(first.error)
    assert first.duration == 10.0
    assert response.attempts == 2
    assert stats.attempt_failures_by_type == {ErrorType.TIMEOUT: 1}


def test_timeouts_every_time_end_in_a_timeout_error(
    make_client: MakeClient, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), latency(60).always())
    with pytest.raises(LLMError) as caught:
        make_client(timeout=5.0, max_retries=1).complete("hello")
    assert caught.value.kind is ErrorType.TIMEOUT
    assert caught.value.attempts == 2
    assert "LLMConfig.timeout" in str(caught.value)  # the hint says what to change


def test_an_expired_key_is_not_retried(
    make_client: MakeClient, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), auth_expired())
    client = make_client(max_retries=5)

    with pytest.raises(LLMError) as caught:
        client.complete("hello")

    assert caught.value.kind is ErrorType.AUTH
    assert caught.value.attempts == 1
    assert crs_faults.attempts(llm()) == 1
    assert crs_clock.sleeps == []
    assert "API key" in str(caught.value)  # the hint
    assert client.stats().failures_by_type == {ErrorType.AUTH: 1}


def test_a_users_retry_policy_replaces_the_default(
    make_client: MakeClient, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), rate_limit(retry_after=1))
    client = make_client(retry_policy=RetryPolicy(stop=stop_after_attempt(1)))
    with pytest.raises(LLMError):
        client.complete("hello")
    assert crs_faults.attempts(llm()) == 1


def test_the_rate_limiter_spaces_requests(make_client: MakeClient, crs_clock: VirtualClock) -> None:
    limiter = RateLimiter(requests_per_minute=30)
    client = make_client(rate_limiter=limiter)
    for _ in range(3):
        client.complete("hello")
    assert crs_clock.sleeps == [2.0, 2.0]
    assert limiter.stats().admitted == 3


def test_a_429_pauses_the_shared_limiter_without_waiting_twice(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    """Retry-After pauses the model's key for every client sharing the limiter."""
    crs_faults.on(llm(), rate_limit(retry_after=5))
    limiter = RateLimiter(requests_per_minute=600)
    config = LLMConfig(model="gpt-4o", rate_limiter=limiter)
    first = LLMClient(config, client=crs_sandbox.openai_client())
    second = LLMClient(config, client=crs_sandbox.openai_client())

    first.complete("hello")
    assert crs_clock.sleeps == [5.0]  # the policy's wait; the limiter's pause ended with it
    assert limiter.stats().backoffs == 1
    assert limiter.delay("gpt-4o") == pytest.approx(0.1)
    second.complete("hello")
    assert crs_clock.sleeps == [5.0, pytest.approx(0.1)]


def test_the_async_rate_limiter_is_honoured(crs_sandbox: Sandbox, crs_clock: VirtualClock) -> None:
    async def scenario() -> None:
        async with crs_sandbox.async_openai_client() as raw:
            client = AsyncLLMClient(
                LLMConfig(model="gpt-4o", rate_limiter=RateLimiter(60)), client=raw
            )
            for _ in range(3):
                await client.complete("hello")

    asyncio.run(scenario())
    assert crs_clock.sleeps == [1.0, 1.0]
