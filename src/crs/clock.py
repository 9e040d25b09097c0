"""The one place ``crs`` gets time from.

Everything in ``crs`` that waits, times out, expires or rate-limits asks a :class:`Clock` instead
of calling :mod:`time` or :func:`asyncio.sleep` directly. That single seam is what lets a test run
a ten-retry, sixty-second-backoff scenario in microseconds: install a :class:`VirtualClock` and
every sleep advances virtual time instantly and is recorded for assertions.

Components accept ``clock=None`` and resolve it through :func:`get_clock` *at each use*, so a
clock swapped in with :func:`use_clock` also reaches objects built before the swap.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

__all__ = [
    "Clock",
    "SystemClock",
    "VirtualClock",
    "get_clock",
    "resolve_clock",
    "set_clock",
    "use_clock",
]


@runtime_checkable
class Clock(Protocol):
    """A source of time and a way to wait.

    ``now()`` is wall-clock time (seconds since the epoch), used for anything that must survive a
    restart, such as expiry timestamps written to disk. ``monotonic()`` never goes backwards and
    is the one to measure durations and deadlines with.
    """

    def now(self) -> float:
        """Wall-clock seconds since the Unix epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never decreases."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


def _check_duration(seconds: float) -> float:
    duration = float(seconds)
    if math.isnan(duration) or duration < 0:
        raise ValueError(
            f"sleep duration must be a non-negative number of seconds, got {seconds!r}"
        )
    return duration


class SystemClock:
    """Real time: :mod:`time` and :func:`asyncio.sleep`."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(_check_duration(seconds))

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(_check_duration(seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """Time that moves only when something sleeps or a test calls :meth:`advance`.

    Sleeping returns at once after moving both the wall and the monotonic reading forward, and the
    duration is appended to :attr:`sleeps`, so a test can assert on the exact backoff schedule.
    ``asleep`` also yields to the event loop once, so other ready tasks get to run, as they
    would during a real sleep. The clock is thread-safe.

    The default start (2023-11-14T22:13:20Z) is fixed so that runs are reproducible.
    """

    DEFAULT_START = 1_700_000_000.0

    def __init__(self, start: float = DEFAULT_START, *, monotonic_start: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._wall = float(start)
        self._mono = float(monotonic_start)
        self._sleeps: list[float] = []

    def now(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep (e.g. to expire TTLs in a test)."""
        duration = _check_duration(seconds)
        with self._lock:
            self._wall += duration
            self._mono += duration

    def sleep(self, seconds: float) -> None:
        duration = _check_duration(seconds)
        with self._lock:
            self._sleeps.append(duration)
            self._wall += duration
            self._mono += duration

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)

    @property
    def sleeps(self) -> list[float]:
        """Every sleep so far, in order (a copy)."""
        with self._lock:
            return list(self._sleeps)

    @property
    def total_slept(self) -> float:
        with self._lock:
            return math.fsum(self._sleeps)

    def __repr__(self) -> str:
        return (
            f"VirtualClock(now={self._wall!r}, monotonic={self._mono!r}, "
            f"sleeps={len(self._sleeps)})"
        )


_default: Clock = SystemClock()


def get_clock() -> Clock:
    """The process-wide default clock (a :class:`SystemClock` unless swapped)."""
    return _default


def resolve_clock(clock: Clock | None) -> Clock:
    """``clock`` if given, else the current process-wide default."""
    return _default if clock is None else clock


def set_clock(clock: Clock) -> Clock:
    """Install ``clock`` as the process-wide default and return the previous one."""
    global _default
    if not isinstance(clock, Clock):
        raise TypeError(f"set_clock() needs a Clock (now, monotonic, sleep, asleep), got {clock!r}")
    previous, _default = _default, clock
    return previous


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the default for the duration of a ``with`` block, then restore the old one."""
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)
