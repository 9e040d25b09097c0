"""The one place ``crs`` gets time from.

Everything in ``crs`` that waits, times out, expires or rate-limits asks a :class:`Clock` instead
of calling :mod:`time` or :func:`asyncio.sleep` directly. That single seam is what lets a test run
a ten-retry, sixty-second-backoff scenario in microseconds: install a :class:`VirtualClock` and
every sleep advances virtual time instantly and is recorded for assertions.

Components accept ``clock=None`` and resolve it through :func:`get_clock` *at each use*, so a
clock swapped in with :func:`use_clock` also reaches objects built before the swap.

Timeouts in virtual time come in two strengths, depending on the event loop.

* On an ordinary event loop, a real timeout (:func:`asyncio.timeout`) fires when the loop's real
  clock reaches the deadline, which a virtual sleep never lets happen. So the virtual clock keeps
  its own deadlines: :meth:`VirtualClock.timeout_at` registers one for the current task, and
  :meth:`VirtualClock.asleep` never sleeps past it. A sleep that would reach the deadline advances
  time to exactly the deadline and cancels the task, and the scope turns that cancellation into
  :class:`TimeoutError`, just as :func:`asyncio.timeout_at` does. Only sleeps through the crs
  clock move virtual time here, so only they can fire a virtual deadline: a task blocked on
  anything else (an :class:`asyncio.Event`, a socket) stays blocked until it next sleeps on the
  clock.
* On a :class:`crs.VirtualTimeLoop` driven by the same clock (what :func:`crs.virtual_time`
  gives every new event loop), the loop's own time *is* the clock's monotonic reading and the
  loop jumps to its next timer whenever it would otherwise wait. There ``asleep`` is
  :func:`asyncio.sleep` and ``timeout_at`` is :func:`asyncio.timeout_at`, so a deadline also
  fires for a task blocked on an event, and third-party ``asyncio`` sleeps share the same time.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Protocol, runtime_checkable

__all__ = [
    "Clock",
    "SystemClock",
    "VirtualClock",
    "VirtualTimeout",
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

    ``asleep`` honours the deadlines the current task entered with :meth:`timeout_at`: it never
    sleeps past the earliest one (see the module docstring). The sync :meth:`sleep` ignores them,
    as a blocking :func:`time.sleep` ignores :func:`asyncio.timeout`.

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
        duration = _check_duration(seconds)
        if _loop_runs_on(self):
            # The loop's time is ours: a plain asyncio sleep advances it and the loop records it,
            # and every asyncio deadline (not just ours) can cut it short.
            if duration == 0:
                self._record_sleep(0.0)  # asyncio.sleep(0) sets no timer, so nothing records it
            await asyncio.sleep(duration)
            return
        deadline = _earliest_timeout(self)
        fired: VirtualTimeout | None = None
        with self._lock:
            start = self._mono
            end = start + duration
            if deadline is not None and end >= deadline.when():
                fired = deadline  # stop exactly at the deadline, or stay put if it has passed
                end = max(start, deadline.when())
            self._sleeps.append(end - start)
            self._wall += end - start
            self._mono = end
        if fired is not None:
            fired._expire()
        await asyncio.sleep(0)  # a cancellation from _expire() is delivered here

    def _record_sleep(self, seconds: float) -> None:
        """Append a sleep that something else already waited out (the virtual event loop)."""
        with self._lock:
            self._sleeps.append(seconds)

    def _advance_to(self, monotonic: float) -> None:
        """Move to exactly ``monotonic`` (never backwards), so a loop timer due then is due now.

        ``advance(when - monotonic())`` could land a rounding error short of ``when``; the
        virtual event loop needs the reading to equal the timer's deadline exactly.
        """
        with self._lock:
            delta = monotonic - self._mono
            if delta > 0:
                self._mono = monotonic
                self._wall += delta

    def timeout_at(self, when: float) -> VirtualTimeout:
        """An async context manager that times the block out at ``when`` on :meth:`monotonic`.

        The virtual-time twin of :func:`asyncio.timeout_at`: a sleep through :meth:`asleep` that
        would reach ``when`` stops there and the block is cancelled; leaving the block turns that
        cancellation into :class:`TimeoutError`. Nested scopes work as with asyncio: the earliest
        deadline fires, and only the scope that fired converts the cancellation. Most code wants
        :func:`crs.resilience.timeout`, which picks this or the real one from the clock.

        Inside a :class:`crs.VirtualTimeLoop` on this clock the block is an
        :func:`asyncio.timeout_at` underneath, so the deadline also fires while the block waits on
        something other than the clock (an event, a queue, a lock).
        """
        return VirtualTimeout(self, when)

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


class VirtualTimeout:
    """A deadline on a :class:`VirtualClock` for the task that enters it (see ``timeout_at``).

    It binds to the task that enters it, not to the context: tasks created inside the block copy
    the context but are not timed out with it, just as :func:`asyncio.timeout` cancels only the
    task that entered it. The cancellation is a real :meth:`asyncio.Task.cancel`, undone with
    :meth:`asyncio.Task.uncancel` on exit, so structured-concurrency code (task groups, nested
    timeouts) sees exactly what it would see under a real timeout.

    Entered in a :class:`crs.VirtualTimeLoop` on the same clock, it hands the work to an
    :func:`asyncio.timeout_at` (the loop's time is the clock's), which fires whatever the task
    is blocked on.
    """

    def __init__(self, clock: VirtualClock, when: float) -> None:
        if math.isnan(when):
            raise ValueError("timeout_at() needs a monotonic reading, got nan")
        self._clock = clock
        self._when = float(when)
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._token: Token[tuple[VirtualTimeout, ...]] | None = None
        self._expired = False
        self._native: asyncio.Timeout | None = None
        self._exited = False

    def when(self) -> float:
        """The deadline, as a :meth:`VirtualClock.monotonic` reading."""
        return self._when

    def expired(self) -> bool:
        """Whether the deadline fired (a sleep was cut short and the task cancelled)."""
        if self._native is not None:
            return self._native.expired()
        return self._expired

    async def __aenter__(self) -> VirtualTimeout:
        if self._token is not None or self._task is not None:
            raise RuntimeError("a VirtualTimeout can be entered only once")
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("VirtualClock.timeout_at() must be used inside an asyncio task")
        self._task = task
        if _loop_runs_on(self._clock):
            self._native = asyncio.timeout_at(self._when)
            await self._native.__aenter__()
            return self
        self._cancelling = task.cancelling()
        self._token = _timeouts.set((*_timeouts.get(), self))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._native is not None:
            self._exited = True
            await self._native.__aexit__(exc_type, exc, traceback)
            return
        if self._token is None or self._task is None:
            raise RuntimeError("a VirtualTimeout was exited without being entered")
        _timeouts.reset(self._token)
        self._token = None
        self._exited = True
        if not self._expired:
            return
        # Same rule as asyncio.Timeout: convert only our own cancellation, not an outer one.
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError(f"virtual deadline {self._when!r} reached") from exc

    def _expire(self) -> None:
        if not self._expired and self._task is not None:
            self._expired = True
            self._task.cancel()

    def __repr__(self) -> str:
        if self.expired():
            state = "expired"
        elif self._task is None:
            state = "pending"
        else:
            state = "exited" if self._exited else "active"
        return f"VirtualTimeout(when={self._when!r}, {state})"


# The deadlines entered in this context; each holds its clock and task, so asleep() filters.
_timeouts: ContextVar[tuple[VirtualTimeout, ...]] = ContextVar("crs_virtual_timeouts", default=())


def _earliest_timeout(clock: VirtualClock) -> VirtualTimeout | None:
    """The current task's earliest live deadline on ``clock`` (the innermost one on a tie)."""
    entered = _timeouts.get()
    if not entered:
        return None
    task = asyncio.current_task()
    earliest: VirtualTimeout | None = None
    for scope in reversed(entered):
        live = scope._clock is clock and scope._task is task and not scope._expired
        if live and (earliest is None or scope._when < earliest._when):
            earliest = scope
    return earliest


def _loop_runs_on(clock: VirtualClock) -> bool:
    """Whether the running event loop keeps its time on ``clock`` (a ``VirtualTimeLoop``).

    Duck-typed on the attribute the loop sets, so this module need not import the loop's.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return getattr(loop, "_crs_virtual_clock", None) is clock


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
