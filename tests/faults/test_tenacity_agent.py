"""An agent written straight on ``AsyncOpenAI`` with tenacity retries, as many people write one.

No crs code runs inside the agent: the faults are injected into the real SDK's HTTP client,
tenacity decides what to retry, and the waits — tenacity's ``asyncio.sleep`` — are virtual.
So the test can assert the exact attempts and the exact backoff, and runs in milliseconds.
"""

from __future__ import annotations

import asyncio

import openai
import pytest
from tenacity import (
    RetryError,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from crs import VirtualClock
from crs.sandbox import Sandbox
from pytest_crs.faults import FaultPlan, auth_expired, fail, llm, rate_limit, server_error, timeout

RETRYABLE = (openai.RateLimitError, openai.APITimeoutError, openai.InternalServerError)


class SupportAgent:
    """Answers a customer; the model call is retried three times with exponential backoff."""

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.client = client

    @retry(
        stop=stop_after_attempt(3),
        wait=wait_exponential(multiplier=2, min=1, max=30),
        retry=retry_if_exception_type(RETRYABLE),
    )
    async def answer(self, question: str) -> str:
        reply = await self.client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return str(reply.choices[0].message.content)


def run_agent(sandbox: Sandbox, question: str = "Where is my order?") -> str:
    async def main() -> str:
        # max_retries=0: tenacity owns retrying, as in the agent this stands for.
        async with sandbox.async_openai_client(max_retries=0) as client:
            return await SupportAgent(client).answer(question)

    return asyncio.run(main())


def test_two_rate_limits_then_an_answer(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(model="gpt-4o-mini"), rate_limit(retry_after=60).times(2))
    assert run_agent(crs_sandbox)
    assert crs_faults.attempts(llm()) == 3
    # tenacity ignores Retry-After: its own backoff, 2 s then 4 s, virtual.
    assert crs_clock.sleeps == [2.0, 4.0]


def test_three_failures_exhaust_the_decorator(
    crs_faults: FaultPlan, crs_sandbox: Sandbox, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), fail(server_error()).then(timeout("read")).then(rate_limit(retry_after=1)))
    with pytest.raises(RetryError) as caught:
        run_agent(crs_sandbox)
    assert isinstance(caught.value.last_attempt.exception(), openai.RateLimitError)
    assert crs_faults.attempts(llm()) == 3
    assert crs_clock.sleeps == [2.0, 4.0]
    assert [i.fault.kind.value for i in crs_faults.injected] == [
        "server_error",
        "timeout",
        "rate_limit",
    ]


def test_an_expired_key_fails_at_once(
    crs_faults: FaultPlan, crs_sandbox: Sandbox, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), auth_expired())
    with pytest.raises(openai.AuthenticationError):
        run_agent(crs_sandbox)
    assert crs_faults.attempts(llm()) == 1
    assert crs_clock.sleeps == []
