"""The verdict on one example: each property judged from what actually happened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_crs._properties._config import Config
from pytest_crs._properties._model import EPSILON, AttemptRecord, Example, Outcome, Property, short

if TYPE_CHECKING:
    from pytest_crs._properties._run import Operation

import itertools
from collections.abc import Sequence

from crs.resilience import RetryRun
from pytest_crs.faults import FaultKind, FaultPlan


def judge(
    config: Config,
    example: Example,
    outcome: Outcome,
    plan: FaultPlan,
    operation: Operation | None,
) -> list[tuple[Property, str]]:
    checks = config.checks
    attempts = example.attempts
    found: list[tuple[Property, str]] = []
    if Property.MAX_ATTEMPTS in checks or outcome.runaway:  # an endless loop always counts
        found += _bounded(config, attempts, outcome)
    if Property.NON_RETRYABLE in checks:
        found += _permanent_not_retried(config, attempts)
    if Property.RETRY_AFTER in checks:
        found += _waits_honoured(config, attempts)
    if Property.NO_DUPLICATES in checks and not config.idempotent:
        found += _no_duplicates(attempts, plan)
    over = config.budget is not None and example.waited > config.budget + EPSILON
    if Property.BUDGET in checks and over:
        found.append(
            (
                Property.BUDGET,
                f"waited {example.waited:g}s between attempts, over budget={config.budget:g}s",
            )
        )
    if Property.EVENTUAL_SUCCESS in checks and not outcome.runaway:
        found += _eventual_success(config, example, outcome, operation)
    return found


def _bounded(
    config: Config, attempts: Sequence[AttemptRecord], outcome: Outcome
) -> list[tuple[Property, str]]:
    if config.max_attempts is not None and len(attempts) > config.max_attempts:
        stop = " (and was stopped there)" if outcome.runaway else ""
        return [
            (
                Property.MAX_ATTEMPTS,
                f"made {len(attempts)} attempts{stop}, more than max_attempts="
                f"{config.max_attempts}",
            )
        ]
    if outcome.runaway:
        return [
            (
                Property.MAX_ATTEMPTS,
                f"kept retrying: stopped after attempt_limit={config.attempt_limit} attempts",
            )
        ]
    return []


def _permanent_not_retried(
    config: Config, attempts: Sequence[AttemptRecord]
) -> list[tuple[Property, str]]:
    for before, after in itertools.pairwise(attempts):
        fault = before.fault
        if fault is not None and fault.kind in config.non_retryable:
            return [
                (
                    Property.NON_RETRYABLE,
                    f"attempt {before.number} failed with {fault.describe()}, which retrying "
                    f"cannot fix, yet attempt {after.number} followed at t={after.started:g}s",
                )
            ]
    return []


def _waits_honoured(
    config: Config, attempts: Sequence[AttemptRecord]
) -> list[tuple[Property, str]]:
    for before, after in itertools.pairwise(attempts):
        wait = before.announced_wait
        if wait is None or wait > config.max_retry_after:
            continue
        gap = after.started - before.ended
        if gap < wait - EPSILON:
            fault = "a failure" if before.fault is None else before.fault.describe()
            return [
                (
                    Property.RETRY_AFTER,
                    f"attempt {after.number} began {gap:g}s after attempt {before.number}'s "
                    f"{fault}, which asked to wait {wait:g}s",
                )
            ]
    return []


def _no_duplicates(
    attempts: Sequence[AttemptRecord], plan: FaultPlan
) -> list[tuple[Property, str]]:
    reasons: list[str] = []
    for before, after in itertools.pairwise(attempts):
        fault = before.fault
        if fault is None or fault.kind is FaultKind.LATENCY:
            reasons.append(
                f"attempt {before.number} succeeded, yet attempt {after.number} ran the "
                "non-idempotent operation again"
            )
            break
        if fault.may_have_executed:
            reasons.append(
                f"attempt {after.number} re-sent a non-idempotent operation after "
                f"{fault.describe()}, which may already have executed it"
            )
            break
    duplicates = plan.duplicates
    if duplicates:
        reasons.append("the plan saw " + "; ".join(d.describe() for d in duplicates))
    return [(Property.NO_DUPLICATES, "; ".join(reasons))] if reasons else []


def _retry_is_owed(failure: AttemptRecord, config: Config) -> bool:
    """Whether a correct policy must retry after ``failure`` (given enough attempts left)."""
    fault = failure.fault
    if fault is None or fault.kind in config.non_retryable:
        return False
    if not config.idempotent and fault.may_have_executed:
        return False
    wait = failure.announced_wait
    return wait is None or wait <= config.max_retry_after


def _eventual_success(
    config: Config,
    example: Example,
    outcome: Outcome,
    operation: Operation | None,
) -> list[tuple[Property, str]]:
    attempts = example.attempts
    last = attempts[-1] if attempts else None
    prop = Property.EVENTUAL_SUCCESS
    if operation is not None and outcome.returned:
        if last is None:
            return [(prop, f"returned {outcome.value!r} without ever calling op")]
        if not last.failed or (
            last.fault is not None and last.fault.kind is FaultKind.TOOL_FAILURE
        ):
            expected = operation.returned[-1] if operation.returned else None
            value = outcome.value
            if isinstance(value, RetryRun):  # crs's RetryPolicy.run / arun: the value inside
                value = value.value
            if value != expected:
                return [
                    (
                        prop,
                        f"returned {short(repr(outcome.value))}, not the operation's value "
                        f"{short(repr(expected))}",
                    )
                ]
            return []
    if last is None:
        return []
    if outcome.returned and not last.failed:
        return []
    if not outcome.returned and not last.failed:
        return [
            (
                prop,
                f"the operation succeeded on attempt {last.number}, yet the call raised "
                f"{type(outcome.error).__name__}",
            )
        ]
    promised = config.promised
    owed = (
        promised is not None
        and len(attempts) < promised
        and all(_retry_is_owed(a, config) for a in attempts if a.failed)
    )
    if owed and config.budget is not None:
        owed = example.waited + (last.announced_wait or 0.0) <= config.budget
    if not owed:
        return []
    assert last.fault is not None
    how = "returned a value of its own" if outcome.returned else "gave up"
    return [
        (
            prop,
            f"{how} after {len(attempts)} attempt(s) on retryable failures (last: "
            f"{last.fault.describe()}), though it promises {promised} attempts",
        )
    ]
