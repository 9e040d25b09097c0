"""The clock seam: real time behaves, virtual time is exact, and swapping the default is safe."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from crs.clock import (
    Clock,
    SystemClock,
    VirtualClock,
    VirtualTimeout,
    get_clock,
    resolve_clock,
    set_clock,
    use_clock,
)


@pytest.fixture(autouse=True)
def _restore_default_clock() -> Iterator[None]:
    """A test that breaks the swap logic must not leave a virtual clock behind for the others."""
    before = get_clock()
    yield
    set_clock(before)


# --- SystemClock --------------------------------------------------------------------------------


def test_system_clock_reads_real_time() -> None:
    clock = SystemClock()
    before = time.time()
    now = clock.now()
    after = time.time()
    assert before <= now <= after


def test_system_clock_monotonic_never_goes_backwards() -> None:
    clock = SystemClock()
    readings = [clock.monotonic() for _ in range(1000)]
    assert readings == sorted(readings)


def test_system_clock_sleeps_zero() -> None:
    clock = SystemClock()
    clock.sleep(0)
    asyncio.run(clock.asleep(0))


@pytest.mark.parametrize("bad", [-1, -0.001, math.nan])
def test_system_clock_rejects_bad_durations(bad: float) -> None:
    clock = SystemClock()
    with pytest.raises(ValueError, match="non-negative"):
        clock.sleep(bad)
    with pytest.raises(ValueError, match="non-negative"):
        asyncio.run(clock.asleep(bad))


def test_system_clock_is_a_clock() -> None:
    assert isinstance(SystemClock(), Clock)
    assert repr(SystemClock()) == "SystemClock()"


# --- VirtualClock -------------------------------------------------------------------------------


def test_virtual_clock_starts_at_fixed_time() -> None:
    clock = VirtualClock()
    assert clock.now() == VirtualClock.DEFAULT_START
    assert clock.monotonic() == 0.0
    assert clock.sleeps == []
    assert clock.total_slept == 0.0
    assert isinstance(clock, Clock)


def test_virtual_clock_custom_start() -> None:
    clock = VirtualClock(100.0, monotonic_start=7.0)
    assert (clock.now(), clock.monotonic()) == (100.0, 7.0)


def test_virtual_sleep_advances_both_readings_and_records() -> None:
    clock = VirtualClock(start=1000.0)
    clock.sleep(1.5)
    clock.sleep(0)
    clock.sleep(60)
    assert clock.now() == 1061.5
    assert clock.monotonic() == 61.5
    assert clock.sleeps == [1.5, 0.0, 60.0]
    assert clock.total_slept == 61.5


def test_virtual_sleep_takes_no_real_time() -> None:
    clock = VirtualClock()
    started = time.monotonic()
    for _ in range(10):
        clock.sleep(3600)
    assert time.monotonic() - started < 1.0
    assert clock.monotonic() == 36_000.0


def test_advance_moves_time_without_recording_a_sleep() -> None:
    clock = VirtualClock(start=0.0)
    clock.advance(61)
    assert clock.now() == 61.0
    assert clock.monotonic() == 61.0
    assert clock.sleeps == []


def test_sleeps_is_a_copy() -> None:
    clock = VirtualClock()
    clock.sleep(1)
    clock.sleeps.append(99.0)
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize("bad", [-1, -1e-9, math.nan, -math.inf])
def test_virtual_clock_rejects_bad_durations(bad: float) -> None:
    clock = VirtualClock(start=5.0)
    with pytest.raises(ValueError, match="non-negative"):
        clock.sleep(bad)
    with pytest.raises(ValueError, match="non-negative"):
        clock.advance(bad)
    with pytest.raises(ValueError, match="non-negative"):
        asyncio.run(clock.asleep(bad))
    assert clock.now() == 5.0
    assert clock.sleeps == []


def test_asleep_advances_and_records_under_asyncio_run() -> None:
    clock = VirtualClock(start=0.0)

    async def backoff() -> None:
        for delay in (0.5, 1.0, 2.0):
            await clock.asleep(delay)

    asyncio.run(backoff())
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert clock.now() == 3.5


def test_asleep_yields_to_other_tasks() -> None:
    """A real sleep lets other ready tasks run; the virtual one must too, or ordering changes."""
    clock = VirtualClock()
    order: list[str] = []

    async def sleeper() -> None:
        order.append("sleeper starts")
        await clock.asleep(5)
        order.append("sleeper wakes")

    async def other() -> None:
        order.append("other runs")

    async def main() -> None:
        await asyncio.gather(asyncio.create_task(sleeper()), asyncio.create_task(other()))

    asyncio.run(main())
    assert order == ["sleeper starts", "other runs", "sleeper wakes"]


def test_concurrent_sleeps_sum_exactly() -> None:
    clock = VirtualClock(start=0.0)
    threads, per_thread = 8, 2_000
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        for _ in range(per_thread):
            clock.sleep(0.5)  # exactly representable, so the expected sums are exact

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible to provoke races
    try:
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(old_interval)

    expected = threads * per_thread * 0.5
    assert len(clock.sleeps) == threads * per_thread
    assert clock.total_slept == expected
    assert clock.now() == expected
    assert clock.monotonic() == expected


def test_repr_mentions_state() -> None:
    clock = VirtualClock(start=10.0)
    clock.sleep(2)
    assert repr(clock) == "VirtualClock(now=12.0, monotonic=2.0, sleeps=1)"


# --- the process-wide default -------------------------------------------------------------------


def test_default_is_system_clock() -> None:
    assert isinstance(get_clock(), SystemClock)


def test_set_clock_swaps_and_returns_previous() -> None:
    original = get_clock()
    virtual = VirtualClock()
    previous = set_clock(virtual)
    try:
        assert previous is original
        assert get_clock() is virtual
    finally:
        assert set_clock(previous) is virtual
    assert get_clock() is original


@pytest.mark.parametrize("not_a_clock", [None, 42, "clock", object(), time])
def test_set_clock_rejects_non_clocks(not_a_clock: object) -> None:
    original = get_clock()
    with pytest.raises(TypeError, match="needs a Clock"):
        set_clock(not_a_clock)  # type: ignore[arg-type]
    assert get_clock() is original


def test_set_clock_accepts_any_structural_clock() -> None:
    class FrozenClock:
        def now(self) -> float:
            return 1.0

        def monotonic(self) -> float:
            return 2.0

        def sleep(self, seconds: float) -> None:
            pass

        async def asleep(self, seconds: float) -> None:
            pass

    frozen = FrozenClock()
    with use_clock(frozen):
        assert get_clock() is frozen


def test_use_clock_installs_and_restores() -> None:
    original = get_clock()
    virtual = VirtualClock()
    with use_clock(virtual) as installed:
        assert installed is virtual
        assert get_clock() is virtual
    assert get_clock() is original


def test_use_clock_restores_on_exception() -> None:
    original = get_clock()
    with pytest.raises(RuntimeError, match="boom"), use_clock(VirtualClock()):
        raise RuntimeError("boom")
    assert get_clock() is original


def test_use_clock_nests() -> None:
    original = get_clock()
    outer, inner = VirtualClock(), VirtualClock()
    with use_clock(outer):
        with use_clock(inner):
            assert get_clock() is inner
        assert get_clock() is outer
    assert get_clock() is original


def test_use_clock_rejects_non_clock_without_swapping() -> None:
    original = get_clock()
    with pytest.raises(TypeError), use_clock(object()):  # type: ignore[arg-type]
        pass
    assert get_clock() is original


def test_resolve_clock_prefers_explicit_then_current_default() -> None:
    explicit, swapped = VirtualClock(), VirtualClock()
    assert resolve_clock(explicit) is explicit
    assert resolve_clock(None) is get_clock()
    with use_clock(swapped):
        assert resolve_clock(None) is swapped
        assert resolve_clock(explicit) is explicit
    assert resolve_clock(None) is get_clock()
    assert resolve_clock(None) is not swapped


# --- virtual deadlines (VirtualClock.timeout_at) -----------------------------------------------


def test_asleep_past_a_virtual_deadline_stops_exactly_there_and_times_out() -> None:
    clock = VirtualClock(start=0.0, monotonic_start=0.1)  # 0.1 + 30 is not exact in binary
    deadline = clock.monotonic() + 30

    async def main() -> None:
        async with clock.timeout_at(deadline) as scope:
            await clock.asleep(100)
        pytest.fail(f"the deadline did not fire: {scope!r}")

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert clock.monotonic() == deadline
    assert clock.now() == pytest.approx(30.0)
    assert clock.sleeps == [pytest.approx(30.0)]


def test_asleep_within_a_virtual_deadline_is_untouched() -> None:
    clock = VirtualClock(start=0.0)

    async def main() -> VirtualTimeout:
        async with clock.timeout_at(10.0) as scope:
            await clock.asleep(4)
            await clock.asleep(5.5)
        return scope

    scope = asyncio.run(main())
    assert not scope.expired()
    assert clock.sleeps == [4.0, 5.5]
    assert repr(scope) == "VirtualTimeout(when=10.0, exited)"


def test_reaching_a_virtual_deadline_exactly_counts_as_timing_out() -> None:
    clock = VirtualClock(start=0.0)

    async def main() -> None:
        async with clock.timeout_at(5.0):
            await clock.asleep(5.0)

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert clock.monotonic() == 5.0


def test_a_deadline_already_past_fires_on_the_next_sleep_without_moving_time() -> None:
    clock = VirtualClock(start=0.0)

    async def main() -> None:
        async with clock.timeout_at(2.0):
            clock.sleep(3)  # a blocking sleep: never cut short
            await clock.asleep(1)

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert clock.sleeps == [3.0, 0.0]


def test_nested_virtual_deadlines_the_earliest_fires_and_only_it_converts() -> None:
    clock = VirtualClock(start=0.0)
    caught: list[str] = []

    async def main() -> None:
        async with clock.timeout_at(10.0) as outer:
            try:
                async with clock.timeout_at(50.0) as inner:
                    await clock.asleep(100)
            except asyncio.CancelledError:
                caught.append(f"inner scope passed the cancellation on, expired={inner.expired()}")
                raise
        assert outer.expired()

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert caught == ["inner scope passed the cancellation on, expired=False"]
    assert clock.monotonic() == 10.0


def test_virtual_deadline_binds_to_the_task_not_to_tasks_spawned_inside() -> None:
    clock = VirtualClock(start=0.0)

    async def child() -> str:
        await clock.asleep(100)  # inherits the context, but not the deadline
        return "child finished"

    async def main() -> tuple[bool, str]:
        spawned: list[asyncio.Task[str]] = []
        try:
            async with clock.timeout_at(10.0):
                spawned.append(asyncio.create_task(child()))
                await clock.asleep(50)
        except TimeoutError:
            timed_out = True
        else:
            timed_out = False
        return timed_out, await spawned[0]

    assert asyncio.run(main()) == (True, "child finished")


def test_virtual_deadline_does_not_cut_the_sleeps_of_a_task_it_awaits() -> None:
    clock = VirtualClock(start=0.0)

    async def child() -> str:
        await clock.asleep(100)
        return "child finished"

    async def main() -> str:
        async with clock.timeout_at(10.0):
            return await asyncio.create_task(child())  # not a clock sleep: not cut short

    assert asyncio.run(main()) == "child finished"
    assert clock.monotonic() == 100.0


def test_virtual_deadline_ignores_other_clocks() -> None:
    clock, other = VirtualClock(start=0.0), VirtualClock(start=0.0)

    async def main() -> None:
        async with clock.timeout_at(1.0):
            await other.asleep(60)

    asyncio.run(main())
    assert other.monotonic() == 60.0
    assert clock.monotonic() == 0.0


def test_virtual_deadline_leaves_outside_cancellation_alone() -> None:
    clock = VirtualClock(start=0.0)

    async def victim(ready: asyncio.Event) -> None:
        async with clock.timeout_at(10.0):
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


def test_swallowed_virtual_cancellation_exits_like_asyncio_timeout() -> None:
    clock = VirtualClock(start=0.0)

    async def main() -> tuple[bool, int]:
        async with clock.timeout_at(1.0) as scope:
            with contextlib.suppress(asyncio.CancelledError):
                await clock.asleep(5)
        task = asyncio.current_task()
        assert task is not None
        return scope.expired(), task.cancelling()

    assert asyncio.run(main()) == (True, 0)


def test_virtual_timeout_is_single_use_and_needs_a_number() -> None:
    clock = VirtualClock()
    scope = clock.timeout_at(1.0)

    async def main() -> None:
        async with scope:
            pass
        async with scope:
            pass

    with pytest.raises(RuntimeError, match="only once"):
        asyncio.run(main())
    with pytest.raises(ValueError, match="nan"):
        clock.timeout_at(math.nan)
    assert repr(clock.timeout_at(3.0)) == "VirtualTimeout(when=3.0, pending)"
