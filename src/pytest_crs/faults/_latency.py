"""Time passing on the service's side: a slow answer, not a sleep of the code under test.

``latency(...)`` faults (and a client's read timeout running out) must move time forward
without showing up in ``crs_clock.sleeps``, which holds only what the code under test chose to
wait — the backoff schedule tests assert on. So on a :class:`~crs.clock.VirtualClock` time is
*advanced*, and on crs's virtual-time event loop an async wait uses a plain timer, which the
loop does not count as a sleep (it counts only ``asyncio.sleep``'s).
"""

from __future__ import annotations

import asyncio

from crs._virtual_loop import VirtualTimeLoop
from crs.clock import get_clock

__all__ = ["await_time", "pass_time"]


def pass_time(seconds: float) -> None:
    """Let ``seconds`` pass for a sync caller: advanced on a virtual clock, slept on a real one."""
    clock = get_clock()
    advance = getattr(clock, "advance", None)
    if callable(advance):
        advance(seconds)
    else:
        clock.sleep(seconds)


async def await_time(seconds: float) -> None:
    """Let ``seconds`` pass for an async caller, so a timeout around it fires as it would.

    On a loop whose time is the crs clock (virtual or real) the wait is a timer on that loop;
    a virtual clock under a loop of real time is advanced instead, since waiting there would
    take real time.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # another async library (trio): its own sleep is all there is
        import anyio

        await anyio.sleep(seconds)
        return
    clock = get_clock()
    on_clock = isinstance(loop, VirtualTimeLoop) and loop.clock is clock
    if not on_clock and callable(getattr(clock, "advance", None)):
        pass_time(seconds)
        await asyncio.sleep(0)
        return
    done: asyncio.Future[None] = loop.create_future()
    handle = loop.call_later(seconds, _release, done)
    try:
        await done
    finally:
        handle.cancel()  # cancelled (a timeout around the call): the timer goes too


def _release(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
