"""Client-side rate limiting per key (per app, per model), fair under threads and asyncio alike.

Every acquisition *reserves a slot* — the moment it is admitted — under a lock, in O(cost), then
sleeps on the crs clock outside the lock until that slot. Slots are handed out in the order
callers ask, and never earlier than the previous slot, so the limiter is first-come-first-served
by construction: no wake-up race, no thundering herd, and the same code serves threads
(:meth:`RateLimiter.acquire`) and tasks (:meth:`RateLimiter.aacquire`).

Two algorithms decide the earliest slot:

* ``token_bucket`` — the generic cell rate algorithm (GCRA), a token bucket kept as a single
  number (the time the bucket will be full again). Guarantee: with ``r = requests_per_minute/60``
  per second, the total cost admitted in any closed window of ``t`` seconds is at most
  ``burst + r·t``. The default ``burst=1`` spaces requests evenly, so no 60-second window
  ``[x, x+60)`` holds more than ``requests_per_minute`` (rounded up) of them, whatever the
  server's own window.
* ``sliding_window`` — the last ``requests_per_minute`` slots per key. Guarantee: any
  ``requests_per_minute + 1`` consecutive admissions span at least 60 s, so every window
  ``[x, x+60)`` holds at most ``requests_per_minute``. It allows a full minute's burst at once.

:meth:`RateLimiter.backoff` is for the server's word (a 429's ``Retry-After``): it pauses the key
for every caller. Callers already queued keep their order and spacing and move back together, just
enough that the first is admitted when the pause ends; so a pause never breaks either guarantee.

Admission time means the slot, measured on the clock. A caller that asked at ``t`` and was given
slot ``s`` returns from ``acquire`` at ``s`` or (by scheduling delay) a little later.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import repeat
from typing import Final, Protocol

from crs._options import parse_choice, require_positive_int, require_seconds
from crs.clock import Clock, resolve_clock
from crs.errors import ConfigError, CrsTimeoutError

__all__ = ["RateLimitAlgorithm", "RateLimiter", "RateLimiterStats"]

_MIN_SWEEP: Final = 64


class RateLimitAlgorithm(StrEnum):
    """How a :class:`RateLimiter` spaces requests (see the module docstring for guarantees)."""

    TOKEN_BUCKET = "token_bucket"
    SLIDING_WINDOW = "sliding_window"


@dataclass(frozen=True, slots=True)
class RateLimiterStats:
    """Counters for metrics, across all keys since the limiter was made.

    Attributes:
        admitted: acquisitions granted (slots reserved).
        rejected: ``try_acquire`` refusals plus acquisitions that gave up on their ``timeout``.
        waited: total seconds callers were scheduled to wait, on the clock.
        backoffs: :meth:`RateLimiter.backoff` calls that extended a pause.
        waiting: callers currently sleeping until their slot.
        keys: keys with state held in memory (idle keys are dropped).
    """

    admitted: int
    rejected: int
    waited: float
    backoffs: int
    waiting: int
    keys: int


class _Schedule(Protocol):
    """One key's admission history, reduced to what decides the next slot."""

    def earliest(self, now: float, cost: int) -> float: ...
    def commit(self, slot: float, cost: int) -> None: ...
    def shift(self, after: float, by: float) -> None: ...
    def idle(self, now: float) -> bool: ...


class _TokenBucket:
    """GCRA: ``tat`` is when the bucket will be full again; each unit of cost adds one interval.

    A request of cost ``c`` fits when at most ``burst - c`` intervals of earlier cost are still
    outstanding, i.e. at ``tat - (burst - c)·interval``.
    """

    __slots__ = ("_burst", "_interval", "_tat")

    def __init__(self, interval: float, burst: int) -> None:
        self._interval = interval
        self._burst = burst
        self._tat = -math.inf

    def earliest(self, now: float, cost: int) -> float:
        return max(now, self._tat - (self._burst - cost) * self._interval)

    def commit(self, slot: float, cost: int) -> None:
        self._tat = max(self._tat, slot) + cost * self._interval

    def shift(self, after: float, by: float) -> None:
        if self._tat > after:
            self._tat += by

    def idle(self, now: float) -> bool:
        return self._tat <= now


class _SlidingWindow:
    """The last ``limit`` slots (one per unit of cost); older ones can never matter again."""

    __slots__ = ("_limit", "_slots", "_window")

    def __init__(self, limit: int, window: float) -> None:
        self._limit = limit
        self._window = window
        self._slots: deque[float] = deque(maxlen=limit)

    def earliest(self, now: float, cost: int) -> float:
        # At most ``limit - cost`` earlier units may share the new slot's window, so the unit
        # just before those must have left it.
        sharing = self._limit - cost
        if len(self._slots) <= sharing:
            return now
        return max(now, self._slots[len(self._slots) - sharing - 1] + self._window)

    def commit(self, slot: float, cost: int) -> None:
        self._slots.extend(repeat(slot, cost))

    def shift(self, after: float, by: float) -> None:
        moved = (slot + by if slot > after else slot for slot in self._slots)
        self._slots = deque(moved, maxlen=self._limit)

    def idle(self, now: float) -> bool:
        return not self._slots or self._slots[-1] + self._window <= now


class _KeyState:
    """A key's schedule, its pause, and the callers queued on it in the order they asked."""

    __slots__ = ("last_slot", "paused_until", "queue", "schedule", "waiting")

    def __init__(self, schedule: _Schedule) -> None:
        self.schedule = schedule
        self.last_slot = -math.inf
        self.paused_until = -math.inf
        self.queue: deque[_Ticket] = deque()
        self.waiting = 0

    def next_slot(self, now: float, cost: int) -> float:
        """The earliest slot for a request made now: allowed by the algorithm, after the pause,
        and never before a slot already handed out (first come, first served, by construction).
        """
        return max(self.schedule.earliest(now, cost), self.paused_until, self.last_slot)

    def first_queued_after(self, now: float) -> float | None:
        """The earliest slot later than ``now`` that a queued caller is waiting for."""
        for ticket in self.queue:
            if not ticket.done and ticket.slot > now:
                return ticket.slot
        return None

    def idle(self, now: float) -> bool:
        return self.waiting == 0 and self.paused_until <= now and self.schedule.idle(now)


@dataclass(slots=True)
class _Ticket:
    """A queued caller. ``slot`` only ever moves later, and only under the limiter's lock."""

    key: str
    slot: float
    asked_at: float
    done: bool = False


class RateLimiter:
    """Limits requests per key to ``requests_per_minute``, waiting on the crs clock.

    Args:
        requests_per_minute: the sustained rate per key; fractions are fine for the token bucket.
        burst: token bucket only — how much cost may be admitted at once after an idle spell
            (default 1: evenly spaced). Costs above it can never be admitted.
        algorithm: ``"token_bucket"`` (default) or ``"sliding_window"``; the latter needs a
            whole ``requests_per_minute`` and admits at most that many in any 60 s.
        clock: time source; defaults to :func:`crs.clock.get_clock` at each use.

    Thread-safe and asyncio-safe; the lock is never held while sleeping. Keys whose state is
    back to "nothing remembered" are dropped, so memory follows the number of *busy* keys.
    """

    def __init__(
        self,
        requests_per_minute: float = 60,
        *,
        burst: int | None = None,
        algorithm: RateLimitAlgorithm | str = RateLimitAlgorithm.TOKEN_BUCKET,
        clock: Clock | None = None,
    ) -> None:
        self._algorithm = parse_choice(RateLimitAlgorithm, algorithm, "algorithm")
        self._rpm = _check_rate(requests_per_minute)
        if self._algorithm is RateLimitAlgorithm.SLIDING_WINDOW:
            if burst is not None:
                raise ConfigError(
                    f"burst={burst!r} applies to the token bucket only",
                    hint="a sliding window already admits requests_per_minute at once",
                )
            if not self._rpm.is_integer():
                raise ConfigError(
                    f"requests_per_minute={requests_per_minute!r} must be a whole number "
                    "for the sliding window",
                    hint="use algorithm='token_bucket' for fractional rates",
                )
            self._capacity = int(self._rpm)
        else:
            self._capacity = 1 if burst is None else require_positive_int(burst, "burst")
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, _KeyState] = {}
        self._sweep_at = _MIN_SWEEP
        self._admitted = self._rejected = self._backoffs = self._waiting = 0
        self._waited = 0.0

    @property
    def requests_per_minute(self) -> float:
        return self._rpm

    @property
    def algorithm(self) -> RateLimitAlgorithm:
        return self._algorithm

    @property
    def burst(self) -> int:
        """The most cost admitted at one instant (``requests_per_minute`` for sliding windows)."""
        return self._capacity

    # -- acquiring ----------------------------------------------------------------------------

    def acquire(
        self, key: str = "default", *, cost: int = 1, timeout: float | None = None
    ) -> float:
        """Wait for the key's next slot; return the seconds from asking to the slot, on the clock.

        Raises:
            CrsTimeoutError: the slot is more than ``timeout`` seconds away. Nothing is
                consumed in that case. (If a later :meth:`backoff` pushes an already reserved
                slot past ``timeout``, the error is raised then and the slot stays used.)
        """
        clock = resolve_clock(self._clock)
        ticket = self._reserve_or_raise(clock, key, cost, timeout)
        if ticket is None:
            return 0.0
        try:
            for pending in self._waits(clock, ticket, timeout):
                clock.sleep(pending)
            return ticket.slot - ticket.asked_at
        finally:
            self._release(ticket)

    async def aacquire(
        self, key: str = "default", *, cost: int = 1, timeout: float | None = None
    ) -> float:
        """:meth:`acquire` for asyncio: waits with the clock's ``asleep``."""
        clock = resolve_clock(self._clock)
        ticket = self._reserve_or_raise(clock, key, cost, timeout)
        if ticket is None:
            return 0.0
        try:
            for pending in self._waits(clock, ticket, timeout):
                await clock.asleep(pending)
            return ticket.slot - ticket.asked_at
        finally:
            self._release(ticket)

    def _waits(self, clock: Clock, ticket: _Ticket, timeout: float | None) -> Iterator[float]:
        """The sleeps until ``ticket``'s slot, which a ``backoff`` may move while we wait.

        Shared by :meth:`acquire` and :meth:`aacquire`, which differ only in how they sleep.
        """
        target: float | None = ticket.slot
        while target is not None:
            pending = target - clock.monotonic()
            if pending > 0:
                yield pending
            target = self._moved(ticket, target, timeout)

    def try_acquire(self, key: str = "default", *, cost: int = 1) -> bool:
        """Take a slot only if one is free right now; never waits and never jumps the queue."""
        try:
            self._reserve(resolve_clock(self._clock), key, cost, 0.0)
        except _TooFar:
            return False
        return True

    # -- pausing and inspecting ---------------------------------------------------------------

    def backoff(self, key: str, seconds: float) -> None:
        """Admit nothing on ``key`` before ``seconds`` from now (a 429's ``Retry-After``).

        Overlapping pauses combine (the later end wins; they do not add up). Callers already
        queued on the key keep their order and spacing: the queue moves back just enough that
        its head is admitted when the pause ends.
        """
        pause = require_seconds(seconds, "seconds")
        clock = resolve_clock(self._clock)
        with self._lock:
            now = clock.monotonic()
            state = self._state(key, now)
            until = now + pause
            if until <= state.paused_until:
                return
            state.paused_until = until  # new callers: next_slot() is never before it
            # Queued callers: move every slot after now back by the same amount, just enough
            # that the head of the queue lands on ``until``. Order and spacing are kept, so are
            # the rate guarantees.
            head = state.first_queued_after(now)
            if head is not None and head < until:
                by = until - head
                state.schedule.shift(now, by)
                if state.last_slot > now:
                    state.last_slot += by
                for ticket in state.queue:
                    if not ticket.done and ticket.slot > now:
                        ticket.slot += by
                        self._waited += by
            self._backoffs += 1

    def delay(self, key: str = "default", *, cost: int = 1) -> float:
        """Seconds an :meth:`acquire` of ``cost`` on ``key`` would wait if made now."""
        self._check_cost(cost)
        clock = resolve_clock(self._clock)
        with self._lock:
            state = self._states.get(key)
            if state is None:
                return 0.0
            now = clock.monotonic()
            return max(0.0, state.next_slot(now, cost) - now)

    def stats(self) -> RateLimiterStats:
        """A consistent snapshot of the counters, for metrics."""
        with self._lock:
            return RateLimiterStats(
                admitted=self._admitted,
                rejected=self._rejected,
                waited=self._waited,
                backoffs=self._backoffs,
                waiting=self._waiting,
                keys=len(self._states),
            )

    def __repr__(self) -> str:
        return (
            f"RateLimiter(requests_per_minute={self._rpm:g}, burst={self._capacity}, "
            f"algorithm={self._algorithm.value!r})"
        )

    # -- internals ----------------------------------------------------------------------------

    def _reserve(self, clock: Clock, key: str, cost: int, limit: float | None) -> _Ticket | None:
        """Reserve the key's next slot: ``None`` if it is now, else a ticket to wait on.

        A slot more than ``limit`` seconds away is not reserved: :class:`_TooFar` is raised.
        """
        self._check_cost(cost)
        with self._lock:
            now = clock.monotonic()
            state = self._state(key, now)
            slot = state.next_slot(now, cost)
            delay = slot - now
            if limit is not None and delay > limit:
                self._rejected += 1
                raise _TooFar(delay)
            state.schedule.commit(slot, cost)
            state.last_slot = slot
            self._admitted += 1
            if delay <= 0:
                return None
            state.waiting += 1
            self._waiting += 1
            self._waited += delay
            ticket = _Ticket(key, slot, now)
            state.queue.append(ticket)
            return ticket

    def _reserve_or_raise(
        self, clock: Clock, key: str, cost: int, timeout: float | None
    ) -> _Ticket | None:
        if timeout is None:
            return self._reserve(clock, key, cost, None)
        limit = require_seconds(timeout, "timeout")
        try:
            return self._reserve(clock, key, cost, limit)
        except _TooFar as too_far:
            raise _timeout_error(key, too_far.delay, limit) from None

    def _moved(self, ticket: _Ticket, target: float, timeout: float | None) -> float | None:
        """The ticket's new slot if a :meth:`backoff` moved it from ``target``, else ``None``."""
        with self._lock:
            slot = ticket.slot
        if slot == target:
            return None
        if timeout is not None and slot - ticket.asked_at > timeout:
            raise _timeout_error(ticket.key, slot - ticket.asked_at, timeout)
        return slot

    def _release(self, ticket: _Ticket) -> None:
        with self._lock:
            state = self._states[ticket.key]  # a key with a caller queued is never swept
            ticket.done = True
            state.waiting -= 1
            self._waiting -= 1
            while state.queue and state.queue[0].done:
                state.queue.popleft()

    def _state(self, key: str, now: float) -> _KeyState:
        """The key's state, created on first use; called with the lock held."""
        state = self._states.get(key)
        if state is None:
            if len(self._states) >= self._sweep_at:
                self._sweep(now)
            state = self._states[key] = _KeyState(self._new_schedule())
        return state

    def _sweep(self, now: float) -> None:
        """Drop idle keys. Sweeping only when the table doubles keeps the cost O(1) amortized."""
        self._states = {key: s for key, s in self._states.items() if not s.idle(now)}
        self._sweep_at = max(_MIN_SWEEP, 2 * len(self._states))

    def _new_schedule(self) -> _Schedule:
        if self._algorithm is RateLimitAlgorithm.SLIDING_WINDOW:
            return _SlidingWindow(self._capacity, 60.0)
        return _TokenBucket(60.0 / self._rpm, self._capacity)

    def _check_cost(self, cost: int) -> None:
        require_positive_int(cost, "cost")
        if cost > self._capacity:
            raise ConfigError(
                f"cost={cost} can never be admitted: burst is {self._capacity}",
                hint="raise burst, or split the work into smaller requests",
            )


class _TooFar(Exception):
    """Internal: the next slot is further away than the caller will wait."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


def _timeout_error(key: str, delay: float, limit: float) -> CrsTimeoutError:
    return CrsTimeoutError(
        f"rate limit on key {key!r} needs a {delay:.6g} s wait, more than timeout={limit:g} s",
        seconds=limit,
        hint="raise the timeout, lower the request rate, or use try_acquire() to skip",
    )


def _check_rate(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"requests_per_minute must be a number, got {value!r}")
    rate = float(value)
    if not math.isfinite(rate) or rate <= 0:
        raise ConfigError(f"requests_per_minute must be positive and finite, got {value!r}")
    return rate
