"""Third-party retry loops sleep on the virtual clock: tenacity, stamina and the openai SDK.

The point of each test is the exact ``clock.sleeps``: the schedule the library really computed,
slept in no wall time. A wall-clock bound would only add flakiness; a schedule of minutes that
completed at all already proves the sleeps were virtual.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpx2
import openai
import pytest
import stamina
import tenacity

from crs._virtual_time import virtual_time
from crs.clock import VirtualClock, get_clock, set_clock

MODELS = {"object": "list", "data": []}


@pytest.fixture(autouse=True)
def _restore_default_clock() -> Iterator[None]:
    before = get_clock()
    yield
    set_clock(before)


class Flaky:
    """Fails ``failures`` times with ValueError, then returns the number of calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise ValueError(f"failure {self.calls}")
        return self.calls

    async def acall(self) -> int:
        return self()


def arun(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(main())


# --- tenacity -------------------------------------------------------------------------------------


def test_tenacity_sync_retries_sleep_virtually() -> None:
    flaky = Flaky(failures=100)

    @tenacity.retry(stop=tenacity.stop_after_attempt(10), wait=tenacity.wait_fixed(60))
    def call() -> int:
        return flaky()

    with virtual_time() as clock, pytest.raises(tenacity.RetryError):
        call()
    assert flaky.calls == 10
    assert clock.sleeps == [60.0] * 9
    assert clock.monotonic() == 540.0


def test_tenacity_async_retries_sleep_virtually() -> None:
    flaky = Flaky(failures=100)

    @tenacity.retry(stop=tenacity.stop_after_attempt(10), wait=tenacity.wait_fixed(60))
    async def call() -> int:
        return await flaky.acall()

    with virtual_time() as clock, pytest.raises(tenacity.RetryError):
        arun(call)
    assert flaky.calls == 10
    assert clock.sleeps == [60.0] * 9


def test_tenacity_stop_after_delay_measures_virtual_time() -> None:
    """Attempts at 0, 60, ..., 300: the one at 300 s is the last (stop when elapsed >= 300)."""
    sync_flaky, async_flaky = Flaky(failures=100), Flaky(failures=100)

    @tenacity.retry(stop=tenacity.stop_after_delay(300), wait=tenacity.wait_fixed(60))
    def call() -> int:
        return sync_flaky()

    @tenacity.retry(stop=tenacity.stop_after_delay(300), wait=tenacity.wait_fixed(60))
    async def acall() -> int:
        return await async_flaky.acall()

    with virtual_time() as clock:
        with pytest.raises(tenacity.RetryError):
            call()
        assert clock.sleeps == [60.0] * 5
        with pytest.raises(tenacity.RetryError):
            arun(acall)
    assert sync_flaky.calls == async_flaky.calls == 6
    assert clock.sleeps == [60.0] * 10


def test_tenacity_statistics_and_a_success_after_retries() -> None:
    flaky = Flaky(failures=2)
    retrying = tenacity.Retrying(wait=tenacity.wait_exponential(multiplier=10), reraise=True)
    with virtual_time() as clock:
        assert retrying(flaky) == 3
    assert clock.sleeps == [10.0, 20.0]
    assert retrying.statistics["idle_for"] == 30.0
    assert retrying.statistics["delay_since_first_attempt"] == 10.0  # at the last failure


# --- stamina --------------------------------------------------------------------------------------


def _assert_stamina_backoff(sleeps: list[float]) -> None:
    """stamina's schedule: min(wait_max, wait_initial * 2 ** (n - 1) + U(0, jitter))."""
    assert len(sleeps) == 4
    for n, slept in enumerate(sleeps, start=1):
        base = 10 * 2 ** (n - 1)
        assert min(60, base) <= slept <= min(60, base + 5)


def test_stamina_sync_retries_sleep_their_real_backoff_virtually() -> None:
    flaky = Flaky(failures=100)
    assert not stamina.is_testing()  # real backoff values, not stamina's zero-wait test mode

    @stamina.retry(
        on=ValueError, attempts=5, timeout=None, wait_initial=10, wait_max=60, wait_jitter=5
    )
    def call() -> int:
        return flaky()

    with virtual_time() as clock, pytest.raises(ValueError, match="failure 5"):
        call()
    _assert_stamina_backoff(clock.sleeps)


def test_stamina_async_retries_sleep_their_real_backoff_virtually() -> None:
    flaky = Flaky(failures=100)

    @stamina.retry(
        on=ValueError, attempts=5, timeout=None, wait_initial=10, wait_max=60, wait_jitter=5
    )
    async def call() -> int:
        return await flaky.acall()

    with virtual_time() as clock, pytest.raises(ValueError, match="failure 5"):
        arun(call)
    _assert_stamina_backoff(clock.sleeps)


def test_stamina_timeout_is_measured_on_the_virtual_clock() -> None:
    """Attempts at 0, 10 and 30 s fit in 45 s; the one at 70 s is past it, so it is the last."""
    flaky = Flaky(failures=100)

    @stamina.retry(
        on=ValueError, attempts=None, timeout=45, wait_initial=10, wait_max=100, wait_jitter=0
    )
    def call() -> int:
        return flaky()

    with virtual_time() as clock, pytest.raises(ValueError, match="failure 4"):
        call()
    assert clock.sleeps == [10.0, 20.0, 40.0]


# --- the openai SDK -------------------------------------------------------------------------------


class RateLimited:
    """A MockTransport handler: 429 with ``headers`` ``failures`` times, then a models list."""

    def __init__(self, failures: int, headers: Callable[[], dict[str, str]]) -> None:
        self.failures = failures
        self.headers = headers
        self.calls = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.calls += 1
        if self.calls <= self.failures:
            body = {"error": {"message": "slow down", "type": "requests", "code": "rate_limit"}}
            return httpx2.Response(429, headers=self.headers(), json=body)
        return httpx2.Response(200, json=MODELS)


def _sync_client(handler: RateLimited, max_retries: int = 3) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-test",
        max_retries=max_retries,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def _async_client(handler: RateLimited, max_retries: int = 3) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-test",
        max_retries=max_retries,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )


async def _alist(client: openai.AsyncOpenAI) -> object:
    async with client:
        return await client.models.list()


def test_openai_sync_retries_honour_retry_after_virtually() -> None:
    handler = RateLimited(2, lambda: {"retry-after": "30"})
    with virtual_time() as clock, _sync_client(handler) as client:
        assert client.models.list().data == []
    assert handler.calls == 3
    assert clock.sleeps == [30.0, 30.0]


def test_openai_async_retries_honour_retry_after_virtually() -> None:
    handler = RateLimited(2, lambda: {"retry-after": "30"})
    with virtual_time() as clock:
        arun(lambda: _alist(_async_client(handler)))
    assert handler.calls == 3
    assert clock.sleeps == [30.0, 30.0]


def test_openai_refuses_a_retry_after_beyond_its_cap_without_sleeping() -> None:
    """openai honours Retry-After up to 120 s; longer means: do not retry at all."""
    handler = RateLimited(1, lambda: {"retry-after": "121"})
    with (
        virtual_time() as clock,
        _sync_client(handler) as client,
        pytest.raises(openai.RateLimitError),
    ):
        client.models.list()
    assert handler.calls == 1
    assert clock.sleeps == []


def test_an_http_date_retry_after_is_read_against_the_virtual_wall_clock() -> None:
    """The SDK computes ``date - time.time()``: with the real clock this date (2023) is long
    past and the SDK would fall back to its own sub-second backoff instead of 20 s."""
    clock = VirtualClock()

    def twenty_seconds_from_now() -> dict[str, str]:
        return {"retry-after": email.utils.formatdate(clock.now() + 20, usegmt=True)}

    sync_handler = RateLimited(1, twenty_seconds_from_now)
    async_handler = RateLimited(1, twenty_seconds_from_now)
    with virtual_time(clock):
        with _sync_client(sync_handler) as client:
            client.models.list()
        arun(lambda: _alist(_async_client(async_handler)))
    assert clock.sleeps == [20.0, 20.0]
    assert time.time() > clock.now() + 365 * 86400  # the real clock was never consulted


def test_openai_exponential_backoff_without_retry_after_is_virtual() -> None:
    handler = RateLimited(3, dict)
    with virtual_time() as clock, _sync_client(handler) as client:
        client.models.list()
    # 0.5 * 2**n, minus up to 25 % jitter (the SDK's INITIAL_RETRY_DELAY, capped at 8 s).
    assert len(clock.sleeps) == 3
    for n, slept in enumerate(clock.sleeps):
        assert 0.75 * 0.5 * 2**n <= slept <= 0.5 * 2**n
