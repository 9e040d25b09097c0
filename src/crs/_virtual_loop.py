"""An asyncio event loop whose time is a :class:`~crs.clock.VirtualClock`.

:class:`VirtualTimeLoop` reads its time from the clock and, instead of waiting for its next
timer, moves the clock straight to it. So ``asyncio.sleep(60)``, ``asyncio.timeout`` and
``wait_for`` deadlines, and anyio sleeps and cancel scopes all run in virtual time, instantly,
in whatever library they live; the timeouts of httpx / httpx2 fire only as described below.
Sleeps are recorded in ``clock.sleeps`` like the clock's own.

Real I/O is the crux. A request to the sandbox (a uvicorn thread on loopback) takes a few real
milliseconds, and while the client waits for the answer its read timeout is the loop's next
timer: jumping to it would time the request out at once. Registered readers cannot tell the
two apart, because idle keep-alive connections keep theirs registered. So the loop counts what
is really in flight:

* requests inside an httpcore / httpcore2 connection pool (what httpx and httpx2 send through),
  from the call until the response stream is closed (wrapped while :func:`crs.virtual_time` is
  active, see ``track_pool_requests``). Replayed cassettes answer above the pool, so they stay
  instant;
* pending ``run_in_executor`` futures (``getaddrinfo`` and ``asyncio.to_thread`` run there) and
  the default executor's shutdown;
* whatever a user wraps in :func:`real_io`.

While anything is in flight the loop waits for real, and virtual time stands still while I/O
keeps arriving. The next timer still fires once the real time spent waiting for it reaches its
virtual distance (so a server that is really too slow still times out, at the real rate), or
after ``io_grace`` real seconds without any I/O at all (so a hung server cannot hang the test
on a long timeout). Neither ever moves the clock past a timer's exact deadline, so readings stay
deterministic.

Sleeps recorded: every ``asyncio.sleep(d)`` with ``d > 0`` (anyio's and tenacity's included),
when it completes, with the requested ``d``; a sleep cancelled early (by a timeout, a task group)
records the virtual time it actually waited. ``asyncio.sleep(0)`` sets no timer and records
nothing. Other timers (timeouts, ``call_later``) are not sleeps and are not recorded.

Why not looptime (0.9, evaluated here). Its loop keeps its own integer time, not a shared
clock, and it knows about executor threads but not sockets. Measured on Python 3.11 against a
threaded ``http.server`` on 127.0.0.1 that answers after 20 ms: five ``httpx.AsyncClient
(timeout=5)`` GETs, each next to a sibling ``asyncio.sleep(100)``. looptime: all five raised
``ReadTimeout`` (spuriously: it polls, spins its no-op cycles in microseconds, then jumps to
the read-timeout timer), with its default and with ``noop_cycles=1000``; 0.08 s wall. This
loop: five 200s, the sleeps completed in virtual time, 0.15 s wall (the server's own 5 x 20 ms
plus client setup). Pure timers, 1000 x ``asyncio.sleep(60)``: looptime 173 us per sleep (42
no-op loop cycles before every jump; 3.9 ms with ``noop_cycles=1000``), this loop 16 us. Its
pytest plugin also errors at every fixture setup when pytest-asyncio is not installed.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import selectors
import weakref
from collections.abc import Awaitable, Callable, Mapping
from contextvars import Context
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from crs.clock import SystemClock, VirtualClock, get_clock

__all__ = ["VirtualTimeLoop", "real_io"]

log = logging.getLogger("crs.virtual_time")

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: What ``asyncio.sleep`` schedules (``loop.call_later(delay, <this>, future, result)``); the one
#: way to tell a sleep from the loop's other timers.
_SLEEP_DONE: object = getattr(asyncio.futures, "_set_result_unless_cancelled", None)

#: Real time, for the wait-for-real-I/O bookkeeping only (never for the loop's own time).
_REAL = SystemClock()


class _InFlight:
    """A token for one piece of real I/O; the loop is busy while any token is alive and held."""

    __slots__ = ("__weakref__",)


class _SleepRecord:
    """One ``asyncio.sleep`` timer: records itself in the clock when it fires or is cancelled."""

    __slots__ = ("delay", "handle", "loop", "start")

    def __init__(self, loop: VirtualTimeLoop, delay: float) -> None:
        self.loop = loop
        self.delay = float(delay)
        self.start = loop.time()
        self.handle: asyncio.TimerHandle | None = None

    def fire(self, callback: Callable[..., object], *args: object) -> None:
        self.loop._sleeps.pop(id(self.handle), None)
        self.handle = None  # break the handle -> fire -> record -> handle cycle
        self.loop.clock._record_sleep(self.delay)
        callback(*args)

    def cancelled(self) -> None:
        self.handle = None
        self.loop.clock._record_sleep(max(0.0, self.loop.time() - self.start))


class _Selector(selectors.BaseSelector):
    """The real selector, with ``select`` routed through the loop's virtual-time decision."""

    def __init__(self, real: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._real = real
        self._loop = weakref.ref(loop)

    def register(
        self, fileobj: Any, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop()
        if loop is None:  # pragma: no cover - the loop owns us; only reached during teardown
            return self._real.select(timeout)
        return loop._virtual_select(self._real, timeout)

    def close(self) -> None:
        self._real.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop on virtual time: it jumps to its next timer instead of waiting.

    ``clock`` defaults to the process default clock when that is a :class:`VirtualClock`
    (as under :func:`crs.virtual_time`), else a fresh one. ``io_grace`` is how long, in real
    seconds, the loop waits on in-flight real I/O that shows no sign of life before it moves on
    to its next timer (see the module docstring). Use it directly with
    ``asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock))``, or let
    :func:`crs.virtual_time` make every new loop one.
    """

    def __init__(
        self,
        clock: VirtualClock | None = None,
        *,
        io_grace: float = 5.0,
        selector: selectors.BaseSelector | None = None,
    ) -> None:
        self._crs_virtual_clock = VirtualClock()  # read by crs.clock: see _loop_runs_on
        self._io_grace = 5.0
        self._in_flight: weakref.WeakSet[_InFlight] = weakref.WeakSet()
        self._sleeps: dict[int, _SleepRecord] = {}
        # Real-time bookkeeping while waiting on in-flight I/O for one timer.
        self._wait_for: tuple[float, float] | None = None
        self._wait_started = 0.0
        self._last_io = 0.0
        real = selector if selector is not None else selectors.DefaultSelector()
        super().__init__(selector=_Selector(real, self))
        # Checked after the base class is set up: a loop object that raised half-built would
        # complain from __del__ that it has no _closed attribute.
        try:
            if clock is None:
                default = get_clock()
                clock = default if isinstance(default, VirtualClock) else VirtualClock()
            elif not isinstance(clock, VirtualClock):
                raise TypeError(f"VirtualTimeLoop needs a VirtualClock, got {clock!r}")
            grace = float(io_grace)
            if not grace > 0:
                raise ValueError(
                    f"io_grace must be a positive number of seconds, got {io_grace!r}"
                )
        except BaseException:
            self.close()
            raise
        self._crs_virtual_clock = clock
        self._io_grace = grace

    @property
    def clock(self) -> VirtualClock:
        """The clock this loop's time is read from."""
        return self._crs_virtual_clock

    @property
    def io_grace(self) -> float:
        return self._io_grace

    @property
    def real_io_in_flight(self) -> int:
        """How many pieces of real I/O the loop is waiting for right now."""
        return len(self._in_flight)

    def time(self) -> float:
        return self._crs_virtual_clock.monotonic()

    # -- sleeps ------------------------------------------------------------------------------

    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: object,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        if callback is not _SLEEP_DONE or _SLEEP_DONE is None:
            return super().call_later(delay, callback, *args, context=context)
        record = _SleepRecord(self, delay)
        handle = super().call_later(delay, record.fire, callback, *args, context=context)
        record.handle = handle
        self._sleeps[id(handle)] = record
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        # TimerHandle.cancel() reports here (also for handles that already ran: those were
        # popped when they fired, so only sleeps cut short are recorded as such).
        super()._timer_handle_cancelled(handle)  # type: ignore[misc]
        record = self._sleeps.pop(id(handle), None)
        if record is not None:
            record.cancelled()

    # -- real I/O ----------------------------------------------------------------------------

    def _begin_real_io(self) -> _InFlight:
        token = _InFlight()
        self._in_flight.add(token)
        return token

    def _end_real_io(self, token: _InFlight) -> None:
        self._in_flight.discard(token)

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        future = super().run_in_executor(executor, func, *args)
        token = self._begin_real_io()
        future.add_done_callback(lambda _done: self._end_real_io(token))
        return future

    async def shutdown_default_executor(self, *args: Any, **kwargs: Any) -> None:
        # Joining the executor's threads is real work; on 3.12+ it also sits under a 300 s
        # timeout that a jump would fire (with a RuntimeWarning) before the threads are done.
        token = self._begin_real_io()
        try:
            await super().shutdown_default_executor(*args, **kwargs)
        finally:
            self._end_real_io(token)

    # -- the one decision ---------------------------------------------------------------------

    def _virtual_select(
        self, real: selectors.BaseSelector, timeout: float | None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        """Poll I/O; when nothing is ready and no real I/O is in flight, jump to the next timer."""
        if timeout is None or timeout <= 0:
            # Work is ready (poll), or no timer at all: only I/O or another thread can wake us.
            events = real.select(timeout)
            if events:
                self._last_io = _REAL.monotonic()
            return events
        events = real.select(0)
        if events:
            self._last_io = _REAL.monotonic()
            return events
        target = self._next_timer(timeout)
        if self._in_flight:
            now = _REAL.monotonic()
            key = (target, self.time())
            if self._wait_for != key:
                self._wait_for, self._wait_started = key, now
            due = self._wait_started + timeout  # when the timer would fire in real time
            quiet = max(self._wait_started, self._last_io) + self._io_grace
            if now < min(due, quiet):
                events = real.select(min(due, quiet) - now)
                if events:
                    self._last_io = _REAL.monotonic()
                return events  # on a quiet return the loop comes back and we decide again
            if quiet <= now < due:
                log.warning(
                    "virtual time: %d real I/O operation(s) in flight showed no sign of life "
                    "for %.3g s; moving on to the next timer (%.6g s ahead)",
                    len(self._in_flight),
                    self._io_grace,
                    timeout,
                )
        self._wait_for = None
        self._crs_virtual_clock._advance_to(target)
        return []

    def _next_timer(self, timeout: float) -> float:
        """The next timer's exact deadline (``timeout`` is capped at a day and rounded)."""
        scheduled = getattr(self, "_scheduled", None)
        if scheduled:
            when = getattr(scheduled[0], "_when", None)
            if isinstance(when, float | int):
                return float(when)
        return self.time() + timeout  # pragma: no cover - CPython always has _scheduled


def _running_virtual_loop() -> VirtualTimeLoop | None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop if isinstance(loop, VirtualTimeLoop) else None


class _RealIo:
    """What :func:`real_io` returns: a ``with`` block and a decorator (sync or async)."""

    def __init__(self) -> None:
        self._held: list[tuple[VirtualTimeLoop, _InFlight]] = []

    def __enter__(self) -> None:
        loop = _running_virtual_loop()
        if loop is not None:
            self._held.append((loop, loop._begin_real_io()))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._held:
            loop, token = self._held.pop()
            loop._end_real_io(token)

    def __call__(self, func: Callable[_P, _T]) -> Callable[_P, _T]:
        if inspect.iscoroutinefunction(func):
            coroutine = func

            @functools.wraps(func)
            async def run_async(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                with _RealIo():
                    return await coroutine(*args, **kwargs)

            return cast("Callable[_P, _T]", run_async)

        @functools.wraps(func)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            with _RealIo():
                return func(*args, **kwargs)

        return run


def real_io() -> _RealIo:
    """Mark a block (or every call of a function) as waiting on real I/O.

    Under a :class:`VirtualTimeLoop`, the loop will not jump to its next timer while the block
    runs, so a timeout around a real wait that the loop cannot see (a raw socket, aiohttp, a
    thread of your own reporting back with ``call_soon_threadsafe``) is not fired spuriously.
    ``with real_io(): ...`` inside a coroutine, or ``@real_io()`` on a sync or async function.
    Outside a virtual loop it does nothing.
    """
    return _RealIo()


# -- httpcore / httpcore2 -------------------------------------------------------------------------


class _TrackedStream:
    """A pool response body that keeps the loop busy until it is closed (or dropped)."""

    def __init__(self, stream: Any, loop: VirtualTimeLoop, token: _InFlight) -> None:
        self._stream = stream
        self._loop = loop
        self._token: _InFlight | None = token

    async def __aiter__(self) -> Any:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            if hasattr(self._stream, "aclose"):
                await self._stream.aclose()
        finally:
            if self._token is not None:
                self._loop._end_real_io(self._token)
                self._token = None


_TRACKED = "_crs_virtual_io_original"


def track_pool_requests(
    original: Callable[[Any, Any], Awaitable[Any]],
) -> Callable[[Any, Any], Awaitable[Any]]:
    """Wrap ``AsyncConnectionPool.handle_async_request`` so its requests count as real I/O.

    From the call until the response stream is closed (the pool holds the connection that
    long), but only on a :class:`VirtualTimeLoop`; anywhere else the original runs untouched.
    """

    @functools.wraps(original)
    async def handle_async_request(self: Any, request: Any) -> Any:
        loop = _running_virtual_loop()
        if loop is None:
            return await original(self, request)
        token = loop._begin_real_io()
        try:
            response = await original(self, request)
        except BaseException:
            loop._end_real_io(token)
            raise
        response.stream = _TrackedStream(response.stream, loop, token)
        return response

    setattr(handle_async_request, _TRACKED, original)
    return handle_async_request
