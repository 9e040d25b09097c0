"""Deadlines on the crs clock: an async ``timeout`` block and a ``Deadline`` to pass down.

Two shapes, because time limits travel two ways:

* :func:`timeout` cuts an ``async with`` block short. On a :class:`~crs.clock.SystemClock` it is
  :func:`asyncio.timeout` (real cancellation of whatever the block awaits). On a
  :class:`~crs.clock.VirtualClock` it is :meth:`~crs.clock.VirtualClock.timeout_at`, so it fires
  in virtual time: a block sleeping 100 s inside ``timeout(30)`` stops at virtual second 30,
  in no wall time. Only sleeps through the crs clock advance virtual time; a block waiting on
  anything else is cancelled only at its next clock sleep (see :mod:`crs.clock`).
* :class:`Deadline` is a point in time that sync code carries down the stack and turns into the
  per-call ``timeout=`` that SDK clients take (``timeout=deadline.remaining()``), so nested calls
  share one budget instead of each starting a fresh one.

Both raise :class:`~crs.errors.CrsTimeoutError`, which is also a builtin :class:`TimeoutError`.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from crs._options import require_seconds
from crs.clock import Clock, VirtualClock, VirtualTimeout, resolve_clock
from crs.errors import CrsTimeoutError

__all__ = ["Deadline", "Timeout", "timeout"]


class Deadline:
    """A moment on a clock's monotonic reading, ``seconds`` after the deadline was made.

    The clock is fixed when the deadline is made (not resolved at each use like elsewhere in
    ``crs``): the deadline is a reading on that clock, and comparing it with another clock's
    readings would be meaningless.

    Example: ``client.chat.completions.create(..., timeout=deadline.remaining())`` after
    ``deadline.check()``, so a call never starts with a spent budget.
    """

    __slots__ = ("_at", "_clock", "_seconds")

    def __init__(self, seconds: float, *, clock: Clock | None = None) -> None:
        self._seconds = require_seconds(seconds, "seconds", finite=True)
        self._clock = resolve_clock(clock)
        self._at = self._clock.monotonic() + self._seconds

    @property
    def seconds(self) -> float:
        """The budget this deadline was made with."""
        return self._seconds

    @property
    def at(self) -> float:
        """The deadline as a reading of the clock's ``monotonic()``."""
        return self._at

    @property
    def clock(self) -> Clock:
        """The clock the deadline is measured on."""
        return self._clock

    def remaining(self) -> float:
        """Seconds left, never negative (0.0 once expired)."""
        return max(0.0, self._at - self._clock.monotonic())

    @property
    def expired(self) -> bool:
        """Whether the deadline has been reached; reaching it exactly counts as expired."""
        return self._clock.monotonic() >= self._at

    def check(self, operation: str = "the operation") -> None:
        """Raise :class:`~crs.errors.CrsTimeoutError` if the deadline has been reached.

        Call it before starting work that cannot be cut short, so it is not started at all.
        """
        if self.expired:
            raise CrsTimeoutError(
                f"{operation} ran past its {self._seconds:g} s deadline",
                seconds=self._seconds,
                hint="raise the time limit, or do less work within it",
            )

    def __repr__(self) -> str:
        return f"Deadline(seconds={self._seconds!r}, remaining={self.remaining()!r})"


class Timeout:
    """The async context manager :func:`timeout` returns; it yields the block's :class:`Deadline`.

    A block times out when it is still running at the deadline: an await in progress is
    cancelled (really, or in virtual time), and a block that reaches the deadline without
    awaiting anything cancellable (CPU-bound work, sync sleeps) raises when it exits. The second
    rule is stricter than :func:`asyncio.timeout`, which lets such a block finish: it means no
    block ever completes normally after its deadline, on any clock.
    """

    def __init__(self, seconds: float, *, clock: Clock | None = None) -> None:
        self._seconds = require_seconds(seconds, "seconds", finite=True)
        self._clock = clock
        self._deadline: Deadline | None = None
        self._scope: asyncio.Timeout | VirtualTimeout | None = None
        self._timed_out = False

    @property
    def expired(self) -> bool:
        """Whether this block raised :class:`~crs.errors.CrsTimeoutError` on leaving."""
        return self._timed_out

    async def __aenter__(self) -> Deadline:
        if self._deadline is not None:
            raise RuntimeError("a timeout() block can be entered only once")
        clock = resolve_clock(self._clock)
        self._deadline = Deadline(self._seconds, clock=clock)
        if isinstance(clock, VirtualClock):
            self._scope = clock.timeout_at(self._deadline.at)
        else:
            self._scope = asyncio.timeout(self._seconds)
        await self._scope.__aenter__()
        return self._deadline

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._scope is None or self._deadline is None:
            raise RuntimeError("a timeout() block was exited without being entered")
        try:
            await self._scope.__aexit__(exc_type, exc, traceback)
        except TimeoutError as fired:  # raised only when its own deadline cancelled the block
            raise self._error() from fired
        if exc_type is None and self._deadline.expired:
            raise self._error()

    def _error(self) -> CrsTimeoutError:
        self._timed_out = True
        return CrsTimeoutError(
            f"block did not finish within {self._seconds:g} s",
            seconds=self._seconds,
            hint="raise the timeout, or pass deadline.remaining() to the slow calls inside",
        )


def timeout(seconds: float, *, clock: Clock | None = None) -> Timeout:
    """Limit an ``async with`` block to ``seconds`` on the crs clock.

    ``async with timeout(30) as deadline:`` raises :class:`~crs.errors.CrsTimeoutError` if the
    block is still running 30 s later; ``deadline`` is the block's :class:`Deadline`, for passing
    ``deadline.remaining()`` to calls inside. Nested timeouts behave like :func:`asyncio.timeout`:
    the earliest deadline fires, and only its own block converts the cancellation.
    """
    return Timeout(seconds, clock=clock)
