"""Timeouts fire at the exact virtual deadline, nest like asyncio's, and Deadline counts down."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from crs.clock import SystemClock, VirtualClock, use_clock
from crs.errors import ConfigError, CrsError, CrsTimeoutError
from crs.resilience._timeout import Deadline, Timeout, timeout

_T = TypeVar("_T")


def run(make: Callable[[], Awaitable[_T]]) -> _T:
    async def main() -> _T:
        return await make()

    return asyncio.run(main())


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=0.0)


# --- virtual time --------------------------------------------------------------------------------


def test_fires_at_exactly_the_virtual_deadline_in_no_wall_time(clock: VirtualClock) -> None:
    async def block() -> None:
        async with timeout(30, clock=clock):
            await clock.asleep(100)

    started = time.perf_counter()
    with pytest.raises(CrsTimeoutError) as caught:
        run(block)
    assert time.perf_counter() - started < 0.5
    assert clock.monotonic() == 30.0
    assert clock.sleeps == [30.0]
    error = caught.value
    assert error.seconds == 30.0
    assert isinstance(error, TimeoutError)
    assert isinstance(error, CrsError)
    assert isinstance(error.__cause__, TimeoutError)
    assert "30 s" in str(error)


def test_uses_the_default_clock_at_entry(clock: VirtualClock) -> None:
    async def block() -> None:
        async with timeout(5):
            await clock.asleep(3600)

    with use_clock(clock), pytest.raises(CrsTimeoutError):
        run(block)
    assert clock.monotonic() == 5.0


def test_no_timeout_when_the_block_finishes_in_time(clock: VirtualClock) -> None:
    scope = timeout(30, clock=clock)

    async def block() -> str:
        async with scope as deadline:
            await clock.asleep(10)
            await clock.asleep(19.5)
            left = deadline.remaining()
        return f"done with {left} s to spare"

    assert run(block) == "done with 0.5 s to spare"
    assert not scope.expired
    assert clock.sleeps == [10.0, 19.5]


def test_inner_earlier_timeout_fires_and_the_outer_block_carries_on(clock: VirtualClock) -> None:
    events: list[str] = []

    async def block() -> None:
        async with timeout(60, clock=clock):
            try:
                async with timeout(10, clock=clock):
                    await clock.asleep(100)
            except CrsTimeoutError as inner:
                events.append(f"inner fired at {clock.monotonic()} ({inner.seconds} s)")
            await clock.asleep(20)
            events.append(f"outer still running at {clock.monotonic()}")
            await clock.asleep(100)

    with pytest.raises(CrsTimeoutError) as caught:
        run(block)
    assert caught.value.seconds == 60.0
    assert clock.monotonic() == 60.0
    assert clock.sleeps == [10.0, 20.0, 30.0]
    assert events == ["inner fired at 10.0 (10.0 s)", "outer still running at 30.0"]


def test_outer_earlier_timeout_wins_over_a_later_inner_one(clock: VirtualClock) -> None:
    outer, inner = timeout(10, clock=clock), timeout(50, clock=clock)

    async def block() -> None:
        async with outer, inner:
            await clock.asleep(100)

    with pytest.raises(CrsTimeoutError) as caught:
        run(block)
    assert caught.value.seconds == 10.0
    assert (outer.expired, inner.expired) == (True, False)
    assert clock.monotonic() == 10.0


def test_a_block_that_passes_its_deadline_without_awaiting_raises_on_exit(
    clock: VirtualClock,
) -> None:
    async def block() -> str:
        async with timeout(5, clock=clock):
            clock.sleep(6)  # blocking work: nothing to cancel, but the block ran too long
        return "completed"

    with pytest.raises(CrsTimeoutError):
        run(block)
    assert clock.monotonic() == 6.0


def test_an_error_from_the_block_is_not_masked_by_a_passed_deadline(clock: VirtualClock) -> None:
    async def block() -> None:
        async with timeout(5, clock=clock):
            clock.advance(10)
            raise KeyError("the real problem")

    with pytest.raises(KeyError, match="the real problem"):
        run(block)


def test_a_timeout_error_raised_by_the_block_itself_is_not_converted(clock: VirtualClock) -> None:
    async def block() -> None:
        async with timeout(5, clock=clock):
            raise TimeoutError("from an SDK")

    with pytest.raises(TimeoutError, match="from an SDK") as caught:
        run(block)
    assert not isinstance(caught.value, CrsTimeoutError)


def test_zero_timeout_fires_on_the_first_sleep(clock: VirtualClock) -> None:
    async def block() -> None:
        async with timeout(0, clock=clock):
            await clock.asleep(1)

    with pytest.raises(CrsTimeoutError):
        run(block)
    assert clock.monotonic() == 0.0


# --- real time -----------------------------------------------------------------------------------


def test_real_clock_cancels_a_real_wait() -> None:
    """The one test that waits for real: ~10 ms, on something the virtual clock cannot cut."""

    async def block() -> None:
        async with timeout(0.01, clock=SystemClock()):
            await asyncio.Event().wait()

    started = time.monotonic()
    with pytest.raises(CrsTimeoutError) as caught:
        run(block)
    assert 0.005 <= time.monotonic() - started < 2.0
    assert isinstance(caught.value.__cause__, TimeoutError)


def test_real_clock_zero_timeout_fires_at_the_next_await_without_waiting() -> None:
    async def block() -> None:
        async with timeout(0, clock=SystemClock()):
            await asyncio.sleep(0)

    with pytest.raises(CrsTimeoutError):
        run(block)


def test_real_clock_block_that_finishes_in_time_returns_its_value() -> None:
    async def block() -> int:
        async with timeout(60, clock=SystemClock()) as deadline:
            await asyncio.sleep(0)
            assert 0 < deadline.remaining() <= 60
        return 42

    assert run(block) == 42


def test_real_clock_leaves_an_outside_cancellation_alone() -> None:
    async def victim(ready: asyncio.Event) -> None:
        async with timeout(60, clock=SystemClock()):
            ready.set()
            await asyncio.Event().wait()

    async def main() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(victim(ready))
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


# --- Deadline -------------------------------------------------------------------------------------


def test_deadline_counts_down_with_virtual_time_and_never_goes_negative(
    clock: VirtualClock,
) -> None:
    deadline = Deadline(10, clock=clock)
    readings = []
    for step in (0, 2.5, 2.5, 4, 0.5, 3):
        clock.advance(step)
        readings.append((deadline.remaining(), deadline.expired))
    assert readings == [
        (10.0, False),
        (7.5, False),
        (5.0, False),
        (1.0, False),
        (0.5, False),
        (0.0, True),
    ]


def test_deadline_expires_exactly_at_its_end(clock: VirtualClock) -> None:
    deadline = Deadline(2, clock=clock)
    clock.advance(1.5)
    deadline.check()
    clock.advance(0.5)
    assert deadline.expired
    with pytest.raises(CrsTimeoutError, match="chat completion ran past its 2 s") as caught:
        deadline.check("chat completion")
    assert caught.value.seconds == 2.0


def test_deadline_feeds_per_call_timeouts_to_an_sdk(clock: VirtualClock) -> None:
    sent: list[float] = []

    def create(*, timeout: float) -> str:  # stands in for client.chat.completions.create
        sent.append(timeout)
        clock.advance(12)  # each call takes 12 s
        return "ok"

    deadline = Deadline(30, clock=clock)
    for _ in range(3):
        deadline.check()
        create(timeout=deadline.remaining())
    with pytest.raises(CrsTimeoutError):
        deadline.check()
    assert sent == [30.0, 18.0, 6.0]


def test_deadline_keeps_the_clock_it_was_made_on(clock: VirtualClock) -> None:
    with use_clock(clock):
        deadline = Deadline(5)
    clock.advance(3)
    assert deadline.remaining() == 2.0
    assert deadline.clock is clock
    assert deadline.at == 5.0
    assert deadline.seconds == 5.0
    assert repr(deadline) == "Deadline(seconds=5.0, remaining=2.0)"


def test_timeout_yields_the_blocks_deadline(clock: VirtualClock) -> None:
    async def block() -> float:
        async with timeout(8, clock=clock) as deadline:
            await clock.asleep(3)
            return deadline.remaining()

    assert run(block) == 5.0


@pytest.mark.parametrize("bad", [-1, -0.001, math.nan, math.inf, True, "5", None])
def test_bad_durations_are_config_errors(bad: object) -> None:
    with pytest.raises(ConfigError):
        Deadline(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        timeout(bad)  # type: ignore[arg-type]


def test_a_timeout_block_is_single_use(clock: VirtualClock) -> None:
    scope = Timeout(5, clock=clock)

    async def twice() -> None:
        async with scope:
            pass
        async with scope:
            pass

    with pytest.raises(RuntimeError, match="only once"):
        run(twice)
