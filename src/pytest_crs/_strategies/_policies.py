"""crs retry policies: every stop, wait and retry-after combination, always bounded."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Final

from hypothesis import strategies as st

from crs.errors import ConfigError
from crs.resilience import (
    RetryPolicy,
    Stop,
    Wait,
    stop_after_attempt,
    stop_after_delay,
    stop_after_total_delay,
    wait_equal_jitter,
    wait_exponential,
    wait_fixed,
    wait_full_jitter,
    wait_jitter,
    wait_none,
)
from pytest_crs._strategies._options import choose, positive_int, quarter_seconds, seconds_option

#: The backoff shapes :func:`retry_policies` draws from.
WAITS: Final = ("none", "fixed", "exponential", "full_jitter", "equal_jitter", "jittered")


def retry_policies(
    *,
    min_attempts: int = 1,
    max_attempts: int = 6,
    waits: Iterable[str] | None = None,
    max_wait: float = 10.0,
    budget: float | None = None,
    idempotent: bool | None = None,
    retry_ambiguous: bool | None = False,
    respect_retry_after: bool | None = True,
    max_retry_after: float | None = None,
) -> st.SearchStrategy[RetryPolicy]:
    """crs :class:`~crs.resilience.RetryPolicy` values, always bounded in attempts.

    Jittered waits get their own seeded ``random.Random``, so a drawn policy behaves the same
    every time Hypothesis replays it.

    Args:
        min_attempts: the fewest attempts a policy allows (its ``stop_after_attempt``).
        max_attempts: the most attempts a policy allows.
        waits: backoff shapes to choose from: ``"none"``, ``"fixed"``, ``"exponential"``,
            ``"full_jitter"``, ``"equal_jitter"``, ``"jittered"`` (exponential plus
            ``wait_jitter``). Default: all.
        max_wait: the largest base, cap or fixed wait, in seconds.
        budget: when given, every policy also stops before its total waiting would pass a
            drawn ``stop_after_total_delay`` of at most ``budget`` seconds; otherwise some
            policies get a ``stop_after_delay`` or ``stop_after_total_delay`` and some do not.
        idempotent: fix the flag, or ``None`` to draw it.
        retry_ambiguous: fix the flag, or ``None`` to draw it (default ``False``: the safe one).
        respect_retry_after: fix the flag, or ``None`` to draw it (default ``True``).
        max_retry_after: fix the longest Retry-After honoured, or ``None`` to draw one up to
            120 s.
    """
    low = positive_int(min_attempts, "min_attempts")
    high = positive_int(max_attempts, "max_attempts")
    if high < low:
        raise ConfigError(f"retry_policies(max_attempts={high}) is below min_attempts={low}")
    shapes = choose(waits, WAITS, "waits")
    wait_limit = seconds_option(max_wait, "max_wait")
    budget_limit = None if budget is None else seconds_option(budget, "budget")
    if max_retry_after is not None:
        seconds_option(max_retry_after, "max_retry_after")

    seconds = quarter_seconds(wait_limit)

    def flag(fixed: bool | None) -> st.SearchStrategy[bool]:
        return st.booleans() if fixed is None else st.just(fixed)

    @st.composite
    def build(draw: st.DrawFn) -> RetryPolicy:
        stop: Stop = stop_after_attempt(draw(st.integers(low, high)))
        if budget_limit is not None:
            stop = stop | stop_after_total_delay(draw(quarter_seconds(budget_limit)))
        else:
            extra = draw(st.sampled_from(("none", "delay", "total")))
            if extra != "none":
                limit = draw(quarter_seconds(wait_limit * high))
                stop = stop | (
                    stop_after_delay(limit) if extra == "delay" else stop_after_total_delay(limit)
                )
        return RetryPolicy(
            stop=stop,
            wait=draw(_waits(draw(st.sampled_from(shapes)), seconds)),
            idempotent=draw(flag(idempotent)),
            retry_ambiguous=draw(flag(retry_ambiguous)),
            respect_retry_after=draw(flag(respect_retry_after)),
            max_retry_after=(
                draw(quarter_seconds(120.0)) if max_retry_after is None else max_retry_after
            ),
        )

    return build()


def _waits(shape: str, seconds: st.SearchStrategy[float]) -> st.SearchStrategy[Wait]:
    rngs = st.integers(0, 2**32 - 1).map(random.Random)
    if shape == "none":
        return st.just(wait_none())
    if shape == "fixed":
        return seconds.map(wait_fixed)
    bounds = st.tuples(seconds, seconds).map(sorted)
    if shape == "exponential":
        return bounds.map(lambda b: wait_exponential(b[0], b[1]))
    if shape == "full_jitter":
        return st.tuples(bounds, rngs).map(lambda p: wait_full_jitter(p[0][0], p[0][1], rng=p[1]))
    if shape == "equal_jitter":
        return st.tuples(bounds, rngs).map(lambda p: wait_equal_jitter(p[0][0], p[0][1], rng=p[1]))
    return st.tuples(bounds, seconds, rngs).map(
        lambda p: wait_exponential(p[0][0], p[0][1]) + wait_jitter(p[1], rng=p[2])
    )
