"""Every fault against the real ``openai`` SDK, talking to the sandbox, on virtual time.

The faults are answered inside the client (before the request leaves it), in OpenAI's own wire
form, so what is asserted here is the SDK's own reaction: which exception it raises, how often
it retries and how long it waits — the waits are virtual, and ``crs_clock.sleeps`` shows them.
"""

from __future__ import annotations

import asyncio

import httpx2
import openai
import pytest

from crs import VirtualClock
from crs.sandbox import Sandbox
from pytest_crs.faults import (
    FaultPlan,
    auth_expired,
    connection_reset,
    fail,
    latency,
    llm,
    rate_limit,
    server_error,
    stream_cut,
    succeed,
    timeout,
)

MESSAGES = [{"role": "user", "content": "Say hello"}]


def ask(client: openai.OpenAI, **options: object) -> str:
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **options)  # type: ignore[call-overload]
    return str(reply.choices[0].message.content)


@pytest.mark.parametrize(
    ("form", "wait"),
    [("seconds", 7.0), ("ms", 2.5), ("http-date", 30.0)],
)
def test_the_sdk_waits_as_long_as_the_429_says(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock, form: str, wait: float
) -> None:
    crs_faults.on(llm(model="gpt-4o"), rate_limit(retry_after=wait, form=form).times(2))
    answer = ask(crs_sandbox.openai_client(max_retries=2))
    assert answer
    assert crs_faults.attempts(llm()) == 3
    assert crs_clock.sleeps == [wait, wait]
    assert len(crs_sandbox.requests) == 1  # the two 429s never reached the server


def test_a_429_without_retry_after_gets_the_sdks_own_backoff(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), rate_limit(form="none").times(2))
    ask(crs_sandbox.openai_client(max_retries=2))
    first, second = crs_clock.sleeps
    assert 0.375 <= first <= 0.5  # 0.5 s, less up to 25 % jitter
    assert 0.75 <= second <= 1.0


def test_a_retry_after_beyond_two_minutes_is_not_retried(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), rate_limit(retry_after=600))
    with pytest.raises(openai.RateLimitError) as caught:
        ask(crs_sandbox.openai_client(max_retries=5))
    assert caught.value.response.headers["retry-after"] == "600"
    assert crs_faults.attempts(llm()) == 1
    assert crs_clock.sleeps == []


def test_server_errors_are_retried_until_the_budget_runs_out(
    crs_sandbox: Sandbox, crs_faults: FaultPlan
) -> None:
    crs_faults.on(llm(), server_error(502).always())
    with pytest.raises(openai.InternalServerError) as caught:
        ask(crs_sandbox.openai_client(max_retries=3))
    assert caught.value.status_code == 502
    assert crs_faults.attempts(llm()) == 4
    assert crs_sandbox.requests == []


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (timeout("read"), openai.APITimeoutError),
        (timeout("connect"), openai.APITimeoutError),
        (connection_reset(), openai.APIConnectionError),
        (connection_reset(after_send=True), openai.APIConnectionError),
    ],
)
def test_transport_failures_become_the_sdks_errors(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, fault: object, error: type[Exception]
) -> None:
    crs_faults.on(llm(), fail(fault).times(2))  # type: ignore[arg-type]
    client = crs_sandbox.openai_client(max_retries=0)
    with pytest.raises(error):
        ask(client)
    assert ask(client.with_options(max_retries=1))  # second fault, then through
    assert [i.attempt for i in crs_faults.injected] == [1, 2]


def test_latency_longer_than_the_timeout_times_out_in_virtual_time(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), latency(45).times(1))
    client = crs_sandbox.openai_client(max_retries=0, timeout=httpx2.Timeout(10.0))
    start = crs_clock.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(client)
    assert crs_clock.monotonic() - start == 10.0  # waited exactly the read timeout
    assert crs_clock.sleeps == []  # latency is the server's time, not a sleep of the client
    assert ask(client)


def test_short_latency_just_costs_virtual_time(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), latency(3))
    start = crs_clock.monotonic()
    assert ask(crs_sandbox.openai_client(max_retries=0))
    assert crs_clock.monotonic() - start == 3.0


def test_an_expired_key_is_not_retried(crs_sandbox: Sandbox, crs_faults: FaultPlan) -> None:
    crs_faults.on(llm(), auth_expired())
    with pytest.raises(openai.AuthenticationError) as caught:
        ask(crs_sandbox.openai_client(max_retries=3))
    assert caught.value.code == "invalid_api_key"
    assert crs_faults.attempts(llm()) == 1


def test_a_cut_stream_breaks_mid_answer_and_the_next_call_streams_whole(
    crs_sandbox: Sandbox, crs_faults: FaultPlan
) -> None:
    crs_faults.on(llm(), stream_cut(after_events=2))
    client = crs_sandbox.openai_client(max_retries=0)
    received: list[object] = []
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIConnectionError) as cut:
        received.extend(stream)
    assert isinstance(cut.value.__cause__, httpx2.RemoteProtocolError)
    assert len(received) == 2
    whole = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert len(whole) > 2


def test_the_async_client_retries_on_virtual_time(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), fail(rate_limit(retry_after=20)).then(server_error()).then(succeed()))

    async def run() -> str:
        async with crs_sandbox.async_openai_client(max_retries=2) as client:
            reply = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
            return str(reply.choices[0].message.content)

    assert asyncio.run(run())
    assert crs_faults.attempts(llm()) == 3
    assert crs_clock.sleeps[0] == 20.0
    assert 0.75 <= crs_clock.sleeps[1] <= 1.0
