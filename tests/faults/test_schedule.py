"""Schedules: which matching attempts fail, step by step, and how they chain."""

from __future__ import annotations

import random

import pytest

from crs.errors import ConfigError
from pytest_crs.faults import fail, rate_limit, server_error, succeed, timeout
from pytest_crs.faults._schedule import Cursor, Schedule


def run(schedule: Schedule, attempts: int, *, at: float = 0.0, seed: int = 0) -> list[str]:
    cursor = Cursor(schedule, random.Random(seed))
    out = []
    for _ in range(attempts):
        fault = cursor.next(at)
        out.append("ok" if fault is None else fault.kind.value)
    return out


def test_a_bare_fail_hits_only_the_next_attempt() -> None:
    assert run(fail(timeout()), 3) == ["timeout", "ok", "ok"]


def test_times_then_succeed() -> None:
    schedule = fail(rate_limit()).times(2).then(succeed())
    assert run(schedule, 4) == ["rate_limit", "rate_limit", "ok", "ok"]


def test_fault_methods_are_shortcuts_for_fail() -> None:
    assert rate_limit().times(2) == fail(rate_limit()).times(2)
    assert run(server_error(502).then(timeout()), 3) == ["server_error", "timeout", "ok"]


def test_nth_lets_the_earlier_attempts_through() -> None:
    assert run(timeout().nth(3), 5) == ["ok", "ok", "timeout", "ok", "ok"]


def test_every_kth_attempt_forever() -> None:
    assert run(server_error().every(2), 6) == ["ok", "server_error"] * 3


def test_always() -> None:
    assert run(timeout().always(), 3) == ["timeout"] * 3


def test_succeed_times_then_fail() -> None:
    schedule = succeed().times(2).then(timeout().times(2))
    assert run(schedule, 5) == ["ok", "ok", "timeout", "timeout", "ok"]


def test_probability_is_seeded() -> None:
    schedule = timeout().with_probability(0.5)
    first = run(schedule, 40, seed=7)
    assert first == run(schedule, 40, seed=7)
    assert 5 < first.count("timeout") < 35
    assert run(timeout().with_probability(0), 20) == ["ok"] * 20
    assert run(timeout().with_probability(1), 5) == ["timeout"] * 5


def test_after_waits_for_virtual_time_without_counting_early_attempts() -> None:
    cursor = Cursor(rate_limit().times(1).after(30), random.Random(0))
    assert cursor.next(10.0) is None
    assert cursor.next(29.9) is None
    fault = cursor.next(30.0)
    assert fault is not None
    assert fault.kind.value == "rate_limit"
    assert cursor.next(31.0) is None
    assert cursor.done


def test_then_after_an_endless_step_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"never ends.*then\(fail\(timeout\('read'\)\)\)"):
        server_error().always().then(timeout())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: timeout().times(0), r"times\(n\) must be a positive int, got 0"),
        (lambda: timeout().nth(-1), r"nth\(n\) must be a positive int"),
        (lambda: timeout().every(True), r"every\(k\) must be a positive int, got True"),
        (lambda: timeout().with_probability(1.5), r"0 <= p <= 1, got 1.5"),
        (lambda: timeout().after(-1), r"after\(seconds\) must be a non-negative"),
        (lambda: fail("timeout"), r"fail\(\) takes a fault"),
    ],
)
def test_bad_schedules_name_the_problem(build, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        build()


def test_describe_reads_like_the_code() -> None:
    schedule = fail(rate_limit(retry_after=2)).times(2).then(succeed())
    assert schedule.describe() == (
        "fail(rate_limit(retry_after=2, form='seconds')).times(2).then(succeed())"
    )
    assert timeout().every(3).after(5).describe() == "fail(timeout('read')).every(3).after(5)"
