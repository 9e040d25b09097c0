"""When a rule's fault fires: schedules as small values that chain, tenacity-style.

``fail(rate_limit()).times(2).then(succeed())`` reads as it runs: the first two matching
attempts get a 429, everything after goes through. A schedule is a sequence of steps; each
step fails (or lets through) some matching attempts — the first *n*, only the *n*-th, every
*k*-th, each with probability *p* — optionally not before *t* seconds of virtual time, and
hands over to the next step when it is done. Steps that never finish (``always``, ``every``,
``with_probability``) can only come last: anything after them would be dead code in the test.

Schedules are immutable values (each method returns a new one), so one can be shared between
tests and composed in Hypothesis strategies. Their running state lives in :class:`Cursor`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from enum import StrEnum

from crs._options import require_positive_int, require_seconds
from crs.errors import ConfigError
from pytest_crs.faults._kinds import Fault

__all__ = ["Cursor", "Schedule", "Step", "fail", "succeed"]


class Mode(StrEnum):
    TIMES = "times"  # the first n attempts
    NTH = "nth"  # the n-th attempt only
    EVERY = "every"  # every n-th attempt, forever
    PROBABILITY = "probability"  # each attempt with probability p, forever
    ALWAYS = "always"  # every attempt, forever


@dataclass(frozen=True)
class Step:
    """One stretch of a schedule. ``fault`` is ``None`` for a step that lets attempts through."""

    fault: Fault | None
    mode: Mode = Mode.TIMES
    n: int = 1
    p: float = 1.0
    not_before: float = 0.0

    @property
    def finite(self) -> bool:
        return self.mode in (Mode.TIMES, Mode.NTH)

    def describe(self) -> str:
        head = "succeed()" if self.fault is None else f"fail({self.fault.describe()})"
        tail = {
            Mode.TIMES: "" if self.n == 1 and self.fault is not None else f".times({self.n})",
            Mode.NTH: f".nth({self.n})",
            Mode.EVERY: f".every({self.n})",
            Mode.PROBABILITY: f".with_probability({self.p:g})",
            Mode.ALWAYS: ".always()" if self.fault is not None else "",
        }[self.mode]
        when = f".after({self.not_before:g})" if self.not_before else ""
        return head + tail + when


@dataclass(frozen=True)
class Schedule:
    """A sequence of :class:`Step` s; the methods reshape the last one or append more."""

    steps: tuple[Step, ...]

    def times(self, n: int) -> Schedule:
        """The last step covers the first ``n`` matching attempts."""
        return self._last(mode=Mode.TIMES, n=require_positive_int(n, "times(n)"))

    def nth(self, n: int) -> Schedule:
        """The last step lets ``n - 1`` attempts through and then fails the ``n``-th."""
        return self._last(mode=Mode.NTH, n=require_positive_int(n, "nth(n)"))

    def every(self, k: int) -> Schedule:
        """The last step fails every ``k``-th attempt (the k-th, 2k-th, ...), forever."""
        return self._last(mode=Mode.EVERY, n=require_positive_int(k, "every(k)"))

    def always(self) -> Schedule:
        """The last step covers every attempt, forever."""
        return self._last(mode=Mode.ALWAYS)

    def with_probability(self, p: float) -> Schedule:
        """The last step fails each attempt with probability ``p``, forever.

        The draws come from the plan's seeded generator (``crs_faults.seed``), so a run can be
        repeated exactly.
        """
        if (
            isinstance(p, bool)
            or not isinstance(p, int | float)
            or not 0 <= p <= 1
            or math.isnan(p)
        ):
            raise ConfigError(f"with_probability(p) needs 0 <= p <= 1, got {p!r}")
        return self._last(mode=Mode.PROBABILITY, p=float(p))

    def after(self, seconds: float) -> Schedule:
        """The last step starts only ``seconds`` of virtual time after the plan started;
        attempts before then go through and do not count towards it."""
        return self._last(not_before=require_seconds(seconds, "after(seconds)", finite=True))

    def then(self, following: Fault | Schedule) -> Schedule:
        """Go on with ``following`` once this schedule's steps are done."""
        more = following.steps if isinstance(following, Schedule) else fail(following).steps
        last = self.steps[-1]
        if not last.finite:
            raise ConfigError(
                f"{self.describe()} never ends, so .then({_describe(more)}) would never run",
                hint="only times() and nth() steps can be followed",
            )
        return Schedule(self.steps + more)

    @property
    def faults(self) -> tuple[Fault, ...]:
        return tuple(step.fault for step in self.steps if step.fault is not None)

    def describe(self) -> str:
        return _describe(self.steps)

    def __repr__(self) -> str:
        return self.describe()

    def _last(self, **changes: object) -> Schedule:
        return Schedule((*self.steps[:-1], replace(self.steps[-1], **changes)))  # type: ignore[arg-type]


def fail(fault: Fault) -> Schedule:
    """A schedule failing the next matching attempt with ``fault`` (reshape with ``times()``,
    ``nth()``, ``every()``, ``always()``, ``with_probability()``, ``after()``)."""
    if not isinstance(fault, Fault):
        raise ConfigError(f"fail() takes a fault such as rate_limit() or timeout(), got {fault!r}")
    return Schedule((Step(fault),))


def succeed() -> Schedule:
    """A schedule letting attempts through: forever, or ``succeed().times(n)`` for ``n``."""
    return Schedule((Step(None, mode=Mode.ALWAYS),))


def as_schedule(value: Fault | Schedule) -> Schedule:
    """A bare fault means "fail the next matching attempt"."""
    if isinstance(value, Schedule):
        return value
    return fail(value)


def _describe(steps: tuple[Step, ...]) -> str:
    return ".then(".join(step.describe() for step in steps) + ")" * (len(steps) - 1)


class Cursor:
    """Where one rule is in its schedule. Not thread-safe: the plan holds a lock around it."""

    def __init__(self, schedule: Schedule, rng: random.Random) -> None:
        self._steps = schedule.steps
        self._rng = rng
        self._index = 0
        self._seen = 0  # attempts counted by the current step

    @property
    def done(self) -> bool:
        """Whether every step has run its course (finite schedules only)."""
        return self._index >= len(self._steps)

    def next(self, elapsed: float) -> Fault | None:
        """The fault for the next matching attempt, made ``elapsed`` seconds into the plan."""
        while self._index < len(self._steps):
            step = self._steps[self._index]
            if elapsed < step.not_before:
                return None
            if step.mode is Mode.TIMES and self._seen >= step.n:
                self._advance()
                continue
            self._seen += 1
            if step.mode is Mode.TIMES or step.mode is Mode.ALWAYS:
                return step.fault
            if step.mode is Mode.NTH:
                if self._seen < step.n:
                    return None
                self._advance()
                return step.fault
            if step.mode is Mode.EVERY:
                return step.fault if self._seen % step.n == 0 else None
            return step.fault if self._rng.random() < step.p else None
        return None

    def _advance(self) -> None:
        self._index += 1
        self._seen = 0
