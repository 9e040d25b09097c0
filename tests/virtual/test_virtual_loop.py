"""The virtual event loop: asyncio time is the clock's, and waiting means jumping to the next timer.

Each test runs its coroutine with ``asyncio.run`` inside ``virtual_time()``, the way a user would,
so the policy that makes new loops virtual is exercised too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
import pytest

from crs._virtual_loop import VirtualTimeLoop, real_io
from crs._virtual_time import virtual_time
from crs.clock import SystemClock, VirtualClock, get_clock, set_clock, use_clock
from crs.errors import CrsTimeoutError
from crs.resilience import timeout

T = TypeVar("T")


def run(clock: VirtualClock, main: Callable[[], Awaitable[T]], **options: Any) -> T:
    """``asyncio.run(main())`` under ``virtual_time(clock)``."""

    async def wrapper() -> T:
        return await main()

    with virtual_time(clock, **options):
        return asyncio.run(wrapper())


def current_policy() -> object:
    with warnings.catch_warnings():  # deprecated on 3.14, still what asyncio.run consults
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.get_event_loop_policy()


@pytest.fixture(autouse=True)
def _restore_default_clock() -> Iterator[None]:
    before = get_clock()
    yield
    set_clock(before)


# --- sleeps ---------------------------------------------------------------------------------------


def test_ten_sixty_second_sleeps_take_no_time_and_are_recorded() -> None:
    clock = VirtualClock()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        assert loop.clock is clock
        for _ in range(10):
            await asyncio.sleep(60)
        return loop.time()

    assert run(clock, main) == 600.0
    assert clock.sleeps == [60.0] * 10
    assert clock.monotonic() == 600.0
    assert clock.now() == VirtualClock.DEFAULT_START + 600.0


def test_sleep_zero_sets_no_timer_and_records_nothing() -> None:
    clock = VirtualClock()

    async def main() -> None:
        await asyncio.sleep(0)

    run(clock, main)
    assert clock.sleeps == []
    assert clock.monotonic() == 0.0


def test_concurrent_sleeps_finish_in_deadline_order() -> None:
    clock = VirtualClock()
    finished: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        finished.append((name, asyncio.get_running_loop().time()))

    async def main() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(nap("slow", 30))
            group.create_task(nap("fast", 10))
            group.create_task(nap("middle", 20))

    run(clock, main)
    assert finished == [("fast", 10.0), ("middle", 20.0), ("slow", 30.0)]
    assert clock.sleeps == [10.0, 20.0, 30.0]
    assert clock.monotonic() == 30.0  # concurrent, not 60


def test_call_later_and_call_at_run_in_order_and_are_not_sleeps() -> None:
    clock = VirtualClock()
    seen: list[tuple[str, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def note(name: str) -> None:
            seen.append((name, loop.time()))
            if len(seen) == 3:
                done.set_result(None)

        loop.call_later(3, note, "c")
        loop.call_later(1, note, "a")
        loop.call_at(loop.time() + 2, note, "b")
        await done

    run(clock, main)
    assert seen == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.sleeps == []


def test_advancing_the_clock_wakes_timers_that_are_now_due() -> None:
    clock = VirtualClock()

    async def main() -> None:
        sleeper = asyncio.create_task(asyncio.sleep(10))
        await asyncio.sleep(0)  # let it schedule its timer at t=10
        clock.advance(25)
        await sleeper  # already due: no further jump
        assert asyncio.get_running_loop().time() == 25.0

    run(clock, main)
    assert clock.sleeps == [10.0]  # what was asked for, though more time passed


# --- deadlines ------------------------------------------------------------------------------------


def test_wait_for_times_out_in_virtual_time_on_an_event_nobody_sets() -> None:
    clock = VirtualClock()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), timeout=30)

    run(clock, main)
    assert clock.monotonic() == 30.0
    assert clock.sleeps == []  # a timeout is not a sleep


def test_asyncio_timeout_cuts_a_sleep_short_and_records_what_elapsed() -> None:
    clock = VirtualClock()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.sleep(100)

    run(clock, main)
    assert clock.monotonic() == 5.0
    assert clock.sleeps == [5.0]


def test_anyio_sleeps_and_cancel_scopes_are_virtual() -> None:
    clock = VirtualClock()

    async def main() -> None:
        await anyio.sleep(30)
        with pytest.raises(TimeoutError):
            with anyio.fail_after(5):
                await anyio.sleep(10)
        with anyio.move_on_after(7) as scope:
            await anyio.Event().wait()
        assert scope.cancelled_caught

    run(clock, main)
    assert clock.monotonic() == 42.0
    assert clock.sleeps == [30.0, 5.0]


def test_crs_timeout_fires_for_a_task_blocked_on_an_event() -> None:
    """On a plain loop a virtual deadline only fires at the next clock sleep; here it fires."""
    clock = VirtualClock()

    async def main() -> None:
        with pytest.raises(CrsTimeoutError):
            async with timeout(12):
                await asyncio.Event().wait()

    run(clock, main)
    assert clock.monotonic() == 12.0


def test_clock_asleep_hands_over_to_asyncio_and_is_recorded_once() -> None:
    clock = VirtualClock()

    async def main() -> None:
        await clock.asleep(7)
        await clock.asleep(0)
        with pytest.raises(TimeoutError):
            async with clock.timeout_at(clock.monotonic() + 3) as scope:
                await clock.asleep(50)
        assert scope.expired()
        assert "expired" in repr(scope)

    run(clock, main)
    assert clock.sleeps == [7.0, 0.0, 3.0]
    assert clock.monotonic() == 10.0


def test_a_clock_other_than_the_loops_keeps_its_own_rules() -> None:
    clock, other = VirtualClock(), VirtualClock()

    async def main() -> None:
        await other.asleep(5)  # moves `other` only, at once, without a loop timer

    run(clock, main)
    assert other.sleeps == [5.0]
    assert clock.sleeps == []
    assert clock.monotonic() == 0.0


# --- real waits -----------------------------------------------------------------------------------


def _answer(fut: asyncio.Future[str]) -> None:
    if not fut.done():
        fut.set_result("answer")


# The 10 s timeouts below are virtual, but while real I/O is in flight the loop lets them run at
# the real rate, so they are generous: a loaded CI box must not fire them before the 20 ms work.


def _report_back_later(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[str]) -> None:
    """A worker thread that answers after a few real milliseconds, as a server would."""

    def work() -> None:
        threading.Event().wait(0.02)
        with contextlib.suppress(RuntimeError):  # the loop may be gone if the test failed
            loop.call_soon_threadsafe(_answer, fut)

    threading.Thread(target=work, daemon=True).start()


def _work() -> str:
    threading.Event().wait(0.02)  # a blocking call taking a few real milliseconds
    return "done"


def test_executor_work_is_waited_for_not_jumped_over() -> None:
    clock = VirtualClock()

    async def main() -> str:
        loop = asyncio.get_running_loop()
        sibling = asyncio.create_task(asyncio.sleep(100))
        result = await asyncio.wait_for(loop.run_in_executor(None, _work), timeout=10)
        await sibling
        return result

    assert run(clock, main) == "done"
    assert clock.sleeps == [100.0]


def test_real_io_marks_a_wait_the_loop_cannot_see() -> None:
    clock = VirtualClock()

    async def unmarked() -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        _report_back_later(loop, fut)
        with pytest.raises(TimeoutError):  # the loop saw nothing in flight and jumped
            await asyncio.wait_for(fut, timeout=10)

    @real_io()
    async def marked() -> str:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        assert loop.real_io_in_flight == 1
        fut: asyncio.Future[str] = loop.create_future()
        _report_back_later(loop, fut)
        return await asyncio.wait_for(fut, timeout=10)

    run(clock, unmarked)
    assert run(VirtualClock(), marked) == "answer"


def test_real_io_as_a_with_block_and_on_sync_functions() -> None:
    @real_io()
    def plain(x: int) -> int:
        return x + 1

    assert plain(1) == 2  # outside any loop: a no-op
    with real_io():
        pass

    async def main() -> int:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        with real_io():
            assert loop.real_io_in_flight == 1
            inside = plain(2)
        assert loop.real_io_in_flight == 0
        return inside

    assert run(VirtualClock(), main) == 3


def test_a_silent_real_wait_gives_up_after_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()

    async def main() -> None:
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with real_io(), pytest.raises(TimeoutError):
            await asyncio.wait_for(never, timeout=600)

    with caplog.at_level(logging.WARNING, logger="crs.virtual_time"):
        run(clock, main, io_grace=0.02)
    assert clock.monotonic() == 600.0
    assert "showed no sign of life" in caplog.text


def test_a_short_timer_fires_at_the_real_rate_while_real_io_is_in_flight() -> None:
    clock = VirtualClock()

    async def main() -> None:
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with real_io(), pytest.raises(TimeoutError):
            await asyncio.wait_for(never, timeout=0.02)

    run(clock, main, io_grace=60)
    assert clock.monotonic() == 0.02  # exactly the deadline, not the real time it took


# --- the loop itself ------------------------------------------------------------------------------


def test_the_loop_works_without_virtual_time() -> None:
    clock = VirtualClock(monotonic_start=100.0)

    async def main() -> float:
        await asyncio.sleep(60)
        return asyncio.get_running_loop().time()

    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock)) as runner:
        assert runner.run(main()) == 160.0
    assert clock.sleeps == [60.0]


def test_the_loop_takes_the_default_clock_when_it_is_virtual() -> None:
    clock = VirtualClock()
    with use_clock(clock):
        loop = VirtualTimeLoop()
    loop.close()
    assert loop.clock is clock
    with use_clock(SystemClock()):
        fresh = VirtualTimeLoop()
    fresh.close()
    assert isinstance(fresh.clock, VirtualClock)
    assert fresh.clock is not clock


def test_bad_loop_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="VirtualClock"):
        VirtualTimeLoop(SystemClock())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="io_grace"):
        VirtualTimeLoop(VirtualClock(), io_grace=0)


def test_loops_made_in_other_threads_stay_real() -> None:
    """The sandbox serves from its own thread; its loop must keep real time."""
    made: list[asyncio.AbstractEventLoop] = []

    def other_thread() -> None:
        loop = asyncio.new_event_loop()
        made.append(loop)
        loop.close()

    with virtual_time():
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        here = asyncio.new_event_loop()
        here.close()
    assert isinstance(here, VirtualTimeLoop)
    assert not isinstance(made[0], VirtualTimeLoop)


def test_asyncio_run_closes_its_loop_and_the_policy_comes_back() -> None:
    before = current_policy()
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(1)

    with virtual_time():
        assert current_policy() is not before
        asyncio.run(main())
    assert loops[0].is_closed()
    assert current_policy() is before
    after = asyncio.new_event_loop()
    after.close()
    assert not isinstance(after, VirtualTimeLoop)


def test_blocks_do_not_nest() -> None:
    outer = VirtualClock()
    with virtual_time(outer):
        with pytest.raises(RuntimeError, match="already active"), virtual_time():
            pass  # pragma: no cover - never entered
        assert get_clock() is outer  # the failed attempt changed nothing
    with virtual_time() as again:  # and the block can be used again afterwards
        assert get_clock() is again


def test_bad_virtual_time_arguments_change_nothing() -> None:
    before = get_clock()
    with pytest.raises(TypeError, match="VirtualClock"), virtual_time(SystemClock()):  # type: ignore[arg-type]
        pass  # pragma: no cover
    with pytest.raises(TypeError, match="modules="), virtual_time(modules=[42]):  # type: ignore[list-item]
        pass  # pragma: no cover
    with pytest.raises(ValueError, match="io_grace"), virtual_time(io_grace=-1):
        pass  # pragma: no cover
    assert get_clock() is before
    with virtual_time():  # nothing was left marked active
        pass
